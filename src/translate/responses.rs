//! OpenAI Responses: requests read into a [`Conversation`] and written from one, whole answers
//! read into an [`Answer`] and written from one, and the output items the stream writer shares.
//! One module because requests, answers and streamed items of one format share their item readers
//! and writers.
//!
//! Reading choices:
//! - `instructions` is the system prompt; `system` and `developer` messages stay where they are.
//! - `function_call`/`custom_tool_call` and their outputs are tool calls and results; a custom
//!   tool's free-form input is kept as text. Tools given as an `additional_tools` item or inside
//!   a `namespace` tool are tools like any other.
//! - `reasoning` items keep their summary text and their `encrypted_content`, which is either
//!   OpenAI's (given back only to a Responses provider) or reasoning another provider signed and
//!   the gateway packed into it (see `seal.rs`).
//! - `item_reference` needs stored items and is refused. Other item, content and tool types
//!   (hosted tools and their calls, `compaction`, audio, uploaded files by id) have no meaning
//!   elsewhere: they are dropped and reported.
//!
//! Writing choices (a Messages client on a Responses provider): the system prompt becomes
//! `instructions`; function tools go with `strict: false` (the Responses default is strict,
//! which most schemas do not satisfy); reasoning is asked for (effort, `summary: auto`,
//! encrypted content) only when the model is configured with reasoning efforts, since OpenAI
//! refuses reasoning settings for models that do not reason, and `temperature`/`top_p` are
//! left out then because reasoning models refuse them.

use serde_json::{Map, Value, json};

use super::ir::{
    Answer, Call, CallInput, Conversation, File, Format, Image, ImageSource, Item, Part, Piece,
    Reasoning, Thought, Tool, ToolChoice, ToolKind, ToolResult,
};
use super::policy::{Dropped, Fields};
use super::seal::Sealed;
use super::usage::from_responses;
use super::{
    Content, Stop, Target, TranslateError, Wire, as_object_at, id_tail, now_secs, object,
    opt_array, opt_str, req_str,
};

// ---------------------------------------------------------------------------------------------
// Requests

/// A Responses request → a conversation. `target` names the provider's format in errors.
pub(super) fn read_request(
    fields: &Fields,
    target: Wire,
    dropped: &mut Dropped,
) -> Result<Conversation, TranslateError> {
    let mut c = Conversation::default();
    c.system
        .extend(fields.string("instructions")?.map(str::to_owned));
    match fields.get("input") {
        None => {}
        Some(Value::String(text)) => c.items.push(Item::User(vec![Part::Text(text.clone())])),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                read_item(&format!("input[{i}]"), item, target, &mut c, dropped)?;
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "input",
                "must be a string or an array",
            ));
        }
    }
    if let Some(list) = fields.array("tools")? {
        read_tools(list, "tools", None, &mut c.tools, dropped)?;
    }
    if let Some(v) = fields.get("tool_choice") {
        c.tool_choice = read_tool_choice(v, dropped)?;
    }
    c.parallel_tool_calls = fields.boolean("parallel_tool_calls")?;
    c.max_output_tokens = fields.count("max_output_tokens")?;
    c.temperature = fields.number("temperature")?;
    c.top_p = fields.number("top_p")?;
    c.stream = fields.boolean("stream")?.unwrap_or(false);
    c.user = fields.string("user")?.map(str::to_owned);
    if let Some(reasoning) = fields.object("reasoning")? {
        if let Some(word) = opt_str(reasoning, "effort", "reasoning")? {
            c.reasoning = Reasoning::from_word(word);
            if c.reasoning.is_none() {
                dropped.add("reasoning.effort");
            }
        }
        dropped.rest("reasoning", reasoning, &["effort"]);
    }
    if let Some(text) = fields.object("text")? {
        if let Some(format) = text.get("format").filter(|f| !f.is_null()) {
            c.format = read_format(object(format, "text.format")?, dropped)?;
        }
        dropped.rest("text", text, &["format"]);
    }
    Ok(c)
}

