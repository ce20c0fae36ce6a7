use super::*;
use crate::config::PolicyCfg;

const GUARD: &str = "--- a/app/pricing.py\n+++ b/app/pricing.py\n@@ -33,2 +33,4 @@ def subtotal(lines):\n def apply_discount(order, amount):\n     discount = lookup_discount(order.get(\"discount_code\"))\n+    if discount is None:\n+        return amount\n";

fn subject<'a>(diff: &'a Diff, class: Option<&'a str>) -> Subject<'a> {
    Subject {
        diff,
        failure_class: class,
        proposer: "suture/templates",
        from_llm: false,
        locality: Locality::SameFunction,
        coverage: Some(1.0),
    }
}

fn policy() -> Policy {
    Policy::new(&PolicyCfg::default(), std::path::Path::new(".")).unwrap()
}

#[test]
fn a_small_null_guard_in_the_faulty_function_is_tier_3() {
    let d = Diff::parse(GUARD).unwrap();
    let a = policy().assess(&subject(&d, Some("null-guard"))).unwrap();
    assert!(a.allowed(), "{:?}", a.rejections);
    assert_eq!(a.risk.tier, Tier::T3, "{:?}", a.risk.reasons);
    assert!((a.risk.score - 0.10).abs() < 1e-9, "{}", a.risk.score);
    assert!(a.risk.reasons.iter().any(|r| r.contains("failure class null-guard")));
}

#[test]
fn tier_3_needs_a_named_class_and_a_model_is_capped() {
    let d = Diff::parse(GUARD).unwrap();
    let a = policy().assess(&subject(&d, Some("off-by-one"))).unwrap();
    assert_eq!(a.risk.tier, Tier::T2, "{:?}", a.risk.reasons);
    let mut s = subject(&d, None);
    s.from_llm = true;
    s.proposer = "suture/llm:gpt";
    let a = policy().assess(&s).unwrap();
    assert_eq!(a.risk.tier, Tier::T1, "{:?}", a.risk.reasons);
    assert!(a.risk.reasons.iter().any(|r| r.contains("language model")));
}

#[test]
fn a_forbidden_path_and_every_other_reason_are_listed() {
    let diff = "--- a/.github/workflows/ci.yml\n+++ b/.github/workflows/ci.yml\n@@ -1 +1 @@\n-a\n+b\n--- a/requirements.txt\n+++ b/requirements.txt\n@@ -1 +1,2 @@\n flask\n+requests\n--- a/app/x.py\n+++ b/app/x.py\n@@ -1 +1,2 @@\n import os\n+os.system(\"rm -rf /\")\n--- a/api/v1.proto\n+++ b/api/v1.proto\n@@ -1 +1 @@\n-a\n+b\n";
    let d = Diff::parse(diff).unwrap();
    let a = policy().assess(&subject(&d, None)).unwrap();
    let all = a.rejections.join("\n");
    assert!(all.contains(".github/workflows/ci.yml: a forbidden path"), "{all}");
    assert!(all.contains("requirements.txt: changes a dependency manifest"), "{all}");
    assert!(all.contains("app/x.py: hunk #1: adds a forbidden call"), "{all}");
    assert!(all.contains("api/v1.proto: changes a public interface"), "{all}");
    assert!(all.contains("changes 4 files; the limit is 3"), "{all}");
    assert_eq!(a.risk.tier, Tier::T0);
}

#[test]
fn allow_paths_and_size_limits() {
    let cfg = PolicyCfg { allow_paths: vec!["app/**".into()], max_changed_lines: 1, ..PolicyCfg::default() };
    let p = Policy::new(&cfg, std::path::Path::new(".")).unwrap();
    let d = Diff::parse("--- a/lib/x.py\n+++ b/lib/x.py\n@@ -1 +1 @@\n-a\n+b\n").unwrap();
    let a = p.assess(&subject(&d, None)).unwrap();
    assert!(a.rejections.iter().any(|r| r.contains("lib/x.py: outside the allowed paths (app/**)")), "{:?}", a.rejections);
    assert!(a.rejections.iter().any(|r| r.contains("changes 2 lines; the limit is 1")), "{:?}", a.rejections);
}

