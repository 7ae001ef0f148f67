//! The simulated xenstored's database: a path tree of values (`docs/misc/xenstore.txt`).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use skiff_xen::xs_wire::XENSTORE_ABS_PATH_MAX;

use crate::XsError;

/// One change to the tree, for firing watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// The node at this path was created or its value set.
    Written(String),
    /// The node at this path and everything below it was removed.
    Removed(String),
}

/// Whether `child` is `parent` or below it (xenstore.txt "child and parent").
pub fn is_child(child: &str, parent: &str) -> bool {
    parent == "/"
        || child == parent
        || (child.len() > parent.len()
            && child.starts_with(parent)
            && child.as_bytes()[parent.len()] == b'/')
}

/// Checks an absolute path: starts with `/`, only `[A-Za-z0-9-/_@]`, no
/// doubled or trailing slash, at most `XENSTORE_ABS_PATH_MAX` bytes.
pub fn check_abs_path(path: &str) -> Result<(), XsError> {
    let ok = path.starts_with('/')
        && path.len() <= XENSTORE_ABS_PATH_MAX
        && path.bytes().all(|c| c.is_ascii_alphanumeric() || b"-/_@".contains(&c))
        && !path.contains("//")
        && (path == "/" || !path.ends_with('/'));
    if ok { Ok(()) } else { Err(XsError::Inval) }
}

fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) if path.len() > 1 => Some("/"),
        Some(0) | None => None,
        Some(i) => Some(&path[..i]),
    }
}

/// The tree: absolute path → value. Every existing node's parents exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    nodes: BTreeMap<String, Vec<u8>>,
}

impl Default for Tree {
    fn default() -> Self {
        let mut nodes = BTreeMap::new();
        nodes.insert(String::from("/"), Vec::new());
        Tree { nodes }
    }
}

impl Tree {
    /// Whether `path` exists.
    pub fn exists(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// The value at `path`.
    pub fn read(&self, path: &str) -> Result<&[u8], XsError> {
        self.nodes.get(path).map(Vec::as_slice).ok_or(XsError::NoEnt)
    }

    /// Sets `path` to `value`, creating missing parents with empty values.
    pub fn write(&mut self, path: &str, value: &[u8], changes: &mut Vec<Change>) {
        self.create_parents(path, changes);
        self.nodes.insert(String::from(path), value.to_vec());
        changes.push(Change::Written(String::from(path)));
    }

    /// Creates `path` and missing parents; existing values are kept.
    pub fn mkdir(&mut self, path: &str, changes: &mut Vec<Change>) {
        if !self.exists(path) {
            self.create_parents(path, changes);
            self.nodes.insert(String::from(path), Vec::new());
            changes.push(Change::Written(String::from(path)));
        }
    }

    fn create_parents(&mut self, path: &str, changes: &mut Vec<Change>) {
        if let Some(p) = parent(path)
            && !self.exists(p)
        {
            self.mkdir(p, changes);
        }
    }

    /// Removes `path` and its subtree. Not an error if `path` is missing,
    /// but `ENOENT` if its parent is missing too; the root cannot go.
    pub fn rm(&mut self, path: &str, changes: &mut Vec<Change>) -> Result<(), XsError> {
        if path == "/" {
            return Err(XsError::Inval);
        }
        if !self.exists(path) {
            return match parent(path) {
                Some(p) if self.exists(p) => Ok(()),
                _ => Err(XsError::NoEnt),
            };
        }
        self.nodes.retain(|k, _| !is_child(k, path));
        changes.push(Change::Removed(String::from(path)));
        Ok(())
    }

    /// Names of the immediate children of `path`, in sorted order.
    pub fn directory(&self, path: &str) -> Result<Vec<&str>, XsError> {
        if !self.exists(path) {
            return Err(XsError::NoEnt);
        }
        let prefix_len = if path == "/" { 1 } else { path.len() + 1 };
        Ok(self
            .nodes
            .keys()
            .filter(|k| k.len() > prefix_len && is_child(k, path) && k.as_str() != path)
            .map(|k| &k[prefix_len..])
            .filter(|rest| !rest.contains('/'))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert!(is_child("/a/b", "/a"));
        assert!(is_child("/a", "/a"));
        assert!(is_child("/a", "/"));
        assert!(!is_child("/ab", "/a"));
        assert!(!is_child("/a", "/a/b"));
        assert!(check_abs_path("/local/domain/7/device-x_1@").is_ok());
        for bad in ["", "a", "/a/", "/a//b", "/a b", "/a\0"] {
            assert_eq!(check_abs_path(bad), Err(XsError::Inval), "{bad:?}");
        }
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
    }

    #[test]
    fn tree_operations() {
        let mut t = Tree::default();
        let mut ch = Vec::new();
        t.write("/a/b/c", b"v", &mut ch);
        assert_eq!(ch.len(), 3);
        assert_eq!(t.read("/a/b"), Ok(&b""[..]));
        assert_eq!(t.read("/a/b/c"), Ok(&b"v"[..]));
        t.mkdir("/a/b", &mut ch);
        t.write("/a/x", b"", &mut ch);
        assert_eq!(t.directory("/a"), Ok(alloc::vec!["b", "x"]));
        assert_eq!(t.directory("/"), Ok(alloc::vec!["a"]));
        assert_eq!(t.rm("/a/b", &mut ch), Ok(()));
        assert!(!t.exists("/a/b/c"));
        assert_eq!(t.rm("/a/b", &mut ch), Ok(()));
        assert_eq!(t.rm("/a/b/c", &mut ch), Err(XsError::NoEnt));
        assert_eq!(t.directory("/zz"), Err(XsError::NoEnt));
        assert_eq!(t.rm("/", &mut ch), Err(XsError::Inval));
    }
}
