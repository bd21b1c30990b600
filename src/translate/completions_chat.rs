//! Legacy Completions client → Chat Completions provider: the prompt becomes one user message.
//!
//! Choices: a prompt must be one string (or an array holding one string); several prompts or
//! token arrays are refused, as are `n` other than 1, `echo: true`, `logprobs`, a non-empty
//! `suffix` and `best_of` over 1, which have no Chat equivalent. The legacy default of 16
//! output tokens is not imposed: without `max_tokens` the provider's default applies. The
//! answer's reasoning, if any, is dropped: a text completion has no place for it.

use serde_json::{Map, Value, json};

use super::usage::from_chat;
use super::{
    TranslateError, Wire, chat_text, force_include_usage, id_tail, now_secs, opt_bool, opt_number,
    opt_u64,
};

const TARGET: Wire = Wire::Chat;

/// Legacy Completions request → Chat Completions request.
pub(super) fn request(body: &Map<String, Value>, model: &str) -> Result<Value, TranslateError> {
    let prompt = match body.get("prompt") {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Array(items)) if items.len() == 1 => items
            .first()
            .and_then(Value::as_str)
            .ok_or_else(|| TranslateError::unsupported("prompt", None, TARGET))?,
        Some(Value::Array(_)) => return Err(TranslateError::unsupported("prompt", None, TARGET)),
        _ => return Err(TranslateError::invalid("prompt", "must be a string")),
    };
    let mut out = Map::new();
    out.insert("model".to_owned(), json!(model));
    out.insert(
        "messages".to_owned(),
        json!([{"role": "user", "content": prompt}]),
    );
    for (key, value) in body {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "prompt" | "stream_options" => {}
            "max_tokens" | "seed" => {
                if let Some(n) = opt_u64(body, key, "")? {
                    out.insert(key.clone(), json!(n));
                }
            }
            "temperature" | "top_p" | "presence_penalty" | "frequency_penalty" => {
                if let Some(n) = opt_number(body, key, "")? {
                    out.insert(key.clone(), n.clone());
                }
            }
            "stop" => match value {
                Value::String(_) => {
                    out.insert(key.clone(), value.clone());
                }
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    out.insert(key.clone(), value.clone());
                }
                _ => {
                    return Err(TranslateError::invalid(
                        key,
                        "must be a string or a list of strings",
                    ));
                }
            },
            "logit_bias" => {
                if !value.is_object() {
                    return Err(TranslateError::invalid(key, "must be an object"));
                }
                out.insert(key.clone(), value.clone());
            }
            "user" => {
                if !value.is_string() {
                    return Err(TranslateError::invalid(key, "must be a string"));
                }
                out.insert(key.clone(), value.clone());
            }
            "stream" => {
                if opt_bool(body, key, "")? == Some(true) {
                    out.insert("stream".to_owned(), json!(true));
                    force_include_usage(&mut out);
                }
            }
            "n" | "best_of" => {
                if opt_u64(body, key, "")? != Some(1) {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "echo" => {
                if opt_bool(body, key, "")? == Some(true) {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            "suffix" => {
                if value.as_str() != Some("") {
                    return Err(TranslateError::unsupported(key, None, TARGET));
                }
            }
            _ => return Err(TranslateError::unsupported(key, None, TARGET)),
        }
    }
    Ok(Value::Object(out))
}

/// Chat Completions response → legacy Completions response.
pub(super) fn response(
    body: &Map<String, Value>,
    client_model: &str,
) -> Result<Value, TranslateError> {
    let choice = body
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            TranslateError::invalid("choices", "is missing from the provider's response")
        })?;
    let text = chat_text(choice.get("message").and_then(|m| m.get("content")));
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    let usage = body.get("usage").and_then(from_chat).unwrap_or_default();
    let tail = id_tail(body.get("id").and_then(Value::as_str).unwrap_or("0"));
    Ok(json!({
        "id": format!("cmpl-{tail}"),
        "object": "text_completion",
        "created": body.get("created").and_then(Value::as_u64).unwrap_or_else(now_secs),
        "model": client_model,
        "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
        "usage": usage.to_completions(),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{translate_request, translate_response};
    use super::*;

    fn to_chat(body: Value) -> Result<Value, TranslateError> {
        translate_request(Wire::Completions, Wire::Chat, &body, "qwen")
    }

    #[test]
    fn prompt_becomes_one_user_message_with_options() {
        let out = to_chat(json!({
            "model": "davinci", "prompt": "def add(a, b):", "max_tokens": 64, "stop": ["\n\n"],
            "temperature": 0, "top_p": 1, "n": 1, "stream": true, "echo": false, "logprobs": null,
            "suffix": "", "best_of": 1, "user": "u", "seed": 7, "presence_penalty": 0.1,
            "frequency_penalty": 0.2, "logit_bias": {"50256": -100}
        }))
        .unwrap();
        assert_eq!(
            out,
            json!({
                "model": "qwen", "messages": [{"role": "user", "content": "def add(a, b):"}],
                "max_tokens": 64, "stop": ["\n\n"], "temperature": 0, "top_p": 1, "stream": true,
                "stream_options": {"include_usage": true}, "user": "u", "seed": 7,
                "presence_penalty": 0.1, "frequency_penalty": 0.2, "logit_bias": {"50256": -100}
            })
        );
        let out = to_chat(json!({"prompt": ["only one"], "stop": "END"})).unwrap();
        assert_eq!(
            out,
            json!({"model": "qwen", "messages": [{"role": "user", "content": "only one"}], "stop": "END"})
        );
    }

    #[test]
    fn fields_without_a_chat_equivalent_are_named() {
        let cases = [
            (json!({"prompt": ["a", "b"]}), "prompt"),
            (json!({"prompt": [[1, 2, 3]]}), "prompt"),
            (json!({"prompt": "a", "n": 2}), "n"),
            (json!({"prompt": "a", "best_of": 3}), "best_of"),
            (json!({"prompt": "a", "echo": true}), "echo"),
            (json!({"prompt": "a", "logprobs": 5}), "logprobs"),
            (json!({"prompt": "a", "logprobs": 0}), "logprobs"),
            (json!({"prompt": "a", "suffix": "}\n"}), "suffix"),
            (json!({"prompt": "a", "tools": []}), "tools"),
        ];
        for (body, field) in cases {
            let err = to_chat(body).unwrap_err();
            assert_eq!(err.field, field);
            assert!(err.message.contains("Chat Completions"), "{}", err.message);
        }
        for body in [
            json!({}),
            json!({"prompt": 5}),
            json!({"prompt": "a", "stop": 1}),
            json!({"prompt": "a", "max_tokens": -2}),
            json!({"prompt": "a", "user": 1}),
            json!({"prompt": "a", "logit_bias": []}),
        ] {
            assert!(to_chat(body.clone()).is_err(), "{body}");
        }
    }

    #[test]
    fn chat_response_becomes_a_text_completion() {
        let chat = json!({
            "id": "chatcmpl-5", "created": 1700000001, "choices": [{"index": 0, "finish_reason": "length",
            "message": {"role": "assistant", "content": "    return a + b", "reasoning_content": "easy"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13}
        });
        let out = translate_response(Wire::Chat, Wire::Completions, &chat, "davinci").unwrap();
        assert_eq!(
            out,
            json!({
                "id": "cmpl-5", "object": "text_completion", "created": 1700000001, "model": "davinci",
                "choices": [{"text": "    return a + b", "index": 0, "logprobs": null, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 6, "total_tokens": 13}
            })
        );
        assert!(
            translate_response(Wire::Chat, Wire::Completions, &json!({"choices": "x"}), "m")
                .is_err()
        );
    }
}
