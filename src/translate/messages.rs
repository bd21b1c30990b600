//! Anthropic Messages: requests read into a [`Conversation`] and written from one, whole
//! answers read into an [`Answer`] and written from one.
//! One module because requests and answers of one format share their content-block readers and
//! writers.
//!
//! Reading choices (Claude Code on another provider):
//! - `system` (a string or text blocks) is the system prompt. Claude Code's first system block,
//!   its `x-anthropic-billing-header:` line, means something to Anthropic only and changes with
//!   every prompt, which would spoil other providers' prompt caches: it is dropped. System-role
//!   entries inside `messages` (which Claude Code sends) stay where they are.
//! - `cache_control` marks are dropped: other providers cache prompts on their own.
//! - A `tool_result` is a tool result (text, images; a `tool_reference` block becomes a line
//!   of text naming the tool); text and images around it stay in order. `thinking` blocks keep
//!   their text and signature, which is either Anthropic's (given back only to Anthropic) or
//!   reasoning another provider encrypted and the gateway packed into it (see `seal.rs`).
//! - `thinking: enabled` is a budget, `adaptive` leaves the effort to the provider and
//!   `output_config.effort` names it; `output_config.format` is a structured answer.
//! - Server tools and their blocks (web search, code execution, MCP) run at Anthropic: dropped
//!   and reported.
//!
//! Writing choices (another client on Anthropic):
//! - Every system or developer instruction joins the top-level `system`, the only place
//!   Anthropic has for them. Consecutive entries of one role are merged into one turn, tool
//!   results first (Anthropic wants them at the start of the turn that answers the calls).
//! - `max_tokens` is required: the client's limit, else the model's configured
//!   `max_output_tokens`, else 8192.
//! - Reasoning becomes `thinking` with a budget (raising `max_tokens` to make room), for models
//!   configured with reasoning efforts: others refuse the setting. It is not
//!   turned on when a tool is forced (Anthropic refuses that), nor in the middle of a tool loop
//!   unless the last assistant turn opens with thinking Anthropic signed: Anthropic requires
//!   that turn to start with its own thinking block. `temperature` and `top_p` are left
//!   out while thinking, as Anthropic requires; `temperature` is clamped to 0..=1.
//! - Tool-call ids are made to fit Anthropic's `[A-Za-z0-9_-]` (the same way for calls and
//!   results). Arguments of an earlier call that are not a JSON object are kept as text;
//!   in an answer they are an error rather than a tool call with made-up input.

use serde_json::{Map, Value, json};

use super::ir::{
    Answer, CUSTOM_INPUT, Call, CallInput, Conversation, Effort, File, Format, Image, ImageSource,
    Item, Part, Piece, Reasoning, Thought, Tool, ToolChoice, ToolKind, ToolResult,
    custom_description, custom_schema,
};
use super::names::identifier;
use super::policy::{Dropped, Fields};
use super::seal::Sealed;
use super::usage::from_messages;
use super::{Stop, Target, TranslateError, Wire, as_object_at, id_tail, object, opt_str, req_str};

/// `max_tokens` when neither the client nor the model's configuration gives one.
pub(super) const DEFAULT_MAX_TOKENS: u64 = 8_192;
/// The smallest thinking budget Anthropic accepts.
const MIN_THINKING_BUDGET: u64 = 1_024;
/// How Claude Code's attribution line for Anthropic's billing starts.
const BILLING_LINE: &str = "x-anthropic-billing-header:";

// ---------------------------------------------------------------------------------------------
// Requests

