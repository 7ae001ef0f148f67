//! Sans-IO xenstore client.
