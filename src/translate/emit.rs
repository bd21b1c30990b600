//! Stream writers: turn normalised upstream happenings into the client's own event sequence
//! (Responses events, Anthropic Messages events, Chat or legacy Completions chunks).
//! One module because the four writers share the normalised pieces and the bookkeeping of which
//! items are open.
//!
//! Choices:
//! - Responses: text, reasoning and each tool call are separate output items. A message or
//!   reasoning item is closed as soon as something else starts; function-call items stay open
//!   until the end so that their arguments are whole in `response.output_item.done` even if a
//!   provider interleaves argument pieces of parallel calls. Reasoning is sent as a reasoning
//!   item's summary text, with the provider's seal (packed) as its `encrypted_content`. A call
//!   of a custom tool is a `custom_tool_call` whose input is whole only at its end. On failure,
//!   `response.failed` lists only finished items: half a tool call must never be run.
//! - Messages: reasoning becomes a `thinking` block whose signature is the provider's seal
//!   (packed), sent as a `signature_delta` when it arrives; reasoning nobody sealed has an
//!   empty signature, and a seal without text is a `redacted_thinking` block. Blocks are
//!   sequential; an argument piece that arrives for a tool block already closed is still sent
//!   with that block's index. The input counts, unknown when the stream starts, are sent in
//!   `message_delta.usage`.
//! - Chat: reasoning is sent as `delta.reasoning_content`; the token counts ride on the final
//!   chunk (the one with `finish_reason`), so clients that never asked for a usage-only chunk
//!   with empty `choices` do not meet one. Legacy Completions drop reasoning and tool calls.

use serde_json::{Value, json};

use super::ir::{Call, CallInput, Thought};
use super::names::raw_input;
use super::responses::{call_item, message_item, reasoning_item};
use super::seal::Sealed;
use super::{Stop, Usage, Wire, id_tail};
use crate::translate::sse::SseEvent;

/// What the translator knows about the response it writes.
pub(super) struct Meta {
    /// Id of the client-facing response; its format prefix is replaced per format.
    pub id: String,
    pub model: String,
    pub created: u64,
}

impl Meta {
    fn tail(&self) -> &str {
        id_tail(&self.id)
    }
}

/// A normalised piece of an upstream stream.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Up {
    Text(String),
    Reasoning(String),
    /// A tool call begins; `key` identifies it among the upstream's calls. `namespace` and
    /// `custom` say how the client declared the tool (set by the translator).
    ToolStart {
        key: u64,
        id: String,
        name: String,
        namespace: Option<String>,
        custom: bool,
    },
    ToolArgs {
        key: u64,
        fragment: String,
    },
    /// The provider's own form of the reasoning just written (a signature, encrypted content).
    Seal(Sealed),
    Finish(Stop),
    Usage(Usage),
    /// The upstream's own end-of-stream marker.
    Done,
    /// The upstream reported an error mid-stream.
    Error(String),
}

/// How a stream ends.
pub(super) enum End<'a> {
    Clean(Stop),
    Failed(&'a str),
}

/// A client-format writer.
pub(super) trait Emit: Send {
    /// The opening events; empty after the first call.
    fn start(&mut self, meta: &Meta) -> Vec<SseEvent>;
    /// Events for text, reasoning and tool-call pieces (other [`Up`]s are the caller's).
    fn on(&mut self, meta: &Meta, up: Up) -> Vec<SseEvent>;
    /// The closing events.
    fn close(&mut self, meta: &Meta, end: End<'_>, usage: Option<Usage>) -> Vec<SseEvent>;
}

// ---------------------------------------------------------------------------------------------
// Responses

enum ItemKind {
    Message,
    Reasoning {
        sealed: Option<Sealed>,
    },
    Call {
        call_id: String,
        name: String,
        namespace: Option<String>,
        custom: bool,
    },
}

struct Item {
    id: String,
    kind: ItemKind,
    /// The message text, reasoning text or call arguments so far.
    text: String,
    done: bool,
}

impl Item {
    fn finished_json(&self) -> Value {
        match &self.kind {
            ItemKind::Message => message_item(&self.id, &self.text),
            ItemKind::Reasoning { sealed } => reasoning_item(
                &self.id,
                &Thought {
                    text: self.text.clone(),
                    sealed: sealed.clone(),
                },
            ),
            ItemKind::Call {
                call_id,
                name,
                namespace,
                custom,
            } => call_item(
                &self.id,
                &Call {
                    id: call_id.clone(),
                    name: name.clone(),
                    namespace: namespace.clone(),
                    input: if *custom {
                        CallInput::Raw(raw_input(&self.text))
                    } else {
                        CallInput::Json(self.text.clone())
                    },
                },
            ),
        }
    }

