//! Tests of the stream translator: recorded-style upstream streams, fed through the SSE parser
//! in pieces of many sizes, must give the exact client event sequence and usage.

use serde_json::{Value, json};

use super::{Exchange, StreamTranslator, Usage, Wire};
use crate::translate::sse::{SseEvent, SseParser};

/// Raw upstream bytes: one `data:` event per JSON (or `[DONE]`), optionally named.
fn raw(events: &[(Option<&str>, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in events {
        let data = match data {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let event = match name {
            Some(name) => SseEvent::named(name, data),
            None => SseEvent::data(data),
        };
        out.extend(event.to_bytes());
    }
    out
}

fn translator(from: Wire, to: Wire) -> StreamTranslator {
    StreamTranslator::new(from, to, "client-model", "resp_t1", &Exchange::default())
        .with_created_at(1_700_000_000)
}

/// Feeds `bytes` split into `piece`-byte chunks; returns the client's events and the translator.
fn feed(from: Wire, to: Wire, bytes: &[u8], piece: usize) -> (Vec<SseEvent>, StreamTranslator) {
    let mut t = translator(from, to);
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    for chunk in bytes.chunks(piece) {
        for event in parser.push(chunk) {
            out.extend(t.on_event(&event));
        }
    }
    for event in parser.finish() {
        out.extend(t.on_event(&event));
    }
    (out, t)
}

/// Like [`feed`], checking that the split does not matter.
fn run(from: Wire, to: Wire, bytes: &[u8]) -> (Vec<SseEvent>, StreamTranslator) {
    let (whole, t) = feed(from, to, bytes, bytes.len().max(1));
    for piece in [1, 2, 5, 13, 64] {
        let (split, _) = feed(from, to, bytes, piece);
        assert_eq!(split, whole, "split into {piece}-byte pieces");
    }
    (whole, t)
}

fn names(events: &[SseEvent]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.event.as_deref().unwrap_or("data"))
        .collect()
}

fn data(event: &SseEvent) -> Value {
    serde_json::from_str(&event.data).unwrap_or_else(|_| Value::String(event.data.clone()))
}

fn chat_chunk(delta: Value, finish: Option<&str>) -> (Option<&'static str>, Value) {
    (
        None,
        json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up",
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]}),
    )
}

fn chat_usage(
    prompt: u64,
    completion: u64,
    cached: u64,
    reasoning: u64,
) -> (Option<&'static str>, Value) {
    (
        None,
        json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
               "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                         "prompt_tokens_details": {"cached_tokens": cached},
                         "completion_tokens_details": {"reasoning_tokens": reasoning}}}),
    )
}

fn chat_done() -> (Option<&'static str>, Value) {
    (None, json!("[DONE]"))
}

fn anthropic(name: &'static str, data: Value) -> (Option<&'static str>, Value) {
    (Some(name), data)
}

/// A recorded-style Anthropic stream: thinking, text, one tool call.
fn anthropic_tool_stream() -> Vec<(Option<&'static str>, Value)> {
    vec![
        anthropic(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_up", "type": "message", "role": "assistant", "model": "claude-sonnet-4", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100, "output_tokens": 1}}}),
        ),
        anthropic(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Need the weather."}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}}),
        ),
        anthropic(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        anthropic(
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        anthropic("ping", json!({"type": "ping"})),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Checking"}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " now."}}),
        ),
        anthropic(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        anthropic(
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {}}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"city\": \"Pa"}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "ris\"}"}}),
        ),
        anthropic(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        anthropic(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 85}}),
        ),
        anthropic("message_stop", json!({"type": "message_stop"})),
    ]
}

// ---------------------------------------------------------------------------------------------
// Chat provider → Responses client (Codex CLI)

#[test]
fn chat_to_responses_reasoning_then_text() {
    let upstream = raw(&[
        chat_chunk(
            json!({"role": "assistant", "content": null, "reasoning_content": ""}),
            None,
        ),
        chat_chunk(json!({"reasoning_content": "The user"}), None),
        chat_chunk(json!({"reasoning_content": " greets."}), None),
        chat_chunk(json!({"content": "Hello"}), None),
        chat_chunk(json!({"content": " there!"}), None),
        chat_chunk(json!({}), Some("stop")),
        chat_usage(12, 30, 0, 20),
        chat_done(),
    ]);
    let (out, t) = run(Wire::Chat, Wire::Responses, &upstream);
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, event) in out.iter().enumerate() {
        let d = data(event);
        assert_eq!(d["sequence_number"], i, "event {i}");
        assert_eq!(d["type"], event.event.as_deref().unwrap());
    }
    assert_eq!(
        data(&out[0]),
        json!({"type": "response.created", "sequence_number": 0, "response": {
            "id": "resp_t1", "object": "response", "created_at": 1_700_000_000, "status": "in_progress",
            "error": null, "incomplete_details": null, "model": "client-model", "output": [], "usage": null}})
    );
    assert_eq!(
        data(&out[2]),
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
               "item": {"id": "rs_t1_0", "type": "reasoning", "summary": []}})
    );
    assert_eq!(
        data(&out[4]),
        json!({"type": "response.reasoning_summary_text.delta", "sequence_number": 4, "item_id": "rs_t1_0",
               "output_index": 0, "summary_index": 0, "delta": "The user"})
    );
    assert_eq!(
        data(&out[9]),
        json!({"type": "response.output_item.added", "sequence_number": 9, "output_index": 1,
               "item": {"id": "msg_t1_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}})
    );
    assert_eq!(
        data(&out[10]),
        json!({"type": "response.content_part.added", "sequence_number": 10, "item_id": "msg_t1_1", "output_index": 1,
               "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})
    );
    assert_eq!(
        data(&out[11]),
        json!({"type": "response.output_text.delta", "sequence_number": 11, "item_id": "msg_t1_1", "output_index": 1,
               "content_index": 0, "delta": "Hello", "logprobs": []})
    );
    assert_eq!(
        data(&out[13]),
        json!({"type": "response.output_text.done", "sequence_number": 13, "item_id": "msg_t1_1", "output_index": 1,
               "content_index": 0, "text": "Hello there!", "logprobs": []})
    );
    let message = json!({"type": "message", "id": "msg_t1_1", "status": "completed", "role": "assistant",
                         "content": [{"type": "output_text", "text": "Hello there!", "annotations": []}]});
    let reasoning = json!({"type": "reasoning", "id": "rs_t1_0", "summary": [{"type": "summary_text", "text": "The user greets."}]});
    assert_eq!(data(&out[8])["item"], reasoning);
    assert_eq!(
        data(&out[15]),
        json!({"type": "response.output_item.done", "sequence_number": 15, "output_index": 1, "item": message})
    );
    assert_eq!(
        data(&out[16]),
        json!({"type": "response.completed", "sequence_number": 16, "response": {
            "id": "resp_t1", "object": "response", "created_at": 1_700_000_000, "status": "completed",
            "error": null, "incomplete_details": null, "model": "client-model",
            "output": [reasoning, message],
            "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 30,
                      "output_tokens_details": {"reasoning_tokens": 20}, "total_tokens": 42}}})
    );
    assert!(t.finished());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 12,
            cached_input: 0,
            cache_creation: 0,
            output: 30,
            reasoning: 20
        })
    );
}

