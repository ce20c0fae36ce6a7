//! Running an untrusted command (a repro, a test suite, a benchmark) with
//! limits.
//!
//! What a run gets:
//! - **A scrubbed, pinned environment.** Nothing passes from Suture's own
//!   environment but the allow-listed names ([`DEFAULT_PASS`], configurable),
//!   and never a name that looks like a secret (`*TOKEN*`, `*SECRET*`,
//!   `*KEY*`, `*PASSWORD*`, `*CREDENTIAL*`), even when allow-listed. Then the
//!   pinned values ([`PINNED`]: `TZ=UTC`, `LC_ALL=C`, `PYTHONHASHSEED=0`, …)
//!   and last the spec's own `env`.
//! - **The workspace as working directory**, stdin from `/dev/null`.
//! - **Its own process group**, killed whole (SIGKILL) at the timeout and
//!   when the command ends, so nothing it started outlives the run.
//! - **rlimits**: CPU seconds, address space, processes (`RLIMIT_NPROC`,
//!   which Linux does not enforce for root; see below), file size, core
//!   dumps off.
//! - **No network** where the system allows it: a new network namespace
//!   with only its own loopback, brought up, so a test suite's local
//!   servers work while nothing outside is reachable. `unshare(CLONE_NEWNET)` needs
//!   CAP_SYS_ADMIN; without it a user namespace is tried first. When neither
//!   works (containers often forbid both) the run goes ahead with the
//!   network and its result says so ([`Network::Shared`] with the reason);
//!   it is never silent.
//! - **Processes, for root too**: where the cgroup v1 `pids` controller is
//!   mounted and writable, each run gets its own cgroup with `pids.max`, so a
//!   fork bomb stops at the limit; without it, the limit is the rlimit (not
//!   enforced for root) and the timeout.
//! - **Captured output with a cap** per stream; past it the bytes are read
//!   and dropped (so the command never blocks on a full pipe) and counted;
//!   everything read is also handed to `on_output` as it arrives, for live
//!   display.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Variables passed from Suture's environment unless the config says otherwise.
pub const DEFAULT_PASS: &[&str] = &["PATH"];

/// Values every run gets (a spec's `env` may override them).
pub const PINNED: &[(&str, &str)] = &[
    ("TZ", "UTC"),
    ("LC_ALL", "C"),
    ("LANG", "C"),
    ("PYTHONHASHSEED", "0"),
    ("PYTHONDONTWRITEBYTECODE", "1"),
    ("SOURCE_DATE_EPOCH", "0"),
    ("NO_COLOR", "1"),
];

/// Whether a variable name looks like it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    ["TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE", "SESSION"].iter().any(|s| up.contains(s))
}

#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub timeout: Duration,
    pub cpu_secs: u64,
    pub memory_bytes: u64,
    pub processes: u64,
    pub file_bytes: u64,
    /// Bytes kept per stream.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(60),
            cpu_secs: 120,
            memory_bytes: 2 << 30,
            processes: 256,
            file_bytes: 1 << 30,
            output_bytes: 1 << 20,
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// The spec's own variables (over the pinned ones).
    pub env: BTreeMap<String, String>,
    /// Names passed from Suture's environment (secret-looking ones never are).
    pub pass: Vec<String>,
    pub limits: Limits,
    /// Leave the network reachable (a benchmark that needs it, say).
    pub network: bool,
}

impl Spec {
    pub fn new(argv: Vec<String>, cwd: impl Into<PathBuf>) -> Spec {
        Spec {
            argv,
            cwd: cwd.into(),
            env: BTreeMap::new(),
            pass: DEFAULT_PASS.iter().map(|s| s.to_string()).collect(),
            limits: Limits::default(),
            network: false,
        }
    }

