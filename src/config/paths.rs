//! Where Suture keeps things, per the XDG base directories (via `directories`).

use std::path::PathBuf;

fn dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "suture")
}

/// `$XDG_CONFIG_HOME/suture/suture.toml`.
pub fn user_config_file() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().join("suture.toml"))
}

/// `$XDG_CONFIG_HOME/suture`: keys and the default keyring live here.
pub fn config_dir() -> Option<PathBuf> {
    dirs().map(|d| d.config_dir().to_path_buf())
}

/// `$XDG_DATA_HOME/suture`.
pub fn data_dir() -> Option<PathBuf> {
    dirs().map(|d| d.data_dir().to_path_buf())
}

/// The default store file, `$XDG_DATA_HOME/suture/suture.db`.
pub fn default_store() -> Option<PathBuf> {
    data_dir().map(|d| d.join("suture.db"))
}

/// The demo world this build ships, found beside the crate's manifest.
pub fn builtin_demo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}
