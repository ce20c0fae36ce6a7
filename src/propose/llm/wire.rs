//! The JSON on the wire: request bodies, stream events and whole replies of
//! both APIs. Replies are read as loose `serde_json::Value`s, so fields a
//! server adds or leaves out (`choices: null` on a usage chunk) do not matter.

use serde_json::{Value, json};

use super::prompt::Prompt;
use super::sse::SseEvent;
use super::{Api, LlmError, excerpt};

/// Characters of offending input quoted in a `Malformed` message.
const QUOTE_CHARS: usize = 120;
/// Characters of a server's error message kept.
const MESSAGE_CHARS: usize = 300;

/// What one stream event means for the reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// More reply text (never empty).
    Text(String),
    /// The reply is complete.
    Done,
    /// Bookkeeping (role, usage, ping, block boundaries): nothing to do.
    Nothing,
}

/// The streaming request body for `api`.
pub(super) fn request_body(api: Api, model: &str, max_tokens: u32, prompt: &Prompt) -> Value {
    match api {
        Api::OpenAi => json!({
            "model": model,
            "messages": [
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            "stream": true,
            "max_tokens": max_tokens,
        }),
        Api::Anthropic => json!({
            "model": model,
            "max_tokens": max_tokens,
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
            "stream": true,
        }),
    }
}

/// Reads one server-sent event of `api`'s stream.
pub(super) fn decode_event(api: Api, event: &SseEvent) -> Result<Step, LlmError> {
    match api {
        Api::OpenAi => openai_event(event),
        Api::Anthropic => anthropic_event(event),
    }
}

/// A `chat.completion.chunk`, `[DONE]`, or an `{"error": …}` object.
fn openai_event(event: &SseEvent) -> Result<Step, LlmError> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Ok(Step::Done);
    }
    if data.is_empty() {
        return Ok(Step::Nothing);
    }
    let value = parse_json(data, "a chat.completion.chunk")?;
    check_error_field(&value)?;
    let text = value.pointer("/choices/0/delta/content").and_then(Value::as_str);
    Ok(text_step(text))
}

/// An Anthropic Messages stream event; its kind comes from the `event:`
/// line, or from the data's `type` when that line is missing.
fn anthropic_event(event: &SseEvent) -> Result<Step, LlmError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Step::Nothing);
    }
    let value = parse_json(data, "an Anthropic stream event")?;
    let kind = event.event.as_deref().or_else(|| value.get("type").and_then(Value::as_str)).unwrap_or("");
    match kind {
        "content_block_delta" if value["delta"]["type"] == "text_delta" => Ok(text_step(value["delta"]["text"].as_str())),
        "content_block_start" if value["content_block"]["type"] == "text" => Ok(text_step(value["content_block"]["text"].as_str())),
        "message_stop" => Ok(Step::Done),
        "error" => Err(remote_error(value.get("error").unwrap_or(&value))),
        _ => Ok(Step::Nothing),
    }
}

/// A whole (non-streamed) reply: an OpenAI chat completion or an Anthropic
/// message, or an error object.
pub(super) fn decode_full(api: Api, body: &[u8]) -> Result<String, LlmError> {
    let text = String::from_utf8_lossy(body);
    let value = parse_json(text.trim(), "the reply body")?;
    check_error_field(&value)?;
    let reply = match api {
        Api::OpenAi => value.pointer("/choices/0/message/content").and_then(Value::as_str).map(str::to_owned),
        Api::Anthropic => value.get("content").and_then(Value::as_array).map(|blocks| anthropic_text(blocks)),
    };
    reply.ok_or_else(|| {
        let wanted = match api {
            Api::OpenAi => "choices[0].message.content",
            Api::Anthropic => "a content array",
        };
        LlmError::Malformed(format!("the reply body has no {wanted}: {}", excerpt(&text, QUOTE_CHARS)))
    })
}

/// The text blocks of an Anthropic message, joined.
fn anthropic_text(blocks: &[Value]) -> String {
    blocks.iter().filter(|block| block["type"] == "text").filter_map(|block| block["text"].as_str()).collect()
}

fn text_step(text: Option<&str>) -> Step {
    match text {
        Some(text) if !text.is_empty() => Step::Text(text.to_owned()),
        _ => Step::Nothing,
    }
}

fn parse_json(data: &str, what: &str) -> Result<Value, LlmError> {
    serde_json::from_str(data).map_err(|e| LlmError::Malformed(format!("{what} is not valid JSON ({e}): {}", excerpt(data, QUOTE_CHARS))))
}

/// An `error` field that is set (not `null`) is the server saying it failed.
fn check_error_field(value: &Value) -> Result<(), LlmError> {
    match value.get("error") {
        Some(error) if !error.is_null() => Err(remote_error(error)),
        _ => Ok(()),
    }
}

