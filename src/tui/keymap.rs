//! The keymap: the one source of what each key does and what it is called.
//! The help overlay, the footer hints and the docs are generated from these
//! bindings; user overrides from `[keys]` in the config replace a command's keys.
//!
//! A binding marked `dangerous` changes state; read-only mode refuses it in one
//! place (`app::update`), so no view can leak a write.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Where a binding applies. Context bindings win over global ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    List,
    /// The Incident view, open over the Incidents tab.
    Incident,
    /// Typing the Incidents filter: characters are text, not commands.
    Filter,
    /// The Patch view, open over the Patches tab.
    Patch,
    /// A step's log, open over everything.
    Log,
    /// Typing a search in a log.
    LogSearch,
    /// The approve / veto dialog: keys type into its editor.
    Dialog,
    Help,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::List => "Lists",
            Context::Incident => "Incident view",
            Context::Filter => "Typing a filter",
            Context::Dialog => "Approve/veto dialog",
            Context::Patch => "Patch view",
            Context::Log => "Step log",
            Context::LogSearch => "Typing a log search",
            Context::Help => "Help",
        }
    }
}

/// A named thing the user can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Quit,
    Help,
    CloseHelp,
    NextTab,
    PrevTab,
    TabIncidents,
    TabPatches,
    TabRollouts,
    TabAudit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Refresh,
    Open,
    Back,
    FrameUp,
    FrameDown,
    ToggleLibrary,
    TogglePane,
    Filter,
    FilterDone,
    FilterCancel,
    ClearFilter,
    Sort,
    SortReverse,
    RunRepro,
    Verify,
    PatchUp,
    PatchDown,
    PatchPageUp,
    PatchPageDown,
    PatchTop,
    PatchBottom,
    NextHunk,
    PrevHunk,
    NextFile,
    PrevFile,
    ScrollLeft,
    ScrollRight,
    ToggleWrap,
    ToggleUnified,
    ToggleEvidence,
    OpenLog,
    ClosePatch,
    LogUp,
    LogDown,
    LogPageUp,
    LogPageDown,
    LogTop,
    LogBottom,
    LogSearch,
    LogNext,
    LogPrev,
    CloseLog,
    SearchDone,
    SearchCancel,
    Propose,
    Approve,
    Veto,
    RequestChanges,
    BreakGlass,
    DialogSubmit,
    DialogCancel,
    DialogNextField,
    Attest,
    Postmortem,
    RolloutPromote,
    RolloutPauseResume,
    RolloutAbort,
    RolloutKill,
}

/// One binding: its command, keys, description and context.
#[derive(Debug, Clone)]
pub struct Binding {
    pub command: Command,
    /// The name used in `[keys]` overrides.
    pub name: &'static str,
    pub keys: Vec<Key>,
    pub desc: &'static str,
    pub context: Context,
    /// Shown in the footer.
    pub hint: bool,
    /// Changes state: refused in read-only mode, marked in help.
    pub dangerous: bool,
}

/// A key with modifiers, comparable with crossterm's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub fn parse(spec: &str) -> Result<Key, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty key".into());
        }
        let (mods_part, key_part) = if let Some(mods) = spec.strip_suffix("++") {
            (mods, "+")
        } else {
            match spec.rfind('+') {
                Some(i) if i + 1 < spec.len() => (&spec[..i], &spec[i + 1..]),
                _ => ("", spec),
            }
        };
        let mut mods = KeyModifiers::NONE;
        for m in mods_part.split('+').filter(|m| !m.is_empty()) {
            mods |= match m.to_ascii_lowercase().as_str() {
                "ctrl" | "control" => KeyModifiers::CONTROL,
                "alt" | "meta" => KeyModifiers::ALT,
                "shift" => KeyModifiers::SHIFT,
                other => return Err(format!("unknown modifier `{other}` in `{spec}`")),
            };
        }
        let lower = key_part.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                let mut chars = key_part.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(if mods.contains(KeyModifiers::CONTROL) { c.to_ascii_lowercase() } else { c }),
                    _ => return Err(format!("unknown key `{key_part}` in `{spec}`")),
                }
            }
        };
        Ok(Key { code, mods })
    }

    /// Whether a terminal key event is this key. Shift on a character is part
    /// of the character itself (`?`, `G`), so it is not compared.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        if matches!(ev.code, KeyCode::Char(_) | KeyCode::BackTab) {
            mods.remove(KeyModifiers::SHIFT);
        }
        let code = match ev.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => KeyCode::Char(c.to_ascii_lowercase()),
            c => c,
        };
        code == self.code && mods == self.mods
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl+")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("alt+")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("shift+")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift+tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::F(n) => write!(f, "f{n}"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("del"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

