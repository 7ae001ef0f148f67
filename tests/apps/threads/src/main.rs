//! std's threads at work: `thread::spawn`/`join` with names and results, a `Mutex` many threads
//! update, a `Condvar` ping-pong, an `mpsc` channel with several producers, and a sleep.
//!
//! Usage: `threads [STATUS]`. Prints one `threads: ...` line per part (the numbers in each come
//! from what the threads did), then `threads: done, exit status STATUS` and exits with STATUS
//! (default 0; 2 for bad arguments).

use std::process::ExitCode;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const WORKERS: u64 = 4;
const COUNTERS: u64 = 8;
const INCREMENTS: u64 = 10_000;
const ROUNDS: u64 = 1_000;
const PRODUCERS: u64 = 4;
const MESSAGES: u64 = 1_000;
const SLEEP_MS: u64 = 50;

/// Named threads each return a result that `join` hands back.
fn join_results() -> String {
    let handles: Vec<_> = (0..WORKERS)
        .map(|i| {
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || (thread::current().name().unwrap_or("?").to_string(), i * i))
                .expect("spawn a worker")
        })
        .collect();
    let results: Vec<String> = handles
        .into_iter()
        .map(|h| {
            let (name, value) = h.join().expect("join a worker");
            format!("{name}={value}")
        })
        .collect();
    format!("joined {WORKERS} named threads: {}", results.join(" "))
}

/// Many threads increment one counter behind a `Mutex`.
fn mutex_counter() -> String {
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..COUNTERS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    *counter.lock().unwrap() += 1;
                    thread::yield_now();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("join a counter thread");
    }
    let total = *counter.lock().unwrap();
    format!("mutex {COUNTERS} threads x {INCREMENTS} increments, total {total}")
}

/// Two threads take turns through a `Condvar`; each turn counts once.
fn condvar_ping_pong() -> String {
    // (whose turn: true for the other thread, turns taken)
    let state = Arc::new((Mutex::new((false, 0u64)), Condvar::new()));
    let other = {
        let state = Arc::clone(&state);
        thread::spawn(move || {
            let (lock, cvar) = &*state;
            for _ in 0..ROUNDS {
                let mut s = cvar.wait_while(lock.lock().unwrap(), |s| !s.0).unwrap();
                s.0 = false;
                s.1 += 1;
                cvar.notify_one();
            }
        })
    };
    let (lock, cvar) = &*state;
    for _ in 0..ROUNDS {
        let mut s = lock.lock().unwrap();
        s.0 = true;
        s.1 += 1;
        cvar.notify_one();
        drop(cvar.wait_while(s, |s| s.0).unwrap());
    }
    other.join().expect("join the ping-pong thread");
    let turns = lock.lock().unwrap().1;
    format!("condvar {ROUNDS} rounds of ping-pong, {turns} turns")
}

/// Several producers send numbers down one `mpsc` channel; the receiver counts and sums them.
fn mpsc_sum() -> String {
    let (tx, rx) = mpsc::channel();
    for p in 0..PRODUCERS {
        let tx = tx.clone();
        thread::spawn(move || {
            for i in 0..MESSAGES {
                tx.send(p * MESSAGES + i).expect("send");
            }
        });
    }
    drop(tx);
    let (mut received, mut sum) = (0u64, 0u64);
    for v in rx {
        received += 1;
        sum += v;
    }
    format!("mpsc {PRODUCERS} producers x {MESSAGES} messages, received {received}, sum {sum}")
}

/// A sleeping thread wakes no earlier than asked.
fn sleep() -> String {
    let slept = thread::spawn(|| {
        let start = Instant::now();
        thread::sleep(Duration::from_millis(SLEEP_MS));
        start.elapsed()
    })
    .join()
    .expect("join the sleeper");
    let enough = slept >= Duration::from_millis(SLEEP_MS);
    format!("sleep {SLEEP_MS} ms in a thread, woke after at least that: {enough}")
}

fn main() -> ExitCode {
    let status = match std::env::args().nth(1).map(|a| a.parse::<u8>()) {
        None => 0,
        Some(Ok(s)) => s,
        Some(Err(_)) => {
            eprintln!("usage: threads [STATUS]");
            return ExitCode::from(2);
        }
    };
    for line in [join_results(), mutex_counter(), condvar_ping_pong(), mpsc_sum(), sleep()] {
        println!("threads: {line}");
    }
    println!("threads: done, exit status {status}");
    ExitCode::from(status)
}
