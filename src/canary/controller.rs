//! The canary controller: takes an approved patch out step by step, judged on
//! real measurements, and rolls it back by itself when it hurts.
//!
//! It runs in `suture serve` (never in the console, so closing a console never
//! abandons a canary) and works from the rollout records in the store:
//!
//! - **Pending** → bring the stable and canary versions up, set the first
//!   step's weight, start the step's clock.
//! - **Progressing** → every interval: write the per-second measurements the
//!   console charts, check the canary process and the SLO guardrails; when
//!   the step's time is up, judge it (if the step has an analysis) and move
//!   on, or roll back on a failing verdict. After the last step the patch is
//!   promoted by the controller only where the tier-3 rule allows it;
//!   otherwise it waits, at full weight and still guarded, for a person.
//! - **Paused** → the step's clock stops; guardrails keep watching.
//! - **Aborted / rolled back** → the kill switch is thrown (the patch's flag
//!   set so the patched code is off), every request goes back to stable and
//!   the canary stops.
//!
//! Every change to a rollout is a compare-and-set on its revision, in one
//! transaction with the patch's lifecycle transition and the signed audit
//! entry (`store/rollouts.rs`). A step moves forward in the store before the
//! new weight is applied, and a restarted controller applies the stored
//! weight, so a crash anywhere neither skips nor repeats a step. After a
//! restart, a step is judged only on requests measured since the canary came
//! back up (at least half a step of them).
//!
//! Hysteresis: a rolled-back patch's lifecycle is over (RolledBack admits no
//! new canary), so it goes out again only as a new patch a person made.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::canary::judge::{self, Direction, JudgeConfig, MetricSpec};
use crate::config::{GuardrailCfg, RolloutCfg};
use crate::deliver::metrics::local::{per_second, quantile};
use crate::deliver::metrics::{MetricsError, MetricsSource};
use crate::deliver::proxy::{Cohort, Proxy};
use crate::deliver::replay::{self, Recorded};
use crate::deliver::rollout::RolloutBackend;
use crate::deliver::rollout::local::LocalCanary;
use crate::model::{
    Actor, CanaryVerdict, GuardrailState, MetricOutcome, Millis, Patch, PatchState, Rollout, RolloutStatus, RolloutStep, Transition,
};
use crate::store::{Point, RolloutAudit, Store, StoreError};

/// The deployer bot: who the controller's entries name.
pub const DEPLOYER: &str = "suture/deployer";

/// What the controller needs from its surroundings.
#[derive(Clone)]
pub struct Env {
    pub cfg: RolloutCfg,
    /// The source tree the workspaces are made from.
    pub source: PathBuf,
    pub workspaces: PathBuf,
    /// The deployment's live flag file (kill switches are thrown here).
    pub flags: PathBuf,
    /// Failure classes the policy lets the controller promote by itself.
    pub tier3_classes: Vec<String>,
    pub replay: Option<Arc<Vec<Recorded>>>,
    pub now: fn() -> Millis,
}

/// The steps a rollout takes, from the config.
pub fn plan(cfg: &RolloutCfg) -> Result<Vec<RolloutStep>, String> {
    if cfg.steps.is_empty() {
        return Err("rollout.steps is empty: a canary needs at least one step".into());
    }
    let mut last = 0;
    for (i, s) in cfg.steps.iter().enumerate() {
        if s.weight == 0 || s.weight > 100 {
            return Err(format!("rollout.steps[{i}]: weight {} is not in 1..=100", s.weight));
        }
        if s.weight < last {
            return Err(format!("rollout.steps[{i}]: weight {} is below the step before ({last}); weights only go up", s.weight));
        }
        last = s.weight;
    }
    Ok(cfg.steps.iter().map(|s| RolloutStep { weight: s.weight, pause_secs: s.pause_secs, analysis: s.analysis }).collect())
}

