//! Streaming translation: one [`StreamTranslator`] per request reads the provider's events and
//! writes the client's, keeping the token usage and whether the client's stream was closed.
//! One module because the readers of the four provider formats feed one state per request.
//!
//! Upstream events are first read into normalised pieces ([`Up`]) by a reader for the
//! provider's format, then written by a writer for the client's (see `emit.rs`). When both
//! formats are the same, events pass through untouched and are only watched.
//!
//! Choices: an upstream that ends without its own end marker is closed as a success only if it
//! already said why the model stopped (a Chat `finish_reason`, an Anthropic `stop_reason`);
//! otherwise the client gets its format's failure events, because a half-finished answer (say,
//! a tool call cut in the middle of its arguments) must not look complete.

use serde_json::{Value, json};

use super::emit::{
    ChatEmitter, Emit, End, MessagesEmitter, Meta, ResponsesEmitter, Up, chat_error, done,
};
use super::names::ToolNames;
use super::seal::Sealed;
use super::usage::{from_chat, from_messages, from_responses, merge_messages_delta};
use super::{Exchange, Stop, Usage, Wire, now_secs, supported};
use crate::translate::sse::SseEvent;

/// Sent to the client when the upstream ended without finishing and the caller gave no reason.
const ENDED_EARLY: &str = "The model provider's stream ended before the response was complete.";
/// Sent when the translator was built for a pair of formats that cannot be translated.
const UNSUPPORTED: &str = "This model's provider cannot serve this endpoint.";

/// Translates one streamed response; see the module docs.
pub struct StreamTranslator {
    meta: Meta,
    mode: Mode,
    /// The client's tools by their names at the provider.
    tools: ToolNames,
    usage: Option<Usage>,
    stop: Option<Stop>,
    finished: bool,
    failed: bool,
}

enum Mode {
    Pass(Passthrough),
    Translate {
        reader: Reader,
        writer: Box<dyn Emit>,
    },
    /// A pair that cannot be translated: nothing is forwarded and `finish` reports the failure.
    Refuse(Box<dyn Emit>),
}

impl StreamTranslator {
    /// `from` is the provider's format, `to` the client's. `response_id` is the client-facing
    /// id; its prefix (`resp_`, `chatcmpl-`, `msg_`, `cmpl-`) is replaced by the one the client's
    /// format uses. `exchange` is what the translation of the request said.
    pub fn new(
        from: Wire,
        to: Wire,
        client_model: &str,
        response_id: &str,
        exchange: &Exchange,
    ) -> Self {
        let meta = Meta {
            id: response_id.to_owned(),
            model: client_model.to_owned(),
            created: now_secs(),
        };
        let writer = || -> Box<dyn Emit> {
            match to {
                Wire::Responses => Box::<ResponsesEmitter>::default(),
                Wire::Messages => Box::<MessagesEmitter>::default(),
                Wire::Chat => Box::new(ChatEmitter::chat()),
                Wire::Completions => Box::new(ChatEmitter::legacy()),
            }
        };
        let mode = if from == to {
            Mode::Pass(Passthrough::new(from))
        } else {
            match (supported(to, from), from) {
                (true, Wire::Chat) => Mode::Translate {
                    reader: Reader::Chat(ChatReader::default()),
                    writer: writer(),
                },
                (true, Wire::Messages) => Mode::Translate {
                    reader: Reader::Messages(MessagesReader::default()),
                    writer: writer(),
                },
                (true, Wire::Responses) => Mode::Translate {
                    reader: Reader::Responses(ResponsesReader::default()),
                    writer: writer(),
                },
                _ => Mode::Refuse(writer()),
            }
        };
        Self {
            meta,
            mode,
            tools: exchange.tools.clone(),
            usage: None,
            stop: None,
            finished: false,
            failed: false,
        }
    }

    /// Sets the `created` timestamp written into events (seconds since the epoch).
    pub fn with_created_at(mut self, unix_secs: u64) -> Self {
        self.meta.created = unix_secs;
        self
    }

