//! Xenbus device states: `xen/include/public/io/xenbus.h`.

/// `enum xenbus_state`. Ordered by value: "InitWait or later" is
/// `state >= XenbusState::InitWait`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// The decimal value a `state` node holds (`"4"` for Connected).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "0",
            Self::Initialising => "1",
            Self::InitWait => "2",
            Self::Initialised => "3",
            Self::Connected => "4",
            Self::Closing => "5",
            Self::Closed => "6",
            Self::Reconfiguring => "7",
            Self::Reconfigured => "8",
        }
    }

    /// Whether the device is going away or gone (Closing or Closed).
    pub const fn is_closed(self) -> bool {
        matches!(self, Self::Closing | Self::Closed)
    }

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

/// The decimal value, as in the `state` node.
impl core::fmt::Display for XenbusState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::XenbusState;

    #[test]
    fn node_values_round_trip_in_order() {
        let all = [
            XenbusState::Unknown,
            XenbusState::Initialising,
            XenbusState::InitWait,
            XenbusState::Initialised,
            XenbusState::Connected,
            XenbusState::Closing,
            XenbusState::Closed,
            XenbusState::Reconfiguring,
            XenbusState::Reconfigured,
        ];
        for (i, s) in all.into_iter().enumerate() {
            assert_eq!(s as usize, i);
            assert_eq!(s.as_str().parse::<usize>(), Ok(i));
            assert_eq!(XenbusState::parse(s.as_str()), Some(s));
            assert!(i == 0 || all[i - 1] < s, "ordered by value");
        }
        assert_eq!(XenbusState::parse(" 4\n"), Some(XenbusState::Connected));
        assert_eq!(XenbusState::parse("9"), None);
        assert!(XenbusState::Closing.is_closed() && XenbusState::Closed.is_closed());
        assert!(!XenbusState::Connected.is_closed() && !XenbusState::Unknown.is_closed());
    }
}