/// The kill-switch flag a patch's added lines test, if any (`prefix` is the
/// configured kill-switch prefix, `suture.kill.` in the demo).
pub fn kill_switch_of(patch: &Patch, prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    patch.diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).find_map(|l| {
        let at = l.find(prefix)?;
        let key: String = l[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).collect();
        (key.len() > prefix.len()).then_some(key)
    })
}

/// Records a new rollout for `patch_id` (the lifecycle checks the approvals).
pub fn start(store: &mut Store, patch_id: &str, by: &Actor, cfg: &RolloutCfg, kill_prefix: &str, now: Millis) -> Result<Rollout, String> {
    let patch = crate::govern::find_patch(store, patch_id).map_err(|e| e.to_string())?;
    if let Some(live) = store.rollouts().map_err(|e| e.to_string())?.into_iter().find(|r| r.status.is_live()) {
        return Err(format!(
            "rollout {} of patch {} is still {}; the local canary runs one at a time (promote or abort it first)",
            live.id,
            live.patch_id,
            live.status.label()
        ));
    }
    let steps = plan(cfg)?;
    let rollout = Rollout {
        id: format!("RO-{}", &patch.id[..patch.id.len().min(8)]),
        patch_id: patch.id.clone(),
        backend: cfg.backend.clone(),
        steps,
        current_step: 0,
        step_started: None,
        paused_ms: 0,
        paused_at: None,
        desired_weight: 0,
        actual_weight: None,
        status: RolloutStatus::Pending,
        started: now,
        updated: now,
        requested_by: by.name.clone(),
        revision: 1,
        verdicts: Vec::new(),
        guardrails: cfg.guardrails.iter().map(guard_state).collect(),
        kill_switch: kill_switch_of(&patch, kill_prefix),
        killed: false,
        metrics_lost: 0,
        message: "waiting for suture serve to bring the canary up".into(),
    };
    if store.rollout(&rollout.id).map_err(|e| e.to_string())?.is_some() {
        return Err(format!("patch {} already had a rollout ({}); a patch goes out once", patch.id, rollout.id));
    }
    store.start_rollout(&rollout, Transition::StartCanary { by: by.clone(), at: now }).map_err(|e| e.to_string())?;
    Ok(rollout)
}

fn guard_state(g: &GuardrailCfg) -> GuardrailState {
    GuardrailState {
        name: g.name.clone(),
        rule: format!("canary {} > {}x baseline (and > {}) for {} intervals", g.metric.replace('_', " "), g.factor, g.floor, g.intervals),
        breaches: 0,
        limit: g.intervals,
        canary: None,
        baseline: None,
        tripped: false,
    }
}

/// What a person asks of a rollout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Promote,
    Pause,
    Resume,
    Abort { reason: String },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Promote => "promote",
            Command::Pause => "pause",
            Command::Resume => "resume",
            Command::Abort { .. } => "abort",
        }
    }
}

/// Finds a rollout by id, id prefix, or its patch's id.
pub fn find(store: &Store, id: &str) -> Result<Rollout, String> {
    let all = store.rollouts().map_err(|e| e.to_string())?;
    let hits: Vec<Rollout> = all.into_iter().filter(|r| r.id == id || r.id.starts_with(id) || r.patch_id.starts_with(id)).collect();
    match hits.len() {
        0 => Err(format!("no rollout {id}")),
        1 => Ok(hits.into_iter().next().unwrap_or_else(|| unreachable!())),
        n => Err(format!("{id} matches {n} rollouts; give more of the id")),
    }
}

