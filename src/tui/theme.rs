//! Themes: the built-in dark theme, with `themes/*.toml` files as partial
//! overrides, resolved to the terminal's colour depth.
//!
//! Truecolor when `COLORTERM` says `truecolor`/`24bit`, else the nearest of
//! the 256-colour palette; `NO_COLOR` (non-empty) turns colour off. State is
//! never shown by colour alone: views pair colours with symbols, and without
//! colour the selection is drawn reversed.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

use crate::config::ColorMode;

const DARK: &str = include_str!("../../themes/dark.toml");
const BUILTIN: &[(&str, &str)] = &[
    ("dark", DARK),
    ("light", include_str!("../../themes/light.toml")),
    ("high-contrast", include_str!("../../themes/high-contrast.toml")),
];

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[serde(default)]
    colors: Colors,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct Colors {
    fg: Option<String>,
    bg: Option<String>,
    dim: Option<String>,
    border: Option<String>,
    accent: Option<String>,
    tab_active_fg: Option<String>,
    tab_active_bg: Option<String>,
    selection_bg: Option<String>,
    banner_fg: Option<String>,
    banner_bg: Option<String>,
    ok: Option<String>,
    warn: Option<String>,
    error: Option<String>,
    spark: Option<String>,
    header: Option<String>,
    minus_bg: Option<String>,
    plus_bg: Option<String>,
    minus_emph_bg: Option<String>,
    plus_emph_bg: Option<String>,
}

/// Resolved colours, ready to draw with.
#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub depth: Depth,
    pub fg: Color,
    pub bg: Color,
    pub dim: Color,
    pub border: Color,
    pub accent: Color,
    pub tab_active_fg: Color,
    pub tab_active_bg: Color,
    pub selection_bg: Color,
    pub banner_fg: Color,
    pub banner_bg: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub spark: Color,
    pub header: Color,
    /// Backgrounds of removed and added lines in a diff, and of the words
    /// that changed inside them.
    pub minus_bg: Color,
    pub plus_bg: Color,
    pub minus_emph_bg: Color,
    pub plus_emph_bg: Color,
}

/// The colour depth the theme was resolved for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    TrueColor,
    Ansi256,
    NoColor,
}

impl Depth {
    /// Decides the depth from the config and the environment.
    pub fn detect(mode: ColorMode, env: &BTreeMap<String, String>) -> Depth {
        match mode {
            ColorMode::Truecolor => Depth::TrueColor,
            ColorMode::Ansi256 => Depth::Ansi256,
            ColorMode::None => Depth::NoColor,
            ColorMode::Auto => {
                if env.get("NO_COLOR").is_some_and(|v| !v.is_empty()) {
                    Depth::NoColor
                } else if env.get("COLORTERM").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "truecolor" | "24bit")) {
                    Depth::TrueColor
                } else {
                    Depth::Ansi256
                }
            }
        }
    }
}

