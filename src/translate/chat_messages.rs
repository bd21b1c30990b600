//! Chat Completions client → Anthropic Messages provider, so that OpenAI clients work against
//! Anthropic.
//!
//! Chat → Messages choices:
//! - `system`/`developer` messages, wherever they are, join the top-level `system` (Anthropic
//!   has no other place for them). Consecutive messages of one role are merged into one turn;
//!   `tool` messages become `tool_result` blocks of a user turn. Empty text is left out.
//! - `max_tokens` is required by Anthropic: `max_completion_tokens`, else `max_tokens`, else
//!   4096.
//! - `reasoning_effort` becomes a thinking budget (low 2048, medium 8192, high 24576,
//!   xhigh 32768 tokens; minimal/none: no thinking). `max_tokens` is raised by the budget when
//!   it would not leave room for it, and `temperature`/`top_p` are dropped because Anthropic
//!   refuses them with thinking. Thinking is not enabled while a tool loop is under way (the
//!   client cannot send back the signed thinking blocks Anthropic then requires) nor when
//!   `tool_choice` forces a tool (which Anthropic refuses with thinking).
//! - `temperature` is clamped to Anthropic's 0..=1. `stop` becomes `stop_sequences`; `user`
//!   becomes `metadata.user_id`; `parallel_tool_calls: false` becomes
//!   `disable_parallel_tool_use`. A tool's `strict` flag is dropped (Anthropic has none).
//! - Dropped as harmless: `stream_options` (Anthropic always reports usage), `store`,
//!   `metadata`, `service_tier`, `prompt_cache_key`, `safety_identifier`, `seed`, `verbosity`,
//!   `modalities: ["text"]`, `logprobs: false`, zero penalties, `n: 1`,
//!   `response_format: {type: "text"}`. Other values of these, and anything else, are refused.
//! - Responses: `thinking` blocks become `reasoning_content` (DeepSeek-style; clients that do
//!   not know the field ignore it); their signatures, and `redacted_thinking` blocks, are
//!   dropped. Usage is given in Chat terms: `prompt_tokens` includes cache reads and writes.

use serde_json::{Map, Value, json};

use super::messages_chat::{parse_arguments, string_list};
use super::usage::from_messages;
use super::{
    Stop, TranslateError, Wire, as_object_at, effort_budget, id_tail, now_secs, opt_array,
    opt_bool, opt_number, opt_object, opt_str, opt_u64, push_paragraph, req_str,
};

