//! Canary analysis: the statistics (`stats`), Kayenta's judge (`judge`) and
//! the controller that runs rollouts step by step (`controller`).

pub mod controller;
pub mod judge;
pub mod stats;
