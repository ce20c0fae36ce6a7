use super::*;

fn tree_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (p, text) in files {
        let full = d.path().join(p);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    d
}

fn suspect(path: &str, line: usize) -> Suspect {
    Suspect { path: path.into(), line, function: None, score: 1.0, why: String::new() }
}

fn failure(exc: &str, msg: &str) -> Failure {
    Failure { exception: exc.into(), message: msg.into() }
}

/// Applies a candidate's diff to `src`.
fn applied(src: &str, c: &Candidate) -> String {
    let d = crate::propose::patch::Diff::parse(&c.diff).unwrap();
    crate::propose::patch::apply_text(src, &d.files[0]).unwrap().0
}

const PRICING: &str = "from app import catalog\n\n\ndef apply_discount(order, amount):\n    discount = lookup_discount(order.get(\"code\"))\n    return amount - amount * discount[\"percent\"] // 100\n";

#[test]
fn python_null_guard_returns_a_parameter_or_none() {
    let d = tree_with(&[("app/pricing.py", PRICING)]);
    let cands = generate(
        d.path(),
        &[suspect("app/pricing.py", 6)],
        &failure("TypeError", "'NoneType' object is not subscriptable"),
        &Settings::default(),
    );
    let guard = cands.iter().find(|c| c.class == Class::NullGuard && c.title.contains("`amount` unchanged")).expect("a null guard");
    assert_eq!(
        applied(PRICING, guard),
        PRICING.replace("    return amount - ", "    if discount is None:\n        return amount\n    return amount - ")
    );
    assert!(cands.iter().any(|c| c.class == Class::NullGuard && c.title.contains("return None")));
    // The null guard ranks first for a NoneType error.
    assert_eq!(cands[0].class, Class::NullGuard, "{:#?}", cands.iter().map(|c| &c.title).collect::<Vec<_>>());
    assert!(guard.title.contains("in apply_discount (app/pricing.py:6)"), "{}", guard.title);
    assert!(cands.iter().any(|c| c.class == Class::Fallback), "a try/except fallback");
    assert!(cands.iter().any(|c| c.class == Class::Swap), "swapped operands of -");
}

const PAGES: &str = "def paginate(items, page, per_page):\n    start = (page - 1) * per_page\n    end = start + per_page\n    nxt = items[end][\"id\"] if end <= len(items) else None\n    return nxt\n";

#[test]
fn python_comparison_and_off_by_one() {
    let d = tree_with(&[("p.py", PAGES)]);
    let cands = generate(d.path(), &[suspect("p.py", 4)], &failure("IndexError", "list index out of range"), &Settings::default());
    let cmp = cands.iter().find(|c| c.class == Class::Comparison).unwrap();
    assert_eq!(applied(PAGES, cmp), PAGES.replace("end <= len(items)", "end < len(items)"));
    let obo: Vec<String> = cands.iter().filter(|c| c.class == Class::OffByOne).map(|c| applied(PAGES, c)).collect();
    assert!(obo.iter().any(|s| s.contains("items[end - 1][\"id\"]")), "{obo:#?}");
    assert!(obo.iter().any(|s| s.contains("end <= len(items) - 1")), "{obo:#?}");
    let cond = cands.iter().find(|c| c.class == Class::Condition).unwrap();
    assert!(applied(PAGES, cond).contains("if not (end <= len(items)) else"), "{}", applied(PAGES, cond));
    assert!(cands.iter().all(|c| c.changed_lines >= 2));
}

#[test]
fn python_bounds_guard_for_a_key_error_and_off_by_one_literals() {
    let src = "RATES = {\"a\": 1}\n\n\ndef rate(code):\n    r = RATES[code]\n    return r\n\n\ndef last(xs):\n    return xs[len(xs)]\n";
    let d = tree_with(&[("t.py", src)]);
    let cands = generate(d.path(), &[suspect("t.py", 5)], &failure("KeyError", "'b'"), &Settings::default());
    let g = cands.iter().find(|c| c.class == Class::BoundsGuard).unwrap();
    assert!(applied(src, g).contains("    if code not in RATES:\n        return code\n    r = RATES[code]"), "{}", applied(src, g));
    assert!(!cands.iter().any(|c| c.class == Class::NullGuard), "RATES is a constant, never None");
    let cands = generate(d.path(), &[suspect("t.py", 10)], &failure("IndexError", "list index out of range"), &Settings::default());
    assert!(cands.iter().any(|c| applied(src, c).contains("xs[len(xs) - 1]")));
}

