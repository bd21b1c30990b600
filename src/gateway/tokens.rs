//! Local token counts, for when an upstream reports no usage (the usage row is then marked
//! estimated) and for `count_tokens` without an Anthropic provider. The o200k_base encoding of
//! current OpenAI models stands in for every model: close, not exact, and said to be so.
//!
//! Tokenizing costs a few hundred nanoseconds a byte, and a request may carry tens of MiB, so a
//! count tokenizes at most [`EXACT_BYTES`] of text and extrapolates the rest at the rate it
//! measured; it runs on the blocking pool, a few at a time ([`off_thread`]), never on an async
//! worker or the usage writer.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;
use tokio::sync::Semaphore;

use crate::translate::Wire;
use crate::translate::sse::SseEvent;

fn encoder() -> Option<&'static CoreBPE> {
    static ENCODER: OnceLock<Option<CoreBPE>> = OnceLock::new();
    ENCODER
        .get_or_init(|| tiktoken_rs::o200k_base().ok())
        .as_ref()
}

/// Bytes of text one count tokenizes; beyond them tokens are extrapolated.
pub const EXACT_BYTES: usize = 1 << 20;

/// Bytes per token when nothing was tokenized to measure it on.
const BYTES_PER_TOKEN: u64 = 4;

/// A running count over the pieces of text of one request or answer.
struct Tally {
    /// Bytes that may still be tokenized.
    left: usize,
    bytes: u64,
    tokens: u64,
    skipped: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            left: EXACT_BYTES,
            bytes: 0,
            tokens: 0,
            skipped: 0,
        }
    }

    fn add(&mut self, text: &str) {
        let take = text.floor_char_boundary(self.left.min(text.len()));
        if take > 0 {
            let piece = &text[..take];
            self.tokens += match encoder() {
                Some(bpe) => bpe.encode_ordinary(piece).len() as u64,
                // Without the tables (never expected), the rule of thumb.
                None => (take as u64).div_ceil(BYTES_PER_TOKEN),
            };
            self.bytes += take as u64;
            self.left -= take;
        }
        self.skipped += (text.len() - take) as u64;
    }

    fn total(&self) -> u64 {
        if self.skipped == 0 {
            return self.tokens;
        }
        let extra = if self.tokens == 0 {
            self.skipped.div_ceil(BYTES_PER_TOKEN)
        } else {
            let scaled = u128::from(self.skipped) * u128::from(self.tokens);
            u64::try_from(scaled.div_ceil(u128::from(self.bytes))).unwrap_or(u64::MAX)
        };
        self.tokens.saturating_add(extra)
    }
}

pub fn count(text: &str) -> u64 {
    let mut tally = Tally::new();
    tally.add(text);
    tally.total()
}

/// A rough count from sizes alone, for when no thread is free to tokenize.
pub fn rough(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(BYTES_PER_TOKEN)
}

/// Counts running at once on the blocking pool: one per core.
fn counting_slots() -> &'static std::sync::Arc<Semaphore> {
    static SLOTS: OnceLock<std::sync::Arc<Semaphore>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        std::sync::Arc::new(Semaphore::new(cores))
    })
}

/// Runs a count on the blocking pool once a slot is free; `None` if the pool is gone.
pub async fn off_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let permit = counting_slots().clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .ok()
}

/// Like [`off_thread`] when a slot is free now; `None` when none is.
pub fn try_off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<tokio::task::JoinHandle<T>> {
    let permit = counting_slots().clone().try_acquire_owned().ok()?;
    let handle = tokio::runtime::Handle::try_current().ok()?;
    Some(handle.spawn_blocking(move || {
        let _permit = permit;
        work()
    }))
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
    fn walk(value: &Value, key: Option<&str>, total: &mut Tally) {
        match value {
            Value::String(s) if !key.is_some_and(|k| LABELS.contains(&k)) => total.add(s),
            Value::Array(items) => items.iter().for_each(|v| walk(v, None, total)),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| k.as_str() != "stream" && k.as_str() != "model")
                .for_each(|(k, v)| walk(v, Some(k), total)),
            _ => {}
        }
    }
    let mut tally = Tally::new();
    walk(body, None, &mut tally);
    tally.total()
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
    fn a_count_tokenizes_at_most_its_budget_and_extrapolates_the_rest() {
        let line = "fn main() { println!(\"hello\"); }\n";
        let exact = line.repeat(EXACT_BYTES / line.len());
        let huge = line.repeat(3 * EXACT_BYTES / line.len());
        let mut tally = Tally::new();
        tally.add(&huge);
        assert_eq!(
            tally.bytes, EXACT_BYTES as u64,
            "tokenized no more than the budget"
        );
        assert_eq!(tally.skipped, (huge.len() - EXACT_BYTES) as u64);
        let (one, three) = (count(&exact), tally.total());
        assert!(three.abs_diff(3 * one) <= one / 100, "{three} vs 3 × {one}");

        // One budget for the whole request, whichever strings it is spread over.
        let body = json!({"messages": [
            {"role": "user", "content": huge.clone()},
            {"role": "user", "content": huge},
        ]});
        let both = count_request(&body);
        assert!(
            both.abs_diff(6 * one) <= 6 * one / 100,
            "{both} vs 6 × {one}"
        );

        // A cut never splits a character.
        let wide = "é".repeat(EXACT_BYTES);
        assert!(count(&wide) > 0);
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
