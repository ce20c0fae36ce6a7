//! Following files and directories: new events appended to a watched file,
//! or new files dropped into a watched directory, are ingested as they
//! arrive (`suture ingest --follow`, and `ingest.follow` in the config,
//! which the console tails while it runs).
//!
//! Polling, not inotify: it works the same on every filesystem (network
//! mounts included) and a poll of an unchanged file is one `stat`. Each
//! [`Follower::poll`] reads what was appended since the last one; a partial
//! last line waits for its newline. A file that shrinks or is replaced
//! (log rotation: a new inode) is read again from the start; events already
//! stored are recognised by id and skipped. Line formats (Sentry, OTLP and
//! Suture JSON lines) are followed line by line; a document (a JSON array,
//! one Sentry event, one OTLP request) is ingested whole once its size has
//! stayed the same for one poll, and again if it changes.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::ingest::{IngestError, Ingestor, MAX_LINE, ingest_line, ingest_path, line_handler};
use crate::signals::Rejection;
use crate::signals::detect::{self, Format};
use crate::signals::redact::Redactor;

/// Most bytes read from one file in one poll, so a huge append cannot hold
/// up the others (the rest is read by the next polls).
const READ_PER_POLL: u64 = 32 << 20;

#[derive(Debug, Default)]
struct FileState {
    path: PathBuf,
    offset: u64,
    inode: u64,
    lineno: u64,
    pending: Vec<u8>,
    /// The rest of an over-long line is being skipped.
    skipping: bool,
    format: Option<Format>,
    /// A document's size at the last poll, and the size last ingested.
    seen_len: Option<u64>,
    done_len: Option<u64>,
}

#[derive(Debug)]
enum Source {
    File(FileState),
    Dir { path: PathBuf, files: Vec<FileState> },
}

pub struct Follower<'r> {
    redactor: &'r Redactor,
    sources: Vec<Source>,
}

impl<'r> Follower<'r> {
    /// Follows `paths`: each a file (which may not exist yet) or a directory
    /// (whose regular files, not starting with `.`, are followed).
    pub fn new(paths: &[PathBuf], redactor: &'r Redactor) -> Follower<'r> {
        let sources = paths
            .iter()
            .map(|p| {
                if p.is_dir() {
                    Source::Dir { path: p.clone(), files: Vec::new() }
                } else {
                    Source::File(FileState { path: p.clone(), ..Default::default() })
                }
            })
            .collect();
        Follower { redactor, sources }
    }

    /// Reads what arrived since the last poll. Returns the bytes read.
    pub fn poll(&mut self, ing: &mut Ingestor<'_>) -> Result<u64, IngestError> {
        let mut read = 0;
        for source in &mut self.sources {
            match source {
                Source::File(f) => read += poll_file(f, self.redactor, ing)?,
                Source::Dir { path, files } => {
                    let mut names: Vec<PathBuf> = match std::fs::read_dir(&*path) {
                        Ok(entries) => entries
                            .filter_map(|e| e.ok())
                            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                            .map(|e| e.path())
                            .collect(),
                        Err(source) => return Err(IngestError::Io { path: path.display().to_string(), source }),
                    };
                    names.sort();
                    for name in names {
                        if !files.iter().any(|f| f.path == name) {
                            files.push(FileState { path: name, ..Default::default() });
                        }
                    }
                    for f in files.iter_mut() {
                        read += poll_file(f, self.redactor, ing)?;
                    }
                }
            }
        }
        Ok(read)
    }
}

fn poll_file(f: &mut FileState, redactor: &Redactor, ing: &mut Ingestor<'_>) -> Result<u64, IngestError> {
    let shown = f.path.display().to_string();
    let io = |source| IngestError::Io { path: shown.clone(), source };
    let meta = match std::fs::metadata(&f.path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(e)),
    };
    let len = meta.len();
    if meta.ino() != f.inode || len < f.offset {
        // New file, or rotated or truncated: start again from the top.
        *f = FileState { path: f.path.clone(), inode: meta.ino(), ..Default::default() };
    }
    if f.format.is_none() {
        if len == 0 {
            return Ok(0);
        }
        let mut head = Vec::new();
        std::fs::File::open(&f.path).map_err(io)?.take(64 << 10).read_to_end(&mut head).map_err(io)?;
        let format = detect::sniff(&head);
        let complete_line = head.contains(&b'\n');
        if line_handler(format, redactor).is_some() && !complete_line && f.seen_len != Some(len) {
            // The first line is still being written: decide when it is whole.
            f.seen_len = Some(len);
            return Ok(0);
        }
        f.format = Some(format);
    }
    let format = f.format.unwrap_or(Format::Unknown);
    let Some(mut handler) = line_handler(format, redactor) else {
        // A document: ingest it whole once it stops changing.
        if f.done_len == Some(len) {
            return Ok(0);
        }
        if f.seen_len != Some(len) {
            f.seen_len = Some(len);
            return Ok(0);
        }
        f.done_len = Some(len);
        f.offset = len;
        return match ingest_path(&f.path, redactor, ing, |_| {}) {
            Ok(_) => Ok(len),
            Err(IngestError::Format { path, reason }) => {
                ing.reject(Rejection { location: path, reason });
                Ok(0)
            }
            Err(e) => Err(e),
        };
    };
    if len == f.offset {
        return Ok(0);
    }
    let mut file = std::fs::File::open(&f.path).map_err(io)?;
    file.seek(SeekFrom::Start(f.offset)).map_err(io)?;
    let mut chunk = Vec::new();
    let n = file.take(READ_PER_POLL).read_to_end(&mut chunk).map_err(io)? as u64;
    f.offset += n;
    let mut rest = &chunk[..];
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let (line, tail) = rest.split_at(i + 1);
        rest = tail;
        if f.skipping {
            f.skipping = false;
            f.pending.clear();
            continue;
        }
        f.lineno += 1;
        let lineno = f.lineno;
        let path = f.path.display().to_string();
        if f.pending.is_empty() {
            ingest_line(ing, line, line.len(), &|| format!("{path}:{lineno}"), &mut *handler)?;
        } else {
            f.pending.extend_from_slice(line);
            let whole = std::mem::take(&mut f.pending);
            ingest_line(ing, &whole, whole.len(), &|| format!("{path}:{lineno}"), &mut *handler)?;
        }
    }
    if !f.skipping {
        f.pending.extend_from_slice(rest);
        if f.pending.len() > MAX_LINE {
            f.lineno += 1;
            ing.reject(Rejection {
                location: format!("{}:{}", f.path.display(), f.lineno),
                reason: format!("line longer than {} MiB", MAX_LINE >> 20),
            });
            f.pending.clear();
            f.skipping = true;
        }
    }
    Ok(n)
}

