//! Promotion to source: a verified patch becomes a commit on a new local
//! branch ([`to_branch`]) or a mailbox file ([`format_patch`]), and a pull or
//! merge request can be opened for a branch ([`open_pr`]).
//!
//! - The commit is made in a temporary detached `git worktree` at the patch's
//!   base revision, never in the user's checkout: their working tree, index
//!   and `HEAD` are not touched, and the worktree is removed afterwards, on
//!   failure too. When the base is not a revision of the repository (a
//!   workspace digest, `working-tree`), `HEAD` is used and [`Exported::note`]
//!   says so.
//! - An existing branch is never overwritten, and nothing is ever pushed:
//!   publishing is the user's decision, and [`open_pr`] assumes the branch
//!   has been pushed.
//! - Git runs without terminal prompts and with the variables that would
//!   point it at another repository or index (`GIT_DIR`, …) cleared, so an
//!   inherited environment (a hook's, say) cannot redirect it. The
//!   repository's own hooks and settings apply as for any commit.
//! - The forge token only ever goes into a sensitive header: it is redacted
//!   from [`PrRequest`]'s `Debug` and from every error, and what a server
//!   says is made inert (no control characters) and cut short before it is
//!   shown.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, USER_AGENT};
use serde::Serialize;
use serde_json::Value;

/// Variables that would point git at another repository, index or ref
/// namespace than the one it is run in.
const REDIRECTING_ENV: [&str; 5] = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_NAMESPACE"];
/// Variables that would override the identity given for the commit.
const IDENTITY_ENV: [&str; 4] = ["GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"];
/// How much of git's or a server's message an error quotes, in characters.
const QUOTE_CHARS: usize = 300;
/// How many lines of git's error output an error quotes.
const QUOTE_LINES: usize = 6;
/// How much of a forge's reply is read, in bytes.
const REPLY_LIMIT: usize = 256 * 1024;

/// What a patch contributes to its commit. Paths in the diffs are relative to
/// the source root, which is `directory` inside the repository (`None`: the
/// repository's top).
#[derive(Debug, Clone, Copy)]
pub struct ExportInput<'a> {
    pub patch_id: &'a str,
    pub title: &'a str,
    pub message_body: &'a str,
    /// The fix, a unified diff (`a/…`, `b/…` paths).
    pub diff: &'a str,
    /// A second unified diff adding a regression test, when there is one.
    pub regression: Option<&'a str>,
    pub base_rev: &'a str,
    pub directory: Option<&'a str>,
    pub author_name: &'a str,
    pub author_email: &'a str,
}

/// A branch made by [`to_branch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub branch: String,
    /// The full SHA of the commit the branch points at.
    pub commit: String,
    /// Set when the patch's base revision is not a commit of the repository
    /// and the patch was applied to `HEAD` instead.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    GitHub,
    GitLab,
}

impl Forge {
    /// The variable [`token_from_env`] reads when not told another.
    pub fn token_var(self) -> &'static str {
        match self {
            Forge::GitHub => "GITHUB_TOKEN",
            Forge::GitLab => "GITLAB_TOKEN",
        }
    }

    /// The public service's API root.
    pub fn default_api_base(self) -> &'static str {
        match self {
            Forge::GitHub => "https://api.github.com",
            Forge::GitLab => "https://gitlab.com/api/v4",
        }
    }

    /// The reply field holding the request's web address.
    fn url_field(self) -> &'static str {
        match self {
            Forge::GitHub => "html_url",
            Forge::GitLab => "web_url",
        }
    }
}

impl fmt::Display for Forge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Forge::GitHub => "GitHub",
            Forge::GitLab => "GitLab",
        })
    }
}

/// A pull (GitHub) or merge (GitLab) request from `head` into `base`.
/// `project` is `owner/name` on GitHub and the project's path (or numeric id)
/// on GitLab.
#[derive(Clone)]
pub struct PrRequest {
    pub forge: Forge,
    pub api_base: String,
    pub project: String,
    pub token: String,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
}

