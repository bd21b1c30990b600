//! Anthropic Messages client → Chat Completions provider, so that Claude Code works against
//! OpenAI-format providers.
//!
//! Messages → Chat choices:
//! - `system` (string or text blocks) becomes one leading system message; text blocks are
//!   joined by a blank line. `cache_control` marks are dropped everywhere: Chat providers
//!   cache prompts on their own.
//! - Text-only user content is sent as one string (blocks joined by a blank line); with images
//!   it is sent as parts. A `tool_result` becomes a `tool` message (its text blocks joined);
//!   images inside a tool result cannot go in a `tool` message, so they follow in a user
//!   message. `is_error` has no Chat equivalent and is dropped: the result text still says what
//!   went wrong.
//! - `thinking`/`redacted_thinking` blocks of earlier turns are dropped (Chat has no place for
//!   them); an assistant turn left with nothing is dropped.
//! - `thinking: {type: "enabled", budget_tokens}` becomes `reasoning_effort`: under 4096 →
//!   `low`, under 16384 → `medium`, else `high`. `adaptive` and `disabled` send nothing.
//! - `top_k` is dropped: Chat Completions has no such knob, and failing every request from a
//!   client that sets it would be worse than sampling slightly differently.
//! - `metadata.user_id` becomes `user`; `service_tier` is dropped.
//! - Responses: `reasoning_content` becomes a `thinking` block with an empty signature (there
//!   is none to give; the block is dropped again when the client sends it back). Tool-call
//!   arguments that are not a JSON object make the response an error rather than a tool call
//!   with made-up input. `finish_reason` maps to `stop_reason` (`stop` → `end_turn`, `length`
//!   → `max_tokens`, `tool_calls` → `tool_use`, `content_filter` → `refusal`).

use serde_json::{Map, Value, json};

use super::responses_chat::reasoning_text;
use super::usage::from_chat;
use super::{
    Stop, TranslateError, Wire, as_object_at, budget_effort, chat_text, first_choice,
    force_include_usage, id_tail, opt_array, opt_bool, opt_number, opt_object, opt_str, opt_u64,
    push_paragraph, req_str,
};

/// Anthropic Messages request → Chat Completions request.
pub(super) fn request(body: &Map<String, Value>, model: &str) -> Result<Value, TranslateError> {
    const TARGET: Wire = Wire::Chat;
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    let mut messages = Vec::new();
    let system = match body.get("system") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let mut text = String::new();
            for (i, block) in blocks.iter().enumerate() {
                let path = format!("system[{i}]");
                let object = as_object_at(block, &path)?;
                if object.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(TranslateError::unsupported(
                        &format!("{path}.type"),
                        object.get("type"),
                        TARGET,
                    ));
                }
                push_paragraph(&mut text, req_str(object, "text", &path)?);
            }
            text
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "system",
                "must be a string or an array",
            ));
        }
    };
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    let list = opt_array(body, "messages", "")?
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?;
    for (i, message) in list.iter().enumerate() {
        anthropic_message_to_chat(i, message, &mut messages)?;
    }
    out.insert("messages".to_owned(), Value::Array(messages));

    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "messages" | "system" => {}
            "max_tokens" => {
                if let Some(n) = opt_u64(body, key, "")? {
                    out.insert("max_tokens".to_owned(), json!(n));
                }
            }
            "stop_sequences" => {
                let stops = string_list(value, key)?;
                if !stops.is_empty() {
                    out.insert("stop".to_owned(), json!(stops));
                }
            }
            "temperature" | "top_p" => {
                if let Some(n) = opt_number(body, key, "")? {
                    out.insert(key.clone(), n.clone());
                }
            }
            "top_k" => {
                opt_number(body, key, "")?;
            }
            "stream" => {
                if opt_bool(body, key, "")? == Some(true) {
                    out.insert("stream".to_owned(), json!(true));
                    force_include_usage(&mut out);
                }
            }
            "tools" => {
                let tools = anthropic_tools_to_chat(opt_array(body, key, "")?.unwrap_or_default())?;
                if !tools.is_empty() {
                    out.insert("tools".to_owned(), Value::Array(tools));
                }
            }
            "tool_choice" => {
                let choice = opt_object(body, key, "")?.cloned().unwrap_or_default();
                let (mapped, parallel) = anthropic_tool_choice_to_chat(&choice)?;
                out.insert("tool_choice".to_owned(), mapped);
                if parallel == Some(false) {
                    out.insert("parallel_tool_calls".to_owned(), json!(false));
                }
            }
            "thinking" => {
                let thinking = opt_object(body, key, "")?.cloned().unwrap_or_default();
                match thinking.get("type").and_then(Value::as_str) {
                    Some("enabled") => {
                        let budget = opt_u64(&thinking, "budget_tokens", "thinking")?.unwrap_or(0);
                        out.insert("reasoning_effort".to_owned(), json!(budget_effort(budget)));
                    }
                    Some("disabled" | "adaptive") => {}
                    _ => {
                        return Err(TranslateError::unsupported(
                            "thinking.type",
                            thinking.get("type"),
                            TARGET,
                        ));
                    }
                }
            }
            "metadata" => {
                let metadata = opt_object(body, key, "")?.cloned().unwrap_or_default();
                if let Some(user) = opt_str(&metadata, "user_id", "metadata")? {
                    out.insert("user".to_owned(), json!(user));
                }
            }
            "service_tier" => {}
            _ => return Err(TranslateError::unsupported(key, None, TARGET)),
        }
    }
    Ok(Value::Object(out))
}

