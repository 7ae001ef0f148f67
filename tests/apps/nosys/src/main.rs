//! Makes system calls no Linux kernel implements and reports what each returned: a program that
//! asks its kernel for something missing should get `ENOSYS` and carry on.
//!
//! Usage: `nosys [NUMBER...]`; by default 184 (`tuxcall`, a name in the x86_64 table that Linux
//! has never implemented) and 1000 (beyond the table). Prints per call
//! `nosys: syscall N returned R, errno E (NAME)`, then `nosys: still running after N calls` and
//! exits 0 if every call failed with ENOSYS, else 1 (2 for bad arguments).

use std::io;
use std::process::ExitCode;

const DEFAULT_NUMBERS: [libc::c_long; 2] = [184, 1000];

fn main() -> ExitCode {
    let numbers: Result<Vec<libc::c_long>, _> =
        std::env::args().skip(1).map(|a| a.parse()).collect();
    let Ok(mut numbers) = numbers else {
        eprintln!("usage: nosys [NUMBER...]");
        return ExitCode::from(2);
    };
    if numbers.is_empty() {
        numbers = DEFAULT_NUMBERS.to_vec();
    }
    let mut all_enosys = true;
    for &nr in &numbers {
        // SAFETY: every argument is zero, so even a number that is a system call sees null
        // pointers and zero lengths, never this program's memory.
        let ret = unsafe { libc::syscall(nr, 0, 0, 0, 0, 0, 0) };
        let errno =
            if ret == -1 { io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
        let name = match errno {
            0 => "none".to_string(),
            libc::ENOSYS => "ENOSYS".to_string(),
            e => io::Error::from_raw_os_error(e).to_string(),
        };
        println!("nosys: syscall {nr} returned {ret}, errno {errno} ({name})");
        all_enosys &= ret == -1 && errno == libc::ENOSYS;
    }
    println!("nosys: still running after {} calls", numbers.len());
    if all_enosys { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
