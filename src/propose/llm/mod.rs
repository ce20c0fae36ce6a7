//! The LLM proposer's client: asks a language model for a patch.
//!
//! Two wire protocols are spoken, both streaming over server-sent events:
//!
//! - [`Api::OpenAi`]: `POST {base}/v1/chat/completions`, as served by OpenAI
//!   and by local OpenAI-compatible servers (vLLM, llama.cpp's `llama-server`,
//!   Ollama). The key is optional, since local servers need none.
//! - [`Api::Anthropic`]: `POST {base}/v1/messages` (Anthropic Messages API).
//!   A key is required.
//!
//! [`Client::complete`] sends a [`Prompt`] and hands every piece of text to a
//! callback as it arrives (so the console can show the reply live), then
//! returns the whole reply. Connection failures, timeouts and overload
//! statuses are retried with exponential backoff, as long as no text has been
//! shown yet. A server that ignores `stream: true` and answers with one JSON
//! body works too.
//!
//! The key never leaves the client except in its request header: `Debug`
//! prints only whether it is set, and error messages have it blanked out.
//!
//! - [`sse`]: the incremental server-sent-events parser.
//! - [`prompt`]: building the prompt, and finding the diff in the reply.

pub mod prompt;
pub mod sse;

mod client;
mod wire;

#[cfg(test)]
mod tests;

use std::fmt;

pub use prompt::{Prompt, PromptContext, Snippet, extract_diff};
pub use sse::{SseEvent, SseParser};

use crate::config::LlmCfg;

/// Which wire protocol a backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI chat completions, and the servers compatible with it.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

impl Api {
    /// The name used in configuration (`propose.<name>`) and in logs.
    pub fn name(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A configured connection to one LLM backend; cheap to share by reference.
/// Built by [`Client::new`] or [`Client::with_key`]; see `client.rs`.
pub struct Client {
    api: Api,
    cfg: LlmCfg,
    /// The API key; never printed.
    key: Option<String>,
    http: reqwest::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_some() { "set" } else { "unset" };
        f.debug_struct("Client")
            .field("api", &self.api)
            .field("base_url", &self.cfg.base_url)
            .field("model", &self.cfg.model)
            .field("key_env", &self.cfg.key_env)
            .field("key", &format_args!("{key}"))
            .finish_non_exhaustive()
    }
}

/// Why a completion failed. Every message is one line and never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// Nothing answered, or the connection broke: the backend at the base
    /// URL is down or cannot be reached. Holds the URL and the cause.
    #[error("the LLM backend is down or unreachable: {0}")]
    Unreachable(String),
    /// No complete answer within this many seconds (`timeout_secs`).
    #[error("the LLM backend did not answer within {0} s (timeout_secs)")]
    Timeout(u64),
    /// HTTP 429 on every try.
    #[error("the LLM backend is rate-limiting requests{}", retry_hint(.retry_after_secs))]
    RateLimited { retry_after_secs: Option<u64> },
    /// Any other unsuccessful status; `body` is a short clean excerpt.
    #[error("the LLM backend answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    /// The reply could not be read (bad JSON, missing fields).
    #[error("the LLM reply is malformed: {0}")]
    Malformed(String),
    /// An error object inside a successful response, such as Anthropic's
    /// `overloaded_error` event in the middle of a stream.
    #[error("the LLM backend reported {kind}: {message}")]
    Remote { kind: String, message: String },
    /// The configuration does not allow a request.
    #[error("LLM configuration: {0}")]
    Config(String),
}

fn retry_hint(retry_after_secs: &Option<u64>) -> String {
    match retry_after_secs {
        Some(secs) => format!(" (it asked to wait {secs} s)"),
        None => String::new(),
    }
}

impl LlmError {
    /// The same error with every occurrence of `secret` blanked out (a
    /// server may echo the key it was sent in an error body).
    fn redacted(self, secret: Option<&str>) -> LlmError {
        let Some(secret) = secret.filter(|s| !s.is_empty()) else { return self };
        let clean = |text: String| text.replace(secret, "[redacted]");
        match self {
            LlmError::Unreachable(text) => LlmError::Unreachable(clean(text)),
            LlmError::Http { status, body } => LlmError::Http { status, body: clean(body) },
            LlmError::Malformed(text) => LlmError::Malformed(clean(text)),
            LlmError::Remote { kind, message } => LlmError::Remote { kind: clean(kind), message: clean(message) },
            LlmError::Config(text) => LlmError::Config(clean(text)),
            other @ (LlmError::Timeout(_) | LlmError::RateLimited { .. }) => other,
        }
    }
}

/// `text` on one line: whitespace runs become one space, control characters
/// go, and at most `max_chars` characters are kept (the last being `…` when
/// something was cut).
fn excerpt(text: &str, max_chars: usize) -> String {
    let clean: String = text.split_whitespace().collect::<Vec<_>>().join(" ").chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= max_chars {
        return clean;
    }
    let mut cut: String = clean.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}
