//! The target service's source tree: finding a stack frame's file in it and
//! reading the lines around the frame, without ever reading outside it.
//!
//! A frame names its file twice: `filename` (usually relative, `app/pricing.py`)
//! and `abs_path` (where the running service had it, `/srv/shop/app/pricing.py`).
//! Candidates are tried in that order: `filename` relative to the root, then
//! `abs_path` with each configured `strip_prefixes` entry removed. Both come
//! from events, so from outside; the rules that keep them in the tree:
//!
//! - a candidate that is absolute, or has a `..`, a root or a drive component,
//!   is refused before the file system is touched (`Path::join` with an
//!   absolute path would otherwise replace the root);
//! - the joined path is canonicalized (following symlinks) and must still lie
//!   under the canonical root, so a symlink inside the tree that points out
//!   of it is refused too;
//! - only regular files of at most [`MAX_FILE_BYTES`] that are valid UTF-8 are
//!   read, and the read itself stops one byte past the limit, so a file that
//!   grows between the check and the read is still refused.
//!
//! It never writes, and never reads a path it has not checked.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::model::StackFrame;

/// Files larger than this are not shown (1 MiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Why a frame's file is not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No source root is configured.
    NoRoot,
    /// The frame names no file.
    NoPath,
    /// No candidate exists under the root.
    NotFound(String),
    /// A candidate would leave the root (`..`, an absolute path, a symlink out).
    OutsideRoot(String),
    TooLarge(String, u64),
    NotUtf8(String),
    NotAFile(String),
    Unreadable(String, String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoRoot => f.write_str("no source root is configured (source.root)"),
            Refusal::NoPath => f.write_str("the frame names no file"),
            Refusal::NotFound(p) => write!(f, "{p} is not in the source tree"),
            Refusal::OutsideRoot(p) => write!(f, "{p} is outside the source root; not read"),
            Refusal::TooLarge(p, n) => write!(f, "{p} is {} KiB, over the 1 MiB limit", n / 1024),
            Refusal::NotUtf8(p) => write!(f, "{p} is not UTF-8 text"),
            Refusal::NotAFile(p) => write!(f, "{p} is not a regular file"),
            Refusal::Unreadable(p, e) => write!(f, "{p}: {e}"),
        }
    }
}

/// A found file: where it is and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Relative to the root, with `/` separators, for display.
    pub rel: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceTree {
    root: PathBuf,
    strip_prefixes: Vec<String>,
}

