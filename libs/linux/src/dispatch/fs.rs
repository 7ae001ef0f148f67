//! The read-only file set through the file calls: `openat`, `fstat`, `newfstatat`, `statx`, `lseek`, `faccessat`, `readlinkat`, `getcwd`.

use alloc::string::String;

use skiff_pvcalls::Errno;

use super::{SysResult, val, zero};
use crate::abi::{
    AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE, AT_SYMLINK_NOFOLLOW, O_ACCMODE,
    O_APPEND, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NONBLOCK, O_PATH, O_RDONLY, O_TRUNC,
    S_IFCHR, S_IFDIR, S_IFIFO, S_IFREG, S_IFSOCK, SEEK_CUR, SEEK_END, SEEK_SET, Stat, Statx,
};
use crate::file::{FileKind, OpenFile};
use crate::mem::{UserMem, UserMemExt};
use crate::process::Process;
use crate::vfs::{self, Node, PATH_MAX};

/// `W_OK` for `faccessat`.
const W_OK: u32 = 2;

impl Process {
    /// Resolves `(dirfd, path)` to a normalised absolute path. Relative
    /// paths are only resolved against the working directory `/`
    /// (`AT_FDCWD`); against another fd they are `ENOTDIR` (`EBADF` if it
    /// is not open).
    fn resolve(&self, dirfd: i32, path: &[u8]) -> Result<String, Errno> {
        if !path.starts_with(b"/") && dirfd != AT_FDCWD {
            let (_, f) = self.file(dirfd)?;
            if !matches!(f.kind, FileKind::Static { node: Node::Dir, .. }) {
                return Err(Errno::ENOTDIR);
            }
            return Err(Errno::ENOENT);
        }
        vfs::normalize(path)
    }

