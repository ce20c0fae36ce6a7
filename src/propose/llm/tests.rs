//! The client against wiremock servers on loopback: streaming of both APIs,
//! retries, errors, and keeping the key secret.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{Api, Client, LlmError, Prompt};
use crate::config::LlmCfg;

const KEY: &str = "sk-test";
const ANTHROPIC_KEY: &str = "sk-ant-test";
const OPENAI_PATH: &str = "/v1/chat/completions";
const ANTHROPIC_PATH: &str = "/v1/messages";

fn cfg(base_url: String, retries: u32) -> LlmCfg {
    LlmCfg {
        base_url,
        model: "test-model".into(),
        key_env: String::new(),
        timeout_secs: 10,
        retries,
        max_tokens: 256,
        context_bytes: 1_000,
    }
}

fn prompt() -> Prompt {
    Prompt { system: "be brief".into(), user: "fix it".into() }
}

fn openai(server: &MockServer, retries: u32) -> Client {
    Client::with_key(Api::OpenAi, &cfg(server.uri(), retries), Some(KEY.into())).unwrap()
}

fn anthropic(server: &MockServer, retries: u32) -> Client {
    Client::with_key(Api::Anthropic, &cfg(server.uri(), retries), Some(ANTHROPIC_KEY.into())).unwrap()
}

/// A 200 response with `body` as an event stream.
fn sse(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into_bytes(), "text/event-stream")
}

/// An OpenAI stream: a role chunk, one chunk per piece, a usage chunk with
/// `choices: null`, and `[DONE]`.
fn openai_stream(pieces: &[&str]) -> String {
    let chunk = |delta: Value| json!({"id": "c1", "object": "chat.completion.chunk", "model": "test-model", "choices": [{"index": 0, "delta": delta, "finish_reason": null}]});
    let mut body = format!("data: {}\n\n", chunk(json!({"role": "assistant", "content": ""})));
    for piece in pieces {
        body.push_str(&format!("data: {}\n\n", chunk(json!({"content": piece}))));
    }
    let usage = json!({"id": "c1", "object": "chat.completion.chunk", "choices": null, "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}});
    body.push_str(&format!("data: {usage}\n\n"));
    body.push_str("data: [DONE]\n\n");
    body
}

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// An Anthropic stream with every event kind, pings included, CRLF line ends.
fn anthropic_stream(pieces: &[&str]) -> String {
    let mut body = event(
        "message_start",
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "test-model", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
    );
    body.push_str(&event(
        "content_block_start",
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    body.push_str(&event("ping", json!({"type": "ping"})));
    for piece in pieces {
        body.push_str(&event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    body.push_str(&event("content_block_stop", json!({"type": "content_block_stop", "index": 0})));
    body.push_str(&event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 3}}),
    ));
    body.push_str(&event("message_stop", json!({"type": "message_stop"})));
    body.replace('\n', "\r\n")
}

/// Runs one completion and collects what the callback saw.
async fn run(client: &Client) -> (Result<String, LlmError>, Vec<String>) {
    let mut seen = Vec::new();
    let mut on_text = |text: &str| seen.push(text.to_owned());
    let result = client.complete(&prompt(), &mut on_text).await;
    (result, seen)
}

/// Neither the error's message nor its `Debug` holds the key.
fn assert_no_key(error: &LlmError, key: &str) {
    assert!(!error.to_string().contains(key), "{error}");
    assert!(!format!("{error:?}").contains(key), "{error:?}");
}

/// A loopback port where nothing listens any more.
fn dead_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn openai_stream_reaches_the_callback_piece_by_piece() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .and(header("authorization", "Bearer sk-test"))
        .respond_with(sse(openai_stream(&["Hel", "lo, ", "wörld"])))
        .expect(1)
        .mount(&server)
        .await;

    let (result, seen) = run(&openai(&server, 0)).await;
    assert_eq!(result.unwrap(), "Hello, wörld");
    assert_eq!(seen, ["Hel", "lo, ", "wörld"]);

    let requests = server.received_requests().await.unwrap();
    let body: Value = requests[0].body_json().unwrap();
    assert_eq!(
        body,
        json!({
            "model": "test-model",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "fix it"}],
            "stream": true,
            "max_tokens": 256,
        })
    );
}

