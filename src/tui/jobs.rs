//! Long work the console starts: an incident's repro and a patch's
//! verification. Each runs on a thread of its own with its own store
//! connection and reports through actions, so the loop never waits: the
//! console stays responsive while a command loops, floods output or hangs
//! until its timeout.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use super::app::Record;
use super::app::{Action, Effect, RequestId};
use crate::audit::sign::{Keyring, Signers};
use crate::config::ProposeCfg;
use crate::govern::{Choice, Person, Team};
use crate::model::{Actor, Patch, ReproSpec, StepStatus};
use crate::policy::Policy;
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
    /// The keys entries are signed with.
    pub signers: Option<Signers>,
    /// The built-in repair templates' settings and the policy they are judged by.
    pub propose: Option<(ProposeCfg, Policy)>,
    /// The team keyring (attestations and post-mortems report the chain's status).
    pub keyring: Option<PathBuf>,
    /// `policy.tier3_classes`, for the post-mortem's advice.
    pub tier3_classes: Vec<String>,
    /// Where the console writes attestations and post-mortems.
    pub records: PathBuf,
}

/// Who decides from this console: the person, their team's roles, their keys.
pub struct Gov {
    pub person: Person,
    pub team: Team,
    pub signers: Signers,
    pub store: PathBuf,
    pub read_only: bool,
    /// The deployment's flag file, where an abort throws the kill switch.
    pub deploy_flags: Option<PathBuf>,
}

impl Gov {
    /// Records a decision; `Ok` says what happened, `Err` why it was refused.
    pub fn decide(&self, patch: &str, choice: Choice) -> Result<String, String> {
        let mut store = Store::open(&self.store).map_err(|e| e.to_string())?.with_signer(self.signers.clone());
        let glass = matches!(choice, Choice::BreakGlass { .. });
        let verb = choice.verb();
        let (p, state) = crate::govern::decide(&mut store, &self.team, &self.person, self.read_only, patch, choice, now())
            .map_err(|e| format!("cannot {verb}: {e}"))?;
        let what = p.approvals.last().map(|a| a.decision.label()).unwrap_or(verb);
        Ok(if glass {
            format!("⚠ BREAK-GLASS recorded on {} by {}: the patch is {}", p.id, self.person.name, state.label())
        } else {
            format!("{} {what} by {}: the patch is {}", p.id, self.person.name, state.label())
        })
    }

    /// Steers a rollout as the person at the keyboard; `Ok` says what happened.
    pub fn steer(&self, rollout: &str, command: &crate::canary::controller::Command) -> Result<String, String> {
        use crate::canary::controller::Command;
        if self.read_only {
            return Err(format!("{} is read-only here: cannot {} a rollout", self.person.name, command.name()));
        }
        let needs_role = matches!(command, Command::Promote | Command::Resume);
        if needs_role && !matches!(self.person.role, crate::model::Role::Reviewer | crate::model::Role::Commander) {
            return Err(format!(
                "{} is {}: {} takes a reviewer or a commander",
                self.person.name,
                self.person.role.with_article(),
                command.name()
            ));
        }
        let flags = self.deploy_flags.as_deref().ok_or("no deployment flag file is configured (rollout.flag_file)")?;
        let mut store = Store::open(&self.store).map_err(|e| e.to_string())?.with_signer(self.signers.clone());
        store.set_origin(self.person.origin.clone());
        let r = crate::canary::controller::command(&mut store, rollout, command, &self.person.actor(), flags, now())?;
        Ok(format!("{} {} by {}: {}", r.id, r.status.label(), self.person.name, r.message))
    }

    pub fn spawn_steer(
        self: &Arc<Self>,
        request: RequestId,
        rollout: String,
        command: crate::canary::controller::Command,
        tx: UnboundedSender<Action>,
    ) -> bool {
        let gov = Arc::clone(self);
        std::thread::Builder::new()
            .name("suture-steer".into())
            .spawn(move || {
                let result = gov.steer(&rollout, &command);
                let _ = tx.send(Action::Decided { request, result });
            })
            .is_ok()
    }

    /// Runs `decide` on a thread of its own and reports as an action.
    pub fn spawn(self: &Arc<Self>, request: RequestId, patch: String, choice: Choice, tx: UnboundedSender<Action>) -> bool {
        let gov = Arc::clone(self);
        std::thread::Builder::new()
            .name("suture-decide".into())
            .spawn(move || {
                let result = gov.decide(&patch, choice);
                let _ = tx.send(Action::Decided { request, result });
            })
            .is_ok()
    }
}

