//! Template repair on syntax trees: the embedded default proposer.
//!
//! For each suspicious line ([`crate::propose::localize`]), the file is
//! parsed with tree-sitter (Python or JavaScript) and each template proposes
//! small edits of the statement on that line:
//!
//! | class | edit |
//! | --- | --- |
//! | `null-guard` | before the statement, `if x is None: return <fallback>` for each variable it dereferences |
//! | `bounds-guard` | before the statement, a length (IndexError) or membership (KeyError) guard for each subscript |
//! | `off-by-one` | ±1 on an index, a slice bound, a `range` argument, a comparison operand |
//! | `comparison` | `<`↔`<=`, `>`↔`>=`, `==`↔`!=` |
//! | `condition` | the enclosing condition negated, or one operand of an `and`/`or` dropped |
//! | `swap` | two adjacent call arguments, or the operands of `-`, `/`, `//`, `%` |
//! | `fallback` | the statement wrapped in try/except (try/catch) returning a fallback |
//! | `config-flag` | the flag gating a frame on the failing path turned off in the flag file ([`flag`]) |
//!
//! Fallbacks are the function's parameters (return the input unchanged) and
//! `None` (`null`). Every edited file is parsed again and a candidate whose
//! result has a syntax error is dropped. Candidates are ranked by the
//! suspect's score × the template's prior for the failure (its exception) ÷
//! size. With a kill switch configured (`[propose.kill_switch]`), each code
//! change is written so that turning the flag on restores the old behaviour:
//! a guard gets `and not <switch>`, a changed expression becomes
//! `(new if not <switch> else old)`, a fallback re-raises.

pub mod flag;
mod lang;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use tree_sitter::{Node, Parser, Tree};

use crate::config::KillSwitchCfg;
use crate::propose::localize::Suspect;
use lang::Lang;

/// A failure class a template repairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    NullGuard,
    BoundsGuard,
    OffByOne,
    Comparison,
    Condition,
    Swap,
    Fallback,
    ConfigFlag,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::ConfigFlag,
        Class::NullGuard,
        Class::BoundsGuard,
        Class::OffByOne,
        Class::Comparison,
        Class::Condition,
        Class::Swap,
        Class::Fallback,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Class::NullGuard => "null-guard",
            Class::BoundsGuard => "bounds-guard",
            Class::OffByOne => "off-by-one",
            Class::Comparison => "comparison",
            Class::Condition => "condition",
            Class::Swap => "swap",
            Class::Fallback => "fallback",
            Class::ConfigFlag => "config-flag",
        }
    }

    /// How likely this class is to be the repair, before looking at the
    /// failure, and then for the failure's exception type and message.
    pub fn prior(self, exception: &str, message: &str) -> f64 {
        let base = match self {
            Class::ConfigFlag => 0.9,
            Class::NullGuard | Class::Comparison | Class::OffByOne => 0.6,
            Class::BoundsGuard => 0.5,
            Class::Condition => 0.4,
            Class::Swap | Class::Fallback => 0.3,
        };
        let m = message.to_ascii_lowercase();
        let none = m.contains("nonetype") || m.contains("undefined") || m.contains("null") || m.contains("nil pointer");
        let factor = match (exception, self) {
            ("TypeError" | "AttributeError", Class::NullGuard) if none => 1.6,
            ("TypeError" | "AttributeError", Class::Fallback) if none => 1.2,
            ("TypeError" | "AttributeError", _) if none => 0.5,
            ("IndexError" | "RangeError", Class::OffByOne | Class::Comparison) => 1.5,
            ("IndexError" | "RangeError", Class::BoundsGuard) => 1.2,
            ("IndexError" | "RangeError", Class::NullGuard) => 0.3,
            ("KeyError", Class::ConfigFlag) => 1.2,
            ("KeyError", Class::BoundsGuard | Class::Fallback) => 1.2,
            ("KeyError", Class::NullGuard | Class::OffByOne | Class::Comparison) => 0.3,
            ("AssertionError", Class::Comparison | Class::OffByOne) => 1.2,
            ("AssertionError", Class::NullGuard | Class::BoundsGuard | Class::Fallback) => 0.4,
            _ => 1.0,
        };
        base * factor
    }
}

/// One proposed change, ready for the gauntlet.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// A short, stable name: class, file, line and a hash of the change.
    pub id: String,
    pub class: Class,
    /// What the change does, in words.
    pub title: String,
    pub path: String,
    pub line: usize,
    /// Unified diff against the base.
    pub diff: String,
    pub changed_lines: usize,
    pub score: f64,
    /// The kill-switch flag key, when the change is behind one.
    pub kill_switch: Option<String>,
}