    /// Reads one upstream event; returns the client's events for it.
    pub fn on_event(&mut self, event: &SseEvent) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        match &mut self.mode {
            Mode::Pass(pass) => {
                let out = pass.on_event(event, &mut self.usage);
                self.finished = pass.finished;
                self.failed = pass.failed;
                out
            }
            Mode::Translate { reader, writer } => {
                let mut out = writer.start(&self.meta);
                for up in reader.read(event) {
                    match up {
                        Up::Usage(usage) => self.usage = Some(usage),
                        Up::Finish(stop) => self.stop = Some(stop),
                        Up::Done => {
                            let stop = self.stop.unwrap_or(Stop::EndTurn);
                            out.extend(writer.close(&self.meta, End::Clean(stop), self.usage));
                            self.finished = true;
                            break;
                        }
                        Up::Error(message) => {
                            out.extend(writer.close(&self.meta, End::Failed(&message), self.usage));
                            self.finished = true;
                            self.failed = true;
                            break;
                        }
                        Up::ToolStart { key, id, name, .. } => {
                            let start = match self.tools.client(&name) {
                                Some(tool) => Up::ToolStart {
                                    key,
                                    id,
                                    name: tool.name.to_owned(),
                                    namespace: tool.namespace.map(str::to_owned),
                                    custom: tool.custom,
                                },
                                None => Up::ToolStart {
                                    key,
                                    id,
                                    name,
                                    namespace: None,
                                    custom: false,
                                },
                            };
                            out.extend(writer.on(&self.meta, start));
                        }
                        piece => out.extend(writer.on(&self.meta, piece)),
                    }
                }
                out
            }
            Mode::Refuse(_) => Vec::new(),
        }
    }

    /// The upstream ended, cleanly (`None`) or not (`Some(message)`, shown to the client):
    /// writes the closing events the client's format needs. Does nothing the second time, or
    /// when the stream was already closed.
    pub fn finish(&mut self, failure: Option<&str>) -> Vec<SseEvent> {
        if std::mem::replace(&mut self.finished, true) {
            return Vec::new();
        }
        match &mut self.mode {
            Mode::Pass(pass) => {
                let out = pass.finish(&self.meta, failure, self.usage);
                self.failed = pass.failed;
                out
            }
            Mode::Translate { writer, .. } => {
                let mut out = writer.start(&self.meta);
                let end = match (failure, self.stop) {
                    (Some(message), _) => End::Failed(message),
                    (None, Some(stop)) => End::Clean(stop),
                    (None, None) => End::Failed(ENDED_EARLY),
                };
                self.failed = matches!(end, End::Failed(_));
                out.extend(writer.close(&self.meta, end, self.usage));
                out
            }
            Mode::Refuse(writer) => {
                self.failed = true;
                let mut out = writer.start(&self.meta);
                out.extend(writer.close(&self.meta, End::Failed(UNSUPPORTED), None));
                out
            }
        }
    }

    /// Token usage seen so far (complete once the stream has finished normally).
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// Whether the client's stream has been closed (by the upstream's end or by `finish`).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Whether the client's stream was closed with its format's failure events (an upstream
    /// error, a cut, a refused pair) rather than a normal end.
    pub fn failed(&self) -> bool {
        self.failed
    }
}

fn parse(event: &SseEvent) -> Option<Value> {
    serde_json::from_str::<Value>(&event.data)
        .ok()
        .filter(Value::is_object)
}

/// The `type` of an event: in the data, else the SSE event name.
fn event_type<'a>(event: &'a SseEvent, data: &'a Value) -> &'a str {
    data.get("type")
        .and_then(Value::as_str)
        .or(event.event.as_deref())
        .unwrap_or_default()
}

