//! Translation between the client's API format and the provider's: requests, whole responses,
//! streams and token usage. Pure functions over `serde_json::Value`: no I/O, no logging.
//!
//! A format meets itself untouched but for `model`. Between two formats, each format's module
//! reads its JSON into one shared shape (`ir.rs`) and writes it back out: a request is read in
//! the client's format and written in the provider's, an answer the other way round, and a
//! stream goes through normalised pieces the same way (`stream.rs`, `emit.rs`). Which top-level
//! fields are carried, mapped, dropped or refused is decided by one table per pair
//! ([`policy`]); what was dropped travels with the request as an [`Exchange`], together with
//! the names its tools have at the provider.
//!
//! Error messages name the field and at most its type tag; they never quote the body, which is
//! the user's code.

mod chat;
mod completions;
mod emit;
mod ir;
mod messages;
mod names;
pub mod policy;
mod responses;
mod seal;
pub mod sse;
mod stream;
mod usage;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use names::ToolNames;
pub(crate) use seal::may_hold_packed;
pub use stream::StreamTranslator;
pub use usage::{Usage, usage_from_response};

use policy::{Dropped, Fields, Policy};

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
    /// The name used in error messages and on the docs page.
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

/// The provider side of a request: its format and what is known of the model there.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub wire: Wire,
    /// The model's name at the provider.
    pub model: &'a str,
    /// The most output tokens the model may write (`models[].max_output_tokens`), if known.
    pub max_output_tokens: Option<u64>,
    /// Whether the model reasons (`models[].reasoning_efforts` is not empty): reasoning
    /// settings go only to models that take them.
    pub reasons: bool,
}

impl Target<'_> {
    /// The output limit to send: the client's, at most the model's. `None` when the client set
    /// none.
    fn output_limit(&self, asked: Option<u64>) -> Option<u64> {
        let asked = asked?;
        Some(self.max_output_tokens.map_or(asked, |most| asked.min(most)))
    }
}

/// A request ready for the provider.
#[derive(Debug)]
pub struct Translated {
    pub body: Value,
    pub exchange: Exchange,
}

/// What the translation of a request tells the translation of its answer, and the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// Names of the fields and types left out, each once (see [`policy`]).
    pub dropped: Vec<String>,
    /// The client's tools by the names the provider knows them under.
    pub tools: ToolNames,
}

/// Request: client body (already parsed) → provider body for `target`.
///
/// When the provider speaks Chat (or legacy Completions) and the client asked for a stream,
/// `stream_options.include_usage` is set so that the stream ends with the token counts the
/// gateway bills; this applies to Chat → Chat too.
pub fn translate_request(
    client: Wire,
    body: &Value,
    target: &Target,
) -> Result<Translated, TranslateError> {
    let object = body
        .as_object()
        .ok_or_else(|| TranslateError::new("body", "the request body must be a JSON object"))?;
    if client == target.wire {
        let mut out = with_model(object, target.model);
        if matches!(client, Wire::Chat | Wire::Completions)
            && out.get("stream").and_then(Value::as_bool) == Some(true)
        {
            force_include_usage(&mut out);
        }
        let mut dropped = Dropped::default();
        seal::scrub(client, &mut out, &mut dropped);
        return Ok(Translated {
            body: Value::Object(out),
            exchange: Exchange {
                dropped: dropped.into_names(),
                ..Exchange::default()
            },
        });
    }
    let pair = policy::pair(client, target.wire).ok_or_else(|| pair_error(target.wire, client))?;
    let mut dropped = Dropped::default();
    let mut carried = Vec::new();
    for (key, value) in object {
        if value.is_null() {
            continue;
        }
        match pair.rule(key).map(|r| r.policy) {
            Some(Policy::Map) => {}
            Some(Policy::Carry) => carried.push((key, value)),
            Some(Policy::Refuse(refused)) => {
                if refused(value) {
                    return Err(TranslateError::unsupported(key, None, target.wire));
                }
            }
            Some(Policy::Drop) | None => dropped.add(key),
        }
    }
    let fields = Fields::new(object, pair);
    let mut conversation = match client {
        Wire::Responses => responses::read_request(&fields, target.wire, &mut dropped)?,
        Wire::Messages => messages::read_request(&fields, &mut dropped)?,
        Wire::Chat => chat::read_request(&fields, &mut dropped)?,
        Wire::Completions => completions::read_request(&fields, target)?,
    };
    let tools = ToolNames::assign(&mut conversation);
    let mut out = match target.wire {
        Wire::Chat => chat::write_request(conversation, target, &mut dropped)?,
        Wire::Messages => messages::write_request(conversation, target, &mut dropped)?,
        Wire::Responses => responses::write_request(conversation, target, &mut dropped)?,
        Wire::Completions => return Err(pair_error(target.wire, client)),
    };
    for (key, value) in carried {
        out.entry(key.clone()).or_insert_with(|| value.clone());
    }
    Ok(Translated {
        body: Value::Object(out),
        exchange: Exchange {
            dropped: dropped.into_names(),
            tools,
        },
    })
}