/// What the templates know about the failure.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    pub exception: String,
    pub message: String,
}

/// Template settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub kill_switch: Option<KillSwitchCfg>,
}

/// An edit of the source: replace bytes `start..end` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Edit {
    start: usize,
    end: usize,
    text: String,
}

/// A change before it becomes a candidate.
struct Change {
    class: Class,
    title: String,
    edits: Vec<Edit>,
}

/// Generates candidates for the suspects, best first. Files that do not
/// exist, are not Python or JavaScript, or do not parse are skipped.
pub fn generate(root: &Path, suspects: &[Suspect], failure: &Failure, settings: &Settings) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in suspects {
        let Some(lang) = Lang::for_path(&s.path) else { continue };
        let Ok(source) = std::fs::read_to_string(root.join(&s.path)) else { continue };
        let Some(tree) = parse(lang, &source) else { continue };
        for change in changes_at(lang, &tree, &source, s.line, failure, settings, &s.path) {
            let Some(new_source) = apply_edits(&source, &change.edits) else { continue };
            if new_source == source || parse(lang, &new_source).is_none_or(|t| t.root_node().has_error()) {
                continue;
            }
            let diff = crate::propose::patch::diff_text(&s.path, &source, &new_source);
            if !seen.insert(diff.clone()) {
                continue;
            }
            let Ok(changed) = crate::propose::patch::Diff::parse(&diff).map(|d| d.changed_lines()) else { continue };
            let score = s.score * change.class.prior(&failure.exception, &failure.message) / (1.0 + 0.05 * changed as f64);
            let digest = crate::model::Patch::digest_of("", &diff);
            let kill = settings.kill_switch.as_ref().map(|k| key_for(&k.prefix, change.class, &s.path, s.line));
            let kill = kill.filter(|k| new_source.contains(k.as_str()));
            out.push(Candidate {
                id: format!("{}-{}", change.class.name(), &digest[..8]),
                class: change.class,
                title: change.title,
                path: s.path.clone(),
                line: s.line,
                diff,
                changed_lines: changed,
                score,
                kill_switch: kill,
            });
        }
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.changed_lines.cmp(&b.changed_lines)).then(a.id.cmp(&b.id)));
    out
}

fn parse(lang: Lang, source: &str) -> Option<Tree> {
    let mut p = Parser::new();
    p.set_language(&lang.grammar()).ok()?;
    p.parse(source, None)
}

fn apply_edits(source: &str, edits: &[Edit]) -> Option<String> {
    let mut edits = edits.to_vec();
    edits.sort_by_key(|e| std::cmp::Reverse(e.start));
    let mut s = source.to_string();
    let mut last = usize::MAX;
    for e in edits {
        if e.end > last || e.start > e.end || e.end > s.len() || !s.is_char_boundary(e.start) || !s.is_char_boundary(e.end) {
            return None;
        }
        s.replace_range(e.start..e.end, &e.text);
        last = e.start;
    }
    Some(s)
}

/// The kill-switch key of a change: the prefix, the class and where it is.
fn key_for(prefix: &str, class: Class, path: &str, line: usize) -> String {
    let stem = Path::new(path).file_stem().and_then(|s| s.to_str()).unwrap_or("file");
    format!("{prefix}{}-{}-{line}", class.name(), stem.replace('_', "-"))
}

/// Everything the templates need about the statement on the suspect line.
struct Site<'t> {
    lang: Lang,
    src: &'t str,
    path: &'t str,
    line: usize,
    /// The innermost statement on the line.
    stmt: Node<'t>,
    /// The nodes of `stmt` that are on the suspect line's part of it: the
    /// whole statement, or just the header of a compound one.
    region: Vec<Node<'t>>,
    /// The enclosing function, if any.
    function: Option<Node<'t>>,
    params: Vec<String>,
    /// The kill-switch expression (with `{key}`) and the key prefix.
    kill: Option<(String, String)>,
    kill_import: Option<Edit>,
}

