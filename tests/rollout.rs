//! Delivery end to end with the real binary, the real demo service and real
//! traffic: `suture serve` runs the controller and its proxy; the CLI starts,
//! watches and promotes. Nothing is synthesized: both versions of the demo
//! service run from scratch workspaces, the replayer sends the recorded
//! requests through the proxy, and the judge sees what the proxy measured.
//!
//! - The correct pricing fix goes through every step with passing verdicts
//!   and is promoted by a commander.
//! - A fix that adds 50 ms to every quote passes the gauntlet but is rolled
//!   back by the controller at its first analysis, with a failing verdict,
//!   and its kill switch is thrown within a second of the decision.
//! - `suture serve` killed mid-canary and started again resumes the rollout
//!   without applying any step twice.
//!
//! The three share the machine's two cores, so they take turns (a canary
//! judged while another one loads the machine measures the other one).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Sandbox, repo_root, text};
use serde_json::Value;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn as_user(sb: &Sandbox, user: &str, args: &[&str]) -> Output {
    let mut c = sb.cmd();
    c.env("USER", "alice").env_remove("LOGNAME").env_remove("SSH_CLIENT").env_remove("SSH_CONNECTION");
    c.env("SUTURE_USER", user);
    c.args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

/// A running `suture serve`, killed when dropped.
struct Serve {
    child: Child,
}

impl Serve {
    fn start(sb: &Sandbox) -> Serve {
        let mut c = sb.cmd();
        c.env("USER", "alice").env("SUTURE_USER", "carol").env("RUST_LOG", "info");
        let mut child = c.args(["serve", "--proxy", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        assert!(first.starts_with("canary proxy on http://127.0.0.1:"), "{first}");
        // Keep draining stdout so serve never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Serve { child }
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Verifies a demo patch file as alice and has bob approve it; its id.
fn approved(sb: &Sandbox, file: &str) -> String {
    let path = repo_root().join("fixtures/demo/patches").join(file);
    let out = ok(&as_user(sb, "alice", &["verify", path.to_str().unwrap(), "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["state"], "verified", "{v}");
    let id = v["patch"].as_str().unwrap().to_string();
    ok(&as_user(sb, "bob", &["approve", &id, "--comment", "canary it"]));
    id
}

fn status(sb: &Sandbox, id: &str) -> Value {
    let out = ok(&as_user(sb, "victor", &["rollout", "status", id, "--json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    v[0].clone()
}

/// Polls the rollout until `done` says so (or fails after `limit`).
fn wait_for(sb: &Sandbox, id: &str, limit: Duration, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let r = status(sb, id);
        if done(&r) {
            return r;
        }
        assert!(start.elapsed() < limit, "waited {limit:?} for {what}; the rollout is now:\n{:#}", r);
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn audit(sb: &Sandbox) -> Vec<Value> {
    let out = ok(&as_user(sb, "victor", &["audit", "export"]));
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn patch_state(sb: &Sandbox, id: &str) -> String {
    let db = rusqlite::Connection::open(sb.path("data/suture/demo.db")).unwrap();
    db.query_row("SELECT state FROM patches WHERE id = ?1", [id], |r| r.get(0)).unwrap()
}

fn rollout_id(out: &str) -> String {
    out.split_whitespace().next().unwrap().to_string()
}

#[test]
fn the_correct_fix_canaries_to_full_weight_on_passing_verdicts_and_is_promoted() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sb = Sandbox::new();
    let patch = approved(&sb, "pricing-null-discount.diff");
    let _serve = Serve::start(&sb);
    // alice is an engineer: she cannot start it; carol (commander) can.
    let refused = as_user(&sb, "alice", &["rollout", "start", &patch]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused.stderr).contains("takes a reviewer or a commander"), "{}", text(&refused.stderr));
    let id = rollout_id(&ok(&as_user(&sb, "carol", &["rollout", "start", &patch])));

    let r = wait_for(&sb, &id, Duration::from_secs(150), "every step to pass", |r| {
        let s = r["status"].as_str().unwrap();
        assert!(!["rolled_back", "aborted"].contains(&s), "the correct fix was stopped:\n{r:#}");
        s == "awaiting_promotion"
    });
    assert_eq!(r["desired_weight"], 100);
    let verdicts = r["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 2, "one analysis per analysed step: {r:#}");
    for v in verdicts {
        assert_eq!(v["outcome"], "pass", "{v:#}");
        for m in v["metrics"].as_array().unwrap() {
            // Real measurements on both sides.
            assert!(m["baseline_n"].as_u64().unwrap() > 0 && m["canary_n"].as_u64().unwrap() > 0, "{m:#}");
        }
    }
    let latency = &verdicts[0]["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "latency").unwrap()["canary_n"];
    assert!(latency.as_u64().unwrap() >= 4, "the first step judged {latency} seconds of canary requests");

    let out = ok(&as_user(&sb, "carol", &["rollout", "promote", &id]));
    assert!(out.contains("promoted"), "{out}");
    let r = status(&sb, &id);
    assert_eq!(r["status"], "promoted");
    assert_eq!(patch_state(&sb, &patch), "promoted");

    // Every step is in the signed log once, and the log verifies.
    let steps: Vec<u64> =
        audit(&sb).iter().filter(|e| e["action"] == "rollout step").map(|e| e["payload"]["step"].as_u64().unwrap_or(0)).collect();
    assert_eq!(steps, vec![1, 2, 3]);
    ok(&as_user(&sb, "victor", &["audit", "verify"]));
}

#[test]
fn a_fix_that_adds_50_ms_is_rolled_back_at_its_first_analysis_and_its_kill_switch_thrown() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sb = Sandbox::new();
    let patch = approved(&sb, "pricing-null-discount-slow.diff");
    let _serve = Serve::start(&sb);
    let out = ok(&as_user(&sb, "carol", &["rollout", "start", &patch]));
    assert!(out.contains("kill switch: suture.kill.quote-fraud-check"), "{out}");
    let id = rollout_id(&out);

    let r = wait_for(&sb, &id, Duration::from_secs(120), "the rollback", |r| {
        assert_ne!(r["status"], "awaiting_promotion", "the slow fix got through:\n{r:#}");
        r["status"] == "rolled_back"
    });
    assert_eq!(r["current_step"], 0, "rolled back at the first step:\n{r:#}");
    let verdicts = r["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 1, "{r:#}");
    assert_eq!(verdicts[0]["outcome"], "fail", "{r:#}");
    let latency = verdicts[0]["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "latency").unwrap();
    assert_eq!(latency["verdict"], "high", "{latency:#}");
    assert_eq!(r["killed"], true);
    assert_eq!(r["desired_weight"], 0);

    // The kill switch is in the deployment's flag file, thrown.
    let flags: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("data/suture/demo-deploy/flags.json")).unwrap()).unwrap();
    let switch = &flags["flags"]["suture.kill.quote-fraud-check"];
    assert_eq!(switch["state"], "ENABLED", "{flags:#}");
    assert_eq!(switch["variants"][switch["defaultVariant"].as_str().unwrap()], true, "{flags:#}");

    // Within a second of the decision, by the record the controller signed.
    let entry = audit(&sb).into_iter().find(|e| e["action"] == "rollout roll back").expect("the rollback is audited");
    let payload = &entry["payload"];
    let killed_at = payload["killed_at"].as_i64().expect("killed_at");
    let decided = verdicts[0]["at"].as_i64().unwrap();
    assert!(killed_at - decided <= 1000, "the kill switch took {} ms", killed_at - decided);
    assert!(payload["reason"].as_str().unwrap().contains("analysis at step 1 failed"), "{payload:#}");
    assert_eq!(patch_state(&sb, &patch), "rolled back");
    ok(&as_user(&sb, "victor", &["audit", "verify"]));
}

#[test]
fn serve_killed_mid_canary_resumes_without_applying_a_step_twice() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sb = Sandbox::new();
    let patch = approved(&sb, "pricing-null-discount.diff");
    let mut serve = Serve::start(&sb);
    let id = rollout_id(&ok(&as_user(&sb, "carol", &["rollout", "start", &patch])));
    wait_for(&sb, &id, Duration::from_secs(90), "step 2", |r| r["current_step"] == 1);
    serve.kill9();
    // While serve is down the rollout stays where it was.
    std::thread::sleep(Duration::from_secs(2));
    let held = status(&sb, &id);
    assert_eq!((held["current_step"].as_u64(), held["status"].as_str()), (Some(1), Some("progressing")));
    let _serve = Serve::start(&sb);
    let r = wait_for(&sb, &id, Duration::from_secs(150), "the last step after the restart", |r| {
        let s = r["status"].as_str().unwrap();
        assert!(!["rolled_back", "aborted"].contains(&s), "stopped after the restart:\n{r:#}");
        s == "awaiting_promotion"
    });
    assert_eq!(r["current_step"], 2);

    let log = audit(&sb);
    let steps: Vec<u64> = log.iter().filter(|e| e["action"] == "rollout step").map(|e| e["payload"]["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, vec![1, 2, 3], "each step applied once");
    assert_eq!(log.iter().filter(|e| e["action"] == "rollout resume").count(), 1, "the restart is on the record");
    assert_eq!(log.iter().filter(|e| e["action"] == "advance canary").count(), 2, "the patch moved forward twice, not more");
    ok(&as_user(&sb, "victor", &["audit", "verify"]));
}

/// A config for the fault cases: the demo's service and traffic, short steps.
fn fault_config(sb: &Sandbox, extra: &str) -> std::path::PathBuf {
    sb.write(
        "work/suture.toml",
        &format!(
            r#"[rollout]
interval_secs = 1
warmup_secs = 1
lost_metrics_limit = 2
steps = [{{ weight = 50, pause_secs = 3, analysis = true }}, {{ weight = 100, pause_secs = 30, analysis = false }}]
replay = {{ rate = 40.0, concurrency = 8 }}
service = {{ command = ["python3", "-m", "app.server", "--port", "{{port}}", "--flags", "{{flags}}"], health = "/healthz" }}
{extra}
"#
        ),
    )
}

#[test]
fn a_crashed_canary_and_lost_metrics_each_end_in_an_audited_rollback() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());

    // The service's processes die mid-step: rolled back at the next look.
    let sb = Sandbox::new();
    fault_config(&sb, "");
    let patch = approved(&sb, "pricing-null-discount.diff");
    let _serve = Serve::start(&sb);
    let id = rollout_id(&ok(&as_user(&sb, "carol", &["rollout", "start", &patch])));
    wait_for(&sb, &id, Duration::from_secs(60), "the canary up", |r| r["status"] == "progressing");
    // Both versions run with this sandbox's own flag file on their command line.
    let flags = sb.path("data/suture/demo-deploy/flags.json");
    let killed = std::process::Command::new("pkill").args(["-KILL", "-f", flags.to_str().unwrap()]).status().unwrap();
    assert!(killed.success(), "no service process to kill");
    let r = wait_for(&sb, &id, Duration::from_secs(30), "the rollback", |r| r["status"] == "rolled_back");
    assert!(r["message"].as_str().unwrap().contains("a process of the rollout stopped"), "{r:#}");
    assert_eq!(patch_state(&sb, &patch), "rolled back");
    let log = audit(&sb);
    let entry = log.iter().find(|e| e["action"] == "rollout roll back").expect("audited");
    assert!(entry["payload"]["reason"].as_str().unwrap().contains("exited"), "{entry:#}");

    // Metrics that cannot be read: held, then rolled back past the limit.
    let sb = Sandbox::new();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    fault_config(&sb, &format!("metrics_source = \"prometheus\"\nprometheus = {{ url = \"http://{dead}\", timeout_secs = 1 }}"));
    let patch = approved(&sb, "pricing-null-discount.diff");
    let _serve = Serve::start(&sb);
    let id = rollout_id(&ok(&as_user(&sb, "carol", &["rollout", "start", &patch])));
    let r = wait_for(&sb, &id, Duration::from_secs(60), "the rollback", |r| r["status"] == "rolled_back");
    assert_eq!(r["current_step"], 0, "never advanced without metrics:\n{r:#}");
    assert!(r["message"].as_str().unwrap().contains("metrics lost for 3 intervals"), "{r:#}");
    let log = audit(&sb);
    assert_eq!(log.iter().filter(|e| e["action"] == "rollout metrics lost").count(), 2, "each lost interval is on the record");
    ok(&as_user(&sb, "victor", &["audit", "verify"]));
}

#[test]
fn flag_set_changes_the_deployment_flag_file_for_a_segment_audited_and_only_for_the_roles() {
    let sb = Sandbox::new();
    let refused = as_user(&sb, "alice", &["flag", "set", "legacy-tax-rounding", "off"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("alice is an engineer: changing a flag takes a reviewer or a commander"),
        "{}",
        text(&refused.stderr)
    );
    let refused = as_user(&sb, "victor", &["flag", "set", "legacy-tax-rounding", "off"]);
    assert!(text(&refused.stderr).contains("read-only"), "{}", text(&refused.stderr));

    let out = ok(&as_user(&sb, "carol", &["flag", "set", "legacy-tax-rounding", "off", "--segment", "tenant=acme,globex"]));
    assert!(out.contains("demo-deploy/flags.json"), "{out}");
    let path = sb.path("data/suture/demo-deploy/flags.json");
    let flags: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let rule = &flags["flags"]["legacy-tax-rounding"]["targeting"]["if"];
    assert_eq!(rule[0]["in"][1], serde_json::json!(["acme", "globex"]), "{flags:#}");
    assert_eq!(rule[1], "off", "{flags:#}");
    // Unknown fields and every other flag are kept; the demo's own file is untouched.
    assert_eq!(flags["$schema"], "https://flagd.dev/schema/v0/flags.json");
    assert_eq!(flags["flags"]["search-backend"]["defaultVariant"], "classic");
    let shipped = std::fs::read_to_string(repo_root().join("fixtures/demo/service/flags/flags.json")).unwrap();
    assert!(!shipped.contains("globex\"]]}, \"off\""), "the shipped file changed");
    let entry = audit(&sb).into_iter().find(|e| e["action"] == "flag set").expect("audited");
    assert_eq!(entry["actor"], "carol");
    assert_eq!(entry["payload"]["segment"], "tenant=acme,globex", "{entry:#}");

    // Bad input: a segment that does not parse, a file edited into invalid JSON.
    let bad = as_user(&sb, "carol", &["flag", "set", "legacy-tax-rounding", "off", "--segment", "tenant"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("--segment tenant"), "{}", text(&bad.stderr));
    std::fs::write(&path, "{\"flags\": {\n  \"x\": {,}\n}}\n").unwrap();
    let bad = as_user(&sb, "carol", &["flag", "set", "x", "off"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("flags.json:2:"), "{}", text(&bad.stderr));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"flags\": {\n  \"x\": {,}\n}}\n", "left as it was");
}

#[test]
fn an_approved_flag_patch_mitigates_for_a_segment_through_the_approval_rules() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let sb = Sandbox::new();
    let list: Value = serde_json::from_str(&ok(&as_user(&sb, "victor", &["incidents", "--json"]))).unwrap();
    let incident =
        list.as_array().unwrap().iter().find(|i| i["title"].as_str().unwrap().starts_with("KeyError: 'EU-LEGACY'")).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
    let mut c = sb.cmd();
    c.env("USER", "alice").env("SUTURE_USER", "alice").env("SUTURE_PROPOSE__MAX_CANDIDATES", "4");
    let out = c.args(["propose", &incident, "--json"]).output().unwrap();
    let v: Value = serde_json::from_str(&ok(&out)).unwrap();
    let tried = v["found"]["tried"].as_array().unwrap();
    let flag = tried.iter().find(|t| t["candidate"]["class"] == "config-flag").expect("a config-flag candidate");
    let patch = v["patches"][flag["candidate"]["id"].as_str().unwrap()].as_str().expect("recorded").to_string();

    // Not approved yet: refused, nothing written.
    let refused = as_user(&sb, "carol", &["mitigate", &patch, "--segment", "tenant=acme"]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(
        !sb.path("data/suture/demo-deploy/flags.json").exists() || {
            let f: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("data/suture/demo-deploy/flags.json")).unwrap()).unwrap();
            f["flags"]["legacy-tax-rounding"]["targeting"]["if"][1] != "off"
        }
    );
    ok(&as_user(&sb, "bob", &["approve", &patch, "--comment", "turn it off for acme first"]));
    // A code patch never mitigates; the flag patch does, for the segment only.
    let out = ok(&as_user(&sb, "carol", &["mitigate", &patch, "--segment", "tenant=acme"]));
    assert!(out.contains("mitigated by carol for tenant=acme"), "{out}");
    assert!(out.contains(&format!("{incident}: ")) && out.contains("events/min in the 10 min before"), "{out}");
    let f: Value = serde_json::from_str(&std::fs::read_to_string(sb.path("data/suture/demo-deploy/flags.json")).unwrap()).unwrap();
    let flag = &f["flags"]["legacy-tax-rounding"];
    assert_eq!(flag["state"], "ENABLED", "everyone else keeps the flag: {f:#}");
    assert_eq!(flag["targeting"]["if"][0]["in"][1], serde_json::json!(["acme"]), "{f:#}");
    assert_eq!(flag["targeting"]["if"][1], "off", "{f:#}");
    assert_eq!(patch_state(&sb, &patch), "mitigated");
    let log = audit(&sb);
    assert!(log.iter().any(|e| e["action"] == "mitigate" && e["actor"] == "carol"));
    let applied = log.iter().find(|e| e["action"] == "mitigation applied").expect("audited");
    assert_eq!(applied["payload"]["segment"], "tenant=acme");
    ok(&as_user(&sb, "victor", &["audit", "verify"]));
}