    fn is_custom_call(&self) -> bool {
        matches!(self.kind, ItemKind::Call { custom: true, .. })
    }
}

#[derive(Default)]
pub(super) struct ResponsesEmitter {
    seq: u64,
    started: bool,
    items: Vec<Item>,
    open_text: Option<usize>,
    open_reasoning: Option<usize>,
    /// Upstream tool key → item position.
    tools: Vec<(u64, usize)>,
}

impl ResponsesEmitter {
    fn event(&mut self, name: &str, mut data: Value) -> SseEvent {
        data["type"] = json!(name);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        SseEvent::named(name, data.to_string())
    }

    fn response(
        &self,
        meta: &Meta,
        status: &str,
        usage: Option<Usage>,
        incomplete: Option<&str>,
        error: Option<Value>,
    ) -> Value {
        let output: Vec<Value> = self
            .items
            .iter()
            .filter(|i| i.done)
            .map(Item::finished_json)
            .collect();
        json!({
            "id": format!("resp_{}", meta.tail()),
            "object": "response",
            "created_at": meta.created,
            "status": status,
            "error": error,
            "incomplete_details": incomplete.map(|reason| json!({"reason": reason})),
            "model": meta.model,
            "output": output,
            "usage": usage.map(|u| u.to_responses()),
        })
    }

    fn open_item(&mut self, meta: &Meta, kind: ItemKind, out: &mut Vec<SseEvent>) -> usize {
        let index = self.items.len();
        let prefix = match kind {
            ItemKind::Message => "msg",
            ItemKind::Reasoning { .. } => "rs",
            ItemKind::Call { .. } => "fc",
        };
        let id = format!("{prefix}_{}_{index}", meta.tail());
        let added = match &kind {
            ItemKind::Message => {
                json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []})
            }
            ItemKind::Reasoning { .. } => json!({"id": id, "type": "reasoning", "summary": []}),
            ItemKind::Call {
                call_id,
                name,
                namespace,
                custom,
            } => {
                let mut added = if *custom {
                    json!({
                        "id": id, "type": "custom_tool_call", "status": "in_progress",
                        "call_id": call_id, "name": name, "input": "",
                    })
                } else {
                    json!({
                        "id": id, "type": "function_call", "status": "in_progress",
                        "call_id": call_id, "name": name, "arguments": "",
                    })
                };
                if let Some(namespace) = namespace {
                    added["namespace"] = json!(namespace);
                }
                added
            }
        };
        let first_part = match kind {
            ItemKind::Message => Some((
                "response.content_part.added",
                json!({
                    "item_id": id, "output_index": index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []},
                }),
            )),
            // Its summary part opens with the first text: sealed reasoning may have none.
            ItemKind::Reasoning { .. } | ItemKind::Call { .. } => None,
        };
        let event = self.event(
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        out.push(event);
        if let Some((name, data)) = first_part {
            let event = self.event(name, data);
            out.push(event);
        }
        self.items.push(Item {
            id,
            kind,
            text: String::new(),
            done: false,
        });
        index
    }

    fn close_item(&mut self, index: usize, out: &mut Vec<SseEvent>) {
        let Some(item) = self.items.get_mut(index) else {
            return;
        };
        if item.done {
            return;
        }
        item.done = true;
        let id = item.id.clone();
        let text = item.text.clone();
        let finished = item.finished_json();
        let custom = item.is_custom_call();
        let events: Vec<(&str, Value)> = match item.kind {
            ItemKind::Message => vec![
                (
                    "response.output_text.done",
                    json!({
                        "item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": [],
                    }),
                ),
                (
                    "response.content_part.done",
                    json!({
                        "item_id": id, "output_index": index, "content_index": 0,
                        "part": {"type": "output_text", "text": text, "annotations": []},
                    }),
                ),
            ],
            ItemKind::Reasoning { .. } if text.is_empty() => Vec::new(),
            ItemKind::Reasoning { .. } => vec![
                (
                    "response.reasoning_summary_text.done",
                    json!({
                        "item_id": id, "output_index": index, "summary_index": 0, "text": text,
                    }),
                ),
                (
                    "response.reasoning_summary_part.done",
                    json!({
                        "item_id": id, "output_index": index, "summary_index": 0,
                        "part": {"type": "summary_text", "text": text},
                    }),
                ),
            ],
            ItemKind::Call { .. } if custom => vec![(
                "response.custom_tool_call_input.done",
                json!({"item_id": id, "output_index": index, "input": raw_input(&text)}),
            )],
            ItemKind::Call { .. } => vec![(
                "response.function_call_arguments.done",
                json!({"item_id": id, "output_index": index, "arguments": text}),
            )],
        };
        for (name, data) in events {
            let event = self.event(name, data);
            out.push(event);
        }
        let event = self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": finished}),
        );
        out.push(event);
    }

    fn close_text(&mut self, out: &mut Vec<SseEvent>) {
        if let Some(index) = self.open_text.take() {
            self.close_item(index, out);
        }
    }

    fn close_reasoning(&mut self, out: &mut Vec<SseEvent>) {
        if let Some(index) = self.open_reasoning.take() {
            self.close_item(index, out);
        }
    }
}

