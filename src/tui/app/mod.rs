//! The console's core, Elm-style: keys become [`Action`]s through the keymap,
//! [`update`] changes [`State`] and returns [`Effect`]s, the effect runner does
//! the IO and feeds results back as actions. `update` is pure and tested
//! without a terminal; views only read `State`.

mod action;
mod decide;
mod effect;
mod state;
pub mod trace;
mod update;

pub use action::{Action, Snapshot};
pub use effect::{Effect, Record, RequestId};
pub use state::{
    Dialog, DialogKind, IncidentView, LiveVerify, LogView, Me, Pane, PanelKind, PatchFocus, PatchGeometry, PatchView, ReproPanel,
    SIDE_BY_SIDE_MIN, SortKey, State, Tab, push_tail,
};
pub use update::{Outcome, update};
