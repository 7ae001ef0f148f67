//! The xenstore wire format (`xs_wire.h`, `docs/misc/xenstore.txt`): headers, types, payloads.
//!
//! Every message, in both directions, is a 16-byte [`Header`] (`struct
//! xsd_sockmsg`: type, req_id, tx_id, len; little-endian `u32`s) followed by
//! `len <= 4096` payload bytes. Payloads are NUL-terminated strings, except
//! values (`WRITE`'s second part, `READ`'s reply) which are raw bytes.
//! Everything here is total: hostile input yields errors, never panics.

use alloc::string::String;
use alloc::vec::Vec;

use skiff_xen::xs_wire::{HEADER_SIZE, XENSTORE_PAYLOAD_MAX, msg};

use crate::{ProtocolError, XsError};

/// Size of a message header.
pub const HEADER_LEN: usize = HEADER_SIZE;
/// Largest payload either side may send (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = XENSTORE_PAYLOAD_MAX;

/// A known xenstore message type (`enum xsd_sockmsg_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
#[allow(missing_docs)] // the names are those of xs_wire.h
pub enum MsgType {
    Control = msg::XS_CONTROL,
    Directory = msg::XS_DIRECTORY,
    Read = msg::XS_READ,
    GetPerms = msg::XS_GET_PERMS,
    Watch = msg::XS_WATCH,
    Unwatch = msg::XS_UNWATCH,
    TransactionStart = msg::XS_TRANSACTION_START,
    TransactionEnd = msg::XS_TRANSACTION_END,
    Introduce = msg::XS_INTRODUCE,
    Release = msg::XS_RELEASE,
    GetDomainPath = msg::XS_GET_DOMAIN_PATH,
    Write = msg::XS_WRITE,
    Mkdir = msg::XS_MKDIR,
    Rm = msg::XS_RM,
    SetPerms = msg::XS_SET_PERMS,
    WatchEvent = msg::XS_WATCH_EVENT,
    Error = msg::XS_ERROR,
    IsDomainIntroduced = msg::XS_IS_DOMAIN_INTRODUCED,
    Resume = msg::XS_RESUME,
    SetTarget = msg::XS_SET_TARGET,
    ResetWatches = msg::XS_RESET_WATCHES,
    DirectoryPart = msg::XS_DIRECTORY_PART,
    GetFeature = msg::XS_GET_FEATURE,
    SetFeature = msg::XS_SET_FEATURE,
    GetQuota = msg::XS_GET_QUOTA,
    SetQuota = msg::XS_SET_QUOTA,
}

impl MsgType {
    const ALL: [MsgType; 26] = [
        MsgType::Control,
        MsgType::Directory,
        MsgType::Read,
        MsgType::GetPerms,
        MsgType::Watch,
        MsgType::Unwatch,
        MsgType::TransactionStart,
        MsgType::TransactionEnd,
        MsgType::Introduce,
        MsgType::Release,
        MsgType::GetDomainPath,
        MsgType::Write,
        MsgType::Mkdir,
        MsgType::Rm,
        MsgType::SetPerms,
        MsgType::WatchEvent,
        MsgType::Error,
        MsgType::IsDomainIntroduced,
        MsgType::Resume,
        MsgType::SetTarget,
        MsgType::ResetWatches,
        MsgType::DirectoryPart,
        MsgType::GetFeature,
        MsgType::SetFeature,
        MsgType::GetQuota,
        MsgType::SetQuota,
    ];

    /// The type with wire value `v`, if it is a known one (20, the removed
    /// `XS_RESTRICT`, is not).
    pub fn from_u32(v: u32) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| *t as u32 == v)
    }

    /// The wire value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// Whether only xenstored may send this type (`WATCH_EVENT`, `ERROR`).
    pub const fn is_server_only(self) -> bool {
        matches!(self, MsgType::WatchEvent | MsgType::Error)
    }
}