/// Applies a person's command: a compare-and-set write with the patch's
/// transition (promote, abort) and the audit entry. The running controller
/// acts on the new state at its next look; an abort also throws the kill
/// switch right here, so it takes effect even before that.
pub fn command(store: &mut Store, id: &str, cmd: &Command, by: &Actor, flags: &std::path::Path, now: Millis) -> Result<Rollout, String> {
    let mut r = find(store, id)?;
    if by.kind == crate::model::ActorKind::Bot {
        return Err("bots do not command rollouts".into());
    }
    let mut transition = None;
    match (cmd, r.status) {
        (_, s) if !s.is_live() => return Err(format!("rollout {} is {}; nothing to {}", r.id, s.label(), cmd.name())),
        (Command::Pause, RolloutStatus::Progressing | RolloutStatus::Pending) => {
            r.status = RolloutStatus::Paused;
            r.paused_at = Some(now);
            r.message = format!("paused by {}", by.name);
        }
        (Command::Pause, s) => return Err(format!("rollout {} is {}; only a progressing rollout pauses", r.id, s.label())),
        (Command::Resume, RolloutStatus::Paused) => {
            if let Some(at) = r.paused_at.take() {
                r.paused_ms += (now - at).max(0) as u64;
            }
            r.status = if r.step_started.is_some() { RolloutStatus::Progressing } else { RolloutStatus::Pending };
            r.message = format!("resumed by {}", by.name);
        }
        (Command::Resume, s) => return Err(format!("rollout {} is {}, not paused", r.id, s.label())),
        (Command::Promote, _) => {
            transition = Some(Transition::Promote { by: by.clone(), total_steps: r.steps.len(), auto_promote_classes: vec![], at: now });
            r.status = RolloutStatus::Promoted;
            r.desired_weight = 100;
            r.message = format!("promoted by {}", by.name);
        }
        (Command::Abort { reason }, _) => {
            if reason.trim().is_empty() {
                return Err("an abort needs a reason".into());
            }
            transition = Some(Transition::RollBack { by: by.clone(), reason: format!("aborted: {reason}"), at: now });
            if let Some(key) = &r.kill_switch {
                throw_kill_switch(flags, key)?;
                r.killed = true;
            }
            r.status = RolloutStatus::Aborted;
            r.desired_weight = 0;
            r.message = format!("aborted by {}: {reason}", by.name);
        }
    }
    r.revision += 1;
    r.updated = now;
    let payload = json!({ "rollout": r.id, "command": cmd.name(), "step": r.current_step + 1, "message": r.message });
    let action = format!("rollout {}", cmd.name());
    store.update_rollout(&r, transition, Some(RolloutAudit { actor: &by.name, action: &action, payload })).map_err(|e| e.to_string())?;
    Ok(r)
}

/// Turns the patch's kill switch on in the flag file (creating the flag).
pub fn throw_kill_switch(flags: &std::path::Path, key: &str) -> Result<(), String> {
    crate::deliver::flags::flagd::FlagdFile::new(flags)
        .set_or_create_boolean(key, true)
        .map(|_| ())
        .map_err(|e| format!("throwing the kill switch {key} in {}: {e}", flags.display()))
}

/// A rollout's live parts in this process.
struct Runtime {
    backend: Arc<LocalCanary>,
    /// When the canary came up here; judging only counts requests after it.
    up_at: Millis,
    replay: Option<tokio::task::JoinHandle<()>>,
    /// The last second written to the charts.
    charted_to: Millis,
    /// Marginal verdicts in a row on this step.
    marginal: u32,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(h) = self.replay.take() {
            h.abort();
        }
    }
}

pub struct Controller {
    store: Store,
    env: Env,
    proxy: Arc<Proxy>,
    metrics: Arc<dyn MetricsSource>,
    runtimes: HashMap<String, Runtime>,
    /// Promoted rollouts' versions, serving until serve stops.
    promoted: Vec<Runtime>,
    actor: Actor,
}

impl Controller {
    pub fn new(store: Store, env: Env, proxy: Arc<Proxy>, metrics: Arc<dyn MetricsSource>) -> Controller {
        Controller { store, env, proxy, metrics, runtimes: HashMap::new(), promoted: Vec::new(), actor: Actor::bot(DEPLOYER) }
    }

