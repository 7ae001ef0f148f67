//! In-guest check runner: one console line per named check, then a verdict line and exit code.

use alloc::format;
use alloc::string::String;
use core::fmt::{Debug, Display};

/// What a check returns: a detail line on success, the reason on failure.
pub type Check = Result<String, String>;

/// `Ok(())` if `cond` holds, else `Err(why())`.
pub fn ensure(cond: bool, why: impl FnOnce() -> String) -> Result<(), String> {
    if cond { Ok(()) } else { Err(why()) }
}

/// `Ok(())` if `r` is the error `want`, else why not (`what` names the
/// call).
pub fn expect_err<T: Debug, E: PartialEq + Display>(
    what: &str,
    r: Result<T, E>,
    want: E,
) -> Result<(), String> {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => Err(format!("{what} gave {e}, expected {want}")),
        Ok(v) => Err(format!("{what} succeeded ({v:?}), expected {want}")),
    }
}

/// Prints `<prefix>: ok   <name>: <detail>` or `<prefix>: FAIL <name>: <why>`
/// for each result as the iterator yields it (so checks given as a lazy
/// `map` run one at a time, in order), then `<prefix>: PASS n/n` and returns
/// 0, or `<prefix>: FAIL k/n checks failed` and returns 1.
pub fn report<'a>(prefix: &str, results: impl IntoIterator<Item = (&'a str, Check)>) -> i32 {
    let (mut n, mut failed) = (0, 0);
    for (name, result) in results {
        n += 1;
        match result {
            Ok(detail) => crate::println!("{prefix}: ok   {name}: {detail}"),
            Err(why) => {
                failed += 1;
                crate::println!("{prefix}: FAIL {name}: {why}");
            }
        }
    }
    if failed == 0 {
        crate::println!("{prefix}: PASS {n}/{n}");
        0
    } else {
        crate::println!("{prefix}: FAIL {failed}/{n} checks failed");
        1
    }
}
