//! OpenAI Chat Completions: requests read into a [`Conversation`] and written from one, whole
//! answers read into an [`Answer`] and written from one.
//!
//! Writing choices (a Responses, Messages or legacy client on a Chat provider):
//! - The system prompt and the system or developer instructions that open the conversation
//!   become one leading system message (many chat templates accept a system message only
//!   first); later ones stay in place with role `system` (not `developer`, which few
//!   non-OpenAI servers know).
//! - Text-only content is one string (parts joined by a blank line), the form every Chat server
//!   accepts; content with images is sent as parts. Inline documents have no place: dropped.
//! - Tool calls join the assistant message they follow; a tool result is a `tool` message, and
//!   images in tool results follow the run of `tool` messages in a user message, since nothing
//!   may come between an assistant's calls and their results.
//! - Earlier reasoning is not sent: Chat has no field for it, and servers that reason
//!   (DeepSeek and the like) want it left out.
//! - Custom (free-form) tools become functions with one string parameter, `input`, described
//!   with their grammar.
//! - The output limit is `max_tokens` (understood by every Chat server, unlike
//!   `max_completion_tokens`), at most the model's configured limit; a stream asks for usage.
//! - The reasoning effort goes as `reasoning_effort` only to models configured with reasoning
//!   efforts: servers whose models do not reason may refuse it.
//!
//! Reading choices (a Chat client on an Anthropic provider): every system or developer message
//! is an instruction in place; `reasoning_content` of earlier answers is reasoning nobody
//! signed; audio and uploaded files have no equivalent and are dropped and reported.

use serde_json::{Map, Value, json};

use super::ir::{
    Answer, Call, CallInput, Conversation, File, Format, Image, ImageSource, Item, Part, Piece,
    Reasoning, Thought, Tool, ToolChoice, ToolKind, ToolResult, custom_description, custom_schema,
    text_of,
};
use super::policy::{Dropped, Fields};
use super::usage::from_chat;
use super::{
    Content, Stop, Target, TranslateError, as_object_at, first_choice, force_include_usage,
    id_tail, now_secs, opt_array, opt_object, opt_str, req_str,
};

// ---------------------------------------------------------------------------------------------
// Requests

/// A Chat request → a conversation.
pub(super) fn read_request(
    fields: &Fields,
    dropped: &mut Dropped,
) -> Result<Conversation, TranslateError> {
    let mut c = Conversation::default();
    let messages = fields
        .get("messages")
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?
        .as_array()
        .ok_or_else(|| TranslateError::invalid("messages", "must be an array"))?;
    for (i, message) in messages.iter().enumerate() {
        read_message(&format!("messages[{i}]"), message, &mut c.items, dropped)?;
    }
    let newer = fields.count("max_completion_tokens")?;
    c.max_output_tokens = newer.or(fields.count("max_tokens")?);
    c.temperature = fields.number("temperature")?;
    c.top_p = fields.number("top_p")?;
    c.stop = fields.strings("stop")?;
    c.stream = fields.boolean("stream")?.unwrap_or(false);
    if let Some(list) = fields.array("tools")? {
        for (i, tool) in list.iter().enumerate() {
            let path = format!("tools[{i}]");
            let object = as_object_at(tool, &path)?;
            if object.get("type").and_then(Value::as_str) != Some("function") {
                dropped.add_in(
                    "tools",
                    object.get("type").and_then(Value::as_str).unwrap_or("?"),
                );
                continue;
            }
            let function_path = format!("{path}.function");
            let function = opt_object(object, "function", &path)?
                .ok_or_else(|| TranslateError::invalid(&function_path, "is required"))?;
            c.tools.push(Tool {
                name: req_str(function, "name", &function_path)?.to_owned(),
                description: opt_str(function, "description", &function_path)?.map(str::to_owned),
                namespace: None,
                kind: ToolKind::Function {
                    parameters: function
                        .get("parameters")
                        .filter(|v| !v.is_null())
                        .cloned()
                        .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    strict: function.get("strict").and_then(Value::as_bool),
                },
            });
        }
    }
    if let Some(v) = fields.get("tool_choice") {
        c.tool_choice = match v {
            Value::String(s) => match s.as_str() {
                "auto" => Some(ToolChoice::Auto),
                "none" => Some(ToolChoice::None),
                "required" => Some(ToolChoice::Required),
                _ => {
                    dropped.add("tool_choice");
                    None
                }
            },
            Value::Object(choice)
                if choice.get("type").and_then(Value::as_str) == Some("function") =>
            {
                let function = opt_object(choice, "function", "tool_choice")?.ok_or_else(|| {
                    TranslateError::invalid("tool_choice.function", "is required")
                })?;
                Some(ToolChoice::Named(
                    req_str(function, "name", "tool_choice.function")?.to_owned(),
                ))
            }
            Value::Object(choice) => {
                dropped.add_in(
                    "tool_choice",
                    choice.get("type").and_then(Value::as_str).unwrap_or("?"),
                );
                None
            }
            _ => {
                return Err(TranslateError::invalid(
                    "tool_choice",
                    "must be a string or an object",
                ));
            }
        };
    }
    c.parallel_tool_calls = fields.boolean("parallel_tool_calls")?;
    if let Some(word) = fields.string("reasoning_effort")? {
        c.reasoning = Reasoning::from_word(word);
        if c.reasoning.is_none() {
            dropped.add("reasoning_effort");
        }
    }
    c.user = fields.string("user")?.map(str::to_owned);
    Ok(c)
}