#[test]
fn a_critical_path_caps_the_tier() {
    let d = Diff::parse(&GUARD.replace("app/pricing.py", "app/payments/pricing.py")).unwrap();
    let a = policy().assess(&subject(&d, Some("null-guard"))).unwrap();
    assert_eq!(a.risk.tier, Tier::T1);
    assert!(a.risk.reasons.iter().any(|r| r.contains("is critical")), "{:?}", a.risk.reasons);
}

#[test]
fn risky_apis_size_and_unknown_coverage_raise_the_score() {
    let d = Diff::parse(
        "--- a/app/x.py\n+++ b/app/x.py\n@@ -1 +1,8 @@\n a\n+with lock:\n+    b\n+    c\n+    d\n+    e\n+    f\n+    db.commit()\n",
    )
    .unwrap();
    let mut s = subject(&d, Some("null-guard"));
    s.coverage = None;
    s.locality = Locality::OtherFiles;
    let a = policy().assess(&s).unwrap();
    // 0.10 class + 0.20 locality + 0.10 size + 0.30 risky + 0.05 coverage
    assert!((a.risk.score - 0.75).abs() < 1e-9, "{} {:?}", a.risk.score, a.risk.reasons);
    assert_eq!(a.risk.tier, Tier::T0);
}

#[test]
fn a_rego_rule_changes_the_tier_and_can_deny() {
    let rules = r#"
package suture
import rego.v1

tier := 1 if {
    some p in input.patch.paths
    startswith(p, "app/pricing")
}

deny contains msg if {
    some f in input.patch.files
    some line in f.added
    contains(line, "TODO")
    msg := sprintf("%s: adds a TODO", [f.path])
}
"#;
    let p = policy().with_rego(&[("team.rego".into(), rules.into())]).unwrap();
    let d = Diff::parse(GUARD).unwrap();
    let a = p.assess(&subject(&d, Some("null-guard"))).unwrap();
    assert!(a.allowed());
    assert_eq!(a.risk.tier, Tier::T1);
    assert!(a.risk.reasons.iter().any(|r| r == "a Rego rule sets tier 1 (was 3)"), "{:?}", a.risk.reasons);
    let todo = Diff::parse(&GUARD.replace("return amount\n", "return amount  # TODO\n")).unwrap();
    let a = p.assess(&subject(&todo, Some("null-guard"))).unwrap();
    assert_eq!(a.rejections, vec!["rego: app/pricing.py: adds a TODO".to_string()]);
    let other = Diff::parse(&GUARD.replace("app/pricing.py", "app/pagination.py")).unwrap();
    assert_eq!(p.assess(&subject(&other, Some("null-guard"))).unwrap().risk.tier, Tier::T3);
}

#[test]
fn bad_policies_are_clear_errors() {
    let bad = policy().with_rego(&[("bad.rego".into(), "package suture\ntier := if {".into())]);
    assert!(bad.err().unwrap().contains("bad.rego"));
    let cfg = PolicyCfg { forbid_paths: vec!["a/[".into()], ..PolicyCfg::default() };
    assert!(Policy::new(&cfg, std::path::Path::new(".")).err().unwrap().contains("policy.forbid_paths: bad glob `a/[`"));
    let cfg = PolicyCfg { rego: vec!["missing.rego".into()], ..PolicyCfg::default() };
    assert!(Policy::new(&cfg, std::path::Path::new("/nonexistent")).err().unwrap().contains("missing.rego"));
    let p = policy().with_rego(&[("t.rego".into(), "package suture\ntier := 7".into())]).unwrap();
    let d = Diff::parse(GUARD).unwrap();
    assert!(
        p.assess(&subject(&d, None)).unwrap_err().contains("out of range") || p.assess(&subject(&d, None)).unwrap_err().contains("0-3")
    );
}
