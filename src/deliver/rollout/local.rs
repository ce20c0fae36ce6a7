//! The embedded default: a local process canary.
//!
//! Two scratch workspaces are made from the source at the patch's base, and
//! the patch is applied to one. The service's command runs once in each, on
//! loopback ports, and Suture's weighted proxy (`deliver/proxy`) sits in
//! front. The processes die with the process that started them (Linux's
//! parent-death signal), so a killed `suture serve` never leaves an
//! unwatched canary running; a restarted one brings both up again from the
//! stored rollout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{BackendStatus, RolloutBackend};
use crate::config::ServiceCfg;
use crate::deliver::BoxFut;
use crate::deliver::proxy::{Proxy, Upstreams};
use crate::repro::workspace::Workspace;

/// One running copy of the service.
struct Proc {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Proc {
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited ({status}); its log: {}", self.log.display())),
            Ok(None) => None,
            Err(e) => Some(format!("cannot be checked: {e}")),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stable and canary processes of one rollout.
pub struct LocalCanary {
    proxy: Arc<Proxy>,
    service: ServiceCfg,
    flags: PathBuf,
    base: Workspace,
    patched: Workspace,
    stable: Mutex<Option<Proc>>,
    canary: Mutex<Option<Proc>>,
    logs: PathBuf,
}

impl LocalCanary {
    /// Makes the two workspaces (the patch applied to one). Nothing runs yet.
    pub fn prepare(
        source: &Path,
        base_rev: Option<&str>,
        diff: &str,
        under: &Path,
        service: &ServiceCfg,
        flags: &Path,
        proxy: Arc<Proxy>,
    ) -> Result<LocalCanary, String> {
        if service.command.is_empty() {
            return Err("rollout.service.command is empty: say how to run the service ({port} and {flags} are filled in)".into());
        }
        let base = Workspace::create(source, base_rev, under).map_err(|e| format!("making the stable workspace: {e}"))?;
        let patched = Workspace::create(source, base_rev, under).map_err(|e| format!("making the canary workspace: {e}"))?;
        crate::verify::apply::apply(patched.path(), diff).map_err(|e| format!("applying the patch to the canary workspace: {e}"))?;
        let logs = under.join("rollout-logs");
        std::fs::create_dir_all(&logs).map_err(|e| format!("making {}: {e}", logs.display()))?;
        Ok(LocalCanary {
            proxy,
            service: service.clone(),
            flags: flags.to_path_buf(),
            base,
            patched,
            stable: Mutex::new(None),
            canary: Mutex::new(None),
            logs,
        })
    }

    async fn launch(&self, dir: &Path, name: &str) -> Result<Proc, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("finding a free loopback port for the {name}: {e}"))?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let argv: Vec<String> = self
            .service
            .command
            .iter()
            .map(|a| a.replace("{port}", &port.to_string()).replace("{flags}", &self.flags.display().to_string()))
            .collect();
        let log = self.logs.join(format!("{name}-{port}.log"));
        let out = std::fs::File::create(&log).map_err(|e| format!("making {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).current_dir(dir).stdin(Stdio::null()).stdout(out).stderr(err);
        // SAFETY: prctl is async-signal-safe; the closure touches nothing else.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| format!("starting the {name} ({}): {e}", argv.join(" ")))?;
        let mut proc = Proc { child, addr, log };
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().map_err(|e| e.to_string())?;
        let url = format!("http://{addr}{}", self.service.health);
        let deadline = Instant::now() + Duration::from_secs(self.service.startup_secs.max(1));
        loop {
            if let Some(why) = proc.exited() {
                return Err(format!("the {name} {why}{}", log_tail(&proc.log)));
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(proc);
            }
            if Instant::now() > deadline {
                return Err(format!("the {name} did not answer {url} within {} s{}", self.service.startup_secs, log_tail(&proc.log)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn lock<'a>(m: &'a Mutex<Option<Proc>>) -> std::sync::MutexGuard<'a, Option<Proc>> {
        m.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The canary process's address (for tests and the console's detail view).
    pub fn canary_addr(&self) -> Option<SocketAddr> {
        Self::lock(&self.canary).as_ref().map(|p| p.addr)
    }

    pub fn workspaces(&self) -> (&Path, &Path) {
        (self.base.path(), self.patched.path())
    }
}

/// The last lines of a log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = lines.into_iter().rev().collect();
    // Untrusted text: control characters never leave here.
    let said: String = tail.join(" | ").chars().map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect();
    format!("; it said: {said}")
}

impl RolloutBackend for LocalCanary {
    fn name(&self) -> String {
        format!("local processes behind the proxy ({})", self.service.command.first().map(String::as_str).unwrap_or("?"))
    }

    fn start(&self) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            let stable = self.launch(self.base.path(), "stable").await?;
            let canary = self.launch(self.patched.path(), "canary").await?;
            self.proxy.set_weight(0);
            self.proxy.set_upstreams(Upstreams { baseline: stable.addr, canary: Some(canary.addr) });
            *Self::lock(&self.stable) = Some(stable);
            *Self::lock(&self.canary) = Some(canary);
            Ok(())
        })
    }

    fn set_weight(&self, weight: u8) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            if weight > 0 && Self::lock(&self.canary).is_none() {
                return Err("the canary is not running".into());
            }
            self.proxy.set_weight(weight);
            Ok(())
        })
    }

    fn pause(&self) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn resume(&self) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn promote(&self) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            let canary = Self::lock(&self.canary).as_ref().map(|p| p.addr).ok_or("the canary is not running")?;
            // The canary becomes the stable version: every request goes to it.
            self.proxy.set_upstreams(Upstreams { baseline: canary, canary: Some(canary) });
            self.proxy.set_weight(100);
            Ok(())
        })
    }

    fn abort(&self) -> BoxFut<'_, Result<(), String>> {
        Box::pin(async move {
            self.proxy.set_weight(0);
            let up = self.proxy.upstreams();
            self.proxy.set_upstreams(Upstreams { baseline: up.baseline, canary: None });
            Self::lock(&self.canary).take();
            Ok(())
        })
    }

    fn status(&self) -> BoxFut<'_, Result<BackendStatus, String>> {
        Box::pin(async move {
            let mut problems = Vec::new();
            let mut check = |m: &Mutex<Option<Proc>>, name: &str| {
                let mut g = Self::lock(m);
                match g.as_mut() {
                    None => false,
                    Some(p) => match p.exited() {
                        Some(why) => {
                            problems.push(format!("the {name} {why}"));
                            false
                        }
                        None => true,
                    },
                }
            };
            let stable_up = check(&self.stable, "stable");
            let canary_up = check(&self.canary, "canary");
            Ok(BackendStatus {
                desired_weight: self.proxy.weight(),
                actual_weight: self.proxy.actual_weight(10_000),
                stable_up,
                canary_up,
                problems,
            })
        })
    }
}