fn read_message(
    path: &str,
    message: &Value,
    items: &mut Vec<Item>,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    let object = as_object_at(message, path)?;
    let role = req_str(object, "role", path)?;
    let content_path = format!("{path}.content");
    let content = object.get("content").unwrap_or(&Value::Null);
    match role {
        "system" | "developer" => {
            let parts = read_parts(content, &content_path, dropped)?;
            items.push(Item::System(text_of(&parts)));
        }
        "user" => items.push(Item::User(read_parts(content, &content_path, dropped)?)),
        "assistant" => {
            let reasoning = reasoning_text(object);
            if !reasoning.is_empty() {
                items.push(Item::Thought(Thought {
                    text: reasoning,
                    sealed: None,
                }));
            }
            let text: String = read_parts(content, &content_path, dropped)?
                .iter()
                .filter_map(|p| match p {
                    Part::Text(t) => Some(t.as_str()),
                    Part::Image(_) | Part::File(_) => None,
                })
                .collect();
            if !text.is_empty() {
                items.push(Item::Assistant(text));
            }
            if object.get("function_call").is_some_and(|v| !v.is_null()) {
                dropped.add("messages.function_call");
            }
            let calls = opt_array(object, "tool_calls", path)?.unwrap_or_default();
            for (j, call) in calls.iter().enumerate() {
                let call_path = format!("{path}.tool_calls[{j}]");
                let call = as_object_at(call, &call_path)?;
                let function_path = format!("{call_path}.function");
                let Some(function) = opt_object(call, "function", &call_path)? else {
                    dropped.add_in(
                        "messages.tool_calls",
                        call.get("type").and_then(Value::as_str).unwrap_or("?"),
                    );
                    continue;
                };
                items.push(Item::Call(Call {
                    id: req_str(call, "id", &call_path)?.to_owned(),
                    name: req_str(function, "name", &function_path)?.to_owned(),
                    namespace: None,
                    input: CallInput::Json(
                        opt_str(function, "arguments", &function_path)?
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                }));
            }
        }
        "tool" => items.push(Item::Result(ToolResult {
            id: req_str(object, "tool_call_id", path)?.to_owned(),
            content: read_parts(content, &content_path, dropped)?,
            is_error: false,
        })),
        other => dropped.add_in("messages.role", other),
    }
    Ok(())
}

/// Chat content (a string or parts) → parts.
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
    for (part_path, part, kind) in parts {
        match kind {
            "text" => out.push(Part::Text(req_str(part, "text", &part_path)?.to_owned())),
            "refusal" => out.push(Part::Text(req_str(part, "refusal", &part_path)?.to_owned())),
            "image_url" => {
                let url_path = format!("{part_path}.image_url");
                let (url, detail) = match part.get("image_url") {
                    Some(Value::String(url)) => (url.as_str(), None),
                    Some(Value::Object(image)) => (
                        req_str(image, "url", &url_path)?,
                        opt_str(image, "detail", &url_path)?,
                    ),
                    _ => return Err(TranslateError::invalid(&url_path, "is required")),
                };
                let source = ImageSource::from_url(url)
                    .filter(|s| match s {
                        ImageSource::Url(url) => {
                            url.starts_with("https://") || url.starts_with("http://")
                        }
                        ImageSource::Data { .. } => true,
                    })
                    .ok_or_else(|| {
                        TranslateError::invalid(&url_path, "must be an http(s) or base64 data: URL")
                    })?;
                out.push(Part::Image(Image {
                    source,
                    detail: detail.map(str::to_owned),
                }));
            }
            "file" => {
                let file = part.get("file").and_then(Value::as_object);
                let data = file
                    .and_then(|f| f.get("file_data"))
                    .and_then(Value::as_str)
                    .and_then(ImageSource::from_url);
                match data {
                    Some(ImageSource::Data { media_type, data }) => out.push(Part::File(File {
                        filename: file
                            .and_then(|f| f.get("filename"))
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        media_type,
                        data,
                    })),
                    _ => dropped.add("file.file_id"),
                }
            }
            other => dropped.add_in("content", other),
        }
    }
    Ok(out)
}