    pub(crate) fn sys_openat(
        &mut self,
        dirfd: i32,
        path: u64,
        flags: u32,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let raw = mem.read_cstr(path, PATH_MAX)?;
        let path = self.resolve(dirfd, &raw)?;
        let node = match vfs::lookup(&path, &self.vfs) {
            Ok(n) => n,
            Err(_) if flags & O_CREAT != 0 => return Err(Errno::EROFS),
            Err(e) => return Err(e),
        };
        if flags & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
            return Err(Errno::EEXIST);
        }
        let writes = flags & O_ACCMODE != O_RDONLY || flags & (O_TRUNC | O_CREAT) != 0;
        if writes && node != Node::Null && flags & O_PATH == 0 {
            return Err(if node == Node::Dir { Errno::EISDIR } else { Errno::EROFS });
        }
        if flags & O_DIRECTORY != 0 && node != Node::Dir {
            return Err(Errno::ENOTDIR);
        }
        let status = flags & (O_ACCMODE | O_NONBLOCK | O_APPEND | O_PATH);
        let id = self.new_file(FileKind::Static { node, pos: 0 }, status);
        self.install_new(id, flags & O_CLOEXEC != 0)
    }

    pub(crate) fn sys_fstat(&mut self, fd: i32, buf: u64, mem: &mut impl UserMem) -> SysResult {
        let (id, f) = self.file(fd)?;
        let st = stat_of(id.0, f);
        mem.write_val(buf, &st)?;
        zero()
    }

    /// The `stat` of `(dirfd, path)` with `flags` (`AT_EMPTY_PATH`: of `dirfd` itself).
    fn stat_at(
        &self,
        dirfd: i32,
        path: u64,
        flags: u32,
        mem: &impl UserMem,
    ) -> Result<Stat, Errno> {
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)
            != 0
        {
            return Err(Errno::EINVAL);
        }
        let raw = mem.read_cstr(path, PATH_MAX)?;
        if raw.is_empty() && flags & AT_EMPTY_PATH != 0 {
            let (id, f) = self.file(dirfd)?;
            return Ok(stat_of(id.0, f));
        }
        let path = self.resolve(dirfd, &raw)?;
        let node = vfs::lookup(&path, &self.vfs)?;
        // Same inode number for a path every time: from its text.
        let ino =
            path.bytes().fold(1u64 << 40, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        Ok(stat_of(ino, &OpenFile::new(FileKind::Static { node, pos: 0 }, O_RDONLY)))
    }

    pub(crate) fn sys_newfstatat(
        &mut self,
        dirfd: i32,
        path: u64,
        buf: u64,
        flags: u32,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let st = self.stat_at(dirfd, path, flags, mem)?;
        mem.write_val(buf, &st)?;
        zero()
    }

    pub(crate) fn sys_statx(
        &mut self,
        dirfd: i32,
        path: u64,
        flags: u32,
        buf: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let st = self.stat_at(dirfd, path, flags, mem)?;
        mem.write_val(buf, &Statx::from_stat(&st))?;
        zero()
    }

    pub(crate) fn sys_lseek(&mut self, fd: i32, off: i64, whence: u32) -> SysResult {
        let (_, f) = self.file_mut(fd)?;
        let FileKind::Static { node, pos } = &mut f.kind else { return Err(Errno::ESPIPE) };
        let Node::Text(t) = node else { return val(0) };
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => *pos as i64,
            SEEK_END => t.len() as i64,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(off).filter(|&p| p >= 0).ok_or(Errno::EINVAL)?;
        *pos = new as u64;
        val(new as usize)
    }

    pub(crate) fn sys_faccessat(
        &mut self,
        dirfd: i32,
        path: u64,
        mode: u32,
        mem: &mut impl UserMem,
    ) -> SysResult {
        let raw = mem.read_cstr(path, PATH_MAX)?;
        let path = self.resolve(dirfd, &raw)?;
        let node = vfs::lookup(&path, &self.vfs)?;
        if mode & W_OK != 0 && node != Node::Null {
            return Err(Errno::EROFS);
        }
        zero()
    }

    pub(crate) fn sys_readlinkat(
        &mut self,
        dirfd: i32,
        path: u64,
        buf: u64,
        size: u64,
        mem: &mut impl UserMem,
    ) -> SysResult {
        if size as i64 <= 0 {
            return Err(Errno::EINVAL);
        }
        let raw = mem.read_cstr(path, PATH_MAX)?;
        let path = self.resolve(dirfd, &raw)?;
        let target = vfs::readlink(&path, &self.vfs)?;
        let n = target.len().min(size as usize);
        mem.write(buf, &target[..n])?;
        val(n)
    }

    pub(crate) fn sys_getcwd(&mut self, buf: u64, size: u64, mem: &mut impl UserMem) -> SysResult {
        if size < 2 {
            return Err(Errno::ERANGE);
        }
        mem.write(buf, b"/\0")?;
        val(2)
    }
}

/// The `stat` of an open file; `ino` distinguishes files.
fn stat_of(ino: u64, f: &OpenFile) -> Stat {
    let (mode, size, rdev) = match &f.kind {
        FileKind::Console => (S_IFCHR | 0o620, 0, (5 << 8) | 1),
        FileKind::Socket(_) | FileKind::UnixStream { .. } => (S_IFSOCK | 0o777, 0, 0),
        FileKind::PipeRead(_) | FileKind::PipeWrite(_) => (S_IFIFO | 0o600, 0, 0),
        // Anonymous inodes: no file type, as Linux reports them.
        FileKind::EventFd(_) | FileKind::Epoll(_) => (0o600, 0, 0),
        FileKind::Static { node: Node::Text(t), .. } => (S_IFREG | 0o444, t.len() as i64, 0),
        FileKind::Static { node: Node::Dir, .. } => (S_IFDIR | 0o555, 0, 0),
        FileKind::Static { node, .. } => (S_IFCHR | 0o666, 0, node.rdev()),
    };
    Stat {
        st_dev: 0x1a,
        st_ino: ino,
        st_nlink: 1,
        st_mode: mode,
        st_rdev: rdev,
        st_size: size,
        st_blksize: 4096,
        st_blocks: (size + 511) / 512,
        ..Stat::default()
    }
}