fn now() -> crate::model::Millis {
    jiff::Timestamp::now().as_millisecond()
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
            Effect::Propose { request, incident } => Box::new(move || {
                let result = jobs.propose(request, &incident, &tx);
                let _ = tx.send(Action::ReproDone { request, result });
            }),
            Effect::WriteRecord { request, record } => Box::new(move || {
                let result = jobs.write_record(&record);
                let _ = tx.send(Action::Wrote { request, result });
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

    fn open(&self) -> Result<Store, String> {
        let store = Store::open(&self.store).map_err(|e| e.to_string())?;
        Ok(match &self.signers {
            Some(s) => store.with_signer(s.clone()),
            None => store,
        })
    }

    fn write_record(&self, record: &Record) -> Result<String, String> {
        let store = self.open()?;
        let ring = match &self.keyring {
            Some(p) => Keyring::load(p).map_err(|e| e.to_string())?,
            None => Keyring::default(),
        };
        std::fs::create_dir_all(&self.records).map_err(|e| format!("{}: {e}", self.records.display()))?;
        let (path, text, what) = match record {
            Record::Attestation { patch } => {
                let key = self.signers.as_ref().and_then(|s| s.person()).ok_or("no personal key to sign with")?;
                let (p, text) = crate::govern::records::attestation(&store, &ring, key, patch, &self.setup.source, &self.setup.workspaces)?;
                (self.records.join(format!("{}.intoto.jsonl", p.id)), text, format!("attestation signed by {} ({})", key.owner, key.id()))
            }
            Record::Postmortem { incident } => {
                let spec = self.spec_for_incident(&store, incident).ok();
                let args = crate::govern::records::PostmortemArgs {
                    incident,
                    repro: spec.as_ref(),
                    tier3_classes: &self.tier3_classes,
                    by: &self.actor.name,
                    at: now(),
                };
                let text = crate::govern::records::postmortem(&store, &ring, &args)?;
                (self.records.join(format!("postmortem-{incident}.md")), text, "post-mortem".to_string())
            }
        };
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(format!("wrote the {what} to {}", path.display()))
    }

    /// The built-in repair templates on an incident: progress streams into
    /// the panel; the verified candidates are recorded as patches.
    fn propose(&self, request: RequestId, incident: &str, tx: &UnboundedSender<Action>) -> Result<String, String> {
        use crate::propose::record::{stage_symbol, stage_words};
        use crate::propose::search::{self, Job, Progress};
        use crate::tui::widgets::text::inert;
        let (cfg, policy) = self.propose.as_ref().ok_or("the proposer is not set up in this console")?;
        let mut store = self.open()?;
        let spec = self.spec_for_incident(&store, incident)?;
        let say = |text: String| {
            let _ = tx.send(Action::ReproOutput { request, text });
        };
        say(format!("proposing fixes for {incident} with the repair templates (repro {})\n", spec.id));
        let job = Job::templates(&self.setup.source, &self.setup.workspaces, self.setup.plan(&spec), policy, cfg);
        let progress = |p: Progress| match p {
            Progress::Localized { suspects, candidates } => {
                say(format!("localized {suspects} suspect line(s); {candidates} candidate(s)\n"))
            }
            Progress::Trying { id, title } => say(format!("… {id}  {}\n", inert(&title))),
            Progress::Done { id, stage } => say(format!("{} {id}  {}\n", stage_symbol(&stage), inert(&stage_words(&stage)))),
        };
        let found = search::run(&job, &progress)?;
        let recorded =
            crate::propose::record::record_verified(&mut store, &found, incident, &self.actor, &now).map_err(|e| e.to_string())?;
        for (cand, patch) in &recorded {
            say(format!("recorded {cand} as patch {patch}\n"));
        }
        match recorded.first() {
            Some((_, first)) => Ok(format!("verified {}: first patch {first}; review it in Patches (2)", recorded.len())),
            None => Err(format!("no candidate passed the gauntlet ({} tried)", found.tried.len())),
        }
    }

    fn verify(&self, request: RequestId, id: &str, tx: &UnboundedSender<Action>) -> Result<String, String> {
        let mut store = self.open()?;
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