pub(super) fn string_list(value: &Value, path: &str) -> Result<Vec<String>, TranslateError> {
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

/// A Chat content part built from Anthropic blocks.
enum Part {
    Text(String),
    Image(String),
}

fn chat_user_content(parts: &[Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        let texts: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                Part::Text(t) => Some(t.as_str()),
                Part::Image(_) => None,
            })
            .collect();
        return json!(texts.join("\n\n"));
    }
    Value::Array(
        parts
            .iter()
            .map(|p| match p {
                Part::Text(text) => json!({"type": "text", "text": text}),
                Part::Image(url) => json!({"type": "image_url", "image_url": {"url": url}}),
            })
            .collect(),
    )
}

/// An Anthropic image block's `source` as a URL Chat accepts (data: URL for base64).
fn image_url(block: &Map<String, Value>, path: &str) -> Result<String, TranslateError> {
    let source_path = format!("{path}.source");
    let source = opt_object(block, "source", path)?
        .ok_or_else(|| TranslateError::invalid(&source_path, "is required"))?;
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = req_str(source, "media_type", &source_path)?;
            let data = req_str(source, "data", &source_path)?;
            Ok(format!("data:{media_type};base64,{data}"))
        }
        Some("url") => Ok(req_str(source, "url", &source_path)?.to_owned()),
        _ => Err(TranslateError::unsupported(
            &format!("{source_path}.type"),
            source.get("type"),
            Wire::Chat,
        )),
    }
}

fn anthropic_message_to_chat(
    i: usize,
    message: &Value,
    out: &mut Vec<Value>,
) -> Result<(), TranslateError> {
    const TARGET: Wire = Wire::Chat;
    let path = format!("messages[{i}]");
    let object = as_object_at(message, &path)?;
    let role = req_str(object, "role", &path)?;
    let content_path = format!("{path}.content");
    let blocks: Vec<Value> = match object.get("content") {
        Some(Value::String(text)) => {
            out.push(json!({"role": role_checked(role, object, &path)?, "content": text}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks.clone(),
        _ => {
            return Err(TranslateError::invalid(
                &content_path,
                "must be a string or an array",
            ));
        }
    };
    match role_checked(role, object, &path)? {
        "user" => {
            let mut parts = Vec::new();
            for (j, block) in blocks.iter().enumerate() {
                let block_path = format!("{content_path}[{j}]");
                let block = as_object_at(block, &block_path)?;
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        parts.push(Part::Text(req_str(block, "text", &block_path)?.to_owned()))
                    }
                    Some("image") => parts.push(Part::Image(image_url(block, &block_path)?)),
                    Some("tool_result") => {
                        let call_id = req_str(block, "tool_use_id", &block_path)?;
                        let mut texts = Vec::new();
                        match block.get("content") {
                            None | Some(Value::Null) => {}
                            Some(Value::String(s)) => texts.push(s.clone()),
                            Some(Value::Array(inner)) => {
                                for (k, item) in inner.iter().enumerate() {
                                    let item_path = format!("{block_path}.content[{k}]");
                                    let item = as_object_at(item, &item_path)?;
                                    match item.get("type").and_then(Value::as_str) {
                                        Some("text") => texts
                                            .push(req_str(item, "text", &item_path)?.to_owned()),
                                        Some("image") => {
                                            parts.push(Part::Image(image_url(item, &item_path)?))
                                        }
                                        _ => {
                                            return Err(TranslateError::unsupported(
                                                &format!("{item_path}.type"),
                                                item.get("type"),
                                                TARGET,
                                            ));
                                        }
                                    }
                                }
                            }
                            Some(_) => {
                                return Err(TranslateError::invalid(
                                    &format!("{block_path}.content"),
                                    "must be a string or an array",
                                ));
                            }
                        }
                        out.push(json!({"role": "tool", "tool_call_id": call_id, "content": texts.join("\n\n")}));
                    }
                    _ => {
                        return Err(TranslateError::unsupported(
                            &format!("{block_path}.type"),
                            block.get("type"),
                            TARGET,
                        ));
                    }
                }
            }
            if !parts.is_empty() {
                out.push(json!({"role": "user", "content": chat_user_content(&parts)}));
            }
        }
        _ => {
            let mut text = String::new();
            let mut calls = Vec::new();
            for (j, block) in blocks.iter().enumerate() {
                let block_path = format!("{content_path}[{j}]");
                let block = as_object_at(block, &block_path)?;
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => text.push_str(req_str(block, "text", &block_path)?),
                    Some("tool_use") => {
                        let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                        calls.push(json!({
                            "id": req_str(block, "id", &block_path)?,
                            "type": "function",
                            "function": {"name": req_str(block, "name", &block_path)?, "arguments": input.to_string()},
                        }));
                    }
                    // Earlier reasoning has no place in Chat; see the module docs.
                    Some("thinking" | "redacted_thinking") => {}
                    _ => {
                        return Err(TranslateError::unsupported(
                            &format!("{block_path}.type"),
                            block.get("type"),
                            TARGET,
                        ));
                    }
                }
            }
            if calls.is_empty() {
                if !text.is_empty() {
                    out.push(json!({"role": "assistant", "content": text}));
                }
            } else {
                let content = if text.is_empty() {
                    Value::Null
                } else {
                    json!(text)
                };
                out.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            }
        }
    }
    Ok(())
}

