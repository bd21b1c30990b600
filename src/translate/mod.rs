//! Translation between the client's API format and the provider's: requests, whole responses,
//! streams and token usage. Pure functions over `serde_json::Value`: no I/O, no logging.
//!
//! Supported pairs (client → provider): every format to itself (only `model` changes),
//! Responses → Chat, Messages → Chat, Chat → Messages, Completions → Chat. Any other pair is
//! refused with a [`TranslateError`] on `model`, so the caller can pick another provider.
//!
//! Error messages name the field and at most its type tag; they never quote the body, which is
//! the user's code.

mod chat_messages;
mod completions_chat;
mod emit;
mod messages_chat;
mod responses_chat;
pub mod sse;
mod stream;
mod usage;

#[cfg(test)]
mod stream_tests;

use serde_json::{Map, Value};

pub use stream::StreamTranslator;
pub use usage::{Usage, usage_from_response};

/// An API format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// OpenAI Chat Completions (`/v1/chat/completions`).
    Chat,
    /// OpenAI Responses (`/v1/responses`).
    Responses,
    /// Anthropic Messages (`/v1/messages`).
    Messages,
    /// OpenAI legacy Completions (`/v1/completions`).
    Completions,
}

impl Wire {
    /// The name used in error messages.
    pub fn label(self) -> &'static str {
        match self {
            Wire::Chat => "Chat Completions",
            Wire::Responses => "Responses",
            Wire::Messages => "Anthropic Messages",
            Wire::Completions => "legacy Completions",
        }
    }

    /// "a" or "an", for the label.
    fn article(self) -> &'static str {
        match self {
            Wire::Messages => "an",
            Wire::Chat | Wire::Responses | Wire::Completions => "a",
        }
    }
}

/// A request or response that cannot be carried over; `field` is a path such as `input[2].type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslateError {
    pub field: String,
    pub message: String,
}

impl TranslateError {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `field` (with its type tag, when it is a plain identifier) has no equivalent on `target`.
    pub(crate) fn unsupported(field: &str, tag: Option<&Value>, target: Wire) -> Self {
        let message = match tag.and_then(safe_tag) {
            Some(tag) => format!(
                "field `{field}` (\"{tag}\") cannot be sent to {} {} provider",
                target.article(),
                target.label()
            ),
            None => format!(
                "field `{field}` cannot be sent to {} {} provider",
                target.article(),
                target.label()
            ),
        };
        Self::new(field, message)
    }

    /// `field` has the wrong shape; `expected` says what it should be.
    pub(crate) fn invalid(field: &str, expected: &str) -> Self {
        Self::new(field, format!("field `{field}` {expected}"))
    }
}

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TranslateError {}

/// A type tag is quoted in messages only when it looks like the tags of these APIs: short,
/// lowercase ASCII letters, digits and `_-.`. Anything else might be user text and is left out.
fn safe_tag(value: &Value) -> Option<&str> {
    let tag = value.as_str()?;
    let ok = !tag.is_empty()
        && tag.len() <= 48
        && tag
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
    ok.then_some(tag)
}

/// Request: client body (already parsed) → provider body, with `model` as the upstream name.
///
/// When the provider speaks Chat (or legacy Completions) and the client asked for a stream,
/// `stream_options.include_usage` is set so that the stream ends with the token counts the
/// gateway bills; this applies to Chat → Chat too.
pub fn translate_request(
    from: Wire,
    to: Wire,
    body: &Value,
    model: &str,
) -> Result<Value, TranslateError> {
    let object = body
        .as_object()
        .ok_or_else(|| TranslateError::new("body", "the request body must be a JSON object"))?;
    match (from, to) {
        (Wire::Responses, Wire::Responses) | (Wire::Messages, Wire::Messages) => {
            Ok(Value::Object(with_model(object, model)))
        }
        (Wire::Chat, Wire::Chat) | (Wire::Completions, Wire::Completions) => {
            let mut out = with_model(object, model);
            if out.get("stream").and_then(Value::as_bool) == Some(true) {
                force_include_usage(&mut out);
            }
            Ok(Value::Object(out))
        }
        (Wire::Responses, Wire::Chat) => responses_chat::request(object, model),
        (Wire::Messages, Wire::Chat) => messages_chat::request(object, model),
        (Wire::Chat, Wire::Messages) => chat_messages::request(object, model),
        (Wire::Completions, Wire::Chat) => completions_chat::request(object, model),
        _ => Err(pair_error(to, from)),
    }
}

