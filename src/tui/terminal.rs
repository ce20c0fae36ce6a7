//! Entering and leaving the full-screen terminal. The terminal is restored on
//! every exit path: normal quit, error return (the guard's `Drop`), panic (a
//! hook that restores before the message prints) and SIGTERM/SIGHUP (turned
//! into a quit action by the loop).

use std::io::{self, Write};
use std::sync::Once;

use crossterm::{cursor, event, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

pub type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// Restores the terminal when dropped.
pub struct Guard {
    pub terminal: Term,
}

pub fn enter() -> io::Result<Guard> {
    install_panic_hook();
    terminal::enable_raw_mode()?;
    let mut out = io::stdout();
    if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide, event::EnableFocusChange) {
        restore();
        return Err(e);
    }
    let terminal = Terminal::new(CrosstermBackend::new(out)).inspect_err(|_| restore())?;
    Ok(Guard { terminal })
}

/// Leaves the alternate screen, shows the cursor, ends raw mode. Safe to call
/// more than once and when the terminal was never entered.
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(out, event::DisableFocusChange, terminal::LeaveAlternateScreen, cursor::Show);
    let _ = terminal::disable_raw_mode();
    let _ = out.flush();
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
