//! One `suture serve` per store: it holds an exclusive lock on
//! `<store>.serve.lock` (with its pid inside) for as long as it runs, so two
//! controllers never drive the same rollouts, and the console can tell
//! whether one is running before it starts one for the demo.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file of the store at `store`.
pub fn lock_path(store: &Path) -> PathBuf {
    let mut name = store.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".serve.lock");
    store.with_file_name(name)
}

/// Held while a serve runs; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

/// Takes the lock, or says which process holds it.
pub fn acquire(store: &Path) -> Result<ServeLock, String> {
    let path = lock_path(store);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        let pid = pid.trim();
        return Err(format!(
            "another suture serve already runs for {} ({}); one serve drives a store's rollouts",
            store.display(),
            if pid.is_empty() { "pid unknown".to_string() } else { format!("pid {pid}") }
        ));
    }
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "{}", std::process::id());
    let _ = file.flush();
    Ok(ServeLock { _file: file })
}

/// Whether a serve holds the store's lock now.
pub fn running(store: &Path) -> bool {
    let Ok(file) = File::open(lock_path(store)) else { return false };
    // SAFETY: as above; a shared lock is taken and dropped at once.
    let free = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if free {
        // SAFETY: releases the lock just taken.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
    }
    !free
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_serve_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("demo.db");
        assert!(!running(&store));
        let held = acquire(&store).unwrap();
        assert!(running(&store));
        let e = acquire(&store).unwrap_err();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        assert!(!running(&store));
        assert!(lock_path(&store).ends_with("demo.db.serve.lock"));
    }
}