#[test]
fn chat_to_responses_parallel_tool_calls() {
    let upstream = raw(&[
        chat_chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": "call_A", "type": "function", "function": {"name": "shell", "arguments": ""}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"command\":"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "[\"ls\"]}"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_B", "type": "function", "function": {"name": "shell", "arguments": "{}"}}]}),
            None,
        ),
        chat_chunk(json!({}), Some("tool_calls")),
        chat_usage(500, 40, 384, 0),
        chat_done(),
    ]);
    let (out, t) = run(Wire::Chat, Wire::Responses, &upstream);
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        data(&out[2]),
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": {
            "id": "fc_t1_0", "type": "function_call", "status": "in_progress", "call_id": "call_A", "name": "shell", "arguments": ""}})
    );
    assert_eq!(
        data(&out[3]),
        json!({"type": "response.function_call_arguments.delta", "sequence_number": 3, "item_id": "fc_t1_0", "output_index": 0, "delta": "{\"command\":"})
    );
    assert_eq!(
        data(&out[7]),
        json!({"type": "response.function_call_arguments.done", "sequence_number": 7, "item_id": "fc_t1_0", "output_index": 0, "arguments": "{\"command\":[\"ls\"]}"})
    );
    let first = json!({"type": "function_call", "id": "fc_t1_0", "status": "completed", "call_id": "call_A", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"});
    let second = json!({"type": "function_call", "id": "fc_t1_1", "status": "completed", "call_id": "call_B", "name": "shell", "arguments": "{}"});
    assert_eq!(data(&out[8])["item"], first);
    assert_eq!(data(&out[10])["item"], second);
    let completed = data(&out[11]);
    assert_eq!(completed["response"]["output"], json!([first, second]));
    assert_eq!(completed["response"]["status"], "completed");
    assert_eq!(
        completed["response"]["usage"]["input_tokens_details"]["cached_tokens"],
        384
    );
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 500,
            cached_input: 384,
            cache_creation: 0,
            output: 40,
            reasoning: 0
        })
    );
}

#[test]
fn chat_to_responses_text_then_tool_call_closes_the_message_first() {
    let upstream = raw(&[
        chat_chunk(
            json!({"role": "assistant", "content": "Let me run it."}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "shell", "arguments": "{}"}}]}),
            None,
        ),
        chat_chunk(json!({}), Some("tool_calls")),
        chat_done(),
    ]);
    let (out, t) = run(Wire::Chat, Wire::Responses, &upstream);
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let completed = data(&out[12]);
    assert_eq!(completed["response"]["output"][0]["type"], "message");
    assert_eq!(completed["response"]["output"][1]["call_id"], "call_1");
    // No usage chunk came: the response says so rather than inventing numbers.
    assert_eq!(completed["response"]["usage"], Value::Null);
    assert_eq!(t.usage(), None);
}

#[test]
fn chat_to_responses_length_is_incomplete() {
    let upstream = raw(&[
        chat_chunk(json!({"content": "Once upon"}), None),
        chat_chunk(json!({}), Some("length")),
        chat_usage(5, 2, 0, 0),
        chat_done(),
    ]);
    let (out, t) = run(Wire::Chat, Wire::Responses, &upstream);
    let last = out.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.incomplete"));
    let last = data(last);
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(
        last["response"]["output"][0]["content"][0]["text"],
        "Once upon"
    );
    assert!(t.finished());
}