fn role_checked<'a>(
    role: &'a str,
    object: &Map<String, Value>,
    path: &str,
) -> Result<&'a str, TranslateError> {
    match role {
        "user" | "assistant" => Ok(role),
        _ => Err(TranslateError::unsupported(
            &format!("{path}.role"),
            object.get("role"),
            Wire::Chat,
        )),
    }
}

fn anthropic_tools_to_chat(list: &[Value]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let path = format!("tools[{i}]");
        let object = as_object_at(tool, &path)?;
        match object.get("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(kind)) if kind == "custom" => {}
            // Server tools (web search, code execution, computer use, …) run at Anthropic.
            other => {
                return Err(TranslateError::unsupported(
                    &format!("{path}.type"),
                    other,
                    Wire::Chat,
                ));
            }
        }
        let mut function = Map::new();
        function.insert("name".to_owned(), json!(req_str(object, "name", &path)?));
        if let Some(description) = opt_str(object, "description", &path)? {
            function.insert("description".to_owned(), json!(description));
        }
        let schema = object
            .get("input_schema")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!({"type": "object"}));
        function.insert("parameters".to_owned(), schema);
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// The Chat `tool_choice`, and `Some(false)` when parallel tool use is disabled.
fn anthropic_tool_choice_to_chat(
    choice: &Map<String, Value>,
) -> Result<(Value, Option<bool>), TranslateError> {
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            json!({"type": "function", "function": {"name": req_str(choice, "name", "tool_choice")?}})
        }
        _ => {
            return Err(TranslateError::unsupported(
                "tool_choice.type",
                choice.get("type"),
                Wire::Chat,
            ));
        }
    };
    let disabled = opt_bool(choice, "disable_parallel_tool_use", "tool_choice")? == Some(true);
    Ok((mapped, disabled.then_some(false)))
}

/// Chat Completions response → Anthropic Messages response.
pub(super) fn response(
    body: &Map<String, Value>,
    client_model: &str,
) -> Result<Value, TranslateError> {
    let (choice, message) = first_choice(body)?;
    let mut content = Vec::new();
    let reasoning = reasoning_text(message);
    if !reasoning.is_empty() {
        content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
    }
    let mut text = chat_text(message.get("content"));
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (j, call) in calls.iter().enumerate() {
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let arguments = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let input = parse_arguments(arguments).ok_or_else(|| {
            TranslateError::invalid(
                &format!("choices[0].message.tool_calls[{j}].function.arguments"),
                "from the provider is not a JSON object",
            )
        })?;
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("call_{j}"));
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    let stop = Stop::from_chat(
        choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop"),
    );
    let usage = body.get("usage").and_then(from_chat).unwrap_or_default();
    let tail = id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0"));
    Ok(json!({
        "id": format!("msg_{tail}"),
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": stop.to_messages(),
        "stop_sequence": null,
        "usage": usage.to_messages(),
    }))
}

