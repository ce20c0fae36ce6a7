//! Scratch workspaces: where repros run and patches are applied, never in
//! the user's own tree.
//!
//! - When the source is the top of a git repository, a workspace is a
//!   detached `git worktree` at the base revision (default `HEAD`): cheap,
//!   and exactly the committed code. Uncommitted changes in the user's tree
//!   are not in it, on purpose: a patch is made against a revision.
//! - Otherwise (a plain directory, or a directory inside a larger
//!   repository, like the demo service) it is a copy of the directory as it
//!   is now. `.git` is not copied; symbolic links are copied as links (never
//!   followed); other special files are skipped. The base is then named by
//!   the digest of the copied tree ([`tree_digest`]).
//!
//! Workspaces live under `<data dir>/workspaces/` and are removed when
//! dropped (a worktree is also unregistered from its repository).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum WorkspaceError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("git {args}: {message}")]
    Git { args: String, message: String },
    #[error("{0} is not a directory")]
    NotADirectory(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WorkspaceError + '_ {
    move |source| WorkspaceError::Io { path: path.display().to_string(), source }
}

#[derive(Debug)]
enum Kind {
    Worktree { repo: PathBuf },
    Copy,
}

/// A scratch copy of a source tree at a base revision.
#[derive(Debug)]
pub struct Workspace {
    root: PathBuf,
    kind: Kind,
    /// The git revision (full SHA) or `tree:<sha256>` of a copy.
    base: String,
}

