//! OpenAI legacy Completions: a request's prompt read into a [`Conversation`] of one user
//! message, and a whole answer written back as a text completion.
//!
//! Choices: a prompt must be one string (or an array holding one string); several prompts or
//! token arrays are refused. The legacy default of 16 output tokens is not imposed: without
//! `max_tokens` the provider's default applies. The answer's reasoning and tool calls have no
//! place in a text completion and are left out.

use serde_json::{Value, json};

use super::ir::{Answer, Conversation, Item, Part};
use super::policy::Fields;
use super::{Target, TranslateError, now_secs};

/// A legacy Completions request → a conversation.
pub(super) fn read_request(
    fields: &Fields,
    target: &Target,
) -> Result<Conversation, TranslateError> {
    let prompt = match fields.get("prompt") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(items)) if items.len() == 1 => items
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::unsupported("prompt", None, target.wire))?,
        Some(Value::Array(_)) => {
            return Err(TranslateError::unsupported("prompt", None, target.wire));
        }
        _ => return Err(TranslateError::invalid("prompt", "must be a string")),
    };
    let mut c = Conversation {
        items: vec![Item::User(vec![Part::Text(prompt.to_owned())])],
        ..Conversation::default()
    };
    c.max_output_tokens = fields.count("max_tokens")?;
    c.temperature = fields.number("temperature")?;
    c.top_p = fields.number("top_p")?;
    c.stop = fields.strings("stop")?;
    c.user = fields.string("user")?.map(str::to_owned);
    c.stream = fields.boolean("stream")?.unwrap_or(false);
    Ok(c)
}

/// An answer → a whole text completion.
pub(super) fn write_answer(answer: &Answer, client_model: &str) -> Value {
    json!({
        "id": format!("cmpl-{}", answer.id),
        "object": "text_completion",
        "created": answer.created.unwrap_or_else(now_secs),
        "model": client_model,
        "choices": [{
            "text": answer.text(),
            "index": 0,
            "logprobs": null,
            "finish_reason": answer.stop.to_chat(),
        }],
        "usage": answer.usage.unwrap_or_default().to_completions(),
    })
}
