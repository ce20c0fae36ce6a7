//! `suture verify` end to end: the real binary, the demo world, patches as
//! diff files and as stored ids, and the faults the gauntlet must survive.

mod common;

use common::{Sandbox, repo_root, text};
use suture::repro::workspace::tree_digest;

fn demo_patch(name: &str) -> String {
    repo_root().join("fixtures/demo/patches").join(name).display().to_string()
}

fn service_digest() -> String {
    tree_digest(&repo_root().join("fixtures/demo/service")).unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

/// The demo's gauntlet without the perf gate (its timings are tested in
/// the library, with wide margins).
fn without_perf(sb: &Sandbox) {
    sb.write(
        "work/suture.toml",
        r#"[verify]
flaky_reruns = 2

[verify.tests]
command = ["python3", "-m", "unittest", "discover", "-s", "tests", "-t", ".", "-v"]
format = "unittest"
rerun = ["python3", "-m", "unittest", "-v", "{test}"]

[[verify.checks]]
name = "lint"
command = ["python3", "tools/lint.py", "app"]
"#,
    );
}

#[test]
fn a_correct_patch_is_verified_and_recorded_and_a_wrong_one_fails_naming_the_step() {
    let before = service_digest();
    let sb = Sandbox::new();
    without_perf(&sb);
    let out = sb.run(&["verify", &demo_patch("pagination-last-page.diff"), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(v["state"], "verified");
    assert_eq!(v["spec"], "pagination-last-page");
    assert!(v["incident"].as_str().unwrap().starts_with("INC-"), "the demo incident is found: {v}");
    assert_eq!(v["proves_fix"], true);
    assert!(v["regression_test"].as_str().unwrap().contains("test_suture_regression_pagination_last_page.py"));
    let id = v["patch"].as_str().unwrap().to_string();

    // Stored: run again by id prefix, as a check; a verified patch keeps
    // the evidence it has.
    let out = sb.run(&["verify", &id[..8]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("✔ (a) repro fails on base") && shown.contains("✔ (c) tests"), "{shown}");
    assert!(shown.contains("- (f) perf gate"), "perf is not configured here: {shown}");
    assert!(shown.contains("state       not recorded: the patch is verified already"), "{shown}");

    let out = sb.run(&["verify", &demo_patch("pricing-ignore-discounts.diff")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "verification failed at step (c) tests: 2 broke: tests.test_catalog_pricing.PricingTest.test_quote_with_a_discount_code"
        ),
        "{err}"
    );
    assert!(text(&out.stdout).contains("state       failed"));
    // A failed patch may be verified again, and is recorded again.
    let failed: serde_json::Value = json(&sb.run(&["verify", &demo_patch("pricing-ignore-discounts.diff"), "--json"]));
    assert_eq!(failed["state"], "failed");
    assert_eq!(failed["recorded"], true);

    let left = std::fs::read_dir(sb.path("data/suture/workspaces")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "workspaces are removed");
    assert_eq!(service_digest(), before, "the user's tree is byte-for-byte unchanged");
}

#[test]
fn a_patch_that_does_not_apply_and_bad_input_are_clear_errors() {
    let before = service_digest();
    let sb = Sandbox::new();
    without_perf(&sb);
    let out = sb.run(&["verify", &demo_patch("pricing-stale.diff")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("step (b)") && err.contains("the patch does not apply") && err.contains("app/pricing.py"), "{err}");

    let out = sb.run(&["verify", "no-such-thing.diff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no patch `no-such-thing.diff`"), "{}", text(&out.stderr));

    let bin = sb.write("work/binary.diff", "");
    std::fs::write(&bin, b"\xff\xfe\x00garbage").unwrap();
    let out = sb.run(&["verify", bin.to_str().unwrap(), "--repro", "pricing-null-discount"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not UTF-8 text"), "{}", text(&out.stderr));

    let out = sb.run(&["verify", &demo_patch("pricing-null-discount.diff"), "--repro", "nope"]);
    assert!(text(&out.stderr).contains("--repro nope: no repro spec or incident by that name"), "{}", text(&out.stderr));
    assert_eq!(service_digest(), before);
}

/// Runs `suture verify` with the workspaces directory on a tiny file
/// system of its own (a tmpfs in a private mount namespace).
fn verify_on_small_disk(sb: &Sandbox, size: &str, args: &[&str]) -> std::process::Output {
    let ws = sb.path("data/suture/workspaces");
    std::fs::create_dir_all(&ws).unwrap();
    let script = "mount -t tmpfs -o size=\"$1\" suture-test \"$2\" && shift 2 && exec \"$@\"";
    let c = sb.cmd();
    let program = c.get_program().to_owned();
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["--user", "--map-root-user", "--mount", "--propagation", "private", "sh", "-c", script, "sh", size])
        .arg(&ws)
        .arg(program)
        .args(args);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.current_dir(c.get_current_dir().unwrap());
    cmd.output().unwrap()
}

#[test]
fn a_full_disk_in_the_workspace_is_named() {
    let before = service_digest();
    let sb = Sandbox::new();
    without_perf(&sb);
    // Too small for even one copy of the service.
    let out = verify_on_small_disk(&sb, "48k", &["verify", &demo_patch("pricing-null-discount.diff")]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("the verification could not start: making the") && err.contains("No space left on device"), "{err}");

    // Room for the two copies, not for what the repro writes.
    sb.write(
        "work/specs/fill.toml",
        "id = \"fill\"\ntitle = \"fills the disk\"\ncommand = [\"sh\", \"-c\", \"head -c 50000000 /dev/zero > big && python3 repro/replay.py repro/cases/pricing_no_discount.json\"]\n[expect]\nexception_type = \"TypeError\"\n",
    );
    let cfg = std::fs::read_to_string(sb.path("work/suture.toml")).unwrap();
    sb.write("work/suture.toml", &format!("[repro]\nspecs = \"specs\"\n\n{cfg}"));
    let out = verify_on_small_disk(&sb, "600k", &["verify", &demo_patch("pricing-null-discount.diff"), "--repro", "fill"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("step (a)") && err.contains("the workspace's disk is full"), "{err}\n{}", text(&out.stdout));
    assert_eq!(service_digest(), before);
}