impl<'t> Site<'t> {
    fn text(&self, n: Node<'_>) -> &'t str {
        &self.src[n.byte_range()]
    }

    fn where_(&self) -> String {
        let f = self.function.and_then(|f| f.child_by_field_name("name")).map(|n| format!(" in {}", self.text(n))).unwrap_or_default();
        format!("{f} ({}:{})", self.path, self.line)
    }

    /// The indentation of the statement's line.
    fn indent(&self) -> String {
        let start = self.src[..self.stmt.start_byte()].rfind('\n').map_or(0, |i| i + 1);
        self.src[start..].chars().take_while(|c| *c == ' ' || *c == '\t').collect()
    }

    /// One indentation step, as the file writes it.
    fn step(&self) -> String {
        if self.src.contains("\n\t") {
            return "\t".into();
        }
        let smallest =
            self.src.lines().filter(|l| !l.trim().is_empty()).map(|l| l.len() - l.trim_start_matches(' ').len()).filter(|n| *n > 0).min();
        " ".repeat(smallest.unwrap_or(4))
    }

    /// Replaces an expression, behind the kill switch when there is one.
    fn replace_expr(&self, node: Node<'_>, new: &str) -> Vec<Edit> {
        let old = self.text(node);
        let text = match &self.kill {
            None => new.to_string(),
            Some((expr, _)) => self.lang.switch_expr(expr, old, new),
        };
        self.with_import(vec![Edit { start: node.start_byte(), end: node.end_byte(), text }])
    }

    /// Inserts a guard statement before the statement.
    fn guard(&self, cond: &str, body: &str) -> Vec<Edit> {
        let cond = match &self.kill {
            None => cond.to_string(),
            Some((expr, _)) => self.lang.and_not(cond, expr),
        };
        let indent = self.indent();
        let text = self.lang.guard(&cond, body, &indent, &self.step());
        self.with_import(vec![Edit { start: self.stmt.start_byte(), end: self.stmt.start_byte(), text }])
    }

    fn with_import(&self, mut edits: Vec<Edit>) -> Vec<Edit> {
        if let Some(e) = &self.kill_import {
            edits.push(e.clone());
        }
        edits
    }
}

#[allow(clippy::too_many_arguments)]
fn changes_at(lang: Lang, tree: &Tree, src: &str, line: usize, failure: &Failure, settings: &Settings, path: &str) -> Vec<Change> {
    let Some(site) = site(lang, tree, src, line, settings, path) else { return Vec::new() };
    let mut out = Vec::new();
    comparison(&site, &mut out);
    off_by_one(&site, &mut out);
    null_guard(&site, &mut out);
    bounds_guard(&site, failure, &mut out);
    condition(&site, &mut out);
    swap(&site, &mut out);
    fallback(&site, failure, &mut out);
    out
}

fn site<'t>(lang: Lang, tree: &'t Tree, src: &'t str, line: usize, settings: &Settings, path: &'t str) -> Option<Site<'t>> {
    let row = line.checked_sub(1)?;
    let line_text = src.lines().nth(row)?;
    let col = line_text.len() - line_text.trim_start().len();
    if line_text.trim().is_empty() {
        return None;
    }
    let point = tree_sitter::Point { row, column: col };
    let mut node = tree.root_node().descendant_for_point_range(point, point)?;
    // Up to the innermost statement that starts on or before the line and
    // sits directly in a block.
    let stmt = loop {
        if lang.is_statement(node.kind()) && node.parent().is_some_and(|p| lang.is_block(p.kind())) {
            break node;
        }
        node = node.parent()?;
    };
    let region: Vec<Node> = if lang.is_compound(stmt.kind()) { lang.header(stmt, row) } else { vec![stmt] };
    let mut function = None;
    let mut up = stmt.parent();
    while let Some(n) = up {
        if lang.is_function(n.kind()) {
            function = Some(n);
            break;
        }
        up = n.parent();
    }
    let params = function.map(|f| lang.params(f, src)).unwrap_or_default();
    let (kill, kill_import) = match &settings.kill_switch {
        Some(k) if !lang.kill_expr(k).is_empty() => {
            // The key depends on the class, so a placeholder is filled in per change.
            let import = lang.kill_import(k);
            let edit = (!import.is_empty() && !src.contains(import.trim())).then(|| {
                let at = lang.import_position(tree, src);
                Edit { start: at, end: at, text: format!("{}\n", import.trim()) }
            });
            (Some((lang.kill_expr(k).to_string(), k.prefix.clone())), edit)
        }
        _ => (None, None),
    };
    Some(Site { lang, src, path, line, stmt, region, function, params, kill, kill_import })
}

/// Visits every node under the region's nodes (pre-order), including them.
fn each_node<'t>(site: &Site<'t>, f: &mut dyn FnMut(Node<'t>)) {
    for r in &site.region {
        let mut cursor = r.walk();
        let mut stack = vec![*r];
        while let Some(n) = stack.pop() {
            f(n);
            // Do not descend into nested functions or lambdas.
            if n.id() != r.id() && site.lang.is_function(n.kind()) {
                continue;
            }
            let kids: Vec<Node> = n.children(&mut cursor).collect();
            stack.extend(kids.into_iter().rev());
        }
    }
}

