//! `suture whoami | approve | veto | request-changes | break-glass | audit |
//! attest | postmortem | export`: the governance commands.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::propose::Exit;
use super::{now_ms, open_store_as, repro_specs, session, store_path};
use crate::audit::attest as dsse;
use crate::audit::chain;
use crate::audit::sign::Keyring;
use crate::config::Loaded;
use crate::govern::{self, Choice, attest};
use crate::model::{AuditEntry, Patch};
use crate::store::Store;
use crate::tui::widgets::text::inert;

fn fail(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Exit { code: 1, message: message.into() })
}

pub fn whoami(loaded: &Loaded) -> Result<()> {
    let s = session(loaded)?;
    let key = s.signers.person().map(|k| k.id()).unwrap_or_default();
    println!("{} ({}, from {})", s.person.name, s.person.role.label(), s.person.via);
    if let Some(o) = &s.person.origin {
        println!("  working from {o}");
    }
    println!("  signing key {key}; keyring {}", s.keyring.display());
    println!("  roles from {}", s.team.source);
    if s.read_only {
        println!("  read-only: nothing this identity runs changes state");
    }
    Ok(())
}

/// approve / veto / request changes / break-glass.
pub fn decide(loaded: &Loaded, patch: &str, choice: Choice) -> Result<()> {
    let s = session(loaded)?;
    let verb = choice.verb();
    let glass = matches!(choice, Choice::BreakGlass { .. });
    let (mut store, _, _) = open_store_as(loaded, &s)?;
    let (p, state) = govern::decide(&mut store, &s.team, &s.person, s.read_only, patch, choice, now_ms())
        .map_err(|e| fail(format!("cannot {verb} {patch}: {e}")))?;
    if glass {
        eprintln!("!!! BREAK-GLASS by {} on patch {}: recorded loudly in the audit log and every view !!!", s.person.name, p.id);
    }
    let need = p.risk.as_ref().and_then(|r| r.tier.approvals_before_canary());
    println!(
        "{} {}: {} by {} ({}); the patch is {}{}",
        p.id,
        inert(&p.title),
        p.approvals.last().map(|a| a.decision.label()).unwrap_or(verb),
        s.person.name,
        s.person.role.label(),
        state.label(),
        match need {
            Some(n) if !glass => format!(
                "; {} approval(s), tier {} needs {n} before a canary",
                p.approval_count(),
                p.risk.as_ref().map_or(0, |r| r.tier.number())
            ),
            _ => String::new(),
        }
    );
    Ok(())
}

fn keyring(loaded: &Loaded) -> Result<(Keyring, PathBuf)> {
    let path = super::keyring_path(loaded)?;
    Ok((Keyring::load(&path)?, path))
}

/// Opens the store without creating keys or loading the demo: the audit
/// commands read what is there.
fn read_store(loaded: &Loaded) -> Result<Store> {
    let (path, _) = store_path(loaded)?;
    if !path.exists() {
        bail!("no store at {}", path.display());
    }
    Store::open(&path).with_context(|| format!("opening the store {}", path.display()))
}

pub fn audit_verify(loaded: &Loaded, json_out: bool) -> Result<()> {
    let store = read_store(loaded)?;
    let (ring, ring_path) = keyring(loaded)?;
    let log = store.audit_log()?;
    let result = chain::verify_log(&log, store.audit_head()?.as_ref(), &ring);
    if json_out {
        let v = match &result {
            Ok(v) => json!({"ok": true, "entries": v.entries, "head_signed_by": v.head_signed_by}),
            Err(b) => json!({"ok": false, "first_bad": b.seq, "why": b.why, "entries": log.len()}),
        };
        println!("{v}");
    }
    match result {
        Ok(v) => {
            if !json_out {
                println!(
                    "✔ audit log verified to #{}: {} entries, hash chain intact, every signature checked against {}{}",
                    v.entries,
                    v.entries,
                    ring_path.display(),
                    v.head_signed_by.map(|s| format!("; head signed by {s}")).unwrap_or_default()
                );
            }
            Ok(())
        }
        Err(b) => Err(fail(format!("✖ audit log broken at entry #{}: {}", b.seq, inert(&b.why)))),
    }
}

/// `--since`: a sequence number (`42` or `#42`) or an RFC 3339 time.
type Keep = Box<dyn Fn(&AuditEntry) -> bool>;

fn since_filter(since: Option<&str>) -> Result<Keep> {
    let Some(s) = since else { return Ok(Box::new(|_| true)) };
    if let Ok(n) = s.trim_start_matches('#').parse::<u64>() {
        return Ok(Box::new(move |e| e.seq >= n));
    }
    let t: jiff::Timestamp = s.parse().map_err(|e| {
        anyhow::Error::new(Exit { code: 2, message: format!("--since {s:?}: neither a sequence number nor an RFC 3339 time ({e})") })
    })?;
    let ms = t.as_millisecond();
    Ok(Box::new(move |e| e.at >= ms))
}

