//! Server-sent events: an incremental parser for upstream streams and the encoder for ours.
//!
//! The parser follows the WHATWG event-stream rules (`\n`, `\r\n` or `\r` line ends, `:`
//! comments, one optional space after the colon, multi-line `data` joined with `\n`, a leading
//! byte-order mark dropped) with one leniency: at the end of the stream a last event that was
//! not followed by a blank line is still delivered, because some providers close the connection
//! right after their final `data:` line. A single event may not exceed a byte limit (16 MiB by
//! default); past it the parser stops and reports [`SseParser::overflowed`] instead of growing
//! without bound.

/// Largest event the parser accepts, counting its field lines.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when there was one.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// An unnamed event (OpenAI Chat Completions style).
    pub fn data(data: impl Into<String>) -> Self {
        Self {
            event: None,
            data: data.into(),
        }
    }

    /// A named event (Responses and Anthropic Messages style).
    pub fn named(event: &str, data: impl Into<String>) -> Self {
        Self {
            event: Some(event.to_owned()),
            data: data.into(),
        }
    }

    /// The wire form: `event: name\n` (if named), one `data: ` line per line of data, and the
    /// blank line that ends the event. Line breaks inside the name are dropped and every kind
    /// of line break inside the data starts a new `data:` line, so one event can never be read
    /// back as two.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 32);
        if let Some(name) = &self.event {
            out.extend_from_slice(b"event: ");
            out.extend(name.bytes().filter(|b| *b != b'\n' && *b != b'\r'));
            out.push(b'\n');
        }
        for line in split_lines(&self.data) {
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out
    }
}

/// Splits on `\r\n`, `\n` and `\r`; always yields at least one (possibly empty) line.
fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut rest = text;
    loop {
        match rest.find(['\r', '\n']) {
            Some(at) => {
                lines.push(&rest[..at]);
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
            }
            None => {
                lines.push(rest);
                return lines;
            }
        }
    }
}

/// Incremental parser: feed byte chunks split anywhere, get complete events.
#[derive(Debug)]
pub struct SseParser {
    limit: usize,
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The previous chunk ended on `\r`: a `\n` that starts the next one belongs to it.
    after_cr: bool,
    /// No byte seen yet (a leading byte-order mark is dropped).
    at_start: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// Bytes of the event so far, for the limit.
    event_bytes: usize,
    overflowed: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        Self::with_limit(MAX_EVENT_BYTES)
    }
}

