//! The domain of Suture as plain data.
//!
//! Everything here is pure: serde types and state machines, no IO, no async, no
//! clocks (callers pass timestamps in). Other modules depend on `model`; `model`
//! depends on nothing of ours. The patch lifecycle lives in [`lifecycle`] and is
//! the only place a patch's state may change.

pub mod approval;
pub mod audit;
pub mod event;
pub mod incident;
pub mod lifecycle;
pub mod patch;
pub mod repro;
pub mod risk;
pub mod rollout;
pub mod verify;

pub use approval::{Actor, ActorKind, Approval, Decision, Role};
pub use audit::AuditEntry;
pub use event::{ErrorEvent, ExceptionInfo, Level, StackFrame};
pub use incident::{Incident, IncidentStatus, RateAround};
pub use lifecycle::{LifecycleError, PatchState, Transition};
pub use patch::{Patch, PatchKind, StateChange};
pub use repro::{ReproExpectation, ReproRun, ReproSpec, ReproVerdict};
pub use risk::{RiskAssessment, Tier};
pub use rollout::{CanaryVerdict, GuardrailState, MetricOutcome, MetricVerdict, Rollout, RolloutStatus, RolloutStep};
pub use verify::{StepKind, StepStatus, VerificationReport, VerificationStep};

/// Milliseconds since the Unix epoch, UTC. Kept as an integer so records sort and
/// compare cheaply and serialize identically everywhere.
pub type Millis = i64;

/// The current time as [`Millis`].
pub fn now_millis() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}