/// A message header (`struct xsd_sockmsg`) as raw fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    /// Message type (`XS_*`), unvalidated.
    pub msg_type: u32,
    /// Request id, echoed in the reply; 0 in watch events.
    pub req_id: u32,
    /// Transaction id, 0 outside transactions.
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

impl Header {
    /// Encodes the header for the wire.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..4].copy_from_slice(&self.msg_type.to_le_bytes());
        b[4..8].copy_from_slice(&self.req_id.to_le_bytes());
        b[8..12].copy_from_slice(&self.tx_id.to_le_bytes());
        b[12..16].copy_from_slice(&self.len.to_le_bytes());
        b
    }

    /// Decodes a header without judging it.
    pub fn decode(b: &[u8; HEADER_LEN]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header { msg_type: word(0), req_id: word(4), tx_id: word(8), len: word(12) }
    }

    /// The payload length, if within `XENSTORE_PAYLOAD_MAX`.
    pub fn checked_len(&self) -> Result<usize, ProtocolError> {
        if self.len as usize > PAYLOAD_MAX {
            return Err(ProtocolError::PayloadTooLong(self.len));
        }
        Ok(self.len as usize)
    }

    /// The message type, if known.
    pub fn known_type(&self) -> Result<MsgType, ProtocolError> {
        MsgType::from_u32(self.msg_type).ok_or(ProtocolError::UnknownType(self.msg_type))
    }
}

/// Encodes a whole message: header followed by the concatenated `parts`.
pub fn encode_message(
    msg_type: MsgType,
    req_id: u32,
    tx_id: u32,
    parts: &[&[u8]],
) -> Result<Vec<u8>, XsError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > PAYLOAD_MAX {
        return Err(XsError::RequestTooLarge);
    }
    let header = Header { msg_type: msg_type.as_u32(), req_id, tx_id, len: len as u32 };
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&header.encode());
    for p in parts {
        out.extend_from_slice(p);
    }
    Ok(out)
}

/// Splits a payload of NUL-terminated strings (`<foo>|*`). A final string
/// without its NUL is still returned; an empty payload has no strings.
pub fn split_strings(payload: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = payload.strip_suffix(&[0]).unwrap_or(payload);
    let empty = payload.is_empty();
    body.split(|&b| b == 0).filter(move |_| !empty)
}

/// The first NUL-terminated string of a payload (the whole payload if it has
/// no NUL).
pub fn first_string(payload: &[u8]) -> &[u8] {
    payload.split(|&b| b == 0).next().unwrap_or(&[])
}

/// Decodes a string from the peer, which must be UTF-8 (xenstore paths and
/// tokens are ASCII).
pub fn to_string(bytes: &[u8]) -> Result<String, ProtocolError> {
    core::str::from_utf8(bytes).map(String::from).map_err(|_| ProtocolError::Malformed)
}

/// The error carried by an `XS_ERROR` payload (`"ENOENT\0"`).
pub fn error_from_payload(payload: &[u8]) -> XsError {
    let name = first_string(payload);
    match core::str::from_utf8(name) {
        Ok(s) => XsError::from_name(s),
        Err(_) => XsError::Other(String::from_utf8_lossy(name).into_owned()),
    }
}

/// Parses an unsigned decimal value as stored in xenstore (`"42"`),
/// tolerating surrounding ASCII whitespace and trailing NULs.
pub fn parse_u64(bytes: &[u8]) -> Result<u64, XsError> {
    let mut s = bytes;
    while let [rest @ .., 0] = s {
        s = rest;
    }
    let s = s.trim_ascii();
    if s.is_empty() {
        return Err(XsError::BadValue);
    }
    s.iter().try_fold(0u64, |acc, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d < 10).ok_or(XsError::BadValue)?;
        acc.checked_mul(10).and_then(|a| a.checked_add(u64::from(d))).ok_or(XsError::BadValue)
    })
}

/// [`parse_u64`] limited to `u32`.
pub fn parse_u32(bytes: &[u8]) -> Result<u32, XsError> {
    u32::try_from(parse_u64(bytes)?).map_err(|_| XsError::BadValue)
}

