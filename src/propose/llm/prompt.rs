//! The prompt sent to a language model, and reading the diff out of its reply.
//!
//! [`build`] writes a system prompt (the rules of the answer: one minimal
//! unified diff in a ```` ```diff ```` block) and a user prompt (the incident:
//! title, stack trace, repro output, code snippets with line numbers, and the
//! policy's constraints). The user prompt is kept within a byte budget: the
//! stack trace and the repro output get a quarter of it each at most, and the
//! snippets, best score first, fill what is left.
//!
//! [`extract_diff`] finds the diff in whatever the model answered.

use std::fmt::Write as _;

/// What is sent: the system prompt and the one user message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prompt {
    pub system: String,
    pub user: String,
}

/// Everything the prompt is built from.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PromptContext {
    /// The incident's title, e.g. the exception type and message.
    pub title: String,
    /// The stack trace as text.
    pub stack: String,
    /// What running the repro printed (its end matters most).
    pub repro_output: String,
    /// Code around the localized lines.
    pub snippets: Vec<Snippet>,
    /// Rules the patch must follow (from policy), one sentence each.
    pub constraints: Vec<String>,
}

/// A piece of a source file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snippet {
    /// Relative to the repository root.
    pub path: String,
    /// The 1-based line number of the first line of `text`.
    pub first_line: usize,
    pub text: String,
    /// How likely the fault is in here; higher first.
    pub score: f64,
}

const SYSTEM: &str = "\
You fix production bugs with the smallest possible patch.

Answer with exactly one unified diff inside a single ```diff fenced code block. \
Outside the block write at most one short sentence.

Rules for the diff:
- Paths are relative to the repository root, with a/ and b/ prefixes: `--- a/path/to/file` then `+++ b/path/to/file`.
- Every hunk starts with a correct `@@ -start,count +start,count @@` header and keeps up to three lines of \
unchanged context, copied exactly from the code shown.
- Code is shown as `  42 | text`: the line number and ` | ` are not part of the file; never copy them into the diff.

Rules for the fix:
- Fix the root cause that the stack trace and the reproduction output point to, with the smallest change that does it.
- Do not refactor, rename, reformat, or touch unrelated code.
- Do not add new dependencies.
- Obey every constraint listed in the request.
";

const CLOSING: &str = "Answer with exactly one minimal unified diff in a ```diff fenced block.\n";

/// Builds the prompt for `ctx`, keeping the user prompt near `budget_bytes`
/// (the title, the constraints and the fixed wording always go in).
pub fn build(ctx: &PromptContext, budget_bytes: usize) -> Prompt {
    Prompt { system: SYSTEM.to_owned(), user: user_prompt(ctx, budget_bytes) }
}

fn user_prompt(ctx: &PromptContext, budget: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Incident: {}\n", ctx.title.trim());
    let stack = cut_middle(ctx.stack.trim_end(), budget / 4);
    push_text_section(&mut out, "Stack trace", &stack);
    let repro = keep_tail(ctx.repro_output.trim_end(), budget / 4);
    push_text_section(&mut out, "Reproduction output (last part)", &repro);

    let constraints = constraints_section(&ctx.constraints);
    let left = budget.saturating_sub(out.len() + constraints.len() + CLOSING.len());
    push_snippets(&mut out, &ctx.snippets, left);
    out.push_str(&constraints);
    out.push_str(CLOSING);
    out
}

/// A `## heading` and `text` in a ```` ```text ```` block; nothing if `text` is empty.
fn push_text_section(out: &mut String, heading: &str, text: &str) {
    if text.trim().is_empty() {
        return;
    }
    let _ = write!(out, "## {heading}\n\n```text\n{text}\n```\n\n");
}

fn constraints_section(constraints: &[String]) -> String {
    let mut out = String::new();
    let items: Vec<&str> = constraints.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    if items.is_empty() {
        return out;
    }
    out.push_str("## Constraints\n\n");
    for item in items {
        let _ = writeln!(out, "- {item}");
    }
    out.push('\n');
    out
}