/// Records a change, with the kill-switch key filled into its edits.
fn push(site: &Site<'_>, out: &mut Vec<Change>, class: Class, title: String, edits: Vec<Edit>) {
    let edits = match &site.kill {
        Some((_, prefix)) => {
            let key = key_for(prefix, class, site.path, site.line);
            edits.into_iter().map(|e| Edit { text: e.text.replace("{key}", &key), ..e }).collect()
        }
        None => edits,
    };
    out.push(Change { class, title, edits });
}

fn comparison(site: &Site<'_>, out: &mut Vec<Change>) {
    let mut found = Vec::new();
    each_node(site, &mut |n| {
        if let Some((op, flipped)) = site.lang.comparison_op(n, site.src) {
            found.push((n, op, flipped));
        }
    });
    for (n, op, flipped) in found {
        let old = site.text(n);
        let new = format!("{}{}{}", &site.src[n.start_byte()..op.start_byte()], flipped, &site.src[op.end_byte()..n.end_byte()]);
        let title = format!("comparison: `{}` → `{}`{}", one_line(old), one_line(&new), site.where_());
        push(site, out, Class::Comparison, title, site.replace_expr(n, &new));
    }
}

fn off_by_one(site: &Site<'_>, out: &mut Vec<Change>) {
    let mut targets = Vec::new();
    each_node(site, &mut |n| site.lang.integer_positions(n, site.src, &mut targets));
    targets.sort_by_key(|n| n.start_byte());
    targets.dedup_by_key(|n| n.id());
    for n in targets {
        let old = site.text(n);
        for delta in [1i64, -1] {
            let new = plus(site.lang, n, old, delta, site.src);
            let title = format!("off-by-one: `{}` → `{}`{}", one_line(old), one_line(&new), site.where_());
            push(site, out, Class::OffByOne, title, site.replace_expr(n, &new));
        }
    }
}

/// `e + delta`, simplified for literals and `x ± 1`.
fn plus(lang: Lang, n: Node<'_>, text: &str, delta: i64, src: &str) -> String {
    if let Ok(v) = text.trim().parse::<i64>() {
        return (v + delta).to_string();
    }
    if lang.is_binary(n.kind())
        && let (Some(l), Some(op), Some(r)) =
            (n.child_by_field_name("left"), n.child_by_field_name("operator"), n.child_by_field_name("right"))
        && let Ok(k) = src[r.byte_range()].trim().parse::<i64>()
    {
        let sign = match &src[op.byte_range()] {
            "+" => 1,
            "-" => -1,
            _ => 0,
        };
        if sign != 0 {
            let total = sign * k + delta;
            let left = &src[l.byte_range()];
            return match total.cmp(&0) {
                std::cmp::Ordering::Equal => left.to_string(),
                std::cmp::Ordering::Greater => format!("{left} + {total}"),
                std::cmp::Ordering::Less => format!("{left} - {}", -total),
            };
        }
    }
    let atom = lang.is_atomic(n.kind())
        || (lang.is_binary(n.kind()) && matches!(n.child_by_field_name("operator").map(|o| &src[o.byte_range()]), Some("+" | "-")));
    let base = if atom { text.to_string() } else { format!("({text})") };
    if delta > 0 { format!("{base} + {delta}") } else { format!("{base} - {}", -delta) }
}

fn null_guard(site: &Site<'_>, out: &mut Vec<Change>) {
    if site.function.is_none() {
        return;
    }
    let mut vars: Vec<String> = Vec::new();
    each_node(site, &mut |n| {
        if let Some(v) = site.lang.dereferenced(n, site.src)
            && !vars.contains(&v)
            && !site.lang.is_module_name(&v, site.src)
        {
            vars.push(v);
        }
    });
    for v in vars {
        for fb in fallbacks(site) {
            let cond = site.lang.is_null(&v);
            let body = site.lang.ret(&fb);
            let title = format!("null-guard: return {} when `{v}` is {}{}", fb_words(site, &fb), site.lang.null(), site.where_());
            push(site, out, Class::NullGuard, title, site.guard(&cond, &body));
        }
    }
}