/// Reasoning text of a Chat message: `reasoning_content` (DeepSeek and most others) or `reasoning`.
fn reasoning_text(message: &Map<String, Value>) -> String {
    ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|key| message.get(*key).and_then(Value::as_str))
        .unwrap_or_default()
        .to_owned()
}

/// A conversation → a Chat request for `target`.
pub(super) fn write_request(
    c: Conversation,
    target: &Target,
    dropped: &mut Dropped,
) -> Result<Map<String, Value>, TranslateError> {
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(target.model));
    let mut system = c.system;
    let mut messages: Vec<Value> = Vec::with_capacity(c.items.len() + 1);
    // Images of tool results, waiting for the run of tool messages to end.
    let mut result_images: Vec<Value> = Vec::new();
    for item in c.items {
        if !matches!(item, Item::Result(_)) && !result_images.is_empty() {
            messages.push(json!({"role": "user", "content": std::mem::take(&mut result_images)}));
        }
        match item {
            // Instructions that open the conversation join the leading system message.
            Item::System(text) if messages.is_empty() => system.push(text),
            Item::System(text) => messages.push(json!({"role": "system", "content": text})),
            Item::User(parts) => {
                messages.push(json!({"role": "user", "content": user_content(&parts, dropped)}))
            }
            Item::Assistant(text) => assistant(&mut messages).push_text(&text),
            Item::Thought(_) => {}
            Item::Call(call) => assistant(&mut messages).push_call(json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.input.as_json_text()},
            })),
            Item::Result(result) => {
                for part in &result.content {
                    match part {
                        Part::Image(image) => result_images.push(image_part(image)),
                        Part::File(_) => dropped.add("file"),
                        Part::Text(_) => {}
                    }
                }
                messages.push(
                    json!({"role": "tool", "tool_call_id": result.id, "content": result.text()}),
                );
            }
        }
    }
    if !result_images.is_empty() {
        messages.push(json!({"role": "user", "content": result_images}));
    }
    let system = system.join("\n\n");
    if !system.is_empty() {
        messages.insert(0, json!({"role": "system", "content": system}));
    }
    out.insert("messages".to_owned(), Value::Array(messages));
    if !c.tools.is_empty() {
        let tools = c.tools.into_iter().map(write_tool).collect();
        out.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = c.tool_choice {
        let choice = match choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::None => json!("none"),
            ToolChoice::Required => json!("required"),
            ToolChoice::Named(name) => json!({"type": "function", "function": {"name": name}}),
        };
        out.insert("tool_choice".to_owned(), choice);
    }
    if let Some(parallel) = c.parallel_tool_calls {
        out.insert("parallel_tool_calls".to_owned(), json!(parallel));
    }
    if let Some(limit) = target.output_limit(c.max_output_tokens) {
        out.insert("max_tokens".to_owned(), json!(limit));
    }
    if let Some(t) = c.temperature {
        out.insert("temperature".to_owned(), json!(t));
    }
    if let Some(p) = c.top_p {
        out.insert("top_p".to_owned(), json!(p));
    }
    if !c.stop.is_empty() {
        out.insert("stop".to_owned(), json!(c.stop));
    }
    match c.reasoning.and_then(Reasoning::effort) {
        Some(effort) if target.reasons => {
            out.insert("reasoning_effort".to_owned(), json!(effort.as_openai()));
        }
        Some(_) => dropped.add("reasoning"),
        None => {}
    }
    if let Some(format) = c.format {
        out.insert("response_format".to_owned(), response_format(format));
    }
    if let Some(user) = c.user {
        out.insert("user".to_owned(), json!(user));
    }
    if c.stream {
        out.insert("stream".to_owned(), json!(true));
        force_include_usage(&mut out);
    }
    Ok(out)
}

/// The assistant message at the end of `messages`, opened if the last message is another.
fn assistant(messages: &mut Vec<Value>) -> Assistant<'_> {
    let open = messages.last().is_some_and(|m| m["role"] == "assistant");
    if !open {
        messages.push(json!({"role": "assistant", "content": null}));
    }
    Assistant(messages.last_mut().and_then(Value::as_object_mut))
}