impl SourceTree {
    /// A tree at `root` (which must exist; it is canonicalized once here).
    pub fn new(root: &Path, strip_prefixes: Vec<String>) -> std::io::Result<SourceTree> {
        let root = root.canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::new(std::io::ErrorKind::NotADirectory, format!("{} is not a directory", root.display())));
        }
        Ok(SourceTree { root, strip_prefixes })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The relative paths a frame's file may have under the root, in the
    /// order they are tried (unchecked: [`SourceTree::resolve`] checks them).
    pub fn candidates(&self, frame: &StackFrame) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(f) = frame.filename.as_deref().filter(|f| !f.is_empty()) {
            out.push(f.to_string());
        }
        if let Some(abs) = frame.abs_path.as_deref() {
            for prefix in &self.strip_prefixes {
                if let Some(rest) = abs.strip_prefix(prefix.as_str())
                    && !rest.is_empty()
                {
                    out.push(rest.to_string());
                }
            }
        }
        out.dedup();
        out
    }

    /// The checked, canonical path of a frame's file and its display name.
    pub fn resolve(&self, frame: &StackFrame) -> Result<(PathBuf, String), Refusal> {
        let candidates = self.candidates(frame);
        if candidates.is_empty() {
            return match frame.abs_path.as_deref().or(frame.filename.as_deref()) {
                Some(p) if !p.is_empty() => Err(Refusal::OutsideRoot(p.to_string())),
                _ => Err(Refusal::NoPath),
            };
        }
        let mut refusal: Option<Refusal> = None;
        for rel in &candidates {
            match self.check(rel) {
                Ok(path) => return Ok((path, rel.clone())),
                // An escape attempt is worth reporting over a plain miss.
                Err(r @ (Refusal::OutsideRoot(_) | Refusal::NotAFile(_))) => refusal = Some(r),
                Err(r) => {
                    refusal.get_or_insert(r);
                }
            }
        }
        Err(refusal.unwrap_or_else(|| Refusal::NotFound(candidates[0].clone())))
    }

    fn check(&self, rel: &str) -> Result<PathBuf, Refusal> {
        let p = Path::new(rel);
        if !p.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
            return Err(Refusal::OutsideRoot(rel.to_string()));
        }
        let joined = self.root.join(p);
        let canonical = match joined.canonicalize() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Refusal::NotFound(rel.to_string())),
            Err(e) => return Err(Refusal::Unreadable(rel.to_string(), e.to_string())),
        };
        if !canonical.starts_with(&self.root) {
            return Err(Refusal::OutsideRoot(rel.to_string()));
        }
        if !canonical.is_file() {
            return Err(Refusal::NotAFile(rel.to_string()));
        }
        Ok(canonical)
    }

    /// Reads a frame's file if it resolves, is at most 1 MiB and is UTF-8.
    pub fn read(&self, frame: &StackFrame) -> Result<SourceFile, Refusal> {
        let (path, rel) = self.resolve(frame)?;
        let unreadable = |e: std::io::Error| Refusal::Unreadable(rel.clone(), e.to_string());
        let file = std::fs::File::open(&path).map_err(unreadable)?;
        let len = file.metadata().map_err(unreadable)?.len();
        if len > MAX_FILE_BYTES {
            return Err(Refusal::TooLarge(rel, len));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(unreadable)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(Refusal::TooLarge(rel, bytes.len() as u64));
        }
        let text = String::from_utf8(bytes).map_err(|_| Refusal::NotUtf8(rel.clone()))?;
        Ok(SourceFile { rel: rel.replace('\\', "/"), text })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(filename: Option<&str>, abs: Option<&str>) -> StackFrame {
        StackFrame { filename: filename.map(Into::into), abs_path: abs.map(Into::into), ..Default::default() }
    }

    /// `outside/secret.py` beside `root/`, and `root/app/pricing.py`.
    fn tree() -> (tempfile::TempDir, SourceTree) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("root/app")).unwrap();
        std::fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("root/app/pricing.py"), "def quote():\n    pass\n").unwrap();
        std::fs::write(dir.path().join("outside/secret.py"), "SECRET = 1\n").unwrap();
        let t = SourceTree::new(&dir.path().join("root"), vec!["/srv/shop/".into()]).unwrap();
        (dir, t)
    }

    #[test]
    fn finds_a_file_by_filename_or_by_stripped_abs_path() {
        let (_d, t) = tree();
        let f = t.read(&frame(Some("app/pricing.py"), None)).unwrap();
        assert_eq!(f.rel, "app/pricing.py");
        assert!(f.text.starts_with("def quote"));
        let f = t.read(&frame(Some("pricing.py"), Some("/srv/shop/app/pricing.py"))).unwrap();
        assert_eq!(f.rel, "app/pricing.py", "filename missed, the stripped abs_path found it");
        assert_eq!(t.read(&frame(Some("app/nope.py"), None)), Err(Refusal::NotFound("app/nope.py".into())));
        assert_eq!(t.read(&frame(None, None)), Err(Refusal::NoPath));
    }

    #[test]
    fn refuses_parent_components_and_absolute_paths() {
        let (_d, t) = tree();
        for evil in ["../outside/secret.py", "app/../../outside/secret.py", "./../outside/secret.py"] {
            assert!(matches!(t.read(&frame(Some(evil), None)), Err(Refusal::OutsideRoot(_))), "{evil}");
        }
        let outside = t.root().parent().unwrap().join("outside/secret.py");
        let abs = outside.to_str().unwrap();
        assert!(matches!(t.read(&frame(Some(abs), None)), Err(Refusal::OutsideRoot(_))), "an absolute filename");
        assert!(matches!(t.read(&frame(None, Some(abs))), Err(Refusal::OutsideRoot(_))), "an abs_path under no prefix");
        assert!(matches!(t.read(&frame(None, Some("/srv/shop/../../etc/passwd"))), Err(Refusal::OutsideRoot(_))));
        assert!(matches!(t.read(&frame(None, Some("/srv/shop//etc/passwd"))), Err(Refusal::OutsideRoot(_))));
    }

    #[test]
    fn refuses_a_symlink_that_points_out_of_the_root() {
        let (d, t) = tree();
        std::os::unix::fs::symlink(d.path().join("outside/secret.py"), d.path().join("root/app/link.py")).unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), d.path().join("root/out")).unwrap();
        assert_eq!(t.read(&frame(Some("app/link.py"), None)), Err(Refusal::OutsideRoot("app/link.py".into())));
        assert_eq!(t.read(&frame(Some("out/secret.py"), None)), Err(Refusal::OutsideRoot("out/secret.py".into())));
        // A symlink that stays inside is fine.
        std::os::unix::fs::symlink(d.path().join("root/app/pricing.py"), d.path().join("root/alias.py")).unwrap();
        assert!(t.read(&frame(Some("alias.py"), None)).is_ok());
    }

    #[test]
    fn refuses_large_non_utf8_and_non_files() {
        let (d, t) = tree();
        std::fs::write(d.path().join("root/big.py"), vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        std::fs::write(d.path().join("root/bin.py"), [0x66, 0xff, 0xfe, 0x0a]).unwrap();
        std::fs::write(d.path().join("root/edge.py"), vec![b'#'; MAX_FILE_BYTES as usize]).unwrap();
        assert!(matches!(t.read(&frame(Some("big.py"), None)), Err(Refusal::TooLarge(_, _))));
        assert_eq!(t.read(&frame(Some("bin.py"), None)), Err(Refusal::NotUtf8("bin.py".into())));
        assert!(t.read(&frame(Some("edge.py"), None)).is_ok(), "exactly 1 MiB is allowed");
        assert_eq!(t.read(&frame(Some("app"), None)), Err(Refusal::NotAFile("app".into())));
    }
}
