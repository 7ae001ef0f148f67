//! The program's part of the command line: argv, environment and `/etc/hosts` names from xl's `extra=` string.
//!
//! # Syntax
//!
//! ```text
//! extra = "[KERNEL-OPTION]... [env.NAME=VALUE]... [host.NAME=IPV4]... [-- PROGRAM [ARG]...]"
//! ```
//!
//! - Words are separated by blanks. `"double"` and `'single'` quotes group
//!   blanks into a word and may appear anywhere in it (`env.MSG="a b"`);
//!   outside single quotes a backslash takes the next character literally
//!   (`\"`, `\\`, `\ `).
//! - Before `--`: `env.NAME=VALUE` puts `NAME=VALUE` in the environment
//!   (a later one with the same name wins); `host.NAME=IPV4` adds `NAME`
//!   to `/etc/hosts` (so `ToSocketAddrs` and `getaddrinfo` resolve it: DNS
//!   is not reachable over PV Calls); every other word is the kernel's
//!   and is handed back to it untouched.
//! - After the first `--`: the program's `argv`, `argv[0]` first. Every
//!   word there is the program's, even `env.` words and another `--`.
//! - Without `--`, `argv` is just the default program name the kernel gives.
//!
//! # Examples
//!
//! In an xl config (xl accepts single-quoted strings, which saves escaping
//! double quotes):
//!
//! ```text
//! extra = "-- /server --port 8080"
//! extra = "env.RUST_LOG=debug host.db=192.168.1.10 -- /server --db db:5432"
//! extra = 'env.GREETING="hello world" -- /app "two words" plain'
//! ```
//!
//! ```
//! use skiff_linux::cmdline::parse;
//!
//! let c = parse(r#"loglevel=3 env.GREETING="hello world" host.db=10.0.0.5 -- /app -v "a b""#, "/app").unwrap();
//! assert_eq!(c.argv, ["/app", "-v", "a b"]);
//! assert_eq!(c.envp, ["GREETING=hello world"]);
//! assert_eq!(c.hosts[0].0, "db");
//! assert_eq!(c.kernel, ["loglevel=3"]);
//! ```

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::Ipv4Addr;

/// The parsed command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Command {
    /// The program's arguments (`argv[0]` first).
    pub argv: Vec<String>,
    /// The environment, `NAME=VALUE` each, in order of first appearance.
    pub envp: Vec<String>,
    /// Names for `/etc/hosts`.
    pub hosts: Vec<(String, Ipv4Addr)>,
    /// The kernel's words, in order.
    pub kernel: Vec<String>,
}

/// Why a command line was refused; the message names the word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CmdlineError {
    /// A quote was opened and never closed.
    UnclosedQuote(char),
    /// The line ends with a lone backslash.
    TrailingBackslash,
    /// `env.NAME` without `=VALUE`, or `host.NAME` without `=IP`.
    MissingValue(String),
    /// An environment variable name that is empty or holds `=` or NUL.
    BadEnvName(String),
    /// A host name that is not a valid DNS name.
    BadHostName(String),
    /// A host address that is not an IPv4 address.
    BadAddress(String),
    /// `--` with no program after it.
    NoProgram,
    /// A NUL character in a word.
    Nul,
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::UnclosedQuote(q) => write!(f, "unclosed {q} in the command line"),
            CmdlineError::TrailingBackslash => {
                f.write_str("the command line ends with a lone backslash")
            }
            CmdlineError::MissingValue(w) => {
                write!(f, "{w:?} needs a value: env.NAME=VALUE or host.NAME=IP")
            }
            CmdlineError::BadEnvName(n) => write!(f, "bad environment variable name {n:?}"),
            CmdlineError::BadHostName(n) => write!(f, "bad host name {n:?} in host.NAME=IP"),
            CmdlineError::BadAddress(a) => {
                write!(f, "{a:?} is not an IPv4 address (only IPv4 exists over PV Calls)")
            }
            CmdlineError::NoProgram => f.write_str("nothing after --: name the program (argv[0])"),
            CmdlineError::Nul => f.write_str("a NUL character in the command line"),
        }
    }
}

/// Splits `line` into words (see the module documentation for quoting;
/// the kernel's own arguments are split the same way).
pub fn words(line: &str) -> Result<Vec<String>, CmdlineError> {
    skiff_cmdline::split_words(line).map_err(|e| match e {
        skiff_cmdline::ParseError::UnclosedQuote(q) => CmdlineError::UnclosedQuote(q),
        skiff_cmdline::ParseError::TrailingBackslash => CmdlineError::TrailingBackslash,
        skiff_cmdline::ParseError::Nul => CmdlineError::Nul,
    })
}