fn read_item(
    path: &str,
    item: &Value,
    target: Wire,
    c: &mut Conversation,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    let object = as_object_at(item, path)?;
    let kind = match object.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        None | Some(Value::Null) if object.contains_key("role") => "message",
        None | Some(Value::Null) => {
            return Err(TranslateError::invalid(
                &format!("{path}.type"),
                "is required",
            ));
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                &format!("{path}.type"),
                "must be a string",
            ));
        }
    };
    let call_id = || req_str(object, "call_id", path).map(str::to_owned);
    let namespace = || opt_str(object, "namespace", path).map(|n| n.map(str::to_owned));
    let item = match kind {
        "message" => {
            let role = req_str(object, "role", path)?;
            let content_path = format!("{path}.content");
            let content = object.get("content").unwrap_or(&Value::Null);
            let parts = read_parts(content, &content_path, dropped)?;
            match role {
                "user" => Item::User(parts),
                "assistant" => Item::Assistant(text_only(parts, "", dropped)),
                "system" | "developer" => Item::System(text_only(parts, "\n\n", dropped)),
                other => {
                    dropped.add_in("input.role", other);
                    return Ok(());
                }
            }
        }
        "function_call" => Item::Call(Call {
            id: call_id()?,
            name: req_str(object, "name", path)?.to_owned(),
            namespace: namespace()?,
            input: CallInput::Json(
                opt_str(object, "arguments", path)?
                    .unwrap_or("{}")
                    .to_owned(),
            ),
        }),
        "custom_tool_call" => Item::Call(Call {
            id: call_id()?,
            name: req_str(object, "name", path)?.to_owned(),
            namespace: namespace()?,
            input: CallInput::Raw(opt_str(object, "input", path)?.unwrap_or("").to_owned()),
        }),
        "function_call_output" | "custom_tool_call_output" => {
            let output_path = format!("{path}.output");
            let content = match object.get("output") {
                None | Some(Value::Null) => Vec::new(),
                Some(output) => read_parts(output, &output_path, dropped)?,
            };
            Item::Result(ToolResult {
                id: call_id()?,
                content,
                is_error: false,
            })
        }
        "reasoning" => Item::Thought(read_thought(object)),
        "additional_tools" => {
            let tools = opt_array(object, "tools", path)?.unwrap_or_default();
            read_tools(tools, &format!("{path}.tools"), None, &mut c.tools, dropped)?;
            return Ok(());
        }
        "item_reference" => {
            return Err(TranslateError::unsupported(
                &format!("{path}.type"),
                object.get("type"),
                target,
            ));
        }
        other => {
            dropped.add_in("input", other);
            return Ok(());
        }
    };
    c.items.push(item);
    Ok(())
}