    /// The environment the command gets.
    pub fn environment(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for name in self.pass.iter().filter(|n| !secret_name(n)) {
            if let Ok(v) = std::env::var(name) {
                env.insert(name.clone(), v);
            }
        }
        for (k, v) in PINNED {
            env.insert(k.to_string(), v.to_string());
        }
        env.extend(self.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the run was cut off from the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum Network {
    /// A new network namespace: no interface but a down loopback.
    Isolated,
    /// Asked for (`Spec::network`).
    Allowed,
    /// Isolation was asked for but the system refused it: why.
    Shared(String),
}

/// How a run ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// The command could not be started: why.
    pub start_error: Option<String>,
    pub duration: Duration,
    #[serde(skip)]
    pub stdout: Vec<u8>,
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// Bytes read past the cap and dropped, per stream.
    pub dropped: [u64; 2],
    pub network: Network,
    /// How processes were limited: `"cgroup pids.max=N"` or `"rlimit"`.
    pub process_limit: String,
}

impl Outcome {
    /// A run that has not started (yet, or at all: `why`).
    pub fn not_started(why: Option<String>) -> Outcome {
        Outcome {
            exit_code: None,
            signal: None,
            timed_out: false,
            start_error: why,
            duration: Duration::ZERO,
            stdout: Vec::new(),
            stderr: Vec::new(),
            dropped: [0, 0],
            network: Network::Allowed,
            process_limit: "rlimit".into(),
        }
    }

    /// Whether the command ran and exited by itself (with any code): it was
    /// not refused at the start, timed out or killed by a signal.
    pub fn exited(&self) -> bool {
        self.start_error.is_none() && !self.timed_out && self.signal.is_none()
    }

    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// One line for a person: exit code, signal, timeout or start failure.
    pub fn status(&self) -> String {
        if let Some(e) = &self.start_error {
            return format!("could not start: {e}");
        }
        let mut s = if self.timed_out {
            format!("timed out: killed at the timeout after {:.1} s", self.duration.as_secs_f64())
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig} ({})", signal_name(sig))
        } else {
            format!("exit {}", self.exit_code.unwrap_or(-1))
        };
        for (name, n) in ["stdout", "stderr"].iter().zip(self.dropped) {
            if n > 0 {
                s.push_str(&format!("; {name} truncated, {n} bytes dropped"));
            }
        }
        s
    }

    /// Output as text for display: lossy UTF-8, with a truncation marker.
    pub fn text(&self, stream: Stream) -> String {
        let (bytes, dropped) = match stream {
            Stream::Stdout => (&self.stdout, self.dropped[0]),
            Stream::Stderr => (&self.stderr, self.dropped[1]),
        };
        let mut s = String::from_utf8_lossy(bytes).into_owned();
        if dropped > 0 {
            s.push_str(&format!("\n[… {dropped} more bytes not kept]\n"));
        }
        s
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGXCPU => "SIGXCPU: CPU time limit",
        libc::SIGXFSZ => "SIGXFSZ: file size limit",
        libc::SIGBUS => "SIGBUS",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGINT => "SIGINT",
        _ => "signal",
    }
}

/// A cgroup (v1 `pids`) of one run, removed on drop.
struct PidsCgroup {
    dir: PathBuf,
    procs: CString,
}

impl PidsCgroup {
    const ROOT: &'static str = "/sys/fs/cgroup/pids";

