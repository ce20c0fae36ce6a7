//! An incremental parser for `text/event-stream` (server-sent events).
//!
//! Bytes arrive in arbitrary chunks: a chunk may end inside a line, between
//! the `\r` and `\n` of a line ending, or inside a multi-byte UTF-8 character.
//! The parser keeps the unfinished line as bytes and decodes only whole lines,
//! so none of those splits matter.
//!
//! Supported: `event:` and `data:` fields (one optional space after the colon
//! is dropped), several `data:` lines joined by `\n`, comment lines starting
//! with `:`, `\n`, `\r\n` and `\r` line endings, a leading byte-order mark, and
//! dispatch on a blank line. `id:` and `retry:` are read and ignored. As in the
//! WHATWG rules, an event without any `data:` line is not dispatched.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, if the event had one.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Turns chunks of bytes into [`SseEvent`]s; see the module docs.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line not finished yet.
    line: Vec<u8>,
    /// The previous byte was a `\r`, so a `\n` right after it ends nothing.
    after_cr: bool,
    /// Whether any byte has been seen (for the byte-order mark).
    started: bool,
    /// The pending event's `event:` field.
    event: Option<String>,
    /// The pending event's data, each line followed by `\n`.
    data: String,
    /// Whether the pending event had a `data:` line.
    has_data: bool,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::default()
    }

    /// Feeds a chunk and returns the events it completed, in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in bytes {
            self.push_byte(byte, &mut events);
        }
        events
    }

    /// Ends the stream: a last line without a line ending, and a last event
    /// without a blank line after it, are dispatched. The parser is then empty.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        if !self.line.is_empty() {
            self.end_line(&mut events);
        }
        self.dispatch(&mut events);
        *self = SseParser::default();
        events
    }

    fn push_byte(&mut self, byte: u8, events: &mut Vec<SseEvent>) {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        match byte {
            b'\n' if after_cr => {}
            b'\n' => self.end_line(events),
            b'\r' => {
                self.after_cr = true;
                self.end_line(events);
            }
            _ => {
                self.line.push(byte);
                self.drop_bom();
            }
        }
    }

    /// Drops a byte-order mark at the very start of the stream. Until the
    /// first bytes are known not to be one, `started` stays false.
    fn drop_bom(&mut self) {
        if self.started {
            return;
        }
        if self.line == BOM {
            self.line.clear();
            self.started = true;
        } else if !BOM.starts_with(&self.line) {
            self.started = true;
        }
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        self.started = true;
        let line = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&line);
        self.handle_line(&line, events);
    }

    fn handle_line(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_owned()),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            _ => {}
        }
    }

    /// Emits the pending event (if it had data) and starts a new one.
    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event = self.event.take();
        let mut data = std::mem::take(&mut self.data);
        if std::mem::replace(&mut self.has_data, false) {
            data.pop();
            events.push(SseEvent { event, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none() -> Vec<SseEvent> {
        Vec::new()
    }

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
    }

    /// Feeds `input` in chunks of `size` bytes and collects every event.
    fn chunked(input: &[u8], size: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in input.chunks(size) {
            events.extend(parser.push(chunk));
        }
        events.extend(parser.finish());
        events
    }

    #[test]
    fn data_lines_and_blank_line_dispatch() {
        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: one\n"), none());
        assert_eq!(parser.push(b"\n"), vec![ev(None, "one")]);
        assert_eq!(parser.push(b"data: two\n\ndata:three\n\n"), vec![ev(None, "two"), ev(None, "three")]);
    }

    #[test]
    fn event_field_and_multi_line_data() {
        let input = b"event: content_block_delta\ndata: {\"a\":\ndata: 1}\n\n";
        assert_eq!(chunked(input, 1000), vec![ev(Some("content_block_delta"), "{\"a\":\n1}")]);
    }

    #[test]
    fn only_one_space_after_the_colon_is_dropped() {
        assert_eq!(chunked(b"data:  two spaces\n\n", 64), vec![ev(None, " two spaces")]);
        assert_eq!(chunked(b"data\n\n", 64), vec![ev(None, "")]);
    }

    #[test]
    fn comments_ids_and_unknown_fields_are_ignored() {
        let input = b": keep-alive\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n";
        assert_eq!(chunked(input, 64), vec![ev(None, "x")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        assert_eq!(chunked(b"event: ping\n\n: only a comment\n\n", 64), none());
        // The event name does not leak into the next event.
        assert_eq!(chunked(b"event: ping\n\ndata: y\n\n", 64), vec![ev(None, "y")]);
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let input = b"event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r";
        let expected = vec![ev(Some("a"), "1"), ev(Some("b"), "2")];
        assert_eq!(chunked(input, 1000), expected);
        // Split between every pair of bytes, including inside `\r\n`.
        assert_eq!(chunked(input, 1), expected);
    }

    #[test]
    fn a_crlf_split_across_chunks_is_one_line_end() {
        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: a\r"), none());
        assert_eq!(parser.push(b"\n"), none());
        assert_eq!(parser.push(b"\r"), vec![ev(None, "a")]);
        assert_eq!(parser.push(b"\n"), none());
        assert_eq!(parser.finish(), none());
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let input = "data: héllo → wörld 🦀\n\n".as_bytes();
        for size in 1..8 {
            assert_eq!(chunked(input, size), vec![ev(None, "héllo → wörld 🦀")], "chunk size {size}");
        }
    }

    #[test]
    fn finish_dispatches_a_last_event_without_blank_line() {
        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: [DONE]"), none());
        assert_eq!(parser.finish(), vec![ev(None, "[DONE]")]);
        assert_eq!(parser.finish(), none());

        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: last\n"), none());
        assert_eq!(parser.finish(), vec![ev(None, "last")]);
    }

    #[test]
    fn leading_byte_order_mark_is_dropped() {
        let input = b"\xEF\xBB\xBFdata: x\n\n";
        for size in 1..4 {
            assert_eq!(chunked(input, size), vec![ev(None, "x")]);
        }
        // Only at the very start.
        let later = b"data: a\n\n\xEF\xBB\xBFdata: b\n\n";
        assert_eq!(chunked(later, 64).len(), 1);
    }

    #[test]
    fn openai_style_stream() {
        let input = b"data: {\"x\":1}\n\ndata: {\"x\":2}\n\ndata: [DONE]\n\n";
        for size in [1, 3, 7, 1000] {
            assert_eq!(chunked(input, size), vec![ev(None, "{\"x\":1}"), ev(None, "{\"x\":2}"), ev(None, "[DONE]")]);
        }
    }
}
