//! Xenbus device states: `xen/include/public/io/xenbus.h`.

/// `enum xenbus_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenbusState {
    /// 0
    Unknown = 0,
    /// 1
    Initialising = 1,
    /// 2: the backend waits for the frontend's details.
    InitWait = 2,
    /// 3: the frontend has published its details.
    Initialised = 3,
    /// 4
    Connected = 4,
    /// 5
    Closing = 5,
    /// 6
    Closed = 6,
    /// 7
    Reconfiguring = 7,
    /// 8
    Reconfigured = 8,
}

impl XenbusState {
    /// Parses the decimal value found in a `state` node.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "0" => Self::Unknown,
            "1" => Self::Initialising,
            "2" => Self::InitWait,
            "3" => Self::Initialised,
            "4" => Self::Connected,
            "5" => Self::Closing,
            "6" => Self::Closed,
            "7" => Self::Reconfiguring,
            "8" => Self::Reconfigured,
            _ => return None,
        })
    }
}
