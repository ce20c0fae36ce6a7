//! The config-flag template: when a frame on the failing path sits inside an
//! `if` whose condition names a flag of the flag file (flagd format), turn
//! that flag off (`"state": "DISABLED"`, so every evaluation gets the
//! caller's default) — a one-line configuration patch.

use std::path::Path;

use tree_sitter::Node;

use super::lang::Lang;
use super::{Candidate, Class, Failure};
use crate::propose::localize::Suspect;

/// Config-flag candidates for the suspects, best first.
pub fn candidates(root: &Path, suspects: &[Suspect], flag_file: &str, failure: &Failure) -> Vec<Candidate> {
    let Ok(flags_text) = std::fs::read_to_string(root.join(flag_file)) else { return Vec::new() };
    let Ok(flags) = serde_json::from_str::<serde_json::Value>(&flags_text) else { return Vec::new() };
    let Some(defs) = flags.get("flags").and_then(|f| f.as_object()) else { return Vec::new() };
    let mut out: Vec<Candidate> = Vec::new();
    for s in suspects {
        let Some(lang) = Lang::for_path(&s.path) else { continue };
        let Ok(src) = std::fs::read_to_string(root.join(&s.path)) else { continue };
        let Some(tree) = super::parse(lang, &src) else { continue };
        for key in gating_keys(tree.root_node(), &src, s.line) {
            let Some(def) = defs.get(&key) else { continue };
            if def.get("state").and_then(|v| v.as_str()) != Some("ENABLED") || out.iter().any(|c| c.title.contains(&format!("`{key}`"))) {
                continue;
            }
            let Some(new_text) = disable(&flags_text, &key) else { continue };
            let diff = crate::propose::patch::diff_text(flag_file, &flags_text, &new_text);
            let digest = crate::model::Patch::digest_of("", &diff);
            out.push(Candidate {
                id: format!("config-flag-{}", &digest[..8]),
                class: Class::ConfigFlag,
                title: format!("config-flag: turn off `{key}`, which gates {}:{} on the failing path", s.path, s.line),
                path: flag_file.to_string(),
                line: s.line,
                diff,
                changed_lines: 2,
                score: s.score * Class::ConfigFlag.prior(&failure.exception, &failure.message) / 1.1,
                kill_switch: None,
            });
        }
    }
    out
}

/// Flag keys named by string literals in the conditions of the `if`s whose
/// taken branch holds `line`.
fn gating_keys(root: Node<'_>, src: &str, line: usize) -> Vec<String> {
    let row = line.saturating_sub(1);
    let point = tree_sitter::Point { row, column: src.lines().nth(row).map_or(0, |l| l.len() - l.trim_start().len()) };
    let Some(mut n) = root.descendant_for_point_range(point, point) else { return Vec::new() };
    let mut keys = Vec::new();
    while let Some(parent) = n.parent() {
        if parent.kind() == "if_statement"
            && let (Some(cond), Some(then)) = (parent.child_by_field_name("condition"), parent.child_by_field_name("consequence"))
            && then.id() == n.id()
        {
            strings(cond, src, &mut keys);
        }
        n = parent;
    }
    keys
}

fn strings(n: Node<'_>, src: &str, out: &mut Vec<String>) {
    if n.kind() == "string" {
        let t = &src[n.byte_range()];
        let t = t.trim_matches(|c| c == '"' || c == '\'' || c == '`');
        if !t.is_empty() && !out.iter().any(|k| k == t) {
            out.push(t.to_string());
        }
        return;
    }
    let mut cursor = n.walk();
    for c in n.children(&mut cursor) {
        strings(c, src, out);
    }
}

/// The flag file with `key`'s state set to DISABLED, changed in place (one
/// line), checked by parsing: nothing else may differ.
fn disable(text: &str, key: &str) -> Option<String> {
    let quoted = serde_json::to_string(key).ok()?;
    let mut from = 0;
    while let Some(i) = text[from..].find(&quoted) {
        let at = from + i + quoted.len();
        from = at;
        let rest = text[at..].trim_start();
        if !rest.starts_with(':') {
            continue;
        }
        let state_at = at + text[at..].find("\"state\"")?;
        let enabled_at = state_at + text[state_at..].find("\"ENABLED\"")?;
        let mut new = text.to_string();
        new.replace_range(enabled_at..enabled_at + "\"ENABLED\"".len(), "\"DISABLED\"");
        let mut want: serde_json::Value = serde_json::from_str(text).ok()?;
        *want.get_mut("flags")?.get_mut(key)?.get_mut("state")? = serde_json::Value::String("DISABLED".into());
        let got: serde_json::Value = serde_json::from_str(&new).ok()?;
        return (got == want).then_some(new);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disable_changes_only_that_flags_state() {
        let t = "{\n  \"flags\": {\n    \"a\": { \"state\": \"ENABLED\", \"x\": 1 },\n    \"b\": {\n      \"state\": \"ENABLED\"\n    }\n  }\n}\n";
        let n = disable(t, "b").unwrap();
        assert!(n.contains("\"a\": { \"state\": \"ENABLED\""));
        assert!(n.contains("\"state\": \"DISABLED\"\n"));
        assert_eq!(disable(t, "zzz"), None);
    }
}