fn b(command: Command, name: &'static str, keys: &[&str], desc: &'static str, context: Context, hint: bool) -> Binding {
    let keys = keys.iter().map(|k| Key::parse(k).unwrap_or_else(|e| panic!("built-in key {k}: {e}"))).collect();
    Binding { command, name, keys, desc, context, hint, dangerous: false }
}

fn danger(mut b: Binding) -> Binding {
    b.dangerous = true;
    b
}

impl Default for Keymap {
    fn default() -> Keymap {
        use Command as C;
        use Context::*;
        Keymap {
            bindings: vec![
                b(C::Quit, "quit", &["q", "ctrl+c"], "quit Suture", Global, true),
                b(C::Help, "help", &["?", "f1"], "show all keys", Global, true),
                b(C::NextTab, "next_tab", &["tab", "right", "l"], "next tab", Global, true),
                b(C::PrevTab, "prev_tab", &["shift+tab", "left", "h"], "previous tab", Global, false),
                b(C::TabIncidents, "tab_incidents", &["1"], "go to Incidents", Global, false),
                b(C::TabPatches, "tab_patches", &["2"], "go to Patches", Global, false),
                b(C::TabRollouts, "tab_rollouts", &["3"], "go to Rollouts", Global, false),
                b(C::TabAudit, "tab_audit", &["4"], "go to Audit", Global, false),
                b(C::Refresh, "refresh", &["r", "ctrl+r"], "reload from the store", Global, false),
                b(C::Up, "up", &["up", "k"], "move up", List, true),
                b(C::Down, "down", &["down", "j"], "move down", List, true),
                b(C::PageUp, "page_up", &["pgup", "ctrl+u"], "page up", List, false),
                b(C::PageDown, "page_down", &["pgdn", "ctrl+d"], "page down", List, false),
                b(C::Top, "top", &["home", "g"], "first row", List, false),
                b(C::Bottom, "bottom", &["end", "G"], "last row", List, false),
                b(C::Open, "open", &["enter"], "open the incident", List, true),
                b(C::Filter, "filter", &["/"], "filter incidents", List, true),
                b(C::ClearFilter, "clear_filter", &["esc"], "clear the filter", List, false),
                b(C::Sort, "sort", &["s"], "next sort key", List, false),
                danger(b(C::RolloutPromote, "rollout_promote", &["p"], "promote the rollout (Rollouts)", List, false)),
                danger(b(C::RolloutPauseResume, "rollout_pause", &["space"], "pause/resume the rollout (Rollouts)", List, false)),
                danger(b(C::RolloutAbort, "rollout_abort", &["X"], "abort the rollout (Rollouts)", List, false)),
                danger(b(C::RolloutKill, "rollout_kill", &["K"], "kill switch: patched code off now (Rollouts)", List, false)),
                b(C::SortReverse, "sort_reverse", &["S"], "reverse the sort", List, false),
                b(C::Back, "back", &["esc", "backspace"], "back to the incidents", Incident, true),
                b(C::FrameUp, "frame_up", &["up", "k"], "previous frame", Incident, true),
                b(C::FrameDown, "frame_down", &["down", "j"], "next frame", Incident, true),
                b(C::ToggleLibrary, "toggle_library", &["f"], "library frames on/off", Incident, true),
                b(C::TogglePane, "toggle_pane", &["d"], "next panel", Incident, true),
                b(C::FilterDone, "filter_done", &["enter"], "keep the filter", Filter, true),
                b(C::FilterCancel, "filter_cancel", &["esc"], "clear the filter", Filter, true),
                b(C::RunRepro, "run_repro", &["R"], "run the repro", Incident, true),
                danger(b(C::Propose, "propose", &["P"], "propose verified fixes", Incident, true)),
                b(C::Postmortem, "postmortem", &["M"], "write the post-mortem", Incident, false),
                danger(b(C::Verify, "verify", &["v"], "verify the patch", Global, false)),
                b(C::PatchUp, "patch_up", &["up", "k"], "up a line (or step)", Patch, true),
                b(C::PatchDown, "patch_down", &["down", "j"], "down a line (or step)", Patch, true),
                b(C::PatchPageUp, "patch_page_up", &["pgup", "ctrl+u"], "page up", Patch, false),
                b(C::PatchPageDown, "patch_page_down", &["pgdn", "ctrl+d", "space"], "page down", Patch, false),
                b(C::PatchTop, "patch_top", &["home", "g"], "top of the file", Patch, false),
                b(C::PatchBottom, "patch_bottom", &["end", "G"], "end of the file", Patch, false),
                b(C::NextHunk, "next_hunk", &["n"], "next hunk", Patch, true),
                b(C::PrevHunk, "prev_hunk", &["N"], "previous hunk", Patch, false),
                b(C::NextFile, "next_file", &["]"], "next file", Patch, false),
                b(C::PrevFile, "prev_file", &["["], "previous file", Patch, false),
                b(C::ScrollRight, "scroll_right", &["right", "l"], "scroll right", Patch, false),
                b(C::ScrollLeft, "scroll_left", &["left", "h"], "scroll left", Patch, false),
                b(C::ToggleWrap, "toggle_wrap", &["w"], "wrap long lines", Patch, false),
                b(C::ToggleUnified, "toggle_unified", &["u"], "unified/side by side", Patch, true),
                b(C::ToggleEvidence, "toggle_evidence", &["e"], "focus evidence/diff", Patch, true),
                b(C::OpenLog, "open_log", &["enter"], "open the step's log", Patch, false),
                b(C::ClosePatch, "close_patch", &["esc", "backspace"], "back to the patches", Patch, true),
                danger(b(C::Approve, "approve", &["a"], "approve (with a comment)", Patch, true)),
                danger(b(C::Veto, "veto", &["x"], "veto (with a reason)", Patch, true)),
                danger(b(C::RequestChanges, "request_changes", &["c"], "request changes", Patch, false)),
                danger(b(C::BreakGlass, "break_glass", &["B"], "break-glass approval (commander)", Patch, false)),
                b(C::Attest, "attest", &["A"], "write the signed attestation", Patch, false),
                b(C::DialogSubmit, "dialog_submit", &["enter"], "record the decision", Dialog, true),
                b(C::DialogNextField, "dialog_next_field", &["tab"], "comment/confirmation", Dialog, false),
                b(C::DialogCancel, "dialog_cancel", &["esc"], "cancel", Dialog, true),
                b(C::LogUp, "log_up", &["up", "k"], "scroll up", Log, false),
                b(C::LogDown, "log_down", &["down", "j"], "scroll down", Log, false),
                b(C::LogPageUp, "log_page_up", &["pgup", "ctrl+u"], "page up", Log, true),
                b(C::LogPageDown, "log_page_down", &["pgdn", "ctrl+d", "space"], "page down", Log, true),
                b(C::LogTop, "log_top", &["home", "g"], "top", Log, false),
                b(C::LogBottom, "log_bottom", &["end", "G"], "bottom", Log, false),
                b(C::LogSearch, "log_search", &["/"], "search", Log, true),
                b(C::LogNext, "log_next", &["n"], "next match", Log, true),
                b(C::LogPrev, "log_prev", &["N"], "previous match", Log, false),
                b(C::CloseLog, "close_log", &["esc", "q"], "close the log", Log, true),
                b(C::SearchDone, "search_done", &["enter"], "find", LogSearch, true),
                b(C::SearchCancel, "search_cancel", &["esc"], "cancel the search", LogSearch, true),
                b(C::CloseHelp, "close_help", &["esc", "?", "q"], "close help", Help, true),
            ],
        }
    }
}