/// `max_tokens` sent to Anthropic when the client gave none.
pub(super) const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Chat Completions request → Anthropic Messages request.
pub(super) fn request(body: &Map<String, Value>, model: &str) -> Result<Value, TranslateError> {
    const TARGET: Wire = Wire::Messages;
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    let list = opt_array(body, "messages", "")?
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?;
    let mut system = String::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in list.iter().enumerate() {
        chat_message_to_anthropic(i, message, &mut system, &mut turns)?;
    }
    if !system.is_empty() {
        out.insert("system".to_owned(), json!(system));
    }
    let mid_tool_loop = mid_tool_loop(&turns);
    out.insert(
        "messages".to_owned(),
        Value::Array(
            turns
                .into_iter()
                .map(|(role, blocks)| json!({"role": role, "content": blocks}))
                .collect(),
        ),
    );

    let mut max_tokens = None;
    let mut effort = None;
    let mut parallel = None;
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "messages" => {}
            "max_completion_tokens" => max_tokens = opt_u64(body, key, "")?.or(max_tokens),
            "max_tokens" => {
                let n = opt_u64(body, key, "")?;
                if body.get("max_completion_tokens").is_none_or(Value::is_null) {
                    max_tokens = n;
                }
            }
            "stop" => {
                let stops = string_list(value, key)?;
                if !stops.is_empty() {
                    out.insert("stop_sequences".to_owned(), json!(stops));
                }
            }
            "temperature" => {
                if let Some(t) = opt_number(body, key, "")?.and_then(Value::as_f64) {
                    out.insert("temperature".to_owned(), json!(t.clamp(0.0, 1.0)));
                }
            }
            "top_p" => {
                if let Some(n) = opt_number(body, key, "")? {
                    out.insert("top_p".to_owned(), n.clone());
                }
            }
            "stream" => {
                if opt_bool(body, key, "")? == Some(true) {
                    out.insert("stream".to_owned(), json!(true));
                }
            }
            "tools" => {
                let tools = chat_tools_to_anthropic(opt_array(body, key, "")?.unwrap_or_default())?;
                if !tools.is_empty() {
                    out.insert("tools".to_owned(), Value::Array(tools));
                }
            }
            "tool_choice" => {
                out.insert(
                    "tool_choice".to_owned(),
                    chat_tool_choice_to_anthropic(value)?,
                );
            }
            "parallel_tool_calls" => parallel = opt_bool(body, key, "")?,
            "reasoning_effort" => {
                let name = opt_str(body, key, "")?.unwrap_or_default();
                effort = effort_budget(name)
                    .ok_or_else(|| TranslateError::unsupported(key, Some(value), TARGET))?;
            }
            "user" => {
                if let Some(user) = opt_str(body, key, "")? {
                    out.insert("metadata".to_owned(), json!({"user_id": user}));
                }
            }
            "n" => {
                if opt_u64(body, key, "")? != Some(1) {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "presence_penalty" | "frequency_penalty" => {
                if opt_number(body, key, "")?.and_then(Value::as_f64) != Some(0.0) {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "logprobs" => {
                if opt_bool(body, key, "")? == Some(true) {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "response_format" => {
                let format = opt_object(body, key, "")?.cloned().unwrap_or_default();
                if format.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(TranslateError::unsupported(
                        "response_format.type",
                        format.get("type"),
                        TARGET,
                    ));
                }
            }
            "modalities" => {
                if string_list(value, key)? != ["text"] {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "stream_options" | "store" | "metadata" | "service_tier" | "prompt_cache_key"
            | "safety_identifier" | "seed" | "verbosity" => {}
            _ => return Err(TranslateError::unsupported(key, None, TARGET)),
        }
    }

    if parallel == Some(false) {
        let choice = out
            .entry("tool_choice")
            .or_insert_with(|| json!({"type": "auto"}));
        if choice.get("type").and_then(Value::as_str) != Some("none")
            && let Some(choice) = choice.as_object_mut()
        {
            choice.insert("disable_parallel_tool_use".to_owned(), json!(true));
        }
    }
    let forced_tool = matches!(
        out.get("tool_choice")
            .and_then(|c| c.get("type"))
            .and_then(Value::as_str),
        Some("any" | "tool")
    );
    let mut max_tokens = max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(budget) = effort
        && !mid_tool_loop
        && !forced_tool
    {
        if budget >= max_tokens {
            max_tokens = max_tokens.saturating_add(budget);
        }
        out.insert(
            "thinking".to_owned(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
        out.remove("temperature");
        out.remove("top_p");
    }
    out.insert("max_tokens".to_owned(), json!(max_tokens));
    Ok(Value::Object(out))
}

/// Whether the conversation ends inside a tool loop: an assistant tool call after the last
/// user turn that is not just tool results.
fn mid_tool_loop(turns: &[(&'static str, Vec<Value>)]) -> bool {
    let is_tool_result = |b: &Value| b.get("type").and_then(Value::as_str) == Some("tool_result");
    let start = turns
        .iter()
        .rposition(|(role, blocks)| *role == "user" && !blocks.iter().any(is_tool_result))
        .map_or(0, |i| i + 1);
    turns[start..].iter().any(|(role, blocks)| {
        *role == "assistant"
            && blocks
                .iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
    })
}

fn push_turn(turns: &mut Vec<(&'static str, Vec<Value>)>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

fn chat_message_to_anthropic(
    i: usize,
    message: &Value,
    system: &mut String,
    turns: &mut Vec<(&'static str, Vec<Value>)>,
) -> Result<(), TranslateError> {
    const TARGET: Wire = Wire::Messages;
    let path = format!("messages[{i}]");
    let object = as_object_at(message, &path)?;
    let role = req_str(object, "role", &path)?;
    let content_path = format!("{path}.content");
    let content = object.get("content").unwrap_or(&Value::Null);
    match role {
        "system" | "developer" => {
            push_paragraph(system, &text_parts(content, &content_path, "\n\n")?)
        }
        "user" => {
            let blocks = match content {
                Value::String(text) => text_block(text).into_iter().collect(),
                Value::Array(parts) => {
                    let mut blocks = Vec::with_capacity(parts.len());
                    for (j, part) in parts.iter().enumerate() {
                        let part_path = format!("{content_path}[{j}]");
                        let part = as_object_at(part, &part_path)?;
                        match part.get("type").and_then(Value::as_str) {
                            Some("text") => {
                                blocks.extend(text_block(req_str(part, "text", &part_path)?))
                            }
                            Some("image_url") => blocks.push(image_block(part, &part_path)?),
                            _ => {
                                return Err(TranslateError::unsupported(
                                    &format!("{part_path}.type"),
                                    part.get("type"),
                                    TARGET,
                                ));
                            }
                        }
                    }
                    blocks
                }
                _ => {
                    return Err(TranslateError::invalid(
                        &content_path,
                        "must be a string or an array",
                    ));
                }
            };
            push_turn(turns, "user", blocks);
        }
        "assistant" => {
            if object.get("function_call").is_some_and(|v| !v.is_null()) {
                return Err(TranslateError::unsupported(
                    &format!("{path}.function_call"),
                    None,
                    TARGET,
                ));
            }
            let mut blocks = Vec::new();
            if !content.is_null() {
                blocks.extend(text_block(&text_parts(content, &content_path, "")?));
            }
            let calls = opt_array(object, "tool_calls", &path)?.unwrap_or_default();
            for (j, call) in calls.iter().enumerate() {
                let call_path = format!("{path}.tool_calls[{j}]");
                let call = as_object_at(call, &call_path)?;
                if call
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t != "function")
                {
                    return Err(TranslateError::unsupported(
                        &format!("{call_path}.type"),
                        call.get("type"),
                        TARGET,
                    ));
                }
                let function_path = format!("{call_path}.function");
                let function = opt_object(call, "function", &call_path)?
                    .ok_or_else(|| TranslateError::invalid(&function_path, "is required"))?;
                let arguments = opt_str(function, "arguments", &function_path)?.unwrap_or_default();
                let input = parse_arguments(arguments).ok_or_else(|| {
                    TranslateError::invalid(
                        &format!("{function_path}.arguments"),
                        "must be a JSON object",
                    )
                })?;
                blocks.push(json!({
                    "type": "tool_use",
                    "id": req_str(call, "id", &call_path)?,
                    "name": req_str(function, "name", &function_path)?,
                    "input": input,
                }));
            }
            push_turn(turns, "assistant", blocks);
        }
        "tool" => {
            let call_id = req_str(object, "tool_call_id", &path)?;
            let text = text_parts(content, &content_path, "\n\n")?;
            let mut block = json!({"type": "tool_result", "tool_use_id": call_id});
            if !text.is_empty() {
                block["content"] = json!(text);
            }
            push_turn(turns, "user", vec![block]);
        }
        _ => {
            return Err(TranslateError::unsupported(
                &format!("{path}.role"),
                object.get("role"),
                TARGET,
            ));
        }
    }
    Ok(())
}

/// A text block, or nothing for empty text (Anthropic refuses empty text blocks).
fn text_block(text: &str) -> Option<Value> {
    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
}

/// Text of Chat content that may only hold text: a string or `text`/`refusal` parts.
fn text_parts(content: &Value, path: &str, separator: &str) -> Result<String, TranslateError> {
    match content {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Array(parts) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let part_path = format!("{path}[{j}]");
                let part = as_object_at(part, &part_path)?;
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => texts.push(req_str(part, "text", &part_path)?),
                    Some("refusal") => texts.push(req_str(part, "refusal", &part_path)?),
                    _ => {
                        return Err(TranslateError::unsupported(
                            &format!("{part_path}.type"),
                            part.get("type"),
                            Wire::Messages,
                        ));
                    }
                }
            }
            Ok(texts.join(separator))
        }
        _ => Err(TranslateError::invalid(
            path,
            "must be a string or an array",
        )),
    }
}

/// A Chat `image_url` part as an Anthropic image block.
fn image_block(part: &Map<String, Value>, path: &str) -> Result<Value, TranslateError> {
    let url_path = format!("{path}.image_url");
    let url = match part.get("image_url") {
        Some(Value::String(url)) => url.as_str(),
        Some(Value::Object(image)) => req_str(image, "url", &url_path)?,
        _ => return Err(TranslateError::invalid(&url_path, "is required")),
    };
    if let Some(rest) = url.strip_prefix("data:") {
        let Some((meta, data)) = rest.split_once(',') else {
            return Err(TranslateError::invalid(
                &url_path,
                "is not a valid data: URL",
            ));
        };
        let Some(media_type) = meta.strip_suffix(";base64") else {
            return Err(TranslateError::invalid(
                &url_path,
                "must be a base64 data: URL",
            ));
        };
        return Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        );
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(TranslateError::invalid(
        &url_path,
        "must be an http(s) or data: URL",
    ))
}

fn chat_tools_to_anthropic(list: &[Value]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let path = format!("tools[{i}]");
        let object = as_object_at(tool, &path)?;
        if object.get("type").and_then(Value::as_str) != Some("function") {
            return Err(TranslateError::unsupported(
                &format!("{path}.type"),
                object.get("type"),
                Wire::Messages,
            ));
        }
        let function_path = format!("{path}.function");
        let function = opt_object(object, "function", &path)?
            .ok_or_else(|| TranslateError::invalid(&function_path, "is required"))?;
        let mut tool = Map::new();
        tool.insert(
            "name".to_owned(),
            json!(req_str(function, "name", &function_path)?),
        );
        if let Some(description) = opt_str(function, "description", &function_path)? {
            tool.insert("description".to_owned(), json!(description));
        }
        let schema = function
            .get("parameters")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
        tool.insert("input_schema".to_owned(), schema);
        out.push(Value::Object(tool));
    }
    Ok(out)
}

fn chat_tool_choice_to_anthropic(value: &Value) -> Result<Value, TranslateError> {
    match value {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(json!({"type": "auto"})),
            "none" => Ok(json!({"type": "none"})),
            "required" => Ok(json!({"type": "any"})),
            _ => Err(TranslateError::unsupported(
                "tool_choice",
                Some(value),
                Wire::Messages,
            )),
        },
        Value::Object(object) if object.get("type").and_then(Value::as_str) == Some("function") => {
            let function = opt_object(object, "function", "tool_choice")?
                .ok_or_else(|| TranslateError::invalid("tool_choice.function", "is required"))?;
            Ok(json!({"type": "tool", "name": req_str(function, "name", "tool_choice.function")?}))
        }
        Value::Object(object) => Err(TranslateError::unsupported(
            "tool_choice.type",
            object.get("type"),
            Wire::Messages,
        )),
        _ => Err(TranslateError::invalid(
            "tool_choice",
            "must be a string or an object",
        )),
    }
}

/// Anthropic Messages response → Chat Completions response.
pub(super) fn response(
    body: &Map<String, Value>,
    client_model: &str,
) -> Result<Value, TranslateError> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TranslateError::invalid("content", "is missing from the provider's response")
        })?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("thinking") => reasoning.push_str(
                block
                    .get("thinking")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("tool_use") => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(json!({
                    "id": block.get("id").and_then(Value::as_str).unwrap_or_default(),
                    "type": "function",
                    "function": {
                        "name": block.get("name").and_then(Value::as_str).unwrap_or_default(),
                        "arguments": input.to_string(),
                    },
                }));
            }
            // Redacted thinking and server-side blocks have no Chat form.
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    let stop = Stop::from_messages(
        body.get("stop_reason")
            .and_then(Value::as_str)
            .unwrap_or("end_turn"),
    );
    let usage = body
        .get("usage")
        .and_then(from_messages)
        .unwrap_or_default();
    let tail = id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0"));
    Ok(json!({
        "id": format!("chatcmpl-{tail}"),
        "object": "chat.completion",
        "created": now_secs(),
        "model": client_model,
        "choices": [{"index": 0, "message": message, "finish_reason": stop.to_chat(), "logprobs": null}],
        "usage": usage.to_chat(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{Usage, translate_request, translate_response, usage_from_response};
    use super::*;

    fn c2m(body: Value) -> Result<Value, TranslateError> {
        translate_request(Wire::Chat, Wire::Messages, &body, "claude-sonnet-4")
    }
    // ---- Chat client → Messages provider: requests

    #[test]
    fn c2m_system_text_and_default_max_tokens() {
        let out = c2m(json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use Rust."}]},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": [{"type": "text", "text": "More"}]},
            {"role": "user", "content": "And more"}
        ]}))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "model": "claude-sonnet-4", "max_tokens": 4096, "system": "Be brief.\n\nUse Rust.",
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                    {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                    {"role": "user", "content": [{"type": "text", "text": "More"}, {"type": "text", "text": "And more"}]}
                ]
            })
        );
    }

    #[test]
    fn c2m_tool_calls_and_results() {
        let out = c2m(json!({"messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks"}
        ], "tools": [{"type": "function", "function": {"name": "weather", "description": "Get weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
           "tool_choice": {"type": "function", "function": {"name": "weather"}}, "parallel_tool_calls": false}))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": "21C"},
                    {"type": "text", "text": "Thanks"}
                ]}
            ])
        );
        assert_eq!(
            out["tools"],
            json!([{"name": "weather", "description": "Get weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])
        );
        assert_eq!(
            out["tool_choice"],
            json!({"type": "tool", "name": "weather", "disable_parallel_tool_use": true})
        );
        for (choice, expected) in [
            ("auto", json!({"type": "auto"})),
            ("none", json!({"type": "none"})),
            ("required", json!({"type": "any"})),
        ] {
            let out = c2m(json!({"messages": [], "tool_choice": choice})).unwrap();
            assert_eq!(out["tool_choice"], expected);
        }
        let out = c2m(json!({"messages": [], "parallel_tool_calls": false})).unwrap();
        assert_eq!(
            out["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        let out = c2m(json!({"messages": [], "parallel_tool_calls": false, "tool_choice": "none"}))
            .unwrap();
        assert_eq!(out["tool_choice"], json!({"type": "none"}));
    }

    #[test]
    fn c2m_images() {
        let out = c2m(json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "What?"},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}
        ]}]}))
        .unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/x.png"}}
            ])
        );
        for url in ["ftp://x/y.png", "data:image/png,rawbytes", "data:nocomma"] {
            let err = c2m(json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]})).unwrap_err();
            assert_eq!(err.field, "messages[0].content[0].image_url");
            assert!(!err.message.contains("rawbytes"));
        }
    }

    #[test]
    fn c2m_limits_stop_sampling_and_user() {
        let out = c2m(json!({"messages": [], "max_tokens": 100, "max_completion_tokens": 200, "stop": "END", "temperature": 1.7, "top_p": 0.5, "user": "u1", "stream": true, "stream_options": {"include_usage": true}, "n": 1, "seed": 3, "presence_penalty": 0, "logprobs": false, "store": false}))
            .unwrap();
        assert_eq!(
            out,
            json!({"model": "claude-sonnet-4", "messages": [], "max_tokens": 200, "stop_sequences": ["END"], "temperature": 1.0, "top_p": 0.5, "metadata": {"user_id": "u1"}, "stream": true})
        );
        let out = c2m(json!({"messages": [], "max_tokens": 100, "stop": ["a", "b"]})).unwrap();
        assert_eq!(out["max_tokens"], 100);
        assert_eq!(out["stop_sequences"], json!(["a", "b"]));
    }

    #[test]
    fn c2m_reasoning_effort_becomes_a_thinking_budget() {
        let out = c2m(json!({"messages": [{"role": "user", "content": "q"}], "reasoning_effort": "medium", "max_tokens": 1000, "temperature": 0.3, "top_p": 0.8})).unwrap();
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": 8192})
        );
        assert_eq!(out["max_tokens"], 9192);
        assert!(out.get("temperature").is_none() && out.get("top_p").is_none());
        let out =
            c2m(json!({"messages": [], "reasoning_effort": "low", "max_completion_tokens": 20000}))
                .unwrap();
        assert_eq!(out["thinking"]["budget_tokens"], 2048);
        assert_eq!(out["max_tokens"], 20000);
        let out = c2m(json!({"messages": [], "reasoning_effort": "minimal"})).unwrap();
        assert!(out.get("thinking").is_none());
        let err = c2m(json!({"messages": [], "reasoning_effort": "extreme"})).unwrap_err();
        assert_eq!(err.field, "reasoning_effort");
    }

    #[test]
    fn c2m_thinking_is_left_off_inside_a_tool_loop_or_a_forced_tool() {
        let in_loop = json!([
            {"role": "user", "content": "run ls"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "sh", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a b"}
        ]);
        let out = c2m(json!({"messages": in_loop, "reasoning_effort": "high"})).unwrap();
        assert!(out.get("thinking").is_none());
        let mut fresh = in_loop.as_array().unwrap().clone();
        fresh.push(json!({"role": "assistant", "content": "done"}));
        fresh.push(json!({"role": "user", "content": "next"}));
        let out = c2m(json!({"messages": fresh, "reasoning_effort": "high"})).unwrap();
        assert_eq!(out["thinking"]["budget_tokens"], 24576);
        let out = c2m(json!({"messages": [{"role": "user", "content": "q"}], "reasoning_effort": "high", "tool_choice": "required"})).unwrap();
        assert!(out.get("thinking").is_none());
    }

    #[test]
    fn c2m_fields_that_cannot_be_carried_are_named() {
        let cases = [
            (
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"messages": [{"role": "user", "content": [{"type": "file", "file": {}}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"messages": [{"role": "function", "name": "f", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"messages": [{"role": "assistant", "function_call": {"name": "f"}}]}),
                "messages[0].function_call",
            ),
            (json!({"messages": [], "n": 2}), "n"),
            (json!({"messages": [], "logprobs": true}), "logprobs"),
            (
                json!({"messages": [], "presence_penalty": 0.5}),
                "presence_penalty",
            ),
            (
                json!({"messages": [], "response_format": {"type": "json_object"}}),
                "response_format.type",
            ),
            (
                json!({"messages": [], "modalities": ["text", "audio"]}),
                "modalities",
            ),
            (json!({"messages": [], "audio": {"voice": "x"}}), "audio"),
            (json!({"messages": [], "functions": []}), "functions"),
            (
                json!({"messages": [], "logit_bias": {"1": 2}}),
                "logit_bias",
            ),
            (
                json!({"messages": [], "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
                "tools[0].type",
            ),
            (
                json!({"messages": [], "tool_choice": {"type": "allowed_tools"}}),
                "tool_choice.type",
            ),
            (
                json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}),
                "messages[0].tool_calls[0].function.arguments",
            ),
        ];
        for (body, field) in cases {
            let err = c2m(body).unwrap_err();
            assert_eq!(err.field, field, "{}", err.message);
        }
        let err =
            c2m(json!({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}))
                .unwrap_err();
        assert_eq!(
            err.message,
            "field `messages[0].content[0].type` (\"input_audio\") cannot be sent to an Anthropic Messages provider"
        );
    }

    #[test]
    fn c2m_garbage_is_an_error() {
        for body in [
            json!({}),
            json!({"messages": {}}),
            json!({"messages": [null]}),
            json!({"messages": [{"content": "x"}]}),
            json!({"messages": [{"role": "user", "content": 1}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            json!({"messages": [{"role": "assistant", "tool_calls": [{"id": "c"}]}]}),
            json!({"messages": [{"role": "assistant", "tool_calls": "x"}]}),
            json!({"messages": [], "tools": [{"type": "function"}]}),
            json!({"messages": [], "tool_choice": 5}),
            json!({"messages": [], "stop": 5}),
            json!({"messages": [], "max_tokens": "lots"}),
            json!({"messages": [], "temperature": true}),
        ] {
            assert!(c2m(body.clone()).is_err(), "{body}");
        }
    }

    // ---- Chat client → Messages provider: responses

    #[test]
    fn anthropic_message_becomes_a_chat_completion() {
        let message = json!({
            "id": "msg_01ABC", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
            "content": [
                {"type": "thinking", "thinking": "Let me think.", "signature": "EqQB"},
                {"type": "redacted_thinking", "data": "zz"},
                {"type": "text", "text": "I'll check."},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}}
            ],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 50, "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 100, "output_tokens": 70}
        });
        let mut out = translate_response(Wire::Messages, Wire::Chat, &message, "gpt-4o").unwrap();
        assert!(out["created"].as_u64().unwrap() > 1_600_000_000);
        out["created"] = json!(0);
        assert_eq!(
            out,
            json!({
                "id": "chatcmpl-01ABC", "object": "chat.completion", "created": 0, "model": "gpt-4o",
                "choices": [{"index": 0, "logprobs": null, "finish_reason": "tool_calls", "message": {
                    "role": "assistant", "content": "I'll check.", "reasoning_content": "Let me think.",
                    "tool_calls": [{"id": "toolu_01", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
                }}],
                "usage": {"prompt_tokens": 2150, "completion_tokens": 70, "total_tokens": 2220,
                          "prompt_tokens_details": {"cached_tokens": 2000}, "completion_tokens_details": {"reasoning_tokens": 0}}
            })
        );
        assert_eq!(
            usage_from_response(Wire::Messages, &message),
            Some(Usage {
                input: 2150,
                cached_input: 2000,
                cache_creation: 100,
                output: 70,
                reasoning: 0
            })
        );
    }

    #[test]
    fn anthropic_stop_reasons_map_to_finish_reasons() {
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("tool_use", "tool_calls"),
            ("refusal", "content_filter"),
            ("pause_turn", "stop"),
        ] {
            let message = json!({"content": [{"type": "text", "text": "x"}], "stop_reason": stop});
            let out = translate_response(Wire::Messages, Wire::Chat, &message, "m").unwrap();
            assert_eq!(out["choices"][0]["finish_reason"], finish);
            assert_eq!(out["choices"][0]["message"]["content"], "x");
        }
        for body in [json!({}), json!({"content": "x"})] {
            assert!(translate_response(Wire::Messages, Wire::Chat, &body, "m").is_err());
        }
        let odd = json!({"content": [1, {"type": "text"}, {"type": "tool_use"}], "usage": "x"});
        let out = translate_response(Wire::Messages, Wire::Chat, &odd, "m").unwrap();
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
    }
}