#[test]
fn chat_to_responses_cut_mid_tool_call_fails_without_the_half_call() {
    let upstream = raw(&[
        chat_chunk(json!({"content": "Running."}), None),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "shell", "arguments": "{\"command\":[\"rm"}}]}),
            None,
        ),
    ]);
    let (mut out, mut t) = run(Wire::Chat, Wire::Responses, &upstream);
    assert!(!t.finished());
    out.extend(t.finish(Some("The model provider's stream broke off.")));
    assert!(t.finished());
    let last = out.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.failed"));
    let last = data(last);
    assert_eq!(last["response"]["status"], "failed");
    assert_eq!(
        last["response"]["error"],
        json!({"code": "server_error", "message": "The model provider's stream broke off."})
    );
    // The finished message is listed; the cut tool call is not, and was never marked done.
    assert_eq!(last["response"]["output"].as_array().unwrap().len(), 1);
    assert_eq!(last["response"]["output"][0]["type"], "message");
    assert!(
        !out.iter()
            .any(|e| e.event.as_deref() == Some("response.function_call_arguments.done"))
    );
    assert!(t.finish(None).is_empty());
    assert!(t.finish(Some("again")).is_empty());
    assert!(t.on_event(&SseEvent::data("[DONE]")).is_empty());
}

#[test]
fn chat_to_responses_clean_end_without_done_marker() {
    let upstream = raw(&[
        chat_chunk(json!({"content": "Hi"}), None),
        chat_chunk(json!({}), Some("stop")),
    ]);
    let (_, mut t) = run(Wire::Chat, Wire::Responses, &upstream);
    let out = t.finish(None);
    assert_eq!(
        names(&out),
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );

    // Without a finish reason, a clean-looking end is still an unfinished answer.
    let upstream = raw(&[chat_chunk(json!({"content": "Hi"}), None)]);
    let (_, mut t) = run(Wire::Chat, Wire::Responses, &upstream);
    let out = t.finish(None);
    assert_eq!(names(&out), ["response.failed"]);
    assert!(
        data(&out[0])["response"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended before")
    );
}

#[test]
fn chat_to_responses_upstream_error_chunk_fails_the_response() {
    let upstream = raw(&[
        chat_chunk(json!({"content": "Hi"}), None),
        (
            None,
            json!({"error": {"message": "Upstream overloaded", "type": "server_error"}}),
        ),
        chat_chunk(json!({"content": "ignored"}), None),
    ]);
    let (out, mut t) = run(Wire::Chat, Wire::Responses, &upstream);
    assert!(t.finished());
    let last = out.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.failed"));
    assert_eq!(
        data(last)["response"]["error"]["message"],
        "Upstream overloaded"
    );
    assert!(t.finish(None).is_empty());
}

#[test]
fn finishing_before_any_upstream_event_still_opens_and_closes() {
    let mut t = translator(Wire::Chat, Wire::Responses);
    let out = t.finish(Some("No answer."));
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    let mut t = translator(Wire::Chat, Wire::Messages);
    assert_eq!(
        names(&t.finish(Some("No answer."))),
        ["message_start", "error"]
    );
    let mut t = translator(Wire::Messages, Wire::Chat);
    let out = t.finish(Some("No answer."));
    assert_eq!(names(&out), ["data", "data", "data"]);
    assert_eq!(data(&out[1])["error"]["message"], "No answer.");
    assert_eq!(out[2].data, "[DONE]");
}

// ---------------------------------------------------------------------------------------------
// Chat provider → Messages client (Claude Code)

#[test]
fn chat_to_messages_thinking_text_and_tool_use() {
    let upstream = raw(&[
        chat_chunk(json!({"role": "assistant", "content": ""}), None),
        chat_chunk(json!({"reasoning_content": "List first."}), None),
        chat_chunk(json!({"content": "I'll list"}), None),
        chat_chunk(json!({"content": " the files."}), None),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_X", "type": "function", "function": {"name": "Bash", "arguments": ""}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"command\":"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"ls\"}"}}]}),
            None,
        ),
        chat_chunk(json!({}), Some("tool_calls")),
        chat_usage(2000, 60, 1500, 10),
        chat_done(),
    ]);
    let (out, t) = run(Wire::Chat, Wire::Messages, &upstream);
    let expected = vec![
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_t1", "type": "message", "role": "assistant", "model": "client-model", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "List first."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "I'll list"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " the files."}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "call_X", "name": "Bash", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"command\":"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "\"ls\"}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"input_tokens": 500, "cache_read_input_tokens": 1500, "cache_creation_input_tokens": 0, "output_tokens": 60}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    assert_eq!(out.len(), expected.len(), "{:?}", names(&out));
    for (event, (name, body)) in out.iter().zip(expected) {
        assert_eq!(event.event.as_deref(), Some(name));
        assert_eq!(data(event), body);
    }
    assert!(t.finished());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 2000,
            cached_input: 1500,
            cache_creation: 0,
            output: 60,
            reasoning: 10
        })
    );
}

#[test]
fn chat_to_messages_length_and_plain_end() {
    let upstream = raw(&[
        chat_chunk(json!({"content": "abc"}), None),
        chat_chunk(json!({}), Some("length")),
        chat_done(),
    ]);
    let (out, _) = run(Wire::Chat, Wire::Messages, &upstream);
    let delta = out
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(data(delta)["delta"]["stop_reason"], "max_tokens");
    assert_eq!(data(delta)["usage"]["output_tokens"], 0);

    let upstream = raw(&[
        chat_chunk(json!({"content": "abc"}), None),
        chat_chunk(json!({}), Some("stop")),
        chat_done(),
    ]);
    let (out, _) = run(Wire::Chat, Wire::Messages, &upstream);
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(data(&out[4])["delta"]["stop_reason"], "end_turn");
}