pub fn audit_export(loaded: &Loaded, since: Option<&str>, out: Option<&Path>) -> Result<()> {
    let store = read_store(loaded)?;
    let keep = since_filter(since)?;
    let mut text = String::new();
    for (e, payload) in store.audit_log()?.into_iter().filter(|(e, _)| keep(e)) {
        let payload: serde_json::Value = serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload));
        let line = json!({
            "seq": e.seq, "at": e.at, "time": dsse::rfc3339(e.at), "actor": e.actor, "action": e.action,
            "subject": e.subject, "payload_digest": e.payload_digest, "prev_hash": e.prev_hash,
            "hash": e.hash, "signature": e.signature, "payload": payload,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    write_out(out, &text)
}

fn write_out(out: Option<&Path>, text: &str) -> Result<()> {
    match out {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?;
            eprintln!("wrote {}", p.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

pub fn attest_patch(loaded: &Loaded, id: &str, out: Option<&Path>) -> Result<()> {
    let s = session(loaded)?;
    let (store, _, is_demo) = open_store_as(loaded, &s)?;
    let (ring, _) = keyring(loaded)?;
    let setup = super::verify::setup(loaded, is_demo, None)?;
    let key = s.signers.person().context("no personal key to sign with")?;
    let (patch, text) = govern::records::attestation(&store, &ring, key, id, &setup.source, &setup.workspaces).map_err(fail)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(format!("{}.intoto.jsonl", patch.id)));
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "wrote {}: in-toto evidence and SLSA provenance for patch {} ({} files), signed by {} with key {}",
        out.display(),
        patch.id,
        patch.files.len(),
        s.person.name,
        key.id()
    );
    Ok(())
}

pub fn attest_verify(loaded: &Loaded, file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let (ring, ring_path) = keyring(loaded)?;
    let checked = dsse::verify_bundle(&text, &ring).map_err(|e| fail(format!("✖ {}: {}", file.display(), inert(&e))))?;
    let ev = checked.evidence().expect("verify_bundle requires an evidence statement");
    let id = ev.predicate.pointer("/patch/id").and_then(|v| v.as_str()).unwrap_or("?").to_string();
    let digest = ev.predicate.pointer("/patch/digest").and_then(|v| v.as_str()).unwrap_or_default().to_string();
    // When this store knows the patch, its digest must be the one attested.
    if let Ok(store) = read_store(loaded)
        && let Ok(Some(p)) = store.patch(&id)
        && p.digest != digest
    {
        return Err(fail(format!("✖ {}: the store's patch {id} has digest {}, not the attested {digest}", file.display(), p.digest)));
    }
    let signers: Vec<String> = checked.statements.iter().map(|o| format!("{} ({})", o.signer, o.keyid)).collect();
    println!(
        "✔ {}: {} statements verified against {}; patch {id} ({} subjects); signed by {}",
        file.display(),
        checked.statements.len(),
        ring_path.display(),
        ev.subject.len(),
        signers.join(", ")
    );
    for s in &checked.statements {
        println!("  {}", s.statement.predicate_type);
    }
    Ok(())
}

pub fn postmortem(loaded: &Loaded, incident: &str, out: Option<&Path>) -> Result<()> {
    let s = session(loaded)?;
    let (store, _, is_demo) = open_store_as(loaded, &s)?;
    let inc = store.incident(incident)?.ok_or_else(|| fail(format!("no incident with id {}", inert(incident))))?;
    let (ring, _) = keyring(loaded)?;
    let specs = repro_specs(loaded, is_demo).unwrap_or_default();
    let spec = crate::repro::runner::spec_for_incident(&specs, &store, &inc.id, &super::grouper(loaded, is_demo)).ok().flatten();
    let args = govern::records::PostmortemArgs {
        incident: &inc.id,
        repro: spec.as_ref(),
        tier3_classes: &loaded.config.policy.tier3_classes,
        by: &s.person.name,
        at: now_ms(),
    };
    let text = govern::records::postmortem(&store, &ring, &args).map_err(fail)?;
    let out = out.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(format!("postmortem-{}.md", inc.id)));
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

pub struct ExportArgs<'a> {
    pub patch: &'a str,
    pub repo: Option<&'a Path>,
    pub branch: Option<&'a str>,
    pub format_patch: Option<&'a Path>,
    pub pr: Option<&'a str>,
    pub project: Option<&'a str>,
    pub api: Option<&'a str>,
    pub base: &'a str,
    pub token_env: Option<&'a str>,
}

/// The git top level holding `dir`, and `dir`'s path inside it.
fn git_toplevel(dir: &Path) -> Result<(PathBuf, Option<String>)> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .with_context(|| "running git")?;
    if !out.status.success() {
        bail!("{} is not in a git repository; pass --repo DIR", dir.display());
    }
    let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let canon = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let rel = canon.strip_prefix(&top).ok().map(|r| r.display().to_string()).filter(|r| !r.is_empty());
    Ok((top, rel))
}