impl Theme {
    /// Loads a theme by built-in name or file path, over the built-in dark theme.
    pub fn load(name_or_path: &str, depth: Depth) -> Result<Theme, String> {
        let (name, text) = match BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            Some((n, t)) => (n.to_string(), t.to_string()),
            None => {
                let path = Path::new(name_or_path);
                if !path.exists() {
                    let names: Vec<&str> = BUILTIN.iter().map(|b| b.0).collect();
                    return Err(format!("theme `{name_or_path}`: not a built-in theme ({}) nor a file", names.join(", ")));
                }
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                (path.display().to_string(), text)
            }
        };
        let base = parse(DARK, "themes/dark.toml")?.colors;
        let over = parse(&text, &name)?.colors;
        Theme::resolve(&name, &base, &over, depth)
    }

    /// The built-in dark theme (for tests and fallbacks).
    pub fn builtin(depth: Depth) -> Theme {
        Theme::load("dark", depth).unwrap_or_else(|e| panic!("the built-in theme is broken: {e}"))
    }

    fn resolve(name: &str, base: &Colors, over: &Colors, depth: Depth) -> Result<Theme, String> {
        let pick = |field: &str, o: &Option<String>, b: &Option<String>| -> Result<Color, String> {
            let spec = o.as_ref().or(b.as_ref()).ok_or_else(|| format!("theme {name}: colors.{field} is missing"))?;
            let c = parse_color(spec).ok_or_else(|| format!("theme {name}: colors.{field}: `{spec}` is not a colour"))?;
            Ok(adapt(c, depth))
        };
        macro_rules! field {
            ($f:ident) => {
                pick(stringify!($f), &over.$f, &base.$f)?
            };
        }
        Ok(Theme {
            name: name.to_string(),
            depth,
            fg: field!(fg),
            bg: field!(bg),
            dim: field!(dim),
            border: field!(border),
            accent: field!(accent),
            tab_active_fg: field!(tab_active_fg),
            tab_active_bg: field!(tab_active_bg),
            selection_bg: field!(selection_bg),
            banner_fg: field!(banner_fg),
            banner_bg: field!(banner_bg),
            ok: field!(ok),
            warn: field!(warn),
            error: field!(error),
            spark: field!(spark),
            header: field!(header),
            minus_bg: field!(minus_bg),
            plus_bg: field!(plus_bg),
            minus_emph_bg: field!(minus_emph_bg),
            plus_emph_bg: field!(plus_emph_bg),
        })
    }

    pub fn base(&self) -> Style {
        Style::new().fg(self.fg).bg(self.bg)
    }
    pub fn dim(&self) -> Style {
        Style::new().fg(self.dim)
    }
    pub fn border(&self) -> Style {
        Style::new().fg(self.border)
    }
    pub fn accent(&self) -> Style {
        Style::new().fg(self.accent)
    }
    pub fn header(&self) -> Style {
        Style::new().fg(self.header).add_modifier(Modifier::BOLD)
    }
    pub fn tab_active(&self) -> Style {
        self.mono_fallback(Style::new().fg(self.tab_active_fg).bg(self.tab_active_bg).add_modifier(Modifier::BOLD))
    }
    pub fn selection(&self) -> Style {
        // Background only: symbols in the row keep their own colours.
        self.mono_fallback(Style::new().bg(self.selection_bg).add_modifier(Modifier::BOLD))
    }
    pub fn banner(&self) -> Style {
        self.mono_fallback(Style::new().fg(self.banner_fg).bg(self.banner_bg).add_modifier(Modifier::BOLD))
    }
    pub fn ok(&self) -> Style {
        Style::new().fg(self.ok)
    }
    pub fn warn(&self) -> Style {
        Style::new().fg(self.warn)
    }
    pub fn error(&self) -> Style {
        Style::new().fg(self.error)
    }
    pub fn spark(&self) -> Style {
        Style::new().fg(self.spark)
    }

    /// A diff line's background: removed (`Some(false)`), added (`Some(true)`)
    /// or context (`None`), emphasized or not. Without colour, emphasis is
    /// drawn reversed and underlined; the gutter's `-`/`+` marks the line.
    pub fn diff_bg(&self, added: Option<bool>, emph: bool) -> Style {
        let bg = match (added, emph) {
            (None, _) => return Style::new(),
            (Some(false), false) => self.minus_bg,
            (Some(true), false) => self.plus_bg,
            (Some(false), true) => self.minus_emph_bg,
            (Some(true), true) => self.plus_emph_bg,
        };
        if self.depth == Depth::NoColor {
            return if emph { Style::new().add_modifier(Modifier::REVERSED | Modifier::UNDERLINED) } else { Style::new() };
        }
        Style::new().bg(bg)
    }

    /// A colour from outside the theme (syntax highlighting), at this theme's depth.
    pub fn rgb(&self, r: u8, g: u8, b: u8) -> Color {
        adapt(Color::Rgb(r, g, b), self.depth)
    }

    /// Without colour, highlighted things are drawn reversed so they still show.
    fn mono_fallback(&self, s: Style) -> Style {
        if self.depth == Depth::NoColor { Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD) } else { s }
    }
}

fn parse(text: &str, name: &str) -> Result<ThemeFile, String> {
    toml::from_str::<ThemeFile>(text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1).unwrap_or(1);
        format!("theme {name}:{line}: {}", e.message().trim())
    })
}

fn parse_color(spec: &str) -> Option<Color> {
    let s = spec.trim().to_ascii_lowercase();
    if let Some(hex) = s.strip_prefix('#') {
        if hex.len() != 6 {
            return None;
        }
        let v = u32::from_str_radix(hex, 16).ok()?;
        return Some(Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8));
    }
    Some(match s.as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "dark-gray" | "dark-grey" => Color::DarkGray,
        "light-red" => Color::LightRed,
        "light-green" => Color::LightGreen,
        "light-yellow" => Color::LightYellow,
        "light-blue" => Color::LightBlue,
        "light-magenta" => Color::LightMagenta,
        "light-cyan" => Color::LightCyan,
        "white" => Color::White,
        _ => return None,
    })
}