#[test]
fn chat_to_messages_cut_mid_way_sends_an_error_event() {
    let upstream = raw(&[chat_chunk(json!({"content": "Part"}), None)]);
    let (mut out, mut t) = run(Wire::Chat, Wire::Messages, &upstream);
    out.extend(t.finish(Some("The model provider's stream broke off.")));
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        data(out.last().unwrap()),
        json!({"type": "error", "error": {"type": "api_error", "message": "The model provider's stream broke off."}})
    );
    assert!(t.finish(None).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Messages provider → Chat client

#[test]
fn messages_to_chat_thinking_text_and_tool_call() {
    let upstream = raw(&anthropic_tool_stream());
    let (out, t) = run(Wire::Messages, Wire::Chat, &upstream);
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-t1", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "client-model",
               "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
    };
    let mut last = chunk(json!({}), json!("tool_calls"));
    last["usage"] = json!({"prompt_tokens": 125, "completion_tokens": 85, "total_tokens": 210,
                           "prompt_tokens_details": {"cached_tokens": 100}, "completion_tokens_details": {"reasoning_tokens": 0}});
    let expected = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(
            json!({"reasoning_content": "Need the weather."}),
            Value::Null,
        ),
        chunk(json!({"content": "Checking"}), Value::Null),
        chunk(json!({"content": " now."}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "toolu_01", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": \"Pa"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ris\"}"}}]}),
            Value::Null,
        ),
        last,
        json!("[DONE]"),
    ];
    assert!(out.iter().all(|e| e.event.is_none()));
    assert_eq!(out.iter().map(data).collect::<Vec<_>>(), expected);
    assert!(t.finished());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 125,
            cached_input: 100,
            cache_creation: 0,
            output: 85,
            reasoning: 0
        })
    );
}

#[test]
fn messages_to_chat_usage_counts_cache_writes_and_reads() {
    let upstream = raw(&[
        anthropic(
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 3, "cache_creation_input_tokens": 4000, "cache_read_input_tokens": 12000, "output_tokens": 1}}}),
        ),
        anthropic(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        anthropic(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}}),
        ),
        anthropic(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        anthropic(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens", "stop_sequence": null}, "usage": {"output_tokens": 9}}),
        ),
        anthropic("message_stop", json!({"type": "message_stop"})),
    ]);
    let (out, t) = run(Wire::Messages, Wire::Chat, &upstream);
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 16003,
            cached_input: 12000,
            cache_creation: 4000,
            output: 9,
            reasoning: 0
        })
    );
    let last = data(&out[out.len() - 2]);
    assert_eq!(last["choices"][0]["finish_reason"], "length");
    assert_eq!(last["usage"]["prompt_tokens"], 16003);
    assert_eq!(
        last["usage"]["prompt_tokens_details"]["cached_tokens"],
        12000
    );
}

#[test]
fn messages_to_chat_upstream_error_event() {
    let upstream = raw(&[
        anthropic(
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ),
        anthropic(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        anthropic(
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
    ]);
    let (out, mut t) = run(Wire::Messages, Wire::Chat, &upstream);
    assert!(t.finished());
    let n = out.len();
    assert_eq!(
        data(&out[n - 2]),
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}})
    );
    assert_eq!(out[n - 1].data, "[DONE]");
    assert!(t.finish(Some("x")).is_empty());
    assert_eq!(t.usage().map(|u| u.input), Some(10));
}

#[test]
fn messages_to_chat_cut_mid_way() {
    let mut events = anthropic_tool_stream();
    events.truncate(8);
    let (mut out, mut t) = run(Wire::Messages, Wire::Chat, &raw(&events));
    assert!(!t.finished());
    out.extend(t.finish(None));
    let n = out.len();
    assert!(
        data(&out[n - 2])["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ended before")
    );
    assert_eq!(out[n - 1].data, "[DONE]");
}

// ---------------------------------------------------------------------------------------------
// Chat provider → legacy Completions client