    fn create(max: u64) -> Option<PidsCgroup> {
        let root = Path::new(Self::ROOT);
        if !root.join("cgroup.procs").exists() {
            return None;
        }
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("suture-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let dir = root.join(name);
        std::fs::create_dir(&dir).ok()?;
        let cg = PidsCgroup { procs: CString::new(dir.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok()?, dir };
        std::fs::write(cg.dir.join("pids.max"), max.to_string()).ok()?;
        Some(cg)
    }

    fn kill_all(&self) {
        if let Ok(text) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in text.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill(2) with a pid read from our own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        for _ in 0..50 {
            self.kill_all();
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Runs `spec`, handing output to `on_output` as it arrives.
/// Brings up `lo` in the child's new network namespace (what `ip link set
/// lo up` does). Called between fork and exec: only socket, ioctl and close.
unsafe fn loopback_up() {
    // SAFETY: plain syscalls on a zeroed, properly sized `ifreq`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            req.ifr_name[i] = *b as libc::c_char;
        }
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        libc::close(fd);
    }
}

pub fn run(spec: &Spec, on_output: &mut dyn FnMut(Stream, &[u8])) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome::not_started(None);
    outcome.network = if spec.network { Network::Allowed } else { Network::Isolated };
    let Some(program) = spec.argv.first() else {
        return Outcome::not_started(Some("the command is empty".into()));
    };
    if !spec.cwd.is_dir() {
        return Outcome::not_started(Some(format!("working directory {} does not exist", spec.cwd.display())));
    }
    let cgroup = PidsCgroup::create(spec.limits.processes);
    if cgroup.is_some() {
        outcome.process_limit = format!("cgroup pids.max={}", spec.limits.processes);
    }
    // Set up before fork: the child may only make async-signal-safe calls.
    let procs_path = cgroup.as_ref().map(|c| c.procs.clone());
    let limits = spec.limits.clone();
    let isolate = !spec.network;
    let uid = unsafe { libc::getuid() };
    let gid = unsafe { libc::getgid() };
    let uid_map = CString::new(format!("{uid} {uid} 1")).expect("no NUL in digits");
    let gid_map = CString::new(format!("{gid} {gid} 1")).expect("no NUL in digits");
    // The child reports how isolation went through this pipe's exit: a byte.
    let mut net_pipe = [0i32; 2];
    // SAFETY: pipe2 fills two fds.
    let have_pipe = unsafe { libc::pipe2(net_pipe.as_mut_ptr(), libc::O_CLOEXEC) } == 0;

    let mut cmd = Command::new(program);
    cmd.args(&spec.argv[1..])
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.environment())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let write_fd = net_pipe[1];
    // SAFETY: the closure makes only async-signal-safe calls (setpgid,
    // setrlimit, open/write/close, unshare) on data prepared before fork.
    unsafe {
        cmd.pre_exec(move || {
            libc::setpgid(0, 0);
            if let Some(p) = &procs_path {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"0".as_ptr().cast(), 1);
                    libc::close(fd);
                }
            }
            let set = |res, v: u64| {
                let l = libc::rlimit { rlim_cur: v as libc::rlim_t, rlim_max: v as libc::rlim_t };
                libc::setrlimit(res, &l);
            };
            set(libc::RLIMIT_CPU, limits.cpu_secs);
            set(libc::RLIMIT_AS, limits.memory_bytes);
            set(libc::RLIMIT_NPROC, limits.processes);
            set(libc::RLIMIT_FSIZE, limits.file_bytes);
            set(libc::RLIMIT_CORE, 0);
            if isolate {
                let mut how: u8 = b'n';
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    how = b'u';
                    if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET) == 0 {
                        write_file(c"/proc/self/setgroups", b"deny");
                        write_file(c"/proc/self/uid_map", uid_map.as_bytes());
                        write_file(c"/proc/self/gid_map", gid_map.as_bytes());
                    } else {
                        how = b'x';
                    }
                }
                if how != b'x' {
                    loopback_up();
                }
                if write_fd >= 0 {
                    libc::write(write_fd, (&how as *const u8).cast(), 1);
                }
            }
            Ok(())
        });
    }
    let child = cmd.spawn();
    if have_pipe {
        // SAFETY: our end of the pipe; the child has its own copy.
        unsafe { libc::close(net_pipe[1]) };
    }
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            if have_pipe {
                unsafe { libc::close(net_pipe[0]) };
            }
            outcome.start_error = Some(match e.kind() {
                std::io::ErrorKind::NotFound => format!("{program}: command not found"),
                std::io::ErrorKind::PermissionDenied => format!("{program}: permission denied"),
                _ => format!("{program}: {e}"),
            });
            outcome.duration = started.elapsed();
            return outcome;
        }
    };
    if have_pipe {
        let mut how = [0u8; 1];
        // SAFETY: reading one byte from our end; the write end closed at exec.
        let n = unsafe { libc::read(net_pipe[0], how.as_mut_ptr().cast(), 1) };
        unsafe { libc::close(net_pipe[0]) };
        if isolate {
            outcome.network = match (n, how[0]) {
                (1, b'n' | b'u') => Network::Isolated,
                (1, _) => Network::Shared("the system allows no new network namespace (unshare refused)".into()),
                _ => Network::Shared("could not learn whether the network was isolated".into()),
            };
        }
    }
    let pgid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<(Stream, Vec<u8>)>();
    let mut readers = Vec::new();
    for (stream, pipe) in [
        (Stream::Stdout, child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
        (Stream::Stderr, child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>)),
    ] {
        let Some(mut pipe) = pipe else { continue };
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 << 10];
            loop {
                match pipe.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send((stream, buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }));
    }
    drop(tx);
    let deadline = started + spec.limits.timeout;
    let cap = spec.limits.output_bytes;
    let mut keep = |outcome: &mut Outcome, stream: Stream, bytes: &[u8]| {
        on_output(stream, bytes);
        let (buf, dropped) = match stream {
            Stream::Stdout => (&mut outcome.stdout, &mut outcome.dropped[0]),
            Stream::Stderr => (&mut outcome.stderr, &mut outcome.dropped[1]),
        };
        let room = cap.saturating_sub(buf.len()).min(bytes.len());
        buf.extend_from_slice(&bytes[..room]);
        *dropped += (bytes.len() - room) as u64;
    };
    let mut status = None;
    let mut open = true;
    while status.is_none() || open {
        let now = Instant::now();
        if status.is_none() && now >= deadline {
            outcome.timed_out = true;
            kill_group(pgid, cgroup.as_ref());
        }
        match rx.recv_timeout(Duration::from_millis(20).min(deadline.saturating_duration_since(now).max(Duration::from_millis(1)))) {
            Ok((stream, bytes)) => keep(&mut outcome, stream, &bytes),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
        }
        if status.is_none() {
            match child.try_wait() {
                Ok(Some(s)) => {
                    status = Some(s);
                    // Whatever it left running goes with it (and lets the pipes close).
                    kill_group(pgid, cgroup.as_ref());
                }
                Ok(None) => {}
                Err(_) => {
                    kill_group(pgid, cgroup.as_ref());
                    status = child.wait().ok();
                }
            }
        }
    }
    for r in readers {
        let _ = r.join();
    }
    if let Some(s) = status {
        outcome.exit_code = s.code();
        outcome.signal = s.signal();
    }
    outcome.duration = started.elapsed();
    drop(cgroup);
    outcome
}

fn kill_group(pgid: i32, cgroup: Option<&PidsCgroup>) {
    // SAFETY: killpg(2) on the group the child leads.
    unsafe { libc::killpg(pgid, libc::SIGKILL) };
    if let Some(c) = cgroup {
        c.kill_all();
    }
}

/// Writes `bytes` to `path` with raw syscalls (safe between fork and exec).
unsafe fn write_file(path: &std::ffi::CStr, bytes: &[u8]) {
    // SAFETY: open/write/close on a NUL-terminated path and a live slice.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
        if fd >= 0 {
            libc::write(fd, bytes.as_ptr().cast(), bytes.len());
            libc::close(fd);
        }
    }
}

#[cfg(test)]
mod tests;
