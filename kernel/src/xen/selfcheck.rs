//! Diagnostic: checks that general registers and the stack pointer survive
//! hypercalls (`hypercall-selfcheck` on the command line runs it at boot).

use super::hypercall::{self, Args, HypercallArg};

/// Patterns loaded into the registers before each call.
const PATTERNS: [u64; 7] = [
    0x1111_1111_1111_1111,
    0x2222_2222_2222_2222,
    0x3333_3333_3333_3333,
    0x4444_4444_4444_4444,
    0x5555_5555_5555_5555,
    0x6666_6666_6666_6666,
    0x7777_7777_7777_7777,
];
const NAMES: [&str; 8] = ["rbx", "rbp", "r12", "r13", "r14", "r15", "r9", "rsp"];

/// Issues the hypercall `A` pairs with, on `arg`, with known values in the
/// registers the ABI says Xen preserves, and returns what they held
/// afterwards, plus the stack pointer before and after.
fn probe<A: HypercallArg>(arg: &mut A) -> ([u64; 8], u64) {
    const { assert!(A::SAFE && matches!(A::ARGS, Args::CmdNull | Args::CmdPtr)) };
    let a1 = A::CMD;
    let a2 = if A::ARGS == Args::CmdPtr { arg as *mut A as usize } else { 0 };
    let mut out = [0u64; 9];
    let entry = hypercall::stub(A::HYPERCALL);
    // SAFETY: the callee-saved registers are saved on the stack and restored;
    // `out` is a 9-word buffer whose address is kept on the stack across the
    // call; the hypercall and its arguments are `A`'s table entry (a safe
    // one, with `arg` valid for the call).
    unsafe {
        core::arch::asm!(
            "push rbx", "push rbp", "push r12", "push r13", "push r14", "push r15",
            "push rcx",
            "mov [rcx + 64], rsp",
            "mov rbx, {p0}", "mov rbp, {p1}", "mov r12, {p2}", "mov r13, {p3}",
            "mov r14, {p4}", "mov r15, {p5}", "mov r9, {p6}",
            "call rax",
            "mov rcx, [rsp]",
            "mov [rcx], rbx", "mov [rcx + 8], rbp", "mov [rcx + 16], r12",
            "mov [rcx + 24], r13", "mov [rcx + 32], r14", "mov [rcx + 40], r15",
            "mov [rcx + 48], r9", "mov [rcx + 56], rsp",
            "add rsp, 8",
            "pop r15", "pop r14", "pop r13", "pop r12", "pop rbp", "pop rbx",
            p0 = const PATTERNS[0], p1 = const PATTERNS[1], p2 = const PATTERNS[2],
            p3 = const PATTERNS[3], p4 = const PATTERNS[4], p5 = const PATTERNS[5],
            p6 = const PATTERNS[6],
            inout("rax") entry => _,
            inout("rcx") out.as_mut_ptr() => _,
            inout("rdi") a1 => _,
            inout("rsi") a2 => _,
            lateout("rdx") _, lateout("r8") _, lateout("r9") _, lateout("r10") _,
            lateout("r11") _,
        );
    }
    let before = out[8];
    let mut after = [0u64; 8];
    after.copy_from_slice(&out[..8]);
    (after, before)
}

/// Runs `iterations` probes of a few hypercalls and prints every register
/// that did not survive. Returns the number of bad calls.
pub fn run(iterations: usize) -> usize {
    use skiff_xen::event_channel::{PortArg, Send};
    use skiff_xen::sched::{SchedPoll, Yield};
    use skiff_xen::version::Version;
    let mut bad = 0;
    let timer = [crate::time::timer_port()];
    let console =
        crate::xen::hvm::get_param(skiff_xen::hvm::PARAM_CONSOLE_EVTCHN).unwrap_or(0) as u32;
    for i in 0..iterations {
        let mut poll = SchedPoll {
            ports: timer.as_ptr() as u64,
            nr_ports: 1,
            pad: 0,
            timeout: crate::time::now_ns() + 1_000_000,
        };
        let mut send = Send(PortArg { port: console });
        let results = [
            ("xen_version", probe(&mut Version)),
            ("sched_yield", probe(&mut Yield)),
            ("sched_poll", probe(&mut poll)),
            ("evtchn_send", probe(&mut send)),
        ];
        for (what, (after, rsp_before)) in results {
            // rsp after the call is read with the buffer pointer still pushed.
            let mut ok = after[7] == rsp_before;
            for (r, want) in after.iter().zip(PATTERNS.iter()) {
                ok &= r == want;
            }
            if !ok {
                bad += 1;
                if bad <= 10 {
                    crate::println!("selfcheck: {what} #{i}: registers after the call:");
                    for (k, v) in after.iter().enumerate() {
                        let want = if k < 7 { PATTERNS[k] } else { rsp_before };
                        if *v != want {
                            crate::println!("  {} = {v:#x}, expected {want:#x}", NAMES[k]);
                        }
                    }
                }
            }
        }
    }
    crate::xen::evtchn::handle_upcall();
    crate::println!("selfcheck: {bad} of {} hypercalls changed registers", iterations * 4);
    bad
}