/// Non-streamed response: provider body → client body, naming `client_model` as the model.
pub fn translate_response(
    provider: Wire,
    client: Wire,
    body: &Value,
    client_model: &str,
    exchange: &Exchange,
) -> Result<Value, TranslateError> {
    let object = body.as_object().ok_or_else(|| {
        TranslateError::new("body", "the provider's response is not a JSON object")
    })?;
    if provider == client {
        return Ok(Value::Object(with_model(object, client_model)));
    }
    if !supported(client, provider) {
        return Err(pair_error(provider, client));
    }
    let mut answer = match provider {
        Wire::Chat => chat::read_answer(object)?,
        Wire::Messages => messages::read_answer(object)?,
        Wire::Responses => responses::read_answer(object)?,
        Wire::Completions => return Err(pair_error(provider, client)),
    };
    for piece in &mut answer.pieces {
        if let ir::Piece::Call(call) = piece {
            exchange.tools.restore(call);
        }
    }
    match client {
        Wire::Chat => Ok(chat::write_answer(&answer, client_model)),
        Wire::Messages => messages::write_answer(&answer, client_model),
        Wire::Responses => Ok(responses::write_answer(&answer, client_model)),
        Wire::Completions => Ok(completions::write_answer(&answer, client_model)),
    }
}

/// Whether requests in the client's format can be served by a provider of the given format.
pub fn supported(client: Wire, provider: Wire) -> bool {
    client == provider || policy::pair(client, provider).is_some()
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

// ---------------------------------------------------------------------------------------------
// Reading fields: absent and `null` are the same; a wrong type is an error naming the field.

/// `path.key`, or `key` at the top level.
fn join_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// An optional string field of an object.
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

/// A required string field of an object.
fn req_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, TranslateError> {
    opt_str(object, key, path)?
        .ok_or_else(|| TranslateError::invalid(&join_path(path, key), "is required"))
}

/// An optional object field of an object.
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

/// An optional array field of an object.
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

/// Element `path` of an array, which must be an object.
fn as_object_at<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, TranslateError> {
    value
        .as_object()
        .ok_or_else(|| TranslateError::invalid(path, "must be an object"))
}

fn string<'a>(value: &'a Value, path: &str) -> Result<&'a str, TranslateError> {
    value
        .as_str()
        .ok_or_else(|| TranslateError::invalid(path, "must be a string"))
}

fn boolean(value: &Value, path: &str) -> Result<bool, TranslateError> {
    value
        .as_bool()
        .ok_or_else(|| TranslateError::invalid(path, "must be true or false"))
}

fn count(value: &Value, path: &str) -> Result<u64, TranslateError> {
    value
        .as_u64()
        .ok_or_else(|| TranslateError::invalid(path, "must be a non-negative integer"))
}

fn number(value: &Value, path: &str) -> Result<f64, TranslateError> {
    value
        .as_f64()
        .ok_or_else(|| TranslateError::invalid(path, "must be a number"))
}

fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, TranslateError> {
    value
        .as_object()
        .ok_or_else(|| TranslateError::invalid(path, "must be an object"))
}

/// A string or a list of strings.
fn string_list(value: &Value, path: &str) -> Result<Vec<String>, TranslateError> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| TranslateError::invalid(path, "must be a list of strings")),
        _ => Err(TranslateError::invalid(path, "must be a list of strings")),
    }
}

type Object = Map<String, Value>;

/// Content given as a string (one piece of text) or as an array of typed parts.
enum Content<'a> {
    Text(&'a str),
    /// Each part with its path and its `type`.
    Parts(Vec<(String, &'a Object, &'a str)>),
}

/// Reads content that may be `null` (no parts), a string or an array of typed parts.
fn content<'a>(value: &'a Value, path: &str) -> Result<Content<'a>, TranslateError> {
    let items = match value {
        Value::Null => return Ok(Content::Parts(Vec::new())),
        Value::String(text) => return Ok(Content::Text(text)),
        Value::Array(items) => items,
        _ => {
            return Err(TranslateError::invalid(
                path,
                "must be a string or an array",
            ));
        }
    };
    let mut parts = Vec::with_capacity(items.len());
    for (j, part) in items.iter().enumerate() {
        let part_path = format!("{path}[{j}]");
        let object = as_object_at(part, &part_path)?;
        let kind = object
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::invalid(&format!("{part_path}.type"), "is required"))?;
        parts.push((part_path, object, kind));
    }
    Ok(Content::Parts(parts))
}

/// The first choice of a Chat Completions response and its message.
fn first_choice(body: &Object) -> Result<(&Object, &Object), TranslateError> {
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

/// The part of an id after its format prefix, so that ids can be re-prefixed per format.
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