impl Emit for ResponsesEmitter {
    fn start(&mut self, meta: &Meta) -> Vec<SseEvent> {
        if std::mem::replace(&mut self.started, true) {
            return Vec::new();
        }
        let response = self.response(meta, "in_progress", None, None, None);
        vec![
            self.event("response.created", json!({"response": response})),
            self.event("response.in_progress", json!({"response": response})),
        ]
    }

    fn on(&mut self, meta: &Meta, up: Up) -> Vec<SseEvent> {
        let mut out = Vec::new();
        match up {
            Up::Text(delta) if !delta.is_empty() => {
                self.close_reasoning(&mut out);
                let index = match self.open_text {
                    Some(index) => index,
                    None => {
                        let index = self.open_item(meta, ItemKind::Message, &mut out);
                        self.open_text = Some(index);
                        index
                    }
                };
                let Some(item) = self.items.get_mut(index) else {
                    return out;
                };
                item.text.push_str(&delta);
                let data = json!({
                    "item_id": item.id, "output_index": index, "content_index": 0, "delta": delta, "logprobs": [],
                });
                out.push(self.event("response.output_text.delta", data));
            }
            Up::Reasoning(delta) if !delta.is_empty() => {
                self.close_text(&mut out);
                let index = match self.open_reasoning {
                    Some(index) => index,
                    None => {
                        let index =
                            self.open_item(meta, ItemKind::Reasoning { sealed: None }, &mut out);
                        self.open_reasoning = Some(index);
                        index
                    }
                };
                let Some(item) = self.items.get_mut(index) else {
                    return out;
                };
                let first = item.text.is_empty();
                item.text.push_str(&delta);
                let id = item.id.clone();
                if first {
                    let part = json!({
                        "item_id": id, "output_index": index, "summary_index": 0,
                        "part": {"type": "summary_text", "text": ""},
                    });
                    out.push(self.event("response.reasoning_summary_part.added", part));
                }
                let data = json!({"item_id": id, "output_index": index, "summary_index": 0, "delta": delta});
                out.push(self.event("response.reasoning_summary_text.delta", data));
            }
            Up::ToolStart {
                key,
                id,
                name,
                namespace,
                custom,
            } => {
                self.close_text(&mut out);
                self.close_reasoning(&mut out);
                let kind = ItemKind::Call {
                    call_id: id,
                    name,
                    namespace,
                    custom,
                };
                let index = self.open_item(meta, kind, &mut out);
                self.tools.push((key, index));
            }
            Up::ToolArgs { key, fragment } if !fragment.is_empty() => {
                let Some(&(_, index)) = self.tools.iter().find(|(k, _)| *k == key) else {
                    return out;
                };
                let Some(item) = self.items.get_mut(index).filter(|i| !i.done) else {
                    return out;
                };
                item.text.push_str(&fragment);
                // A custom tool's raw input is known only once its arguments are whole.
                if !item.is_custom_call() {
                    let data =
                        json!({"item_id": item.id, "output_index": index, "delta": fragment});
                    out.push(self.event("response.function_call_arguments.delta", data));
                }
            }
            Up::Seal(sealed) => {
                self.close_text(&mut out);
                let index = match self.open_reasoning {
                    Some(index) => index,
                    None => {
                        let index =
                            self.open_item(meta, ItemKind::Reasoning { sealed: None }, &mut out);
                        self.open_reasoning = Some(index);
                        index
                    }
                };
                if let Some(Item {
                    kind: ItemKind::Reasoning { sealed: slot },
                    ..
                }) = self.items.get_mut(index)
                {
                    *slot = Some(sealed);
                }
                // One seal closes one piece of reasoning.
                self.close_reasoning(&mut out);
            }
            _ => {}
        }
        out
    }

