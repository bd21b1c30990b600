//! Responses client ↔ Chat Completions provider, so that Codex CLI works against Chat-only providers.
//!
//! Request choices:
//! - `instructions` and the `system`/`developer` messages that open the input become one
//!   leading system message (many chat templates accept a system message only first); later
//!   ones stay in place with role `system` (not `developer`, which few non-OpenAI providers know).
//! - Text-only user, system and tool content is sent as one string (parts joined by a blank
//!   line), the form every Chat provider accepts; content with images is sent as parts.
//! - `function_call` items become `tool_calls` of an assistant message, merged with the
//!   assistant text or calls right before them; `function_call_output` becomes a `tool` message.
//! - `reasoning` items are dropped: Chat has no place for earlier reasoning, and providers that
//!   reason (DeepSeek and the like) expect it not to be sent back.
//! - `max_output_tokens` becomes `max_tokens` (understood by every Chat provider, unlike
//!   `max_completion_tokens`); `reasoning.effort` becomes `reasoning_effort`;
//!   `text.format` becomes `response_format`.
//! - Dropped as harmless: `store` (nothing is stored upstream), `include` (no encrypted
//!   reasoning to return), `prompt_cache_key`, `metadata`, `service_tier`, `safety_identifier`,
//!   `truncation` (the provider's own limit applies), `reasoning.summary`, `text.verbosity`,
//!   `background: false`.
//! - Anything else (e.g. `previous_response_id`, which needs stored state, non-function tools,
//!   other item types) is refused with the field named.

use serde_json::{Map, Value, json};

use super::usage::from_chat;
use super::{
    Stop, TranslateError, Wire, as_object_at, chat_text, first_choice, force_include_usage,
    id_tail, now_secs, opt_array, opt_bool, opt_number, opt_object, opt_str, opt_u64,
    push_paragraph, req_str,
};

const TARGET: Wire = Wire::Chat;

/// Responses request → Chat Completions request.
pub(super) fn request(body: &Map<String, Value>, model: &str) -> Result<Value, TranslateError> {
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    let mut conversation = Conversation::default();
    if let Some(instructions) = opt_str(body, "instructions", "")? {
        push_paragraph(&mut conversation.system, instructions);
    }
    match body.get("input") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => conversation
            .messages
            .push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                conversation.item(i, item)?;
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "input",
                "must be a string or an array",
            ));
        }
    }
    out.insert("messages".to_owned(), Value::Array(conversation.finish()));

    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "input" | "instructions" => {}
            "stream" => {
                if opt_bool(body, "stream", "")? == Some(true) {
                    out.insert("stream".to_owned(), json!(true));
                    force_include_usage(&mut out);
                }
            }
            "temperature" | "top_p" => {
                if let Some(n) = opt_number(body, key, "")? {
                    out.insert(key.clone(), n.clone());
                }
            }
            "max_output_tokens" => {
                if let Some(n) = opt_u64(body, key, "")? {
                    out.insert("max_tokens".to_owned(), json!(n));
                }
            }
            "parallel_tool_calls" => {
                if let Some(b) = opt_bool(body, key, "")? {
                    out.insert(key.clone(), json!(b));
                }
            }
            "user" => {
                if let Some(user) = opt_str(body, key, "")? {
                    out.insert(key.clone(), json!(user));
                }
            }
            "tools" => {
                let tools = tools(opt_array(body, key, "")?.unwrap_or_default())?;
                if !tools.is_empty() {
                    out.insert("tools".to_owned(), Value::Array(tools));
                }
            }
            "tool_choice" => {
                out.insert("tool_choice".to_owned(), tool_choice(value)?);
            }
            "reasoning" => {
                let reasoning = opt_object(body, key, "")?.cloned().unwrap_or_default();
                if let Some(effort) = opt_str(&reasoning, "effort", "reasoning")? {
                    out.insert("reasoning_effort".to_owned(), json!(effort));
                }
            }
            "text" => {
                let text = opt_object(body, key, "")?.cloned().unwrap_or_default();
                if let Some(format) = response_format(&text)? {
                    out.insert("response_format".to_owned(), format);
                }
            }
            "background" => {
                if opt_bool(body, key, "")? == Some(true) {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "store" | "include" | "prompt_cache_key" | "metadata" | "service_tier"
            | "safety_identifier" | "truncation" => {}
            _ => return Err(TranslateError::unsupported(key, None, TARGET)),
        }
    }
    Ok(Value::Object(out))
}