#[test]
fn chat_to_completions_text_chunks() {
    let upstream = raw(&[
        chat_chunk(json!({"role": "assistant", "content": ""}), None),
        chat_chunk(json!({"reasoning_content": "hidden"}), None),
        chat_chunk(json!({"content": "    return"}), None),
        chat_chunk(json!({"content": " a + b"}), None),
        chat_chunk(json!({}), Some("stop")),
        chat_usage(9, 4, 0, 0),
        chat_done(),
    ]);
    let (out, t) = run(Wire::Chat, Wire::Completions, &upstream);
    let chunk = |text: &str, finish: Value| {
        json!({"id": "cmpl-t1", "object": "text_completion", "created": 1_700_000_000, "model": "client-model",
               "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}]})
    };
    let mut last = chunk("", json!("stop"));
    last["usage"] = json!({"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13});
    assert_eq!(
        out.iter().map(data).collect::<Vec<_>>(),
        vec![
            chunk("    return", Value::Null),
            chunk(" a + b", Value::Null),
            last,
            json!("[DONE]")
        ]
    );
    assert_eq!(t.usage().map(|u| (u.input, u.output)), Some((9, 4)));
}

#[test]
fn chat_to_completions_cut_mid_way() {
    let (mut out, mut t) = run(
        Wire::Chat,
        Wire::Completions,
        &raw(&[chat_chunk(json!({"content": "x"}), None)]),
    );
    out.extend(t.finish(Some("broke")));
    assert_eq!(out.len(), 3);
    assert_eq!(data(&out[1])["error"]["message"], "broke");
    assert_eq!(out[2].data, "[DONE]");
}

// ---------------------------------------------------------------------------------------------
// Pass-through

#[test]
fn chat_passthrough_forwards_unchanged_and_tracks_usage() {
    let events = [
        chat_chunk(json!({"role": "assistant", "content": "Hi"}), None),
        chat_chunk(json!({}), Some("stop")),
        chat_usage(7, 3, 2, 0),
        chat_done(),
    ];
    let upstream = raw(&events);
    let (out, mut t) = run(Wire::Chat, Wire::Chat, &upstream);
    let forwarded: Vec<u8> = out.iter().flat_map(SseEvent::to_bytes).collect();
    assert_eq!(forwarded, upstream);
    assert!(t.finished());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 7,
            cached_input: 2,
            cache_creation: 0,
            output: 3,
            reasoning: 0
        })
    );
    assert!(t.finish(Some("late")).is_empty());
}

#[test]
fn chat_passthrough_endings() {
    // Cut before any finish reason.
    let (_, mut t) = run(
        Wire::Chat,
        Wire::Chat,
        &raw(&[chat_chunk(json!({"content": "Hi"}), None)]),
    );
    assert!(!t.finished());
    let out = t.finish(Some("broke"));
    assert_eq!(out.len(), 2);
    assert_eq!(data(&out[0])["error"]["message"], "broke");
    assert_eq!(out[1].data, "[DONE]");
    assert!(t.finish(None).is_empty());
    // A clean end without the marker only needs the marker.
    let (_, mut t) = run(
        Wire::Chat,
        Wire::Chat,
        &raw(&[chat_chunk(json!({"content": "Hi"}), Some("stop"))]),
    );
    assert_eq!(t.finish(None), vec![SseEvent::data("[DONE]")]);
    // A clean-looking end without a finish reason is reported.
    let (_, mut t) = run(
        Wire::Completions,
        Wire::Completions,
        &raw(&[(
            None,
            json!({"choices": [{"text": "a", "finish_reason": null}]}),
        )]),
    );
    assert_eq!(t.finish(None).len(), 2);
    // After the upstream's own error chunk only the marker is added.
    let (_, mut t) = run(
        Wire::Chat,
        Wire::Chat,
        &raw(&[(None, json!({"error": {"message": "bad"}}))]),
    );
    assert_eq!(t.finish(Some("broke")), vec![SseEvent::data("[DONE]")]);
}

#[test]
fn responses_passthrough_tracks_usage_and_completion() {
    let events = [
        (
            Some("response.created"),
            json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_up", "status": "in_progress"}}),
        ),
        (
            Some("response.output_text.delta"),
            json!({"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hi"}),
        ),
        (
            Some("response.completed"),
            json!({"type": "response.completed", "sequence_number": 2, "response": {"id": "resp_up", "status": "completed", "usage": {"input_tokens": 40, "input_tokens_details": {"cached_tokens": 32}, "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 4}, "total_tokens": 48}}}),
        ),
    ];
    let upstream = raw(&events);
    let (out, mut t) = run(Wire::Responses, Wire::Responses, &upstream);
    assert_eq!(
        out.iter().flat_map(SseEvent::to_bytes).collect::<Vec<u8>>(),
        upstream
    );
    assert!(t.finished());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 40,
            cached_input: 32,
            cache_creation: 0,
            output: 8,
            reasoning: 4
        })
    );
    assert!(t.finish(Some("late")).is_empty());

    for terminal in ["response.incomplete", "response.failed", "error"] {
        let (_, t) = run(
            Wire::Responses,
            Wire::Responses,
            &raw(&[(Some(terminal), json!({"type": terminal}))]),
        );
        assert!(t.finished(), "{terminal}");
    }
}

#[test]
fn responses_passthrough_cut_sends_response_failed() {
    let events = [
        (
            Some("response.created"),
            json!({"type": "response.created", "sequence_number": 0, "response": {"id": "resp_up"}}),
        ),
        (
            Some("response.output_text.delta"),
            json!({"type": "response.output_text.delta", "sequence_number": 5, "delta": "Hi"}),
        ),
    ];
    let (_, mut t) = run(Wire::Responses, Wire::Responses, &raw(&events));
    assert!(!t.finished());
    let out = t.finish(None);
    assert_eq!(names(&out), ["response.failed"]);
    assert_eq!(
        data(&out[0]),
        json!({"type": "response.failed", "sequence_number": 6, "response": {
            "id": "resp_up", "object": "response", "created_at": 1_700_000_000, "status": "failed",
            "error": {"code": "server_error", "message": "The model provider's stream ended before the response was complete."},
            "incomplete_details": null, "model": "client-model", "output": [], "usage": null}})
    );
    assert!(t.finish(None).is_empty());
}

#[test]
fn messages_passthrough_tracks_usage_across_start_and_delta() {
    let upstream = raw(&anthropic_tool_stream());
    let (out, t) = run(Wire::Messages, Wire::Messages, &upstream);
    assert_eq!(
        out.iter().flat_map(SseEvent::to_bytes).collect::<Vec<u8>>(),
        upstream
    );
    assert!(t.finished());
    assert_eq!(
        t.usage(),
        Some(Usage {
            input: 125,
            cached_input: 100,
            cache_creation: 0,
            output: 85,
            reasoning: 0
        })
    );
}

#[test]
fn messages_passthrough_endings() {
    let mut events = anthropic_tool_stream();
    events.truncate(9);
    let (_, mut t) = run(Wire::Messages, Wire::Messages, &raw(&events));
    assert_eq!(t.usage().map(|u| u.input), Some(125));
    let out = t.finish(Some("broke"));
    assert_eq!(names(&out), ["error"]);
    assert_eq!(
        data(&out[0]),
        json!({"type": "error", "error": {"type": "api_error", "message": "broke"}})
    );

    let mut events = anthropic_tool_stream();
    events.pop();
    let (_, mut t) = run(Wire::Messages, Wire::Messages, &raw(&events));
    assert!(!t.finished());
    assert_eq!(names(&t.finish(None)), ["message_stop"]);
    assert!(t.finished());
}

// ---------------------------------------------------------------------------------------------
// Pairs that cannot be translated, and garbage

#[test]
fn unsupported_pairs_forward_nothing_and_fail_on_finish() {
    // No client is served by a legacy Completions provider.
    let mut t = translator(Wire::Completions, Wire::Responses);
    for event in SseParser::default().push(&raw(&anthropic_tool_stream())) {
        assert!(t.on_event(&event).is_empty());
    }
    let out = t.finish(None);
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.failed"
        ]
    );
    assert!(t.finished());
    assert!(t.finish(None).is_empty());
    // Chat clients are not served by Responses providers.
    let mut t = translator(Wire::Responses, Wire::Chat);
    assert_eq!(t.finish(None).len(), 3);
}

