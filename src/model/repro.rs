//! Repro specs (how to make an incident's failure happen on demand) and runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Millis;

/// What a repro's failure must look like to count as the incident's failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ReproExpectation {
    /// `"nonzero"` (any failing exit) or an exact exit code as text.
    #[serde(default = "nonzero")]
    pub exit: String,
    pub exception_type: Option<String>,
    pub message_contains: Option<String>,
    pub function: Option<String>,
    pub module: Option<String>,
}

fn nonzero() -> String {
    "nonzero".into()
}

/// A repro spec, as written in `repros/<id>.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReproSpec {
    pub id: String,
    pub title: String,
    /// argv; run with the workspace (service root) as working directory.
    pub command: Vec<String>,
    #[serde(default)]
    pub fixtures: Vec<String>,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub expect: ReproExpectation,
}

fn default_timeout() -> u64 {
    30
}

/// How one run of a repro compares with the incident's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReproVerdict {
    /// Failed the way the incident fails.
    Reproduced,
    /// Ran and succeeded.
    Passed,
    /// Failed, but not with the incident's signature.
    DifferentFailure,
    /// Could not be judged: timeout, killed, could not start.
    Error,
}

/// One recorded run of a repro spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReproRun {
    pub spec_id: String,
    pub incident_id: Option<String>,
    /// Base revision or patch digest the run was made against.
    pub subject: String,
    pub started: Millis,
    pub duration_ms: u64,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub verdict: ReproVerdict,
    /// Where the captured output is kept (a log reference in the store).
    pub log_ref: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_with_defaults_and_rejects_unknown_keys() {
        let spec: ReproSpec = toml::from_str(
            r#"
id = "x"
title = "t"
command = ["python3", "r.py"]
[expect]
exception_type = "TypeError"
"#,
        )
        .unwrap();
        assert_eq!(spec.timeout_secs, 30);
        assert_eq!(spec.expect.exit, "nonzero");
        let err = toml::from_str::<ReproSpec>("id='x'\ntitle='t'\ncommand=[]\ncomand=[]\n[expect]\n").unwrap_err();
        assert!(err.to_string().contains("comand"), "{err}");
    }
}
