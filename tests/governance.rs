//! Governance end to end with the real binary: a demo bug from incident to
//! proposal, verification, approval by someone other than the proposer,
//! attestation, post-mortem and promotion to a branch; refusals of
//! self-approval and of the proposer; and every way of tampering with the
//! audit log caught by `suture audit verify`, naming the entry.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Sandbox, repo_root, text};
use rusqlite::Connection;

const INCIDENT: &str = "INC-D8F619";

fn as_user(sb: &Sandbox, user: Option<&str>, args: &[&str]) -> Output {
    let mut c = sb.cmd();
    c.env("USER", "alice").env_remove("LOGNAME").env_remove("SSH_CLIENT").env_remove("SSH_CONNECTION");
    if let Some(u) = user {
        c.env("SUTURE_USER", u);
    }
    c.env("SUTURE_PROPOSE__MAX_CANDIDATES", "1");
    c.args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr));
    text(&o.stdout)
}

fn refused(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", text(&o.stdout), text(&o.stderr));
    text(&o.stderr)
}

fn store(sb: &Sandbox) -> PathBuf {
    sb.path("data/suture/demo.db")
}

/// The id of the first verified patch `suture propose` printed.
fn verified_patch(out: &str) -> String {
    let line = out.lines().find(|l| l.starts_with("verified ")).unwrap_or_else(|| panic!("no verified patch in:\n{out}"));
    line.split("patch ").nth(1).unwrap().split_whitespace().next().unwrap().to_string()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(o.status.success(), "git {args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn a_demo_bug_from_incident_to_attested_approval_and_postmortem_then_every_tamper_is_caught() {
    let sb = Sandbox::new();
    // Incident → proposal → verification (the on-call engineer, alice, asks).
    let out = ok(&as_user(&sb, None, &["propose", INCIDENT]));
    let id = verified_patch(&out);

    // Separation of duties: alice asked for it; victor only views; rita's scope does not cover it.
    let err = refused(&as_user(&sb, None, &["approve", &id, "--comment", "lgtm"]));
    assert!(err.contains("alice asked for this patch and cannot approve their own change"), "{err}");
    let err = refused(&as_user(&sb, Some("victor"), &["approve", &id, "--comment", "lgtm"]));
    assert!(err.contains("read-only"), "{err}");
    let err = refused(&as_user(&sb, Some("bob"), &["veto", &id, "--reason", " "]));
    assert!(err.contains("a reason is required to veto"), "{err}");
    // Attesting an unapproved patch is refused.
    let err = refused(&as_user(&sb, Some("bob"), &["attest", &id]));
    assert!(err.contains("approve it first"), "{err}");

    // Approval by a reviewer who is neither the proposer nor the requester.
    let out = ok(&as_user(&sb, Some("bob"), &["approve", &id, "--comment", "the guard is right: no discount means none"]));
    assert!(out.contains("approved by bob (reviewer)") && out.contains("the patch is approved"), "{out}");
    let shown = ok(&as_user(&sb, None, &["audit", "verify"]));
    assert!(shown.starts_with("✔ audit log verified to #") && shown.contains("head signed by bob"), "{shown}");

    // Attestation, and its verification.
    let att = sb.path("work/fix.intoto.jsonl");
    ok(&as_user(&sb, Some("bob"), &["attest", &id, "--out", att.to_str().unwrap()]));
    let out = ok(&as_user(&sb, None, &["attest", "verify", att.to_str().unwrap()]));
    assert!(out.contains("2 statements verified") && out.contains("signed by bob"), "{out}");
    let bundle = std::fs::read_to_string(&att).unwrap();
    assert_eq!(bundle.lines().count(), 2);
    let env: serde_json::Value = serde_json::from_str(bundle.lines().next().unwrap()).unwrap();
    assert_eq!(env["payloadType"], "application/vnd.in-toto+json");
    // One flipped byte in the payload and verification fails.
    let forged = sb.path("work/forged.intoto.jsonl");
    let mut lines: Vec<String> = bundle.lines().map(String::from).collect();
    let mut e: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    let payload = e["payload"].as_str().unwrap().to_string();
    let flip = if payload.starts_with('e') { "f" } else { "e" };
    e["payload"] = serde_json::Value::String(format!("{flip}{}", &payload[1..]));
    lines[0] = e.to_string();
    std::fs::write(&forged, lines.join("\n")).unwrap();
    let err = refused(&as_user(&sb, None, &["attest", "verify", forged.to_str().unwrap()]));
    assert!(err.contains("✖") && err.contains("line 1"), "{err}");

    // Post-mortem.
    let pm = sb.path("work/pm.md");
    ok(&as_user(&sb, None, &["postmortem", INCIDENT, "--out", pm.to_str().unwrap()]));
    let md = std::fs::read_to_string(&pm).unwrap();
    for heading in [
        "## Timeline",
        "## Signals",
        "## Reproduction",
        "## The patch",
        "## Evidence",
        "## Risk",
        "## Approvals",
        "## Canary",
        "## Rollbacks",
        "## Automating this next time",
    ] {
        assert!(md.contains(heading), "{heading} missing:\n{md}");
    }
    assert!(md.contains("```diff") && md.contains("bob") && md.contains("chain verified"), "{md}");

    // Promotion to source: a branch with one commit in a target repository, nothing pushed, its tree untouched.
    let target = sb.path("target-repo");
    let cp = Command::new("cp").arg("-r").arg(repo_root().join("fixtures/demo/service")).arg(&target).status().unwrap();
    assert!(cp.success());
    git(&target, &["init", "-q", "--initial-branch=main"]);
    git(&target, &["-c", "user.name=t", "-c", "user.email=t@e", "add", "-A"]);
    git(&target, &["-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "base"]);
    let before = git(&target, &["status", "--porcelain"]);
    let out = ok(&as_user(&sb, Some("bob"), &["export", &id, "--repo", target.to_str().unwrap()]));
    assert!(out.contains(&format!("made branch suture/{id}")) && out.contains("nothing was pushed"), "{out}");
    let log = git(&target, &["log", "--format=%an %s%n%b", &format!("suture/{id}"), "-1"]);
    assert!(log.starts_with("bob ") && log.contains(&format!("Suture-Patch: {id}")), "{log}");
    assert_eq!(git(&target, &["status", "--porcelain"]), before);
    assert_eq!(git(&target, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main");

    // Tampering: each on a fresh copy of the store, each caught and named.
    tampering_is_caught(&sb);
}

/// Runs `suture audit verify` against a copy of the store changed by `tamper`.
fn verify_tampered(sb: &Sandbox, name: &str, tamper: impl FnOnce(&Connection)) -> String {
    let copy = sb.path(&format!("work/{name}.db"));
    {
        let c = Connection::open(store(sb)).unwrap();
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    std::fs::copy(store(sb), &copy).unwrap();
    tamper(&Connection::open(&copy).unwrap());
    let o = as_user(sb, None, &["--store", copy.to_str().unwrap(), "audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{name}: {}{}", text(&o.stdout), text(&o.stderr));
    text(&o.stderr)
}

fn tampering_is_caught(sb: &Sandbox) {
    let n: i64 = Connection::open(store(sb)).unwrap().query_row("SELECT max(seq) FROM audit", [], |r| r.get(0)).unwrap();
    assert!(n >= 5, "the walk wrote {n} entries");
    let mid = n / 2;

    let err = verify_tampered(sb, "field", |c| {
        c.execute("UPDATE audit SET actor = 'mallory' WHERE seq = ?1", [mid]).unwrap();
    });
    assert!(err.contains(&format!("broken at entry #{mid}: its hash does not match")), "{err}");

    let err = verify_tampered(sb, "payload", |c| {
        c.execute("UPDATE audit SET payload = '{}' WHERE seq = ?1", [mid]).unwrap();
    });
    assert!(err.contains(&format!("entry #{mid}: its payload does not match")), "{err}");

    let err = verify_tampered(sb, "delete", |c| {
        c.execute("DELETE FROM audit WHERE seq = ?1", [mid]).unwrap();
    });
    assert!(err.contains(&format!("entry #{mid}: missing")), "{err}");

    let err = verify_tampered(sb, "reorder", |c| {
        c.execute_batch(&format!(
            "UPDATE audit SET seq = -1 WHERE seq = {mid}; UPDATE audit SET seq = {mid} WHERE seq = {next}; UPDATE audit SET seq = {next} WHERE seq = -1;",
            next = mid + 1
        ))
        .unwrap();
    });
    assert!(err.contains(&format!("entry #{mid}:")), "{err}");

    let err = verify_tampered(sb, "truncate", |c| {
        c.execute("DELETE FROM audit WHERE seq > ?1", [n - 2]).unwrap();
    });
    assert!(err.contains(&format!("entry #{}: missing: the log ends at #{} but its signed head is #{n}", n - 1, n - 2)), "{err}");

    // A forged signature: a valid-looking signature by a key the keyring does not hold.
    let err = verify_tampered(sb, "forge", |c| {
        let sig = format!("{}:{}", "0123456789abcdef", "ab".repeat(64));
        c.execute("UPDATE audit SET signature = ?1 WHERE seq = ?2", rusqlite::params![sig, mid]).unwrap();
    });
    assert!(err.contains(&format!("entry #{mid}: signed with key 0123456789abcdef, which the keyring does not hold")), "{err}");

    // A signature moved from another entry: right key, wrong content.
    let err = verify_tampered(sb, "moved", |c| {
        let sigs: Vec<(i64, String)> = c
            .prepare("SELECT seq, signature FROM audit ORDER BY seq")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = |s: &str| s.split(':').next().unwrap().to_string();
        let (a, b) = sigs
            .iter()
            .enumerate()
            .find_map(|(i, x)| sigs[i + 1..].iter().find(|y| key(&y.1) == key(&x.1)).map(|y| (x.clone(), y.0)))
            .expect("two entries signed with one key");
        c.execute("UPDATE audit SET signature = ?1 WHERE seq = ?2", rusqlite::params![a.1, b]).unwrap();
    });
    assert!(err.contains("the signature does not verify"), "{err}");

    // Swapping bob's key in the keyring: his entries no longer verify.
    let ring = sb.path("config/suture/keyring.toml");
    let saved = std::fs::read_to_string(&ring).unwrap();
    let bob_key = saved.split("name = \"bob\"\ned25519 = \"").nth(1).unwrap()[..64].to_string();
    let mallory = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    std::fs::write(&ring, saved.replace(&bob_key, mallory)).unwrap();
    let err = refused(&as_user(sb, None, &["audit", "verify"]));
    let first_bob: i64 =
        Connection::open(store(sb)).unwrap().query_row("SELECT min(seq) FROM audit WHERE actor = 'bob'", [], |r| r.get(0)).unwrap();
    assert!(err.contains(&format!("entry #{first_bob}: signed with key")) && err.contains("which the keyring does not hold"), "{err}");
    std::fs::write(&ring, saved).unwrap();
    ok(&as_user(sb, None, &["audit", "verify"]));

    // Export: JSON lines, from a sequence number on.
    let out = ok(&as_user(sb, None, &["audit", "export", "--since", &format!("#{}", n - 1)]));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["seq"], n - 1);
    assert!(lines[1]["signature"].as_str().unwrap().contains(':'));
    let err = as_user(sb, None, &["audit", "export", "--since", "yesterday"]);
    assert_eq!(err.status.code(), Some(2), "{}", text(&err.stderr));
}

#[test]
fn the_proposer_of_a_hand_written_patch_cannot_approve_it_and_env_users_need_permission() {
    let sb = Sandbox::new();
    let diff = repo_root().join("fixtures/demo/patches/pricing-null-discount.diff");
    // bob (a reviewer) proposes by hand: he is the proposer.
    let out = ok(&as_user(&sb, Some("bob"), &["verify", diff.to_str().unwrap(), "--json"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = v["patch"].as_str().unwrap_or_else(|| panic!("{out}")).to_string();
    let err = refused(&as_user(&sb, Some("bob"), &["approve", &id, "--comment", "mine"]));
    assert!(err.contains("bob proposed this patch and cannot approve it"), "{err}");
    // carol, a commander, may.
    ok(&as_user(&sb, Some("carol"), &["approve", &id, "--comment", "reviewed"]));

    // Outside the demo, SUTURE_USER is refused unless the config allows it.
    let cfg = sb.write("work/suture.toml", "[demo]\nenabled = false\n[store]\npath = \"own.db\"\n");
    let o = as_user(&sb, Some("carol"), &["--config", cfg.to_str().unwrap(), "whoami"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(text(&o.stderr).contains("SUTURE_USER names carol") && text(&o.stderr).contains("allow_env_user"), "{}", text(&o.stderr));
    let cfg = sb.write("work/allowed.toml", "[demo]\nenabled = false\n[store]\npath = \"own.db\"\n[identity]\nallow_env_user = true\n");
    let out = ok(&as_user(&sb, Some("carol"), &["--config", cfg.to_str().unwrap(), "whoami"]));
    assert!(out.starts_with("carol (engineer, from SUTURE_USER)"), "{out}");
    // Each identity signs with its own key, kept private.
    use std::os::unix::fs::PermissionsExt;
    for who in ["bob", "carol"] {
        let key = sb.path(&format!("config/suture/keys/{who}.ed25519"));
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "{who}");
    }
}