impl SseParser {
    /// A parser that refuses events larger than `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event: None,
            data: String::new(),
            has_data: false,
            event_bytes: 0,
            overflowed: false,
        }
    }

    /// Whether an event went over the limit; the parser then ignores all further input.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Feeds the next chunk of the stream and returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.overflowed {
            return out;
        }
        let mut rest = chunk;
        if self.at_start && !rest.is_empty() {
            self.at_start = false;
            rest = rest.strip_prefix("\u{feff}".as_bytes()).unwrap_or(rest);
        }
        if self.after_cr {
            self.after_cr = false;
            rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        }
        while !rest.is_empty() {
            match rest.iter().position(|b| *b == b'\n' || *b == b'\r') {
                Some(at) => {
                    if !self.take(&rest[..at]) {
                        return out;
                    }
                    let line = std::mem::take(&mut self.line);
                    self.on_line(&line, &mut out);
                    if rest[at] == b'\r' {
                        match rest.get(at + 1) {
                            Some(b'\n') => rest = &rest[at + 2..],
                            Some(_) => rest = &rest[at + 1..],
                            None => {
                                self.after_cr = true;
                                rest = &[];
                            }
                        }
                    } else {
                        rest = &rest[at + 1..];
                    }
                }
                None => {
                    if !self.take(rest) {
                        return out;
                    }
                    rest = &[];
                }
            }
        }
        out
    }

    /// The stream ended: delivers a last event that lacked its closing blank line.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.overflowed {
            return out;
        }
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, &mut out);
        }
        self.dispatch(&mut out);
        self.after_cr = false;
        out
    }

    /// Adds bytes to the current line, enforcing the limit.
    fn take(&mut self, bytes: &[u8]) -> bool {
        self.event_bytes = self.event_bytes.saturating_add(bytes.len());
        if self.event_bytes > self.limit {
            self.overflowed = true;
            self.line = Vec::new();
            self.data = String::new();
            self.event = None;
            return false;
        }
        self.line.extend_from_slice(bytes);
        true
    }

    fn on_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        // Line ends count towards the limit too, so a flood of blank-ish lines cannot hide.
        self.event_bytes = self.event_bytes.saturating_add(1);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let (name, value) = match line.iter().position(|b| *b == b':') {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            // `id` and `retry` steer browser reconnection, which a proxy does not do.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        let data = std::mem::take(&mut self.data);
        let had_data = std::mem::replace(&mut self.has_data, false);
        self.event_bytes = 0;
        if had_data {
            out.push(SseEvent { event, data });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            out.extend(parser.push(chunk));
        }
        out.extend(parser.finish());
        out
    }

    /// Feeds `input` in pieces of every size from one byte up; each must give `expected`.
    fn assert_every_split_parses_to(input: &[u8], expected: &[SseEvent]) {
        for piece in 1..input.len() {
            assert_eq!(
                parse_in_pieces(input, piece),
                expected,
                "piece size {piece}"
            );
        }
    }

    #[test]
    fn encodes_named_and_unnamed_events() {
        assert_eq!(
            SseEvent::data("[DONE]").to_bytes(),
            b"data: [DONE]\n\n".to_vec()
        );
        assert_eq!(
            SseEvent::named("message_stop", "{\"type\":\"message_stop\"}").to_bytes(),
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n".to_vec()
        );
    }

    #[test]
    fn encodes_multi_line_data_as_several_data_lines() {
        let event = SseEvent::named("x\ny", "a\nb\r\nc\rd");
        assert_eq!(
            event.to_bytes(),
            b"event: xy\ndata: a\ndata: b\ndata: c\ndata: d\n\n".to_vec()
        );
        let mut parser = SseParser::default();
        let back = parser.push(&event.to_bytes());
        assert_eq!(back, vec![SseEvent::named("xy", "a\nb\nc\nd")]);
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let events = vec![
            SseEvent::named("response.created", "{\"a\":1}"),
            SseEvent::data("{\"choices\":[]}"),
            SseEvent::data(""),
            SseEvent::named("e", "line1\nline2"),
        ];
        let bytes: Vec<u8> = events.iter().flat_map(SseEvent::to_bytes).collect();
        for piece in [1, 2, 3, 7, 1000] {
            assert_eq!(parse_in_pieces(&bytes, piece), events, "piece size {piece}");
        }
    }

    #[test]
    fn parses_events_split_at_every_byte() {
        let input = b"event: message_start\ndata: {\"type\":\"message_start\"}\n\n: keep-alive\n\ndata: {\"x\":1}\n\ndata: [DONE]\n\n";
        let expected = vec![
            SseEvent::named("message_start", "{\"type\":\"message_start\"}"),
            SseEvent::data("{\"x\":1}"),
            SseEvent::data("[DONE]"),
        ];
        assert_every_split_parses_to(input, &expected);
    }

    #[test]
    fn accepts_crlf_and_lone_cr_line_ends_even_when_split() {
        let input = b"event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\rdata: 3\n\n";
        let expected = vec![
            SseEvent::named("a", "1"),
            SseEvent::named("b", "2"),
            SseEvent::data("3"),
        ];
        assert_every_split_parses_to(input, &expected);
    }

    #[test]
    fn joins_multi_line_data_and_keeps_spaces_after_the_first() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data:first\ndata:  second\ndata\n\n");
        assert_eq!(events, vec![SseEvent::data("first\n second\n")]);
    }

    #[test]
    fn ignores_comments_ids_retries_and_unknown_fields() {
        let mut parser = SseParser::default();
        let events = parser.push(b": ping\nid: 7\nretry: 1000\nfoo: bar\ndata: x\n\n");
        assert_eq!(events, vec![SseEvent::data("x")]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"event: ping\n\n\n\n").is_empty());
        // The name does not leak into the next event.
        assert_eq!(parser.push(b"data: y\n\n"), vec![SseEvent::data("y")]);
    }

    #[test]
    fn drops_a_leading_byte_order_mark_once() {
        let mut parser = SseParser::default();
        let mut input = "\u{feff}".as_bytes().to_vec();
        input.extend_from_slice(b"data: a\n\n");
        assert_eq!(parser.push(&input), vec![SseEvent::data("a")]);
    }

    #[test]
    fn finish_delivers_an_unterminated_last_event() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"data: [DONE]").is_empty());
        assert_eq!(parser.finish(), vec![SseEvent::data("[DONE]")]);
        assert!(parser.finish().is_empty());

        let mut parser = SseParser::default();
        assert!(parser.push(b"data: a\n").is_empty());
        assert_eq!(parser.finish(), vec![SseEvent::data("a")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data: \xff\xfe ok\n\n");
        assert_eq!(events.len(), 1);
        assert!(events[0].data.ends_with(" ok"));
    }

    #[test]
    fn multibyte_characters_split_across_chunks_survive() {
        let input = "data: héllo — 世界\n\n".as_bytes();
        assert_every_split_parses_to(input, &[SseEvent::data("héllo — 世界")]);
    }

    #[test]
    fn an_oversized_event_stops_the_parser() {
        let mut parser = SseParser::with_limit(64);
        assert_eq!(
            parser.push(b"data: small\n\n"),
            vec![SseEvent::data("small")]
        );
        let big = vec![b'a'; 40];
        assert!(parser.push(b"data: ").is_empty());
        assert!(parser.push(&big).is_empty());
        assert!(!parser.overflowed());
        assert!(parser.push(&big).is_empty());
        assert!(parser.overflowed());
        assert!(parser.push(b"\n\ndata: later\n\n").is_empty());
        assert!(parser.finish().is_empty());
    }

    #[test]
    fn the_limit_counts_multi_line_events_whole() {
        let mut parser = SseParser::with_limit(30);
        let events = parser.push(b"data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n");
        assert!(events.is_empty());
        assert!(parser.overflowed());
    }

    #[test]
    fn the_limit_resets_between_events() {
        let mut parser = SseParser::with_limit(32);
        let mut out = Vec::new();
        for _ in 0..100 {
            out.extend(parser.push(b"data: 0123456789\n\n"));
        }
        assert_eq!(out.len(), 100);
        assert!(!parser.overflowed());
    }

    #[test]
    fn the_default_limit_is_sixteen_mebibytes() {
        assert_eq!(MAX_EVENT_BYTES, 16 * 1024 * 1024);
        let mut parser = SseParser::default();
        let chunk = vec![b'x'; 1024 * 1024];
        assert!(parser.push(b"data: ").is_empty());
        for _ in 0..16 {
            assert!(parser.push(&chunk).is_empty());
        }
        assert!(parser.overflowed());
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed: u32 = 12345;
        let mut parser = SseParser::with_limit(4096);
        for _ in 0..2000 {
            let mut chunk = Vec::new();
            for _ in 0..(seed % 17) {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let b = (seed >> 16) as u8;
                chunk.push(match b % 8 {
                    0 => b'\n',
                    1 => b'\r',
                    2 => b':',
                    3 => b' ',
                    _ => b,
                });
            }
            seed = seed.wrapping_add(1);
            let _ = parser.push(&chunk);
        }
        let _ = parser.finish();
    }
}