fn adapt(c: Color, depth: Depth) -> Color {
    match (depth, c) {
        (Depth::NoColor, _) => Color::Reset,
        (Depth::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256(r, g, b)),
        (_, c) => c,
    }
}

/// The nearest xterm-256 index: the 6×6×6 cube or the 24-step grey ramp.
pub fn nearest_256(r: u8, g: u8, b: u8) -> u8 {
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    let idx = |v: u8| STEPS.iter().enumerate().min_by_key(|(_, s)| (i32::from(**s) - i32::from(v)).abs()).map(|(i, _)| i).unwrap_or(0);
    let (ri, gi, bi) = (idx(r), idx(g), idx(b));
    let cube = (STEPS[ri], STEPS[gi], STEPS[bi]);
    let dist = |(x, y, z): (u8, u8, u8)| {
        let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).pow(2);
        d(x, r) + d(y, g) + d(z, b)
    };
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let gi_ramp = (avg.saturating_sub(8) / 10).min(23) as u8;
    let grey = 8 + gi_ramp * 10;
    if dist((grey, grey, grey)) < dist(cube) { 232 + gi_ramp } else { 16 + 36 * ri as u8 + 6 * gi as u8 + bi as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn depth_follows_config_then_no_color_then_colorterm() {
        assert_eq!(Depth::detect(ColorMode::Auto, &env(&[("COLORTERM", "truecolor")])), Depth::TrueColor);
        assert_eq!(Depth::detect(ColorMode::Auto, &env(&[])), Depth::Ansi256);
        assert_eq!(Depth::detect(ColorMode::Auto, &env(&[("NO_COLOR", "1"), ("COLORTERM", "24bit")])), Depth::NoColor);
        assert_eq!(Depth::detect(ColorMode::Auto, &env(&[("NO_COLOR", "")])), Depth::Ansi256, "an empty NO_COLOR does not count");
        assert_eq!(Depth::detect(ColorMode::Truecolor, &env(&[("NO_COLOR", "1")])), Depth::TrueColor, "an explicit setting wins");
    }

    #[test]
    fn every_builtin_theme_loads_at_every_depth() {
        for (name, _) in BUILTIN {
            for depth in [Depth::TrueColor, Depth::Ansi256, Depth::NoColor] {
                let t = Theme::load(name, depth).unwrap();
                if depth == Depth::Ansi256 {
                    assert!(!matches!(t.accent, Color::Rgb(..)), "{name}");
                }
                if depth == Depth::NoColor {
                    assert_eq!(t.accent, Color::Reset);
                    assert!(t.selection().add_modifier.contains(Modifier::REVERSED));
                }
            }
        }
    }

    #[test]
    fn partial_overrides_keep_the_rest_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        std::fs::write(&p, "[colors]\naccent = \"#ff0000\"\n").unwrap();
        let t = Theme::load(p.to_str().unwrap(), Depth::TrueColor).unwrap();
        assert_eq!(t.accent, Color::Rgb(255, 0, 0));
        assert_eq!(t.fg, Theme::builtin(Depth::TrueColor).fg);
        std::fs::write(&p, "[colors]\n\naccnt = \"#ff0000\"\n").unwrap();
        let err = Theme::load(p.to_str().unwrap(), Depth::TrueColor).unwrap_err();
        assert!(err.contains(":3:") && err.contains("accnt"), "{err}");
        std::fs::write(&p, "[colors]\nfg = \"#12\"\n").unwrap();
        assert!(Theme::load(p.to_str().unwrap(), Depth::TrueColor).unwrap_err().contains("colors.fg"));
        assert!(Theme::load("solarized", Depth::TrueColor).unwrap_err().contains("not a built-in theme"));
    }

    #[test]
    fn nearest_256_picks_cube_and_grey() {
        assert_eq!(nearest_256(255, 0, 0), 196);
        assert_eq!(nearest_256(0, 0, 0), 16);
        assert_eq!(nearest_256(128, 128, 128), 244);
        assert_eq!(nearest_256(255, 255, 255), 231);
    }
}