    fn close(&mut self, meta: &Meta, end: End<'_>, usage: Option<Usage>) -> Vec<SseEvent> {
        let mut out = Vec::new();
        match end {
            End::Clean(stop) => {
                for index in 0..self.items.len() {
                    self.close_item(index, &mut out);
                }
                self.open_text = None;
                self.open_reasoning = None;
                let (status, incomplete) = stop.to_responses();
                let response = self.response(meta, status, usage, incomplete, None);
                let name = if incomplete.is_some() {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                out.push(self.event(name, json!({"response": response})));
            }
            End::Failed(message) => {
                let error = json!({"code": "server_error", "message": message});
                let response = self.response(meta, "failed", usage, None, Some(error));
                out.push(self.event("response.failed", json!({"response": response})));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Anthropic Messages

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Redacted,
    Tool,
}

#[derive(Default)]
pub(super) struct MessagesEmitter {
    started: bool,
    next_index: u64,
    open: Option<(u64, Block)>,
    /// Upstream tool key → block index.
    tools: Vec<(u64, u64)>,
}

fn anthropic(name: &str, mut data: Value) -> SseEvent {
    data["type"] = json!(name);
    SseEvent::named(name, data.to_string())
}

impl MessagesEmitter {
    fn stop_open(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(anthropic("content_block_stop", json!({"index": index})));
        }
    }

    /// The open block's index when it is of `kind`, else a new block of that kind.
    fn block(&mut self, kind: Block, content_block: Value, out: &mut Vec<SseEvent>) -> u64 {
        if let Some((index, open)) = self.open
            && open == kind
            && matches!(kind, Block::Text | Block::Thinking)
        {
            return index;
        }
        self.stop_open(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some((index, kind));
        out.push(anthropic(
            "content_block_start",
            json!({"index": index, "content_block": content_block}),
        ));
        index
    }
}

impl Emit for MessagesEmitter {
    fn start(&mut self, meta: &Meta) -> Vec<SseEvent> {
        if std::mem::replace(&mut self.started, true) {
            return Vec::new();
        }
        vec![anthropic(
            "message_start",
            json!({"message": {
                "id": format!("msg_{}", meta.tail()),
                "type": "message",
                "role": "assistant",
                "model": meta.model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0},
            }}),
        )]
    }

    fn on(&mut self, _meta: &Meta, up: Up) -> Vec<SseEvent> {
        let mut out = Vec::new();
        match up {
            Up::Text(text) if !text.is_empty() => {
                let index = self.block(Block::Text, json!({"type": "text", "text": ""}), &mut out);
                let delta = json!({"index": index, "delta": {"type": "text_delta", "text": text}});
                out.push(anthropic("content_block_delta", delta));
            }
            Up::Reasoning(thinking) if !thinking.is_empty() => {
                let start = json!({"type": "thinking", "thinking": "", "signature": ""});
                let index = self.block(Block::Thinking, start, &mut out);
                let delta = json!({"index": index, "delta": {"type": "thinking_delta", "thinking": thinking}});
                out.push(anthropic("content_block_delta", delta));
            }
            Up::Seal(sealed) => match self.open {
                Some((index, Block::Thinking)) if !matches!(sealed, Sealed::Redacted { .. }) => {
                    let signature = sealed.for_client(Wire::Messages);
                    let delta = json!({"index": index, "delta": {"type": "signature_delta", "signature": signature}});
                    out.push(anthropic("content_block_delta", delta));
                    self.stop_open(&mut out);
                }
                _ => {
                    let data = match &sealed {
                        Sealed::Redacted { data } => data.clone(),
                        other => other.for_client(Wire::Messages),
                    };
                    let start = json!({"type": "redacted_thinking", "data": data});
                    self.block(Block::Redacted, start, &mut out);
                    self.stop_open(&mut out);
                }
            },
            Up::ToolStart { key, id, name, .. } => {
                let start = json!({"type": "tool_use", "id": id, "name": name, "input": {}});
                let index = self.block(Block::Tool, start, &mut out);
                self.tools.push((key, index));
            }
            Up::ToolArgs { key, fragment } if !fragment.is_empty() => {
                if let Some(&(_, index)) = self.tools.iter().find(|(k, _)| *k == key) {
                    let delta = json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": fragment}});
                    out.push(anthropic("content_block_delta", delta));
                }
            }
            _ => {}
        }
        out
    }

    fn close(&mut self, _meta: &Meta, end: End<'_>, usage: Option<Usage>) -> Vec<SseEvent> {
        let mut out = Vec::new();
        match end {
            End::Clean(stop) => {
                self.stop_open(&mut out);
                let usage = usage.unwrap_or_default().to_messages();
                out.push(anthropic(
                    "message_delta",
                    json!({"delta": {"stop_reason": stop.to_messages(), "stop_sequence": null}, "usage": usage}),
                ));
                out.push(anthropic("message_stop", json!({})));
            }
            End::Failed(message) => {
                out.push(anthropic(
                    "error",
                    json!({"error": {"type": "api_error", "message": message}}),
                ));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Chat Completions and legacy Completions

pub(super) struct ChatEmitter {
    /// Legacy text completions instead of chat chunks.
    legacy: bool,
    started: bool,
    /// Upstream tool keys, in the order of the client's `tool_calls[].index`.
    tools: Vec<u64>,
}

impl ChatEmitter {
    pub(super) fn chat() -> Self {
        Self {
            legacy: false,
            started: false,
            tools: Vec::new(),
        }
    }

    pub(super) fn legacy() -> Self {
        Self {
            legacy: true,
            started: false,
            tools: Vec::new(),
        }
    }

    fn chunk(
        &self,
        meta: &Meta,
        delta: Value,
        finish: Option<&str>,
        usage: Option<Usage>,
    ) -> SseEvent {
        let mut chunk = if self.legacy {
            json!({
                "id": format!("cmpl-{}", meta.tail()),
                "object": "text_completion",
                "created": meta.created,
                "model": meta.model,
                "choices": [{"text": delta, "index": 0, "logprobs": null, "finish_reason": finish}],
            })
        } else {
            json!({
                "id": format!("chatcmpl-{}", meta.tail()),
                "object": "chat.completion.chunk",
                "created": meta.created,
                "model": meta.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            })
        };
        if let Some(usage) = usage {
            chunk["usage"] = if self.legacy {
                usage.to_completions()
            } else {
                usage.to_chat()
            };
        }
        SseEvent::data(chunk.to_string())
    }
}

/// The chunk OpenAI sends for an error in the middle of a stream.
pub(super) fn chat_error(message: &str) -> SseEvent {
    SseEvent::data(
        json!({"error": {"message": message, "type": "server_error", "param": null, "code": null}})
            .to_string(),
    )
}

pub(super) fn done() -> SseEvent {
    SseEvent::data("[DONE]")
}

impl Emit for ChatEmitter {
    fn start(&mut self, meta: &Meta) -> Vec<SseEvent> {
        if std::mem::replace(&mut self.started, true) || self.legacy {
            return Vec::new();
        }
        vec![self.chunk(
            meta,
            json!({"role": "assistant", "content": ""}),
            None,
            None,
        )]
    }

    fn on(&mut self, meta: &Meta, up: Up) -> Vec<SseEvent> {
        let delta = match up {
            Up::Text(text) if !text.is_empty() => {
                if self.legacy {
                    json!(text)
                } else {
                    json!({"content": text})
                }
            }
            _ if self.legacy => return Vec::new(),
            Up::Reasoning(text) if !text.is_empty() => json!({"reasoning_content": text}),
            Up::ToolStart { key, id, name, .. } => {
                let index = self.tools.len();
                self.tools.push(key);
                json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]})
            }
            Up::ToolArgs { key, fragment } if !fragment.is_empty() => {
                let Some(index) = self.tools.iter().position(|k| *k == key) else {
                    return Vec::new();
                };
                json!({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            }
            _ => return Vec::new(),
        };
        vec![self.chunk(meta, delta, None, None)]
    }

    fn close(&mut self, meta: &Meta, end: End<'_>, usage: Option<Usage>) -> Vec<SseEvent> {
        match end {
            End::Clean(stop) => {
                let empty = if self.legacy { json!("") } else { json!({}) };
                vec![self.chunk(meta, empty, Some(stop.to_chat()), usage), done()]
            }
            End::Failed(message) => vec![chat_error(message), done()],
        }
    }
}
