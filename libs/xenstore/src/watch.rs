//! Watch events (`XS_WATCH_EVENT`: `<epath>|<token>|`), routed by token to bounded per-watch queues.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;

use crate::ProtocolError;
use crate::wire::{split_strings, to_string};

/// A fired watch: `path` changed (or is the watched path itself, when the
/// watch was just registered); `token` is the one given to `XS_WATCH`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WatchEvent {
    /// The path that changed (relative if the watch was set on a relative path).
    pub path: String,
    /// The token of the watch that matched.
    pub token: String,
}

impl WatchEvent {
    /// Parses an `XS_WATCH_EVENT` payload. Extra trailing strings are ignored.
    pub fn parse(payload: &[u8]) -> Result<Self, ProtocolError> {
        let mut parts = split_strings(payload);
        let path = parts.next().ok_or(ProtocolError::Malformed)?;
        let token = parts.next().ok_or(ProtocolError::Malformed)?;
        if path.is_empty() {
            return Err(ProtocolError::Malformed);
        }
        Ok(WatchEvent { path: to_string(path)?, token: to_string(token)? })
    }
}

/// FIFO of watch events with a bound on its length.
///
/// An event equal to one already queued is not queued again: a watch
/// handler re-reads the state anyway, and this keeps a flood of identical
/// events from a busy path small. When the queue is full, new events are
/// dropped and counted; a consumer that sees a non-zero
/// [`overflowed`](Self::overflowed) count should re-read everything it
/// watches.
#[derive(Debug)]
pub struct WatchQueue {
    events: VecDeque<WatchEvent>,
    cap: usize,
    overflowed: u64,
}

impl WatchQueue {
    /// Default bound on queued events.
    pub const DEFAULT_CAPACITY: usize = 64;

    /// An empty queue holding at most `cap` events.
    pub fn new(cap: usize) -> Self {
        WatchQueue { events: VecDeque::new(), cap, overflowed: 0 }
    }

    /// Queues an event unless an identical one is queued or the queue is full.
    pub fn push(&mut self, ev: WatchEvent) {
        if self.events.contains(&ev) {
            return;
        }
        if self.events.len() >= self.cap {
            self.overflowed += 1;
            return;
        }
        self.events.push_back(ev);
    }

    /// Takes the oldest event.
    pub fn pop(&mut self) -> Option<WatchEvent> {
        self.events.pop_front()
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events dropped because the queue was full, since creation.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }
}

impl Default for WatchQueue {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

/// The queues of the watches this client registered, by token: each
/// event goes to the queue of its token, so no consumer ever sees (or
/// drains) another's events. Events for tokens nobody registered are
/// dropped and counted.
#[derive(Debug, Default)]
pub struct Watches {
    /// token -> (registrations, queue).
    queues: BTreeMap<String, (u32, WatchQueue)>,
    unrouted: u64,
}

impl Watches {
    /// Gives `token` a queue (or counts one more registration of it).
    pub fn register(&mut self, token: &str) {
        self.queues.entry(String::from(token)).or_insert_with(|| (0, WatchQueue::default())).0 += 1;
    }

    /// Undoes one [`register`](Self::register); the queue (and what is in
    /// it) goes with the last one.
    pub fn unregister(&mut self, token: &str) {
        if let Some((n, _)) = self.queues.get_mut(token) {
            *n -= 1;
            if *n == 0 {
                self.queues.remove(token);
            }
        }
    }

    /// Files `ev` in its token's queue, or drops it.
    pub fn route(&mut self, ev: WatchEvent) {
        match self.queues.get_mut(&ev.token) {
            Some((_, q)) => q.push(ev),
            None => self.unrouted += 1,
        }
    }

    /// The oldest event for `token`.
    pub fn take(&mut self, token: &str) -> Option<WatchEvent> {
        self.queues.get_mut(token)?.1.pop()
    }

    /// Whether an event for `token` is queued.
    pub fn has(&self, token: &str) -> bool {
        self.queues.get(token).is_some_and(|(_, q)| !q.is_empty())
    }

    /// Events dropped because their queue was full, over all tokens.
    pub fn overflowed(&self) -> u64 {
        self.queues.values().map(|(_, q)| q.overflowed()).sum()
    }

    /// Events for tokens nobody registered.
    pub fn unrouted(&self) -> u64 {
        self.unrouted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(p: &str, t: &str) -> WatchEvent {
        WatchEvent { path: p.into(), token: t.into() }
    }

    #[test]
    fn parse() {
        assert_eq!(WatchEvent::parse(b"/a/b\0tok\0"), Ok(ev("/a/b", "tok")));
        assert_eq!(WatchEvent::parse(b"a\0\0"), Ok(ev("a", "")));
        assert_eq!(WatchEvent::parse(b"/a\0"), Err(ProtocolError::Malformed));
        assert_eq!(WatchEvent::parse(b""), Err(ProtocolError::Malformed));
        assert_eq!(WatchEvent::parse(b"\xff\0t\0"), Err(ProtocolError::Malformed));
    }

    #[test]
    fn events_go_to_their_own_token_only() {
        let mut w = Watches::default();
        w.register("a");
        w.register("b");
        w.route(ev("/x", "b"));
        w.route(ev("/y", "a"));
        w.route(ev("/z", "nobody"));
        assert_eq!(w.take("a"), Some(ev("/y", "a")));
        assert_eq!(w.take("a"), None, "b's event is not a's");
        assert!(w.has("b"));
        assert_eq!(w.unrouted(), 1);
        w.register("b");
        w.unregister("b");
        assert_eq!(w.take("b"), Some(ev("/x", "b")), "still registered once");
        w.unregister("b");
        w.route(ev("/x", "b"));
        assert_eq!((w.take("b"), w.unrouted()), (None, 2));
    }

    #[test]
    fn queue_coalesces_and_bounds() {
        let mut q = WatchQueue::new(2);
        q.push(ev("a", "t"));
        q.push(ev("a", "t"));
        q.push(ev("b", "t"));
        q.push(ev("c", "t"));
        assert_eq!((q.len(), q.overflowed()), (2, 1));
        assert_eq!(q.pop(), Some(ev("a", "t")));
        assert_eq!(q.pop(), Some(ev("b", "t")));
        assert!(q.is_empty());
    }
}
