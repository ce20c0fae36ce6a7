//! Delivery backends: flags, rollouts and metrics, one small trait each
//! (`FlagBackend`, `RolloutBackend`, `MetricsSource`), chosen by the config.
//! The controller (`canary/controller`) and the console only see the traits.

pub mod flags;
pub mod metrics;
pub mod proxy;
pub mod replay;
pub mod rollout;

/// A boxed, sendable future: what the traits' methods return, so the traits
/// stay object-safe.
pub type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
