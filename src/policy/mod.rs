//! Policy and risk: may this patch go forward, and how much human attention
//! does it need?
//!
//! [`Policy::assess`] takes a parsed diff and what is known about it and
//! returns an [`Assessment`]: every reason to reject it (not just the first),
//! and a [`RiskAssessment`] with a score, a tier 0–3 and each reason that
//! moved them. Simple rules come from `[policy]` in the config
//! ([`PolicyCfg`]); custom rules are Rego, evaluated with regorus
//! ([`rego`]), and see the assessment as their input document.
//!
//! ## The risk score (0 safe … 1 dangerous)
//! The sum of, clamped to 0–1:
//! - the failure class's base risk ([`class_risk`]): a flag turned off 0.05,
//!   a null or bounds guard 0.10, an off-by-one or operator change 0.20, a
//!   condition or swapped operands 0.25, a fallback around a call 0.30, an
//!   unknown class (a person's or a model's free-form change) 0.40;
//! - locality: 0 when every change is in the function the fault was localized
//!   to, 0.10 elsewhere in the same file, 0.20 in other files, 0.10 unknown;
//! - size: 0.02 per changed line beyond two (at most 0.20) and 0.10 per file
//!   beyond the first;
//! - risky APIs (`risky_apis`) on changed lines: 0.15 each, at most 0.30;
//! - coverage of the changed lines by the tests: 0.15 × the uncovered
//!   fraction when measured, 0.05 when unknown.
//!
//! ## The tier
//! Score below 0.25 → tier 3, below 0.45 → 2, below 0.70 → 1, else 0; then
//! capped: tier 3 only for the classes in `tier3_classes` (else 2), a model's
//! patch at `llm_max_tier`, each `critical` path rule at its `max_tier`.
//! Finally a Rego `tier` rule, when one is defined, sets the tier (the reason
//! says so). A rejected patch is tier 0.

pub mod rego;

use globset::{Glob, GlobSet, GlobSetBuilder};
use regex::Regex;
use serde::Serialize;

use crate::config::PolicyCfg;
use crate::model::{RiskAssessment, Tier};
use crate::propose::patch::{Diff, Line};

/// Where the change sits relative to the localized fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Locality {
    SameFunction,
    SameFile,
    OtherFiles,
    Unknown,
}

/// What is known about a patch besides its diff.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub diff: &'a Diff,
    /// The repair template's class (`null-guard`, `off-by-one`, …), if any.
    pub failure_class: Option<&'a str>,
    /// The proposer's identity (`suture/templates`, `suture/llm:<model>`, a person).
    pub proposer: &'a str,
    pub from_llm: bool,
    pub locality: Locality,
    /// The fraction of changed old-side lines the tests execute, when measured.
    pub coverage: Option<f64>,
}

/// The outcome: reasons to reject (empty means allowed) and the risk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub rejections: Vec<String>,
    pub risk: RiskAssessment,
}

impl Assessment {
    pub fn allowed(&self) -> bool {
        self.rejections.is_empty()
    }
}

/// The base risk of a failure class.
pub fn class_risk(class: Option<&str>) -> f64 {
    match class {
        Some("config-flag") => 0.05,
        Some("null-guard") | Some("bounds-guard") => 0.10,
        Some("off-by-one") | Some("comparison") => 0.20,
        Some("condition") | Some("swap") => 0.25,
        Some("fallback") => 0.30,
        _ => 0.40,
    }
}

/// A compiled policy.
pub struct Policy {
    cfg: PolicyCfg,
    allow: GlobSet,
    forbid: GlobSet,
    manifests: GlobSet,
    interfaces: GlobSet,
    critical: Vec<(GlobSet, Tier)>,
    forbidden_apis: Vec<Regex>,
    risky_apis: Vec<Regex>,
    rego: Option<rego::Rules>,
}

fn globs(list: &[String], what: &str) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in list {
        let glob = Glob::new(g).map_err(|e| format!("policy.{what}: bad glob `{g}`: {e}"))?;
        b.add(glob);
    }
    b.build().map_err(|e| format!("policy.{what}: {e}"))
}

fn regexes(list: &[String], what: &str) -> Result<Vec<Regex>, String> {
    list.iter().map(|r| Regex::new(r).map_err(|e| format!("policy.{what}: bad pattern `{r}`: {e}"))).collect()
}

