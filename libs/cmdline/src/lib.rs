//! Parses the kernel command line that xl passes (`cmdline=`/`extra=`) into
//! arguments: whitespace-separated words, `"double quotes"` group words, and
//! `key=value` words can be looked up by key.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

/// The parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    words: Vec<String>,
}

/// Why a command line could not be parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A `"` was opened and never closed.
    UnclosedQuote,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::UnclosedQuote => f.write_str("unclosed '\"' in the command line"),
        }
    }
}

impl Args {
    /// Splits `line` into words. Quotes may appear anywhere in a word
    /// (`key="a b"` is one word `key=a b`); there are no escapes.
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        let mut words = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    in_word = true;
                }
                c if c.is_whitespace() && !quoted => {
                    if in_word {
                        words.push(core::mem::take(&mut cur));
                        in_word = false;
                    }
                }
                c => {
                    cur.push(c);
                    in_word = true;
                }
            }
        }
        if quoted {
            return Err(ParseError::UnclosedQuote);
        }
        if in_word {
            words.push(cur);
        }
        Ok(Args { words })
    }

    /// All words, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(String::as_str)
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// True when there are no words.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The value of the last `key=value` word with this key (later words
    /// override earlier ones, as on Linux).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.words.iter().rev().find_map(|w| {
            let (k, v) = w.split_once('=')?;
            (k == key).then_some(v)
        })
    }

    /// True if a bare word `flag` (without `=`) is present.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.words.iter().any(|w| w == flag)
    }

    /// Parses the value of `key` with `FromStr`; `Ok(None)` when absent.
    pub fn parse_value<T: core::str::FromStr>(&self, key: &str) -> Result<Option<T>, BadValue> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| BadValue { key: key.into(), value: v.into() })
            }
        }
    }
}

/// A `key=value` whose value did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadValue {
    /// The key.
    pub key: String,
    /// The value as given.
    pub value: String,
}

impl core::fmt::Display for BadValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "bad value {:?} for {}=", self.value, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn splits_words_and_keys() {
        let a = Args::parse("  port=80 verbose  name=\"a b\" port=8080 ").unwrap();
        assert_eq!(
            a.iter().collect::<Vec<_>>(),
            vec!["port=80", "verbose", "name=a b", "port=8080"]
        );
        assert_eq!(a.get("port"), Some("8080"));
        assert_eq!(a.get("name"), Some("a b"));
        assert_eq!(a.get("verbose"), None);
        assert!(a.has_flag("verbose"));
        assert_eq!(a.parse_value::<u16>("port"), Ok(Some(8080)));
        assert_eq!(a.parse_value::<u16>("missing"), Ok(None));
        assert!(a.parse_value::<u8>("port").is_err());
    }

    #[test]
    fn empty_and_errors() {
        assert!(Args::parse("").unwrap().is_empty());
        assert!(Args::parse(" \t\n").unwrap().is_empty());
        assert_eq!(Args::parse("a=\"b"), Err(ParseError::UnclosedQuote));
        assert_eq!(Args::parse("\"\"").unwrap().iter().collect::<Vec<_>>(), vec![""]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_words_have_no_unquoted_space(s in ".{0,64}") {
            if let Ok(a) = Args::parse(&s) {
                prop_assert!(a.len() <= s.len());
            }
        }
    }
    use proptest::prop_assert;
}
