//! Shared setup of the host tests: a simulated dom0 serving real host TCP, stacks, host peers.
#![allow(dead_code, unused_imports)] // each test binary uses part of it

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use skiff_net::Stack;
use skiff_pvcalls::Frontend;
use skiff_pvcalls::handshake;
use skiff_pvcalls::sim::{SimConfig, SimPlatform, SimWorld, SimXs};
pub use skiff_pvcalls::sim::{echo_server, free_port, localhost, pattern};
use skiff_xenstore::Xenstore;

pub type Fe = Frontend<SimPlatform>;
pub type Shared = Rc<RefCell<Fe>>;

/// A connected frontend on a simulated machine. Fields drop in order: the
/// stack before the machine.
pub struct Env {
    pub stack: Shared,
    pub xs: Xenstore<SimXs>,
    pub world: SimWorld,
}

pub fn setup() -> Env {
    let (world, xs, fe, _info) =
        SimWorld::connect(SimConfig::default(), handshake::Config::default()).expect("handshake");
    Env { stack: Rc::new(RefCell::new(fe)), xs, world }
}

const SETTLE_NS: u64 = 20_000_000_000;

/// Waits until every background release has been answered.
pub fn settle<S: Stack<P = SimPlatform>>(stack: &S) {
    let deadline = stack.now_ns() + SETTLE_NS;
    while stack.with(|fe| fe.resources().sockets > fe.open_sockets()) {
        let now = stack.now_ns();
        assert!(now < deadline, "releases not answered: {:?}", stack.with(|fe| fe.resources()));
        stack.wait(Some(now + 20_000_000));
    }
}

thread_local! {
    static THREAD_ENV: RefCell<Option<Env>> = const { RefCell::new(None) };
}

/// A zero-sized stack over a per-thread engine, the way the kernel's global
/// stack is reached: `Default` lets `TcpStream::connect(addr)` find it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThreadStack;

impl ThreadStack {
    /// Starts this thread's simulated machine.
    pub fn install() {
        THREAD_ENV.with(|e| *e.borrow_mut() = Some(setup()));
    }

    /// Stops it.
    pub fn uninstall() {
        THREAD_ENV.with(|e| e.borrow_mut().take());
    }
}

impl Stack for ThreadStack {
    type P = SimPlatform;

    fn with<R>(&self, f: impl FnOnce(&mut Fe) -> R) -> R {
        THREAD_ENV.with(|e| {
            let env = e.borrow();
            let stack = env.as_ref().expect("ThreadStack::install first").stack.clone();

            f(&mut stack.borrow_mut())
        })
    }
}

pub fn v4(a: std::net::SocketAddr) -> SocketAddrV4 {
    match a {
        std::net::SocketAddr::V4(a) => a,
        _ => unreachable!(),
    }
}