    /// Looks at every live rollout every interval until `stop` resolves.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        let every = Duration::from_secs(self.env.cfg.interval_secs.max(1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    if let Err(e) = self.tick().await {
                        tracing::warn!("rollout controller: {e}");
                    }
                }
            }
        }
    }

    fn now(&self) -> Millis {
        (self.env.now)()
    }

    /// One look at every rollout.
    pub async fn tick(&mut self) -> Result<(), String> {
        let rollouts = self.store.rollouts().map_err(|e| e.to_string())?;
        for r in rollouts {
            let result = match r.status {
                RolloutStatus::Pending => self.bring_up(r).await,
                RolloutStatus::Progressing | RolloutStatus::Paused | RolloutStatus::AwaitingPromotion => self.watch(r).await,
                RolloutStatus::Promoted => self.finish_promoted(&r).await,
                RolloutStatus::Aborted | RolloutStatus::RolledBack => self.tear_down(&r).await,
            };
            match result {
                Ok(()) => {}
                // A person wrote first; the next look starts from their state.
                Err(Failure::Conflict) => {}
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        Ok(())
    }

    async fn launch(&mut self, r: &Rollout) -> Result<(), String> {
        let patch = self.store.patch(&r.patch_id).map_err(|e| e.to_string())?.ok_or_else(|| format!("patch {} is gone", r.patch_id))?;
        let base = Some(patch.base_rev.as_str()).filter(|b| !b.starts_with("tree:"));
        let (source, workspaces, service, flags, proxy) = (
            self.env.source.clone(),
            self.env.workspaces.clone(),
            self.env.cfg.service.clone(),
            self.env.flags.clone(),
            Arc::clone(&self.proxy),
        );
        let diff = patch.diff.clone();
        let base = base.map(str::to_string);
        let backend = tokio::task::spawn_blocking(move || {
            LocalCanary::prepare(&source, base.as_deref(), &diff, &workspaces, &service, &flags, proxy)
        })
        .await
        .map_err(|e| format!("preparing the workspaces: {e}"))??;
        let backend = Arc::new(backend);
        backend.start().await?;
        backend.set_weight(r.desired_weight).await?;
        let replay = self.env.replay.as_ref().map(|reqs| {
            let addr = self.proxy_addr();
            let (reqs, rate, conc) = (Arc::clone(reqs), self.env.cfg.replay.rate, self.env.cfg.replay.concurrency);
            tokio::spawn(replay::run(addr, reqs, rate, conc, Arc::new(replay::Counts::default())))
        });
        let now = self.now();
        self.runtimes.insert(r.id.clone(), Runtime { backend, up_at: now, replay, charted_to: now - now.rem_euclid(1000), marginal: 0 });
        Ok(())
    }

    fn proxy_addr(&self) -> std::net::SocketAddr {
        self.env.cfg.listen.parse().unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 8700)))
    }

    /// Pending → the canary up at the first step's weight.
    async fn bring_up(&mut self, mut r: Rollout) -> Result<(), Failure> {
        if let Err(e) = self.launch(&r).await {
            self.runtimes.remove(&r.id);
            return self.roll_back(r, format!("the canary could not be brought up: {e}"), None).await;
        }
        let now = self.now();
        let step = r.steps[0].clone();
        r.status = RolloutStatus::Progressing;
        r.step_started = Some(now);
        r.desired_weight = step.weight;
        r.message = format!("step 1/{}: {}% of requests to the canary", r.steps.len(), step.weight);
        self.write(&mut r, None, "rollout step", json!({ "step": 1, "weight": step.weight })).await?;
        self.apply_weight(&r).await
    }

    async fn apply_weight(&mut self, r: &Rollout) -> Result<(), Failure> {
        if let Some(rt) = self.runtimes.get(&r.id) {
            rt.backend.set_weight(r.desired_weight).await.map_err(Failure::Other)?;
        }
        Ok(())
    }

    /// Writes `r` as the next revision with its audit entry.
    async fn write(&mut self, r: &mut Rollout, t: Option<Transition>, action: &str, mut payload: serde_json::Value) -> Result<(), Failure> {
        r.revision += 1;
        r.updated = self.now();
        if let Some(obj) = payload.as_object_mut() {
            obj.insert("rollout".into(), json!(r.id));
        }
        let audit = RolloutAudit { actor: DEPLOYER, action, payload };
        match self.store.update_rollout(r, t, Some(audit)) {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(Failure::Conflict),
            Err(e) => Err(Failure::Other(e.to_string())),
        }
    }

    /// Writes `r` without an audit entry (measurements and guardrail counts).
    fn write_quiet(&mut self, r: &mut Rollout) -> Result<(), Failure> {
        r.revision += 1;
        r.updated = self.now();
        match self.store.update_rollout(r, None, None) {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { .. }) => Err(Failure::Conflict),
            Err(e) => Err(Failure::Other(e.to_string())),
        }
    }

    async fn watch(&mut self, mut r: Rollout) -> Result<(), Failure> {
        if !self.runtimes.contains_key(&r.id) {
            // A restarted serve: bring both versions back at the stored weight.
            if let Err(e) = self.launch(&r).await {
                self.runtimes.remove(&r.id);
                return self.roll_back(r, format!("the canary could not be brought back up after a restart: {e}"), None).await;
            }
            r.message = format!("resumed at step {}/{} after a restart of suture serve", r.current_step + 1, r.steps.len());
            let payload = json!({ "step": r.current_step + 1, "weight": r.desired_weight });
            self.write(&mut r, None, "rollout resume", payload).await?;
        }
        let now = self.now();
        self.chart(&r.id, now)?;
        // A crashed canary is rolled back at once: its requests already fail.
        let status = match self.runtimes.get(&r.id) {
            Some(rt) => rt.backend.status().await.map_err(Failure::Other)?,
            None => return Ok(()),
        };
        if !status.canary_up || !status.stable_up {
            let why = status.problems.join("; ");
            return self.roll_back(r, format!("a process of the rollout stopped: {why}"), None).await;
        }
        r.actual_weight = status.actual_weight;
        if let Some(why) = self.guardrails(&mut r, now) {
            return self.roll_back(r, why, None).await;
        }
        let due = r.status == RolloutStatus::Progressing && r.step_remaining(now) == Some(0) && self.enough_data(&r, now);
        if !due {
            return self.write_quiet(&mut r);
        }
        let step = r.steps[r.current_step].clone();
        if step.analysis {
            match self.analyse(&r, now).await {
                Err(e) => {
                    r.metrics_lost += 1;
                    if r.metrics_lost > self.env.cfg.lost_metrics_limit {
                        let why = format!("metrics lost for {} intervals: {e}", r.metrics_lost);
                        return self.roll_back(r, why, None).await;
                    }
                    r.message = format!(
                        "holding step {}: no metrics ({e}); {} of {} tries",
                        r.current_step + 1,
                        r.metrics_lost,
                        self.env.cfg.lost_metrics_limit
                    );
                    let payload = json!({ "step": r.current_step + 1, "error": e.to_string(), "lost": r.metrics_lost });
                    return self.write(&mut r, None, "rollout metrics lost", payload).await;
                }
                Ok(verdict) => {
                    r.metrics_lost = 0;
                    let outcome = verdict.outcome.clone();
                    let payload = json!({ "step": r.current_step + 1, "verdict": verdict });
                    r.verdicts.push(verdict.clone());
                    match outcome.as_str() {
                        "pass" => {}
                        "marginal" if self.runtimes.get(&r.id).is_some_and(|rt| rt.marginal == 0) => {
                            // One more step's worth of data before deciding.
                            if let Some(rt) = self.runtimes.get_mut(&r.id) {
                                rt.marginal += 1;
                            }
                            r.step_started = Some(now);
                            r.paused_ms = 0;
                            r.message = format!("step {}: marginal score {:.0}; judging once more", r.current_step + 1, verdict.score);
                            return self.write(&mut r, None, "rollout analysis", payload).await;
                        }
                        _ => {
                            let why =
                                format!("analysis at step {} failed: score {:.0} ({})", r.current_step + 1, verdict.score, verdict.reason);
                            return self.roll_back(r, why, Some(payload)).await;
                        }
                    }
                    r.message = format!("step {} passed: score {:.0}", r.current_step + 1, verdict.score);
                    self.write(&mut r, None, "rollout analysis", payload).await?;
                }
            }
        }
        self.advance(r).await
    }

    /// Whether a step has been watched long enough since this process brought
    /// the canary up (after a restart, half a step of fresh requests).
    fn enough_data(&self, r: &Rollout, now: Millis) -> bool {
        let Some(rt) = self.runtimes.get(&r.id) else { return false };
        let pause = r.step().map(|s| s.pause_secs * 1000).unwrap_or(0) as i64;
        let from = self.window_start(r, rt);
        now - from >= pause / 2
    }

    fn window_start(&self, r: &Rollout, rt: &Runtime) -> Millis {
        let warm = self.env.cfg.warmup_secs as i64 * 1000;
        (r.step_started.unwrap_or(rt.up_at) + warm).max(rt.up_at + warm)
    }

    async fn advance(&mut self, mut r: Rollout) -> Result<(), Failure> {
        let now = self.now();
        if let Some(rt) = self.runtimes.get_mut(&r.id) {
            rt.marginal = 0;
        }
        if r.is_last_step() {
            let patch = self.store.patch(&r.patch_id).map_err(|e| Failure::Other(e.to_string()))?;
            let auto = Transition::Promote {
                by: self.actor.clone(),
                total_steps: r.steps.len(),
                auto_promote_classes: self.env.tier3_classes.clone(),
                at: now,
            };
            let allowed = patch.is_some_and(|mut p| p.apply(auto.clone()).is_ok());
            if allowed {
                r.status = RolloutStatus::Promoted;
                r.message = "every step passed; promoted by the tier-3 rule".into();
                self.write(&mut r, Some(auto), "rollout promote", json!({ "by": "tier-3 rule" })).await?;
                return self.finish_promoted(&r).await;
            }
            if r.status != RolloutStatus::AwaitingPromotion {
                r.status = RolloutStatus::AwaitingPromotion;
                r.message = "every step passed; waiting for a person to promote (suture rollout promote)".into();
                let payload = json!({ "steps": r.steps.len() });
                self.write(&mut r, None, "rollout awaiting promotion", payload).await?;
            }
            return Ok(());
        }
        let next = r.current_step + 1;
        let t = Transition::AdvanceCanary { by: self.actor.clone(), total_steps: r.steps.len(), at: now };
        r.current_step = next;
        r.desired_weight = r.steps[next].weight;
        r.step_started = Some(now);
        r.paused_ms = 0;
        r.message = format!("step {}/{}: {}% of requests to the canary", next + 1, r.steps.len(), r.desired_weight);
        let payload = json!({ "step": next + 1, "weight": r.desired_weight });
        // The store first: a crash after this line re-applies the stored weight.
        self.write(&mut r, Some(t), "rollout step", payload).await?;
        self.apply_weight(&r).await
    }

    /// Judges the current step: canary against baseline over the step's window.
    async fn analyse(&self, r: &Rollout, now: Millis) -> Result<CanaryVerdict, MetricsError> {
        let rt = self.runtimes.get(&r.id).ok_or_else(|| MetricsError::Config("no runtime".into()))?;
        let from = self.window_start(r, rt);
        let mut samples = Vec::new();
        for m in &self.env.cfg.metrics {
            let control = self.metrics.fetch(m, Cohort::Baseline, from, now).await?;
            let experiment = self.metrics.fetch(m, Cohort::Canary, from, now).await?;
            samples.push((metric_spec(m), control.values, experiment.values));
        }
        let j = &self.env.cfg.judge;
        let cfg = JudgeConfig {
            confidence: j.confidence,
            tolerance: j.tolerance,
            group_weights: j.group_weights.clone(),
            pass_threshold: j.pass,
            marginal_threshold: j.marginal,
            ..JudgeConfig::default()
        };
        let judgement = judge::judge(&cfg, &samples);
        Ok(CanaryVerdict {
            step: r.current_step,
            at: now,
            score: judgement.score,
            metrics: judgement
                .metrics
                .iter()
                .map(|m| MetricOutcome {
                    name: m.name.clone(),
                    verdict: m.verdict,
                    reason: m.reason.clone(),
                    baseline_n: m.control.n,
                    canary_n: m.experiment.n,
                    critical: m.critical,
                })
                .collect(),
            outcome: judgement.outcome.label().to_string(),
            reason: judgement.reason,
            from,
            to: now,
        })
    }

    /// Checks each guardrail over its window; the reason when one trips.
    fn guardrails(&mut self, r: &mut Rollout, now: Millis) -> Option<String> {
        let cfgs = self.env.cfg.guardrails.clone();
        if r.guardrails.len() != cfgs.len() {
            r.guardrails = cfgs.iter().map(guard_state).collect();
        }
        for (g, state) in cfgs.iter().zip(r.guardrails.iter_mut()) {
            let from = now - g.window_secs.max(1) as i64 * 1000;
            let value = |cohort| {
                let s = self.proxy.recorder.samples(cohort, from, now + 1);
                if (s.len() as u64) < g.min_requests.max(1) {
                    return None;
                }
                match g.metric.as_str() {
                    "latency_p95" => quantile(&mut s.iter().map(|x| x.latency_ms).collect::<Vec<_>>(), 0.95),
                    _ => Some(s.iter().filter(|x| x.is_error()).count() as f64 / s.len() as f64),
                }
            };
            let canary = value(Cohort::Canary);
            // At full weight the baseline has no requests: the last value it had stands.
            let baseline = value(Cohort::Baseline).or(state.baseline);
            state.canary = canary;
            state.baseline = baseline;
            let Some(c) = canary else { continue };
            let limit = (g.factor * baseline.unwrap_or(0.0)).max(g.floor);
            if c > limit {
                state.breaches += 1;
            } else {
                state.breaches = 0;
            }
            if state.breaches >= g.intervals.max(1) {
                state.tripped = true;
                return Some(format!(
                    "guardrail {} tripped: canary {} {:.4} over {:.4} for {} intervals",
                    g.name,
                    g.metric.replace('_', " "),
                    c,
                    limit,
                    state.breaches
                ));
            }
        }
        None
    }

    /// Writes the whole seconds measured since the last look, for the charts.
    fn chart(&mut self, id: &str, now: Millis) -> Result<(), Failure> {
        let Some(rt) = self.runtimes.get_mut(id) else { return Ok(()) };
        let to = now - now.rem_euclid(1000);
        if to <= rt.charted_to {
            return Ok(());
        }
        let mut points = Vec::new();
        for cohort in Cohort::ALL {
            let samples = self.proxy.recorder.samples(cohort, rt.charted_to, to);
            let seconds = per_second(&samples);
            let mut t = rt.charted_to;
            while t < to {
                let (n, errors, mut lat) = seconds.get(&t).cloned().unwrap_or_default();
                points.push(Point {
                    t,
                    cohort: cohort.label().into(),
                    requests: n,
                    errors,
                    p50_ms: quantile(&mut lat, 0.5),
                    p95_ms: quantile(&mut lat, 0.95),
                });
                t += 1000;
            }
        }
        rt.charted_to = to;
        self.store.put_rollout_points(id, &points).map_err(|e| Failure::Other(e.to_string()))
    }

    /// Stops the canary: kill switch first (it acts inside the patched code at
    /// once), then no traffic, then the record.
    async fn roll_back(&mut self, mut r: Rollout, why: String, verdict: Option<serde_json::Value>) -> Result<(), Failure> {
        let mut killed = None;
        if let Some(key) = r.kill_switch.clone()
            && !r.killed
        {
            match throw_kill_switch(&self.env.flags, &key) {
                Ok(()) => {
                    r.killed = true;
                    killed = Some(self.now());
                }
                Err(e) => tracing::error!("{e}"),
            }
        }
        if let Some(rt) = self.runtimes.get(&r.id) {
            let _ = rt.backend.abort().await;
        }
        let now = self.now();
        r.status = RolloutStatus::RolledBack;
        r.desired_weight = 0;
        r.message = format!("rolled back: {why}");
        let t = Transition::RollBack { by: self.actor.clone(), reason: why.clone(), at: now };
        let payload =
            json!({ "reason": why, "step": r.current_step + 1, "kill_switch": r.kill_switch, "killed_at": killed, "analysis": verdict });
        let patch_in_canary = self
            .store
            .patch(&r.patch_id)
            .ok()
            .flatten()
            .is_some_and(|p| matches!(p.state, PatchState::Canary { .. } | PatchState::Promoted));
        self.write(&mut r, patch_in_canary.then_some(t), "rollout roll back", payload).await?;
        self.runtimes.remove(&r.id);
        Ok(())
    }

    async fn tear_down(&mut self, r: &Rollout) -> Result<(), Failure> {
        if let Some(rt) = self.runtimes.remove(&r.id) {
            if let Some(key) = &r.kill_switch
                && !r.killed
            {
                let _ = throw_kill_switch(&self.env.flags, key);
            }
            let _ = rt.backend.abort().await;
        }
        Ok(())
    }

    async fn finish_promoted(&mut self, r: &Rollout) -> Result<(), Failure> {
        if let Some(rt) = self.runtimes.remove(&r.id) {
            let _ = rt.backend.promote().await;
            // The promoted version keeps serving until serve stops; nothing
            // more is judged.
            self.promoted.push(rt);
        }
        Ok(())
    }
}