impl Policy {
    /// Compiles `cfg`. Rego files are read relative to `base_dir`. Every bad
    /// glob, pattern or Rego file is an error naming it.
    pub fn new(cfg: &PolicyCfg, base_dir: &std::path::Path) -> Result<Policy, String> {
        let mut critical = Vec::new();
        for (i, c) in cfg.critical.iter().enumerate() {
            let tier = Tier::try_from(c.max_tier).map_err(|e| format!("policy.critical[{i}].max_tier: {e}"))?;
            critical.push((globs(&c.paths, &format!("critical[{i}].paths"))?, tier));
        }
        Tier::try_from(cfg.llm_max_tier).map_err(|e| format!("policy.llm_max_tier: {e}"))?;
        let rego = if cfg.rego.is_empty() {
            None
        } else {
            let mut files = Vec::new();
            for f in &cfg.rego {
                let path = base_dir.join(f);
                let text = std::fs::read_to_string(&path).map_err(|e| format!("policy.rego: {}: {e}", path.display()))?;
                files.push((path.display().to_string(), text));
            }
            Some(rego::Rules::new(&files)?)
        };
        Ok(Policy {
            allow: globs(&cfg.allow_paths, "allow_paths")?,
            forbid: globs(&cfg.forbid_paths, "forbid_paths")?,
            manifests: globs(&cfg.manifests, "manifests")?,
            interfaces: globs(&cfg.interface_paths, "interface_paths")?,
            critical,
            forbidden_apis: regexes(&cfg.forbidden_apis, "forbidden_apis")?,
            risky_apis: regexes(&cfg.risky_apis, "risky_apis")?,
            rego,
            cfg: cfg.clone(),
        })
    }

    /// A policy with Rego rules given as text (for tests and for callers that
    /// hold the policy in memory).
    pub fn with_rego(mut self, files: &[(String, String)]) -> Result<Policy, String> {
        self.rego = Some(rego::Rules::new(files)?);
        Ok(self)
    }

    /// The rules a proposer must follow, one sentence each (for a prompt).
    pub fn constraints(&self) -> Vec<String> {
        let c = &self.cfg;
        let mut out = vec![
            format!("Change at most {} lines in at most {} files.", c.max_changed_lines, c.max_files),
            format!("Only change files matching: {}.", c.allow_paths.join(", ")),
            "Add no dependencies: do not change dependency manifests or lockfiles.".to_string(),
            "Do not change public interfaces or schemas.".to_string(),
        ];
        if !c.forbid_paths.is_empty() {
            out.push(format!("Never change: {}.", c.forbid_paths.join(", ")));
        }
        if !c.forbidden_apis.is_empty() {
            out.push("Do not add shell-outs, eval/exec, dynamic imports, unpickling or unsafe code.".to_string());
        }
        out
    }

    /// Assesses a patch: every rejection reason, and the risk and tier.
    pub fn assess(&self, s: &Subject<'_>) -> Result<Assessment, String> {
        let mut rejections = Vec::new();
        let paths = s.diff.paths();
        for p in &paths {
            if let Err(why) = crate::propose::patch::check_path_text(p) {
                rejections.push(format!("{}: unsafe path ({why})", p.escape_debug()));
                continue;
            }
            if !self.allow.is_match(p) {
                rejections.push(format!("{p}: outside the allowed paths ({})", self.cfg.allow_paths.join(", ")));
            }
            if self.forbid.is_match(p) {
                rejections.push(format!("{p}: a forbidden path"));
            }
            if self.manifests.is_match(p) {
                rejections.push(format!("{p}: changes a dependency manifest or lockfile (no new dependencies)"));
            }
            if self.interfaces.is_match(p) {
                rejections.push(format!("{p}: changes a public interface or schema"));
            }
        }
        for f in &s.diff.files {
            for (hi, h) in f.hunks.iter().enumerate() {
                for l in &h.lines {
                    if let Line::Add(text) = l {
                        for re in &self.forbidden_apis {
                            if re.is_match(text) {
                                rejections.push(format!(
                                    "{}: hunk #{}: adds a forbidden call ({}): `{}`",
                                    f.path(),
                                    hi + 1,
                                    re.as_str(),
                                    text.trim().escape_debug()
                                ));
                            }
                        }
                    }
                }
            }
        }
        let changed = s.diff.changed_lines();
        if changed > self.cfg.max_changed_lines {
            rejections.push(format!("changes {changed} lines; the limit is {}", self.cfg.max_changed_lines));
        }
        if paths.len() > self.cfg.max_files {
            rejections.push(format!("changes {} files; the limit is {}", paths.len(), self.cfg.max_files));
        }

        let (score, mut tier, mut reasons) = self.score(s, changed, paths.len());
        if let Some(rules) = &self.rego {
            let input = rego_input(s, &rejections, score, tier, &reasons);
            let verdict = rules.eval(&input)?;
            for d in verdict.deny {
                rejections.push(format!("rego: {d}"));
            }
            if let Some(t) = verdict.tier {
                if t != tier {
                    reasons.push(format!("a Rego rule sets tier {} (was {})", t.number(), tier.number()));
                }
                tier = t;
            }
        }
        if !rejections.is_empty() {
            tier = Tier::T0;
            reasons.push("rejected by policy: tier 0 (observe only)".into());
        }
        let risk = RiskAssessment { score, tier, reasons, failure_class: s.failure_class.map(str::to_string) };
        Ok(Assessment { rejections, risk })
    }

