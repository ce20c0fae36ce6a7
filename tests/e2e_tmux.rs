//! End-to-end: the real `suture` binary in a detached tmux session on the demo
//! world. Drives it with send-keys, reads the screen with capture-pane, and
//! checks the terminal state tmux tracks for the pane (alternate screen,
//! cursor visibility) after the program exits.
//!
//! Needs tmux (`.ci/run` installs it). Each test uses its own tmux server
//! socket so tests never see each other's sessions.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Sandbox;

/// Tests that run repros, the gauntlet or a canary take turns: on two
/// cores, one of them loading the machine slows the others past their waits.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Tmux {
    socket: String,
    sandbox: Sandbox,
}

impl Tmux {
    fn start(name: &str, args: &str) -> Tmux {
        Tmux::start_with(name, args, |_| {})
    }

    /// Starts after `setup` has prepared the sandbox (config files, inputs).
    fn start_with(name: &str, args: &str, setup: impl FnOnce(&Sandbox)) -> Tmux {
        assert!(Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()), "tmux is required for the end-to-end tests");
        let sandbox = Sandbox::new();
        setup(&sandbox);
        let socket = format!("suture-e2e-{}-{name}", std::process::id());
        let t = Tmux { socket, sandbox };
        let script = t.script(&format!("-- {args}"));
        t.tmux(&["new-session", "-d", "-s", "main", "-x", "100", "-y", "30", &script]);
        t
    }

    /// Starts with more environment (`VAR=1 …`) from the first run on, so no
    /// earlier console is interrupted while it loads the demo store.
    fn start_env(name: &str, env: &str) -> Tmux {
        let t = Tmux::start_with(name, "--version", |_| {});
        t.wait_for("EXITED:0");
        t.restart(env);
        t
    }

    /// Runs the console again in the same sandbox, with more environment.
    fn restart(&self, env: &str) {
        let _ = self.tmux(&["kill-session", "-t", "main"]);
        let script = self.script(env);
        self.tmux(&["new-session", "-d", "-s", "main", "-x", "100", "-y", "30", &script]);
    }

    /// A shell command running suture in the sandbox; `extra` is either more
    /// environment (`VAR=1`) or `-- ARGS`.
    fn script(&self, extra: &str) -> String {
        let (env, args) = match extra.strip_prefix("-- ") {
            Some(args) => ("", args),
            None => (extra, ""),
        };
        format!(
            "cd {work} && env -u NO_COLOR HOME={home} XDG_CONFIG_HOME={cfg} XDG_DATA_HOME={data} TERM=xterm-256color {env} {bin} {args}; echo EXITED:$?; sleep 600",
            work = self.sandbox.path("work").display(),
            home = self.sandbox.path("home").display(),
            cfg = self.sandbox.path("config").display(),
            data = self.sandbox.path("data").display(),
            bin = env!("CARGO_BIN_EXE_suture"),
        )
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn pane(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "main", format]).trim().to_string()
    }

    /// Polls the screen until `done` holds; fails with the screen when it never does.
    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} never happened; the screen was:
{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&self, text: &str) {
        self.wait_until(&format!("`{text}` appearing"), |s| s.contains(text));
    }

    fn wait_gone(&self, text: &str) {
        self.wait_until(&format!("`{text}` going away"), |s| !s.contains(text));
    }

    fn assert_restored(&self) {
        assert_eq!(self.pane("#{alternate_on}"), "0", "the alternate screen was left");
        assert_eq!(self.pane("#{cursor_flag}"), "1", "the cursor is shown again");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

#[test]
fn demo_console_switches_tabs_shows_help_and_quits_cleanly() {
    let t = Tmux::start("tabs", "");
    t.wait_for("Incidents (8)");
    t.wait_for("KeyError: 'EU-LEGACY'");
    assert!(t.screen().contains("DEMO WORLD"));
    assert_eq!(t.pane("#{alternate_on}"), "1", "the console draws on the alternate screen");
    assert_eq!(t.pane("#{cursor_flag}"), "0", "the cursor is hidden while the console runs");

    t.keys(&["Tab"]);
    t.wait_for("No patches yet.");
    t.keys(&["3"]);
    t.wait_for("No rollouts yet.");
    t.keys(&["4"]);
    t.wait_for("✔ verified to #1");
    t.keys(&["BTab"]);
    t.wait_for("No rollouts yet.");
    t.keys(&["1"]);
    t.wait_for("Incidents (8)");
    t.keys(&["j", "j"]);
    t.wait_for("INC-851634 — summary");

    // The console follows a resize: at 80 columns the Culprit column goes.
    assert!(t.screen().contains("Culprit"));
    t.tmux(&["resize-window", "-t", "main", "-x", "80", "-y", "24"]);
    t.wait_gone("Culprit");
    t.wait_for("INC-851634 — summary");

    // Enter opens the selected incident (INC-851634), Esc comes back.
    t.keys(&["Enter"]);
    t.wait_for("IndexError: list index out of range");
    t.wait_for("Trace & source");
    t.wait_for("from the source tree");
    t.keys(&["Escape"]);
    t.wait_gone("Trace & source");
    t.wait_for("INC-851634 — summary");

    // `/` filters as you type; Esc clears.
    t.keys(&["/"]);
    t.keys(&["-l", "pricing"]);
    t.wait_for("Incidents (1 of 8)");
    t.keys(&["Escape"]);
    t.wait_for("Incidents (8)");

    t.keys(&["?"]);
    t.wait_for("Help — keys");
    t.keys(&["Escape"]);
    t.wait_gone("Help — keys");

    t.keys(&["q"]);
    t.wait_for("EXITED:0");
    t.assert_restored();
}

#[test]
fn a_panic_restores_the_terminal_and_prints_the_message() {
    // The test hook panics right after the first frame.
    let t = Tmux::start_env("panic", "SUTURE_TEST_PANIC=1 RUST_BACKTRACE=0");
    t.wait_for("EXITED:101");
    t.assert_restored();
    assert!(t.screen().contains("deliberate panic"), "{}", t.screen());
}

#[test]
fn sigterm_restores_the_terminal() {
    let t = Tmux::start("term", "");
    t.wait_for("Incidents (8)");
    let shell = t.pane("#{pane_pid}");
    let out = Command::new("pkill").args(["-TERM", "-P", &shell, "-f", "suture"]).output().unwrap();
    assert!(out.status.success(), "no suture process under pane {shell} to signal");
    t.wait_for("EXITED:0");
    t.assert_restored();
}

#[test]
fn a_change_by_another_process_shows_up_live() {
    let t = Tmux::start("live", "");
    t.wait_for("Incidents (8)");
    // Another process (this test) writes to the same store file.
    let db = t.sandbox.path("data/suture/demo.db");
    let mut store = suture::store::Store::open(&db).unwrap();
    let ev = suture::model::ErrorEvent {
        id: "e2e-live-1".into(),
        timestamp: 1,
        message: Some("written from outside".into()),
        ..Default::default()
    };
    let inc = suture::model::Incident {
        id: "INC-E2E001".into(),
        fingerprint: "e2e001live".into(),
        title: "written from outside".into(),
        count: 1,
        score: 99.0,
        ..Default::default()
    };
    use suture::store::{Batch, BatchIncident, EventKey, NONE, event_key};
    let key = EventKey {
        key: event_key(&ev.id),
        incident: 0,
        ts: ev.timestamp,
        user: None,
        tenant: NONE,
        region: NONE,
        release: NONE,
        service: NONE,
        flags: NONE,
    };
    let batch =
        Batch { incidents: vec![BatchIncident { skeleton: inc.clone() }], events: vec![key], samples: vec![(0, ev)], ..Default::default() };
    // No ranking: the incident keeps the score it was written with.
    store.ingest_batch(&batch, &|_, _, _| {}, "test", 1).unwrap();
    t.wait_for("Incidents (9)");
    t.wait_for("INC-E2E001");
    // The new incident ranks first; the selection stays on the incident it was on.
    assert!(t.screen().contains("INC-F22A7C — summary"), "{}", t.screen());
    t.keys(&["g"]);
    t.wait_for("written from outside");
    t.keys(&["q"]);
    t.wait_for("EXITED:0");
}

#[test]
fn events_appended_to_a_followed_file_appear_in_the_open_console() {
    let mut feed = std::path::PathBuf::new();
    let t = Tmux::start_with("follow", "", |sb| {
        feed = sb.write("work/feed/events.jsonl", "");
        sb.write("config/suture/suture.toml", &format!("[ingest]\nfollow = [{:?}]\n", feed.display().to_string()));
    });
    t.wait_for("Incidents (8)");
    let line = r#"{"event_id":"follow-1","timestamp":"2026-11-20T23:59:00Z","release":"shop@9c4e0d7","exception":{"values":[{"type":"FollowedError","value":"appended while the console was open","stacktrace":{"frames":[{"module":"app.follow","function":"tail","in_app":true}]}}]}}"#;
    let appended = Instant::now();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&feed).unwrap();
        writeln!(f, "{line}").unwrap();
    }
    t.wait_for("Incidents (9)");
    t.wait_for("FollowedError");
    // Reported, not asserted (tests never assert on wall-clock time): the
    // follower polls every 250 ms and the console checks the store as often.
    eprintln!("followed event on screen {} ms after it was appended", appended.elapsed().as_millis());
    t.keys(&["q"]);
    t.wait_for("EXITED:0");
}