/// Non-streamed response: provider body → client body, naming `client_model` as the model.
pub fn translate_response(
    from: Wire,
    to: Wire,
    body: &Value,
    client_model: &str,
) -> Result<Value, TranslateError> {
    let object = body.as_object().ok_or_else(|| {
        TranslateError::new("body", "the provider's response is not a JSON object")
    })?;
    match (from, to) {
        (a, b) if a == b => Ok(Value::Object(with_model(object, client_model))),
        (Wire::Chat, Wire::Responses) => responses_chat::response(object, client_model),
        (Wire::Chat, Wire::Messages) => messages_chat::response(object, client_model),
        (Wire::Messages, Wire::Chat) => chat_messages::response(object, client_model),
        (Wire::Chat, Wire::Completions) => completions_chat::response(object, client_model),
        _ => Err(pair_error(from, to)),
    }
}

/// Whether requests in the client's format can be served by a provider of the given format.
pub fn supported(client: Wire, provider: Wire) -> bool {
    matches!(
        (client, provider),
        (Wire::Responses, Wire::Chat)
            | (Wire::Messages, Wire::Chat)
            | (Wire::Chat, Wire::Messages)
            | (Wire::Completions, Wire::Chat)
    ) || client == provider
}

fn pair_error(provider: Wire, client: Wire) -> TranslateError {
    TranslateError::new(
        "model",
        format!(
            "this model's provider speaks {} and cannot serve the {} endpoint",
            provider.label(),
            client.label()
        ),
    )
}

fn with_model(object: &Map<String, Value>, model: &str) -> Map<String, Value> {
    let mut out = object.clone();
    out.insert("model".to_owned(), Value::String(model.to_owned()));
    out
}

fn force_include_usage(out: &mut Map<String, Value>) {
    let options = out
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if !options.is_object() {
        *options = Value::Object(Map::new());
    }
    if let Some(options) = options.as_object_mut() {
        options.insert("include_usage".to_owned(), Value::Bool(true));
    }
}

/// `path.key`, or `key` at the top level.
fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// An optional string field: absent and `null` are `None`, anything but a string is an error.
fn opt_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TranslateError::invalid(
            &join_path(path, key),
            "must be a string",
        )),
    }
}

/// A required string field.
fn req_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, TranslateError> {
    opt_str(object, key, path)?
        .ok_or_else(|| TranslateError::invalid(&join_path(path, key), "is required"))
}

/// An optional non-negative integer field.
fn opt_u64(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            TranslateError::invalid(&join_path(path, key), "must be a non-negative integer")
        }),
    }
}

/// An optional number field, returned as is.
fn opt_number<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Value>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) if v.is_number() => Ok(Some(v)),
        Some(_) => Err(TranslateError::invalid(
            &join_path(path, key),
            "must be a number",
        )),
    }
}

/// An optional boolean field.
fn opt_bool(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<bool>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(TranslateError::invalid(
            &join_path(path, key),
            "must be true or false",
        )),
    }
}

/// An optional object field.
fn opt_object<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(TranslateError::invalid(
            &join_path(path, key),
            "must be an object",
        )),
    }
}

/// An optional array field.
fn opt_array<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a [Value]>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(TranslateError::invalid(
            &join_path(path, key),
            "must be an array",
        )),
    }
}

/// Element `index` of an array at `path`, which must be an object.
fn as_object_at<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, TranslateError> {
    value
        .as_object()
        .ok_or_else(|| TranslateError::invalid(path, "must be an object"))
}

/// Text of a Chat message `content` in a response: a string, or an array of parts with `text`.
type Object = Map<String, Value>;

