//! The vocabulary of a hostile backend's script: what it may do to the command ring, the data rings and the frontend.

/// How to answer one request taken from the command ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Answer {
    /// As Linux's `pvcalls-back` would: map the data ring of a CONNECT or
    /// ACCEPT (a connection arrived), unmap it on RELEASE, validate SOCKET
    /// and LISTEN.
    Right,
    /// With this `ret` and nothing else done (no ring mapped or unmapped).
    Ret(i32),
    /// Map the data ring of a CONNECT or ACCEPT, then answer with `ret`
    /// (an error that leaves the ring mapped).
    MapThenRet(i32),
    /// With this `req_id` instead of the request's.
    WrongReqId(u32),
    /// With this `cmd` instead of the request's.
    WrongCmd(u32),
    /// With this `id` instead of the request's.
    WrongId(u64),
    /// Right, and then the same response once more.
    Twice,
    /// Never: the request is dropped.
    Never,
}

/// One step of a script.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Step {
    /// Nothing.
    Idle,
    /// Take every published request into the inbox.
    Take,
    /// Answer the inbox request `pick % len` (if any) as `how`.
    Answer {
        /// Which request.
        pick: u8,
        /// How.
        how: Answer,
    },
    /// Push an arbitrary response.
    Garbage {
        /// `req_id`.
        req_id: u32,
        /// `cmd`.
        cmd: u32,
        /// `ret`.
        ret: i32,
        /// `id`.
        id: u64,
    },
    /// Publish `rsp_prod` moved by `delta` from where it is (a backend
    /// that claims responses it never wrote, or takes some back).
    RspProd {
        /// Added to `rsp_prod` (wrapping).
        delta: u32,
    },
    /// Store `val` at byte `(off % 16) * 4` of the command ring's header
    /// (indexes and events).
    CmdWord {
        /// Which word.
        off: u8,
        /// What.
        val: u32,
    },
    /// Signal the command ring's event channel.
    NotifyCmd,
    /// Write up to `len` bytes into `in` of mapped data ring `ring % n`.
    In {
        /// Which ring.
        ring: u8,
        /// How many bytes at most.
        len: u16,
    },
    /// Consume up to `len` bytes of `out`.
    Out {
        /// Which ring.
        ring: u8,
        /// How many bytes at most.
        len: u16,
    },
    /// Set `in_error` (`-104`: reset, `-107`: end of stream).
    InError {
        /// Which ring.
        ring: u8,
        /// The value.
        err: i32,
    },
    /// Set `out_error`.
    OutError {
        /// Which ring.
        ring: u8,
        /// The value.
        err: i32,
    },
    /// Store `val` at byte `(off % 32) * 4` of the indexes page (indexes
    /// and errors of both directions).
    RingWord {
        /// Which ring.
        ring: u8,
        /// Which word.
        off: u8,
        /// What.
        val: u32,
    },
    /// Signal a data ring's event channel.
    Notify {
        /// Which ring.
        ring: u8,
    },
    /// Unmap a data ring without being asked (and unbind its port).
    Unmap {
        /// Which ring.
        ring: u8,
    },
    /// `backend_disconnect`: unmap every ring and the command ring.
    Disconnect,
}

/// What the backend does once its script has run out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Autopilot {
    /// Nothing at all.
    #[default]
    Silent,
    /// Takes every request and answers it [`Answer::Right`], and consumes
    /// everything in `out`.
    Cooperative,
}
