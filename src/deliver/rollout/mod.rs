//! Rollout backends: what moves traffic between the stable and the canary
//! version. The controller decides *when*; a backend only does *what* it is
//! told, and every operation is idempotent (setting the same weight twice is
//! one weight), so a restarted controller can re-apply the stored state.

pub mod local;

use super::BoxFut;

/// What a backend reports about the deployment it manages.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BackendStatus {
    /// The weight the backend was last told.
    pub desired_weight: u8,
    /// The share of recent requests the canary actually served.
    pub actual_weight: Option<u8>,
    pub stable_up: bool,
    pub canary_up: bool,
    /// Anything wrong, one line each (a crashed process with its exit status…).
    pub problems: Vec<String>,
}

pub trait RolloutBackend: Send + Sync {
    /// Which backend this is, for the log and the console.
    fn name(&self) -> String;
    /// Brings the canary up beside the stable version, with no traffic yet.
    fn start(&self) -> BoxFut<'_, Result<(), String>>;
    /// Sends `weight` percent of requests to the canary.
    fn set_weight(&self, weight: u8) -> BoxFut<'_, Result<(), String>>;
    /// Holds the rollout where it is (the local backend has nothing to hold:
    /// the controller's clock stops).
    fn pause(&self) -> BoxFut<'_, Result<(), String>>;
    fn resume(&self) -> BoxFut<'_, Result<(), String>>;
    /// Makes the canary the stable version.
    fn promote(&self) -> BoxFut<'_, Result<(), String>>;
    /// Takes every request off the canary and stops it.
    fn abort(&self) -> BoxFut<'_, Result<(), String>>;
    fn status(&self) -> BoxFut<'_, Result<BackendStatus, String>>;
}