/// The first choice of a Chat Completions response and its message, which every translation
/// of a whole Chat answer starts from.
fn first_choice(body: &Map<String, Value>) -> Result<(&Object, &Object), TranslateError> {
    let missing =
        |field: &str| TranslateError::invalid(field, "is missing from the provider's response");
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(Value::as_object)
        .ok_or_else(|| missing("choices"))?;
    let message = choice
        .get("message")
        .and_then(Value::as_object)
        .ok_or_else(|| missing("choices[0].message"))?;
    Ok((choice, message))
}

fn chat_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// Why the model stopped, across formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    EndTurn,
    /// A stop sequence was met.
    Sequence,
    MaxTokens,
    ToolUse,
    ContentFilter,
}

impl Stop {
    /// From a Chat `finish_reason`; unknown reasons count as a normal end.
    fn from_chat(reason: &str) -> Self {
        match reason {
            "length" => Stop::MaxTokens,
            "tool_calls" | "function_call" => Stop::ToolUse,
            "content_filter" => Stop::ContentFilter,
            _ => Stop::EndTurn,
        }
    }

    /// From an Anthropic `stop_reason`; `pause_turn` and unknown reasons count as a normal end.
    fn from_messages(reason: &str) -> Self {
        match reason {
            "max_tokens" | "model_context_window_exceeded" => Stop::MaxTokens,
            "tool_use" => Stop::ToolUse,
            "stop_sequence" => Stop::Sequence,
            "refusal" => Stop::ContentFilter,
            _ => Stop::EndTurn,
        }
    }

    fn to_chat(self) -> &'static str {
        match self {
            Stop::EndTurn | Stop::Sequence => "stop",
            Stop::MaxTokens => "length",
            Stop::ToolUse => "tool_calls",
            Stop::ContentFilter => "content_filter",
        }
    }

    fn to_messages(self) -> &'static str {
        match self {
            Stop::EndTurn => "end_turn",
            Stop::Sequence => "stop_sequence",
            Stop::MaxTokens => "max_tokens",
            Stop::ToolUse => "tool_use",
            Stop::ContentFilter => "refusal",
        }
    }

    /// Responses `status` and `incomplete_details.reason`.
    fn to_responses(self) -> (&'static str, Option<&'static str>) {
        match self {
            Stop::MaxTokens => ("incomplete", Some("max_output_tokens")),
            Stop::ContentFilter => ("incomplete", Some("content_filter")),
            Stop::EndTurn | Stop::Sequence | Stop::ToolUse => ("completed", None),
        }
    }
}

/// Seconds since the Unix epoch, for `created` fields.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The part of a gateway-made id after its format prefix, so that ids can be re-prefixed per format.
fn id_tail(id: &str) -> &str {
    for prefix in ["resp_", "chatcmpl-", "msg_", "cmpl-"] {
        if let Some(rest) = id.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return rest;
        }
    }
    id
}

/// Appends `text` to a system prompt being built, with a blank line between pieces.
fn push_paragraph(into: &mut String, text: &str) {
    if text.is_empty() {
        return;
    }
    if !into.is_empty() {
        into.push_str("\n\n");
    }
    into.push_str(text);
}

/// Token budget for `reasoning_effort` when the provider wants a number (Anthropic `thinking`).
/// `None` means no thinking.
fn effort_budget(effort: &str) -> Option<Option<u64>> {
    match effort {
        "none" | "minimal" => Some(None),
        "low" => Some(Some(2_048)),
        "medium" => Some(Some(8_192)),
        "high" => Some(Some(24_576)),
        "xhigh" => Some(Some(32_768)),
        _ => None,
    }
}