#[test]
fn garbage_events_never_panic_and_streams_still_close() {
    let wires = [
        Wire::Chat,
        Wire::Responses,
        Wire::Messages,
        Wire::Completions,
    ];
    let garbage = [
        SseEvent::data(""),
        SseEvent::data("not json"),
        SseEvent::data("[1,2,3]"),
        SseEvent::data("null"),
        SseEvent::data("{}"),
        SseEvent::data("{\"choices\": 5}"),
        SseEvent::data(
            "{\"choices\": [null, 1, {\"delta\": 3}, {\"delta\": {\"tool_calls\": [null, {\"index\": -1}, {\"function\": 7}]}}]}",
        ),
        SseEvent::data(
            "{\"choices\": [{\"delta\": {\"tool_calls\": [{\"index\": 18446744073709551615, \"function\": {\"arguments\": \"x\"}}]}}]}",
        ),
        SseEvent::data("{\"usage\": {\"prompt_tokens\": \"many\"}}"),
        SseEvent::data("{\"error\": 5}"),
        SseEvent::named("content_block_delta", "{\"index\": \"x\", \"delta\": null}"),
        SseEvent::named(
            "content_block_start",
            "{\"content_block\": {\"type\": \"tool_use\", \"input\": [1]}}",
        ),
        SseEvent::named(
            "message_delta",
            "{\"usage\": 5, \"delta\": {\"stop_reason\": 7}}",
        ),
        SseEvent::named("message_start", "{\"message\": null}"),
        SseEvent::named("response.completed", "{\"response\": 3}"),
        SseEvent::named("response.created", "{\"sequence_number\": -1}"),
    ];
    for from in wires {
        for to in wires {
            let mut t = translator(from, to);
            for event in &garbage {
                let _ = t.on_event(event);
            }
            let closing = t.finish(Some("broke"));
            assert!(t.finished());
            if !closing.is_empty() {
                assert!(closing.iter().all(|e| !e.data.is_empty()));
            }
            assert!(t.finish(None).is_empty());
        }
    }
}

#[test]
fn in_pass_through_only_events_of_the_format_reach_the_client() {
    for wire in [
        Wire::Chat,
        Wire::Responses,
        Wire::Messages,
        Wire::Completions,
    ] {
        let mut t = translator(wire, wire);
        for junk in [
            SseEvent::data("<html><body>502 Bad Gateway</body></html>"),
            SseEvent::data("not json"),
            SseEvent::data("[1,2,3]"),
            SseEvent::named("message", ""),
        ] {
            assert!(t.on_event(&junk).is_empty(), "{wire:?}: {junk:?}");
        }
        let good = SseEvent::data("{\"type\":\"ping\"}");
        assert_eq!(t.on_event(&good), vec![good.clone()], "{wire:?}");
        // A stream of nothing but junk still ends as the format ends a failed stream.
        let closing = t.finish(None);
        assert!(!closing.is_empty(), "{wire:?}");
        assert!(closing.iter().all(|e| !e.data.contains("<html>")));
    }
}

#[test]
fn client_ids_follow_the_client_format() {
    let upstream = raw(&[
        chat_chunk(json!({"content": "x"}), Some("stop")),
        chat_done(),
    ]);
    let (out, _) = run(Wire::Chat, Wire::Messages, &upstream);
    assert_eq!(data(&out[0])["message"]["id"], "msg_t1");
    let (out, _) = run(Wire::Messages, Wire::Chat, &raw(&anthropic_tool_stream()));
    assert_eq!(data(&out[0])["id"], "chatcmpl-t1");
    let (out, _) = run(Wire::Chat, Wire::Responses, &upstream);
    assert_eq!(data(&out[0])["response"]["id"], "resp_t1");
}

