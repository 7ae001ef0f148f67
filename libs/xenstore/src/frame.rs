//! Reassembly of xenstore messages from a byte stream that arrives in pieces.

use alloc::vec::Vec;

use crate::ProtocolError;
use crate::wire::{HEADER_LEN, Header};

/// Collects bytes until a whole message (header + payload) is available.
///
/// The header length is checked as soon as the header is complete, so at
/// most `16 + 4096` bytes are ever buffered. After an error the stream is
/// out of sync; the owner must stop using it.
#[derive(Debug, Default)]
pub struct Framer {
    head: [u8; HEADER_LEN],
    head_len: usize,
    header: Option<Header>,
    body: Vec<u8>,
}

impl Framer {
    /// An empty framer, at a message boundary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no partial message is buffered.
    pub fn at_boundary(&self) -> bool {
        self.head_len == 0
    }

    /// Consumes bytes from the front of `input` until one message completes
    /// (returned) or `input` is exhausted (`Ok(None)`).
    pub fn feed(&mut self, input: &mut &[u8]) -> Result<Option<(Header, Vec<u8>)>, ProtocolError> {
        if self.header.is_none() {
            let n = (HEADER_LEN - self.head_len).min(input.len());
            self.head[self.head_len..self.head_len + n].copy_from_slice(&input[..n]);
            self.head_len += n;
            *input = &input[n..];
            if self.head_len < HEADER_LEN {
                return Ok(None);
            }
            let header = Header::decode(&self.head);
            let len = header.checked_len()?;
            self.body = Vec::with_capacity(len);
            self.header = Some(header);
        }
        let Some(header) = self.header else { return Ok(None) };
        let want = header.len as usize - self.body.len();
        let n = want.min(input.len());
        self.body.extend_from_slice(&input[..n]);
        *input = &input[n..];
        if self.body.len() < header.len as usize {
            return Ok(None);
        }
        self.header = None;
        self.head_len = 0;
        Ok(Some((header, core::mem::take(&mut self.body))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{MsgType, encode_message};

    #[test]
    fn reassembles_byte_by_byte() {
        let mut stream = encode_message(MsgType::Read, 3, 0, &[b"abc"]).unwrap();
        stream.extend(encode_message(MsgType::Write, 4, 9, &[]).unwrap());
        let mut f = Framer::new();
        let mut got = Vec::new();
        for b in &stream {
            let mut input: &[u8] = core::slice::from_ref(b);
            while let Some(m) = f.feed(&mut input).unwrap() {
                got.push(m);
            }
            assert!(input.is_empty());
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0.req_id, 3);
        assert_eq!(got[0].1, b"abc");
        assert_eq!((got[1].0.tx_id, got[1].1.len()), (9, 0));
        assert!(f.at_boundary());
    }

    #[test]
    fn rejects_oversized_header_before_payload() {
        let h = Header { msg_type: 2, req_id: 1, tx_id: 0, len: 4097 };
        let mut f = Framer::new();
        let enc = h.encode();
        let mut input: &[u8] = &enc;
        assert_eq!(f.feed(&mut input), Err(ProtocolError::PayloadTooLong(4097)));
    }
}
