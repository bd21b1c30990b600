//! Token usage: read from each format's responses and final stream events, written back in each.
//!
//! OpenAI counts cached tokens inside `prompt_tokens`/`input_tokens`; Anthropic's
//! `input_tokens` leaves out `cache_read_input_tokens` and `cache_creation_input_tokens`.
//! [`Usage::input`] is always the whole input.

use serde_json::{Value, json};

use super::Wire;

/// Tokens of one request, normalised across formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// All input tokens, cached and cache-writing ones included.
    pub input: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input: u64,
    /// Input tokens written to the provider's prompt cache.
    pub cache_creation: u64,
    /// All output tokens, reasoning included.
    pub output: u64,
    /// Output tokens spent on reasoning.
    pub reasoning: u64,
}

/// Usage from a non-streamed response body, or from the event of a stream that carries it:
/// a Chat chunk with `usage`, a Responses `response.completed`/`incomplete`/`failed` event,
/// an Anthropic `message_start` (input side) or `message_delta` (output side, plus any input
/// counts it repeats). `None` when the body has no usage object.
pub fn usage_from_response(wire: Wire, body: &Value) -> Option<Usage> {
    match wire {
        Wire::Chat | Wire::Completions => from_chat(body.get("usage")?),
        Wire::Responses => {
            let usage = body
                .get("usage")
                .filter(|u| u.is_object())
                .or_else(|| body.get("response")?.get("usage"))?;
            from_responses(usage)
        }
        Wire::Messages => {
            let usage = body
                .get("usage")
                .filter(|u| u.is_object())
                .or_else(|| body.get("message")?.get("usage"))?;
            from_messages(usage)
        }
    }
}