/// Tool-call arguments as the JSON object Anthropic wants; empty arguments are `{}`.
pub(super) fn parse_arguments(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(json!({}));
    }
    serde_json::from_str::<Value>(arguments)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::super::{Usage, translate_request, translate_response, usage_from_response};
    use super::*;

    fn m2c(body: Value) -> Result<Value, TranslateError> {
        translate_request(Wire::Messages, Wire::Chat, &body, "gpt-4.1")
    }
    // ---- Messages client → Chat provider: requests

    #[test]
    fn m2c_text_and_system_blocks() {
        let out = m2c(json!({
            "model": "claude-sonnet-4", "max_tokens": 1024,
            "system": [{"type": "text", "text": "You are Claude Code."}, {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "Hello"}]
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({"model": "gpt-4.1", "max_tokens": 1024, "messages": [
                {"role": "system", "content": "You are Claude Code.\n\nBe terse."},
                {"role": "user", "content": "Hello"}
            ]})
        );
        let out = m2c(json!({"max_tokens": 5, "system": "S", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "Fix it", "cache_control": {"type": "ephemeral"}}
        ]}]}))
        .unwrap();
        assert_eq!(
            out["messages"][0],
            json!({"role": "system", "content": "S"})
        );
        assert_eq!(
            out["messages"][1],
            json!({"role": "user", "content": "<system-reminder>x</system-reminder>\n\nFix it"})
        );
    }

    #[test]
    fn m2c_tool_round_trip_multi_turn() {
        let out = m2c(json!({
            "max_tokens": 4096,
            "messages": [
                {"role": "user", "content": "Read main.rs"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "I should read it.", "signature": "sig"},
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/src/main.rs"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "fn main() {}"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [{"type": "text", "text": "missing"}, {"type": "text", "text": "path"}]},
                    {"type": "text", "text": "Now explain."}
                ]},
                {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xx"}]},
                {"role": "assistant", "content": "It is empty."}
            ]
        }))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "Read main.rs"},
                {"role": "assistant", "content": "Reading.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "Read", "arguments": "{\"file_path\":\"/src/main.rs\"}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "fn main() {}"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": "missing\n\npath"},
                {"role": "user", "content": "Now explain."},
                {"role": "assistant", "content": "It is empty."}
            ])
        );
    }

    #[test]
    fn m2c_images_including_tool_result_images() {
        let out = m2c(json!({"max_tokens": 10, "messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Screenshot", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [
                    {"type": "text", "text": "captured"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}
                ]},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/b.jpg"}},
                {"type": "text", "text": "Compare."}
            ]}
        ]}))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "Screenshot", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "captured"},
                {"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}},
                    {"type": "text", "text": "Compare."}
                ]}
            ])
        );
    }

    #[test]
    fn m2c_tools_choice_sampling_thinking_and_metadata() {
        let out = m2c(json!({
            "max_tokens": 32000, "stream": true, "temperature": 1, "top_p": 0.9, "top_k": 40,
            "stop_sequences": ["\n\nHuman:"],
            "tools": [{"name": "Bash", "description": "Run", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}, "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "thinking": {"type": "enabled", "budget_tokens": 10000},
            "metadata": {"user_id": "user_abc"},
            "service_tier": "auto",
            "messages": [{"role": "user", "content": "hi"}]
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "model": "gpt-4.1", "max_tokens": 32000, "stream": true, "stream_options": {"include_usage": true},
                "temperature": 1, "top_p": 0.9, "stop": ["\n\nHuman:"],
                "tools": [{"type": "function", "function": {"name": "Bash", "description": "Run", "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}],
                "tool_choice": "required", "parallel_tool_calls": false,
                "reasoning_effort": "medium", "user": "user_abc",
                "messages": [{"role": "user", "content": "hi"}]
            })
        );
        for (choice, expected) in [
            (json!({"type": "auto"}), json!("auto")),
            (json!({"type": "none"}), json!("none")),
            (
                json!({"type": "tool", "name": "Bash"}),
                json!({"type": "function", "function": {"name": "Bash"}}),
            ),
        ] {
            let out = m2c(json!({"max_tokens": 1, "messages": [], "tool_choice": choice})).unwrap();
            assert_eq!(out["tool_choice"], expected);
            assert!(out.get("parallel_tool_calls").is_none());
        }
        for (budget, effort) in [(1024, "low"), (4096, "medium"), (16384, "high")] {
            let out = m2c(json!({"max_tokens": 1, "messages": [], "thinking": {"type": "enabled", "budget_tokens": budget}})).unwrap();
            assert_eq!(out["reasoning_effort"], effort);
        }
        let out = m2c(json!({"max_tokens": 1, "messages": [], "thinking": {"type": "disabled"}}))
            .unwrap();
        assert!(out.get("reasoning_effort").is_none());
    }

    #[test]
    fn m2c_fields_that_cannot_be_carried_are_named() {
        let cases = [
            (
                json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"max_tokens": 1, "messages": [{"role": "assistant", "content": [{"type": "server_tool_use"}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "tools": [{"type": "bash_20250124", "name": "bash"}]}),
                "tools[0].type",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "mcp_servers": []}),
                "mcp_servers",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "container": "c"}),
                "container",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "thinking": {"type": "sometimes"}}),
                "thinking.type",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "tool_choice": {"type": "maybe"}}),
                "tool_choice.type",
            ),
            (
                json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
                "messages[0].content[0].source.type",
            ),
            (
                json!({"max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}]}]}),
                "messages[0].content[0].content[0].type",
            ),
            (
                json!({"max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}),
                "messages[0].role",
            ),
            (
                json!({"max_tokens": 1, "messages": [], "system": [{"type": "image"}]}),
                "system[0].type",
            ),
        ];
        for (body, field) in cases {
            let err = m2c(body).unwrap_err();
            assert_eq!(err.field, field, "{}", err.message);
        }
    }

    #[test]
    fn m2c_garbage_is_an_error() {
        for body in [
            json!({}),
            json!({"messages": 1}),
            json!({"messages": [1]}),
            json!({"messages": [{"role": "user"}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "image"}]}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}),
            json!({"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": 5}]}]}),
            json!({"messages": [{"role": "assistant", "content": [{"type": "tool_use"}]}]}),
            json!({"messages": [], "system": 5}),
            json!({"messages": [], "stop_sequences": [1]}),
            json!({"messages": [], "tool_choice": "auto"}),
            json!({"messages": [], "tools": [{"input_schema": {}}]}),
            json!({"messages": [], "metadata": {"user_id": 5}}),
            json!({"messages": [], "top_k": "x"}),
        ] {
            assert!(m2c(body.clone()).is_err(), "{body}");
        }
    }

    // ---- Messages client → Chat provider: responses

    #[test]
    fn chat_response_becomes_an_anthropic_message() {
        let chat = json!({
            "id": "chatcmpl-77", "object": "chat.completion", "created": 1, "model": "gpt-4.1",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Let me check.", "reasoning_content": "Hmm.",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "Noop", "arguments": ""}}
                ]
            }}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050, "prompt_tokens_details": {"cached_tokens": 800}}
        });
        let out = translate_response(Wire::Chat, Wire::Messages, &chat, "claude-sonnet-4").unwrap();
        assert_eq!(
            out,
            json!({
                "id": "msg_77", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
                "content": [
                    {"type": "thinking", "thinking": "Hmm.", "signature": ""},
                    {"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "call_1", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "call_2", "name": "Noop", "input": {}}
                ],
                "stop_reason": "tool_use", "stop_sequence": null,
                "usage": {"input_tokens": 200, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 800, "output_tokens": 50}
            })
        );
        // The Anthropic reading of the translated body gives back the same totals.
        assert_eq!(
            usage_from_response(Wire::Messages, &out),
            Some(Usage {
                input: 1000,
                cached_input: 800,
                cache_creation: 0,
                output: 50,
                reasoning: 0
            })
        );
    }

    #[test]
    fn chat_finish_reasons_map_to_stop_reasons() {
        for (finish, stop) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("content_filter", "refusal"),
            ("weird", "end_turn"),
        ] {
            let chat = json!({"choices": [{"finish_reason": finish, "message": {"content": "x"}}]});
            let out = translate_response(Wire::Chat, Wire::Messages, &chat, "m").unwrap();
            assert_eq!(out["stop_reason"], stop);
        }
    }

    #[test]
    fn invalid_tool_arguments_from_the_provider_are_an_error() {
        let chat = json!({"choices": [{"finish_reason": "tool_calls", "message": {"tool_calls": [{"id": "c", "function": {"name": "x", "arguments": "{\"a\": "}}]}}]});
        let err = translate_response(Wire::Chat, Wire::Messages, &chat, "m").unwrap_err();
        assert_eq!(
            err.field,
            "choices[0].message.tool_calls[0].function.arguments"
        );
        assert!(!err.message.contains("{\"a\""));
        for body in [
            json!({}),
            json!({"choices": []}),
            json!({"choices": [{"message": null}]}),
        ] {
            assert!(translate_response(Wire::Chat, Wire::Messages, &body, "m").is_err());
        }
    }
}