/// Adds snippets, highest score first, while they fit in `budget` bytes. A
/// snippet that does not fit is skipped (a smaller one after it may fit),
/// except the first, which is cut at a line boundary instead.
fn push_snippets(out: &mut String, snippets: &[Snippet], budget: usize) {
    let mut order: Vec<&Snippet> = snippets.iter().filter(|s| !s.text.trim().is_empty()).collect();
    if order.is_empty() {
        return;
    }
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    const HEADING: &str = "## Code\n\n";
    out.push_str(HEADING);
    let mut used = HEADING.len();
    let mut added = 0;
    for snippet in order {
        let whole = render_snippet(snippet, usize::MAX);
        let block = if used + whole.len() <= budget {
            whole
        } else if added == 0 {
            render_snippet(snippet, budget.saturating_sub(used))
        } else {
            continue;
        };
        used += block.len();
        added += 1;
        out.push_str(&block);
    }
}

/// A snippet as a heading and a fenced block of numbered lines, cut after the
/// last line that keeps it within `max_bytes` (always at least one line).
fn render_snippet(snippet: &Snippet, max_bytes: usize) -> String {
    let lines: Vec<&str> = snippet.text.trim_end_matches(['\n', '\r']).lines().collect();
    let first = snippet.first_line;
    let last = first + lines.len().saturating_sub(1);
    let width = last.to_string().len();
    // The heading and the fences at their longest, so the cut never overshoots.
    let overhead = snippet_heading(&snippet.path, first, last, true).len() + "```\n".len() * 2 + 1;

    let mut body = String::new();
    let mut shown: usize = 0;
    for (i, line) in lines.iter().enumerate() {
        let numbered = format!("{:>width$} | {line}\n", first + i);
        if shown > 0 && overhead.saturating_add(body.len() + numbered.len()) > max_bytes {
            break;
        }
        body.push_str(&numbered);
        shown += 1;
    }
    let heading = snippet_heading(&snippet.path, first, first + shown.saturating_sub(1), shown < lines.len());
    format!("{heading}```\n{body}```\n\n")
}

fn snippet_heading(path: &str, first: usize, last: usize, cut: bool) -> String {
    let note = if cut { ", cut to fit" } else { "" };
    format!("### {path} (lines {first}-{last}{note})\n")
}

/// `text` if it has at most `max` bytes, else its start and its end (cut at
/// line boundaries where there are any) with a marker between them.
fn cut_middle(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let half = max / 2;
    let head = &text[..floor_boundary(text, half)];
    let head = head.rfind('\n').map_or(head, |i| &head[..i]);
    let tail = &text[ceil_boundary(text, text.len() - half)..];
    let tail = tail.find('\n').map_or(tail, |i| &tail[i + 1..]);
    let cut = text.len() - head.len() - tail.len();
    format!("{head}\n[… {cut} bytes cut …]\n{tail}")
}

/// The last `max` bytes of `text` (from a line start where there is one),
/// with a marker saying the start was cut.
fn keep_tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let tail = &text[ceil_boundary(text, text.len() - max)..];
    let tail = tail.find('\n').map_or(tail, |i| &tail[i + 1..]);
    let cut = text.len() - tail.len();
    format!("[… {cut} earlier bytes cut …]\n{tail}")
}

/// The largest char boundary of `s` at or below `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary of `s` at or above `i`.
fn ceil_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// The unified diff in a model's reply: the content of the first fenced
/// block tagged `diff` or `patch` (or untagged, if it looks like a diff);
/// else the reply from its first `--- ` or `diff --git ` line on, if that
/// part looks like a diff. The result ends with a newline.
pub fn extract_diff(reply: &str) -> Result<String, String> {
    fenced_diff(reply).or_else(|| bare_diff(reply)).ok_or_else(|| "the reply has no unified diff".to_owned())
}

fn fenced_diff(reply: &str) -> Option<String> {
    let mut lines = reply.lines();
    while let Some(line) = lines.next() {
        let Some((indent, info)) = fence_open(line) else { continue };
        let mut body = String::new();
        for inner in lines.by_ref() {
            if is_fence_close(inner, indent) {
                break;
            }
            body.push_str(inner);
            body.push('\n');
        }
        let tag = info.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        let wanted = match tag.as_str() {
            "diff" | "patch" | "udiff" => !body.trim().is_empty(),
            "" => looks_like_diff(&body),
            _ => false,
        };
        if wanted {
            return Some(body);
        }
    }
    None
}

/// An opening fence: its indentation and its info string.
fn fence_open(line: &str) -> Option<(&str, &str)> {
    let trimmed = line.trim_start();
    let indent = &line[..line.len() - trimmed.len()];
    let info = trimmed.strip_prefix("```")?;
    if info.contains('`') {
        return None;
    }
    Some((indent, info.trim()))
}