/// A Messages request → a conversation.
pub(super) fn read_request(
    fields: &Fields,
    dropped: &mut Dropped,
) -> Result<Conversation, TranslateError> {
    let mut c = Conversation::default();
    match fields.get("system") {
        None => {}
        Some(Value::String(text)) => c.system.push(text.clone()),
        Some(Value::Array(blocks)) => {
            for (i, block) in blocks.iter().enumerate() {
                let path = format!("system[{i}]");
                let block = as_object_at(block, &path)?;
                note_cache_control(block, dropped);
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = req_str(block, "text", &path)?;
                        if text.starts_with(BILLING_LINE) {
                            dropped.add("system.billing_header");
                        } else {
                            c.system.push(text.to_owned());
                        }
                    }
                    other => dropped.add_in("system", other.unwrap_or("?")),
                }
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "system",
                "must be a string or an array",
            ));
        }
    }
    let messages = fields
        .get("messages")
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?
        .as_array()
        .ok_or_else(|| TranslateError::invalid("messages", "must be an array"))?;
    for (i, message) in messages.iter().enumerate() {
        read_message(&format!("messages[{i}]"), message, &mut c.items, dropped)?;
    }
    if let Some(list) = fields.array("tools")? {
        for (i, tool) in list.iter().enumerate() {
            read_tool(&format!("tools[{i}]"), tool, &mut c.tools, dropped)?;
        }
    }
    if let Some(choice) = fields.object("tool_choice")? {
        c.tool_choice = match choice.get("type").and_then(Value::as_str) {
            Some("auto") => Some(ToolChoice::Auto),
            Some("any") => Some(ToolChoice::Required),
            Some("none") => Some(ToolChoice::None),
            Some("tool") => Some(ToolChoice::Named(
                req_str(choice, "name", "tool_choice")?.to_owned(),
            )),
            other => {
                dropped.add_in("tool_choice", other.unwrap_or("?"));
                None
            }
        };
        if choice
            .get("disable_parallel_tool_use")
            .and_then(Value::as_bool)
            == Some(true)
        {
            c.parallel_tool_calls = Some(false);
        }
    }
    c.max_output_tokens = fields.count("max_tokens")?;
    c.stop = fields.strings("stop_sequences")?;
    c.temperature = fields.number("temperature")?;
    c.top_p = fields.number("top_p")?;
    c.stream = fields.boolean("stream")?.unwrap_or(false);
    if let Some(thinking) = fields.object("thinking")? {
        c.reasoning = match thinking.get("type").and_then(Value::as_str) {
            Some("enabled") => Some(
                match thinking.get("budget_tokens").and_then(Value::as_u64) {
                    Some(budget) => Reasoning::Budget(budget),
                    None => Reasoning::Auto,
                },
            ),
            Some("adaptive") => Some(Reasoning::Auto),
            Some("disabled") => Some(Reasoning::Off),
            other => {
                dropped.add_in("thinking", other.unwrap_or("?"));
                None
            }
        };
        dropped.rest("thinking", thinking, &["type", "budget_tokens"]);
    }
    if let Some(config) = fields.object("output_config")? {
        if let Some(word) = opt_str(config, "effort", "output_config")? {
            match Reasoning::from_word(word) {
                // Thinking turned off stays off, whatever the effort.
                _ if c.reasoning == Some(Reasoning::Off) => {}
                Some(reasoning) => c.reasoning = Some(reasoning),
                None => dropped.add("output_config.effort"),
            }
        }
        if let Some(format) = config.get("format").filter(|f| !f.is_null()) {
            let format = object(format, "output_config.format")?;
            match format.get("type").and_then(Value::as_str) {
                Some("json_schema") => {
                    c.format = Some(Format::JsonSchema {
                        name: "answer".to_owned(),
                        schema: format.get("schema").cloned(),
                        strict: None,
                        description: None,
                    })
                }
                other => dropped.add_in("output_config.format", other.unwrap_or("?")),
            }
        }
        dropped.rest("output_config", config, &["effort", "format"]);
    }
    Ok(c)
}