impl fmt::Debug for PrRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrRequest")
            .field("forge", &self.forge)
            .field("api_base", &self.api_base)
            .field("project", &self.project)
            .field("token", &format_args!("<redacted>"))
            .field("head", &self.head)
            .field("base", &self.base)
            .field("title", &self.title)
            .field("body", &self.body)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("cannot run git: {0}")]
    GitUnavailable(#[source] std::io::Error),
    #[error("{0} is not a git repository")]
    NotARepository(String),
    #[error("{0} has no commit to apply the patch to")]
    NoCommits(String),
    #[error("{0:?} is not a valid patch id (letters, digits, '.', '_' and '-' only)")]
    InvalidPatchId(String),
    #[error("{0:?} is not a valid branch name")]
    InvalidBranch(String),
    #[error("branch {0} already exists")]
    BranchExists(String),
    #[error("git apply failed on the {what}: {detail}")]
    Apply { what: &'static str, detail: String },
    #[error("git {step} failed: {detail}")]
    Git { step: &'static str, detail: String },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{var} is {problem}: set it to a {forge} API token")]
    TokenVar { var: String, forge: Forge, problem: &'static str },
    #[error("the {forge} token {problem}")]
    InvalidToken { forge: Forge, problem: &'static str },
    #[error("{project:?} is not a {forge} project path")]
    InvalidProject { forge: Forge, project: String },
    #[error("cannot reach {forge}: {detail}")]
    Unreachable { forge: Forge, detail: String },
    #[error("{forge} answered {status}: {message}")]
    Rejected { forge: Forge, status: StatusCode, message: String },
    #[error("{forge} answered 201 without a usable {field}")]
    BadReply { forge: Forge, field: &'static str },
}

/// The branch a patch is exported to unless told otherwise.
pub fn default_branch(patch_id: &str) -> String {
    format!("suture/{patch_id}")
}

/// Commits the patch (and its regression test) on top of its base revision
/// and points the new branch `branch` at the commit. Refuses a branch that
/// already exists; pushes nothing.
pub fn to_branch(repo: &Path, input: &ExportInput, branch: &str) -> Result<Exported, ExportError> {
    ensure_repository(repo)?;
    check_new_branch(repo, branch)?;
    let made = make_commit(repo, input)?;
    let out = output(git(repo).args(["branch", branch, made.commit.as_str()]))?;
    if !out.status.success() {
        // Made by someone else meanwhile: still never overwritten.
        return Err(if branch_exists(repo, branch)? {
            ExportError::BranchExists(branch.to_owned())
        } else {
            ExportError::Git { step: "branch", detail: first_lines(&out.stderr) }
        });
    }
    Ok(Exported { branch: branch.to_owned(), commit: made.commit, note: made.note })
}

/// Makes the same commit as [`to_branch`] but leaves no branch: writes it as
/// `git format-patch` output to the file `out` and returns that path.
pub fn format_patch(repo: &Path, input: &ExportInput, out: &Path) -> Result<PathBuf, ExportError> {
    ensure_repository(repo)?;
    let made = make_commit(repo, input)?;
    let patch = run_raw(git(&made.scratch.tree).args(["format-patch", "-1", "--stdout", made.commit.as_str()]), "format-patch")?;
    fs::write(out, patch).map_err(|source| ExportError::Io { path: out.display().to_string(), source })?;
    Ok(out.to_path_buf())
}

/// Opens a pull or merge request and returns its web address. The branch
/// must already be on the forge: nothing is pushed here. The client's
/// timeouts apply; build it without redirects, as a redirect to another host
/// would carry GitLab's `PRIVATE-TOKEN` header along.
pub async fn open_pr(client: &reqwest::Client, req: &PrRequest) -> Result<String, ExportError> {
    let forge = req.forge;
    if req.token.trim().is_empty() {
        return Err(ExportError::InvalidToken { forge, problem: "is empty" });
    }
    check_project(forge, &req.project)?;
    let api = req.api_base.trim_end_matches('/');
    let request = match forge {
        Forge::GitHub => {
            let pull = GitHubPull { title: &req.title, head: &req.head, base: &req.base, body: &req.body };
            client
                .post(format!("{api}/repos/{}/pulls", req.project))
                .header(AUTHORIZATION, sensitive(forge, &format!("Bearer {}", req.token))?)
                .header(ACCEPT, "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28")
                .json(&pull)
        }
        Forge::GitLab => {
            let merge = GitLabMerge { source_branch: &req.head, target_branch: &req.base, title: &req.title, description: &req.body };
            client
                .post(format!("{api}/projects/{}/merge_requests", encode_component(&req.project)))
                .header("PRIVATE-TOKEN", sensitive(forge, &req.token)?)
                .json(&merge)
        }
    };
    let mut response = request.header(USER_AGENT, "suture").send().await.map_err(|e| transport_error(forge, &req.token, &e))?;
    let status = response.status();
    let reply = read_reply(&mut response).await;
    if status != StatusCode::CREATED {
        let message = reply.map_or_else(|_| "(the reply could not be read)".to_owned(), |body| server_message(&body));
        return Err(ExportError::Rejected { forge, status, message: inert(&redact(&message, &req.token)) });
    }
    let reply = reply.map_err(|e| transport_error(forge, &req.token, &e))?;
    let field = forge.url_field();
    serde_json::from_slice::<Value>(&reply)
        .ok()
        .and_then(|v| v.get(field)?.as_str().map(str::to_owned))
        .filter(|url| (url.starts_with("https://") || url.starts_with("http://")) && !url.chars().any(char::is_control))
        .ok_or(ExportError::BadReply { forge, field })
}

/// The token in `forge`'s usual variable (`GITHUB_TOKEN`, `GITLAB_TOKEN`) or
/// in `var`; surrounding whitespace is dropped. Errors name the variable,
/// never a value.
pub fn token_from_env(forge: &Forge, var: Option<&str>) -> Result<String, ExportError> {
    let var = var.filter(|v| !v.is_empty()).unwrap_or(forge.token_var());
    let problem = match std::env::var(var) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => "empty",
        Err(std::env::VarError::NotPresent) => "not set",
        Err(std::env::VarError::NotUnicode(_)) => "not valid UTF-8",
    };
    Err(ExportError::TokenVar { var: var.to_owned(), forge: *forge, problem })
}

// --- the commit ---------------------------------------------------------

/// A commit made in a scratch worktree; the worktree goes when this is
/// dropped.
struct Made {
    scratch: Scratch,
    commit: String,
    note: Option<String>,
}

fn make_commit(repo: &Path, input: &ExportInput) -> Result<Made, ExportError> {
    check_patch_id(input.patch_id)?;
    let (base, note) = resolve_base(repo, input.base_rev)?;
    let scratch = Scratch::new(repo)?;
    run(git(repo).args(["worktree", "add", "--detach"]).arg(&scratch.tree).arg(&base), "worktree add")?;
    scratch.apply("patch", input.diff, input.directory)?;
    if let Some(regression) = input.regression {
        scratch.apply("regression test", regression, input.directory)?;
    }
    let message = scratch.file("message", &commit_message(input))?;
    let mut git_commit = git(&scratch.tree);
    git_commit
        .arg("-c")
        .arg(format!("user.name={}", input.author_name))
        .arg("-c")
        .arg(format!("user.email={}", input.author_email))
        .args(["commit", "--quiet", "--cleanup=whitespace", "--file"])
        .arg(&message)
        .arg(format!("--author={} <{}>", input.author_name, input.author_email));
    for var in IDENTITY_ENV {
        git_commit.env_remove(var);
    }
    run(&mut git_commit, "commit")?;
    let commit = run(git(&scratch.tree).args(["rev-parse", "--verify", "HEAD"]), "rev-parse")?;
    Ok(Made { scratch, commit, note })
}

/// Title (on one line) + blank line + body + the `Suture-Patch` trailer.
fn commit_message(input: &ExportInput) -> String {
    let title = input.title.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut message = if title.is_empty() { format!("Suture patch {}", input.patch_id) } else { title };
    message.push_str("\n\n");
    let body = input.message_body.trim();
    if !body.is_empty() {
        message.push_str(body);
        message.push_str("\n\n");
    }
    message.push_str("Suture-Patch: ");
    message.push_str(input.patch_id);
    message.push('\n');
    message
}

/// The id goes into a trailer and the default branch name: one plain word.
fn check_patch_id(id: &str) -> Result<(), ExportError> {
    let plain = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if plain { Ok(()) } else { Err(ExportError::InvalidPatchId(id.to_owned())) }
}

/// The commit to apply the patch to, and a note when that is `HEAD` because
/// `base_rev` is not a commit of the repository.
fn resolve_base(repo: &Path, base_rev: &str) -> Result<(String, Option<String>), ExportError> {
    if !base_rev.is_empty()
        && !base_rev.starts_with('-')
        && let Some(commit) = commit_of(repo, base_rev)?
    {
        return Ok((commit, None));
    }
    let head = commit_of(repo, "HEAD")?.ok_or_else(|| ExportError::NoCommits(repo.display().to_string()))?;
    let short = head.get(..12).unwrap_or(&head);
    let note = format!("base revision {base_rev:?} is not a commit in this repository; the patch was applied to HEAD ({short}) instead");
    Ok((head, Some(note)))
}

fn commit_of(repo: &Path, rev: &str) -> Result<Option<String>, ExportError> {
    let out = output(git(repo).args(["rev-parse", "--verify", "--quiet"]).arg(format!("{rev}^{{commit}}")))?;
    Ok(out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

fn ensure_repository(repo: &Path) -> Result<(), ExportError> {
    if output(git(repo).args(["rev-parse", "--git-dir"]))?.status.success() {
        Ok(())
    } else {
        Err(ExportError::NotARepository(repo.display().to_string()))
    }
}

fn check_new_branch(repo: &Path, branch: &str) -> Result<(), ExportError> {
    let out = output(git(repo).args(["check-ref-format", "--branch", branch]))?;
    // `--branch` also expands `@{-1}` and the like: only a name that stands
    // for itself is taken.
    if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != branch {
        return Err(ExportError::InvalidBranch(branch.to_owned()));
    }
    if branch_exists(repo, branch)? {
        return Err(ExportError::BranchExists(branch.to_owned()));
    }
    Ok(())
}

fn branch_exists(repo: &Path, branch: &str) -> Result<bool, ExportError> {
    Ok(output(git(repo).args(["rev-parse", "--verify", "--quiet"]).arg(format!("refs/heads/{branch}")))?.status.success())
}

// --- the scratch worktree -----------------------------------------------

/// A private temporary directory holding a detached worktree of `repo` (at
/// `tree`, once added) and the files fed to git. Dropping it removes the
/// worktree, deletes the directory and prunes the worktree's registration.
struct Scratch {
    repo: PathBuf,
    dir: PathBuf,
    tree: PathBuf,
}

impl Scratch {
    fn new(repo: &Path) -> Result<Scratch, ExportError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        // Absolute, as git runs with `-C` and is handed paths inside it.
        let tmp = std::env::temp_dir();
        let tmp = std::path::absolute(&tmp).map_err(|source| ExportError::Io { path: tmp.display().to_string(), source })?;
        let mut builder = fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        loop {
            let dir = tmp.join(format!("suture-export-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
            match builder.create(&dir) {
                Ok(()) => return Ok(Scratch { repo: repo.to_path_buf(), tree: dir.join("worktree"), dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(source) => return Err(ExportError::Io { path: dir.display().to_string(), source }),
            }
        }
    }

    /// Writes `contents` to the file `name` beside the worktree.
    fn file(&self, name: &str, contents: &str) -> Result<PathBuf, ExportError> {
        let path = self.dir.join(name);
        fs::write(&path, contents).map_err(|source| ExportError::Io { path: path.display().to_string(), source })?;
        Ok(path)
    }

    /// `git apply --index` of `diff` in the worktree; `what` names the diff
    /// in the error.
    fn apply(&self, what: &'static str, diff: &str, directory: Option<&str>) -> Result<(), ExportError> {
        // git takes a diff whose last line lacks its newline for corrupt.
        let mut text = diff.to_owned();
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let file = self.file(&format!("{}.diff", what.replace(' ', "-")), &text)?;
        let mut apply = git(&self.tree);
        apply.args(["apply", "--index"]);
        if let Some(dir) = directory.map(|d| d.trim_matches('/')).filter(|d| !d.is_empty() && *d != ".") {
            apply.arg(format!("--directory={dir}"));
        }
        let out = output(apply.arg(&file))?;
        if out.status.success() { Ok(()) } else { Err(ExportError::Apply { what, detail: first_lines(&out.stderr) }) }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort, each step covering for a failed one before it.
        let _ = git(&self.repo).args(["worktree", "remove", "--force"]).arg(&self.tree).output();
        let _ = fs::remove_dir_all(&self.dir);
        let _ = git(&self.repo).args(["worktree", "prune"]).output();
    }
}

// --- running git --------------------------------------------------------

/// `git -C dir`, never prompting, with the redirecting variables cleared.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).env("GIT_TERMINAL_PROMPT", "0").stdin(Stdio::null());
    for var in REDIRECTING_ENV {
        cmd.env_remove(var);
    }
    cmd
}

fn output(cmd: &mut Command) -> Result<Output, ExportError> {
    cmd.output().map_err(ExportError::GitUnavailable)
}

/// Runs `cmd` and returns its standard output; a failure names `step` and
/// quotes git's first lines of error output.
fn run_raw(cmd: &mut Command, step: &'static str) -> Result<Vec<u8>, ExportError> {
    let out = output(cmd)?;
    if out.status.success() { Ok(out.stdout) } else { Err(ExportError::Git { step, detail: first_lines(&out.stderr) }) }
}

/// [`run_raw`], its output as trimmed text.
fn run(cmd: &mut Command, step: &'static str) -> Result<String, ExportError> {
    Ok(String::from_utf8_lossy(&run_raw(cmd, step)?).trim().to_owned())
}

fn first_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).take(QUOTE_LINES).collect();
    if lines.is_empty() { "(git said nothing)".to_owned() } else { inert(&lines.join("; ")) }
}

/// `text` safe to show in a terminal: control characters become `?`, and
/// past [`QUOTE_CHARS`] it is cut short with `…`.
fn inert(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(QUOTE_CHARS).map(|c| if c.is_control() { '?' } else { c }).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

// --- the forges ---------------------------------------------------------

#[derive(Serialize)]
struct GitHubPull<'a> {
    title: &'a str,
    head: &'a str,
    base: &'a str,
    body: &'a str,
}

#[derive(Serialize)]
struct GitLabMerge<'a> {
    source_branch: &'a str,
    target_branch: &'a str,
    title: &'a str,
    description: &'a str,
}

/// GitHub wants `owner/name`, spliced into the path as is; GitLab a path of
/// one or more segments (or a numeric id), percent-encoded whole.
fn check_project(forge: Forge, project: &str) -> Result<(), ExportError> {
    fn segment(s: &str) -> bool {
        !s.is_empty() && s != "." && s != ".." && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }
    let valid = match forge {
        Forge::GitHub => project.split_once('/').is_some_and(|(owner, name)| segment(owner) && segment(name)),
        Forge::GitLab => project.split('/').all(segment),
    };
    if valid { Ok(()) } else { Err(ExportError::InvalidProject { forge, project: project.to_owned() }) }
}

/// Percent-encodes a component: `/` becomes `%2F`.
fn encode_component(text: &str) -> String {
    crate::encode::percent_encode(text)
}

/// A header value that is marked sensitive (kept out of HTTP logging).
fn sensitive(forge: Forge, value: &str) -> Result<HeaderValue, ExportError> {
    let mut header = HeaderValue::from_str(value)
        .map_err(|_| ExportError::InvalidToken { forge, problem: "contains characters that cannot go in an HTTP header" })?;
    header.set_sensitive(true);
    Ok(header)
}

/// Up to [`REPLY_LIMIT`] bytes of the reply.
async fn read_reply(response: &mut reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = REPLY_LIMIT - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == REPLY_LIMIT {
            break;
        }
    }
    Ok(body)
}

fn transport_error(forge: Forge, token: &str, error: &reqwest::Error) -> ExportError {
    let chain = std::iter::successors(Some(error as &(dyn std::error::Error + 'static)), |e| e.source());
    let detail = chain.map(ToString::to_string).collect::<Vec<_>>().join(": ");
    ExportError::Unreachable { forge, detail: inert(&redact(&detail, token)) }
}

/// What the server said: its `message`, `errors`, `error` and
/// `error_description` fields, or the reply itself when it is not JSON.
fn server_message(body: &[u8]) -> String {
    let parts = match serde_json::from_slice::<Value>(body) {
        Ok(reply) => {
            let mut parts = Vec::new();
            for key in ["message", "errors", "error", "error_description"] {
                if let Some(value) = reply.get(key) {
                    collect_text(value, &mut parts);
                }
            }
            parts
        }
        Err(_) => vec![String::from_utf8_lossy(body).trim().to_owned()],
    };
    let message = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("; ");
    if message.is_empty() { "(no message)".to_owned() } else { message }
}

/// The text in a JSON error value: GitHub's `{"message": …}` or
/// `{"field": …, "code": …}` items, GitLab's `{"field": ["…"]}` maps.
fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => {
            for item in items {
                collect_text(item, out);
            }
        }
        Value::Object(fields) => {
            if let Some(message) = fields.get("message") {
                collect_text(message, out);
            } else if let Some(code) = fields.get("code").and_then(Value::as_str) {
                let field = fields.get("field").and_then(Value::as_str).unwrap_or_default();
                out.push(format!("{field} {code}").trim_start().to_owned());
            } else {
                for (key, value) in fields {
                    let mut inner = Vec::new();
                    collect_text(value, &mut inner);
                    out.extend(inner.into_iter().map(|text| format!("{key} {text}")));
                }
            }
        }
        other => out.push(other.to_string()),
    }
}

fn redact(text: &str, token: &str) -> String {
    if token.is_empty() { text.to_owned() } else { text.replace(token, "<redacted>") }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, Method, Uri};
    use serde_json::json;

    use super::*;

    const PRICING: &str = "def total(items):\n    return sum(item.price for item in items)\n";

    const FIX: &str = "\
--- a/pricing.py
+++ b/pricing.py
@@ -1,2 +1,2 @@
 def total(items):
-    return sum(item.price for item in items)
+    return sum(item.price * item.quantity for item in items)
";

    const REGRESSION: &str = "\
--- /dev/null
+++ b/test_pricing.py
@@ -0,0 +1,6 @@
+from collections import namedtuple
+from pricing import total
+
+def test_total_counts_quantity():
+    Item = namedtuple(\"Item\", \"price quantity\")
+    assert total([Item(2, 3)]) == 6
";

    const TOKEN: &str = "tok-secret-123";

    fn sh(dir: &Path, args: &[&str]) -> String {
        run(git(dir).args(args), "(test)").unwrap()
    }

    /// A repository with `pricing.py` committed under `root` (`""`: the top).
    fn repo_at(root: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        sh(p, &["init", "--quiet", "--initial-branch=main"]);
        sh(p, &["config", "user.name", "Repo Owner"]);
        sh(p, &["config", "user.email", "owner@example.com"]);
        sh(p, &["config", "commit.gpgsign", "false"]);
        fs::create_dir_all(p.join(root)).unwrap();
        fs::write(p.join(root).join("pricing.py"), PRICING).unwrap();
        sh(p, &["add", "."]);
        sh(p, &["commit", "--quiet", "-m", "initial"]);
        dir
    }

    fn input(base_rev: &str) -> ExportInput<'_> {
        ExportInput {
            patch_id: "abc123",
            title: "Fix total: count quantity",
            message_body: "Totals ignored the quantity of each line.\n\n# not a comment",
            diff: FIX,
            regression: Some(REGRESSION),
            base_rev,
            directory: None,
            author_name: "Suture Bot",
            author_email: "bot@suture.example",
        }
    }

    fn worktrees(p: &Path) -> usize {
        sh(p, &["worktree", "list", "--porcelain"]).lines().filter(|l| l.starts_with("worktree ")).count()
    }

    /// Everything about the user's checkout that an export must not change.
    fn checkout_state(p: &Path) -> Vec<String> {
        vec![
            sh(p, &["status", "--porcelain"]),
            sh(p, &["rev-parse", "HEAD"]),
            sh(p, &["symbolic-ref", "HEAD"]),
            sh(p, &["diff"]),
            sh(p, &["diff", "--cached"]),
            fs::read_to_string(p.join("pricing.py")).unwrap(),
        ]
    }

    #[test]
    fn to_branch_commits_fix_and_test_without_touching_the_checkout() {
        let dir = repo_at("");
        let p = dir.path();
        let head = sh(p, &["rev-parse", "HEAD"]);
        // Uncommitted work of every kind: modified, staged, untracked.
        fs::write(p.join("pricing.py"), format!("{PRICING}# local edit\n")).unwrap();
        fs::write(p.join("notes.txt"), "staged\n").unwrap();
        sh(p, &["add", "notes.txt"]);
        fs::write(p.join("scratch.txt"), "untracked\n").unwrap();
        let before = checkout_state(p);

        let exported = to_branch(p, &input(&head), &default_branch("abc123")).unwrap();

        assert_eq!(exported.branch, "suture/abc123");
        assert_eq!(exported.note, None);
        assert_eq!(sh(p, &["rev-parse", "suture/abc123"]), exported.commit);
        assert_eq!(sh(p, &["rev-parse", "suture/abc123^"]), head);
        assert_eq!(sh(p, &["rev-list", "--count", "main..suture/abc123"]), "1");
        assert_eq!(sh(p, &["show", "--name-only", "--format=", "suture/abc123"]), "pricing.py\ntest_pricing.py");
        assert!(sh(p, &["show", "suture/abc123:pricing.py"]).contains("item.price * item.quantity"));
        assert!(sh(p, &["show", "suture/abc123:test_pricing.py"]).contains("def test_total_counts_quantity"));
        assert_eq!(
            sh(p, &["log", "-1", "--format=%B", "suture/abc123"]),
            "Fix total: count quantity\n\nTotals ignored the quantity of each line.\n\n# not a comment\n\nSuture-Patch: abc123"
        );
        let who = sh(p, &["log", "-1", "--format=%an <%ae> / %cn <%ce>", "suture/abc123"]);
        assert_eq!(who, "Suture Bot <bot@suture.example> / Suture Bot <bot@suture.example>");

        assert_eq!(checkout_state(p), before);
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn an_existing_branch_is_refused_and_left_alone() {
        let dir = repo_at("");
        let p = dir.path();
        let head = sh(p, &["rev-parse", "HEAD"]);
        sh(p, &["branch", "suture/abc123"]);

        let err = to_branch(p, &input(&head), "suture/abc123").unwrap_err();

        assert!(matches!(err, ExportError::BranchExists(_)), "{err:?}");
        assert_eq!(err.to_string(), "branch suture/abc123 already exists");
        assert_eq!(sh(p, &["rev-parse", "suture/abc123"]), head);
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn a_diff_that_does_not_apply_fails_and_leaves_no_worktree() {
        let dir = repo_at("");
        let p = dir.path();
        let head = sh(p, &["rev-parse", "HEAD"]);
        let stale = FIX.replace("item.price for item", "line.price for line");

        let err = to_branch(p, &ExportInput { diff: &stale, ..input(&head) }, "suture/abc123").unwrap_err();

        assert!(err.to_string().starts_with("git apply failed on the patch: "), "{err}");
        assert!(err.to_string().contains("pricing.py"), "{err}");
        assert_eq!(worktrees(p), 1);
        assert_eq!(sh(p, &["branch", "--list", "suture/*"]), "");
    }

    #[test]
    fn a_regression_test_that_does_not_apply_is_named_as_such() {
        let dir = repo_at("");
        let p = dir.path();
        // The fix again: it no longer applies on top of itself.
        let err = to_branch(p, &ExportInput { regression: Some(FIX), ..input("HEAD") }, "suture/abc123").unwrap_err();
        assert!(err.to_string().starts_with("git apply failed on the regression test: "), "{err}");
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn a_base_that_is_not_a_revision_falls_back_to_head_and_says_so() {
        let dir = repo_at("");
        let p = dir.path();
        let head = sh(p, &["rev-parse", "HEAD"]);

        let exported = to_branch(p, &input("working-tree"), "suture/abc123").unwrap();

        let note = exported.note.unwrap();
        assert!(note.contains("\"working-tree\"") && note.contains("HEAD"), "{note}");
        assert_eq!(sh(p, &["rev-parse", "suture/abc123^"]), head);
    }

    #[test]
    fn a_source_root_below_the_top_is_applied_with_directory() {
        let dir = repo_at("services/pricing");
        let p = dir.path();

        let exported = to_branch(p, &ExportInput { directory: Some("services/pricing/"), ..input("HEAD") }, "suture/abc123").unwrap();

        assert_eq!(
            sh(p, &["show", "--name-only", "--format=", &exported.commit]),
            "services/pricing/pricing.py\nservices/pricing/test_pricing.py"
        );
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn bad_names_and_places_are_refused_up_front() {
        let plain = tempfile::tempdir().unwrap();
        let err = to_branch(plain.path(), &input("HEAD"), "suture/abc123").unwrap_err();
        assert_eq!(err.to_string(), format!("{} is not a git repository", plain.path().display()));

        let dir = repo_at("");
        let p = dir.path();
        for bad in ["-x", "a..b", "HEAD", "@{-1}", "with space"] {
            let err = to_branch(p, &input("HEAD"), bad).unwrap_err();
            assert!(matches!(err, ExportError::InvalidBranch(_)), "{bad}: {err:?}");
        }
        let err = to_branch(p, &ExportInput { patch_id: "abc\nInjected: yes", ..input("HEAD") }, "suture/x").unwrap_err();
        assert!(matches!(err, ExportError::InvalidPatchId(_)), "{err:?}");
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn format_patch_writes_a_mailbox_and_leaves_no_branch() {
        let dir = repo_at("");
        let p = dir.path();
        let out = dir.path().join("fix.patch");

        let written = format_patch(p, &input("HEAD"), &out).unwrap();

        assert_eq!(written, out);
        let patch = fs::read_to_string(&out).unwrap();
        assert!(patch.starts_with("From "), "{patch}");
        assert!(patch.contains("Suture-Patch: abc123"), "{patch}");
        assert!(patch.contains("+++ b/test_pricing.py"), "{patch}");
        assert_eq!(sh(p, &["branch", "--format=%(refname:short)"]), "main");
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn dropping_the_scratch_removes_worktree_and_directory() {
        let dir = repo_at("");
        let p = dir.path();
        let scratch = Scratch::new(p).unwrap();
        run(git(p).args(["worktree", "add", "--detach"]).arg(&scratch.tree).arg("HEAD"), "worktree add").unwrap();
        let place = scratch.dir.clone();
        assert_eq!(worktrees(p), 2);

        drop(scratch);

        assert!(!place.exists());
        assert_eq!(worktrees(p), 1);
    }

    #[test]
    fn text_from_outside_is_made_inert_and_short() {
        assert_eq!(inert("a\x1b[31mb\nc\x7fd\u{9b}e"), "a?[31mb?c?d?e");
        let long = inert(&"x".repeat(1000));
        assert_eq!(long.chars().count(), QUOTE_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(encode_component("group/sub-team/shop.api"), "group%2Fsub-team%2Fshop.api");
    }

    #[test]
    fn token_from_env_names_the_variable_and_never_a_value() {
        let err = token_from_env(&Forge::GitHub, Some("SUTURE_TEST_TOKEN_THAT_IS_NOT_SET")).unwrap_err();
        assert_eq!(err.to_string(), "SUTURE_TEST_TOKEN_THAT_IS_NOT_SET is not set: set it to a GitHub API token");
        // Setting a variable is unsafe while other tests run; any that is set will do.
        assert!(!token_from_env(&Forge::GitLab, Some("PATH")).unwrap().is_empty());
    }

    // --- pull requests over a loopback server ---------------------------

    struct Seen {
        method: Method,
        path: String,
        headers: HeaderMap,
        body: Value,
    }

    /// Serves every request with `status` and `reply`, keeping what it saw.
    async fn forge(status: StatusCode, reply: Value) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: String| {
            let log = Arc::clone(&log);
            let reply = reply.clone();
            async move {
                let body = serde_json::from_str(&body).unwrap_or(Value::Null);
                log.lock().unwrap().push(Seen { method, path: uri.path().to_owned(), headers, body });
                (status, axum::Json(reply))
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn client() -> reqwest::Client {
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    fn pr(forge: Forge, api_base: String, project: &str) -> PrRequest {
        PrRequest {
            forge,
            api_base,
            project: project.to_owned(),
            token: TOKEN.to_owned(),
            head: "suture/abc123".to_owned(),
            base: "main".to_owned(),
            title: "Fix total: count quantity".to_owned(),
            body: "Verified by suture.".to_owned(),
        }
    }

    fn header<'a>(seen: &'a Seen, name: &str) -> &'a str {
        seen.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[tokio::test]
    async fn github_pull_request_is_opened() {
        let (base, seen) = forge(StatusCode::CREATED, json!({"number": 7, "html_url": "https://github.com/acme/shop/pull/7"})).await;

        let url = open_pr(&client(), &pr(Forge::GitHub, format!("{base}/"), "acme/shop")).await.unwrap();

        assert_eq!(url, "https://github.com/acme/shop/pull/7");
        let seen = seen.lock().unwrap();
        let [req] = seen.as_slice() else { panic!("{} requests", seen.len()) };
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.path, "/repos/acme/shop/pulls");
        assert_eq!(header(req, "authorization"), format!("Bearer {TOKEN}"));
        assert_eq!(header(req, "accept"), "application/vnd.github+json");
        assert_eq!(header(req, "x-github-api-version"), "2022-11-28");
        assert_eq!(header(req, "user-agent"), "suture");
        assert_eq!(
            req.body,
            json!({"title": "Fix total: count quantity", "head": "suture/abc123", "base": "main", "body": "Verified by suture."})
        );
    }

    #[tokio::test]
    async fn gitlab_merge_request_is_opened() {
        let reply = json!({"iid": 3, "web_url": "https://gitlab.example/acme/shop/-/merge_requests/3"});
        let (base, seen) = forge(StatusCode::CREATED, reply).await;

        let url = open_pr(&client(), &pr(Forge::GitLab, base, "acme/backend/shop")).await.unwrap();

        assert_eq!(url, "https://gitlab.example/acme/shop/-/merge_requests/3");
        let seen = seen.lock().unwrap();
        let [req] = seen.as_slice() else { panic!("{} requests", seen.len()) };
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.path, "/projects/acme%2Fbackend%2Fshop/merge_requests");
        assert_eq!(header(req, "private-token"), TOKEN);
        assert!(req.headers.get("authorization").is_none());
        assert_eq!(
            req.body,
            json!({
                "source_branch": "suture/abc123",
                "target_branch": "main",
                "title": "Fix total: count quantity",
                "description": "Verified by suture."
            })
        );
    }

    #[tokio::test]
    async fn github_refusal_names_status_and_message_but_not_the_token() {
        let reply = json!({"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]});
        let (base, _) = forge(StatusCode::UNPROCESSABLE_ENTITY, reply).await;

        let err = open_pr(&client(), &pr(Forge::GitHub, base, "acme/shop")).await.unwrap_err();

        let text = err.to_string();
        assert!(text.contains("422"), "{text}");
        assert!(text.contains("Validation Failed") && text.contains("A pull request already exists"), "{text}");
        assert!(!text.contains(TOKEN) && !format!("{err:?}").contains(TOKEN), "{text}");
    }

    #[tokio::test]
    async fn gitlab_refusal_is_inert_and_redacted_even_when_the_server_echoes_the_token() {
        let reply = json!({"message": format!("401 Unauthorized \u{1b}[2J for {TOKEN}")});
        let (base, _) = forge(StatusCode::UNAUTHORIZED, reply).await;

        let err = open_pr(&client(), &pr(Forge::GitLab, base, "acme/shop")).await.unwrap_err();

        let text = err.to_string();
        assert_eq!(text, "GitLab answered 401 Unauthorized: 401 Unauthorized ?[2J for <redacted>");
    }

    #[tokio::test]
    async fn requests_are_checked_before_anything_is_sent() {
        let (base, seen) = forge(StatusCode::CREATED, json!({})).await;
        let bad_project = open_pr(&client(), &pr(Forge::GitHub, base.clone(), "acme/shop/../x")).await.unwrap_err();
        assert!(matches!(bad_project, ExportError::InvalidProject { .. }), "{bad_project:?}");
        let no_token = PrRequest { token: " ".to_owned(), ..pr(Forge::GitHub, base, "acme/shop") };
        let err = open_pr(&client(), &no_token).await.unwrap_err();
        assert_eq!(err.to_string(), "the GitHub token is empty");
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let shown = format!("{:?}", pr(Forge::GitHub, "https://api.github.com".to_owned(), "acme/shop"));
        assert!(!shown.contains(TOKEN) && shown.contains("<redacted>"), "{shown}");
    }
}