/// `reasoning_effort` for an Anthropic thinking budget: the inverse of [`effort_budget`] by bands.
fn budget_effort(budget: u64) -> &'static str {
    if budget < 4_096 {
        "low"
    } else if budget < 16_384 {
        "medium"
    } else {
        "high"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn same_format_requests_only_change_the_model() {
        for wire in [Wire::Responses, Wire::Messages] {
            let body = json!({"model": "alias", "input": "hi", "stream": true, "x": {"y": 1}});
            let out = translate_request(wire, wire, &body, "upstream-1").unwrap();
            let mut expected = body.clone();
            expected["model"] = json!("upstream-1");
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn same_format_chat_streams_ask_for_usage() {
        for wire in [Wire::Chat, Wire::Completions] {
            let body = json!({"model": "alias", "messages": [], "stream": true, "stream_options": {"include_usage": false}});
            let out = translate_request(wire, wire, &body, "m").unwrap();
            assert_eq!(out["stream_options"], json!({"include_usage": true}));
            assert_eq!(out["model"], "m");
            let body =
                json!({"model": "alias", "messages": [], "stream": true, "stream_options": "junk"});
            let out = translate_request(wire, wire, &body, "m").unwrap();
            assert_eq!(out["stream_options"], json!({"include_usage": true}));
            let body = json!({"model": "alias", "messages": []});
            let out = translate_request(wire, wire, &body, "m").unwrap();
            assert_eq!(out, json!({"model": "m", "messages": []}));
        }
    }

    #[test]
    fn same_format_responses_only_change_the_model() {
        let body = json!({"id": "x", "model": "upstream", "choices": []});
        let out = translate_response(Wire::Chat, Wire::Chat, &body, "alias").unwrap();
        assert_eq!(out, json!({"id": "x", "model": "alias", "choices": []}));
    }

    #[test]
    fn unsupported_pairs_are_refused_on_model() {
        let body = json!({"model": "m", "input": "hi"});
        let pairs = [
            (Wire::Responses, Wire::Messages),
            (Wire::Messages, Wire::Responses),
            (Wire::Chat, Wire::Responses),
            (Wire::Completions, Wire::Messages),
            (Wire::Responses, Wire::Completions),
        ];
        for (client, provider) in pairs {
            assert!(!supported(client, provider));
            let err = translate_request(client, provider, &body, "m").unwrap_err();
            assert_eq!(err.field, "model");
            assert!(err.message.contains(provider.label()), "{}", err.message);
            assert!(err.message.contains(client.label()), "{}", err.message);
            let err = translate_response(provider, client, &body, "m").unwrap_err();
            assert_eq!(err.field, "model");
        }
        assert!(supported(Wire::Responses, Wire::Chat));
        assert!(supported(Wire::Chat, Wire::Chat));
    }

    #[test]
    fn non_object_bodies_are_errors() {
        for body in [json!(null), json!([1, 2]), json!("text"), json!(3)] {
            for from in [
                Wire::Chat,
                Wire::Responses,
                Wire::Messages,
                Wire::Completions,
            ] {
                for to in [
                    Wire::Chat,
                    Wire::Responses,
                    Wire::Messages,
                    Wire::Completions,
                ] {
                    let err = translate_request(from, to, &body, "m").unwrap_err();
                    assert_eq!(err.field, "body");
                    let err = translate_response(from, to, &body, "m").unwrap_err();
                    assert_eq!(err.field, "body");
                }
            }
        }
    }

    #[test]
    fn type_tags_are_quoted_only_when_they_look_like_tags() {
        let err =
            TranslateError::unsupported("input[2].type", Some(&json!("computer_call")), Wire::Chat);
        assert_eq!(
            err.message,
            "field `input[2].type` (\"computer_call\") cannot be sent to a Chat Completions provider"
        );
        let secret = json!("def secret(): return 42");
        let err = TranslateError::unsupported("input[0].type", Some(&secret), Wire::Chat);
        assert!(!err.message.contains("secret"));
        assert_eq!(err.to_string(), err.message);
    }

    const KEYS: &[&str] = &[
        "model",
        "input",
        "messages",
        "content",
        "type",
        "role",
        "text",
        "tools",
        "tool_choice",
        "function",
        "name",
        "arguments",
        "call_id",
        "id",
        "output",
        "tool_calls",
        "tool_call_id",
        "system",
        "instructions",
        "image_url",
        "url",
        "source",
        "data",
        "media_type",
        "input_schema",
        "parameters",
        "max_tokens",
        "stream",
        "thinking",
        "budget_tokens",
        "reasoning",
        "effort",
        "choices",
        "message",
        "delta",
        "finish_reason",
        "usage",
        "prompt",
        "stop",
        "index",
        "tool_use_id",
        "reasoning_content",
        "stop_reason",
        "format",
        "response",
        "n",
    ];
    const TAGS: &[&str] = &[
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "input_text",
        "output_text",
        "input_image",
        "text",
        "image",
        "image_url",
        "tool_use",
        "tool_result",
        "thinking",
        "function",
        "user",
        "assistant",
        "system",
        "developer",
        "tool",
        "base64",
        "url",
        "auto",
        "any",
        "none",
        "required",
        "enabled",
        "json_schema",
        "data:image/png;base64,AA",
        "https://x",
        "{}",
        "{\"a\":1}",
    ];

    /// A small deterministic generator of JSON made of the field names and tags these formats use.
    struct Garbage(u64);

    impl Garbage {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
            options[(self.next() as usize) % options.len()]
        }

        fn object(&mut self, depth: u32) -> Value {
            let mut map = Map::new();
            for _ in 0..self.next() % 7 {
                let key = self.pick(KEYS).to_owned();
                map.insert(key, self.value(depth));
            }
            Value::Object(map)
        }

        fn value(&mut self, depth: u32) -> Value {
            match self.next() % if depth == 0 { 5 } else { 8 } {
                0 => Value::Null,
                1 => Value::Bool(self.next().is_multiple_of(2)),
                2 => serde_json::json!(self.next() % 5000),
                3 => serde_json::json!(-1.5),
                4 => Value::String(self.pick(TAGS).to_owned()),
                5 | 6 => self.object(depth - 1),
                _ => Value::Array(
                    (0..self.next() % 4)
                        .map(|_| self.value(depth - 1))
                        .collect(),
                ),
            }
        }
    }

    #[test]
    fn random_shapes_never_panic() {
        let wires = [
            Wire::Chat,
            Wire::Responses,
            Wire::Messages,
            Wire::Completions,
        ];
        let mut garbage = Garbage(7);
        for _ in 0..4000 {
            let body = garbage.object(4);
            for from in wires {
                for to in wires {
                    let _ = translate_request(from, to, &body, "m");
                    let _ = translate_response(from, to, &body, "m");
                    let _ = usage_from_response(from, &body);
                }
            }
        }
    }

    #[test]
    fn random_stream_events_never_panic() {
        use crate::translate::sse::SseEvent;
        let wires = [
            Wire::Chat,
            Wire::Responses,
            Wire::Messages,
            Wire::Completions,
        ];
        let names = [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "message_delta",
            "message_stop",
            "error",
            "response.completed",
            "response.created",
            "ping",
        ];
        let mut garbage = Garbage(11);
        for from in wires {
            for to in wires {
                for round in 0..40 {
                    let mut t = StreamTranslator::new(from, to, "m", "resp_x");
                    for _ in 0..30 {
                        let data = garbage.object(4).to_string();
                        let name = garbage.pick(&names);
                        let event = if garbage.next().is_multiple_of(2) {
                            SseEvent::named(name, data)
                        } else {
                            SseEvent::data(data)
                        };
                        let _ = t.on_event(&event);
                    }
                    let _ = t.finish(if round % 2 == 0 { None } else { Some("cut") });
                    assert!(t.finished());
                }
            }
        }
    }

    #[test]
    fn id_tails_strip_one_known_prefix() {
        assert_eq!(id_tail("resp_abc"), "abc");
        assert_eq!(id_tail("chatcmpl-abc"), "abc");
        assert_eq!(id_tail("msg_01"), "01");
        assert_eq!(id_tail("resp_"), "resp_");
        assert_eq!(id_tail("plain"), "plain");
    }

    #[test]
    fn effort_and_budget_bands_agree() {
        for effort in ["low", "medium", "high"] {
            let budget = effort_budget(effort).flatten().unwrap();
            assert_eq!(budget_effort(budget), effort);
        }
        assert_eq!(effort_budget("xhigh"), Some(Some(32_768)));
        assert_eq!(effort_budget("minimal"), Some(None));
        assert_eq!(effort_budget("bogus"), None);
    }
}