/// An upstream error's message, or a generic one.
fn error_message(error: Option<&Value>) -> String {
    match error {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(e) => e
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| "The model provider reported an error.".to_owned()),
        None => "The model provider reported an error.".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Readers

enum Reader {
    Chat(ChatReader),
    Messages(MessagesReader),
    Responses(ResponsesReader),
}

impl Reader {
    fn read(&mut self, event: &SseEvent) -> Vec<Up> {
        match self {
            Reader::Chat(r) => r.read(event),
            Reader::Messages(r) => r.read(event),
            Reader::Responses(r) => r.read(event),
        }
    }
}

#[derive(Default)]
struct ChatReader {
    /// Tool calls already announced: key and upstream id.
    tools: Vec<(u64, Option<String>)>,
}

impl ChatReader {
    fn read(&mut self, event: &SseEvent) -> Vec<Up> {
        if event.data.trim() == "[DONE]" {
            return vec![Up::Done];
        }
        let Some(chunk) = parse(event) else {
            return Vec::new();
        };
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            return vec![Up::Error(error_message(Some(error)))];
        }
        let mut out = Vec::new();
        let mut tail = Vec::new();
        let choices = chunk
            .get("choices")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for choice in choices {
            // Only the first choice is asked for; others would be another answer.
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) != 0 {
                continue;
            }
            if let Some(delta) = choice.get("delta").filter(|d| d.is_object()) {
                self.read_delta(delta, &mut out);
            }
            if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
                tail.push(Up::Finish(Stop::from_chat(reason)));
            }
        }
        if let Some(usage) = chunk.get("usage").and_then(from_chat) {
            tail.push(Up::Usage(usage));
        }
        out.extend(tail);
        out
    }

    fn read_delta(&mut self, delta: &Value, out: &mut Vec<Up>) {
        let text = |key: &str| {
            delta
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        if let Some(reasoning) = text("reasoning_content").or_else(|| text("reasoning")) {
            out.push(Up::Reasoning(reasoning));
        }
        if let Some(content) = text("content") {
            out.push(Up::Text(content));
        }
        if let Some(refusal) = text("refusal") {
            out.push(Up::Text(refusal));
        }
        let calls = delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (position, call) in calls.iter().enumerate() {
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty());
            let key = match call.get("index").and_then(Value::as_u64) {
                Some(index) => index,
                None => self.key_without_index(id, position),
            };
            let function = call.get("function");
            let field = |name: &str| function.and_then(|f| f.get(name)).and_then(Value::as_str);
            if !self.tools.iter().any(|(k, _)| *k == key) {
                self.tools.push((key, id.map(str::to_owned)));
                out.push(Up::ToolStart {
                    key,
                    id: id
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("call_{key}")),
                    name: field("name").unwrap_or_default().to_owned(),
                    namespace: None,
                    custom: false,
                });
            }
            if let Some(fragment) = field("arguments").filter(|s| !s.is_empty()) {
                out.push(Up::ToolArgs {
                    key,
                    fragment: fragment.to_owned(),
                });
            }
        }
    }
}

impl ChatReader {
    /// Some providers leave out `index`: a new id is a new call, a known id or no id at all
    /// continues a call (the last one, when there is no id).
    fn key_without_index(&self, id: Option<&str>, position: usize) -> u64 {
        if let Some(id) = id {
            if let Some((key, _)) = self
                .tools
                .iter()
                .find(|(_, known)| known.as_deref() == Some(id))
            {
                return *key;
            }
            return self
                .tools
                .iter()
                .map(|(k, _)| k.saturating_add(1))
                .max()
                .unwrap_or(0);
        }
        self.tools.last().map_or(position as u64, |(k, _)| *k)
    }
}

#[derive(Default)]
struct MessagesReader {
    usage: Usage,
    /// The text of the thinking block being read, for its seal.
    thinking: String,
}

