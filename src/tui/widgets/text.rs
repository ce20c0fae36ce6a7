//! Text helpers: making untrusted text inert, formatting times and counts,
//! sparklines made of block characters.

use std::borrow::Cow;

use crate::model::Millis;

/// Makes untrusted text (event messages, repro output, LLM replies) safe to
/// draw: control characters, including ESC that starts terminal escape
/// sequences, become visible placeholders; nothing reaches the terminal as a
/// command. Tabs become a space; newlines become `⏎` so one record stays one line.
pub fn inert(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\t' => ' ',
                '\n' => '⏎',
                '\u{1b}' => '␛',
                c if (c as u32) < 0x20 => char::from_u32(0x2400 + c as u32).unwrap_or('�'),
                '\u{7f}' => '␡',
                c if is_control(c) => '�',
                c => c,
            })
            .collect(),
    )
}

fn is_control(c: char) -> bool {
    let u = c as u32;
    u < 0x20 || (0x7f..=0x9f).contains(&u) || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Like [`inert`], but keeps newlines (for streamed text printed as it comes).
pub fn inert_keep_lines(s: &str) -> String {
    s.split('\n').map(|l| inert(l).into_owned()).collect::<Vec<_>>().join("\n")
}

/// `2026-11-20 14:03 UTC`.
pub fn datetime(ms: Millis) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => "?".into(),
    }
}

/// `just now`, `42s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(then: Millis, now: Millis) -> String {
    let s = (now - then).max(0) / 1000;
    match s {
        0..=4 => "just now".into(),
        5..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A sparkline of block characters scaled to the largest bucket; empty buckets
/// are spaces so a quiet period reads as quiet.
pub fn sparkline(buckets: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = buckets.iter().copied().max().unwrap_or(0);
    buckets
        .iter()
        .map(|&v| if v == 0 || max == 0 { ' ' } else { BARS[(((v as f64 / max as f64) * 7.0).round() as usize).min(7)] })
        .collect()
}

/// `1 entry`, `3 entries`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Cuts `s` to `width` columns with an ellipsis.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_made_inert() {
        let evil = "boom\u{1b}]52;c;aGk=\u{7}\u{1b}[2J\r\nnext\u{9b}31m\u{202e}";
        let safe = inert(evil);
        assert!(!safe.chars().any(is_control), "{safe:?}");
        assert_eq!(safe, "boom␛]52;c;aGk=␇␛[2J␍⏎next�31m�");
        assert!(matches!(inert("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn formats() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(ago(0, 90_000), "1m ago");
        assert_eq!(ago(0, 2 * 86_400_000), "2d ago");
        assert_eq!(datetime(1_795_168_800_000), "2026-11-20 10:00 UTC");
        assert_eq!(sparkline(&[0, 1, 7, 14]), " ▂▅█");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