fn note_cache_control(block: &Map<String, Value>, dropped: &mut Dropped) {
    if block.get("cache_control").is_some_and(|c| !c.is_null()) {
        dropped.add("cache_control");
    }
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
    let blocks = match object.get("content") {
        Some(Value::String(text)) => {
            items.push(match role {
                "assistant" => Item::Assistant(text.clone()),
                "system" => Item::System(text.clone()),
                _ => Item::User(vec![Part::Text(text.clone())]),
            });
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        _ => {
            return Err(TranslateError::invalid(
                &content_path,
                "must be a string or an array",
            ));
        }
    };
    // User content waiting to become an item, so that text, images and tool results keep order.
    let mut parts = Vec::new();
    let flush = |parts: &mut Vec<Part>, items: &mut Vec<Item>| {
        if !parts.is_empty() {
            items.push(Item::User(std::mem::take(parts)));
        }
    };
    for (j, block) in blocks.iter().enumerate() {
        let block_path = format!("{content_path}[{j}]");
        let block = as_object_at(block, &block_path)?;
        note_cache_control(block, dropped);
        let kind = block.get("type").and_then(Value::as_str);
        match (role, kind) {
            ("assistant", Some("text")) => items.push(Item::Assistant(
                req_str(block, "text", &block_path)?.to_owned(),
            )),
            ("system", Some("text")) => items.push(Item::System(
                req_str(block, "text", &block_path)?.to_owned(),
            )),
            ("assistant", Some("thinking")) => {
                let text = opt_str(block, "thinking", &block_path)?.unwrap_or_default();
                let signature = opt_str(block, "signature", &block_path)?.unwrap_or_default();
                items.push(Item::Thought(Thought {
                    text: text.to_owned(),
                    sealed: Some(Sealed::from_thinking(text, signature)),
                }));
            }
            ("assistant", Some("redacted_thinking")) => {
                let data = opt_str(block, "data", &block_path)?.unwrap_or_default();
                items.push(Item::Thought(Thought {
                    text: String::new(),
                    sealed: Some(Sealed::from_redacted(data)),
                }));
            }
            ("assistant", Some("tool_use")) => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                items.push(Item::Call(Call {
                    id: req_str(block, "id", &block_path)?.to_owned(),
                    name: req_str(block, "name", &block_path)?.to_owned(),
                    namespace: None,
                    input: CallInput::Json(input.to_string()),
                }));
            }
            (_, Some("tool_result")) => {
                flush(&mut parts, items);
                let mut content = Vec::new();
                match block.get("content") {
                    None | Some(Value::Null) => {}
                    Some(Value::String(text)) => content.push(Part::Text(text.clone())),
                    Some(Value::Array(inner)) => {
                        for (k, item) in inner.iter().enumerate() {
                            let item_path = format!("{block_path}.content[{k}]");
                            let item = as_object_at(item, &item_path)?;
                            read_content(&item_path, item, &mut content, dropped)?;
                        }
                    }
                    Some(_) => {
                        return Err(TranslateError::invalid(
                            &format!("{block_path}.content"),
                            "must be a string or an array",
                        ));
                    }
                }
                items.push(Item::Result(ToolResult {
                    id: req_str(block, "tool_use_id", &block_path)?.to_owned(),
                    content,
                    is_error: block.get("is_error").and_then(Value::as_bool) == Some(true),
                }));
            }
            ("assistant" | "system", other) => {
                dropped.add_in("messages.content", other.unwrap_or("?"))
            }
            (_, _) => read_content(&block_path, block, &mut parts, dropped)?,
        }
    }
    flush(&mut parts, items);
    Ok(())
}

/// A content block of user or tool-result content: text, an image, a document.
fn read_content(
    path: &str,
    block: &Map<String, Value>,
    parts: &mut Vec<Part>,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => parts.push(Part::Text(req_str(block, "text", path)?.to_owned())),
        Some("image") => match read_source(block, path)? {
            Some(Source::Base64 { media_type, data }) => parts.push(Part::Image(Image {
                source: ImageSource::Data { media_type, data },
                detail: None,
            })),
            Some(Source::Url(url)) => parts.push(Part::Image(Image {
                source: ImageSource::Url(url),
                detail: None,
            })),
            Some(Source::Text(_)) | None => dropped.add("image.source"),
        },
        Some("document") => match read_source(block, path)? {
            Some(Source::Base64 { media_type, data }) => parts.push(Part::File(File {
                filename: opt_str(block, "title", path)?.map(str::to_owned),
                media_type,
                data,
            })),
            Some(Source::Text(text)) => parts.push(Part::Text(text)),
            Some(Source::Url(_)) | None => dropped.add("document.source"),
        },
        Some("tool_reference") => {
            let name = opt_str(block, "tool_name", path)?.unwrap_or_default();
            parts.push(Part::Text(format!("Tool loaded: {name}")));
        }
        other => dropped.add_in("messages.content", other.unwrap_or("?")),
    }
    Ok(())
}

enum Source {
    Base64 { media_type: String, data: String },
    Url(String),
    Text(String),
}

fn read_source(block: &Map<String, Value>, path: &str) -> Result<Option<Source>, TranslateError> {
    let source_path = format!("{path}.source");
    let Some(source) = block.get("source").and_then(Value::as_object) else {
        return Err(TranslateError::invalid(&source_path, "is required"));
    };
    let field = |key: &str| req_str(source, key, &source_path).map(str::to_owned);
    Ok(match source.get("type").and_then(Value::as_str) {
        Some("base64") => Some(Source::Base64 {
            media_type: field("media_type")?,
            data: field("data")?,
        }),
        Some("url") => Some(Source::Url(field("url")?)),
        Some("text") => Some(Source::Text(field("data")?)),
        _ => None,
    })
}