/// A closing fence: three backticks alone, at the opening's indentation or
/// at the line start. A diff's context line ` ``` ` is not one.
fn is_fence_close(line: &str, indent: &str) -> bool {
    let line = line.trim_end();
    line == "```" || line.strip_prefix(indent) == Some("```")
}

fn bare_diff(reply: &str) -> Option<String> {
    let mut offset = 0;
    for line in reply.split_inclusive('\n') {
        if line.starts_with("--- ") || line.starts_with("diff --git ") {
            let rest = &reply[offset..];
            return looks_like_diff(rest).then(|| with_final_newline(rest));
        }
        offset += line.len();
    }
    None
}

/// Has `--- `, `+++ ` and `@@` lines.
fn looks_like_diff(text: &str) -> bool {
    let has = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    has("--- ") && has("+++ ") && has("@@")
}

fn with_final_newline(text: &str) -> String {
    let mut out = text.to_owned();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(path: &str, first_line: usize, lines: usize, score: f64) -> Snippet {
        let text: String = (0..lines).map(|i| format!("code line {} of {path}\n", first_line + i)).collect();
        Snippet { path: path.into(), first_line, text, score }
    }

    fn context() -> PromptContext {
        PromptContext {
            title: "ZeroDivisionError: division by zero".into(),
            stack: "Traceback (most recent call last):\n  File \"app/cart.py\", line 42, in total\nZeroDivisionError: division by zero"
                .into(),
            repro_output: "collected 3 items\nFAILED test_cart.py::test_total".into(),
            snippets: vec![snippet("app/low.py", 1, 3, 0.1), snippet("app/cart.py", 40, 5, 0.9)],
            constraints: vec!["Do not touch migrations/".into(), "  ".into(), "Keep the public API".into()],
        }
    }

    #[test]
    fn system_prompt_states_the_rules() {
        let prompt = build(&context(), 10_000);
        for needle in ["exactly one unified diff", "```diff", "a/ and b/", "smallest change", "new dependencies", "constraint"] {
            assert!(prompt.system.contains(needle), "system prompt lacks {needle:?}");
        }
    }

    #[test]
    fn user_prompt_has_every_part_in_order() {
        let user = build(&context(), 10_000).user;
        let at = |needle: &str| user.find(needle).unwrap_or_else(|| panic!("{needle:?} missing from:\n{user}"));
        let title = at("ZeroDivisionError: division by zero");
        let stack = at("line 42, in total");
        let repro = at("FAILED test_cart.py::test_total");
        let best = at("### app/cart.py (lines 40-44)");
        let worse = at("### app/low.py (lines 1-3)");
        let constraints = at("- Do not touch migrations/\n- Keep the public API\n");
        assert!(title < stack && stack < repro && repro < best && best < worse && worse < constraints);
        assert!(user.contains("40 | code line 40 of app/cart.py\n"));
        assert!(user.contains("44 | code line 44 of app/cart.py\n"));
        assert!(!user.contains("- \n"), "blank constraints are dropped");
    }

    #[test]
    fn line_numbers_are_right_aligned() {
        let block = render_snippet(&snippet("a.py", 98, 3, 1.0), usize::MAX);
        assert!(block.contains("\n 98 | code line 98"), "{block}");
        assert!(block.contains("\n100 | code line 100"), "{block}");
    }

    #[test]
    fn snippets_stop_at_the_budget() {
        let mut ctx = context();
        ctx.snippets = vec![snippet("big.py", 1, 200, 0.5), snippet("best.py", 10, 5, 0.9), snippet("small.py", 1, 2, 0.1)];
        let user = build(&ctx, 1_500).user;
        assert!(user.contains("### best.py"));
        assert!(!user.contains("big.py"), "a snippet over the budget is left out");
        assert!(user.contains("### small.py"), "a smaller one after it still fits");
        assert!(user.len() <= 1_500, "{} bytes", user.len());
    }

    #[test]
    fn the_first_snippet_is_cut_at_line_boundaries_not_dropped() {
        let mut ctx = context();
        ctx.snippets = vec![snippet("huge.py", 1, 1_000, 1.0)];
        let user = build(&ctx, 2_000).user;
        assert!(user.contains("### huge.py (lines 1-"), "{user}");
        assert!(user.contains(", cut to fit)"));
        assert!(user.contains("   1 | code line 1 of huge.py\n"));
        assert!(!user.contains("1000 | "));
        assert!(user.len() <= 2_000, "{} bytes", user.len());
        // Every numbered line is whole.
        for line in user.lines().filter(|l| l.contains(" | code line")) {
            assert!(line.ends_with("of huge.py"), "{line:?}");
        }
    }

    #[test]
    fn a_tiny_budget_still_keeps_one_line_of_the_best_snippet() {
        let user = build(&context(), 10).user;
        assert!(user.contains("40 | code line 40 of app/cart.py\n"));
        assert!(!user.contains("41 | "));
    }

    #[test]
    fn repro_output_keeps_its_tail() {
        let mut ctx = context();
        ctx.repro_output = (0..2_000).map(|i| format!("output line {i}\n")).collect();
        let user = build(&ctx, 4_000).user;
        assert!(user.contains("output line 1999\n"));
        assert!(!user.contains("output line 0\n"));
        assert!(user.contains("earlier bytes cut"));
    }

    #[test]
    fn a_long_stack_keeps_both_ends() {
        let mut ctx = context();
        ctx.stack = (0..2_000).map(|i| format!("frame {i}\n")).collect();
        let user = build(&ctx, 4_000).user;
        assert!(user.contains("frame 0\n"));
        assert!(user.contains("frame 1999\n"));
        assert!(user.contains("bytes cut"));
        assert!(!user.contains("frame 1000\n"));
    }

    #[test]
    fn cutting_respects_utf8() {
        let text = "é".repeat(100);
        assert!(keep_tail(&text, 51).ends_with('é'));
        let cut = cut_middle(&text, 51);
        assert!(cut.starts_with('é') && cut.ends_with('é'));
    }

    #[test]
    fn empty_sections_are_left_out() {
        let ctx = PromptContext { title: "Boom".into(), ..PromptContext::default() };
        let user = build(&ctx, 1_000).user;
        assert!(!user.contains("## Stack trace"));
        assert!(!user.contains("## Reproduction output"));
        assert!(!user.contains("## Code"));
        assert!(!user.contains("## Constraints"));
        assert!(user.ends_with(CLOSING));
    }

    const DIFF: &str =
        "--- a/app/cart.py\n+++ b/app/cart.py\n@@ -1,2 +1,2 @@\n def total(n):\n-    return 1 / n\n+    return 1 / n if n else 0\n";

    #[test]
    fn extracts_a_diff_block() {
        let reply = format!("Here is the fix:\n\n```diff\n{DIFF}```\n\nThis guards the zero.");
        assert_eq!(extract_diff(&reply).unwrap(), DIFF);
    }

    #[test]
    fn extracts_a_patch_block_and_skips_other_blocks() {
        let reply = format!("```python\nprint(1)\n```\n```patch\n{DIFF}```\n");
        assert_eq!(extract_diff(&reply).unwrap(), DIFF);
    }

    #[test]
    fn a_plain_block_counts_only_if_it_is_a_diff() {
        let reply = format!("```\nnot a diff\n```\n```\n{DIFF}```\n");
        assert_eq!(extract_diff(&reply).unwrap(), DIFF);
        assert!(extract_diff("```\nprint(1)\n```\n").is_err());
    }

    #[test]
    fn an_indented_fence_and_a_backtick_context_line() {
        let diff = "--- a/README.md\n+++ b/README.md\n@@ -1,3 +1,3 @@\n ```\n-old\n+new\n";
        let reply = format!("  ```diff\n{diff}  ```\n");
        assert_eq!(extract_diff(&reply).unwrap(), diff);
    }

    #[test]
    fn an_unclosed_block_runs_to_the_end() {
        let reply = format!("```diff\n{DIFF}");
        assert_eq!(extract_diff(&reply).unwrap(), DIFF);
    }

    #[test]
    fn extracts_a_bare_diff() {
        let reply = format!("The fix:\n{}", DIFF.trim_end());
        assert_eq!(extract_diff(&reply).unwrap(), DIFF);
        let git = format!("diff --git a/app/cart.py b/app/cart.py\n{DIFF}");
        assert_eq!(extract_diff(&format!("Sure.\n{git}")).unwrap(), git);
    }

    #[test]
    fn no_diff_is_an_error() {
        assert_eq!(extract_diff("I cannot fix this."), Err("the reply has no unified diff".to_owned()));
        assert!(extract_diff("--- a/x\nsome text\n").is_err());
        assert!(extract_diff("```diff\n\n```\n").is_err());
    }
}