#[test]
fn the_console_runs_a_repro_and_verifies_a_patch_live_and_stays_responsive() {
    let _turn = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    // A wrong patch recorded by `suture verify`, so the Patches tab has one to re-verify.
    let t = Tmux::start_with("verify", "", |sb| {
        sb.write("work/suture.toml", "[verify]\nflaky_reruns = 1\n\n[verify.tests]\ncommand = [\"python3\", \"-m\", \"unittest\", \"discover\", \"-s\", \"tests\", \"-t\", \".\", \"-v\"]\n");
        let diff = common::repo_root().join("fixtures/demo/patches/pricing-ignore-discounts.diff");
        let out = sb.run(&["verify", diff.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", common::text(&out.stderr));
    });
    t.wait_for("Incidents (8)");

    // The top incident's repro, from the Incident view: output, then the verdict.
    t.keys(&["Enter"]);
    t.wait_for("Stack trace");
    t.keys(&["R"]);
    t.wait_for("Repro ·");
    // The console answers keys while the repro runs.
    t.keys(&["d"]);
    t.wait_for("reproduced 3 of 3 runs");
    t.keys(&["Escape"]);

    // The Patches tab: the failed patch, verified again live.
    t.keys(&["2"]);
    t.wait_for("pricing-ignore-discounts.diff");
    t.wait_for("✖ (c) tests");
    t.keys(&["v"]);
    t.wait_for("Evidence · verifying…");
    t.wait_until("the verification finishing", |s| s.contains("failed at tests"));
    // Enter on step (c) opens its log; a search finds the broken test.
    t.keys(&["j", "j", "Enter"]);
    t.wait_for("Log ·");
    t.keys(&["/"]);
    t.keys(&["-l", "staff"]);
    t.keys(&["Enter"]);
    t.wait_until("a match", |s| s.contains("“staff”:") && s.contains("matching lines"));
    t.keys(&["Escape", "Escape", "q"]);
    t.wait_for("EXITED:0");
    t.assert_restored();
}

#[test]
fn a_proposal_opens_on_the_review_screen_side_by_side_and_unified() {
    let _turn = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let t = Tmux::start_with("review", "", |sb| {
        let list = sb.run(&["incidents", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
        let id = v.as_array().unwrap().iter().find(|i| i["title"].as_str().unwrap().starts_with("IndexError")).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let out = sb.cmd().args(["propose", &id]).env("SUTURE_PROPOSE__MAX_CANDIDATES", "8").output().unwrap();
        assert!(out.status.success(), "{}", common::text(&out.stderr));
    });
    t.wait_for("Incidents (8)");
    t.keys(&["2"]);
    t.wait_for("suture/templates");
    t.keys(&["Enter"]);
    // 100 columns: side by side, the old line on the left, the new on the right.
    t.wait_for("side by side");
    t.wait_until("both sides of the change", |s| s.lines().any(|l| l.contains(" - ") && l.contains(" + ")));
    t.keys(&["u"]);
    t.wait_for("· unified");
    t.keys(&["u", "w"]);
    t.wait_for("· wrap");
    // 30 rows: the evidence and the risk take the diff's place on `e`.
    t.keys(&["e"]);
    t.wait_for("Evidence · ↑↓ a step");
    t.wait_for("Risk · tier");
    t.keys(&["Escape"]);
    t.wait_gone("side by side");
    t.keys(&["q"]);
    t.wait_for("EXITED:0");
    t.assert_restored();
}

/// The governance walk in the console: the on-call engineer proposes a fix
/// from the Incident view (the templates' progress streams in) and cannot
/// approve it; a reviewer approves it in the dialog, writes the signed
/// attestation and the post-mortem; the Audit tab verifies the signed log;
/// `suture attest verify` passes on the attestation the console wrote.
#[test]
fn a_fix_is_proposed_and_approved_by_another_person_in_the_console() {
    let _turn = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let t = Tmux::start_env("govern", "USER=alice SUTURE_PROPOSE__MAX_CANDIDATES=1");
    t.wait_for("Incidents (8)");
    t.wait_for("alice · engineer");
    t.keys(&["/"]);
    t.keys(&["NoneType"]);
    t.keys(&["Enter", "Enter"]);
    t.wait_for("Stack trace");
    t.keys(&["P"]);
    t.wait_for("Proposals (repair templates)");
    t.wait_until("a verified proposal", |s| s.contains("Proposals (repair templates) · done") && s.contains("verified 1"));
    // The engineer who asked cannot approve.
    t.keys(&["Escape"]);
    t.wait_gone("Stack trace");
    t.keys(&["2"]);
    t.wait_for("suture/templates");
    t.keys(&["Enter"]);
    t.wait_for("approvals: none yet");
    t.keys(&["a"]);
    t.wait_for("alice is an engineer: only reviewers and commanders can approve");
    t.keys(&["q"]);
    t.wait_for("EXITED:0");

    // A reviewer approves in the dialog.
    t.restart("USER=alice SUTURE_USER=bob");
    t.wait_for("bob · reviewer");
    t.keys(&["2"]);
    t.wait_for("suture/templates");
    t.keys(&["Enter"]);
    t.wait_for("approvals: none yet");
    t.keys(&["a"]);
    t.wait_for("Approve · patch");
    t.keys(&["-l", "the guard is right"]);
    t.keys(&["Enter"]);
    t.wait_for("approved by bob: the patch is approved");
    t.wait_for("✔ bob (approved) “the guard is right”");
    // The attestation, signed with bob's key, from the review screen.
    t.keys(&["A"]);
    t.wait_for("wrote the attestation signed by bob");
    t.keys(&["Escape"]);
    t.wait_gone("approvals:");
    // The post-mortem, from the Incident view.
    t.keys(&["1"]);
    t.keys(&["/"]);
    t.keys(&["NoneType"]);
    t.keys(&["Enter", "Enter"]);
    t.wait_for("Stack trace");
    t.keys(&["M"]);
    t.wait_for("wrote the post-mortem");
    t.keys(&["Escape"]);
    t.wait_gone("Stack trace");
    t.keys(&["4"]);
    t.wait_for("✔ verified to #");
    t.wait_for("approve");
    t.keys(&["/"]);
    t.keys(&["-l", "actor:bob"]);
    t.keys(&["Enter"]);
    t.wait_for("1 of");
    t.keys(&["q"]);
    t.wait_for("EXITED:0");
    t.assert_restored();

    // The attestation the console wrote verifies; the post-mortem records the approval.
    let sb = &t.sandbox;
    let id = {
        let store = suture::store::Store::open(&sb.path("data/suture/demo.db")).unwrap();
        let p = store.patches().unwrap().into_iter().find(|p| p.state == suture::model::PatchState::Approved).expect("an approved patch");
        p.id
    };
    let att = sb.path(&format!("data/suture/records/{id}.intoto.jsonl"));
    let v = sb.cmd().args(["attest", "verify", att.to_str().unwrap()]).output().unwrap();
    assert!(v.status.success() && common::text(&v.stdout).contains("signed by bob"), "{}", common::text(&v.stderr));
    let md = std::fs::read_to_string(sb.path("data/suture/records/postmortem-INC-D8F619.md")).unwrap();
    assert!(md.contains("the guard is right") && md.contains("## Approvals"), "{md}");
}

/// Kills the `suture serve` the console started, when the test ends.
struct BackgroundServe(std::path::PathBuf);

impl Drop for BackgroundServe {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0)
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: a plain kill(2) of the pid the serve wrote into its lock file.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[test]
fn the_demo_console_starts_serve_for_a_waiting_rollout_and_closing_it_abandons_nothing() {
    let _turn = HEAVY.lock().unwrap_or_else(|p| p.into_inner());
    let as_user = |sb: &Sandbox, user: &str, args: &[&str]| {
        let out = sb.cmd().env("USER", "alice").env("SUTURE_USER", user).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut rollout = String::new();
    let t = Tmux::start_with("bg-serve", "", |sb| {
        // The proxy on a free port, for the serve the console will start too.
        sb.write("work/suture.toml", "[rollout]\nlisten = \"127.0.0.1:0\"\n");
        let diff = common::repo_root().join("fixtures/demo/patches/pricing-null-discount.diff");
        let v: serde_json::Value = serde_json::from_str(&as_user(sb, "alice", &["verify", diff.to_str().unwrap(), "--json"])).unwrap();
        let patch = v["patch"].as_str().unwrap().to_string();
        as_user(sb, "bob", &["approve", &patch]);
        // No serve runs: the rollout waits.
        rollout = as_user(sb, "carol", &["rollout", "start", &patch]).split_whitespace().next().unwrap().to_string();
    });
    let _cleanup = BackgroundServe(t.sandbox.path("data/suture/demo.db.serve.lock"));
    t.wait_for("started suture serve");
    t.keys(&["3"]);
    t.wait_for("step 1/3");
    // Closing the console leaves the canary running under that serve.
    t.keys(&["q"]);
    t.wait_for("EXITED:0");
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let out = as_user(&t.sandbox, "victor", &["rollout", "status", &rollout, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let status = v[0]["status"].as_str().unwrap().to_string();
        assert!(!["rolled_back", "aborted"].contains(&status.as_str()), "{v:#}");
        if status == "awaiting_promotion" {
            break;
        }
        assert!(Instant::now() < deadline, "the rollout stalled after the console closed: {v:#}");
        std::thread::sleep(Duration::from_millis(500));
    }
}
