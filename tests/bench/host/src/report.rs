//! The results file: every figure of this run, read back from criterion's estimates, with its
//! ratio to the baselines measured in the same run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::{PING, SIZES};

/// Where criterion keeps one benchmark's estimates.
fn estimates(dir: &Path, group: &str, name: &str, param: &str) -> PathBuf {
    dir.join(group).join(name).join(param).join("new").join("estimates.json")
}

/// Criterion's median time per iteration (ns) of a benchmark, if it ran after `since`.
pub fn median_ns(
    dir: &Path,
    group: &str,
    name: &str,
    param: &str,
    since: SystemTime,
) -> Option<f64> {
    let path = estimates(dir, group, name, param);
    let fresh = std::fs::metadata(&path).and_then(|m| m.modified()).is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// One row of a throughput table: a path measured at every chunk size.
#[derive(Clone, Copy, Debug)]
pub struct Path3 {
    /// Criterion group.
    pub group: &'static str,
    /// Criterion function id.
    pub name: &'static str,
    /// What it measures, for the table.
    pub label: &'static str,
}

/// What the report needs to know besides the figures.
#[derive(Debug)]
pub struct Context {
    /// Criterion's output directory.
    pub dir: PathBuf,
    /// When this run started (older estimates are not reported).
    pub since: SystemTime,
    /// Title line facts: date, host, commit (from the environment, see `tests/bench/host.sh`).
    pub date: String,
    /// Host name.
    pub host: String,
    /// Commit and whether the tree had local changes.
    pub commit: String,
}

fn gbps(bytes: usize, ns: f64) -> f64 {
    bytes as f64 / ns
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) => format!("{r:.2}×"),
        None => "n/a".into(),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        })
        .map_or_else(|| "? GiB".into(), |kb| format!("{:.1} GiB", kb / 1_048_576.0));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".into(), |s| s.trim().to_string());
    format!("{cpus} CPUs ({cpu}), {mem} RAM, Linux {kernel}")
}