/// Checks that a path or token can be sent as one NUL-terminated string.
pub fn check_string(s: &str) -> Result<(), XsError> {
    if s.is_empty() || s.as_bytes().contains(&0) {
        return Err(XsError::Inval);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn header_round_trip_is_little_endian() {
        let h = Header { msg_type: 2, req_id: 0x0102_0304, tx_id: 7, len: 5 };
        let b = h.encode();
        assert_eq!(&b[..8], &[2, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(Header::decode(&b), h);
    }

    #[test]
    fn types() {
        assert_eq!(MsgType::from_u32(1), Some(MsgType::Directory));
        assert_eq!(MsgType::from_u32(15), Some(MsgType::WatchEvent));
        assert_eq!(MsgType::from_u32(20), None);
        assert_eq!(MsgType::from_u32(21), Some(MsgType::ResetWatches));
        assert_eq!(MsgType::from_u32(27), None);
        assert_eq!(MsgType::from_u32(0xffff), None);
        for t in MsgType::ALL {
            assert_eq!(MsgType::from_u32(t.as_u32()), Some(t));
        }
        let h = Header { msg_type: 99, ..Header::default() };
        assert_eq!(h.known_type(), Err(ProtocolError::UnknownType(99)));
        let h = Header { len: 4097, ..Header::default() };
        assert_eq!(h.checked_len(), Err(ProtocolError::PayloadTooLong(4097)));
    }

    #[test]
    fn encode_limits_payload() {
        let big = vec![b'a'; 4096];
        let m = encode_message(MsgType::Write, 1, 0, &[&big]).unwrap();
        assert_eq!(m.len(), 16 + 4096);
        assert_eq!(
            encode_message(MsgType::Write, 1, 0, &[&big, b"x"]),
            Err(XsError::RequestTooLarge)
        );
    }

    #[test]
    fn strings() {
        let v: Vec<&[u8]> = split_strings(b"a\0bc\0").collect();
        assert_eq!(v, [b"a" as &[u8], b"bc"]);
        let v: Vec<&[u8]> = split_strings(b"a\0bc").collect();
        assert_eq!(v, [b"a" as &[u8], b"bc"]);
        assert_eq!(split_strings(b"").count(), 0);
        assert_eq!(split_strings(b"\0").collect::<Vec<_>>(), [b"" as &[u8]]);
        assert_eq!(first_string(b"OK\0junk"), b"OK");
    }

    #[test]
    fn errors_map_by_name() {
        assert_eq!(error_from_payload(b"ENOENT\0"), XsError::NoEnt);
        assert_eq!(error_from_payload(b"EAGAIN"), XsError::Again);
        assert_eq!(error_from_payload(b"EPERM\0"), XsError::Perm);
        assert_eq!(error_from_payload(b"EWHAT\0"), XsError::Other("EWHAT".into()));
        assert!(matches!(error_from_payload(&[0xff, 0xfe]), XsError::Other(_)));
        assert_eq!(XsError::NoEnt.name(), Some("ENOENT"));
        assert_eq!(XsError::NoEnt.errno(), 2);
        assert_eq!(XsError::TooBig.name(), Some("E2BIG"));
        assert_eq!(XsError::TimedOut.name(), None);
        for (name, errno) in skiff_xen::xs_wire::XSD_ERRORS {
            let e = XsError::from_name(name);
            assert_eq!(e.name(), Some(name));
            assert_eq!(e.errno(), errno);
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"42"), Ok(42));
        assert_eq!(parse_u32(b" 7\n\0"), Ok(7));
        assert_eq!(parse_u32(b"4294967295"), Ok(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), Err(XsError::BadValue));
        assert_eq!(parse_u32(b""), Err(XsError::BadValue));
        assert_eq!(parse_u32(b"-1"), Err(XsError::BadValue));
        assert_eq!(parse_u32(b"1x"), Err(XsError::BadValue));
        assert_eq!(parse_u64(b"18446744073709551616"), Err(XsError::BadValue));
    }
}