/// `suture export PATCH`: a branch and a commit (the fix and its regression
/// test) in the target repository, or a format-patch file; optionally a pull
/// request for a branch you pushed. Never pushes.
pub fn export(loaded: &Loaded, a: &ExportArgs) -> Result<()> {
    let s = session(loaded)?;
    let (store, _, is_demo) = open_store_as(loaded, &s)?;
    let patch = govern::find_patch(&store, a.patch).map_err(|e| fail(e.to_string()))?;
    if !attest::attestable(patch.state) {
        return Err(fail(format!("patch {} is {}: only an approved patch is promoted to source", patch.id, patch.state.label())));
    }
    let source = super::verify::setup(loaded, is_demo, None)?.source;
    let (repo, directory) = match a.repo {
        Some(r) => (r.to_path_buf(), None),
        None => git_toplevel(&source)?,
    };
    let regression = patch.verification.as_ref().and_then(|v| v.regression_test.as_deref());
    let body = export_body(&patch);
    let input = govern::export::ExportInput {
        patch_id: &patch.id,
        title: &patch.title,
        message_body: &body,
        diff: &patch.diff,
        regression,
        base_rev: &patch.base_rev,
        directory: directory.as_deref(),
        author_name: &s.person.name,
        author_email: &format!("{}@users.suture.invalid", s.person.name),
    };
    let branch = a.branch.map(str::to_string).unwrap_or_else(|| govern::export::default_branch(&patch.id));
    if let Some(out) = a.format_patch {
        let written = govern::export::format_patch(&repo, &input, out).map_err(|e| fail(e.to_string()))?;
        println!(
            "wrote {} (the fix{}; apply with git am)",
            written.display(),
            if regression.is_some() { " and its regression test" } else { "" }
        );
    } else if a.pr.is_none() {
        let done = govern::export::to_branch(&repo, &input, &branch).map_err(|e| fail(e.to_string()))?;
        if let Some(n) = &done.note {
            eprintln!("note: {n}");
        }
        println!(
            "made branch {} at {} in {} (the fix{}); nothing was pushed: git push <remote> {}",
            done.branch,
            &done.commit[..12.min(done.commit.len())],
            repo.display(),
            if regression.is_some() { " and its regression test" } else { "" },
            done.branch
        );
    }
    if let Some(forge) = a.pr {
        let forge = match forge {
            "github" => govern::export::Forge::GitHub,
            "gitlab" => govern::export::Forge::GitLab,
            other => return Err(anyhow::Error::new(Exit { code: 2, message: format!("--pr {other:?}: github or gitlab") })),
        };
        let project = a.project.ok_or_else(|| Exit { code: 2, message: "--pr needs --project OWNER/NAME".into() })?;
        let token = govern::export::token_from_env(&forge, a.token_env).map_err(|e| fail(e.to_string()))?;
        let req = govern::export::PrRequest {
            forge,
            api_base: a.api.unwrap_or(forge.default_api_base()).to_string(),
            project: project.to_string(),
            token,
            head: branch.clone(),
            base: a.base.to_string(),
            title: format!("hotfix: {}", patch.title),
            body,
        };
        let client =
            reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(std::time::Duration::from_secs(30)).build()?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let url = rt.block_on(govern::export::open_pr(&client, &req)).map_err(|e| fail(e.to_string()))?;
        println!("opened {url} (from branch {branch}, which you pushed)");
    }
    Ok(())
}

/// The commit message body and pull request description: the evidence in brief.
fn export_body(p: &Patch) -> String {
    let mut out = String::new();
    if let Some(inc) = &p.incident_id {
        out.push_str(&format!("Fixes incident {inc}.\n\n"));
    }
    out.push_str(&format!("Proposed by {}", p.proposer.name));
    if let Some(r) = &p.requested_by {
        out.push_str(&format!(" at the request of {}", r.name));
    }
    out.push_str(".\n");
    if let Some(v) = &p.verification {
        out.push_str("\nVerification:\n");
        for s in &v.steps {
            out.push_str(&format!("- {} {}: {}\n", s.status.symbol(), s.kind.label(), s.detail.lines().next().unwrap_or("")));
        }
    }
    if let Some(r) = &p.risk {
        out.push_str(&format!("\nRisk: tier {} (score {:.2})\n", r.tier.number(), r.score));
    }
    for a in &p.approvals {
        out.push_str(&format!("{}: {} ({}) {}\n", a.decision.label(), a.who.name, a.role.label(), a.comment));
    }
    out
}