#[tokio::test]
async fn openai_without_key_and_with_v1_in_the_base_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path(OPENAI_PATH)).respond_with(sse(openai_stream(&["ok"]))).expect(1).mount(&server).await;

    let client = Client::with_key(Api::OpenAi, &cfg(format!("{}/v1/", server.uri()), 0), None).unwrap();
    let (result, _) = run(&client).await;
    assert_eq!(result.unwrap(), "ok");
    let requests = server.received_requests().await.unwrap();
    assert!(requests[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn anthropic_stream_reaches_the_callback_piece_by_piece() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_PATH))
        .and(header("x-api-key", ANTHROPIC_KEY))
        .and(header("anthropic-version", "2023-06-01"))
        .and(body_partial_json(json!({"model": "test-model", "system": "be brief", "stream": true, "max_tokens": 256})))
        .respond_with(sse(anthropic_stream(&["--- a/x", "\n+++ b/x", "\n"])))
        .expect(1)
        .mount(&server)
        .await;

    let (result, seen) = run(&anthropic(&server, 0)).await;
    assert_eq!(result.unwrap(), "--- a/x\n+++ b/x\n");
    assert_eq!(seen, ["--- a/x", "\n+++ b/x", "\n"]);
    let body: Value = server.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(body["messages"], json!([{"role": "user", "content": "fix it"}]));
}

#[tokio::test]
async fn a_plain_json_reply_is_accepted() {
    let server = MockServer::start().await;
    let reply = json!({"object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": "whole reply"}}]});
    Mock::given(method("POST")).and(path(OPENAI_PATH)).respond_with(ResponseTemplate::new(200).set_body_json(reply)).mount(&server).await;

    let (result, seen) = run(&openai(&server, 0)).await;
    assert_eq!(result.unwrap(), "whole reply");
    assert_eq!(seen, ["whole reply"]);
}

#[tokio::test]
async fn rate_limit_is_retried_after_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1").set_body_string("slow down"))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(sse(openai_stream(&["after ", "waiting"])))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;

    let started = Instant::now();
    let (result, seen) = run(&openai(&server, 2)).await;
    assert_eq!(result.unwrap(), "after waiting");
    assert_eq!(seen, ["after ", "waiting"]);
    assert!(started.elapsed() >= Duration::from_millis(900), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn rate_limit_without_retries_left() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "5"))
        .expect(1)
        .mount(&server)
        .await;

    let (result, _) = run(&openai(&server, 0)).await;
    assert_eq!(result.unwrap_err(), LlmError::RateLimited { retry_after_secs: Some(5) });
}

#[tokio::test]
async fn server_error_every_time_gives_up_after_the_retries() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream\u{7} exploded\n\ttrace"))
        .expect(2)
        .mount(&server)
        .await;

    let (result, seen) = run(&openai(&server, 1)).await;
    assert_eq!(result.unwrap_err(), LlmError::Http { status: 500, body: "upstream exploded trace".into() });
    assert!(seen.is_empty());
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_the_echoed_key_is_blanked() {
    let server = MockServer::start().await;
    let body = json!({"error": {"message": "Incorrect API key provided: sk-test", "type": "invalid_request_error"}});
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(body))
        .expect(1)
        .mount(&server)
        .await;

    let (result, _) = run(&openai(&server, 3)).await;
    let error = result.unwrap_err();
    let LlmError::Http { status: 401, body } = &error else { panic!("not HTTP 401: {error:?}") };
    assert!(body.contains("Incorrect API key provided: [redacted]"), "{body}");
    assert!(body.chars().count() <= 300);
    assert_no_key(&error, KEY);
}

#[tokio::test]
async fn malformed_json_in_a_data_line() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(sse("data: {\"choices\": [oops\n\n".into()))
        .expect(1)
        .mount(&server)
        .await;

    let (result, _) = run(&openai(&server, 2)).await;
    let error = result.unwrap_err();
    let LlmError::Malformed(message) = &error else { panic!("not Malformed: {error:?}") };
    assert!(message.contains("[oops"), "{message}");
}