/// Writes the report to `out` and returns its text.
pub fn write(
    cx: &Context,
    send: &[Path3],
    recv: &[Path3],
    ping: &[(&'static str, &'static str)],
    out: &Path,
) -> std::io::Result<String> {
    let fig =
        |group: &str, name: &str, param: &str| median_ns(&cx.dir, group, name, param, cx.since);
    let size_fig = |p: &Path3, size: usize| fig(p.group, p.name, &size.to_string());
    let memcpy = |size: usize| fig("baseline", "memcpy", &size.to_string());
    let tcp = |size: usize| fig("baseline", "loopback-tcp", &size.to_string());
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Skiff host benchmark, {}", cx.date);
    let _ = writeln!(w);
    let _ = writeln!(w, "Machine: `{}`, {}.", cx.host, machine());
    let _ = writeln!(w, "Commit: {}.", cx.commit);
    let _ = writeln!(
        w,
        "Harness: criterion 0.8 (`cargo bench -p skiff-hostbench`), 1 s warm-up and 30"
    );
    let _ = writeln!(
        w,
        "samples over 3 s per figure; each figure is criterion's median time per iteration."
    );
    let _ = writeln!(
        w,
        "This is a shared 2-core machine: compare ratios from the same run, not values"
    );
    let _ = writeln!(w, "across runs. GB/s are 10^9 bytes per second.");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "Paths (all but memcpy use two threads; the PV Calls data ring is order 4, 32 KiB"
    );
    let _ = writeln!(w, "each way, and the SPSC baselines use rings of the same size):");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "- HostMem copy: one thread copying a chunk into the simulator's shared memory and out"
    );
    let _ = writeln!(w, "  again (two copies per chunk: what a ring's two ends do between them).");
    let _ = writeln!(w, "- memcpy: one thread copying a chunk between two buffers.");
    let _ = writeln!(
        w,
        "- loopback TCP: `std::net` over 127.0.0.1 between the bench thread and a reader thread
  (Linux's default socket options; TCP_NODELAY for ping-pong)."
    );
    let _ = writeln!(
        w,
        "- rtrb: the `rtrb` SPSC ring; the peer drains all that is queued (send) or fills all free"
    );
    let _ = writeln!(w, "  space (receive), as the simulated backend does with a data ring.");
    let _ = writeln!(
        w,
        "- skiff_ring: `Producer`/`Consumer` of `skiff_ring` alone over `HostMem`, no engine."
    );
    let _ = writeln!(
        w,
        "- TcpStream / FdTable: the frontend through `skiff_net`'s `TcpStream::write_all`/"
    );
    let _ = writeln!(
        w,
        "  `read_exact` or `FdTable::send`/`recv(MSG_WAITALL)`, against the simulated dom0's backend"
    );
    let _ = writeln!(
        w,
        "  thread serving an in-memory sink, source or echo (`skiff_pvcalls::sim::MemNet`)."
    );
    let _ = writeln!(
        w,
        "- sim + host TCP: the same with the backend's socket a real loopback TCP connection to a"
    );
    let _ = writeln!(
        w,
        "  thread of the bench (two hops: ring, then TCP; three threads on two cores)."
    );
    let _ = writeln!(
        w,
        "A send is timed until the peer has every byte; a receive until the bench thread has."
    );
    for (title, rows) in [("guest → dom0 (send)", send), ("dom0 → guest (receive)", recv)] {
        let _ = writeln!(w);
        let _ = writeln!(w, "## Throughput, {title}");
        let _ = writeln!(w);
        let _ = writeln!(w, "| path | chunk | GB/s | / loopback TCP | / memcpy | / rtrb |");
        let _ = writeln!(w, "|---|---|---|---|---|---|");
        let rtrb = rows.iter().find(|p| p.name == "rtrb");
        for &size in &SIZES {
            let kib = size / 1024;
            let shared = fig("baseline", "shared-copy", &size.to_string());
            for (label, ns) in [
                ("memcpy, one thread", memcpy(size)),
                ("HostMem copy in + out, one thread", shared),
                ("loopback TCP", tcp(size)),
            ]
            .into_iter()
            .chain(rows.iter().map(|p| (p.label, size_fig(p, size))))
            {
                let Some(ns) = ns else {
                    let _ = writeln!(w, "| {label} | {kib} KiB | not run | | | |");
                    continue;
                };
                let v = gbps(size, ns);
                let r = |base: Option<f64>| fmt_ratio(base.map(|b| v / gbps(size, b)));
                let rt = rtrb.and_then(|p| size_fig(p, size));
                let _ = writeln!(
                    w,
                    "| {label} | {kib} KiB | {v:.2} | {} | {} | {} |",
                    r(tcp(size)),
                    r(memcpy(size)),
                    r(rt)
                );
            }
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "## Ping-pong latency ({PING}-byte message, round trip)");
    let _ = writeln!(w);
    let _ = writeln!(w, "| path | µs per round trip | loopback TCP / this |");
    let _ = writeln!(w, "|---|---|---|");
    let lo = fig("pingpong", "loopback-tcp", &PING.to_string());
    for &(name, label) in ping {
        match fig("pingpong", name, &PING.to_string()) {
            Some(ns) => {
                let r = fmt_ratio(lo.map(|l| l / ns));
                let _ = writeln!(w, "| {label} | {:.2} | {r} |", ns / 1000.0);
            }
            None => {
                let _ = writeln!(w, "| {label} | not run | |");
            }
        }
    }
    goals(w, cx, send, recv);
    std::fs::write(out, &s)?;
    Ok(s)
}

/// The goals of issue 12, item 3, against this run's figures.
fn goals(w: &mut String, cx: &Context, send: &[Path3], recv: &[Path3]) {
    let fig = |group: &str, name: &str, size: usize| {
        median_ns(&cx.dir, group, name, &size.to_string(), cx.since)
    };
    // Ratio of path (group, name) to baseline at `size`, as throughputs.
    let ratio = |group: &str, name: &str, bg: &str, bn: &str, size: usize| {
        Some(fig(bg, bn, size)? / fig(group, name, size)?)
    };
    let min = |v: Vec<Option<f64>>| -> Option<f64> {
        v.into_iter().try_fold(f64::INFINITY, |m, r| r.map(|r| m.min(r)))
    };
    let yes = |r: Option<f64>, goal: f64| match r {
        Some(r) if r >= goal => "met",
        Some(_) => "not met",
        None => "not run",
    };
    let _ = writeln!(w);
    let _ = writeln!(w, "## Goals (issue 12, item 3)");
    let _ = writeln!(w);
    let _ = writeln!(w, "| goal | path | worst ratio in this run | |");
    let _ = writeln!(w, "|---|---|---|---|");
    let api: Vec<(&str, &Path3)> = send
        .iter()
        .map(|p| ("send", p))
        .chain(recv.iter().map(|p| ("receive", p)))
        .filter(|(_, p)| p.name.starts_with("api-"))
        .collect();
    for (dir, p) in &api {
        let r = min(SIZES
            .iter()
            .map(|&s| ratio(p.group, p.name, "baseline", "loopback-tcp", s))
            .collect());
        let _ = writeln!(
            w,
            "| ≥ 10× loopback TCP, every chunk size | {} {dir} | {} | {} |",
            p.label,
            fmt_ratio(r),
            yes(r, 10.0)
        );
    }
    for (dir, p) in &api {
        let r = min(SIZES[1..]
            .iter()
            .map(|&s| ratio(p.group, p.name, "baseline", "memcpy", s))
            .collect());
        let _ = writeln!(
            w,
            "| ≥ 0.5× one-thread memcpy, 16 KiB up | {} {dir} | {} | {} |",
            p.label,
            fmt_ratio(r),
            yes(r, 0.5)
        );
    }
    for (dir, p) in &api {
        let r = ratio(p.group, p.name, p.group, "rtrb", SIZES[0]);
        let _ = writeln!(
            w,
            "| 1 KiB ≥ rtrb doing the same copies | {} {dir} | {} | {} |",
            p.label,
            fmt_ratio(r),
            yes(r, 1.0)
        );
    }
    for name in ["api-stream", "api-posix"] {
        let r = (|| {
            let lo = median_ns(&cx.dir, "pingpong", "loopback-tcp", &PING.to_string(), cx.since)?;
            Some(lo / median_ns(&cx.dir, "pingpong", name, &PING.to_string(), cx.since)?)
        })();
        let _ = writeln!(
            w,
            "| ping-pong ≤ 1/10 of loopback TCP's | {name} | {} | {} |",
            fmt_ratio(r),
            yes(r, 10.0)
        );
    }
    // The simulated machine (memory, events, backend thread) is on every in-memory path: the
    // slowest of them bounds it from below.
    let sim = min(api
        .iter()
        .flat_map(|(_, p)| {
            SIZES.iter().map(|&s| ratio(p.group, p.name, "baseline", "loopback-tcp", s))
        })
        .collect());
    let _ = writeln!(
        w,
        "| simulator ≥ loopback TCP | every TcpStream/FdTable path above (they all run through it) | {} | {} |",
        fmt_ratio(sim),
        yes(sim, 1.0)
    );
}