impl Keymap {
    /// The built-in keymap with `[keys]` overrides applied. An override names a
    /// command and replaces its keys in every context.
    pub fn with_overrides<'a>(overrides: impl IntoIterator<Item = (&'a String, &'a Vec<String>)>) -> Result<Keymap, String> {
        let mut km = Keymap::default();
        for (name, specs) in overrides {
            let keys = specs.iter().map(|s| Key::parse(s)).collect::<Result<Vec<_>, _>>().map_err(|e| format!("keys.{name}: {e}"))?;
            let binding = km.bindings.iter_mut().find(|b| b.name == name).ok_or_else(|| {
                let names: Vec<&str> = Keymap::default().bindings.iter().map(|b| b.name).collect();
                format!("keys.{name}: no such command; commands are {}", names.join(", "))
            })?;
            binding.keys = keys;
        }
        Ok(km)
    }

    /// The command for a key in a context; context bindings first, then global
    /// ones (the help overlay is modal: only its own keys and quit apply; while
    /// a filter is typed, a plain character is text, so only a quit key with a
    /// modifier, such as ctrl+c, quits).
    pub fn lookup(&self, context: Context, ev: &KeyEvent) -> Option<Command> {
        let find = |ctx: Context| self.bindings.iter().find(|b| b.context == ctx && b.keys.iter().any(|k| k.matches(ev)));
        if let Some(b) = find(context) {
            return Some(b.command);
        }
        match context {
            Context::Help => find(Context::Global).filter(|b| b.command == Command::Quit).map(|b| b.command),
            Context::Filter | Context::LogSearch | Context::Dialog if is_text(ev) => None,
            Context::Filter | Context::LogSearch | Context::Dialog => {
                find(Context::Global).filter(|b| b.command == Command::Quit).map(|b| b.command)
            }
            _ => find(Context::Global).map(|b| b.command),
        }
    }

    /// Footer hints for a context: `(keys, desc)` pairs.
    /// A global key that the context binds to something else is not shown
    /// for the global command.
    pub fn hints(&self, contexts: &[Context]) -> Vec<(String, &'static str)> {
        let shadowed = |b: &Binding, k: &Key| {
            b.context == Context::Global
                && self.bindings.iter().any(|o| o.context != Context::Global && contexts.contains(&o.context) && o.keys.contains(k))
        };
        self.bindings
            .iter()
            .filter(|b| b.hint && contexts.contains(&b.context))
            .filter_map(|b| {
                let keys: Vec<String> = b.keys.iter().filter(|k| !shadowed(b, k)).take(2).map(|k| k.to_string()).collect();
                (!keys.is_empty()).then(|| (keys.join("/"), b.desc))
            })
            .collect()
    }

    /// Markdown table of every binding, for the README.
    pub fn markdown(&self) -> String {
        let mut out = String::from("| keys | what it does | where | name in `[keys]` |\n| --- | --- | --- | --- |\n");
        for b in &self.bindings {
            let keys: Vec<String> = b.keys.iter().map(|k| format!("`{k}`")).collect();
            out.push_str(&format!("| {} | {} | {} | `{}` |\n", keys.join(" "), b.desc, b.context.title(), b.name));
        }
        out
    }
}

