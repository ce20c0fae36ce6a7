//! Long work the console starts: an incident's repro and a patch's
//! verification. Each runs on a thread of its own with its own store
//! connection and reports through actions, so the loop never waits: the
//! console stays responsive while a command loops, floods output or hangs
//! until its timeout.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::app::{Action, Effect, RequestId};
use crate::model::{Actor, Patch, ReproSpec, StepStatus};
use crate::repro::workspace::Workspace;
use crate::store::Store;
use crate::triage::fingerprint::Grouper;
use crate::verify::service::{self, Setup};

pub struct Jobs {
    pub setup: Setup,
    pub grouper: Grouper,
    /// Runs of an incident's repro (`repro.runs`).
    pub runs: usize,
    /// Who the console's verifications are recorded as.
    pub actor: Actor,
    pub store: PathBuf,
}

impl Jobs {
    /// Starts `effect`'s job on its own thread. Returns false for effects
    /// that are not jobs.
    pub fn spawn(self: &Arc<Self>, effect: &Effect, tx: UnboundedSender<Action>) -> bool {
        let jobs = Arc::clone(self);
        let work: Box<dyn FnOnce() + Send> = match effect.clone() {
            Effect::RunRepro { request, incident } => Box::new(move || {
                let result = jobs.repro(request, &incident, &tx);
                let _ = tx.send(Action::ReproDone { request, result });
            }),
            Effect::Verify { request, patch } => Box::new(move || {
                let result = jobs.verify(request, &patch, &tx);
                let _ = tx.send(Action::VerifyDone { request, result });
            }),
            _ => return false,
        };
        let spawned = std::thread::Builder::new().name("suture-job".into()).spawn(work);
        spawned.is_ok()
    }

    fn spec_for_incident(&self, store: &Store, id: &str) -> Result<ReproSpec, String> {
        crate::repro::runner::spec_for_incident(&self.setup.specs, store, id, &self.grouper)?
            .ok_or_else(|| format!("{id} is no longer in the store"))
    }

    fn repro(&self, request: RequestId, incident: &str, tx: &UnboundedSender<Action>) -> Result<String, String> {
        let store = Store::open(&self.store).map_err(|e| e.to_string())?;
        let spec = self.spec_for_incident(&store, incident)?;
        drop(store);
        let say = |text: String| {
            let _ = tx.send(Action::ReproOutput { request, text });
        };
        say(format!("$ {}    (spec {})\n", spec.command.join(" "), spec.id));
        let ws = Workspace::create(&self.setup.source, None, &self.setup.workspaces).map_err(|e| format!("making a workspace: {e}"))?;
        let mut last = usize::MAX;
        let report = crate::repro::runner::run_repeated(&spec, ws.path(), self.runs, &self.setup.opts, &mut |i, _, bytes| {
            if i != last {
                last = i;
                say(format!("── run {} of {} ──\n", i + 1, self.runs));
            }
            say(String::from_utf8_lossy(bytes).into_owned());
        });
        Ok(format!("{}: {}", spec.id, report.summary))
    }

    fn verify(&self, request: RequestId, id: &str, tx: &UnboundedSender<Action>) -> Result<String, String> {
        let mut store = Store::open(&self.store).map_err(|e| e.to_string())?;
        let patch: Patch = store.patch(id).map_err(|e| e.to_string())?.ok_or_else(|| format!("patch {id} is no longer in the store"))?;
        let spec = match &patch.incident_id {
            Some(inc) => self.spec_for_incident(&store, inc)?,
            None => self.setup.spec_for_patch(&patch.diff)?.clone(),
        };
        service::start(&mut store, id, &self.actor).map_err(|e| e.to_string())?;
        let base = Some(patch.base_rev.as_str()).filter(|b| !b.starts_with("tree:"));
        let sink = |event| {
            let _ = tx.send(Action::VerifyEvent { request, event });
        };
        let v = match crate::verify::run(&self.setup.plan(&spec), &self.setup.source, base, &patch.diff, &self.setup.workspaces, &sink) {
            Ok(v) => v,
            Err(why) => service::not_started(&patch, &why),
        };
        let state = service::finish(&mut store, id, &v).map_err(|e| e.to_string())?;
        Ok(match v.report.steps.iter().find(|s| s.status == StepStatus::Failed) {
            Some(s) => format!("{} — failed at {}: {}", state.label(), s.kind.label(), s.detail),
            None if v.report.is_flaky() => format!("{} — flaky evidence: never applied automatically", state.label()),
            None => state.label(),
        })
    }
}
