//! The shapes every format is read into and written from: a conversation (a request) and an
//! answer (a whole response). Each format module reads its own JSON into these and writes them
//! back out, so that any client format can meet any provider format through one reader and one
//! writer instead of a translator per pair.

use super::Stop;
use super::seal::Sealed;
use super::usage::Usage;

/// A request, as far as any format can say it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Conversation {
    /// The system prompt given apart from the conversation (`system`, `instructions`), in pieces.
    pub system: Vec<String>,
    pub items: Vec<Item>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_output_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub reasoning: Option<Reasoning>,
    pub format: Option<Format>,
    pub user: Option<String>,
}

/// One step of the conversation, in order.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item {
    /// A system or developer instruction given inside the conversation.
    System(String),
    User(Vec<Part>),
    /// Text the model wrote earlier.
    Assistant(String),
    /// Reasoning the model did earlier.
    Thought(Thought),
    Call(Call),
    Result(ToolResult),
}

/// A piece of user or tool-result content.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Text(String),
    Image(Image),
    /// A document given inline (a PDF, say), as base64.
    File(File),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Image {
    pub source: ImageSource,
    /// OpenAI's `detail` (`low`, `high`, `auto`).
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum ImageSource {
    /// An http(s) address.
    Url(String),
    /// Inline bytes, base64.
    Data { media_type: String, data: String },
}

impl ImageSource {
    /// A `data:` URL or an http(s) address, as OpenAI formats take images.
    pub fn to_url(&self) -> String {
        match self {
            ImageSource::Url(url) => url.clone(),
            ImageSource::Data { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }

    /// Reads a URL: `data:…;base64,…` becomes inline bytes, anything else stays an address.
    /// `None` for a `data:` URL that is not base64.
    pub fn from_url(url: &str) -> Option<ImageSource> {
        match url.strip_prefix("data:") {
            Some(rest) => {
                let (meta, data) = rest.split_once(',')?;
                let media_type = meta.strip_suffix(";base64")?;
                Some(ImageSource::Data {
                    media_type: media_type.to_owned(),
                    data: data.to_owned(),
                })
            }
            None => Some(ImageSource::Url(url.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct File {
    pub filename: Option<String>,
    pub media_type: String,
    /// base64
    pub data: String,
}

impl File {
    pub fn to_data_url(&self) -> String {
        format!("data:{};base64,{}", self.media_type, self.data)
    }
}

/// Reasoning the model did: its readable text (a summary, for OpenAI models) and, when a
/// provider signed or encrypted it, that provider's opaque form, to be given back to the same
/// kind of provider on the next turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Thought {
    pub text: String,
    pub sealed: Option<Sealed>,
}

/// A tool call, made by the model.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Call {
    pub id: String,
    pub name: String,
    /// The namespace the client declared the tool in (OpenAI's `namespace` tools).
    pub namespace: Option<String>,
    pub input: CallInput,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum CallInput {
    /// Arguments of a function tool: JSON text, an object when the model wrote well.
    Json(String),
    /// The free-form input of a custom (grammar) tool.
    Raw(String),
}

impl CallInput {
    /// The input as JSON text of an object: a custom tool's raw text is wrapped as `{"input": …}`,
    /// the shape it is declared with to providers that only know function tools.
    pub fn as_json_text(&self) -> String {
        match self {
            CallInput::Json(text) => text.clone(),
            CallInput::Raw(raw) => serde_json::json!({ CUSTOM_INPUT: raw }).to_string(),
        }
    }
}

/// The one parameter a custom tool gets when it is declared as a function tool.
pub(super) const CUSTOM_INPUT: &str = "input";

/// How a custom (free-form) tool is declared to providers that only know function tools: one
/// string parameter that carries the raw input.
pub(super) fn custom_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's whole raw input."}},
        "required": [CUSTOM_INPUT],
        "additionalProperties": false,
    })
}

/// A custom tool's description, with its grammar when it has one: the model has to write input
/// in it without the provider's help.
pub(super) fn custom_description(
    description: Option<String>,
    format: Option<&serde_json::Value>,
) -> Option<String> {
    let grammar = format.and_then(|f| {
        let definition = f.get("definition")?.as_str()?;
        let syntax = f
            .get("syntax")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("grammar");
        Some(format!(
            "The `{CUSTOM_INPUT}` must follow this {syntax} grammar:\n{definition}"
        ))
    });
    match (description, grammar) {
        (Some(d), Some(g)) => Some(format!("{d}\n\n{g}")),
        (d, g) => d.or(g),
    }
}

/// What a tool call gave back, sent by the client.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ToolResult {
    pub id: String,
    pub content: Vec<Part>,
    pub is_error: bool,
}

impl ToolResult {
    /// The text parts, joined by a blank line.
    pub fn text(&self) -> String {
        text_of(&self.content)
    }
}

/// The text parts of some content, joined by a blank line.
pub(super) fn text_of(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(text) => Some(text.as_str()),
            Part::Image(_) | Part::File(_) => None,
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// The namespace the client declared it in; the provider sees the bare name.
    pub namespace: Option<String>,
    pub kind: ToolKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum ToolKind {
    /// A function with a JSON-schema for its arguments.
    Function {
        parameters: serde_json::Value,
        strict: Option<bool>,
    },
    /// A tool whose input is free text, perhaps in a grammar (`format`).
    Custom { format: Option<serde_json::Value> },
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum ToolChoice {
    Auto,
    None,
    /// Some tool must be called.
    Required,
    /// This tool must be called.
    Named(String),
}

/// How hard the model should think.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Reasoning {
    /// No reasoning.
    Off,
    /// The model decides how much (Anthropic's `adaptive`).
    Auto,
    Effort(Effort),
    /// A token budget (Anthropic's `budget_tokens`).
    Budget(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effort {
    Minimal,
    Low,
    Medium,
    High,
    XHigh,
}

impl Effort {
    /// Reads an effort in any format's words (OpenAI's `reasoning.effort`/`reasoning_effort`,
    /// Anthropic's `output_config.effort`). `none` is `Some(None)`: no reasoning.
    pub fn parse(word: &str) -> Option<Option<Effort>> {
        Some(Some(match word {
            "none" => return Some(None),
            "minimal" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" => Effort::High,
            "xhigh" | "max" => Effort::XHigh,
            _ => return None,
        }))
    }

    pub fn as_openai(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::XHigh => "xhigh",
        }
    }

    /// A thinking budget in tokens for providers that want a number.
    pub fn budget(self) -> u64 {
        match self {
            Effort::Minimal => 1_024,
            Effort::Low => 2_048,
            Effort::Medium => 8_192,
            Effort::High => 24_576,
            Effort::XHigh => 32_768,
        }
    }

    /// The effort a budget stands for, by bands.
    pub fn of_budget(budget: u64) -> Effort {
        if budget < 4_096 {
            Effort::Low
        } else if budget < 16_384 {
            Effort::Medium
        } else {
            Effort::High
        }
    }
}

impl Reasoning {
    /// Reads an effort word (see [`Effort::parse`]); `None` for a word no format has.
    pub fn from_word(word: &str) -> Option<Reasoning> {
        Some(match Effort::parse(word)? {
            Some(effort) => Reasoning::Effort(effort),
            None => Reasoning::Off,
        })
    }

    /// The effort to ask an OpenAI-format provider for; `None` leaves it to the provider.
    pub fn effort(self) -> Option<Effort> {
        match self {
            Reasoning::Off | Reasoning::Auto => None,
            Reasoning::Effort(effort) => Some(effort),
            Reasoning::Budget(budget) => Some(Effort::of_budget(budget)),
        }
    }
}

/// A structured answer the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Format {
    JsonObject,
    JsonSchema {
        name: String,
        schema: Option<serde_json::Value>,
        strict: Option<bool>,
        description: Option<String>,
    },
}

/// A whole answer, as far as any format can say it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Answer {
    /// The provider's id without its format prefix.
    pub id: String,
    pub created: Option<u64>,
    pub pieces: Vec<Piece>,
    pub stop: Stop,
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Thought(Thought),
    Text(String),
    Call(Call),
}

impl Answer {
    pub fn text(&self) -> String {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Text(text) => Some(text.as_str()),
                Piece::Thought(_) | Piece::Call(_) => None,
            })
            .collect()
    }

    pub fn reasoning(&self) -> String {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Thought(t) => Some(t.text.as_str()),
                Piece::Text(_) | Piece::Call(_) => None,
            })
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    pub fn calls(&self) -> impl Iterator<Item = &Call> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Call(call) => Some(call),
            Piece::Thought(_) | Piece::Text(_) => None,
        })
    }
}