impl MessagesReader {
    fn read(&mut self, event: &SseEvent) -> Vec<Up> {
        let Some(data) = parse(event) else {
            return Vec::new();
        };
        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event_type(event, &data) {
            "message_start" => {
                let usage = data.pointer("/message/usage").and_then(from_messages);
                match usage {
                    Some(usage) => {
                        self.usage = usage;
                        vec![Up::Usage(usage)]
                    }
                    None => Vec::new(),
                }
            }
            "content_block_start" => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                let text = |key: &str| {
                    block
                        .get(key)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                };
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => text("text").map(Up::Text).into_iter().collect(),
                    Some("thinking") => {
                        self.thinking = text("thinking").unwrap_or_default();
                        text("thinking").map(Up::Reasoning).into_iter().collect()
                    }
                    Some("redacted_thinking") => vec![Up::Seal(Sealed::Redacted {
                        data: text("data").unwrap_or_default(),
                    })],
                    Some("tool_use") => {
                        let mut out = vec![Up::ToolStart {
                            key: index,
                            id: text("id").unwrap_or_else(|| format!("toolu_{index}")),
                            name: text("name").unwrap_or_default(),
                            namespace: None,
                            custom: false,
                        }];
                        if let Some(input) = block
                            .get("input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        {
                            out.push(Up::ToolArgs {
                                key: index,
                                fragment: input.to_string(),
                            });
                        }
                        out
                    }
                    _ => Vec::new(),
                }
            }
            "content_block_delta" => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                let text = |key: &str| {
                    delta
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => vec![Up::Text(text("text"))],
                    Some("thinking_delta") => {
                        let piece = text("thinking");
                        self.thinking.push_str(&piece);
                        vec![Up::Reasoning(piece)]
                    }
                    Some("signature_delta") => vec![Up::Seal(Sealed::Thinking {
                        thinking: std::mem::take(&mut self.thinking),
                        signature: text("signature"),
                    })],
                    Some("input_json_delta") => vec![Up::ToolArgs {
                        key: index,
                        fragment: text("partial_json"),
                    }],
                    // Citations have no place in the client's format.
                    _ => Vec::new(),
                }
            }
            "message_delta" => {
                let mut out = Vec::new();
                if let Some(usage) = data.get("usage").filter(|u| u.is_object()) {
                    self.usage = merge_messages_delta(self.usage, usage);
                    out.push(Up::Usage(self.usage));
                }
                if let Some(reason) = data.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push(Up::Finish(Stop::from_messages(reason)));
                }
                out
            }
            "message_stop" => vec![Up::Done],
            "error" => vec![Up::Error(error_message(data.get("error")))],
            _ => Vec::new(),
        }
    }
}

/// Reads a Responses stream: text, reasoning summaries and function calls by output item,
/// the encrypted reasoning of finished reasoning items, and the final event's usage and status.
#[derive(Default)]
struct ResponsesReader {
    /// Output indexes of the function calls announced, and whether their arguments came in
    /// pieces (else the finished item brings them whole).
    calls: Vec<(u64, bool)>,
    /// The reasoning summary part being read (output index, summary index).
    summary: Option<(u64, u64)>,
}