/// Follows until `stop` says so, writing what arrives at least every
/// `every`; `tick` is called after each poll with what the ingest did so far.
pub fn run(
    paths: &[PathBuf],
    redactor: &Redactor,
    ing: &mut Ingestor<'_>,
    every: std::time::Duration,
    stop: &dyn Fn() -> bool,
    tick: &mut dyn FnMut(&crate::ingest::Report),
) -> Result<(), IngestError> {
    let mut follower = Follower::new(paths, redactor);
    while !stop() {
        follower.poll(ing)?;
        ing.flush()?;
        tick(ing.report());
        let until = std::time::Instant::now() + every;
        while std::time::Instant::now() < until && !stop() {
            std::thread::sleep(std::time::Duration::from_millis(20).min(every));
        }
    }
    Ok(())
}

/// Whether `path` is something [`Follower`] can watch (an existing
/// directory, or a file or a place for one in an existing directory).
pub fn followable(path: &Path) -> bool {
    path.is_dir() || path.is_file() || path.parent().is_some_and(|d| d.as_os_str().is_empty() || d.is_dir())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::store::Store;

    fn line(id: &str, func: &str) -> String {
        format!(
            r#"{{"event_id":"{id}","timestamp":"2026-11-20T10:00:00Z","exception":{{"values":[{{"type":"TypeError","value":"x","stacktrace":{{"frames":[{{"module":"app.a","function":"{func}","in_app":true}}]}}}}]}}}}"#
        )
    }

    #[test]
    fn appended_lines_partial_lines_and_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let r = Redactor::new([1; 32]);
        let mut store = Store::open_in_memory().unwrap();
        let mut ing = Ingestor::new(&mut store, "t", 0);
        let mut follower = Follower::new(std::slice::from_ref(&path), &r);
        assert_eq!(follower.poll(&mut ing).unwrap(), 0, "a file that does not exist yet is waited for");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "{}", line("a", "f")).unwrap();
        // Half a line: waits for its newline.
        let second = line("b", "g");
        write!(f, "{}", &second[..20]).unwrap();
        follower.poll(&mut ing).unwrap();
        ing.flush().unwrap();
        assert_eq!(ing.report().ingested, 1);
        writeln!(f, "{}", &second[20..]).unwrap();
        writeln!(f, "{{broken").unwrap();
        follower.poll(&mut ing).unwrap();
        ing.flush().unwrap();
        assert_eq!((ing.report().ingested, ing.report().rejected), (2, 1));
        assert!(ing.report().reasons[0].location.ends_with("events.jsonl:3"), "{:?}", ing.report().reasons);
        // Rotation: a new file under the same name is read from its start; known events are skipped.
        drop(f);
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, format!("{}\n{}\n", line("a", "f"), line("c", "h"))).unwrap();
        follower.poll(&mut ing).unwrap();
        ing.flush().unwrap();
        assert_eq!((ing.report().ingested, ing.report().duplicates), (3, 1));
    }

    #[test]
    fn new_files_in_a_directory_and_documents_once_stable() {
        let dir = tempfile::tempdir().unwrap();
        let r = Redactor::new([1; 32]);
        let mut store = Store::open_in_memory().unwrap();
        let mut ing = Ingestor::new(&mut store, "t", 0);
        let mut follower = Follower::new(&[dir.path().to_path_buf()], &r);
        std::fs::write(dir.path().join("a.jsonl"), format!("{}\n", line("a", "f"))).unwrap();
        std::fs::write(dir.path().join("b.json"), format!("[{}, {}]", line("b", "g"), line("c", "g"))).unwrap();
        std::fs::write(dir.path().join(".hidden"), "junk").unwrap();
        follower.poll(&mut ing).unwrap();
        ing.flush().unwrap();
        assert_eq!(ing.report().ingested, 1, "the array waits one poll to be sure it is complete");
        follower.poll(&mut ing).unwrap();
        follower.poll(&mut ing).unwrap();
        ing.flush().unwrap();
        assert_eq!((ing.report().ingested, ing.report().rejected), (3, 0));
    }
}