    fn score(&self, s: &Subject<'_>, changed: usize, files: usize) -> (f64, Tier, Vec<String>) {
        let mut reasons = Vec::new();
        let base = class_risk(s.failure_class);
        reasons.push(format!("+{base:.2} failure class {}", s.failure_class.unwrap_or("unknown (free-form change)")));
        let mut score = base;
        let loc = match s.locality {
            Locality::SameFunction => (0.0, "every change is in the function the fault is in"),
            Locality::SameFile => (0.10, "changes outside the faulty function, in the same file"),
            Locality::OtherFiles => (0.20, "changes files other than the faulty one"),
            Locality::Unknown => (0.10, "the fault's location is unknown"),
        };
        score += loc.0;
        reasons.push(format!("+{:.2} {}", loc.0, loc.1));
        let size = (0.02 * changed.saturating_sub(2) as f64).min(0.20) + 0.10 * files.saturating_sub(1) as f64;
        score += size;
        reasons.push(format!("+{size:.2} size: {changed} changed line(s) in {files} file(s)"));
        let mut risky: f64 = 0.0;
        for re in &self.risky_apis {
            let hit = s
                .diff
                .files
                .iter()
                .flat_map(|f| &f.hunks)
                .flat_map(|h| &h.lines)
                .find(|l| !matches!(l, Line::Context(_)) && re.is_match(l.text()));
            if let Some(l) = hit {
                risky += 0.15;
                reasons.push(format!("+0.15 touches a risky API ({}): `{}`", re.as_str(), l.text().trim().escape_debug()));
            }
        }
        score += risky.min(0.30);
        match s.coverage {
            Some(c) => {
                let add = 0.15 * (1.0 - c.clamp(0.0, 1.0));
                score += add;
                reasons.push(format!("+{add:.2} the tests cover {:.0}% of the changed lines", c * 100.0));
            }
            None => {
                score += 0.05;
                reasons.push("+0.05 coverage of the changed lines is unknown".into());
            }
        }
        let score = score.clamp(0.0, 1.0);
        let mut tier = if score < 0.25 {
            Tier::T3
        } else if score < 0.45 {
            Tier::T2
        } else if score < 0.70 {
            Tier::T1
        } else {
            Tier::T0
        };
        reasons.push(format!("score {score:.2} → tier {}", tier.number()));
        if tier == Tier::T3 && !s.failure_class.is_some_and(|c| self.cfg.tier3_classes.iter().any(|x| x == c)) {
            tier = Tier::T2;
            reasons.push(format!(
                "tier 3 is only for {} → tier 2",
                if self.cfg.tier3_classes.is_empty() { "no class".into() } else { self.cfg.tier3_classes.join(", ") }
            ));
        }
        let llm_cap = Tier::try_from(self.cfg.llm_max_tier).unwrap_or(Tier::T1);
        if s.from_llm && tier > llm_cap {
            tier = llm_cap;
            reasons.push(format!("a language model's patch is at most tier {}", llm_cap.number()));
        }
        for (i, (set, cap)) in self.critical.iter().enumerate() {
            if let Some(p) = s.diff.paths().iter().find(|p| set.is_match(p.as_str()))
                && tier > *cap
            {
                tier = *cap;
                reasons.push(format!("{p} is critical ({}) → at most tier {}", self.cfg.critical[i].paths.join(", "), cap.number()));
            }
        }
        (score, tier, reasons)
    }
}

/// The Rego input document (see [`rego`] for its fields).
fn rego_input(s: &Subject<'_>, rejections: &[String], score: f64, tier: Tier, reasons: &[String]) -> serde_json::Value {
    let files: Vec<serde_json::Value> = s
        .diff
        .files
        .iter()
        .map(|f| {
            let added: Vec<&str> =
                f.hunks.iter().flat_map(|h| &h.lines).filter_map(|l| if let Line::Add(t) = l { Some(t.as_str()) } else { None }).collect();
            let removed: Vec<&str> = f
                .hunks
                .iter()
                .flat_map(|h| &h.lines)
                .filter_map(|l| if let Line::Remove(t) = l { Some(t.as_str()) } else { None })
                .collect();
            serde_json::json!({
                "path": f.path(),
                "new": f.is_new(),
                "deleted": f.is_deleted(),
                "hunks": f.hunks.len(),
                "added": added,
                "removed": removed,
            })
        })
        .collect();
    serde_json::json!({
        "patch": {
            "files": files,
            "paths": s.diff.paths(),
            "changed_lines": s.diff.changed_lines(),
        },
        "failure_class": s.failure_class,
        "proposer": s.proposer,
        "from_llm": s.from_llm,
        "locality": s.locality,
        "coverage": s.coverage,
        "score": score,
        "tier": tier.number(),
        "reasons": reasons,
        "rejections": rejections,
    })
}

#[cfg(test)]
mod tests;