fn metric_spec(m: &crate::config::MetricCfg) -> MetricSpec {
    MetricSpec {
        name: m.name.clone(),
        group: m.group.clone(),
        direction: match m.direction.as_str() {
            "decrease" => Direction::Decrease,
            "either" => Direction::Either,
            _ => Direction::Increase,
        },
        allowed_increase: m.allowed_increase,
        allowed_decrease: m.allowed_decrease,
        critical: m.critical,
        must_have_data: m.must_have_data,
        remove_outliers: m.remove_outliers,
        muted: m.muted,
    }
}

/// Why a look at one rollout stopped.
enum Failure {
    /// Someone else wrote the rollout first.
    Conflict,
    Other(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Other(e)
    }
}

/// The metrics source the config names.
pub fn metrics_source(cfg: &RolloutCfg, proxy: Arc<Proxy>) -> Result<Arc<dyn MetricsSource>, String> {
    for m in &cfg.metrics {
        crate::deliver::metrics::Kind::parse(&m.kind).map_err(|e| format!("rollout.metrics {:?}: {e}", m.name))?;
    }
    match cfg.metrics_source.as_str() {
        "proxy" => Ok(Arc::new(crate::deliver::metrics::local::ProxySource { proxy })),
        "prometheus" => Ok(Arc::new(crate::deliver::metrics::prometheus::Prometheus::new(&cfg.prometheus).map_err(|e| e.to_string())?)),
        other => Err(format!("rollout.metrics_source {other:?}: expected proxy or prometheus")),
    }
}