fn bounds_guard(site: &Site<'_>, failure: &Failure, out: &mut Vec<Change>) {
    if site.function.is_none() {
        return;
    }
    let mut subs = Vec::new();
    each_node(site, &mut |n| {
        if let Some((obj, idx)) = site.lang.subscript(n, site.src) {
            subs.push((obj, idx));
        }
    });
    subs.dedup();
    for (obj, idx) in subs {
        let mut conds = Vec::new();
        let key = failure.exception == "KeyError";
        let index = matches!(failure.exception.as_str(), "IndexError" | "RangeError");
        if key || !index {
            conds.push((site.lang.not_in(&idx, &obj), format!("`{idx}` is not in `{obj}`")));
        }
        if index || !key {
            conds.push((site.lang.out_of_range(&idx, &obj), format!("`{idx}` is past the end of `{obj}`")));
        }
        for (cond, words) in conds {
            for fb in fallbacks(site) {
                let title = format!("bounds-guard: return {} when {words}{}", fb_words(site, &fb), site.where_());
                push(site, out, Class::BoundsGuard, title, site.guard(&cond, &site.lang.ret(&fb)));
            }
        }
    }
}

fn condition(site: &Site<'_>, out: &mut Vec<Change>) {
    // The condition on the line, or else the nearest enclosing one.
    let mut conds = Vec::new();
    each_node(site, &mut |n| {
        if let Some(c) = site.lang.condition_of(n) {
            conds.push(c);
        }
    });
    if conds.is_empty() {
        let mut up = site.stmt.parent();
        while let Some(n) = up {
            if site.function.is_some_and(|f| f.id() == n.id()) {
                break;
            }
            if let Some(c) = site.lang.condition_of(n) {
                conds.push(c);
                break;
            }
            up = n.parent();
        }
    }
    for c in conds {
        let inner = site.lang.unparen(c);
        let old = site.text(inner);
        let negated = site.lang.negate(inner, site.src);
        let title = format!("condition: `{}` negated{}", one_line(old), site.where_());
        push(site, out, Class::Condition, title, site.replace_expr(inner, &negated));
        if let Some((l, r)) = site.lang.bool_operands(inner) {
            for keep in [l, r] {
                let kept = site.text(keep);
                let title = format!("condition: `{}` → `{}`{}", one_line(old), one_line(kept), site.where_());
                push(site, out, Class::Condition, title, site.replace_expr(inner, kept));
            }
        }
    }
}

fn swap(site: &Site<'_>, out: &mut Vec<Change>) {
    let mut found = Vec::new();
    each_node(site, &mut |n| {
        if let Some(args) = site.lang.positional_args(n) {
            for w in args.windows(2) {
                found.push((n, w[0], w[1]));
            }
        } else if let Some((l, r)) = site.lang.noncommutative(n, site.src) {
            found.push((n, l, r));
        }
    });
    for (n, a, b) in found {
        let (ta, tb) = (site.text(a), site.text(b));
        let new = format!(
            "{}{}{}{}{}",
            &site.src[n.start_byte()..a.start_byte()],
            tb,
            &site.src[a.end_byte()..b.start_byte()],
            ta,
            &site.src[b.end_byte()..n.end_byte()]
        );
        let title = format!("swap: `{}` and `{}` in `{}`{}", one_line(ta), one_line(tb), one_line(site.text(n)), site.where_());
        push(site, out, Class::Swap, title, site.replace_expr(n, &new));
    }
}

fn fallback(site: &Site<'_>, failure: &Failure, out: &mut Vec<Change>) {
    if site.function.is_none() || site.lang.is_compound(site.stmt.kind()) || !site.lang.can_wrap(site.stmt) {
        return;
    }
    let exc = if failure.exception.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') && !failure.exception.is_empty() {
        failure.exception.clone()
    } else {
        "Exception".into()
    };
    for fb in fallbacks(site) {
        let indent = site.indent();
        let kill = site.kill.as_ref().map(|(e, _)| e.as_str());
        let text = site.lang.wrap_try(site.text(site.stmt), &exc, &site.lang.ret(&fb), &indent, &site.step(), kill);
        let title =
            format!("fallback: return {} when {} raises {exc}{}", fb_words(site, &fb), one_line(site.text(site.stmt)), site.where_());
        let edits = site.with_import(vec![Edit { start: site.stmt.start_byte(), end: site.stmt.end_byte(), text }]);
        push(site, out, Class::Fallback, title, edits);
    }
}

/// Values a guard may return: each parameter (the input unchanged), then null.
fn fallbacks(site: &Site<'_>) -> Vec<String> {
    let mut v: Vec<String> = site.params.clone();
    v.push(site.lang.null().to_string());
    v
}

fn fb_words(site: &Site<'_>, fb: &str) -> String {
    if fb == site.lang.null() { fb.to_string() } else { format!("`{fb}` unchanged") }
}

fn one_line(s: &str) -> String {
    let mut out = String::new();
    for (i, l) in s.lines().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{}", l.trim());
    }
    if out.chars().count() > 60 {
        let cut: String = out.chars().take(57).collect();
        return format!("{cut}…");
    }
    out
}

#[cfg(test)]
mod tests;