#[tokio::test]
async fn an_error_event_in_an_anthropic_stream() {
    let server = MockServer::start().await;
    let body = event("message_start", json!({"type": "message_start", "message": {"id": "msg_1"}}))
        + &event("error", json!({"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long"}}));
    Mock::given(method("POST")).and(path(ANTHROPIC_PATH)).respond_with(sse(body)).expect(1).mount(&server).await;

    let (result, _) = run(&anthropic(&server, 2)).await;
    assert_eq!(result.unwrap_err(), LlmError::Remote { kind: "invalid_request_error".into(), message: "prompt is too long".into() });
}

#[tokio::test]
async fn an_overloaded_event_before_any_text_is_retried() {
    let server = MockServer::start().await;
    let overloaded = event("error", json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}));
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_PATH))
        .respond_with(sse(overloaded))
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(ANTHROPIC_PATH))
        .respond_with(sse(anthropic_stream(&["fine"])))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;

    let (result, _) = run(&anthropic(&server, 1)).await;
    assert_eq!(result.unwrap(), "fine");
}

#[tokio::test]
async fn a_server_that_is_down_is_unreachable() {
    let base = format!("http://127.0.0.1:{}", dead_port());
    let client = Client::with_key(Api::OpenAi, &cfg(base.clone(), 0), Some(KEY.into())).unwrap();

    let (result, _) = run(&client).await;
    let error = result.unwrap_err();
    let LlmError::Unreachable(detail) = &error else { panic!("not Unreachable: {error:?}") };
    assert!(detail.contains(&base), "{detail}");
    assert!(error.to_string().contains("down or unreachable"), "{error}");
    assert!(!error.to_string().contains('\n'));
    assert_no_key(&error, KEY);
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .respond_with(sse(openai_stream(&["late"])).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;

    let config = LlmCfg { timeout_secs: 1, ..cfg(server.uri(), 0) };
    let client = Client::with_key(Api::OpenAi, &config, None).unwrap();
    let (result, seen) = run(&client).await;
    assert_eq!(result.unwrap_err(), LlmError::Timeout(1));
    assert!(seen.is_empty());
}

#[tokio::test]
async fn debug_never_shows_the_key() {
    let server = MockServer::start().await;
    let with_key = format!("{:?}", openai(&server, 0));
    assert!(with_key.contains("key: set"), "{with_key}");
    assert!(!with_key.contains(KEY), "{with_key}");
    let other = format!("{:?}", anthropic(&server, 0));
    assert!(!other.contains(ANTHROPIC_KEY), "{other}");
    let without = Client::with_key(Api::OpenAi, &cfg(server.uri(), 0), None).unwrap();
    assert!(format!("{without:?}").contains("key: unset"));
}

#[tokio::test]
async fn new_reads_the_key_from_the_named_variable() {
    const VAR: &str = "SUTURE_LLM_TESTS_KEY_5E0B1C";
    // SAFETY: no other code reads or writes this uniquely named variable.
    unsafe { std::env::set_var(VAR, "sk-from-env") };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(OPENAI_PATH))
        .and(header("authorization", "Bearer sk-from-env"))
        .respond_with(sse(openai_stream(&["env"])))
        .expect(1)
        .mount(&server)
        .await;

    let config = LlmCfg { key_env: VAR.into(), ..cfg(server.uri(), 0) };
    let client = Client::new(Api::OpenAi, &config).unwrap();
    assert!(client.has_key());
    assert!(!format!("{client:?}").contains("sk-from-env"));
    let (result, _) = run(&client).await;
    assert_eq!(result.unwrap(), "env");
}

#[test]
fn anthropic_without_a_key_names_the_variable() {
    const VAR: &str = "SUTURE_LLM_TESTS_UNSET_5E0B1C";
    let config = LlmCfg { key_env: VAR.into(), ..cfg("https://api.anthropic.com".into(), 0) };
    let error = Client::new(Api::Anthropic, &config).unwrap_err();
    assert!(error.contains(VAR), "{error}");

    let no_env = LlmCfg { key_env: String::new(), ..config.clone() };
    let error = Client::new(Api::Anthropic, &no_env).unwrap_err();
    assert!(error.contains("propose.anthropic.key_env"), "{error}");

    // OpenAI-compatible servers do without.
    let client = Client::new(Api::OpenAi, &LlmCfg { key_env: VAR.into(), ..cfg("http://localhost:11434".into(), 0) }).unwrap();
    assert!(!client.has_key());
}
