//! `suture serve --otlp`: the real binary, real HTTP.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Stdio};

use common::{Sandbox, repo_root, text};

/// A running `suture serve`, stopped (killed) when dropped.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    url: String,
}

impl Server {
    fn start(sb: &Sandbox, store: &str) -> Server {
        let mut child = sb
            .cmd()
            .args(["--store", store, "serve", "--otlp", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        if line.is_empty() {
            let mut err = String::new();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            panic!("serve did not start: {err}");
        }
        let addr = line
            .strip_prefix("listening on http://")
            .and_then(|rest| rest.strip_suffix(" (OTLP/HTTP logs, JSON)\n"))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        assert!(!addr.ends_with(":0"), "the real port is printed: {addr}");
        Server { url: format!("http://{addr}/v1/logs"), child, stdout }
    }

    /// SIGTERM, then the exit status and the rest of stdout.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        let killed = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap(), rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Incidents in the store and the events they count.
fn incidents(sb: &Sandbox, store: &str) -> (usize, u64) {
    let out = sb.run(&["--store", store, "incidents", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    (list.len(), list.iter().map(|i| i["count"].as_u64().unwrap()).sum())
}

async fn post(url: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
    let resp = reqwest::Client::new().post(url).header("content-type", content_type).body(body).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn serve_ingests_otlp_json_over_http_and_refuses_what_it_cannot_read() {
    let sb = Sandbox::new();
    let store = sb.path("data/otlp.db");
    let store = store.to_str().unwrap();
    let server = Server::start(&sb, store);
    assert_eq!(incidents(&sb, store), (0, 0));

    let demo = std::fs::read(repo_root().join("fixtures/demo/events/otlp-logs.json")).unwrap();
    let (status, body) = post(&server.url, "application/json", demo.clone()).await;
    assert_eq!((status, body.as_str()), (200, "{}"));
    let (incs, events) = incidents(&sb, store);
    assert_eq!(incs, 3, "the demo file holds the three bugs");
    assert_eq!(events, 600, "stored before the response came back");

    let (status, _) = post(&server.url, "application/json; charset=utf-8", demo).await;
    assert_eq!(status, 200);
    assert_eq!(incidents(&sb, store), (3, 600), "the same records again are not counted twice");

    let (status, body) = post(&server.url, "application/x-protobuf", vec![0x0a, 0x00]).await;
    assert_eq!(status, 415);
    assert!(body.contains("accepts only OTLP/JSON") && body.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/json"), "{body}");

    let (status, body) = post(&server.url, "application/json", b"{\"resourceLogs\": [garbage".to_vec()).await;
    assert_eq!(status, 400);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["message"].as_str().unwrap().contains("not an OTLP/JSON logs request"), "{body}");

    let resp = reqwest::get(&server.url).await.unwrap();
    assert_eq!(resp.status().as_u16(), 405);

    let (status, rest) = server.stop();
    assert!(status.success(), "a graceful stop: {status:?}");
    assert!(rest.contains("stopped after 2 requests accepted: 600 events ingested, 600 already stored"), "{rest}");
    assert_eq!(incidents(&sb, store), (3, 600));
}

#[test]
fn serve_names_an_address_it_cannot_listen_on() {
    let sb = Sandbox::new();
    let store = sb.path("data/otlp.db");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = sb.run(&["--store", store.to_str().unwrap(), "serve", "--otlp", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");

    let out = sb.run(&["--store", store.to_str().unwrap(), "serve", "--otlp", "4318"]);
    assert_eq!(out.status.code(), Some(2), "a malformed address is a usage error");
    assert!(text(&out.stderr).contains("is not HOST:PORT"), "{}", text(&out.stderr));
}
