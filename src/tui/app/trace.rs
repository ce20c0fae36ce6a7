//! The stack trace as the Incident view lists it: the escaping exception
//! first, then the ones it was chained from; within each, the innermost frame
//! first (where the fix usually is). Library frames are collapsed into one
//! row unless shown, except in an exception that has no in-app frame at all
//! (there they are all there is to see). Frames whose source did not say
//! whether they are in-app count as library frames here.

use crate::model::{ErrorEvent, StackFrame};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    /// Exception `index` of the event; `escaped` for the last one.
    Exception {
        index: usize,
        escaped: bool,
    },
    Frame {
        exc: usize,
        frame: usize,
    },
    /// Library frames left out.
    Hidden {
        count: usize,
    },
}

pub fn in_app(f: &StackFrame) -> bool {
    f.in_app == Some(true)
}

pub fn rows(ev: &ErrorEvent, show_library: bool) -> Vec<Row> {
    let mut out = Vec::new();
    let n = ev.exceptions.len();
    for (index, exc) in ev.exceptions.iter().enumerate().rev() {
        out.push(Row::Exception { index, escaped: index + 1 == n });
        let all = show_library || !exc.frames.iter().any(in_app);
        let mut hidden = 0;
        for (i, f) in exc.frames.iter().enumerate().rev() {
            if all || in_app(f) {
                if hidden > 0 {
                    out.push(Row::Hidden { count: hidden });
                    hidden = 0;
                }
                out.push(Row::Frame { exc: index, frame: i });
            } else {
                hidden += 1;
            }
        }
        if hidden > 0 {
            out.push(Row::Hidden { count: hidden });
        }
    }
    out
}

/// The frames in list order.
pub fn frames(rows: &[Row]) -> Vec<(usize, usize)> {
    rows.iter()
        .filter_map(|r| match r {
            Row::Frame { exc, frame } => Some((*exc, *frame)),
            _ => None,
        })
        .collect()
}

/// The frame selected when the view opens: the culprit (the escaping
/// exception's innermost in-app frame), else its innermost frame.
pub fn default_frame(ev: &ErrorEvent) -> Option<(usize, usize)> {
    let (e, exc) = ev.exceptions.iter().enumerate().next_back()?;
    let f = exc.frames.iter().rposition(in_app).or_else(|| exc.frames.len().checked_sub(1))?;
    Some((e, f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ExceptionInfo;

    fn exc(kind: &str, app: &[bool]) -> ExceptionInfo {
        let frames = app.iter().map(|a| StackFrame { in_app: Some(*a), ..Default::default() }).collect();
        ExceptionInfo { kind: kind.into(), frames, ..Default::default() }
    }

    #[test]
    fn escaping_exception_first_innermost_first_library_collapsed() {
        let ev = ErrorEvent {
            exceptions: vec![exc("KeyError", &[false, false]), exc("InventoryError", &[false, true, false, true, false])],
            ..Default::default()
        };
        let r = rows(&ev, false);
        use Row::*;
        assert_eq!(
            r,
            [
                Exception { index: 1, escaped: true },
                Hidden { count: 1 },
                Frame { exc: 1, frame: 3 },
                Hidden { count: 1 },
                Frame { exc: 1, frame: 1 },
                Hidden { count: 1 },
                Exception { index: 0, escaped: false },
                Frame { exc: 0, frame: 1 },
                Frame { exc: 0, frame: 0 },
            ]
        );
        assert_eq!(frames(&rows(&ev, true)).len(), 7);
        assert_eq!(default_frame(&ev), Some((1, 3)));
        assert_eq!(default_frame(&ErrorEvent::default()), None);
    }
}
