//! The full-screen console. Depends on the engine, never the other way.

pub mod app;
pub mod jobs;
pub mod keymap;
pub mod run;
pub mod shots;
pub mod svg;
pub mod terminal;
pub mod theme;
pub mod views;
pub mod widgets;
