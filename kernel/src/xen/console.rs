//! Console output: port 0xE9 until the PV console ring
//! (`HVM_PARAM_CONSOLE_PFN`/`_EVTCHN`) is up, then the ring, with `\n`
//! expanded to `\r\n` for terminals.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use skiff_ring::{ByteRing, Producer};
use skiff_xen::console::{OUT_SIZE, intf};
use skiff_xen::hvm::{PARAM_CONSOLE_EVTCHN, PARAM_CONSOLE_PFN};
use spin::Mutex;

use super::hypercall::{XenError, sched_yield};

use super::rawmem::RawMem;
use super::{evtchn, hvm};
use crate::arch::cpu;

struct Ring {
    mem: RawMem,
    out: Producer,
    port: u32,
}

static RING: Mutex<Option<Ring>> = Mutex::new(None);
static MIRROR_E9: AtomicBool = AtomicBool::new(false);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// How long a write waits for the console daemon to make room before the
/// rest of the message is dropped (and counted).
const STALL_LIMIT_NS: u64 = 2_000_000_000;

/// Switches output to the PV console ring.
pub fn init() -> Result<(), XenError> {
    let pfn = hvm::get_param(PARAM_CONSOLE_PFN)?;
    let port = hvm::get_param(PARAM_CONSOLE_EVTCHN)? as u32;
    evtchn::track(port);
    // SAFETY: Xen's console page for this domain, identity-mapped below
    // 4 GiB, shared only with the console backend.
    let mem = unsafe { RawMem::new((pfn << 12) as usize, 4096) };
    let out = ByteRing::new(intf::OUT, OUT_SIZE as u32, intf::OUT_PROD, intf::OUT_CONS).producer();
    *RING.lock() = Some(Ring { mem, out, port });
    Ok(())
}

/// Also copy everything to port 0xE9 (Xen's `(dN)` log): set by the
/// `debugcon` command-line flag.
pub fn set_mirror_debugcon(on: bool) {
    MIRROR_E9.store(on, Ordering::Relaxed);
}

/// Bytes dropped because the console daemon did not drain the ring.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// Writes `s` to the console.
pub fn write_str(s: &str) {
    write_bytes(s.as_bytes());
}

/// Writes bytes (any, not only UTF-8: an application's output) to the console.
pub fn write_bytes(b: &[u8]) {
    match RING.try_lock() {
        Some(mut guard) => match guard.as_mut() {
            Some(ring) => {
                if MIRROR_E9.load(Ordering::Relaxed) {
                    cpu::debugcon_write(b);
                }
                ring_write(ring, b);
            }
            None => cpu::debugcon_write(b),
        },
        // Re-entered (a fault while printing): the debug port never blocks.
        None => cpu::debugcon_write(b),
    }
}

fn ring_write(ring: &Ring, bytes: &[u8]) {
    // Expand "\n" to "\r\n" in chunks without allocating.
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            push(ring, &bytes[start..i]);
            push(ring, b"\r\n");
            start = i + 1;
        }
    }
    push(ring, &bytes[start..]);
}

fn push(ring: &Ring, mut bytes: &[u8]) {
    let mut stalled_since: Option<u64> = None;
    while !bytes.is_empty() {
        let n = match ring.out.write(&ring.mem, bytes) {
            Ok(n) => n,
            Err(_) => {
                // A corrupt ring from the backend: nothing sensible to do
                // but fall back to the debug port.
                cpu::debugcon_write(bytes);
                return;
            }
        };
        bytes = &bytes[n..];
        let _ = evtchn::send(ring.port);
        if n > 0 {
            stalled_since = None;
            continue;
        }
        let now = crate::time::now_ns();
        let since = *stalled_since.get_or_insert(now);
        if now.saturating_sub(since) > STALL_LIMIT_NS {
            DROPPED.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            return;
        }
        // Let dom0's console daemon run.
        sched_yield();
    }
}

/// A `core::fmt::Write` sink for the console.
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        write_str(s);
        Ok(())
    }
}

/// Prints formatted text to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::xen::console::Console, format_args!($($arg)*));
    }};
}

/// Prints formatted text and a newline to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!("{}\n", format_args!($($arg)*));
    }};
}