/// A reasoning item's text (summary, else its reasoning text) and encrypted content.
fn read_thought(object: &Map<String, Value>) -> Thought {
    let texts = |key: &str| -> Vec<&str> {
        object
            .get(key)
            .and_then(Value::as_array)
            .map(|parts| {
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut text = texts("summary");
    if text.is_empty() {
        text = texts("content");
    }
    Thought {
        text: text.join("\n\n"),
        sealed: object
            .get("encrypted_content")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(Sealed::from_encrypted_content),
    }
}

/// Responses content (a string or parts) → parts; unknown part types are dropped and reported.
fn read_parts(
    content: &Value,
    path: &str,
    dropped: &mut Dropped,
) -> Result<Vec<Part>, TranslateError> {
    let parts = match super::content(content, path)? {
        Content::Text(text) => return Ok(vec![Part::Text(text.to_owned())]),
        Content::Parts(parts) => parts,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (part_path, object, kind) in parts {
        match kind {
            "input_text" | "output_text" | "text" => {
                out.push(Part::Text(req_str(object, "text", &part_path)?.to_owned()))
            }
            "refusal" => out.push(Part::Text(
                req_str(object, "refusal", &part_path)?.to_owned(),
            )),
            "input_image" => {
                let url = match object.get("image_url") {
                    Some(Value::String(url)) => Some(url.as_str()),
                    Some(Value::Object(image)) => opt_str(image, "url", &part_path)?,
                    _ => None,
                };
                let Some(url) = url else {
                    // Uploaded files (`file_id`) live at OpenAI, out of other providers' reach.
                    dropped.add("input_image.file_id");
                    continue;
                };
                let source = ImageSource::from_url(url).ok_or_else(|| {
                    TranslateError::invalid(
                        &format!("{part_path}.image_url"),
                        "must be an http(s) or base64 data: URL",
                    )
                })?;
                out.push(Part::Image(Image {
                    source,
                    detail: opt_str(object, "detail", &part_path)?.map(str::to_owned),
                }));
            }
            "input_file" => {
                let data = opt_str(object, "file_data", &part_path)?.and_then(|url| {
                    match ImageSource::from_url(url) {
                        Some(ImageSource::Data { media_type, data }) => Some((media_type, data)),
                        _ => None,
                    }
                });
                match data {
                    Some((media_type, data)) => out.push(Part::File(File {
                        filename: opt_str(object, "filename", &part_path)?.map(str::to_owned),
                        media_type,
                        data,
                    })),
                    None => dropped.add("input_file.file_id"),
                }
            }
            other => dropped.add_in("content", other),
        }
    }
    Ok(out)
}

/// The text of parts where only text can go; anything else is reported.
fn text_only(parts: Vec<Part>, separator: &str, dropped: &mut Dropped) -> String {
    let mut texts = Vec::with_capacity(parts.len());
    for part in parts {
        match part {
            Part::Text(text) => texts.push(text),
            Part::Image(_) => dropped.add("content.input_image"),
            Part::File(_) => dropped.add("content.input_file"),
        }
    }
    texts.join(separator)
}

fn read_tools(
    list: &[Value],
    path: &str,
    namespace: Option<&str>,
    tools: &mut Vec<Tool>,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    for (i, tool) in list.iter().enumerate() {
        let tool_path = format!("{path}[{i}]");
        let object = as_object_at(tool, &tool_path)?;
        let kind = match object.get("type").and_then(Value::as_str) {
            Some("function") => ToolKind::Function {
                parameters: object
                    .get("parameters")
                    .filter(|v| !v.is_null())
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                strict: object.get("strict").and_then(Value::as_bool),
            },
            Some("custom") => ToolKind::Custom {
                format: object.get("format").filter(|v| !v.is_null()).cloned(),
            },
            Some("namespace") => {
                let name = req_str(object, "name", &tool_path)?;
                let inner = opt_array(object, "tools", &tool_path)?.unwrap_or_default();
                read_tools(
                    inner,
                    &format!("{tool_path}.tools"),
                    Some(name),
                    tools,
                    dropped,
                )?;
                continue;
            }
            // Hosted tools run at OpenAI: web_search, file_search, code_interpreter, …
            Some(other) => {
                dropped.add_in("tools", other);
                continue;
            }
            None => {
                return Err(TranslateError::invalid(
                    &format!("{tool_path}.type"),
                    "is required",
                ));
            }
        };
        tools.push(Tool {
            name: req_str(object, "name", &tool_path)?.to_owned(),
            description: opt_str(object, "description", &tool_path)?.map(str::to_owned),
            namespace: namespace.map(str::to_owned),
            kind,
        });
    }
    Ok(())
}

fn read_tool_choice(
    value: &Value,
    dropped: &mut Dropped,
) -> Result<Option<ToolChoice>, TranslateError> {
    Ok(match value {
        Value::String(s) => match s.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" => Some(ToolChoice::Required),
            _ => {
                dropped.add("tool_choice");
                None
            }
        },
        Value::Object(choice) => match choice.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => Some(ToolChoice::Named(
                req_str(choice, "name", "tool_choice")?.to_owned(),
            )),
            Some("allowed_tools") => {
                dropped.add("tool_choice.allowed_tools");
                match choice.get("mode").and_then(Value::as_str) {
                    Some("required") => Some(ToolChoice::Required),
                    _ => Some(ToolChoice::Auto),
                }
            }
            other => {
                dropped.add_in("tool_choice", other.unwrap_or("?"));
                None
            }
        },
        _ => {
            return Err(TranslateError::invalid(
                "tool_choice",
                "must be a string or an object",
            ));
        }
    })
}

fn read_format(
    format: &Map<String, Value>,
    dropped: &mut Dropped,
) -> Result<Option<Format>, TranslateError> {
    Ok(match format.get("type").and_then(Value::as_str) {
        Some("text") => None,
        Some("json_object") => Some(Format::JsonObject),
        Some("json_schema") => Some(Format::JsonSchema {
            name: opt_str(format, "name", "text.format")?
                .unwrap_or("answer")
                .to_owned(),
            schema: format.get("schema").filter(|v| !v.is_null()).cloned(),
            strict: format.get("strict").and_then(Value::as_bool),
            description: opt_str(format, "description", "text.format")?.map(str::to_owned),
        }),
        other => {
            dropped.add_in("text.format", other.unwrap_or("?"));
            None
        }
    })
}

/// A conversation → a Responses request for `target`.
pub(super) fn write_request(
    c: Conversation,
    target: &Target,
    dropped: &mut Dropped,
) -> Result<Map<String, Value>, TranslateError> {
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(target.model));
    let system = c.system.join("\n\n");
    if !system.is_empty() {
        out.insert("instructions".to_owned(), json!(system));
    }
    let mut input = Vec::with_capacity(c.items.len());
    let mut custom_calls: Vec<String> = Vec::new();
    for item in c.items {
        match item {
            Item::System(text) => input.push(json!({
                "type": "message", "role": "developer",
                "content": [{"type": "input_text", "text": text}],
            })),
            Item::User(parts) => input.push(json!({
                "type": "message", "role": "user", "content": write_parts(&parts),
            })),
            Item::Assistant(text) if !text.is_empty() => input.push(json!({
                "type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": text}],
            })),
            Item::Assistant(_) => {}
            // Only OpenAI's own encrypted reasoning can go back to it.
            Item::Thought(Thought {
                text,
                sealed: Some(Sealed::Encrypted { content }),
            }) => {
                let summary: Vec<Value> = if text.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "summary_text", "text": text})]
                };
                input.push(json!({
                    "type": "reasoning", "summary": summary, "encrypted_content": content,
                }));
            }
            Item::Thought(_) => {}
            Item::Call(call) => match call.input {
                CallInput::Json(arguments) => input.push(json!({
                    "type": "function_call", "call_id": call.id, "name": call.name,
                    "arguments": arguments,
                })),
                CallInput::Raw(raw) => {
                    custom_calls.push(call.id.clone());
                    input.push(json!({
                        "type": "custom_tool_call", "call_id": call.id, "name": call.name,
                        "input": raw,
                    }));
                }
            },
            Item::Result(result) => {
                let kind = if custom_calls.contains(&result.id) {
                    "custom_tool_call_output"
                } else {
                    "function_call_output"
                };
                let only_text = result.content.iter().all(|p| matches!(p, Part::Text(_)));
                let output = if only_text {
                    json!(result.text())
                } else {
                    write_parts(&result.content)
                };
                input.push(json!({"type": kind, "call_id": result.id, "output": output}));
            }
        }
    }
    out.insert("input".to_owned(), Value::Array(input));
    if !c.tools.is_empty() {
        let tools = c.tools.into_iter().map(write_tool).collect();
        out.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = c.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(name) => json!({"type": "function", "name": name}),
        };
        out.insert("tool_choice".to_owned(), choice);
    }
    if let Some(parallel) = c.parallel_tool_calls {
        out.insert("parallel_tool_calls".to_owned(), json!(parallel));
    }
    if let Some(limit) = target.output_limit(c.max_output_tokens) {
        out.insert("max_output_tokens".to_owned(), json!(limit));
    }
    let reasons = target.reasons && c.reasoning != Some(Reasoning::Off);
    if reasons {
        let mut reasoning = Map::new();
        if let Some(effort) = c.reasoning.and_then(Reasoning::effort) {
            reasoning.insert("effort".to_owned(), json!(effort.as_openai()));
        }
        reasoning.insert("summary".to_owned(), json!("auto"));
        out.insert("reasoning".to_owned(), Value::Object(reasoning));
        out.insert("include".to_owned(), json!(["reasoning.encrypted_content"]));
    } else if c.reasoning.is_some_and(|r| r != Reasoning::Off) {
        dropped.add("reasoning");
    }
    for (key, value) in [("temperature", c.temperature), ("top_p", c.top_p)] {
        match value {
            Some(_) if reasons => dropped.add(key),
            Some(value) => {
                out.insert(key.to_owned(), json!(value));
            }
            None => {}
        }
    }
    if !c.stop.is_empty() {
        dropped.add("stop");
    }
    if let Some(format) = c.format {
        out.insert("text".to_owned(), json!({ "format": write_format(format) }));
    }
    if let Some(user) = c.user {
        out.insert("user".to_owned(), json!(user));
    }
    if c.stream {
        out.insert("stream".to_owned(), json!(true));
    }
    Ok(out)
}