struct Assistant<'a>(Option<&'a mut Map<String, Value>>);

impl Assistant<'_> {
    fn push_text(self, text: &str) {
        let Some(message) = self.0 else { return };
        // Text after tool calls would read as coming first; it opens a new turn only in Chat
        // formats that allow it, so it is appended to what the message says.
        match message.get_mut("content") {
            Some(Value::String(existing)) => existing.push_str(text),
            Some(content) => *content = json!(text),
            None => {
                message.insert("content".to_owned(), json!(text));
            }
        }
    }

    fn push_call(self, call: Value) {
        let Some(message) = self.0 else { return };
        let calls = message.entry("tool_calls").or_insert_with(|| json!([]));
        if let Some(calls) = calls.as_array_mut() {
            calls.push(call);
        }
    }
}

fn image_part(image: &Image) -> Value {
    let mut url = json!({"url": image.source.to_url()});
    if let Some(detail) = &image.detail {
        url["detail"] = json!(detail);
    }
    json!({"type": "image_url", "image_url": url})
}

/// User content: one string when it is all text, else parts.
fn user_content(parts: &[Part], dropped: &mut Dropped) -> Value {
    if parts.iter().all(|p| matches!(p, Part::Text(_))) {
        return json!(text_of(parts));
    }
    let parts = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(text) => Some(json!({"type": "text", "text": text})),
            Part::Image(image) => Some(image_part(image)),
            Part::File(_) => {
                dropped.add("file");
                None
            }
        })
        .collect();
    Value::Array(parts)
}

fn write_tool(tool: Tool) -> Value {
    let mut function = Map::new();
    function.insert("name".to_owned(), json!(tool.name));
    let (parameters, description, strict) = match tool.kind {
        ToolKind::Function { parameters, strict } => (parameters, tool.description, strict),
        ToolKind::Custom { format } => (
            custom_schema(),
            custom_description(tool.description, format.as_ref()),
            None,
        ),
    };
    if let Some(description) = description {
        function.insert("description".to_owned(), json!(description));
    }
    function.insert("parameters".to_owned(), parameters);
    if let Some(strict) = strict {
        function.insert("strict".to_owned(), json!(strict));
    }
    json!({"type": "function", "function": function})
}

fn response_format(format: Format) -> Value {
    match format {
        Format::JsonObject => json!({"type": "json_object"}),
        Format::JsonSchema {
            name,
            schema,
            strict,
            description,
        } => {
            let mut inner = json!({"name": name});
            if let Some(schema) = schema {
                inner["schema"] = schema;
            }
            if let Some(strict) = strict {
                inner["strict"] = json!(strict);
            }
            if let Some(description) = description {
                inner["description"] = json!(description);
            }
            json!({"type": "json_schema", "json_schema": inner})
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Answers

/// A whole Chat body → an answer (its first choice).
pub(super) fn read_answer(body: &Map<String, Value>) -> Result<Answer, TranslateError> {
    let (choice, message) = first_choice(body)?;
    let mut pieces = Vec::new();
    let reasoning = reasoning_text(message);
    if !reasoning.is_empty() {
        pieces.push(Piece::Thought(Thought {
            text: reasoning,
            sealed: None,
        }));
    }
    let mut text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        text.push_str(refusal);
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (j, call) in calls.iter().enumerate() {
        let function = call.get("function");
        let field = |key: &str| {
            function
                .and_then(|f| f.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        pieces.push(Piece::Call(Call {
            id: call
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| format!("call_{j}")),
            name: field("name"),
            namespace: None,
            input: CallInput::Json(field("arguments")),
        }));
    }
    Ok(Answer {
        id: id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0")).to_owned(),
        created: body.get("created").and_then(Value::as_u64),
        pieces,
        stop: Stop::from_chat(
            choice
                .get("finish_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop"),
        ),
        usage: body.get("usage").and_then(from_chat),
    })
}

/// An answer → a whole Chat body.
pub(super) fn write_answer(answer: &Answer, client_model: &str) -> Value {
    let text = answer.text();
    let calls: Vec<Value> = answer
        .calls()
        .map(|call| {
            json!({
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.input.as_json_text()},
            })
        })
        .collect();
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        json!(text)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let reasoning = answer.reasoning();
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    json!({
        "id": format!("chatcmpl-{}", answer.id),
        "object": "chat.completion",
        "created": answer.created.unwrap_or_else(now_secs),
        "model": client_model,
        "choices": [{"index": 0, "message": message, "finish_reason": answer.stop.to_chat(), "logprobs": null}],
        "usage": answer.usage.unwrap_or_default().to_chat(),
    })
}
