//! Recording what a proposer found: each verified candidate becomes a stored
//! patch, proposed by the bot that wrote it and asked for by the person who
//! ran the proposer, with the gauntlet's evidence it was judged on. Shared by
//! `suture propose` and the console's propose job.

use crate::model::{Actor, Millis, Patch, PatchKind};
use crate::propose::search::{Found, Stage};
use crate::propose::templates::Class;
use crate::store::{Store, StoreError};
use crate::verify::service;

/// The bot the built-in repair templates propose as.
pub const TEMPLATES: &str = "suture/templates";

/// Stores each verified candidate of `found` for `incident` (a patch already
/// stored is left as it is). Returns `(candidate id, patch id)` pairs.
pub fn record_verified(
    store: &mut Store,
    found: &Found,
    incident: &str,
    requested_by: &Actor,
    now: &dyn Fn() -> Millis,
) -> Result<Vec<(String, String)>, StoreError> {
    let bot = Actor::bot(TEMPLATES);
    let mut recorded = Vec::new();
    for t in found.verified() {
        let (Some(report), Some(base)) = (&t.report, &t.base) else { continue };
        let c = &t.candidate;
        let kind = if c.class == Class::ConfigFlag { PatchKind::FlagFlip } else { PatchKind::Code };
        let files = crate::verify::apply::touched_files(&c.diff);
        let mut p = Patch::new(kind, c.title.clone(), c.diff.clone(), base.clone(), files, bot.clone(), Some(requested_by.clone()), now());
        p.incident_id = Some(incident.to_string());
        p.risk = t.assessment.as_ref().map(|a| a.risk.clone());
        if store.patch(&p.id)?.is_none() {
            store.add_patch(&p, now())?;
            service::start(store, &p.id, &bot)?;
            let v = crate::verify::Verified { report: report.clone(), logs: t.logs.clone(), base: base.clone() };
            service::finish(store, &p.id, &v)?;
        }
        recorded.push((c.id.clone(), p.id.clone()));
    }
    Ok(recorded)
}

/// A stage in a word or two, with its symbol.
pub fn stage_symbol(s: &Stage) -> &'static str {
    match s {
        Stage::Verified => "✔",
        Stage::NotTried => "·",
        Stage::Rejected(_) => "⊘",
        _ => "✖",
    }
}

pub fn stage_words(s: &Stage) -> String {
    match s {
        Stage::Verified => "verified: every gauntlet step passed".into(),
        Stage::NotTried => "not tried (budget or candidate limit)".into(),
        Stage::Rejected(r) => format!("rejected by policy: {}", r.join("; ")),
        Stage::ReproStillFails(why) => format!("the repro still fails: {why}"),
        Stage::GauntletFailed(why) => format!("gauntlet failed: {why}"),
    }
}
