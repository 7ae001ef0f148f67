//! `make bench-host`: the frontend's send and receive paths through the socket API against the
//! simulated dom0, beside loopback TCP, one-thread memcpy and the `rtrb` SPSC ring, measured in
//! the same run; then the results file (`SKIFF_BENCH_RESULTS`, see `tests/bench/host.sh`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use criterion::{BenchmarkId, Criterion, Throughput};
use skiff_hostbench::baseline::{Far, Memcpy, RawRing, Rtrb, SharedCopy, Tcp};
use skiff_hostbench::report::{self, Context, Path3};
use skiff_hostbench::simnet::{Face, Machine, Peer};
use skiff_hostbench::{PING, SIZES, chunk};
use skiff_pvcalls::sim::{MemSink, MemSource};

const SEND: [Path3; 5] = [
    Path3 { group: "send", name: "rtrb", label: "rtrb SPSC ring" },
    Path3 { group: "send", name: "skiff-ring", label: "skiff_ring over HostMem" },
    Path3 { group: "send", name: "api-stream", label: "TcpStream → sim → in-memory sink" },
    Path3 { group: "send", name: "api-posix", label: "FdTable → sim → in-memory sink" },
    Path3 { group: "send", name: "sim-host-tcp", label: "TcpStream → sim → host TCP" },
];

const RECV: [Path3; 4] = [
    Path3 { group: "recv", name: "rtrb", label: "rtrb SPSC ring" },
    Path3 { group: "recv", name: "api-stream", label: "TcpStream ← sim ← in-memory source" },
    Path3 { group: "recv", name: "api-posix", label: "FdTable ← sim ← in-memory source" },
    Path3 { group: "recv", name: "sim-host-tcp", label: "TcpStream ← sim ← host TCP" },
];

const PINGS: [(&str, &str); 4] = [
    ("loopback-tcp", "loopback TCP"),
    ("api-stream", "TcpStream ↔ sim ↔ in-memory echo"),
    ("api-posix", "FdTable ↔ sim ↔ in-memory echo"),
    ("sim-host-tcp", "TcpStream ↔ sim ↔ host TCP echo"),
];

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Benchmarks `id` on a harness made for it, dropped (its threads stopped) right after, so no
/// peer thread of one benchmark runs during another.
fn bench<H>(
    g: &mut Group<'_>,
    id: BenchmarkId,
    make: impl FnOnce() -> H,
    mut f: impl FnMut(&mut H, u64) -> Duration,
) {
    let mut h = make();
    g.bench_function(id, |b| b.iter_custom(|n| f(&mut h, n)));
}

fn baselines(c: &mut Criterion) {
    let mut g = c.benchmark_group("baseline");
    for &size in &SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let data = chunk(size);
        let id = |name| BenchmarkId::new(name, size);
        bench(&mut g, id("memcpy"), || Memcpy::new(size), Memcpy::run);
        bench(&mut g, id("shared-copy"), || SharedCopy::new(size), SharedCopy::run);
        bench(&mut g, id("loopback-tcp"), || Tcp::new(Far::Reader), |t, n| t.send(&data, n));
    }
    g.finish();
}

fn send(c: &mut Criterion) {
    let mut g = c.benchmark_group("send");
    for &size in &SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let data = chunk(size);
        let id = |name| BenchmarkId::new(name, size);
        bench(&mut g, id("rtrb"), Rtrb::sender, |r, n| r.send(&data, n));
        bench(&mut g, id("skiff-ring"), RawRing::new, |r, n| r.send(&data, n));
        for (name, face) in [("api-stream", Face::Stream), ("api-posix", Face::Posix)] {
            let make = || Machine::new(Peer::Sink(MemSink::new()), face);
            bench(&mut g, id(name), make, |m, n| m.send(&data, n));
        }
        let make = || Machine::new(Peer::Host(Far::Reader), Face::Stream);
        bench(&mut g, id("sim-host-tcp"), make, |m, n| m.send(&data, n));
    }
    g.finish();
}

fn recv(c: &mut Criterion) {
    let mut g = c.benchmark_group("recv");
    for &size in &SIZES {
        g.throughput(Throughput::Bytes(size as u64));
        let id = |name| BenchmarkId::new(name, size);
        let make = || (Rtrb::receiver(), vec![0u8; size]);
        bench(&mut g, id("rtrb"), make, |(r, buf), n| r.recv(buf, n));
        for (name, face) in [("api-stream", Face::Stream), ("api-posix", Face::Posix)] {
            let make = || Machine::new(Peer::Source(MemSource::new()), face);
            bench(&mut g, id(name), make, |m, n| m.recv(size, n));
        }
        let make = || Machine::new(Peer::Host(Far::Writer), Face::Stream);
        bench(&mut g, id("sim-host-tcp"), make, |m, n| m.recv(size, n));
    }
    g.finish();
}

fn pingpong(c: &mut Criterion) {
    let mut g = c.benchmark_group("pingpong");
    let id = |name| BenchmarkId::new(name, PING);
    bench(&mut g, id("loopback-tcp"), || Tcp::new(Far::Echo), Tcp::ping);
    for (name, peer, face) in [
        ("api-stream", Peer::Echo, Face::Stream),
        ("api-posix", Peer::Echo, Face::Posix),
        ("sim-host-tcp", Peer::Host(Far::Echo), Face::Stream),
    ] {
        bench(&mut g, id(name), || Machine::new(peer, face), Machine::ping);
    }
    g.finish();
}

fn main() {
    let since = SystemTime::now();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../target"));
    let dir = target.join("bench-host").join("criterion");
    let mut c = Criterion::default()
        .output_directory(&dir)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
        .configure_from_args();
    baselines(&mut c);
    send(&mut c);
    recv(&mut c);
    pingpong(&mut c);
    c.final_summary();
    let Some(out) = std::env::var_os("SKIFF_BENCH_RESULTS") else {
        eprintln!("SKIFF_BENCH_RESULTS not set: no results file (make bench-host sets it)");
        return;
    };
    let env = |k: &str| std::env::var(k).unwrap_or_else(|_| "?".into());
    let cx = Context {
        dir,
        since,
        date: env("SKIFF_BENCH_DATE"),
        host: env("SKIFF_BENCH_HOST"),
        commit: env("SKIFF_BENCH_COMMIT"),
    };
    match report::write(&cx, &SEND, &RECV, &PINGS, out.as_ref()) {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("cannot write {}: {e}", PathBuf::from(out).display());
            std::process::exit(1);
        }
    }
}