/// The Chat messages being built from Responses input items.
#[derive(Default)]
struct Conversation {
    /// The leading system prompt.
    system: String,
    messages: Vec<Value>,
}

impl Conversation {
    fn finish(mut self) -> Vec<Value> {
        if !self.system.is_empty() {
            self.messages
                .insert(0, json!({"role": "system", "content": self.system}));
        }
        self.messages
    }

    fn item(&mut self, i: usize, item: &Value) -> Result<(), TranslateError> {
        let path = format!("input[{i}]");
        let object = as_object_at(item, &path)?;
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            None | Some(Value::Null) if object.contains_key("role") => "message",
            None | Some(Value::Null) => {
                return Err(TranslateError::invalid(
                    &format!("{path}.type"),
                    "is required",
                ));
            }
            other => {
                return Err(TranslateError::unsupported(
                    &format!("{path}.type"),
                    other,
                    TARGET,
                ));
            }
        };
        match kind {
            "message" => self.message(object, &path),
            "function_call" => {
                let call = json!({
                    "id": req_str(object, "call_id", &path)?,
                    "type": "function",
                    "function": {
                        "name": req_str(object, "name", &path)?,
                        "arguments": opt_str(object, "arguments", &path)?.unwrap_or("{}"),
                    },
                });
                self.push_tool_call(call);
                Ok(())
            }
            "function_call_output" => {
                let call_id = req_str(object, "call_id", &path)?;
                let output = match object.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(content @ Value::Array(_)) => {
                        let parts = parts(content, &format!("{path}.output"), false)?;
                        text_only(&parts, "\n\n")
                    }
                    _ => {
                        return Err(TranslateError::invalid(
                            &format!("{path}.output"),
                            "must be a string or an array",
                        ));
                    }
                };
                self.messages
                    .push(json!({"role": "tool", "tool_call_id": call_id, "content": output}));
                Ok(())
            }
            // Chat cannot carry earlier reasoning; see the module docs.
            "reasoning" => Ok(()),
            _ => Err(TranslateError::unsupported(
                &format!("{path}.type"),
                object.get("type"),
                TARGET,
            )),
        }
    }

    fn message(&mut self, object: &Map<String, Value>, path: &str) -> Result<(), TranslateError> {
        let role = req_str(object, "role", path)?;
        let content = object.get("content").unwrap_or(&Value::Null);
        let content_path = format!("{path}.content");
        match role {
            "system" | "developer" => {
                let text = text_only(&parts(content, &content_path, false)?, "\n\n");
                if self.messages.is_empty() {
                    push_paragraph(&mut self.system, &text);
                } else {
                    self.messages
                        .push(json!({"role": "system", "content": text}));
                }
            }
            "user" => {
                let parts = parts(content, &content_path, true)?;
                self.messages
                    .push(json!({"role": "user", "content": user_content(&parts)}));
            }
            "assistant" => {
                let text = text_only(&parts(content, &content_path, false)?, "");
                self.messages
                    .push(json!({"role": "assistant", "content": text}));
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

    /// Adds a tool call to the assistant message just before it, or opens one.
    fn push_tool_call(&mut self, call: Value) {
        if let Some(last) = self.messages.last_mut()
            && last.get("role").and_then(Value::as_str) == Some("assistant")
            && let Some(last) = last.as_object_mut()
        {
            let calls = last.entry("tool_calls").or_insert_with(|| json!([]));
            if let Some(calls) = calls.as_array_mut() {
                calls.push(call);
                return;
            }
        }
        self.messages
            .push(json!({"role": "assistant", "content": null, "tool_calls": [call]}));
    }
}

/// A content part that Chat can carry.
enum Part {
    Text(String),
    Image { url: String, detail: Option<String> },
}

/// Reads Responses content (a string or parts); images only where `images` allows.
fn parts(content: &Value, path: &str, images: bool) -> Result<Vec<Part>, TranslateError> {
    match content {
        Value::String(text) => Ok(vec![Part::Text(text.clone())]),
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (j, part) in items.iter().enumerate() {
                let part_path = format!("{path}[{j}]");
                let object = as_object_at(part, &part_path)?;
                let kind = object.get("type");
                match kind.and_then(Value::as_str) {
                    Some("input_text" | "output_text") => {
                        out.push(Part::Text(req_str(object, "text", &part_path)?.to_owned()))
                    }
                    Some("refusal") => out.push(Part::Text(
                        req_str(object, "refusal", &part_path)?.to_owned(),
                    )),
                    Some("input_image") if images => {
                        let Some(url) = opt_str(object, "image_url", &part_path)? else {
                            // Uploaded files (`file_id`) live at OpenAI, out of a Chat provider's reach.
                            return Err(TranslateError::unsupported(
                                &format!("{part_path}.file_id"),
                                None,
                                TARGET,
                            ));
                        };
                        let detail = opt_str(object, "detail", &part_path)?.map(str::to_owned);
                        out.push(Part::Image {
                            url: url.to_owned(),
                            detail,
                        });
                    }
                    _ => {
                        return Err(TranslateError::unsupported(
                            &format!("{part_path}.type"),
                            kind,
                            TARGET,
                        ));
                    }
                }
            }
            Ok(out)
        }
        _ => Err(TranslateError::invalid(
            path,
            "must be a string or an array",
        )),
    }
}

fn text_only(parts: &[Part], separator: &str) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            Part::Image { .. } => None,
        })
        .collect::<Vec<_>>()
        .join(separator)
}