/// Whether `name` is a DNS name: labels of letters, digits and `-`, at most 63 bytes each, 253 in all.
fn valid_host(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Parses xl's `extra=` string; `default_program` is `argv[0]` when there is no `--`.
pub fn parse(line: &str, default_program: &str) -> Result<Command, CmdlineError> {
    let mut c = Command::default();
    let mut words = words(line)?.into_iter();
    let mut saw_dashes = false;
    for w in words.by_ref() {
        if w == "--" {
            saw_dashes = true;
            break;
        }
        if let Some(rest) = w.strip_prefix("env.") {
            let (name, value) =
                rest.split_once('=').ok_or_else(|| CmdlineError::MissingValue(w.clone()))?;
            if name.is_empty() {
                return Err(CmdlineError::BadEnvName(name.to_string()));
            }
            let entry = alloc::format!("{name}={value}");
            match c.envp.iter_mut().find(|e| e.split_once('=').is_some_and(|(n, _)| n == name)) {
                Some(e) => *e = entry,
                None => c.envp.push(entry),
            }
        } else if let Some(rest) = w.strip_prefix("host.") {
            let (name, ip) =
                rest.split_once('=').ok_or_else(|| CmdlineError::MissingValue(w.clone()))?;
            if !valid_host(name) {
                return Err(CmdlineError::BadHostName(name.to_string()));
            }
            let ip: Ipv4Addr = ip.parse().map_err(|_| CmdlineError::BadAddress(ip.to_string()))?;
            c.hosts.push((name.to_string(), ip));
        } else {
            c.kernel.push(w);
        }
    }
    c.argv = words.collect();
    if saw_dashes && c.argv.is_empty() {
        return Err(CmdlineError::NoProgram);
    }
    if !saw_dashes {
        c.argv.push(default_program.to_string());
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(
            words(r#"a "b c" 'd "e"' f\ g h\\ "i\"j""#).unwrap(),
            vec!["a", "b c", "d \"e\"", "f g", "h\\", "i\"j"]
        );
        assert_eq!(words("  ").unwrap(), Vec::<String>::new());
        assert_eq!(words("''").unwrap(), vec![""]);
        assert_eq!(words("x=\"a b"), Err(CmdlineError::UnclosedQuote('"')));
        assert_eq!(words("'a"), Err(CmdlineError::UnclosedQuote('\'')));
        assert_eq!(words("a\\"), Err(CmdlineError::TrailingBackslash));
    }

    #[test]
    fn program_env_hosts_and_kernel_words() {
        let c = parse(
            "console=hvc0 env.A=1 env.B= env.A=2 host.db.local=10.0.0.5 -- /srv env.X -- y",
            "/app",
        )
        .unwrap();
        assert_eq!(c.argv, vec!["/srv", "env.X", "--", "y"]);
        assert_eq!(c.envp, vec!["A=2", "B="]);
        assert_eq!(c.hosts, vec![("db.local".to_string(), Ipv4Addr::new(10, 0, 0, 5))]);
        assert_eq!(c.kernel, vec!["console=hvc0"]);
        assert_eq!(parse("", "/app").unwrap().argv, vec!["/app"]);
        assert_eq!(parse("env.PATH=/bin", "/app").unwrap().envp, vec!["PATH=/bin"]);
    }

    #[test]
    fn refusals_name_the_problem() {
        assert_eq!(parse("env.FOO", "/a"), Err(CmdlineError::MissingValue("env.FOO".into())));
        assert_eq!(parse("env.=x", "/a"), Err(CmdlineError::BadEnvName("".into())));
        assert_eq!(
            parse("host.bad_name=1.2.3.4", "/a"),
            Err(CmdlineError::BadHostName("bad_name".into()))
        );
        assert_eq!(parse("host.-x=1.2.3.4", "/a"), Err(CmdlineError::BadHostName("-x".into())));
        assert_eq!(parse("host.db=::1", "/a"), Err(CmdlineError::BadAddress("::1".into())));
        assert_eq!(parse("host.db=10.0.0", "/a"), Err(CmdlineError::BadAddress("10.0.0".into())));
        assert_eq!(parse("env.A=1 --", "/a"), Err(CmdlineError::NoProgram));
        assert!(CmdlineError::BadAddress("::1".into()).to_string().contains("IPv4"));
    }

    proptest! {
        /// Any line parses or is refused without panicking; quoting a word
        /// with single quotes gives it back exactly.
        #[test]
        fn never_panics(s in ".{0,80}") {
            let _ = parse(&s, "/app");
        }

        #[test]
        fn single_quoted_words_round_trip(ws in proptest::collection::vec("[^'\\x00]{0,12}", 1..6)) {
            let line: Vec<String> = ws.iter().map(|w| alloc::format!("'{w}'")).collect();
            let line = alloc::format!("-- {}", line.join(" "));
            prop_assert_eq!(parse(&line, "/x").unwrap().argv, ws);
        }
    }
}