impl Workspace {
    /// Makes a workspace of `source` under `under` (created if needed).
    pub fn create(source: &Path, base: Option<&str>, under: &Path) -> Result<Workspace, WorkspaceError> {
        if !source.is_dir() {
            return Err(WorkspaceError::NotADirectory(source.display().to_string()));
        }
        std::fs::create_dir_all(under).map_err(io(under))?;
        let root = unique_dir(under)?;
        if let Some(top) = git_toplevel(source) {
            let same = std::fs::canonicalize(&top).ok() == std::fs::canonicalize(source).ok();
            if same {
                let rev = git(source, &["rev-parse", "--verify", &format!("{}^{{commit}}", base.unwrap_or("HEAD"))])?;
                // `worktree add` wants to create the directory itself.
                std::fs::remove_dir(&root).map_err(io(&root))?;
                git(source, &["worktree", "add", "--detach", &root.display().to_string(), &rev])?;
                return Ok(Workspace { root, kind: Kind::Worktree { repo: source.to_path_buf() }, base: rev });
            }
        }
        // Made first, so a failed copy is removed on the way out.
        let mut ws = Workspace { root, kind: Kind::Copy, base: String::new() };
        copy_tree(source, &ws.root)?;
        ws.base = format!("tree:{}", tree_digest(&ws.root).map_err(io(&ws.root))?);
        Ok(ws)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn is_worktree(&self) -> bool {
        matches!(self.kind, Kind::Worktree { .. })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        if let Kind::Worktree { repo } = &self.kind {
            let _ = git(repo, &["worktree", "remove", "--force", &self.root.display().to_string()]);
        }
        let _ = std::fs::remove_dir_all(&self.root);
        if let Kind::Worktree { repo } = &self.kind {
            let _ = git(repo, &["worktree", "prune"]);
        }
    }
}

fn unique_dir(under: &Path) -> Result<PathBuf, WorkspaceError> {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    loop {
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = under.join(format!("ws-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(&dir)(e)),
        }
    }
}

fn git_toplevel(dir: &Path) -> Option<PathBuf> {
    git(dir, &["rev-parse", "--show-toplevel"]).ok().map(PathBuf::from)
}

fn git(dir: &Path, args: &[&str]) -> Result<String, WorkspaceError> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| WorkspaceError::Git { args: args.join(" "), message: e.to_string() })?;
    if !out.status.success() {
        return Err(WorkspaceError::Git { args: args.join(" "), message: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Copies a directory tree: files, directories and symbolic links (as
/// links); `.git` and special files are left out.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), WorkspaceError> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let name = entry.file_name();
        if name == ".git" {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let ty = entry.file_type().map_err(io(&src))?;
        if ty.is_symlink() {
            let target = std::fs::read_link(&src).map_err(io(&src))?;
            std::os::unix::fs::symlink(&target, &dst).map_err(io(&dst))?;
        } else if ty.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ty.is_file() {
            std::fs::copy(&src, &dst).map_err(io(&dst))?;
        }
    }
    Ok(())
}

/// A digest of a tree: every path (sorted), its kind, mode and contents (a
/// link's target, not what it points to). `.git` is left out. Two trees
/// with the same digest are byte-for-byte the same.
pub fn tree_digest(root: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::PermissionsExt;
    fn walk(dir: &Path, rel: &str, h: &mut Sha256) -> std::io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            if name == ".git" {
                continue;
            }
            let path = format!("{rel}/{}", name.to_string_lossy());
            let meta = std::fs::symlink_metadata(e.path())?;
            h.update(path.as_bytes());
            h.update(format!("\0{:o}\0", meta.permissions().mode()).as_bytes());
            if meta.file_type().is_symlink() {
                h.update(std::fs::read_link(e.path())?.as_os_str().as_encoded_bytes());
            } else if meta.is_dir() {
                walk(&e.path(), &path, h)?;
            } else if meta.is_file() {
                let mut f = std::fs::File::open(e.path())?;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = std::io::Read::read(&mut f, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                }
            }
            h.update(b"\n");
        }
        Ok(())
    }
    let mut h = Sha256::new();
    walk(root, "", &mut h)?;
    Ok(hex::encode(h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn a_plain_directory_is_copied_and_the_copy_removed_on_drop() {
        let src = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        write(src.path(), "app/a.py", "x = 1\n");
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("link")).unwrap();
        let before = tree_digest(src.path()).unwrap();
        let ws = Workspace::create(src.path(), None, data.path()).unwrap();
        assert!(!ws.is_worktree());
        assert_eq!(ws.base(), format!("tree:{before}"));
        assert_eq!(std::fs::read_link(ws.path().join("link")).unwrap(), Path::new("/etc/passwd"), "links stay links");
        // Work in the copy never reaches the source.
        write(ws.path(), "app/a.py", "x = 2\n");
        write(ws.path(), "new.txt", "n");
        assert_eq!(tree_digest(src.path()).unwrap(), before);
        let root = ws.path().to_path_buf();
        drop(ws);
        assert!(!root.exists());
    }

    #[test]
    fn a_git_repository_gets_a_detached_worktree_at_the_base() {
        let src = tempfile::tempdir().unwrap();
        let data = tempfile::tempdir().unwrap();
        let g = |args: &[&str]| git(src.path(), args).unwrap();
        g(&["init", "-q"]);
        write(src.path(), "a.py", "v1\n");
        g(&["add", "."]);
        g(&["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "one"]);
        let first = g(&["rev-parse", "HEAD"]);
        write(src.path(), "a.py", "v2\n");
        g(&["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qam", "two"]);
        write(src.path(), "a.py", "uncommitted\n");
        let before = tree_digest(src.path()).unwrap();

        let ws = Workspace::create(src.path(), Some(&first), data.path()).unwrap();
        assert!(ws.is_worktree());
        assert_eq!(ws.base(), first);
        assert_eq!(std::fs::read_to_string(ws.path().join("a.py")).unwrap(), "v1\n");
        write(ws.path(), "a.py", "patched\n");
        let root = ws.path().to_path_buf();
        drop(ws);
        assert!(!root.exists());
        assert_eq!(tree_digest(src.path()).unwrap(), before, "the user's tree is untouched");
        assert!(!g(&["worktree", "list"]).contains(&root.display().to_string()), "unregistered");

        let err = Workspace::create(src.path(), Some("no-such-rev"), data.path()).unwrap_err();
        assert!(err.to_string().contains("no-such-rev"), "{err}");
    }
}
