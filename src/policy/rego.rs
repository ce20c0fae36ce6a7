//! Custom policies in Rego, evaluated with regorus (OPA's language).
//!
//! A policy file declares `package suture` and may define:
//! - `deny`: a set of strings, each a reason to reject the patch;
//! - `tier`: a number 0–3 that replaces the computed tier.
//!
//! The input document is the assessment so far, as JSON:
//!
//! | field | meaning |
//! | --- | --- |
//! | `patch.files[]` | `{path, new, deleted, hunks, added: [line…], removed: [line…]}` |
//! | `patch.paths` | every path the patch writes |
//! | `patch.changed_lines` | lines added plus lines removed |
//! | `failure_class` | the template's class (`null-guard`, `off-by-one`, …) or null |
//! | `proposer` | `suture/templates`, `suture/llm:<model>` or a person |
//! | `from_llm` | true for a language model's patch |
//! | `locality` | `same_function`, `same_file`, `other_files` or `unknown` |
//! | `coverage` | the fraction of changed lines the tests run, or null |
//! | `score`, `tier`, `reasons` | the built-in rules' risk score, tier and reasons |
//! | `rejections` | the built-in rules' reasons to reject |
//!
//! For example, to keep every change under `app/checkout` at tier 1:
//!
//! ```rego
//! package suture
//! import rego.v1
//! tier := 1 if { some p in input.patch.paths; startswith(p, "app/checkout") }
//! ```

use regorus::Engine;

use crate::model::Tier;

/// Loaded Rego policies, ready to evaluate (each evaluation uses a clone).
#[derive(Clone)]
pub struct Rules {
    engine: Engine,
}

/// What the Rego rules decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Verdict {
    pub deny: Vec<String>,
    pub tier: Option<Tier>,
}

impl Rules {
    /// Loads policy files given as (name, text). A syntax error names the file
    /// and line (regorus's message).
    pub fn new(files: &[(String, String)]) -> Result<Rules, String> {
        let mut engine = Engine::new();
        for (name, text) in files {
            engine.add_policy(name.clone(), text.clone()).map_err(|e| format!("policy.rego: {name}: {e}"))?;
        }
        Ok(Rules { engine })
    }

    /// Evaluates `data.suture.deny` and `data.suture.tier` against `input`.
    pub fn eval(&self, input: &serde_json::Value) -> Result<Verdict, String> {
        let mut engine = self.engine.clone();
        engine.set_input_json(&input.to_string()).map_err(|e| format!("rego input: {e}"))?;
        let mut verdict = Verdict::default();
        if let Some(v) = query(&mut engine, "data.suture.deny")? {
            let items = match v {
                serde_json::Value::Array(a) => a,
                other => return Err(format!("rego: data.suture.deny must be a set of strings, got {other}")),
            };
            for item in items {
                match item {
                    serde_json::Value::String(s) => verdict.deny.push(s),
                    other => verdict.deny.push(other.to_string()),
                }
            }
        }
        if let Some(v) = query(&mut engine, "data.suture.tier")? {
            let n = v.as_u64().ok_or_else(|| format!("rego: data.suture.tier must be a number 0-3, got {v}"))?;
            let t = u8::try_from(n).map_err(|_| format!("rego: tier {n} is out of range"))?;
            verdict.tier = Some(Tier::try_from(t).map_err(|e| format!("rego: {e}"))?);
        }
        Ok(verdict)
    }
}

/// The value of a query as JSON; `None` when it is undefined.
fn query(engine: &mut Engine, q: &str) -> Result<Option<serde_json::Value>, String> {
    let results = engine.eval_query(q.to_string(), false).map_err(|e| format!("rego: {q}: {e}"))?;
    let Some(first) = results.result.first().and_then(|r| r.expressions.first()) else { return Ok(None) };
    if first.value == regorus::Value::Undefined {
        return Ok(None);
    }
    let json = first.value.to_json_str().map_err(|e| format!("rego: {q}: {e}"))?;
    serde_json::from_str(&json).map(Some).map_err(|e| format!("rego: {q}: {e}"))
}
