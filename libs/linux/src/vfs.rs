//! The small read-only file set: which paths exist and what they hold.
//!
//! Paths are made absolute against `/` (the only working directory) and
//! normalised (`.`, `..`, repeated `/`). Everything not listed is `ENOENT`;
//! opening a listed file for writing is `EROFS` (except the devices that
//! accept writes: `/dev/null`).

use alloc::string::String;
use alloc::vec::Vec;

use skiff_pvcalls::Errno;

/// What an open read-only file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A regular file with this content (made at open).
    Text(Vec<u8>),
    /// `/dev/null`: reads EOF, writes vanish.
    Null,
    /// `/dev/zero`: reads zeros.
    Zero,
    /// `/dev/urandom` and `/dev/random`: reads random bytes.
    Random,
    /// A directory (`/`, `/etc`, `/dev`, `/proc`, `/proc/self`); only
    /// `fstat` and `close` work on it.
    Dir,
}

impl Node {
    /// Device number of the character devices (`st_rdev`), 0 for others.
    pub fn rdev(&self) -> u64 {
        match self {
            Node::Null => (1 << 8) | 3,
            Node::Zero => (1 << 8) | 5,
            Node::Random => (1 << 8) | 9,
            _ => 0,
        }
    }
}

/// What the generated files are made from.
#[derive(Clone, Debug, Default)]
pub struct VfsContext {
    /// `/etc/hosts`.
    pub hosts: String,
    /// `/etc/resolv.conf`.
    pub resolv: String,
    /// The program's path (`/proc/self/exe` links to it).
    pub exe: String,
    /// The host name (`/etc/hostname`, as `uname` reports it).
    pub hostname: String,
}

/// Most bytes of a path (`PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// Normalises `path` (relative paths start at `/`): `ENOENT` for an empty path.
pub fn normalize(path: &[u8]) -> Result<String, Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let s = core::str::from_utf8(path).map_err(|_| Errno::ENOENT)?;
    let mut parts: Vec<&str> = Vec::new();
    for p in s.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = String::new();
    for p in &parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Looks up a normalised path.
pub fn lookup(path: &str, ctx: &VfsContext) -> Result<Node, Errno> {
    Ok(match path {
        "/" | "/etc" | "/dev" | "/proc" | "/proc/self" | "/sys" => Node::Dir,
        "/etc/hosts" => Node::Text(ctx.hosts.as_bytes().to_vec()),
        "/etc/resolv.conf" => Node::Text(ctx.resolv.as_bytes().to_vec()),
        "/etc/hostname" => Node::Text(alloc::format!("{}\n", ctx.hostname).into_bytes()),
        "/dev/null" => Node::Null,
        "/dev/zero" => Node::Zero,
        "/dev/urandom" | "/dev/random" => Node::Random,
        "/sys/devices/system/cpu/online" | "/sys/devices/system/cpu/possible" => {
            Node::Text(b"0\n".to_vec())
        }
        _ => return Err(Errno::ENOENT),
    })
}

/// `readlink`: only `/proc/self/exe` is a link (to the program's path).
pub fn readlink(path: &str, ctx: &VfsContext) -> Result<Vec<u8>, Errno> {
    match path {
        "/proc/self/exe" => Ok(ctx.exe.as_bytes().to_vec()),
        _ => match lookup(path, ctx) {
            Ok(_) => Err(Errno::EINVAL),
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(normalize(b"etc//./hosts").unwrap(), "/etc/hosts");
        assert_eq!(normalize(b"/../../etc/../dev/null").unwrap(), "/dev/null");
        assert_eq!(normalize(b"/").unwrap(), "/");
        assert_eq!(normalize(b""), Err(Errno::ENOENT));
        let ctx = VfsContext {
            hosts: "h".into(),
            resolv: "r".into(),
            exe: "/app".into(),
            hostname: "box".into(),
        };
        assert_eq!(lookup("/etc/hosts", &ctx), Ok(Node::Text(b"h".to_vec())));
        assert_eq!(lookup("/etc/passwd", &ctx), Err(Errno::ENOENT));
        assert_eq!(lookup("/etc/hostname", &ctx), Ok(Node::Text(b"box\n".to_vec())));
        assert_eq!(readlink("/proc/self/exe", &ctx).unwrap(), b"/app");
        assert_eq!(readlink("/etc/hosts", &ctx), Err(Errno::EINVAL));
        assert_eq!(readlink("/nope", &ctx), Err(Errno::ENOENT));
    }
}