/// Whether a command changes state (read-only mode refuses it in `update`).
pub fn dangerous(c: Command) -> bool {
    Keymap::default().bindings.iter().any(|b| b.command == c && b.dangerous)
}

/// A key that types a character: no ctrl or alt.
pub fn is_text(ev: &KeyEvent) -> bool {
    matches!(ev.code, KeyCode::Char(_)) && !ev.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    #[test]
    fn parses_and_prints_key_specs() {
        for (spec, shown) in [
            ("q", "q"),
            ("ctrl+c", "ctrl+c"),
            ("shift+tab", "shift+tab"),
            ("?", "?"),
            ("pgdn", "pgdn"),
            ("f1", "f1"),
            ("G", "G"),
            ("alt+x", "alt+x"),
            ("+", "+"),
            ("ctrl++", "ctrl++"),
        ] {
            assert_eq!(Key::parse(spec).unwrap().to_string(), shown, "{spec}");
        }
        assert!(Key::parse("hyper+x").unwrap_err().contains("unknown modifier"));
        assert!(Key::parse("banana").unwrap_err().contains("unknown key"));
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn lookups_respect_context_and_shifted_characters() {
        let km = Keymap::default();
        assert_eq!(km.lookup(Context::List, &key(KeyCode::Char('?'), KeyModifiers::SHIFT)), Some(Command::Help));
        assert_eq!(km.lookup(Context::Help, &key(KeyCode::Char('?'), KeyModifiers::SHIFT)), Some(Command::CloseHelp));
        assert_eq!(km.lookup(Context::List, &key(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Command::Bottom));
        assert_eq!(km.lookup(Context::List, &key(KeyCode::Char('C'), KeyModifiers::CONTROL)), Some(Command::Quit));
        assert_eq!(km.lookup(Context::List, &key(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Command::PrevTab));
        assert_eq!(km.lookup(Context::Help, &key(KeyCode::Char('j'), KeyModifiers::NONE)), None, "help is modal");
        assert_eq!(km.lookup(Context::Help, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Command::Quit));
        assert_eq!(km.lookup(Context::List, &key(KeyCode::Char('z'), KeyModifiers::NONE)), None);
        assert_eq!(km.lookup(Context::Incident, &key(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Command::FrameDown));
        assert_eq!(km.lookup(Context::Incident, &key(KeyCode::Esc, KeyModifiers::NONE)), Some(Command::Back));
        assert_eq!(km.lookup(Context::Incident, &key(KeyCode::Char('2'), KeyModifiers::NONE)), Some(Command::TabPatches));
        assert_eq!(km.lookup(Context::Filter, &key(KeyCode::Char('q'), KeyModifiers::NONE)), None, "q is text in a filter");
        assert_eq!(km.lookup(Context::Filter, &key(KeyCode::Char('1'), KeyModifiers::NONE)), None);
        assert_eq!(km.lookup(Context::Filter, &key(KeyCode::Char('c'), KeyModifiers::CONTROL)), Some(Command::Quit));
        assert_eq!(km.lookup(Context::Filter, &key(KeyCode::Enter, KeyModifiers::NONE)), Some(Command::FilterDone));
        assert_eq!(km.lookup(Context::Filter, &key(KeyCode::Tab, KeyModifiers::NONE)), None, "a filter is modal");
    }

    #[test]
    fn overrides_replace_keys_and_reject_unknown_names() {
        let o = [("quit".to_string(), vec!["x".to_string()])];
        let km = Keymap::with_overrides(o.iter().map(|(a, b)| (a, b))).unwrap();
        assert_eq!(km.lookup(Context::Global, &key(KeyCode::Char('x'), KeyModifiers::NONE)), Some(Command::Quit));
        assert_eq!(km.lookup(Context::Global, &key(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        let bad = [("quitt".to_string(), vec!["x".to_string()])];
        assert!(Keymap::with_overrides(bad.iter().map(|(a, b)| (a, b))).unwrap_err().starts_with("keys.quitt: no such command"));
        let bad = [("quit".to_string(), vec!["hyper+x".to_string()])];
        assert!(Keymap::with_overrides(bad.iter().map(|(a, b)| (a, b))).unwrap_err().starts_with("keys.quit:"));
    }

    #[test]
    fn every_binding_has_a_description_and_a_unique_name() {
        let km = Keymap::default();
        let mut names = std::collections::HashSet::new();
        for b in &km.bindings {
            assert!(!b.desc.is_empty(), "{}", b.name);
            assert!(names.insert(b.name), "duplicate {}", b.name);
        }
        assert!(km.markdown().contains("| `q` `ctrl+c` | quit Suture | Everywhere | `quit` |"));
    }
}
