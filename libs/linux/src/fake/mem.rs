//! A sparse fake of application memory: 4 KiB pages with protections, `EFAULT` outside them.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use core::cell::RefCell;

use skiff_pvcalls::Errno;

use crate::abi::PAGE_SIZE;
use crate::mem::UserMem;
use crate::vm::Prot;

type Pages = BTreeMap<u64, (Prot, Box<[u8; PAGE_SIZE as usize]>)>;

/// Fake application memory. Clones share the same pages (so a
/// [`FakeEnv`](super::FakeEnv) can map into the memory a test reads).
#[derive(Clone, Debug, Default)]
pub struct FakeMem {
    pages: Rc<RefCell<Pages>>,
}

impl FakeMem {
    /// Empty memory: every access faults.
    pub fn new() -> Self {
        FakeMem::default()
    }

    /// Maps `[addr, addr + len)` (rounded out to pages) zeroed and read-write.
    pub fn map(&mut self, addr: u64, len: u64) {
        self.map_prot(addr, len, Prot::RW);
    }

    /// Maps `[addr, addr + len)` (rounded out to pages) zeroed with `prot`.
    pub fn map_prot(&mut self, addr: u64, len: u64, prot: Prot) {
        let mut pages = self.pages.borrow_mut();
        for pg in addr / PAGE_SIZE..(addr + len).div_ceil(PAGE_SIZE) {
            pages.insert(pg, (prot, Box::new([0; PAGE_SIZE as usize])));
        }
    }

    /// Unmaps the pages of `[addr, addr + len)`.
    pub fn unmap(&mut self, addr: u64, len: u64) {
        let mut pages = self.pages.borrow_mut();
        for pg in addr / PAGE_SIZE..(addr + len).div_ceil(PAGE_SIZE) {
            pages.remove(&pg);
        }
    }

    /// Changes the protection of the mapped pages of `[addr, addr + len)`.
    pub fn protect(&mut self, addr: u64, len: u64, prot: Prot) {
        let mut pages = self.pages.borrow_mut();
        for pg in addr / PAGE_SIZE..(addr + len).div_ceil(PAGE_SIZE) {
            if let Some(p) = pages.get_mut(&pg) {
                p.0 = prot;
            }
        }
    }

    /// Zeroes the mapped pages of `[addr, addr + len)`.
    pub fn zero(&mut self, addr: u64, len: u64) {
        let mut pages = self.pages.borrow_mut();
        for pg in addr / PAGE_SIZE..(addr + len).div_ceil(PAGE_SIZE) {
            if let Some(p) = pages.get_mut(&pg) {
                p.1.fill(0);
            }
        }
    }

    /// Whether the page holding `addr` is mapped.
    pub fn is_mapped(&self, addr: u64) -> bool {
        self.pages.borrow().contains_key(&(addr / PAGE_SIZE))
    }

    /// Number of mapped pages.
    pub fn mapped_pages(&self) -> usize {
        self.pages.borrow().len()
    }

    fn check(&self, addr: u64, len: usize, need: Prot) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        let pages = self.pages.borrow();
        for pg in addr / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            match pages.get(&pg) {
                Some((p, _)) if p.contains(need) => {}
                _ => return Err(Errno::EFAULT),
            }
        }
        Ok(())
    }
}

impl UserMem for FakeMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        self.check(addr, buf.len(), Prot::READ)?;
        let pages = self.pages.borrow();
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let off = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let page = &pages[&(at / PAGE_SIZE)].1;
            buf[done..done + n].copy_from_slice(&page[off..off + n]);
            done += n;
        }
        Ok(())
    }

    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Errno> {
        self.check(addr, buf.len(), Prot::WRITE)?;
        let mut pages = self.pages.borrow_mut();
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let off = (at % PAGE_SIZE) as usize;
            let n = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let page = &mut pages.get_mut(&(at / PAGE_SIZE)).expect("checked").1;
            page[off..off + n].copy_from_slice(&buf[done..done + n]);
            done += n;
        }
        Ok(())
    }
}