impl ResponsesReader {
    fn read(&mut self, event: &SseEvent) -> Vec<Up> {
        let Some(data) = parse(event) else {
            return Vec::new();
        };
        let index = data
            .get("output_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let text = |key: &str| {
            data.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match event_type(event, &data) {
            "response.output_item.added" => {
                let item = data.get("item").unwrap_or(&Value::Null);
                if item.get("type").and_then(Value::as_str) != Some("function_call") {
                    return Vec::new();
                }
                let field = |key: &str| {
                    item.get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                let arguments = field("arguments");
                self.calls.push((index, !arguments.is_empty()));
                let mut out = vec![Up::ToolStart {
                    key: index,
                    id: Some(field("call_id"))
                        .filter(|id| !id.is_empty())
                        .unwrap_or_else(|| format!("call_{index}")),
                    name: field("name"),
                    namespace: None,
                    custom: false,
                }];
                if !arguments.is_empty() {
                    out.push(Up::ToolArgs {
                        key: index,
                        fragment: arguments,
                    });
                }
                out
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                vec![Up::Text(text("delta"))]
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                let part = (
                    index,
                    data.get("summary_index")
                        .or_else(|| data.get("content_index"))
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                );
                let mut piece = text("delta");
                // A new summary part of the same reasoning reads as a new paragraph.
                if self
                    .summary
                    .is_some_and(|(item, at)| item == part.0 && at != part.1)
                {
                    piece.insert_str(0, "\n\n");
                }
                self.summary = Some(part);
                vec![Up::Reasoning(piece)]
            }
            "response.function_call_arguments.delta" => {
                if let Some(call) = self.calls.iter_mut().find(|(k, _)| *k == index) {
                    call.1 = true;
                }
                vec![Up::ToolArgs {
                    key: index,
                    fragment: text("delta"),
                }]
            }
            "response.output_item.done" => {
                let item = data.get("item").unwrap_or(&Value::Null);
                match item.get("type").and_then(Value::as_str) {
                    Some("reasoning") => item
                        .get("encrypted_content")
                        .and_then(Value::as_str)
                        .filter(|c| !c.is_empty())
                        .map(|content| {
                            Up::Seal(Sealed::Encrypted {
                                content: content.to_owned(),
                            })
                        })
                        .into_iter()
                        .collect(),
                    Some("function_call") => {
                        let streamed = self.calls.iter().any(|&(k, seen)| k == index && seen);
                        let arguments = item
                            .get("arguments")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if streamed || arguments.is_empty() {
                            Vec::new()
                        } else {
                            vec![Up::ToolArgs {
                                key: index,
                                fragment: arguments.to_owned(),
                            }]
                        }
                    }
                    _ => Vec::new(),
                }
            }
            kind @ ("response.completed" | "response.incomplete") => {
                let response = data.get("response").unwrap_or(&Value::Null);
                let mut out = Vec::new();
                if let Some(usage) = response.get("usage").and_then(from_responses) {
                    out.push(Up::Usage(usage));
                }
                let stop = match response
                    .pointer("/incomplete_details/reason")
                    .and_then(Value::as_str)
                {
                    _ if kind == "response.completed" && !self.calls.is_empty() => Stop::ToolUse,
                    _ if kind == "response.completed" => Stop::EndTurn,
                    Some("content_filter") => Stop::ContentFilter,
                    _ => Stop::MaxTokens,
                };
                out.push(Up::Finish(stop));
                out.push(Up::Done);
                out
            }
            "response.failed" => vec![Up::Error(error_message(data.pointer("/response/error")))],
            "error" => vec![Up::Error(error_message(data.get("error").or(Some(&data))))],
            _ => Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pass-through

/// Same format on both sides: forward, and watch for usage and the end.
struct Passthrough {
    wire: Wire,
    finished: bool,
    /// The upstream said why the model stopped.
    stopped: bool,
    /// The upstream sent an error event or a failed response, or `finish` reported a failure.
    failed: bool,
    /// Responses: the upstream's response id and last sequence number.
    response_id: Option<String>,
    last_seq: Option<u64>,
    messages_usage: Usage,
}

impl Passthrough {
    fn new(wire: Wire) -> Self {
        Self {
            wire,
            finished: false,
            stopped: false,
            failed: false,
            response_id: None,
            last_seq: None,
            messages_usage: Usage::default(),
        }
    }

    fn on_event(&mut self, event: &SseEvent, usage: &mut Option<Usage>) -> Vec<SseEvent> {
        // What is no event of the format (an HTML error page, stray text) is not the client's
        // to parse: it is left out, and the stream is closed properly in the end.
        let chat_done =
            matches!(self.wire, Wire::Chat | Wire::Completions) && event.data.trim() == "[DONE]";
        // Each event is parsed once, here.
        let data = if chat_done {
            None
        } else {
            match parse(event) {
                Some(data) => Some(data),
                None => return Vec::new(),
            }
        };
        match self.wire {
            Wire::Chat | Wire::Completions => {
                if chat_done {
                    self.finished = true;
                } else if let Some(chunk) = &data {
                    if chunk.get("error").is_some_and(|e| !e.is_null()) {
                        self.failed = true;
                    }
                    if let Some(u) = chunk.get("usage").and_then(from_chat) {
                        *usage = Some(u);
                    }
                    let choices = chunk
                        .get("choices")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    if choices
                        .iter()
                        .any(|c| c.get("finish_reason").is_some_and(Value::is_string))
                    {
                        self.stopped = true;
                    }
                }
            }
            Wire::Responses => {
                if let Some(data) = &data {
                    if let Some(seq) = data.get("sequence_number").and_then(Value::as_u64) {
                        self.last_seq = Some(self.last_seq.map_or(seq, |last| last.max(seq)));
                    }
                    if let Some(id) = data.pointer("/response/id").and_then(Value::as_str) {
                        self.response_id = Some(id.to_owned());
                    }
                    match event_type(event, data) {
                        "response.failed" | "error" => {
                            if let Some(u) =
                                data.pointer("/response/usage").and_then(from_responses)
                            {
                                *usage = Some(u);
                            }
                            self.finished = true;
                            self.failed = true;
                        }
                        "response.completed" | "response.incomplete" => {
                            if let Some(u) =
                                data.pointer("/response/usage").and_then(from_responses)
                            {
                                *usage = Some(u);
                            }
                            self.finished = true;
                        }
                        _ => {}
                    }
                }
            }
            Wire::Messages => {
                if let Some(data) = &data {
                    match event_type(event, data) {
                        "message_start" => {
                            if let Some(u) = data.pointer("/message/usage").and_then(from_messages)
                            {
                                self.messages_usage = u;
                                *usage = Some(u);
                            }
                        }
                        "message_delta" => {
                            if let Some(u) = data.get("usage").filter(|u| u.is_object()) {
                                self.messages_usage = merge_messages_delta(self.messages_usage, u);
                                *usage = Some(self.messages_usage);
                            }
                            if data
                                .pointer("/delta/stop_reason")
                                .is_some_and(Value::is_string)
                            {
                                self.stopped = true;
                            }
                        }
                        "message_stop" => self.finished = true,
                        "error" => {
                            self.finished = true;
                            self.failed = true;
                        }
                        _ => {}
                    }
                }
            }
        }
        vec![event.clone()]
    }

    fn finish(
        &mut self,
        meta: &Meta,
        failure: Option<&str>,
        usage: Option<Usage>,
    ) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        // A Responses stream has no "stopped" signal before its final event.
        let clean = failure.is_none() && self.stopped && self.wire != Wire::Responses;
        let message = failure.unwrap_or(ENDED_EARLY);
        let already_failed = self.failed;
        self.failed |= !clean;
        match self.wire {
            Wire::Chat | Wire::Completions => {
                if clean || already_failed {
                    vec![done()]
                } else {
                    vec![chat_error(message), done()]
                }
            }
            Wire::Responses => {
                let seq = self.last_seq.map_or(0, |s| s.saturating_add(1));
                let id = self.response_id.clone().unwrap_or_else(|| meta.id.clone());
                let data = json!({
                    "type": "response.failed",
                    "sequence_number": seq,
                    "response": {
                        "id": id,
                        "object": "response",
                        "created_at": meta.created,
                        "status": "failed",
                        "error": {"code": "server_error", "message": message},
                        "incomplete_details": null,
                        "model": meta.model,
                        "output": [],
                        "usage": usage.map(|u| u.to_responses()),
                    },
                });
                vec![SseEvent::named("response.failed", data.to_string())]
            }
            Wire::Messages => {
                if clean {
                    vec![SseEvent::named(
                        "message_stop",
                        json!({"type": "message_stop"}).to_string(),
                    )]
                } else {
                    let data = json!({"type": "error", "error": {"type": "api_error", "message": message}});
                    vec![SseEvent::named("error", data.to_string())]
                }
            }
        }
    }
}