fn user_content(parts: &[Part]) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        return json!(text_only(parts, "\n\n"));
    }
    let parts = parts
        .iter()
        .map(|p| match p {
            Part::Text(text) => json!({"type": "text", "text": text}),
            Part::Image { url, detail } => {
                let mut image = json!({"url": url});
                if let Some(detail) = detail {
                    image["detail"] = json!(detail);
                }
                json!({"type": "image_url", "image_url": image})
            }
        })
        .collect();
    Value::Array(parts)
}

fn tools(list: &[Value]) -> Result<Vec<Value>, TranslateError> {
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let path = format!("tools[{i}]");
        let object = as_object_at(tool, &path)?;
        if object.get("type").and_then(Value::as_str) != Some("function") {
            return Err(TranslateError::unsupported(
                &format!("{path}.type"),
                object.get("type"),
                TARGET,
            ));
        }
        let mut function = Map::new();
        function.insert("name".to_owned(), json!(req_str(object, "name", &path)?));
        for key in ["description", "parameters", "strict"] {
            if let Some(v) = object.get(key).filter(|v| !v.is_null()) {
                function.insert(key.to_owned(), v.clone());
            }
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

fn tool_choice(value: &Value) -> Result<Value, TranslateError> {
    match value {
        Value::String(s) if matches!(s.as_str(), "auto" | "none" | "required") => Ok(value.clone()),
        Value::Object(object) if object.get("type").and_then(Value::as_str) == Some("function") => {
            Ok(
                json!({"type": "function", "function": {"name": req_str(object, "name", "tool_choice")?}}),
            )
        }
        Value::Object(object) => Err(TranslateError::unsupported(
            "tool_choice.type",
            object.get("type"),
            TARGET,
        )),
        _ => Err(TranslateError::unsupported(
            "tool_choice",
            Some(value),
            TARGET,
        )),
    }
}

fn response_format(text: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let Some(format) = opt_object(text, "format", "text")? else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            schema.insert(
                "name".to_owned(),
                json!(req_str(format, "name", "text.format")?),
            );
            for key in ["schema", "strict", "description"] {
                if let Some(v) = format.get(key).filter(|v| !v.is_null()) {
                    schema.insert(key.to_owned(), v.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(TranslateError::unsupported(
            "text.format.type",
            format.get("type"),
            TARGET,
        )),
    }
}

/// Chat Completions response → Responses response.
pub(super) fn response(
    body: &Map<String, Value>,
    client_model: &str,
) -> Result<Value, TranslateError> {
    let (choice, message) = first_choice(body)?;
    let tail = id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0")).to_owned();
    let mut output = Vec::new();
    let reasoning = reasoning_text(message);
    if !reasoning.is_empty() {
        output.push(reasoning_item(&format!("rs_{tail}"), &reasoning));
    }
    let mut text = chat_text(message.get("content"));
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        output.push(message_item(&format!("msg_{tail}"), &text));
    }
    for (j, call) in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let function = call.get("function");
        let field = |key: &str| {
            function
                .and_then(|f| f.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let call_id = call
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("call_{j}"));
        output.push(function_call_item(
            &format!("fc_{tail}_{j}"),
            &call_id,
            field("name"),
            field("arguments"),
        ));
    }
    let stop = Stop::from_chat(
        choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .unwrap_or("stop"),
    );
    let (status, incomplete) = stop.to_responses();
    let usage = body
        .get("usage")
        .and_then(from_chat)
        .map(|u| u.to_responses());
    Ok(json!({
        "id": format!("resp_{tail}"),
        "object": "response",
        "created_at": body.get("created").and_then(Value::as_u64).unwrap_or_else(now_secs),
        "status": status,
        "error": null,
        "incomplete_details": incomplete.map(|reason| json!({"reason": reason})),
        "model": client_model,
        "output": output,
        "usage": usage,
    }))
}

/// Reasoning text of a Chat message: `reasoning_content` (DeepSeek and most others) or `reasoning`.
pub(super) fn reasoning_text(message: &Map<String, Value>) -> String {
    ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message.get(*key).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

pub(super) fn message_item(id: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

pub(super) fn reasoning_item(id: &str, text: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [{"type": "summary_text", "text": text}]})
}

pub(super) fn function_call_item(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "type": "function_call",
        "id": id,
        "status": "completed",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Usage, translate_request, translate_response, usage_from_response};
    use super::*;

    fn to_chat(body: Value) -> Result<Value, TranslateError> {
        translate_request(Wire::Responses, Wire::Chat, &body, "deepseek-chat")
    }

    #[test]
    fn string_input_and_instructions() {
        let out = to_chat(json!({"model": "gpt-5", "instructions": "Be brief.", "input": "Hello"}))
            .unwrap();
        assert_eq!(
            out,
            json!({"model": "deepseek-chat", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hello"}
            ]})
        );
    }

    #[test]
    fn leading_developer_messages_merge_into_the_system_prompt_later_ones_stay() {
        let out = to_chat(json!({
            "model": "m",
            "instructions": "Base.",
            "input": [
                {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox rules."}]},
                {"role": "system", "content": "More."},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<env/>"}, {"type": "input_text", "text": "Fix the bug"}]},
                {"type": "message", "role": "developer", "content": "Mid-conversation note."}
            ]
        }))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "system", "content": "Base.\n\nSandbox rules.\n\nMore."},
                {"role": "user", "content": "<env/>\n\nFix the bug"},
                {"role": "system", "content": "Mid-conversation note."}
            ])
        );
    }

    #[test]
    fn multi_turn_with_tool_calls_and_outputs() {
        let out = to_chat(json!({
            "model": "m",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "List files"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}], "encrypted_content": null},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "shell", "arguments": "{\"command\":[\"pwd\"]}"},
                {"type": "function_call_output", "call_id": "call_a", "output": "a.rs\nb.rs"},
                {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "/src"}]},
                {"type": "function_call", "call_id": "call_c", "name": "shell", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_c", "output": "ok"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Two files."}]}
            ]
        }))
        .unwrap();
        assert_eq!(
            out["messages"],
            json!([
                {"role": "user", "content": "List files"},
                {"role": "assistant", "content": "Let me look.", "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"pwd\"]}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_a", "content": "a.rs\nb.rs"},
                {"role": "tool", "tool_call_id": "call_b", "content": "/src"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_c", "type": "function", "function": {"name": "shell", "arguments": "{}"}}
                ]},
                {"role": "tool", "tool_call_id": "call_c", "content": "ok"},
                {"role": "assistant", "content": "Two files."}
            ])
        );
    }

    #[test]
    fn images_become_image_url_parts() {
        let out = to_chat(json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "high"},
            {"type": "input_image", "image_url": "https://example.com/a.png"}
        ]}]}))
        .unwrap();
        assert_eq!(
            out["messages"][0]["content"],
            json!([
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
            ])
        );
        let err = to_chat(json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]})).unwrap_err();
        assert_eq!(err.field, "input[0].content[0].file_id");
        let err = to_chat(json!({"model": "m", "input": [{"role": "system", "content": [{"type": "input_image", "image_url": "https://x"}]}]})).unwrap_err();
        assert_eq!(err.field, "input[0].content[0].type");
    }

    #[test]
    fn tools_and_tool_choice() {
        let out = to_chat(json!({
            "model": "m", "input": "hi",
            "tools": [{"type": "function", "name": "shell", "description": "Run a command", "strict": false,
                       "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}],
            "tool_choice": "auto", "parallel_tool_calls": false
        }))
        .unwrap();
        assert_eq!(
            out["tools"],
            json!([{"type": "function", "function": {"name": "shell", "description": "Run a command", "strict": false,
                    "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}}])
        );
        assert_eq!(out["tool_choice"], "auto");
        assert_eq!(out["parallel_tool_calls"], false);
        let out = to_chat(json!({"model": "m", "input": "hi", "tools": [], "tool_choice": {"type": "function", "name": "shell"}})).unwrap();
        assert!(out.get("tools").is_none());
        assert_eq!(
            out["tool_choice"],
            json!({"type": "function", "function": {"name": "shell"}})
        );
    }

    #[test]
    fn sampling_limits_reasoning_and_format() {
        let out = to_chat(json!({
            "model": "m", "input": "hi", "stream": true, "temperature": 0.2, "top_p": 0.9,
            "max_output_tokens": 1000, "reasoning": {"effort": "high", "summary": "auto"},
            "text": {"format": {"type": "json_schema", "name": "answer", "strict": true, "schema": {"type": "object"}}, "verbosity": "low"},
            "store": false, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k",
            "metadata": {"a": "b"}, "user": "u-1", "truncation": "auto", "background": false
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "model": "deepseek-chat",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": true, "stream_options": {"include_usage": true},
                "temperature": 0.2, "top_p": 0.9, "max_tokens": 1000, "reasoning_effort": "high",
                "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {"type": "object"}}},
                "user": "u-1"
            })
        );
        let out = to_chat(json!({"model": "m", "input": "hi", "text": {"format": {"type": "json_object"}}, "stream": false})).unwrap();
        assert_eq!(out["response_format"], json!({"type": "json_object"}));
        assert!(out.get("stream").is_none());
        let out =
            to_chat(json!({"model": "m", "input": "hi", "text": {"format": {"type": "text"}}}))
                .unwrap();
        assert!(out.get("response_format").is_none());
    }

    #[test]
    fn fields_that_cannot_be_carried_are_named() {
        let cases = [
            (
                json!({"model": "m", "input": [{"type": "message", "role": "user", "content": "a"}, {"type": "computer_call", "call_id": "c"}]}),
                "input[1].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "local_shell_call", "call_id": "c"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}),
                "input[0].type",
            ),
            (
                json!({"model": "m", "input": "hi", "tools": [{"type": "function", "name": "a"}, {"type": "web_search"}]}),
                "tools[1].type",
            ),
            (
                json!({"model": "m", "input": "hi", "tools": [{"type": "custom", "name": "apply_patch"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "hi", "tools": [{"type": "local_shell"}]}),
                "tools[0].type",
            ),
            (
                json!({"model": "m", "input": "hi", "previous_response_id": "resp_1"}),
                "previous_response_id",
            ),
            (
                json!({"model": "m", "input": "hi", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": "hi", "tool_choice": {"type": "web_search_preview"}}),
                "tool_choice.type",
            ),
            (
                json!({"model": "m", "input": "hi", "tool_choice": "sometimes"}),
                "tool_choice",
            ),
            (
                json!({"model": "m", "input": "hi", "text": {"format": {"type": "grammar"}}}),
                "text.format.type",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
                "input[0].content[0].type",
            ),
            (
                json!({"model": "m", "input": [{"role": "critic", "content": "x"}]}),
                "input[0].role",
            ),
        ];
        for (body, field) in cases {
            let err = to_chat(body).unwrap_err();
            assert_eq!(err.field, field, "{}", err.message);
            assert!(err.message.contains("Chat Completions"), "{}", err.message);
        }
        let err = to_chat(json!({"model": "m", "input": [{"type": "computer_call"}]})).unwrap_err();
        assert_eq!(
            err.message,
            "field `input[0].type` (\"computer_call\") cannot be sent to a Chat Completions provider"
        );
    }

    #[test]
    fn garbage_shapes_are_errors_not_panics() {
        let cases = [
            json!({"input": 5}),
            json!({"input": [5]}),
            json!({"input": [{}]}),
            json!({"input": [{"type": 7}]}),
            json!({"input": [{"type": "message"}]}),
            json!({"input": [{"type": "message", "role": "user", "content": 3}]}),
            json!({"input": [{"type": "message", "role": "user", "content": [null]}]}),
            json!({"input": [{"type": "message", "role": "user", "content": [{"type": "input_text"}]}]}),
            json!({"input": [{"type": "function_call", "name": "x"}]}),
            json!({"input": [{"type": "function_call_output", "call_id": "c", "output": 1}]}),
            json!({"input": "x", "instructions": ["a"]}),
            json!({"input": "x", "tools": {}}),
            json!({"input": "x", "tools": [1]}),
            json!({"input": "x", "tools": [{"type": "function"}]}),
            json!({"input": "x", "max_output_tokens": -1}),
            json!({"input": "x", "temperature": "hot"}),
            json!({"input": "x", "reasoning": "high"}),
            json!({"input": "x", "reasoning": {"effort": 3}}),
            json!({"input": "x", "text": {"format": 1}}),
            json!({"input": "x", "stream": "yes"}),
        ];
        for body in cases {
            assert!(to_chat(body.clone()).is_err(), "{body}");
        }
        // Nulls count as absent.
        assert!(
            to_chat(json!({"input": null, "tools": null, "temperature": null, "stream": null}))
                .is_ok()
        );
    }

    #[test]
    fn error_messages_never_quote_content() {
        let secret = "SECRET_SOURCE_CODE";
        let cases = [
            json!({"input": [{"type": secret}]}),
            json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": secret}, {"type": format!("x{secret} y")}]}]}),
            json!({"input": secret, "tool_choice": secret}),
            json!({"input": [{"role": secret, "content": secret}]}),
        ];
        for body in cases {
            let err = to_chat(body).unwrap_err();
            assert!(
                !err.message.contains(secret) && !err.field.contains(secret),
                "{err:?}"
            );
        }
    }

    #[test]
    fn chat_response_becomes_a_responses_object() {
        let chat = json!({
            "id": "chatcmpl-123", "object": "chat.completion", "created": 1700000000, "model": "deepseek-chat",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "Running it.", "reasoning_content": "User wants ls.",
                "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}}]
            }}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "prompt_tokens_details": {"cached_tokens": 64}}
        });
        let out = translate_response(Wire::Chat, Wire::Responses, &chat, "gpt-5-codex").unwrap();
        assert_eq!(
            out,
            json!({
                "id": "resp_123", "object": "response", "created_at": 1700000000, "status": "completed",
                "error": null, "incomplete_details": null, "model": "gpt-5-codex",
                "output": [
                    {"type": "reasoning", "id": "rs_123", "summary": [{"type": "summary_text", "text": "User wants ls."}]},
                    {"type": "message", "id": "msg_123", "status": "completed", "role": "assistant",
                     "content": [{"type": "output_text", "text": "Running it.", "annotations": []}]},
                    {"type": "function_call", "id": "fc_123_0", "status": "completed", "call_id": "call_9",
                     "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}
                ],
                "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 64}, "output_tokens": 20,
                          "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120}
            })
        );
        assert_eq!(
            usage_from_response(Wire::Responses, &out),
            Some(Usage {
                input: 100,
                cached_input: 64,
                cache_creation: 0,
                output: 20,
                reasoning: 0
            })
        );
    }

    #[test]
    fn truncated_chat_response_is_incomplete() {
        let chat = json!({"id": "x", "choices": [{"finish_reason": "length", "message": {"role": "assistant", "content": "partial"}}]});
        let out = translate_response(Wire::Chat, Wire::Responses, &chat, "m").unwrap();
        assert_eq!(out["status"], "incomplete");
        assert_eq!(
            out["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(out["usage"], Value::Null);
        assert_eq!(out["output"][0]["content"][0]["text"], "partial");
    }

    #[test]
    fn malformed_chat_responses_are_errors() {
        for body in [
            json!({}),
            json!({"choices": []}),
            json!({"choices": [1]}),
            json!({"choices": [{"message": "x"}]}),
        ] {
            assert!(
                translate_response(Wire::Chat, Wire::Responses, &body, "m").is_err(),
                "{body}"
            );
        }
        let odd =
            json!({"choices": [{"message": {"content": 5, "tool_calls": [1, {"function": 2}]}}]});
        let out = translate_response(Wire::Chat, Wire::Responses, &odd, "m").unwrap();
        assert_eq!(out["output"].as_array().unwrap().len(), 2);
    }
}