/// An error object (`{"type", "message"}` or `{"code", "message"}`) or a
/// bare error string, as `LlmError::Remote`.
fn remote_error(error: &Value) -> LlmError {
    let kind = match (&error["type"], &error["code"]) {
        (Value::String(kind), _) => kind.clone(),
        (_, Value::String(code)) => code.clone(),
        (_, Value::Number(code)) => code.to_string(),
        _ => "an error".to_owned(),
    };
    let message = match (error.as_str(), error["message"].as_str()) {
        (Some(text), _) | (None, Some(text)) => text.to_owned(),
        (None, None) => error.to_string(),
    };
    LlmError::Remote { kind: excerpt(&kind, 60), message: excerpt(&message, MESSAGE_CHARS) }
}

/// Whether a `Remote` error of this kind is worth another try.
pub(super) fn remote_is_transient(kind: &str) -> bool {
    matches!(kind, "overloaded_error" | "api_error" | "rate_limit_error" | "server_error")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(text: &str) -> SseEvent {
        SseEvent { event: None, data: text.to_owned() }
    }

    fn named(event: &str, text: &str) -> SseEvent {
        SseEvent { event: Some(event.to_owned()), data: text.to_owned() }
    }

    #[test]
    fn request_bodies() {
        let prompt = Prompt { system: "sys".into(), user: "usr".into() };
        let openai = request_body(Api::OpenAi, "m", 100, &prompt);
        assert_eq!(openai["messages"][0], json!({"role": "system", "content": "sys"}));
        assert_eq!(openai["messages"][1], json!({"role": "user", "content": "usr"}));
        assert_eq!(openai["stream"], true);
        assert_eq!(openai["max_tokens"], 100);
        let anthropic = request_body(Api::Anthropic, "m", 100, &prompt);
        assert_eq!(anthropic["system"], "sys");
        assert_eq!(anthropic["messages"], json!([{"role": "user", "content": "usr"}]));
        assert_eq!(anthropic["stream"], true);
    }

    #[test]
    fn openai_chunks() {
        let chunk = r#"{"object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}"#;
        assert_eq!(openai_event(&data(chunk)).unwrap(), Step::Text("hi".into()));
        let role = r#"{"choices":[{"index":0,"delta":{"role":"assistant"}}]}"#;
        assert_eq!(openai_event(&data(role)).unwrap(), Step::Nothing);
        assert_eq!(openai_event(&data(r#"{"choices":null,"usage":{"total_tokens":3}}"#)).unwrap(), Step::Nothing);
        assert_eq!(openai_event(&data(r#"{"choices":[]}"#)).unwrap(), Step::Nothing);
        assert_eq!(openai_event(&data("[DONE]")).unwrap(), Step::Done);
    }

    #[test]
    fn openai_error_object_and_bad_json() {
        let error = r#"{"error":{"message":"model overloaded","type":"server_error","code":null}}"#;
        assert_eq!(
            openai_event(&data(error)).unwrap_err(),
            LlmError::Remote { kind: "server_error".into(), message: "model overloaded".into() }
        );
        let LlmError::Malformed(message) = openai_event(&data("{oops")).unwrap_err() else { panic!("not Malformed") };
        assert!(message.contains("chat.completion.chunk") && message.contains("{oops"), "{message}");
    }

    #[test]
    fn anthropic_events() {
        let delta = r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"yo"}}"#;
        assert_eq!(anthropic_event(&named("content_block_delta", delta)).unwrap(), Step::Text("yo".into()));
        assert_eq!(anthropic_event(&data(delta)).unwrap(), Step::Text("yo".into()), "kind from the data's type");
        let json_delta = r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}"#;
        assert_eq!(anthropic_event(&named("content_block_delta", json_delta)).unwrap(), Step::Nothing);
        assert_eq!(anthropic_event(&named("ping", r#"{"type":"ping"}"#)).unwrap(), Step::Nothing);
        assert_eq!(anthropic_event(&named("message_stop", r#"{"type":"message_stop"}"#)).unwrap(), Step::Done);
        let error = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            anthropic_event(&named("error", error)).unwrap_err(),
            LlmError::Remote { kind: "overloaded_error".into(), message: "Overloaded".into() }
        );
    }

    #[test]
    fn whole_replies() {
        let openai = br#"{"object":"chat.completion","choices":[{"message":{"role":"assistant","content":"full"}}]}"#;
        assert_eq!(decode_full(Api::OpenAi, openai).unwrap(), "full");
        let anthropic = br#"{"type":"message","content":[{"type":"text","text":"a"},{"type":"tool_use"},{"type":"text","text":"b"}]}"#;
        assert_eq!(decode_full(Api::Anthropic, anthropic).unwrap(), "ab");
        assert!(matches!(decode_full(Api::OpenAi, br#"{"choices":[]}"#), Err(LlmError::Malformed(_))));
        let ollama = br#"{"error":"model 'x' not found"}"#;
        assert_eq!(
            decode_full(Api::OpenAi, ollama).unwrap_err(),
            LlmError::Remote { kind: "an error".into(), message: "model 'x' not found".into() }
        );
    }
}
