//! The `suture.toml` schema. Every table denies unknown keys, so a misspelt key
//! is an error, never silently ignored. Defaults here are the built-in layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub ui: Ui,
    pub store: StoreCfg,
    pub demo: Demo,
    pub identity: Identity,
    /// Key overrides: action name → key specs, e.g. `quit = ["q", "ctrl+c"]`.
    pub keys: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ColorMode {
    /// Truecolor when `COLORTERM` says so, else 256 colours; none under `NO_COLOR`.
    #[default]
    Auto,
    Truecolor,
    #[serde(rename = "256")]
    Ansi256,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ui {
    /// A theme name from `themes/` (`dark`, `light`, `high-contrast`) or a path to a theme file.
    pub theme: String,
    pub color: ColorMode,
    /// Remove every action that changes state.
    pub read_only: bool,
    /// Minimum time between two frames, in milliseconds.
    pub frame_ms: u64,
    /// How often the console checks the store for changes by other processes.
    pub poll_ms: u64,
}

impl Default for Ui {
    fn default() -> Ui {
        Ui { theme: "dark".into(), color: ColorMode::Auto, read_only: false, frame_ms: 16, poll_ms: 250 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StoreCfg {
    /// The SQLite file; unset means `suture.db` in the XDG data directory.
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Demo {
    /// Load the demo world's events into an empty store on first start.
    pub enabled: bool,
    /// The demo world's directory; unset means the `fixtures/demo` this build ships.
    pub root: Option<String>,
}

impl Default for Demo {
    fn default() -> Demo {
        Demo { enabled: true, root: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Identity {
    /// Who is at the keyboard; unset means the login name.
    pub name: Option<String>,
}
