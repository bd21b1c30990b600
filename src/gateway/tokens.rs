//! Local token counts, for when an upstream reports no usage (the usage row is then marked
//! estimated) and for `count_tokens` without an Anthropic provider. The o200k_base encoding of
//! current OpenAI models stands in for every model: close, not exact, and said to be so.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

use crate::translate::Wire;
use crate::translate::sse::SseEvent;

fn encoder() -> Option<&'static CoreBPE> {
    static ENCODER: OnceLock<Option<CoreBPE>> = OnceLock::new();
    ENCODER
        .get_or_init(|| tiktoken_rs::o200k_base().ok())
        .as_ref()
}

pub fn count(text: &str) -> u64 {
    match encoder() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        // Without the tables (never expected), about four characters make a token.
        None => text.len().div_ceil(4) as u64,
    }
}

/// Field names whose string values are labels, not text the model reads.
const LABELS: &[&str] = &[
    "model",
    "role",
    "type",
    "id",
    "tool_call_id",
    "call_id",
    "status",
    "stop_reason",
];

/// Tokens of every piece of text in a request (messages, system prompt, tool definitions).
pub fn count_request(body: &Value) -> u64 {
    fn walk(value: &Value, key: Option<&str>, total: &mut u64) {
        match value {
            Value::String(s) if !key.is_some_and(|k| LABELS.contains(&k)) => *total += count(s),
            Value::Array(items) => items.iter().for_each(|v| walk(v, None, total)),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| k.as_str() != "stream" && k.as_str() != "model")
                .for_each(|(k, v)| walk(v, Some(k), total)),
            _ => {}
        }
    }
    let mut total = 0;
    walk(body, None, &mut total);
    total
}

/// The text a client-format stream event adds to the answer, if any.
pub fn delta_text(wire: Wire, event: &SseEvent) -> Option<String> {
    let data: Value = serde_json::from_str(&event.data).ok()?;
    let text = match wire {
        Wire::Chat | Wire::Completions => {
            let choice = data.pointer("/choices/0")?;
            let delta = choice.get("delta").unwrap_or(choice);
            let mut text = String::new();
            for field in ["content", "reasoning_content", "text"] {
                if let Some(s) = delta.get(field).and_then(Value::as_str) {
                    text.push_str(s);
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    if let Some(s) = call.pointer("/function/arguments").and_then(Value::as_str) {
                        text.push_str(s);
                    }
                }
            }
            text
        }
        Wire::Responses => match data.get("type").and_then(Value::as_str) {
            Some(
                "response.output_text.delta"
                | "response.function_call_arguments.delta"
                | "response.reasoning_summary_text.delta",
            ) => data.get("delta")?.as_str()?.to_owned(),
            _ => return None,
        },
        Wire::Messages => {
            let delta = data.get("delta")?;
            ["text", "partial_json", "thinking"]
                .iter()
                .find_map(|f| delta.get(*f).and_then(Value::as_str))?
                .to_owned()
        }
    };
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_with_a_real_tokenizer() {
        assert_eq!(count(""), 0);
        let hello = count("Hello, world!");
        assert!((2..=6).contains(&hello), "{hello}");
        let body =
            json!({"model": "gpt-x", "messages": [{"role": "user", "content": "Hello, world!"}]});
        assert_eq!(count_request(&body), hello);
    }

    #[test]
    fn finds_the_text_of_stream_events() {
        let chat = SseEvent::data(json!({"choices": [{"delta": {"content": "Hi"}}]}).to_string());
        assert_eq!(delta_text(Wire::Chat, &chat).as_deref(), Some("Hi"));
        let responses = SseEvent::named(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "delta": "Yo"}).to_string(),
        );
        assert_eq!(
            delta_text(Wire::Responses, &responses).as_deref(),
            Some("Yo")
        );
        let messages = SseEvent::named(
            "content_block_delta",
            json!({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hey"}})
                .to_string(),
        );
        assert_eq!(
            delta_text(Wire::Messages, &messages).as_deref(),
            Some("Hey")
        );
        assert_eq!(delta_text(Wire::Chat, &SseEvent::data("[DONE]")), None);
    }
}