#[test]
fn tool_calls_without_index_are_told_apart_by_id() {
    // Some OpenAI-compatible servers send whole calls, one per chunk, with no `index`.
    let upstream = raw(&[
        chat_chunk(
            json!({"tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "read", "arguments": "{\"path\":"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"function": {"arguments": "\"a.rs\"}"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"id": "call_2", "type": "function", "function": {"name": "read", "arguments": "{\"path\":\"b.rs\"}"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"id": "call_2", "function": {"arguments": ""}}]}),
            None,
        ),
        chat_chunk(json!({}), Some("tool_calls")),
        chat_done(),
    ]);
    let (out, _) = run(Wire::Chat, Wire::Responses, &upstream);
    let completed = data(out.last().unwrap());
    assert_eq!(
        completed["response"]["output"],
        json!([
            {"type": "function_call", "id": "fc_t1_0", "status": "completed", "call_id": "call_1", "name": "read", "arguments": "{\"path\":\"a.rs\"}"},
            {"type": "function_call", "id": "fc_t1_1", "status": "completed", "call_id": "call_2", "name": "read", "arguments": "{\"path\":\"b.rs\"}"}
        ])
    );
    // A call with neither id nor index still gets an id the client can answer to.
    let upstream = raw(&[
        chat_chunk(
            json!({"tool_calls": [{"function": {"name": "ls", "arguments": "{}"}}]}),
            Some("tool_calls"),
        ),
        chat_done(),
    ]);
    let (out, _) = run(Wire::Chat, Wire::Messages, &upstream);
    assert_eq!(
        data(&out[1])["content_block"],
        json!({"type": "tool_use", "id": "call_0", "name": "ls", "input": {}})
    );
}

#[test]
fn failed_tells_a_failure_close_from_a_normal_one() {
    let ok = raw(&[
        chat_chunk(json!({"content": "x"}), Some("stop")),
        chat_done(),
    ]);
    for (from, to) in [
        (Wire::Chat, Wire::Responses),
        (Wire::Chat, Wire::Messages),
        (Wire::Chat, Wire::Chat),
    ] {
        let (_, t) = run(from, to, &ok);
        assert!(t.finished() && !t.failed());
    }
    let (_, t) = run(Wire::Messages, Wire::Chat, &raw(&anthropic_tool_stream()));
    assert!(t.finished() && !t.failed());

    let error = raw(&[(None, json!({"error": {"message": "bad"}}))]);
    let (_, t) = run(Wire::Chat, Wire::Responses, &error);
    assert!(t.finished() && t.failed());
    let (_, mut t) = run(Wire::Chat, Wire::Chat, &error);
    assert!(t.failed());
    t.finish(None);
    assert!(t.failed());

    let cut = raw(&[chat_chunk(json!({"content": "x"}), None)]);
    for (from, to) in [
        (Wire::Chat, Wire::Responses),
        (Wire::Chat, Wire::Completions),
        (Wire::Chat, Wire::Chat),
    ] {
        let (_, mut t) = run(from, to, &cut);
        assert!(!t.failed());
        t.finish(None);
        assert!(t.failed(), "{from:?} -> {to:?}");
    }
    let stopped = raw(&[chat_chunk(json!({"content": "x"}), Some("stop"))]);
    let (_, mut t) = run(Wire::Chat, Wire::Messages, &stopped);
    t.finish(None);
    assert!(!t.failed());

    for terminal in ["response.failed", "error"] {
        let (_, t) = run(
            Wire::Responses,
            Wire::Responses,
            &raw(&[(Some(terminal), json!({"type": terminal}))]),
        );
        assert!(t.failed());
    }
    let (_, t) = run(
        Wire::Messages,
        Wire::Messages,
        &raw(&[anthropic(
            "error",
            json!({"type": "error", "error": {"message": "x"}}),
        )]),
    );
    assert!(t.finished() && t.failed());
    let mut t = translator(Wire::Responses, Wire::Messages);
    t.finish(None);
    assert!(t.failed());
}

// ---------------------------------------------------------------------------------------------
// Messages provider → Responses client (Codex CLI on Claude)

#[test]
fn messages_to_responses_carries_signed_thinking_text_and_a_tool_call() {
    let (out, t) = run(
        Wire::Messages,
        Wire::Responses,
        &raw(&anthropic_tool_stream()),
    );
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let done = data(&out[20]);
    let output = done["response"]["output"].as_array().unwrap();
    assert_eq!(output.len(), 3);
    assert_eq!(output[0]["summary"][0]["text"], "Need the weather.");
    let carried = output[0]["encrypted_content"].as_str().unwrap();
    assert_eq!(
        super::seal::Sealed::unpack(carried),
        Some(super::seal::Sealed::Thinking {
            thinking: "Need the weather.".to_owned(),
            signature: "EqQBCgIYAhIM".to_owned()
        })
    );
    assert_eq!(output[1]["content"][0]["text"], "Checking now.");
    assert_eq!(output[2]["call_id"], "toolu_01");
    assert_eq!(output[2]["arguments"], "{\"city\": \"Paris\"}");
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(done["response"]["usage"]["input_tokens"], 125);
    assert_eq!(
        done["response"]["usage"]["input_tokens_details"]["cached_tokens"],
        100
    );
    assert_eq!(done["response"]["usage"]["output_tokens"], 85);
    // Sequence numbers count up from 0 without a gap.
    for (i, event) in out.iter().enumerate() {
        assert_eq!(data(event)["sequence_number"], i as u64);
    }
    assert!(t.finished() && !t.failed());
}

// ---------------------------------------------------------------------------------------------
// Responses provider → Messages client (Claude Code on OpenAI)

fn responses_event(name: &'static str, mut data: Value) -> (Option<&'static str>, Value) {
    data["type"] = json!(name);
    (Some(name), data)
}

fn responses_tool_stream() -> Vec<(Option<&'static str>, Value)> {
    let response = |status: &str, usage: Value| json!({"id": "resp_up", "object": "response", "status": status, "output": [], "usage": usage});
    vec![
        responses_event(
            "response.created",
            json!({"response": response("in_progress", Value::Null)}),
        ),
        responses_event(
            "response.output_item.added",
            json!({"output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": []}}),
        ),
        responses_event(
            "response.reasoning_summary_text.delta",
            json!({"output_index": 0, "summary_index": 0, "item_id": "rs_1", "delta": "Look"}),
        ),
        responses_event(
            "response.reasoning_summary_text.delta",
            json!({"output_index": 0, "summary_index": 0, "item_id": "rs_1", "delta": " first."}),
        ),
        responses_event(
            "response.reasoning_summary_text.delta",
            json!({"output_index": 0, "summary_index": 1, "item_id": "rs_1", "delta": "Then act."}),
        ),
        responses_event(
            "response.output_item.done",
            json!({"output_index": 0, "item": {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA-enc"}}),
        ),
        responses_event(
            "response.output_item.added",
            json!({"output_index": 1, "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []}}),
        ),
        responses_event(
            "response.output_text.delta",
            json!({"output_index": 1, "content_index": 0, "item_id": "msg_1", "delta": "On it."}),
        ),
        responses_event(
            "response.output_item.added",
            json!({"output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_B", "name": "Bash", "arguments": ""}}),
        ),
        responses_event(
            "response.function_call_arguments.delta",
            json!({"output_index": 2, "item_id": "fc_1", "delta": "{\"command\":"}),
        ),
        responses_event(
            "response.function_call_arguments.delta",
            json!({"output_index": 2, "item_id": "fc_1", "delta": "\"ls\"}"}),
        ),
        responses_event(
            "response.output_item.done",
            json!({"output_index": 2, "item": {"type": "function_call", "id": "fc_1", "call_id": "call_B", "name": "Bash", "arguments": "{\"command\":\"ls\"}"}}),
        ),
        responses_event(
            "response.completed",
            json!({"response": response("completed", json!({"input_tokens": 900, "input_tokens_details": {"cached_tokens": 800}, "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 25}}))}),
        ),
    ]
}

#[test]
fn responses_to_messages_signs_thinking_with_the_encrypted_reasoning() {
    let (out, t) = run(
        Wire::Responses,
        Wire::Messages,
        &raw(&responses_tool_stream()),
    );
    let deltas: Vec<Value> = out
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| data(e)["delta"].clone())
        .collect();
    assert_eq!(
        names(&out),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(
        deltas[0],
        json!({"type": "thinking_delta", "thinking": "Look"})
    );
    assert_eq!(
        deltas[2],
        json!({"type": "thinking_delta", "thinking": "\n\nThen act."})
    );
    let signature = deltas[3]["signature"].as_str().unwrap();
    assert_eq!(
        super::seal::Sealed::unpack(signature),
        Some(super::seal::Sealed::Encrypted {
            content: "gAAAA-enc".to_owned()
        })
    );
    assert_eq!(deltas[4], json!({"type": "text_delta", "text": "On it."}));
    assert_eq!(
        data(&out[10])["content_block"],
        json!({"type": "tool_use", "id": "call_B", "name": "Bash", "input": {}})
    );
    let end = data(&out[14]);
    assert_eq!(end["delta"]["stop_reason"], "tool_use");
    assert_eq!(
        end["usage"],
        json!({"input_tokens": 100, "cache_read_input_tokens": 800, "cache_creation_input_tokens": 0, "output_tokens": 40})
    );
    assert_eq!(t.usage().map(|u| u.reasoning), Some(25));
}

#[test]
fn responses_provider_failures_and_cuts_reach_a_messages_client_as_errors() {
    let failed = raw(&[
        responses_event("response.created", json!({"response": {"id": "r"}})),
        responses_event(
            "response.output_text.delta",
            json!({"output_index": 0, "delta": "Hal"}),
        ),
        responses_event(
            "response.failed",
            json!({"response": {"id": "r", "status": "failed", "error": {"code": "server_error", "message": "overloaded"}}}),
        ),
    ]);
    let (out, t) = run(Wire::Responses, Wire::Messages, &failed);
    let last = out.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("error"));
    assert_eq!(data(last)["error"]["message"], "overloaded");
    assert!(t.failed());
    let cut = raw(&responses_tool_stream()[..10]);
    let (_, mut t) = run(Wire::Responses, Wire::Messages, &cut);
    let out = t.finish(None);
    assert_eq!(names(&out), ["error"]);
    assert!(t.failed());
    let incomplete = raw(&[responses_event(
        "response.incomplete",
        json!({"response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}}),
    )]);
    let (out, _) = run(Wire::Responses, Wire::Messages, &incomplete);
    let end = out
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap();
    assert_eq!(data(end)["delta"]["stop_reason"], "max_tokens");
}

// ---------------------------------------------------------------------------------------------
// Custom tools of a Responses client on a Chat provider

#[test]
fn calls_of_custom_tools_stream_as_custom_tool_calls() {
    let request = json!({"input": "patch it", "tools": [
        {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}
    ]});
    let exchange = super::translate_request(
        Wire::Responses,
        &request,
        &super::Target {
            wire: Wire::Chat,
            model: "m",
            max_output_tokens: None,
            reasons: false,
        },
    )
    .unwrap()
    .exchange;
    let upstream = raw(&[
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_P", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\":"}}]}),
            None,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"*** Begin Patch\"}"}}]}),
            None,
        ),
        chat_chunk(json!({}), Some("tool_calls")),
        chat_done(),
    ]);
    let mut t = StreamTranslator::new(Wire::Chat, Wire::Responses, "m", "resp_c", &exchange);
    let mut out = Vec::new();
    for event in SseParser::default().push(&upstream) {
        out.extend(t.on_event(&event));
    }
    assert_eq!(
        names(&out),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.custom_tool_call_input.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(data(&out[2])["item"]["type"], "custom_tool_call");
    assert_eq!(data(&out[3])["input"], "*** Begin Patch");
    assert_eq!(
        data(&out[4])["item"],
        json!({"type": "custom_tool_call", "id": "fc_c_0", "status": "completed", "call_id": "call_P",
               "name": "apply_patch", "input": "*** Begin Patch"})
    );
}
