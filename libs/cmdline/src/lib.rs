//! Parses the kernel command line that xl passes (`cmdline=`/`extra=`) into
//! arguments: blank-separated words with shell-like quoting, `key=value`
//! words looked up by key, and everything after a `--` word left to the
//! program.
//!
//! Quoting ([`split_words`]): `"double"` and `'single'` quotes group blanks
//! into a word and may appear anywhere in it (`name="a b"`); outside single
//! quotes a backslash takes the next character literally (`\"`, `\\`, `\ `).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

/// The kernel's part of the command line: the words before the first `--`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    words: Vec<String>,
}

/// Why a command line could not be split into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote (this one) was opened and never closed.
    UnclosedQuote(char),
    /// The line ends with a lone backslash.
    TrailingBackslash,
    /// A NUL character in the line.
    Nul,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::UnclosedQuote(q) => write!(f, "unclosed {q} in the command line"),
            ParseError::TrailingBackslash => {
                f.write_str("the command line ends with a lone backslash")
            }
            ParseError::Nul => f.write_str("a NUL character in the command line"),
        }
    }
}

/// Splits `line` into words (see the crate documentation for quoting).
pub fn split_words(line: &str) -> Result<Vec<String>, ParseError> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\0') => return Err(ParseError::Nul),
            (Some(q), c) if c == q => quote = None,
            (Some('\''), c) => cur.push(c),
            (_, '\\') => {
                cur.push(chars.next().ok_or(ParseError::TrailingBackslash)?);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(core::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(ParseError::UnclosedQuote(q));
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

impl Args {
    /// The kernel's words of `line`: all of them up to the first `--`
    /// (what follows is the program's and is not looked at here).
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        let mut words = split_words(line)?;
        if let Some(i) = words.iter().position(|w| w == "--") {
            words.truncate(i);
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
        assert_eq!(Args::parse("a=\"b"), Err(ParseError::UnclosedQuote('"')));
        assert_eq!(Args::parse("'a"), Err(ParseError::UnclosedQuote('\'')));
        assert_eq!(Args::parse("a\\"), Err(ParseError::TrailingBackslash));
        assert_eq!(Args::parse("a\0b"), Err(ParseError::Nul));
        assert_eq!(Args::parse("\"\"").unwrap().iter().collect::<Vec<_>>(), vec![""]);
    }

    #[test]
    fn quotes_escapes_and_the_program_part() {
        let w = split_words(r#"a "b c" 'd "e"' f\ g h\\ "i\"j""#).unwrap();
        assert_eq!(w, vec!["a", "b c", "d \"e\"", "f g", "h\\", "i\"j"]);
        let a = Args::parse("loglevel=debug -- /app 'unbalanced \" inside' --x").unwrap();
        assert_eq!(a.iter().collect::<Vec<_>>(), vec!["loglevel=debug"]);
        assert!(!a.has_flag("--x"));
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