fn read_tool(
    path: &str,
    tool: &Value,
    tools: &mut Vec<Tool>,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    let object = as_object_at(tool, path)?;
    match object.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "custom" => {}
        // Server tools (web search, code execution, …) run at Anthropic.
        Some(other) => {
            dropped.add_in("tools", other.as_str().unwrap_or("?"));
            return Ok(());
        }
    }
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "type" | "name" | "description" | "input_schema" | "strict"
        ) {
            dropped.add_in("tools", key);
        }
    }
    tools.push(Tool {
        name: req_str(object, "name", path)?.to_owned(),
        description: opt_str(object, "description", path)?.map(str::to_owned),
        namespace: None,
        kind: ToolKind::Function {
            parameters: object
                .get("input_schema")
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            strict: object.get("strict").and_then(Value::as_bool),
        },
    });
    Ok(())
}

/// A conversation → a Messages request for `target`.
pub(super) fn write_request(
    c: Conversation,
    target: &Target,
    dropped: &mut Dropped,
) -> Result<Map<String, Value>, TranslateError> {
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(target.model));
    let mut system = c.system;
    let mut turns = turns(c.items, &mut system);
    let system = system.join("\n\n");
    if !system.is_empty() {
        out.insert("system".to_owned(), json!(system));
    }
    let thinking_allowed = thinking_allowed(&turns);
    if !c.tools.is_empty() {
        let tools = c.tools.into_iter().map(write_tool).collect();
        out.insert("tools".to_owned(), Value::Array(tools));
    }
    let mut choice = c.tool_choice.map(|choice| match choice {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Named(name) => json!({"type": "tool", "name": name}),
    });
    if c.parallel_tool_calls == Some(false) {
        let choice = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
    }
    let forced_tool = choice
        .as_ref()
        .is_some_and(|c| c["type"] == "any" || c["type"] == "tool");
    if let Some(choice) = choice {
        out.insert("tool_choice".to_owned(), choice);
    }

    let mut max_tokens = target
        .output_limit(c.max_output_tokens)
        .or(target.max_output_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    let budget = match c.reasoning {
        // Models that do not think refuse the setting.
        _ if !target.reasons => None,
        Some(Reasoning::Budget(budget)) => Some(budget.max(MIN_THINKING_BUDGET)),
        Some(Reasoning::Effort(Effort::Minimal)) | Some(Reasoning::Off) | None => None,
        Some(Reasoning::Effort(effort)) => Some(effort.budget()),
        Some(Reasoning::Auto) => Some(Effort::Medium.budget()),
    };
    let asked = c.reasoning.is_some_and(|r| !matches!(r, Reasoning::Off));
    let mut thinking = budget.filter(|_| !forced_tool && thinking_allowed);
    if let Some(budget) = thinking
        && budget >= max_tokens
    {
        // Room for the thinking on top of the answer, within the model's limit if known.
        max_tokens = max_tokens
            .saturating_add(budget)
            .min(target.max_output_tokens.unwrap_or(u64::MAX));
        if budget >= max_tokens {
            thinking = Some(max_tokens / 2).filter(|b| *b >= MIN_THINKING_BUDGET);
        }
    }
    if asked && thinking.is_none() && c.reasoning != Some(Reasoning::Effort(Effort::Minimal)) {
        dropped.add("reasoning");
    }
    if let Some(budget) = thinking {
        out.insert(
            "thinking".to_owned(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    } else {
        // Without thinking on, Anthropic's thinking blocks must not be sent.
        for turn in &mut turns {
            turn.blocks
                .retain(|b| !matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")));
        }
        turns.retain(|t| !t.blocks.is_empty());
    }
    out.insert(
        "messages".to_owned(),
        Value::Array(
            turns
                .into_iter()
                .map(|t| json!({"role": t.role.name(), "content": t.blocks}))
                .collect(),
        ),
    );
    out.insert("max_tokens".to_owned(), json!(max_tokens));
    let sampling = [
        ("temperature", c.temperature.map(|t| t.clamp(0.0, 1.0))),
        ("top_p", c.top_p),
    ];
    for (key, value) in sampling {
        match value {
            Some(_) if thinking.is_some() => dropped.add(key),
            Some(value) => {
                out.insert(key.to_owned(), json!(value));
            }
            None => {}
        }
    }
    if !c.stop.is_empty() {
        out.insert("stop_sequences".to_owned(), json!(c.stop));
    }
    if c.format.is_some() {
        dropped.add("format");
    }
    if let Some(user) = c.user {
        out.insert("metadata".to_owned(), json!({ "user_id": user }));
    }
    if c.stream {
        out.insert("stream".to_owned(), json!(true));
    }
    Ok(out)
}

/// The conversation's items as Anthropic turns; system and developer instructions join
/// `system`.
fn turns(items: Vec<Item>, system: &mut Vec<String>) -> Vec<Turn> {
    let mut turns: Vec<Turn> = Vec::new();
    for item in items {
        match item {
            Item::System(text) => system.push(text),
            Item::User(parts) => push(&mut turns, Role::User, user_blocks(&parts)),
            Item::Assistant(text) if text.is_empty() => {}
            Item::Assistant(text) => push(
                &mut turns,
                Role::Assistant,
                vec![json!({"type": "text", "text": text})],
            ),
            Item::Thought(thought) => match thought.sealed {
                Some(Sealed::Thinking {
                    thinking,
                    signature,
                }) => push(
                    &mut turns,
                    Role::Assistant,
                    vec![json!({"type": "thinking", "thinking": thinking, "signature": signature})],
                ),
                Some(Sealed::Redacted { data }) => push(
                    &mut turns,
                    Role::Assistant,
                    vec![json!({"type": "redacted_thinking", "data": data})],
                ),
                // Reasoning of another provider: Anthropic cannot read it.
                Some(Sealed::Encrypted { .. }) | None => {}
            },
            Item::Call(call) => {
                // A call made earlier stays in the conversation even if the model wrote broken
                // arguments then: they are kept as text rather than failing every later turn.
                let arguments = call.input.as_json_text();
                let input = parse_arguments(&arguments)
                    .unwrap_or_else(|| json!({ CUSTOM_INPUT: arguments }));
                push(
                    &mut turns,
                    Role::Assistant,
                    vec![json!({
                        "type": "tool_use", "id": tool_id(&call.id), "name": call.name, "input": input,
                    })],
                );
            }
            Item::Result(result) => {
                let mut block = json!({"type": "tool_result", "tool_use_id": tool_id(&result.id)});
                let only_text = result.content.iter().all(|p| matches!(p, Part::Text(_)));
                if only_text {
                    let text = result.text();
                    if !text.is_empty() {
                        block["content"] = json!(text);
                    }
                } else {
                    block["content"] = Value::Array(user_blocks(&result.content));
                }
                if result.is_error {
                    block["is_error"] = json!(true);
                }
                push(&mut turns, Role::User, vec![block]);
            }
        }
    }
    turns
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

struct Turn {
    role: Role,
    blocks: Vec<Value>,
}

/// Adds blocks to the last turn when it has the same role, else opens a turn. In a user turn
/// tool results go first.
fn push(turns: &mut Vec<Turn>, role: Role, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some(last) if last.role == role => {
            last.blocks.extend(blocks);
            if role == Role::User {
                last.blocks
                    .sort_by_key(|b| b["type"].as_str() != Some("tool_result"));
            }
        }
        _ => turns.push(Turn { role, blocks }),
    }
}

/// Whether thinking may be turned on: not while a tool loop goes on (the last assistant turn
/// called tools and the turn after it brings their results) unless that assistant turn opens
/// with a thinking block Anthropic signed.
fn thinking_allowed(turns: &[Turn]) -> bool {
    let Some(last_assistant) = turns.iter().rposition(|t| t.role == Role::Assistant) else {
        return true;
    };
    let turn = &turns[last_assistant];
    let calls_tools = turn.blocks.iter().any(|b| b["type"] == "tool_use");
    let results_follow = turns[last_assistant + 1..]
        .iter()
        .any(|t| t.blocks.iter().any(|b| b["type"] == "tool_result"));
    if !(calls_tools && results_follow) {
        return true;
    }
    matches!(
        turn.blocks.first().and_then(|b| b["type"].as_str()),
        Some("thinking" | "redacted_thinking")
    )
}

fn user_blocks(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|part| match part {
            Part::Text(text) if text.is_empty() => None,
            Part::Text(text) => Some(json!({"type": "text", "text": text})),
            Part::Image(image) => Some(match &image.source {
                ImageSource::Data { media_type, data } => json!({
                    "type": "image",
                    "source": {"type": "base64", "media_type": media_type, "data": data},
                }),
                ImageSource::Url(url) => {
                    json!({"type": "image", "source": {"type": "url", "url": url}})
                }
            }),
            Part::File(file) => {
                let mut block = json!({
                    "type": "document",
                    "source": {"type": "base64", "media_type": file.media_type, "data": file.data},
                });
                if let Some(name) = &file.filename {
                    block["title"] = json!(name);
                }
                Some(block)
            }
        })
        .collect()
}

fn write_tool(tool: Tool) -> Value {
    let (schema, description) = match tool.kind {
        ToolKind::Function { parameters, .. } => (parameters, tool.description),
        ToolKind::Custom { format } => (
            custom_schema(),
            custom_description(tool.description, format.as_ref()),
        ),
    };
    let mut out = json!({"name": tool.name, "input_schema": schema});
    if let Some(description) = description {
        out["description"] = json!(description);
    }
    out
}

/// A tool-call id as Anthropic accepts it: letters, digits, `_` and `-`.
fn tool_id(id: &str) -> String {
    let id = identifier(id);
    if id.is_empty() {
        "toolu_0".to_owned()
    } else {
        id
    }
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

// ---------------------------------------------------------------------------------------------
// Answers

/// A whole Messages body → an answer.
pub(super) fn read_answer(body: &Map<String, Value>) -> Result<Answer, TranslateError> {
    let blocks = body
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TranslateError::invalid("content", "is missing from the provider's response")
        })?;
    let mut pieces = Vec::new();
    for block in blocks {
        let text = |key: &str| {
            block
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        match block.get("type").and_then(Value::as_str) {
            Some("text") => pieces.push(Piece::Text(text("text"))),
            Some("thinking") => pieces.push(Piece::Thought(Thought {
                sealed: Some(Sealed::Thinking {
                    thinking: text("thinking"),
                    signature: text("signature"),
                }),
                text: text("thinking"),
            })),
            Some("redacted_thinking") => pieces.push(Piece::Thought(Thought {
                text: String::new(),
                sealed: Some(Sealed::Redacted { data: text("data") }),
            })),
            Some("tool_use") => {
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                pieces.push(Piece::Call(Call {
                    id: text("id"),
                    name: text("name"),
                    namespace: None,
                    input: CallInput::Json(input.to_string()),
                }));
            }
            // Server tool blocks ran at Anthropic; their results are in the text.
            _ => {}
        }
    }
    Ok(Answer {
        id: id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0")).to_owned(),
        created: None,
        pieces,
        stop: Stop::from_messages(
            body.get("stop_reason")
                .and_then(Value::as_str)
                .unwrap_or("end_turn"),
        ),
        usage: body.get("usage").and_then(from_messages),
    })
}

/// An answer → a whole Messages body.
pub(super) fn write_answer(answer: &Answer, client_model: &str) -> Result<Value, TranslateError> {
    let mut content = Vec::with_capacity(answer.pieces.len());
    for (j, piece) in answer.pieces.iter().enumerate() {
        match piece {
            Piece::Thought(thought) => content.push(thinking_block(thought)),
            Piece::Text(text) if text.is_empty() => {}
            Piece::Text(text) => content.push(json!({"type": "text", "text": text})),
            Piece::Call(call) => {
                let input = parse_arguments(&call.input.as_json_text()).ok_or_else(|| {
                    TranslateError::invalid(
                        &format!("tool call {j}: arguments"),
                        "from the provider are not a JSON object",
                    )
                })?;
                content.push(json!({"type": "tool_use", "id": tool_id(&call.id), "name": call.name, "input": input}));
            }
        }
    }
    Ok(json!({
        "id": format!("msg_{}", answer.id),
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": answer.stop.to_messages(),
        "stop_sequence": null,
        "usage": answer.usage.unwrap_or_default().to_messages(),
    }))
}

/// A thinking block for a Messages client: with the provider's seal as its signature (packed
/// when another provider made it); reasoning nobody sealed gets an empty signature, and sealed
/// reasoning without text is a redacted block.
pub(super) fn thinking_block(thought: &Thought) -> Value {
    match &thought.sealed {
        Some(Sealed::Redacted { data }) => json!({"type": "redacted_thinking", "data": data}),
        Some(sealed) if thought.text.is_empty() && !matches!(sealed, Sealed::Thinking { .. }) => {
            json!({"type": "redacted_thinking", "data": sealed.for_client(Wire::Messages)})
        }
        Some(sealed) => json!({
            "type": "thinking", "thinking": thought.text, "signature": sealed.for_client(Wire::Messages),
        }),
        None => json!({"type": "thinking", "thinking": thought.text, "signature": ""}),
    }
}