fn write_parts(parts: &[Part]) -> Value {
    let parts = parts
        .iter()
        .map(|part| match part {
            Part::Text(text) => json!({"type": "input_text", "text": text}),
            Part::Image(image) => {
                let mut out = json!({"type": "input_image", "image_url": image.source.to_url()});
                if let Some(detail) = &image.detail {
                    out["detail"] = json!(detail);
                }
                out
            }
            Part::File(file) => {
                let mut out = json!({"type": "input_file", "file_data": file.to_data_url()});
                if let Some(name) = &file.filename {
                    out["filename"] = json!(name);
                }
                out
            }
        })
        .collect();
    Value::Array(parts)
}

fn write_tool(tool: Tool) -> Value {
    let mut out = Map::new();
    match tool.kind {
        ToolKind::Function { parameters, strict } => {
            out.insert("type".to_owned(), json!("function"));
            out.insert("name".to_owned(), json!(tool.name));
            out.insert("parameters".to_owned(), parameters);
            out.insert("strict".to_owned(), json!(strict.unwrap_or(false)));
        }
        ToolKind::Custom { format } => {
            out.insert("type".to_owned(), json!("custom"));
            out.insert("name".to_owned(), json!(tool.name));
            if let Some(format) = format {
                out.insert("format".to_owned(), format);
            }
        }
    }
    if let Some(description) = tool.description {
        out.insert("description".to_owned(), json!(description));
    }
    Value::Object(out)
}