#[test]
fn python_kill_switch_wraps_each_change() {
    let ks = crate::config::KillSwitchCfg {
        python: "flags.evaluate(\"{key}\", default=False)".into(),
        python_import: "from app import flags".into(),
        prefix: "suture.kill.".into(),
        ..Default::default()
    };
    let d = tree_with(&[("app/pricing.py", PRICING), ("p.py", PAGES)]);
    let settings = Settings { kill_switch: Some(ks) };
    let cands = generate(d.path(), &[suspect("app/pricing.py", 6)], &failure("TypeError", "'NoneType'"), &settings);
    let guard = cands.iter().find(|c| c.class == Class::NullGuard && c.title.contains("`amount`")).unwrap();
    let out = applied(PRICING, guard);
    assert!(
        out.contains(
            "    if discount is None and not flags.evaluate(\"suture.kill.null-guard-pricing-6\", default=False):\n        return amount\n"
        ),
        "{out}"
    );
    assert!(out.contains("from app import catalog\nfrom app import flags\n"), "{out}");
    assert_eq!(guard.kill_switch.as_deref(), Some("suture.kill.null-guard-pricing-6"));
    let cands = generate(d.path(), &[suspect("p.py", 4)], &failure("IndexError", ""), &settings);
    let cmp = cands.iter().find(|c| c.class == Class::Comparison).unwrap();
    let out = applied(PAGES, cmp);
    assert!(out.starts_with("from app import flags\ndef paginate"), "{out}");
    assert!(
        out.contains(
            "if (end < len(items) if not flags.evaluate(\"suture.kill.comparison-p-4\", default=False) else end <= len(items)) else"
        ),
        "{out}"
    );
}

const JS: &str = "function total(xs) {\n  let sum = 0;\n  for (let i = 0; i <= xs.length; i++) {\n    sum += xs[i].price;\n  }\n  return sum;\n}\n\nmodule.exports = { total };\n";

#[test]
fn javascript_comparison_null_guard_and_off_by_one() {
    let d = tree_with(&[("lib/total.js", JS)]);
    let f = failure("TypeError", "Cannot read properties of undefined (reading 'price')");
    let cands = generate(d.path(), &[suspect("lib/total.js", 4), suspect("lib/total.js", 3)], &f, &Settings::default());
    let outs: Vec<String> = cands.iter().map(|c| applied(JS, c)).collect();
    assert!(outs.iter().any(|s| s.contains("i < xs.length; i++")), "comparison in the for header");
    assert!(outs.iter().any(|s| s.contains("i <= xs.length - 1; i++")), "off-by-one in the for header");
    assert!(outs.iter().any(|s| s.contains("    if (xs == null) return xs;\n    sum += xs[i].price;")), "null guard");
    assert!(outs.iter().any(|s| s.contains("try {\n      sum += xs[i].price;\n    } catch (e) {\n      return null;\n    }")), "{outs:#?}");
}

#[test]
fn edits_that_break_the_syntax_and_unknown_files_are_dropped() {
    let d = tree_with(&[("x.rb", "puts 1\n"), ("y.py", "def f(:\n")]);
    assert!(
        generate(d.path(), &[suspect("x.rb", 1), suspect("y.py", 1), suspect("missing.py", 3)], &Failure::default(), &Settings::default())
            .is_empty()
    );
}

#[test]
fn config_flag_turns_off_the_flag_gating_a_frame() {
    let checkout = "from app import flags, tax\n\n\ndef checkout(order):\n    if flags.evaluate(\"legacy-tax\", {}, default=False):\n        t = tax.legacy(order)\n    else:\n        t = tax.modern(order)\n    return t\n";
    let flags =
        "{\n  \"flags\": {\n    \"legacy-tax\": {\n      \"state\": \"ENABLED\",\n      \"defaultVariant\": \"on\"\n    }\n  }\n}\n";
    let d = tree_with(&[("app/checkout.py", checkout), ("flags/flags.json", flags)]);
    let f = failure("KeyError", "'EU'");
    let c = flag::candidates(d.path(), &[suspect("app/checkout.py", 6)], "flags/flags.json", &f);
    assert_eq!(c.len(), 1);
    assert_eq!(applied(flags, &c[0]), flags.replace("ENABLED", "DISABLED"));
    assert!(c[0].title.contains("`legacy-tax`"));
    // A frame in the else branch is not gated by turning the flag off.
    assert!(flag::candidates(d.path(), &[suspect("app/checkout.py", 8)], "flags/flags.json", &f).is_empty());
}
