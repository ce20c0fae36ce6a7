mod common;

use common::{Sandbox, text};

#[test]
fn version_prints_the_package_version() {
    let out = Sandbox::new().run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).trim(), format!("suture {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_misspelt_key_in_the_project_file_exits_2_naming_file_line_and_key() {
    let sb = Sandbox::new();
    sb.write("work/suture.toml", "# my config\n[ui]\ntheme = \"light\"\ncolr = \"none\"\n");
    let out = sb.run(&["config", "show"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("suture.toml:4:1: `ui.colr`: unknown field `colr`"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn a_bad_value_in_the_user_file_and_an_explicit_config_are_named_too() {
    let sb = Sandbox::new();
    let user = sb.write("config/suture/suture.toml", "[ui]\nframe_ms = \"fast\"\n");
    let out = sb.run(&["config", "show"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("{}:2:", user.display())) && err.contains("`ui.frame_ms`"), "{err}");

    let sb = Sandbox::new();
    let out = sb.run(&["--config", "missing.toml", "config", "show"]);
    assert_eq!(out.status.code(), Some(2), "a missing explicit file is a configuration error");
    assert!(text(&out.stderr).contains("missing.toml: cannot read"), "{}", text(&out.stderr));
}

#[test]
fn config_show_prints_each_value_with_its_source() {
    let sb = Sandbox::new();
    sb.write("config/suture/suture.toml", "[ui]\ntheme = \"light\"\n");
    let project = sb.write("work/other.toml", "[ui]\npoll_ms = 500\n");
    let out = sb
        .cmd()
        .args(["--config", project.to_str().unwrap(), "--read-only", "config", "show"])
        .env("SUTURE_UI__FRAME_MS", "33")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(shown.contains("theme = \"light\"  # user file"), "{shown}");
    assert!(shown.contains(&format!("poll_ms = 500  # project file {}", project.display())), "{shown}");
    assert!(shown.contains("frame_ms = 33  # environment SUTURE_UI__FRAME_MS"), "{shown}");
    assert!(shown.contains("read_only = true  # flag --read-only"), "{shown}");
    assert!(shown.contains("color = \"auto\"  # built-in default"), "{shown}");
}

#[test]
fn a_bad_environment_variable_exits_2_naming_it() {
    let sb = Sandbox::new();
    let out = sb.cmd().args(["config", "show"]).env("SUTURE_UI__THEMES", "x").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("environment SUTURE_UI__THEMES"), "{}", text(&out.stderr));
}

#[test]
fn an_unknown_key_binding_command_exits_2() {
    let sb = Sandbox::new();
    sb.write("work/suture.toml", "[keys]\nquitt = [\"x\"]\n");
    let out = sb.run(&["keys"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("keys.quitt: no such command"), "{}", text(&out.stderr));
}

#[test]
fn keys_prints_the_binding_table() {
    let out = Sandbox::new().run(&["keys"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("| `?` `f1` | show all keys |"));
}

#[test]
fn an_empty_store_lists_no_incidents_and_demo_reset_refuses_a_real_store() {
    let sb = Sandbox::new();
    let store = sb.path("data/real.db");
    let out = sb.run(&["--store", store.to_str().unwrap(), "incidents"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "No incidents.");
    let out = sb.run(&["--store", store.to_str().unwrap(), "incidents", "--json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = sb.run(&["--store", store.to_str().unwrap(), "demo", "--reset"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not the demo's store"), "{}", text(&out.stderr));
}

#[test]
fn the_demo_world_loads_on_first_use_and_resets_on_demand() {
    let sb = Sandbox::new();
    let out = sb.run(&["incidents"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert_eq!(listing.lines().count(), 9, "a header and the demo's 8 incidents:\n{listing}");
    assert!(listing.lines().nth(1).unwrap().contains("[new] KeyError: 'EU-LEGACY'"), "{listing}");
    assert!(sb.path("data/suture/demo.db").exists(), "the demo gets its own store in the XDG data dir");

    let out = sb.run(&["incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let total: u64 = v.as_array().unwrap().iter().map(|i| i["count"].as_u64().unwrap()).sum();
    assert_eq!(total, 5600, "5,000 Sentry events and 600 OTLP log records");

    let out = sb.run(&["demo", "--reset"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("5600 events ingested, 0 rejected, 8 incidents"), "{}", text(&out.stdout));
    let out = sb.run(&["incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 8, "a reset replaces the demo, it does not add to it");
}

#[test]
fn raw_user_identifiers_never_reach_the_store() {
    let sb = Sandbox::new();
    assert!(sb.run(&["incidents"]).status.success());
    let db = std::fs::read(sb.path("data/suture/demo.db")).unwrap();
    let wal = std::fs::read(sb.path("data/suture/demo.db-wal")).unwrap_or_default();
    for needle in ["@example.com", "@mail.example.org", "u-00130"] {
        let found = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle.as_bytes());
        assert!(!found(&db) && !found(&wal), "{needle} reached the store file");
    }
}

#[test]
fn ingest_streams_a_file_and_reports_ingested_and_rejected_with_reasons() {
    let sb = Sandbox::new();
    let store = sb.path("data/mine.db");
    let good = |id: &str, email: &str| {
        format!(
            r#"{{"event_id":"{id}","timestamp":"2026-11-20T10:00:00Z","user":{{"email":"{email}"}},"exception":{{"values":[{{"type":"ValueError","value":"bad card 4111 1111 1111 1111 from {email}","stacktrace":{{"frames":[{{"module":"svc.pay","function":"charge","in_app":true}}]}}}}]}}}}"#
        )
    };
    let input =
        [good("e1", "zoe@corp.example"), "{\"event_id\":".to_string(), good("e2", "max@corp.example"), "[1]".into(), "\u{1b}[2J".into()]
            .join("\n");
    let file = sb.write("work/events.jsonl", &input);
    let out = sb.run(&["--store", store.to_str().unwrap(), "ingest", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.starts_with("2 ingested, 3 rejected into"), "{report}");
    assert!(report.contains("events.jsonl:2: not a Sentry event"), "{report}");
    assert!(report.contains("events.jsonl:5:"), "{report}");
    assert!(!report.contains('\u{1b}'), "escape sequences from the input are inert");
    let again = sb.run(&["--store", store.to_str().unwrap(), "ingest", file.to_str().unwrap()]);
    assert!(text(&again.stdout).contains("2 already stored"), "{}", text(&again.stdout));
    let list = sb.run(&["--store", store.to_str().unwrap(), "incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v[0]["count"], 2);
    assert_eq!(v[0]["users"], 2);
    // Nothing raw reaches the store file.
    let db = [std::fs::read(&store).unwrap(), std::fs::read(sb.path("data/mine.db-wal")).unwrap_or_default()].concat();
    for raw in ["zoe@corp.example", "max@corp.example", "4111 1111"] {
        assert!(!db.windows(raw.len()).any(|w| w == raw.as_bytes()), "{raw} reached the store");
    }
}

#[test]
fn ingest_of_a_missing_file_fails_naming_it() {
    let sb = Sandbox::new();
    let store = sb.path("data/mine.db");
    let out = sb.run(&["--store", store.to_str().unwrap(), "ingest", "nope.jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope.jsonl"), "{}", text(&out.stderr));
}

#[test]
fn incident_shows_what_the_view_shows_with_source_from_the_demo_tree() {
    let sb = Sandbox::new();
    let list = sb.run(&["incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let id = v[0]["id"].as_str().unwrap().to_string();
    let out = sb.run(&["incident", &id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    for want in [
        format!("{id}  KeyError: 'EU-LEGACY'"),
        "status      open · new since deploy".into(),
        "service     shop".into(),
        "score       31.0 = users 18.2 + last hour 7.8 + new since deploy 5.0 + regression 0.0".into(),
        "KeyError: 'EU-LEGACY' (unhandled)".into(),
        "  app/tax.py:18 in legacy_tax\n      rate = LEGACY_RATES[code]    (tree)".into(),
        "tenants   acme, globex, stark".into(),
        "flags     legacy-tax-rounding=on".into(),
        "Why grouped (suture-grouping:1+config:73e0db91)\n  type:KeyError\n".into(),
    ] {
        assert!(shown.contains(&want), "missing {want:?} in:\n{shown}");
    }
    assert!(!shown.contains("threading.py"), "library frames are left out:\n{shown}");
    // Ids are matched without regard to case.
    let lower = sb.run(&["incident", &id.to_lowercase()]);
    assert_eq!(text(&lower.stdout), shown);
}

#[test]
fn incident_json_has_the_incident_and_its_representative_event() {
    let sb = Sandbox::new();
    let list = sb.run(&["incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let id = v[0]["id"].as_str().unwrap();
    let out = sb.run(&["incident", id, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["incident"]["id"], id);
    assert_eq!(d["incident"]["count"], 1000);
    let ev = &d["representative_event"];
    assert_eq!(ev["id"], d["incident"]["representative_event"]);
    assert_eq!(ev["exceptions"][0]["kind"], "KeyError");
    assert!(ev["exceptions"][0]["frames"].as_array().unwrap().len() > 3);
}

#[test]
fn an_unknown_incident_exits_1_naming_it() {
    let sb = Sandbox::new();
    let store = sb.path("data/real.db");
    let out = sb.run(&["--store", store.to_str().unwrap(), "incident", "INC-NOPE42"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("no incident `INC-NOPE42`"), "{err}");
    assert!(out.stdout.is_empty());
    let out = sb.run(&["--store", store.to_str().unwrap(), "incident", "INC-\u{1b}[2J", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!text(&out.stderr).contains('\u{1b}'), "the id is echoed inert");
}

#[test]
fn the_readme_keys_table_is_the_generated_one() {
    let out = Sandbox::new().run(&["keys"]);
    let readme = std::fs::read_to_string(common::repo_root().join("README.md")).unwrap();
    assert!(readme.contains(&text(&out.stdout)), "README.md's keys table is stale: paste `suture keys` into it");
}

#[test]
fn ingest_reads_every_format_by_its_first_bytes() {
    let sb = Sandbox::new();
    let store = sb.path("data/formats.db");
    let root = common::repo_root().join("fixtures/demo/events");
    let suture_lines = sb.write(
        "work/mine.jsonl",
        concat!(
            r#"{"timestamp":"2026-11-20T10:00:00Z","service":"shop","message":"timeout after 3001 ms talking to 10.0.0.7"}"#,
            "\n",
            r#"{"timestamp":1795168900000,"service":"shop","message":"timeout after 12 ms talking to 10.0.0.9"}"#,
            "\n"
        ),
    );
    let array = sb.write(
        "work/array.json",
        r#"[{"event_id":"arr-1","timestamp":1.5,"message":"from an array"}, {"event_id":"arr-2","timestamp":2.5,"message":"from an array"}]"#,
    );
    let single =
        sb.write("work/one.json", "{\n  \"event_id\": \"doc-1\",\n  \"timestamp\": 3.5,\n  \"message\": \"one pretty document\"\n}\n");
    let otlp = root.join("otlp-logs.json");
    let out = sb.run(&[
        "--store",
        store.to_str().unwrap(),
        "ingest",
        suture_lines.to_str().unwrap(),
        array.to_str().unwrap(),
        single.to_str().unwrap(),
        otlp.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("605 ingested, 0 rejected"), "{}", text(&out.stdout));
    let list = sb.run(&["--store", store.to_str().unwrap(), "incidents", "--json"]);
    let incidents: serde_json::Value = serde_json::from_str(&text(&list.stdout)).unwrap();
    let titles: Vec<&str> = incidents.as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    // The two timeouts fall together; the array's two events are one incident; the document is one.
    assert_eq!(titles.iter().filter(|t| t.starts_with("timeout after")).count(), 1, "{titles:?}");
    assert_eq!(titles.iter().filter(|t| **t == "from an array").count(), 1, "{titles:?}");
    assert!(titles.contains(&"one pretty document"), "{titles:?}");
    let unknown = sb.write("work/notes.txt", "hello\n");
    let out = sb.run(&["--store", store.to_str().unwrap(), "ingest", unknown.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("notes.txt: not a format suture reads"), "{}", text(&out.stderr));
}

#[test]
fn ingest_follow_picks_up_appended_events_until_stopped() {
    let sb = Sandbox::new();
    let store = sb.path("data/follow.db");
    let feed = sb.write("work/feed.jsonl", "");
    let child = sb
        .cmd()
        .args(["--store", store.to_str().unwrap(), "ingest", "--follow", feed.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let line = r#"{"event_id":"f-1","timestamp":"2026-11-20T10:00:00Z","message":"appended later"}"#;
    std::thread::sleep(std::time::Duration::from_millis(300));
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&feed).unwrap();
        writeln!(f, "{line}").unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let list = sb.run(&["--store", store.to_str().unwrap(), "incidents"]);
        if text(&list.stdout).contains("appended later") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the appended event never reached the store");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    unsafe { libc_kill(child.id() as i32, 15) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("1 ingested, 0 rejected"), "{}", text(&out.stdout));
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn repro_runs_the_top_demo_incident_three_times_in_a_removed_workspace() {
    let sb = Sandbox::new();
    let out = sb.run(&["incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<String> = v.as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
    let out = sb.run(&["repro", &ids[0], "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["spec"], "checkout-legacy-tax");
    assert_eq!(r["verdict"], "reproduced");
    assert_eq!(r["deterministic"], true);
    assert_eq!(r["runs"].as_array().unwrap().len(), 3);
    assert!(r["runs"][0]["stderr"].as_str().unwrap().contains("KeyError: 'EU-LEGACY'"));
    let left = std::fs::read_dir(sb.path("data/suture/workspaces")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the workspace is removed when done");

    // Noise has no spec: said plainly, exit 1.
    let out = sb.run(&["repro", ids.last().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no repro spec matches incident"), "{}", text(&out.stderr));
    let out = sb.run(&["repro", "INC-NOPE"]);
    assert!(text(&out.stderr).contains("no incident or repro spec `INC-NOPE`"), "{}", text(&out.stderr));
}