fn count(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// `usage` of a Chat Completions (or legacy Completions) body or chunk.
pub(super) fn from_chat(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let cached = match usage
        .pointer("/prompt_tokens_details/cached_tokens")
        .and_then(Value::as_u64)
    {
        Some(n) => n,
        // DeepSeek reports its cache hits under its own name.
        None => count(usage, "/prompt_cache_hit_tokens"),
    };
    Some(Usage {
        input: count(usage, "/prompt_tokens"),
        cached_input: cached,
        cache_creation: 0,
        output: count(usage, "/completion_tokens"),
        reasoning: count(usage, "/completion_tokens_details/reasoning_tokens"),
    })
}

/// `usage` of a Responses object.
pub(super) fn from_responses(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    Some(Usage {
        input: count(usage, "/input_tokens"),
        cached_input: count(usage, "/input_tokens_details/cached_tokens"),
        cache_creation: 0,
        output: count(usage, "/output_tokens"),
        reasoning: count(usage, "/output_tokens_details/reasoning_tokens"),
    })
}

/// `usage` of an Anthropic message: `input_tokens` excludes the cache counts, so they are added.
pub(super) fn from_messages(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let cached = count(usage, "/cache_read_input_tokens");
    let creation = count(usage, "/cache_creation_input_tokens");
    Some(Usage {
        input: count(usage, "/input_tokens")
            .saturating_add(cached)
            .saturating_add(creation),
        cached_input: cached,
        cache_creation: creation,
        output: count(usage, "/output_tokens"),
        reasoning: 0,
    })
}

/// Folds an Anthropic `message_delta` usage into what `message_start` gave: the delta's counts
/// are cumulative, and input counts it leaves out keep their earlier value.
pub(super) fn merge_messages_delta(before: Usage, delta: &Value) -> Usage {
    let mut raw = json!({
        "input_tokens": before.input.saturating_sub(before.cached_input).saturating_sub(before.cache_creation),
        "cache_read_input_tokens": before.cached_input,
        "cache_creation_input_tokens": before.cache_creation,
        "output_tokens": before.output,
    });
    if let (Some(raw), Some(delta)) = (raw.as_object_mut(), delta.as_object()) {
        for key in [
            "input_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "output_tokens",
        ] {
            if let Some(n) = delta.get(key).filter(|v| v.as_u64().is_some()) {
                raw.insert(key.to_owned(), n.clone());
            }
        }
    }
    from_messages(&raw).unwrap_or(before)
}

impl Usage {
    /// The Chat Completions `usage` object.
    pub fn to_chat(&self) -> Value {
        json!({
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.input.saturating_add(self.output),
            "prompt_tokens_details": {"cached_tokens": self.cached_input},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning},
        })
    }

    /// The legacy Completions `usage` object.
    pub fn to_completions(&self) -> Value {
        json!({
            "prompt_tokens": self.input,
            "completion_tokens": self.output,
            "total_tokens": self.input.saturating_add(self.output),
        })
    }

    /// The Responses `usage` object.
    pub fn to_responses(&self) -> Value {
        json!({
            "input_tokens": self.input,
            "input_tokens_details": {"cached_tokens": self.cached_input},
            "output_tokens": self.output,
            "output_tokens_details": {"reasoning_tokens": self.reasoning},
            "total_tokens": self.input.saturating_add(self.output),
        })
    }

    /// The Anthropic `usage` object: uncached input apart from cache reads and writes.
    pub fn to_messages(&self) -> Value {
        json!({
            "input_tokens": self.input.saturating_sub(self.cached_input).saturating_sub(self.cache_creation),
            "cache_creation_input_tokens": self.cache_creation,
            "cache_read_input_tokens": self.cached_input,
            "output_tokens": self.output,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_usage_includes_cached_in_prompt_tokens() {
        let body = json!({"usage": {
            "prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024},
            "completion_tokens_details": {"reasoning_tokens": 200}
        }});
        let usage = usage_from_response(Wire::Chat, &body).unwrap();
        assert_eq!(
            usage,
            Usage {
                input: 1200,
                cached_input: 1024,
                cache_creation: 0,
                output: 300,
                reasoning: 200
            }
        );
        assert_eq!(usage_from_response(Wire::Completions, &body), Some(usage));
    }

    #[test]
    fn deepseek_cache_hits_count_as_cached() {
        let body = json!({"usage": {"prompt_tokens": 100, "completion_tokens": 5, "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36}});
        let usage = usage_from_response(Wire::Chat, &body).unwrap();
        assert_eq!(usage.cached_input, 64);
        assert_eq!(usage.input, 100);
    }

    #[test]
    fn responses_usage_from_body_and_from_final_event() {
        let usage = json!({
            "input_tokens": 5000, "input_tokens_details": {"cached_tokens": 4096},
            "output_tokens": 900, "output_tokens_details": {"reasoning_tokens": 640},
            "total_tokens": 5900
        });
        let expected = Usage {
            input: 5000,
            cached_input: 4096,
            cache_creation: 0,
            output: 900,
            reasoning: 640,
        };
        assert_eq!(
            usage_from_response(Wire::Responses, &json!({"usage": usage})),
            Some(expected)
        );
        let event = json!({"type": "response.completed", "response": {"usage": usage}});
        assert_eq!(usage_from_response(Wire::Responses, &event), Some(expected));
        let event = json!({"type": "response.completed", "response": {"usage": null}});
        assert_eq!(usage_from_response(Wire::Responses, &event), None);
    }

    #[test]
    fn anthropic_input_excludes_cache_so_it_is_added() {
        let body = json!({"usage": {
            "input_tokens": 12, "cache_read_input_tokens": 20000,
            "cache_creation_input_tokens": 1500, "output_tokens": 410
        }});
        let usage = usage_from_response(Wire::Messages, &body).unwrap();
        assert_eq!(
            usage,
            Usage {
                input: 21512,
                cached_input: 20000,
                cache_creation: 1500,
                output: 410,
                reasoning: 0
            }
        );
        let start = json!({"type": "message_start", "message": {"usage": {"input_tokens": 3, "cache_read_input_tokens": 7, "output_tokens": 1}}});
        let usage = usage_from_response(Wire::Messages, &start).unwrap();
        assert_eq!(usage.input, 10);
        assert_eq!(usage.cached_input, 7);
    }

    #[test]
    fn anthropic_delta_usage_is_cumulative_and_keeps_earlier_input() {
        let start = from_messages(
            &json!({"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 1}),
        )
        .unwrap();
        let merged = merge_messages_delta(start, &json!({"output_tokens": 55}));
        assert_eq!(
            merged,
            Usage {
                input: 100,
                cached_input: 90,
                cache_creation: 0,
                output: 55,
                reasoning: 0
            }
        );
        let merged = merge_messages_delta(
            merged,
            &json!({"input_tokens": 12, "cache_creation_input_tokens": 8, "output_tokens": 60}),
        );
        assert_eq!(
            merged,
            Usage {
                input: 110,
                cached_input: 90,
                cache_creation: 8,
                output: 60,
                reasoning: 0
            }
        );
        assert_eq!(merge_messages_delta(merged, &json!("junk")), merged);
    }

    #[test]
    fn writers_round_trip_through_readers() {
        let usage = Usage {
            input: 21512,
            cached_input: 20000,
            cache_creation: 1500,
            output: 410,
            reasoning: 0,
        };
        assert_eq!(from_messages(&usage.to_messages()), Some(usage));
        let usage = Usage {
            input: 100,
            cached_input: 30,
            cache_creation: 0,
            output: 50,
            reasoning: 20,
        };
        assert_eq!(from_chat(&usage.to_chat()), Some(usage));
        assert_eq!(from_responses(&usage.to_responses()), Some(usage));
        assert_eq!(usage.to_chat()["total_tokens"], 150);
        assert_eq!(
            usage.to_completions(),
            json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150})
        );
    }

    #[test]
    fn garbage_usage_is_none_or_zero_never_a_panic() {
        for wire in [
            Wire::Chat,
            Wire::Responses,
            Wire::Messages,
            Wire::Completions,
        ] {
            assert_eq!(usage_from_response(wire, &json!(null)), None);
            assert_eq!(usage_from_response(wire, &json!({})), None);
            assert_eq!(usage_from_response(wire, &json!({"usage": null})), None);
            assert_eq!(usage_from_response(wire, &json!({"usage": [1]})), None);
            assert_eq!(usage_from_response(wire, &json!([{"usage": {}}])), None);
            let odd = json!({"usage": {"prompt_tokens": -5, "input_tokens": 1.5, "completion_tokens": "9", "output_tokens": u64::MAX, "cache_read_input_tokens": u64::MAX}});
            let _ = usage_from_response(wire, &odd);
        }
        let huge =
            json!({"usage": {"input_tokens": u64::MAX, "cache_read_input_tokens": u64::MAX}});
        assert_eq!(
            usage_from_response(Wire::Messages, &huge).unwrap().input,
            u64::MAX
        );
    }
}