fn write_format(format: Format) -> Value {
    match format {
        Format::JsonObject => json!({"type": "json_object"}),
        Format::JsonSchema {
            name,
            schema,
            strict,
            description,
        } => {
            let mut out = json!({"type": "json_schema", "name": name});
            if let Some(schema) = schema {
                out["schema"] = schema;
            }
            if let Some(strict) = strict {
                out["strict"] = json!(strict);
            }
            if let Some(description) = description {
                out["description"] = json!(description);
            }
            out
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A whole Responses body → an answer.
pub(super) fn read_answer(body: &Map<String, Value>) -> Result<Answer, TranslateError> {
    let output = body
        .get("output")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TranslateError::invalid("output", "is missing from the provider's response")
        })?;
    let mut pieces = Vec::new();
    for item in output {
        let Some(object) = item.as_object() else {
            continue;
        };
        let text = |key: &str| {
            object
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match object.get("type").and_then(Value::as_str) {
            Some("reasoning") => pieces.push(Piece::Thought(read_thought(object))),
            Some("message") => {
                let parts = object
                    .get("content")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                let text: String = parts
                    .iter()
                    .filter_map(|p| {
                        p.get("text")
                            .or_else(|| p.get("refusal"))
                            .and_then(Value::as_str)
                    })
                    .collect();
                if !text.is_empty() {
                    pieces.push(Piece::Text(text));
                }
            }
            Some(kind @ ("function_call" | "custom_tool_call")) => {
                let input = if kind == "function_call" {
                    CallInput::Json(text("arguments"))
                } else {
                    CallInput::Raw(text("input"))
                };
                pieces.push(Piece::Call(Call {
                    id: text("call_id"),
                    name: text("name"),
                    namespace: object
                        .get("namespace")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    input,
                }));
            }
            // Hosted tool calls ran at the provider; their results are already in the text.
            _ => {}
        }
    }
    let incomplete = body
        .get("incomplete_details")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    let stop = match (body.get("status").and_then(Value::as_str), incomplete) {
        (Some("incomplete"), Some("content_filter")) => Stop::ContentFilter,
        (Some("incomplete"), _) => Stop::MaxTokens,
        _ if pieces.iter().any(|p| matches!(p, Piece::Call(_))) => Stop::ToolUse,
        _ => Stop::EndTurn,
    };
    Ok(Answer {
        id: id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0")).to_owned(),
        created: body.get("created_at").and_then(Value::as_u64),
        pieces,
        stop,
        usage: body.get("usage").and_then(from_responses),
    })
}

/// An answer → a whole Responses body.
pub(super) fn write_answer(answer: &Answer, client_model: &str) -> Value {
    let tail = &answer.id;
    let output: Vec<Value> = answer
        .pieces
        .iter()
        .enumerate()
        .map(|(i, piece)| match piece {
            Piece::Thought(thought) => reasoning_item(&format!("rs_{tail}_{i}"), thought),
            Piece::Text(text) => message_item(&format!("msg_{tail}_{i}"), text),
            Piece::Call(call) => call_item(&format!("fc_{tail}_{i}"), call),
        })
        .collect();
    let (status, incomplete) = answer.stop.to_responses();
    json!({
        "id": format!("resp_{tail}"),
        "object": "response",
        "created_at": answer.created.unwrap_or_else(now_secs),
        "status": status,
        "error": null,
        "incomplete_details": incomplete.map(|reason| json!({"reason": reason})),
        "model": client_model,
        "output": output,
        "usage": answer.usage.map(|u| u.to_responses()),
    })
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

pub(super) fn reasoning_item(id: &str, thought: &Thought) -> Value {
    let summary: Vec<Value> = if thought.text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "summary_text", "text": thought.text})]
    };
    let mut item = json!({"type": "reasoning", "id": id, "summary": summary});
    if let Some(sealed) = &thought.sealed {
        item["encrypted_content"] = json!(sealed.for_client(Wire::Responses));
    }
    item
}

/// A finished `function_call` item, or a `custom_tool_call` for a custom tool's raw input.
pub(super) fn call_item(id: &str, call: &Call) -> Value {
    let mut item = match &call.input {
        CallInput::Json(arguments) => json!({
            "type": "function_call", "id": id, "status": "completed",
            "call_id": call.id, "name": call.name, "arguments": arguments,
        }),
        CallInput::Raw(input) => json!({
            "type": "custom_tool_call", "id": id, "status": "completed",
            "call_id": call.id, "name": call.name, "input": input,
        }),
    };
    if let Some(namespace) = &call.namespace {
        item["namespace"] = json!(namespace);
    }
    item
}
