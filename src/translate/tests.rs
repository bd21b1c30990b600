//! Tests of request and whole-answer translation: the tables walked row by row, requests as the
//! current Codex CLI and Claude Code send them (tests/fixtures), each pair's mappings, and
//! random shapes that must give an answer or a named error, never a panic.

use serde_json::{Map, Value, json};

use super::policy::{Policy, pairs};
use super::*;

const WIRES: [Wire; 4] = [
    Wire::Chat,
    Wire::Responses,
    Wire::Messages,
    Wire::Completions,
];

fn target(wire: Wire) -> Target<'static> {
    Target {
        wire,
        model: "up-model",
        max_output_tokens: None,
        reasons: false,
    }
}

fn reasoning_target(wire: Wire) -> Target<'static> {
    Target {
        reasons: true,
        ..target(wire)
    }
}

fn translate(client: Wire, provider: Wire, body: &Value) -> Result<Translated, TranslateError> {
    translate_request(client, body, &target(provider))
}

fn ok(client: Wire, provider: Wire, body: Value) -> (Value, Vec<String>) {
    let t = translate(client, provider, &body)
        .unwrap_or_else(|e| panic!("{client:?}→{provider:?}: {e}"));
    (t.body, t.exchange.dropped)
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The smallest request of each client format, with content no table example uses.
fn base(client: Wire) -> Value {
    match client {
        Wire::Responses => json!({"model": "m", "input": "hello"}),
        Wire::Messages => {
            json!({"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]})
        }
        Wire::Chat => json!({"model": "m", "messages": [{"role": "user", "content": "hello"}]}),
        Wire::Completions => json!({"model": "m", "prompt": "hello"}),
    }
}

// ---------------------------------------------------------------------------------------------
// The tables

#[test]
fn every_rule_of_every_table_does_what_it_says() {
    for pair in pairs() {
        let (client, provider) = (pair.client, pair.provider);
        for reasons in [false, true] {
            every_rule_holds(pair, reasons);
        }
        // A mapped field changes the request, unreported, for at least one kind of model (a
        // writer may still leave it out for another, and then says so).
        for rule in pair
            .rules
            .iter()
            .filter(|r| matches!(r.policy, Policy::Map))
        {
            let mut body = base(client);
            body[rule.field] = serde_json::from_str(rule.example).unwrap();
            let changed = [target(provider), reasoning_target(provider)]
                .iter()
                .any(|t| {
                    let plain = translate_request(client, &base(client), t).unwrap().body;
                    let mapped = translate_request(client, &body, t).unwrap();
                    mapped.body != plain && !mapped.exchange.dropped.iter().any(|d| d == rule.field)
                });
            assert!(
                changed || rule.field == "model",
                "{client:?}→{provider:?} {}: the field changes the request",
                rule.field
            );
        }
    }
}

fn every_rule_holds(pair: &policy::Pair, reasons: bool) {
    let (client, provider) = (pair.client, pair.provider);
    let target = Target {
        reasons,
        ..target(provider)
    };
    let run = |body: &Value| translate_request(client, body, &target);
    let plain = run(&base(client)).unwrap().body;
    {
        for rule in pair.rules {
            let what = format!(
                "{client:?}→{provider:?} {} (reasons: {reasons})",
                rule.field
            );
            let example: Value = serde_json::from_str(rule.example).unwrap();
            let mut body = base(client);
            body[rule.field] = example.clone();
            let result = run(&body);
            match rule.policy {
                Policy::Carry => {
                    let t = result.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(t.body[rule.field], example, "{what}");
                    assert!(
                        !t.exchange.dropped.contains(&rule.field.to_owned()),
                        "{what}"
                    );
                }
                Policy::Drop => {
                    let t = result.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(t.body, plain, "{what}: the field left no trace");
                    assert!(
                        t.exchange.dropped.iter().any(|d| d == rule.field),
                        "{what}: reported, {:?}",
                        t.exchange.dropped
                    );
                }
                Policy::Refuse(_) => {
                    let e = result.expect_err(&what);
                    assert_eq!(e.field, rule.field, "{what}");
                    assert!(
                        e.message.contains(provider.label()),
                        "{what}: {}",
                        e.message
                    );
                }
                Policy::Map if rule.field == "model" => {
                    let t = result.unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(t.body["model"], "up-model", "{what}");
                }
                Policy::Map => {
                    result.unwrap_or_else(|e| panic!("{what}: {e}"));
                }
            }
        }
    }
}

#[test]
fn fields_never_seen_are_dropped_and_reported_never_refused() {
    for pair in pairs() {
        for (name, value) in [
            ("x_field_from_2027", json!({"nested": [1, 2]})),
            ("brand_new_flag", json!(true)),
            ("deep.name", json!("text")),
        ] {
            let mut body = base(pair.client);
            body[name] = value;
            let (out, dropped) = ok(pair.client, pair.provider, body);
            let (plain, _) = ok(pair.client, pair.provider, base(pair.client));
            assert_eq!(out, plain);
            assert_eq!(dropped, [name], "{:?}→{:?}", pair.client, pair.provider);
        }
    }
}

#[test]
fn every_format_pair_the_providers_can_meet_has_a_table() {
    let served = [
        (Wire::Responses, Wire::Chat),
        (Wire::Responses, Wire::Messages),
        (Wire::Messages, Wire::Chat),
        (Wire::Messages, Wire::Responses),
        (Wire::Chat, Wire::Messages),
        (Wire::Completions, Wire::Chat),
        (Wire::Completions, Wire::Messages),
    ];
    for (client, provider) in served {
        assert!(supported(client, provider), "{client:?}→{provider:?}");
        assert!(policy::pair(client, provider).is_some());
    }
    for wire in WIRES {
        assert!(supported(wire, wire));
    }
    assert!(!supported(Wire::Chat, Wire::Responses));
    assert!(!supported(Wire::Responses, Wire::Completions));
}

// ---------------------------------------------------------------------------------------------
// Same format, unsupported pairs, shapes

#[test]
fn same_format_requests_only_change_the_model() {
    for wire in [Wire::Responses, Wire::Messages] {
        let body = json!({"model": "alias", "input": "hi", "stream": true, "x": {"y": 1}});
        let t = translate(wire, wire, &body).unwrap();
        let mut expected = body.clone();
        expected["model"] = json!("up-model");
        assert_eq!(t.body, expected);
        assert_eq!(t.exchange, Exchange::default());
    }
}

#[test]
fn same_format_chat_streams_ask_for_usage() {
    for wire in [Wire::Chat, Wire::Completions] {
        let body = json!({"model": "alias", "messages": [], "stream": true, "stream_options": {"include_usage": false}});
        let out = translate(wire, wire, &body).unwrap().body;
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        assert_eq!(out["model"], "up-model");
        let body =
            json!({"model": "alias", "messages": [], "stream": true, "stream_options": "junk"});
        let out = translate(wire, wire, &body).unwrap().body;
        assert_eq!(out["stream_options"], json!({"include_usage": true}));
        let body = json!({"model": "alias", "messages": []});
        let out = translate(wire, wire, &body).unwrap().body;
        assert_eq!(out, json!({"model": "up-model", "messages": []}));
    }
}

#[test]
fn same_format_responses_only_change_the_model() {
    let body = json!({"id": "x", "model": "upstream", "choices": []});
    let out =
        translate_response(Wire::Chat, Wire::Chat, &body, "alias", &Exchange::default()).unwrap();
    assert_eq!(out, json!({"id": "x", "model": "alias", "choices": []}));
}

#[test]
fn unsupported_pairs_are_refused_on_model() {
    let body = json!({"model": "m", "messages": [], "input": "hi"});
    for (client, provider) in [
        (Wire::Chat, Wire::Responses),
        (Wire::Completions, Wire::Responses),
        (Wire::Responses, Wire::Completions),
    ] {
        assert!(!supported(client, provider));
        let err = translate(client, provider, &body).unwrap_err();
        assert_eq!(err.field, "model");
        assert!(err.message.contains(provider.label()), "{}", err.message);
        assert!(err.message.contains(client.label()), "{}", err.message);
        let err =
            translate_response(provider, client, &body, "m", &Exchange::default()).unwrap_err();
        assert_eq!(err.field, "model");
    }
}

#[test]
fn non_object_bodies_are_errors() {
    for body in [json!(null), json!([1, 2]), json!("text"), json!(3)] {
        for from in WIRES {
            for to in WIRES {
                let err = translate(from, to, &body).unwrap_err();
                assert_eq!(err.field, "body");
                let err =
                    translate_response(from, to, &body, "m", &Exchange::default()).unwrap_err();
                assert_eq!(err.field, "body");
            }
        }
    }
}

#[test]
fn type_tags_are_quoted_only_when_they_look_like_tags() {
    let err =
        TranslateError::unsupported("input[2].type", Some(&json!("item_reference")), Wire::Chat);
    assert_eq!(
        err.message,
        "field `input[2].type` (\"item_reference\") cannot be sent to a Chat Completions provider"
    );
    let secret = json!("def secret(): return 42");
    let err = TranslateError::unsupported("input[0].type", Some(&secret), Wire::Chat);
    assert!(!err.message.contains("secret"));
    assert_eq!(err.to_string(), err.message);
}

#[test]
fn wrong_shapes_of_mapped_fields_are_named_errors() {
    let cases = [
        (Wire::Responses, json!({"input": 5}), "input"),
        (Wire::Responses, json!({"input": [5]}), "input[0]"),
        (Wire::Responses, json!({"input": [{}]}), "input[0].type"),
        (
            Wire::Responses,
            json!({"input": [{"type": 7}]}),
            "input[0].type",
        ),
        (
            Wire::Responses,
            json!({"input": [{"type": "message"}]}),
            "input[0].role",
        ),
        (
            Wire::Responses,
            json!({"input": [{"type": "function_call", "name": "x"}]}),
            "input[0].call_id",
        ),
        (
            Wire::Responses,
            json!({"input": "x", "instructions": ["a"]}),
            "instructions",
        ),
        (Wire::Responses, json!({"input": "x", "tools": {}}), "tools"),
        (
            Wire::Responses,
            json!({"input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name",
        ),
        (
            Wire::Responses,
            json!({"input": "x", "max_output_tokens": -1}),
            "max_output_tokens",
        ),
        (
            Wire::Responses,
            json!({"input": "x", "reasoning": "high"}),
            "reasoning",
        ),
        (
            Wire::Responses,
            json!({"input": "x", "stream": "yes"}),
            "stream",
        ),
        (Wire::Messages, json!({"max_tokens": 5}), "messages"),
        (
            Wire::Messages,
            json!({"messages": [{"role": "user", "content": 3}]}),
            "messages[0].content",
        ),
        (
            Wire::Messages,
            json!({"messages": [{"role": "user", "content": [{"type": "image"}]}]}),
            "messages[0].content[0].source",
        ),
        (
            Wire::Messages,
            json!({"messages": [], "system": 1}),
            "system",
        ),
        (
            Wire::Chat,
            json!({"messages": [{"content": "x"}]}),
            "messages[0].role",
        ),
        (
            Wire::Chat,
            json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]}),
            "messages[0].content[0].image_url",
        ),
        (Wire::Completions, json!({"prompt": 5}), "prompt"),
    ];
    for (client, body, field) in cases {
        let provider = if client == Wire::Chat || client == Wire::Completions {
            Wire::Messages
        } else {
            Wire::Chat
        };
        let err = translate(client, provider, &body).unwrap_err();
        assert_eq!(err.field, field, "{body}: {}", err.message);
    }
}

#[test]
fn error_messages_and_reports_never_quote_content() {
    let secret = "SECRET_SOURCE_CODE";
    let cases = [
        json!({"input": [{"type": secret}]}),
        json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": secret}, {"type": format!("x{secret} y")}]}]}),
        json!({"input": secret, "tool_choice": secret}),
        json!({"input": [{"role": secret, "content": secret}]}),
        json!({"input": "x", "tools": [{"type": format!("{secret} tool")}]}),
        json!({"input": "x", format!("{secret} = 1"): 1}),
    ];
    for body in cases {
        match translate(Wire::Responses, Wire::Chat, &body) {
            Ok(t) => {
                let report = t.exchange.dropped.join(",");
                assert!(!report.contains("SOURCE"), "{report}");
            }
            Err(err) => assert!(
                !err.message.contains(secret) && !err.field.contains(secret),
                "{err:?}"
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the current clients send

#[test]
fn codex_requests_reach_chat_providers_whole() {
    let body = fixture("codex-0.171.0-tool-turn.json");
    let (out, dropped) = ok(Wire::Responses, Wire::Chat, body);
    let messages = out["messages"].as_array().unwrap();
    // The two developer messages open the conversation: one system message.
    assert_eq!(messages[0]["role"], "system");
    assert!(messages[1]["role"] == "user" && messages[2]["role"] == "user");
    let call = &messages[3];
    assert_eq!(call["role"], "assistant");
    assert_eq!(call["tool_calls"][0]["function"]["name"], "exec_command");
    assert_eq!(
        call["tool_calls"][0]["function"]["arguments"],
        "{\"cmd\": \"echo TOOL-RAN-42\"}"
    );
    let result = &messages[4];
    assert_eq!(result["role"], "tool");
    assert_eq!(result["tool_call_id"], call["tool_calls"][0]["id"]);
    let names: Vec<&str> = out["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    // The namespace's tools are flattened; the hosted web search is left out.
    assert!(
        names.contains(&"exec_command") && names.contains(&"spawn_agent"),
        "{names:?}"
    );
    assert!(!names.contains(&"web_search"));
    assert_eq!(out["tool_choice"], "auto");
    assert_eq!(out["parallel_tool_calls"], true);
    assert_eq!(out["stream"], true);
    assert_eq!(out["stream_options"], json!({"include_usage": true}));
    for gone in [
        "store",
        "include",
        "prompt_cache_key",
        "client_metadata",
        "reasoning.summary",
        "tools.web_search",
    ] {
        assert!(dropped.iter().any(|d| d == gone), "{gone} in {dropped:?}");
    }
}

#[test]
fn codex_catalog_model_requests_bring_their_tools_in_the_input() {
    let body = fixture("codex-0.171.0-catalog-model-tool-turn.json");
    for provider in [Wire::Chat, Wire::Messages] {
        let t = translate(Wire::Responses, provider, &body).unwrap();
        let out = &t.body;
        let tools = out["tools"].as_array().unwrap();
        let exec = tools
            .iter()
            .find(|t| t["name"] == "exec" || t["function"]["name"] == "exec")
            .expect("the custom exec tool");
        let schema = exec
            .get("input_schema")
            .or_else(|| exec.pointer("/function/parameters"))
            .unwrap();
        assert_eq!(schema["required"], json!(["input"]));
        // The custom call in the history is a function call with its raw input wrapped.
        let text = out.to_string();
        assert!(text.contains("tools.exec_command"), "{provider:?}");
        assert_eq!(
            t.exchange
                .tools
                .client("exec")
                .map(|c| (c.custom, c.namespace)),
            Some((true, Some("functions")))
        );
        assert!(t.exchange.dropped.iter().any(|d| d == "reasoning.context"));
    }
}

#[test]
fn claude_code_requests_reach_openai_providers_whole() {
    let body = fixture("claude-code-2.1.332-tool-turn.json");
    for provider in [Wire::Chat, Wire::Responses] {
        let t = translate_request(Wire::Messages, &body, &reasoning_target(provider)).unwrap();
        let (out, dropped) = (&t.body, &t.exchange.dropped);
        let text = out.to_string();
        assert!(!text.contains("x-anthropic-billing-header"), "{provider:?}");
        assert!(!text.contains("cache_control"), "{provider:?}");
        assert!(
            text.contains("# Environment"),
            "the system entry stays: {provider:?}"
        );
        for gone in [
            "metadata",
            "context_management",
            "cache_control",
            "system.billing_header",
            "thinking.display",
            "tools.defer_loading",
        ] {
            assert!(
                dropped.iter().any(|d| d == gone),
                "{provider:?}: {gone} in {dropped:?}"
            );
        }
        assert_eq!(out["stream"], true);
        match provider {
            Wire::Chat => {
                let messages = out["messages"].as_array().unwrap();
                assert_eq!(messages[0]["role"], "system");
                assert_eq!(messages[1]["role"], "user");
                assert_eq!(messages[2]["role"], "system");
                assert_eq!(messages[3]["tool_calls"][0]["function"]["name"], "Bash");
                assert_eq!(messages[4]["role"], "tool");
                assert_eq!(messages[4]["content"], "TOOL-RAN-42");
                assert_eq!(out["max_tokens"], 32000);
                assert_eq!(out["reasoning_effort"], "high");
                assert_eq!(out["tools"][1]["function"]["name"], "Bash");
            }
            _ => {
                let input = out["input"].as_array().unwrap();
                assert_eq!(input[0]["role"], "user");
                assert_eq!(input[1]["role"], "developer");
                assert_eq!(input[2]["type"], "function_call");
                assert_eq!(input[2]["name"], "Bash");
                assert_eq!(input[3]["type"], "function_call_output");
                assert_eq!(input[3]["call_id"], input[2]["call_id"]);
                assert_eq!(out["max_output_tokens"], 32000);
                assert_eq!(
                    out["reasoning"],
                    json!({"effort": "high", "summary": "auto"})
                );
                assert_eq!(out["include"], json!(["reasoning.encrypted_content"]));
                assert_eq!(out["tools"][1]["strict"], false);
                assert!(
                    out["instructions"]
                        .as_str()
                        .unwrap()
                        .starts_with("You are a Claude agent")
                );
            }
        }
    }
}

#[test]
fn codex_requests_reach_anthropic_whole() {
    let body = fixture("codex-0.171.0-tool-turn.json");
    let t = translate_request(
        Wire::Responses,
        &body,
        &Target {
            max_output_tokens: Some(16_000),
            ..reasoning_target(Wire::Messages)
        },
    )
    .unwrap();
    let out = &t.body;
    assert!(
        out["system"]
            .as_str()
            .unwrap()
            .starts_with("You are a coding agent")
    );
    let messages = out["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"].as_array().unwrap().len(), 2);
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(
        messages[1]["content"][0]["input"],
        json!({"cmd": "echo TOOL-RAN-42"})
    );
    assert_eq!(messages[2]["content"][0]["type"], "tool_result");
    assert_eq!(
        messages[2]["content"][0]["tool_use_id"],
        messages[1]["content"][0]["id"]
    );
    assert_eq!(out["max_tokens"], 16_000);
    // In a tool loop with no signed thinking to give back, thinking stays off.
    assert!(out.get("thinking").is_none());
    assert_eq!(out["tools"][0]["name"], "exec_command");
    assert!(
        out["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "web_search")
    );
}

// ---------------------------------------------------------------------------------------------
// Responses → Chat

fn r2c(body: Value) -> Value {
    ok(Wire::Responses, Wire::Chat, body).0
}

#[test]
fn responses_string_input_and_instructions() {
    let out = r2c(json!({"model": "gpt-5", "instructions": "Be brief.", "input": "Hello"}));
    assert_eq!(
        out,
        json!({"model": "up-model", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"}
        ]})
    );
}

#[test]
fn leading_developer_messages_merge_into_the_system_prompt_later_ones_stay() {
    let out = r2c(json!({
        "model": "m",
        "instructions": "Base.",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Sandbox rules."}]},
            {"role": "system", "content": "More."},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<env/>"}, {"type": "input_text", "text": "Fix the bug"}]},
            {"type": "message", "role": "developer", "content": "Mid-conversation note."}
        ]
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "system", "content": "Base.\n\nSandbox rules.\n\nMore."},
            {"role": "user", "content": "<env/>\n\nFix the bug"},
            {"role": "system", "content": "Mid-conversation note."}
        ])
    );
}

#[test]
fn responses_tool_calls_and_outputs_become_chat_turns() {
    let out = r2c(json!({
        "model": "m",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "List files"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "thinking"}], "encrypted_content": null},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me look."}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "shell", "arguments": "{\"command\":[\"pwd\"]}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "a.rs\nb.rs"},
            {"type": "function_call_output", "call_id": "call_b", "output": [{"type": "input_text", "text": "/src"}]},
            {"type": "custom_tool_call", "call_id": "call_c", "name": "apply_patch", "input": "*** Begin Patch"},
            {"type": "custom_tool_call_output", "call_id": "call_c", "output": [{"type": "input_text", "text": "ok"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Two files."}]}
        ]
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": "List files"},
            {"role": "assistant", "content": "Let me look.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}},
                {"id": "call_b", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"pwd\"]}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "a.rs\nb.rs"},
            {"role": "tool", "tool_call_id": "call_b", "content": "/src"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_c", "type": "function", "function": {"name": "apply_patch", "arguments": "{\"input\":\"*** Begin Patch\"}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_c", "content": "ok"},
            {"role": "assistant", "content": "Two files."}
        ])
    );
}

#[test]
fn responses_images_become_image_url_parts_and_uploads_are_dropped() {
    let (out, dropped) = ok(
        Wire::Responses,
        Wire::Chat,
        json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": "data:image/png;base64,iVBOR", "detail": "high"},
            {"type": "input_image", "image_url": "https://example.com/a.png"},
            {"type": "input_image", "file_id": "file-1"},
            {"type": "input_audio", "input_audio": {"data": "x"}}
        ]}]}),
    );
    assert_eq!(
        out["messages"][0]["content"],
        json!([
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
        ])
    );
    assert_eq!(dropped, ["input_image.file_id", "content.input_audio"]);
}

#[test]
fn responses_tools_choice_and_sampling() {
    let request = |body: Value| {
        let t = translate_request(Wire::Responses, &body, &reasoning_target(Wire::Chat)).unwrap();
        (t.body, t.exchange.dropped)
    };
    let (out, dropped) = request(json!({
        "model": "m", "input": "hi", "stream": true, "temperature": 0.2, "top_p": 0.9,
        "max_output_tokens": 1000, "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "answer", "strict": true, "schema": {"type": "object"}}, "verbosity": "low"},
        "tools": [
            {"type": "function", "name": "shell", "description": "Run a command", "strict": false,
             "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}},
            {"type": "web_search", "external_web_access": false},
            {"type": "custom", "name": "apply_patch", "description": "Edit files", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}}
        ],
        "tool_choice": {"type": "function", "name": "shell"}, "parallel_tool_calls": false,
        "store": false, "user": "u-1", "background": false
    }));
    assert_eq!(
        out,
        json!({
            "model": "up-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": true, "stream_options": {"include_usage": true},
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 1000, "reasoning_effort": "high",
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true, "schema": {"type": "object"}}},
            "tools": [
                {"type": "function", "function": {"name": "shell", "description": "Run a command", "strict": false,
                 "parameters": {"type": "object", "properties": {"command": {"type": "array"}}}}},
                {"type": "function", "function": {
                    "name": "apply_patch",
                    "description": "Edit files\n\nThe `input` must follow this lark grammar:\nstart: x",
                    "parameters": {"type": "object", "properties": {"input": {"type": "string", "description": "The tool's whole raw input."}},
                                   "required": ["input"], "additionalProperties": false}}}
            ],
            "tool_choice": {"type": "function", "function": {"name": "shell"}},
            "parallel_tool_calls": false,
            "user": "u-1"
        })
    );
    assert_eq!(
        dropped,
        [
            "store",
            "tools.web_search",
            "reasoning.summary",
            "text.verbosity"
        ]
    );
    // Models not configured to reason get no reasoning setting, and are told so.
    let (out, dropped) = ok(
        Wire::Responses,
        Wire::Chat,
        json!({"input": "hi", "reasoning": {"effort": "high"}}),
    );
    assert!(out.get("reasoning_effort").is_none());
    assert_eq!(dropped, ["reasoning"]);
}

#[test]
fn responses_refusals_name_the_field() {
    for (body, field) in [
        (
            json!({"input": [{"type": "item_reference", "id": "x"}]}),
            "input[0].type",
        ),
        (
            json!({"input": "hi", "previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        (json!({"input": "hi", "background": true}), "background"),
        (json!({"input": "hi", "prompt": {"id": "p"}}), "prompt"),
    ] {
        for provider in [Wire::Chat, Wire::Messages] {
            let err = translate(Wire::Responses, provider, &body).unwrap_err();
            assert_eq!(err.field, field, "{}", err.message);
        }
    }
    // Item types other providers have no use for are dropped, not refused.
    let (out, dropped) = ok(
        Wire::Responses,
        Wire::Chat,
        json!({"input": [
            {"type": "web_search_call", "action": {"type": "search"}},
            {"type": "compaction", "encrypted_content": "x"},
            {"type": "message", "role": "user", "content": "go"}
        ]}),
    );
    assert_eq!(out["messages"], json!([{"role": "user", "content": "go"}]));
    assert_eq!(dropped, ["input.web_search_call", "input.compaction"]);
}

// ---------------------------------------------------------------------------------------------
// Messages → Chat

fn m2c(body: Value) -> (Value, Vec<String>) {
    let t = translate_request(Wire::Messages, &body, &reasoning_target(Wire::Chat)).unwrap();
    (t.body, t.exchange.dropped)
}

#[test]
fn messages_system_blocks_and_text() {
    let (out, dropped) = m2c(json!({
        "model": "claude", "max_tokens": 1024,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"}, {"type": "text", "text": "You are Claude Code."}, {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "<system-reminder>x</system-reminder>"}, {"type": "text", "text": "Fix it", "cache_control": {"type": "ephemeral"}}
        ]}]
    }));
    assert_eq!(
        out,
        json!({"model": "up-model", "max_tokens": 1024, "messages": [
            {"role": "system", "content": "You are Claude Code.\n\nBe terse."},
            {"role": "user", "content": "<system-reminder>x</system-reminder>\n\nFix it"}
        ]})
    );
    assert_eq!(dropped, ["system.billing_header", "cache_control"]);
}

#[test]
fn messages_tool_round_trip_multi_turn() {
    let (out, _) = m2c(json!({
        "max_tokens": 4096,
        "messages": [
            {"role": "user", "content": "Read main.rs"},
            {"role": "system", "content": "# Environment"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "I should read it.", "signature": "sig"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/src/main.rs"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "fn main() {}"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [{"type": "text", "text": "missing"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}}]},
                {"type": "text", "text": "Now explain."}
            ]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "xx"}]},
            {"role": "assistant", "content": "It is empty."}
        ]
    }));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": "Read main.rs"},
            {"role": "system", "content": "# Environment"},
            {"role": "assistant", "content": "Reading.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "Read", "arguments": "{\"file_path\":\"/src/main.rs\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "Read", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "fn main() {}"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "missing"},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
            {"role": "user", "content": "Now explain."},
            {"role": "assistant", "content": "It is empty."}
        ])
    );
}

#[test]
fn messages_thinking_output_config_tools_and_choice() {
    let (out, dropped) = m2c(json!({
        "max_tokens": 32000, "stream": true, "stop_sequences": ["END"], "top_k": 5, "temperature": 0.5,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": {"type": "adaptive", "display": "omitted"},
        "output_config": {"effort": "low"},
        "tools": [
            {"name": "Bash", "description": "Run", "input_schema": {"type": "object"}, "defer_loading": true},
            {"type": "web_search_20250305", "name": "web_search"}
        ],
        "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": true}
    }));
    assert_eq!(
        out,
        json!({
            "model": "up-model", "max_tokens": 32000, "stream": true, "stream_options": {"include_usage": true},
            "stop": ["END"], "temperature": 0.5, "reasoning_effort": "low",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "Bash", "description": "Run", "parameters": {"type": "object"}}}],
            "tool_choice": {"type": "function", "function": {"name": "Bash"}},
            "parallel_tool_calls": false
        })
    );
    assert_eq!(
        dropped,
        [
            "top_k",
            "tools.defer_loading",
            "tools.web_search_20250305",
            "thinking.display"
        ]
    );
    let (out, _) = m2c(
        json!({"max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
                              "thinking": {"type": "enabled", "budget_tokens": 20000}}),
    );
    assert_eq!(out["reasoning_effort"], "high");
    let (out, _) = m2c(
        json!({"max_tokens": 9, "messages": [{"role": "user", "content": "x"}],
                              "thinking": {"type": "disabled"}, "output_config": {"effort": "high"}}),
    );
    assert!(out.get("reasoning_effort").is_none());
}

#[test]
fn output_limits_are_held_to_the_models() {
    let body = json!({"max_tokens": 128000, "messages": [{"role": "user", "content": "x"}]});
    let capped = Target {
        max_output_tokens: Some(16_384),
        ..target(Wire::Chat)
    };
    let t = translate_request(Wire::Messages, &body, &capped).unwrap();
    assert_eq!(t.body["max_tokens"], 16_384);
    let t = translate_request(Wire::Messages, &body, &target(Wire::Chat)).unwrap();
    assert_eq!(t.body["max_tokens"], 128_000);
    let t = translate_request(
        Wire::Responses,
        &json!({"input": "x"}),
        &Target {
            max_output_tokens: Some(20_000),
            ..target(Wire::Messages)
        },
    )
    .unwrap();
    assert_eq!(t.body["max_tokens"], 20_000);
    let t = translate(Wire::Responses, Wire::Messages, &json!({"input": "x"})).unwrap();
    assert_eq!(t.body["max_tokens"], messages::DEFAULT_MAX_TOKENS);
}

// ---------------------------------------------------------------------------------------------
// Messages → Responses

#[test]
fn messages_to_responses_reasoning_only_for_models_that_reason() {
    let body = json!({"max_tokens": 1000, "temperature": 0.3, "messages": [{"role": "user", "content": "x"}],
                      "thinking": {"type": "enabled", "budget_tokens": 3000}, "stop_sequences": ["END"]});
    let t = translate_request(Wire::Messages, &body, &reasoning_target(Wire::Responses)).unwrap();
    assert_eq!(
        t.body["reasoning"],
        json!({"effort": "low", "summary": "auto"})
    );
    assert!(t.body.get("temperature").is_none());
    assert_eq!(t.exchange.dropped, ["stop_sequences", "temperature"]);
    let t = translate(Wire::Messages, Wire::Responses, &body).unwrap();
    assert!(t.body.get("reasoning").is_none() && t.body.get("include").is_none());
    assert_eq!(t.body["temperature"], 0.3);
    assert_eq!(t.exchange.dropped, ["stop_sequences", "reasoning"]);
}

#[test]
fn messages_documents_and_images_reach_responses() {
    let (out, _) = ok(
        Wire::Messages,
        Wire::Responses,
        json!({"max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "document", "title": "spec.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
            {"type": "text", "text": "Summarise"}
        ]}]}),
    );
    assert_eq!(
        out["input"],
        json!([{"type": "message", "role": "user", "content": [
            {"type": "input_file", "file_data": "data:application/pdf;base64,JVBERi0", "filename": "spec.pdf"},
            {"type": "input_image", "image_url": "https://example.com/a.png"},
            {"type": "input_text", "text": "Summarise"}
        ]}])
    );
}

// ---------------------------------------------------------------------------------------------
// Chat → Messages

fn c2m(body: Value) -> (Value, Vec<String>) {
    let t = translate_request(Wire::Chat, &body, &reasoning_target(Wire::Messages)).unwrap();
    (t.body, t.exchange.dropped)
}

#[test]
fn chat_system_turns_and_default_max_tokens() {
    let (out, _) = c2m(json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use Rust."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "More"}]},
        {"role": "user", "content": "And more"}
    ]}));
    assert_eq!(
        out,
        json!({
            "model": "up-model", "system": "Be brief.\n\nUse Rust.", "max_tokens": messages::DEFAULT_MAX_TOKENS,
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
                {"role": "user", "content": [{"type": "text", "text": "More"}, {"type": "text", "text": "And more"}]}
            ]
        })
    );
}

#[test]
fn chat_tool_calls_results_and_images() {
    let (out, _) = c2m(json!({"messages": [
        {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/"}}]},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call.1", "type": "function", "function": {"name": "read", "arguments": "{\"p\":1}"}},
            {"id": "call_2", "type": "function", "function": {"name": "read", "arguments": ""}}
        ]},
        {"role": "tool", "tool_call_id": "call.1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "two"}]},
        {"role": "user", "content": "thanks"}
    ]}));
    assert_eq!(
        out["messages"],
        json!([
            {"role": "user", "content": [
                {"type": "text", "text": "Look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "call_1", "name": "read", "input": {"p": 1}},
                {"type": "tool_use", "id": "call_2", "name": "read", "input": {}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "one"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "two"},
                {"type": "text", "text": "thanks"}
            ]}
        ])
    );
}

#[test]
fn chat_reasoning_effort_becomes_thinking_outside_tool_loops() {
    let (out, _) = c2m(
        json!({"max_tokens": 1000, "temperature": 0.7, "reasoning_effort": "medium",
                              "messages": [{"role": "user", "content": "x"}]}),
    );
    assert_eq!(
        out["thinking"],
        json!({"type": "enabled", "budget_tokens": 8192})
    );
    assert_eq!(out["max_tokens"], 9192);
    assert!(out.get("temperature").is_none());
    // A tool is forced: Anthropic refuses thinking then.
    let (out, dropped) = c2m(
        json!({"reasoning_effort": "high", "tool_choice": "required",
                                    "tools": [{"type": "function", "function": {"name": "f"}}],
                                    "messages": [{"role": "user", "content": "x"}]}),
    );
    assert!(out.get("thinking").is_none());
    assert_eq!(dropped, ["reasoning"]);
    // In the middle of a tool loop without signed thinking to give back.
    let (out, _) = c2m(json!({"reasoning_effort": "high", "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "r"}
    ]}));
    assert!(out.get("thinking").is_none());
}

#[test]
fn chat_refusals_and_drops() {
    for (body, field) in [
        (json!({"messages": [], "n": 3}), "n"),
        (
            json!({"messages": [], "modalities": ["text", "audio"]}),
            "modalities",
        ),
        (json!({"messages": [], "audio": {"voice": "x"}}), "audio"),
    ] {
        assert_eq!(
            translate(Wire::Chat, Wire::Messages, &body)
                .unwrap_err()
                .field,
            field
        );
    }
    let (out, dropped) = c2m(
        json!({"messages": [{"role": "user", "content": "x"}], "n": 1,
        "modalities": ["text"], "seed": 3, "logprobs": true, "presence_penalty": 0.4,
        "response_format": {"type": "json_object"}}),
    );
    assert!(out.get("seed").is_none());
    assert_eq!(
        dropped,
        ["logprobs", "presence_penalty", "response_format", "seed"]
    );
}

// ---------------------------------------------------------------------------------------------
// Legacy Completions

#[test]
fn completions_prompts_become_one_user_message() {
    for provider in [Wire::Chat, Wire::Messages] {
        let (out, _) = ok(
            Wire::Completions,
            provider,
            json!({"model": "m", "prompt": ["Once upon"], "max_tokens": 16, "stop": "\n", "stream": true}),
        );
        let text = out.to_string();
        assert!(text.contains("Once upon"), "{provider:?}: {text}");
        assert_eq!(out["max_tokens"], 16);
        assert_eq!(out["stream"], true);
    }
    for body in [
        json!({"prompt": ["a", "b"]}),
        json!({"prompt": [[1, 2]]}),
        json!({"prompt": "x", "echo": true}),
        json!({"prompt": "x", "suffix": "}"}),
    ] {
        assert!(
            translate(Wire::Completions, Wire::Chat, &body).is_err(),
            "{body}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Whole answers

fn chat_answer() -> Value {
    json!({
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1700000000, "model": "deepseek-chat",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Running it.", "reasoning_content": "User wants ls.",
            "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "shell", "arguments": "{\"command\":[\"ls\"]}"}}]
        }}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120, "prompt_tokens_details": {"cached_tokens": 64}}
    })
}

#[test]
fn chat_answer_becomes_a_responses_object() {
    let out = translate_response(
        Wire::Chat,
        Wire::Responses,
        &chat_answer(),
        "gpt-5-codex",
        &Exchange::default(),
    )
    .unwrap();
    assert_eq!(
        out,
        json!({
            "id": "resp_123", "object": "response", "created_at": 1700000000, "status": "completed",
            "error": null, "incomplete_details": null, "model": "gpt-5-codex",
            "output": [
                {"type": "reasoning", "id": "rs_123_0", "summary": [{"type": "summary_text", "text": "User wants ls."}]},
                {"type": "message", "id": "msg_123_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Running it.", "annotations": []}]},
                {"type": "function_call", "id": "fc_123_2", "status": "completed", "call_id": "call_9",
                 "name": "shell", "arguments": "{\"command\":[\"ls\"]}"}
            ],
            "usage": {"input_tokens": 100, "input_tokens_details": {"cached_tokens": 64}, "output_tokens": 20,
                      "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 120}
        })
    );
}

#[test]
fn calls_of_custom_and_namespaced_tools_go_back_as_the_client_declared_them() {
    let body = json!({"input": "x", "tools": [
        {"type": "namespace", "name": "functions", "tools": [{"type": "custom", "name": "exec"}]},
        {"type": "namespace", "name": "multi_agent_v1", "tools": [{"type": "function", "name": "spawn_agent"}]}
    ]});
    let t = translate(Wire::Responses, Wire::Chat, &body).unwrap();
    let answer = json!({"id": "c1", "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "exec", "arguments": "{\"input\":\"text(1)\"}"}},
        {"id": "call_2", "type": "function", "function": {"name": "spawn_agent", "arguments": "{}"}}
    ]}}]});
    let out = translate_response(Wire::Chat, Wire::Responses, &answer, "m", &t.exchange).unwrap();
    assert_eq!(
        out["output"],
        json!([
            {"type": "custom_tool_call", "id": "fc_c1_0", "status": "completed", "call_id": "call_1",
             "name": "exec", "input": "text(1)", "namespace": "functions"},
            {"type": "function_call", "id": "fc_c1_1", "status": "completed", "call_id": "call_2",
             "name": "spawn_agent", "arguments": "{}", "namespace": "multi_agent_v1"}
        ])
    );
}

#[test]
fn anthropic_thinking_rides_through_a_responses_client_and_back() {
    let answer = json!({
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude",
        "content": [
            {"type": "thinking", "thinking": "Check the file.", "signature": "EqQBCkYIARgC"},
            {"type": "tool_use", "id": "toolu_01", "name": "exec_command", "input": {"cmd": "ls"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5}
    });
    let out = translate_response(
        Wire::Messages,
        Wire::Responses,
        &answer,
        "m",
        &Exchange::default(),
    )
    .unwrap();
    let reasoning = &out["output"][0];
    assert_eq!(reasoning["summary"][0]["text"], "Check the file.");
    let carried = reasoning["encrypted_content"].as_str().unwrap();
    assert!(
        !carried.contains("Check"),
        "packed, not readable in the clear"
    );
    assert_eq!(out["usage"]["input_tokens"], 100, "cache reads counted in");
    assert_eq!(out["status"], "completed");

    // Codex sends the items back with the tool's output: the thinking goes back signed, and
    // thinking can stay on in the tool loop.
    let mut input = vec![json!({"role": "user", "content": "ls please"})];
    input.extend(out["output"].as_array().unwrap().iter().cloned());
    input.push(json!({"type": "function_call_output", "call_id": "toolu_01", "output": "a.rs"}));
    let body = json!({"input": input, "reasoning": {"effort": "medium"}});
    let t = translate_request(Wire::Responses, &body, &reasoning_target(Wire::Messages)).unwrap();
    assert_eq!(
        t.body["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "Check the file.", "signature": "EqQBCkYIARgC"})
    );
    assert_eq!(t.body["thinking"]["type"], "enabled");
    // The same items sent to a Chat provider carry no reasoning.
    let t = translate(Wire::Responses, Wire::Chat, &body).unwrap();
    assert!(!t.body.to_string().contains("EqQBCkYIARgC"));
}

#[test]
fn openai_reasoning_rides_through_a_messages_client_and_back() {
    let answer = json!({
        "id": "resp_9", "object": "response", "status": "completed", "created_at": 5,
        "output": [
            {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Plan."}], "encrypted_content": "gAAAA-secret"},
            {"type": "reasoning", "id": "rs_2", "summary": [], "encrypted_content": "gAAAA-more"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running."}]},
            {"type": "function_call", "call_id": "call_7", "name": "Bash", "arguments": "{\"command\":\"ls\"}"}
        ],
        "usage": {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 20}, "output_tokens": 9}
    });
    let out = translate_response(
        Wire::Responses,
        Wire::Messages,
        &answer,
        "m",
        &Exchange::default(),
    )
    .unwrap();
    let content = out["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking");
    assert_eq!(content[0]["thinking"], "Plan.");
    assert_eq!(content[1]["type"], "redacted_thinking");
    assert_eq!(content[2], json!({"type": "text", "text": "Running."}));
    assert_eq!(content[3]["input"], json!({"command": "ls"}));
    assert_eq!(out["stop_reason"], "tool_use");
    assert_eq!(
        out["usage"],
        json!({"input_tokens": 30, "cache_read_input_tokens": 20, "cache_creation_input_tokens": 0, "output_tokens": 9})
    );

    let body = json!({"max_tokens": 100, "messages": [
        {"role": "user", "content": "ls"},
        {"role": "assistant", "content": content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_7", "content": "a.rs"}]}
    ]});
    let t = translate_request(Wire::Messages, &body, &reasoning_target(Wire::Responses)).unwrap();
    let input = t.body["input"].as_array().unwrap();
    assert_eq!(
        input[1],
        json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "Plan."}], "encrypted_content": "gAAAA-secret"})
    );
    assert_eq!(
        input[2],
        json!({"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-more"})
    );
    assert_eq!(input[4]["type"], "function_call");
    assert_eq!(
        input[5],
        json!({"type": "function_call_output", "call_id": "call_7", "output": "a.rs"})
    );
}

#[test]
fn answers_convert_between_every_pair() {
    let answers = [
        (Wire::Chat, chat_answer()),
        (
            Wire::Messages,
            json!({"id": "msg_1", "content": [{"type": "text", "text": "Hi"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                   "stop_reason": "max_tokens", "usage": {"input_tokens": 3, "output_tokens": 4}}),
        ),
        (
            Wire::Responses,
            json!({"id": "resp_1", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                   "output": [{"type": "message", "content": [{"type": "output_text", "text": "Hi"}]}],
                   "usage": {"input_tokens": 3, "output_tokens": 4}}),
        ),
    ];
    for (provider, answer) in answers {
        for client in WIRES {
            if client == provider || !supported(client, provider) {
                continue;
            }
            let out = translate_response(provider, client, &answer, "m", &Exchange::default())
                .unwrap_or_else(|e| panic!("{provider:?}→{client:?}: {e}"));
            let text = out.to_string();
            assert!(
                text.contains("Hi") || text.contains("Running it."),
                "{provider:?}→{client:?}: {text}"
            );
            assert!(usage_from_response(client, &out).is_some(), "{text}");
        }
    }
}

#[test]
fn malformed_answers_are_errors_not_panics() {
    for body in [
        json!({}),
        json!({"choices": []}),
        json!({"choices": [1]}),
        json!({"choices": [{"message": "x"}]}),
    ] {
        assert!(
            translate_response(
                Wire::Chat,
                Wire::Responses,
                &body,
                "m",
                &Exchange::default()
            )
            .is_err(),
            "{body}"
        );
    }
    let bad_args = json!({"choices": [{"message": {"tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{not json"}}]}}]});
    let err = translate_response(
        Wire::Chat,
        Wire::Messages,
        &bad_args,
        "m",
        &Exchange::default(),
    )
    .unwrap_err();
    assert!(err.message.contains("not a JSON object"), "{}", err.message);
}

// ---------------------------------------------------------------------------------------------
// Random shapes

const KEYS: &[&str] = &[
    "model",
    "input",
    "messages",
    "content",
    "type",
    "role",
    "text",
    "tools",
    "tool_choice",
    "function",
    "name",
    "arguments",
    "call_id",
    "id",
    "output",
    "tool_calls",
    "tool_call_id",
    "system",
    "instructions",
    "image_url",
    "url",
    "source",
    "data",
    "media_type",
    "input_schema",
    "parameters",
    "max_tokens",
    "stream",
    "thinking",
    "budget_tokens",
    "reasoning",
    "effort",
    "choices",
    "message",
    "delta",
    "finish_reason",
    "usage",
    "prompt",
    "stop",
    "index",
    "tool_use_id",
    "reasoning_content",
    "stop_reason",
    "format",
    "response",
    "n",
    "namespace",
    "encrypted_content",
    "signature",
    "summary",
    "output_config",
    "file_data",
    "detail",
    "status",
];
const TAGS: &[&str] = &[
    "message",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom_tool_call_output",
    "reasoning",
    "input_text",
    "output_text",
    "input_image",
    "input_file",
    "text",
    "image",
    "document",
    "image_url",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "function",
    "custom",
    "namespace",
    "additional_tools",
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "base64",
    "url",
    "auto",
    "any",
    "none",
    "required",
    "enabled",
    "adaptive",
    "json_schema",
    "data:image/png;base64,AA",
    "https://x",
    "{}",
    "{\"a\":1}",
    "cxa1_eyJ0IjoieCIsInMiOiJ5In0",
    "cxo1_eyJlIjoieCJ9",
];

/// A small deterministic generator of JSON made of the field names and tags these formats use.
pub(super) struct Garbage(pub u64);

impl Garbage {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    pub fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        options[(self.next() as usize) % options.len()]
    }

    pub fn object(&mut self, depth: u32) -> Value {
        let mut map = Map::new();
        for _ in 0..self.next() % 7 {
            let key = self.pick(KEYS).to_owned();
            map.insert(key, self.value(depth));
        }
        Value::Object(map)
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.next() % if depth == 0 { 5 } else { 8 } {
            0 => Value::Null,
            1 => Value::Bool(self.next().is_multiple_of(2)),
            2 => json!(self.next() % 5000),
            3 => json!(-1.5),
            4 => Value::String(self.pick(TAGS).to_owned()),
            5 | 6 => self.object(depth - 1),
            _ => Value::Array(
                (0..self.next() % 4)
                    .map(|_| self.value(depth - 1))
                    .collect(),
            ),
        }
    }
}

#[test]
fn random_shapes_never_panic() {
    let mut garbage = Garbage(7);
    for round in 0..3000 {
        let body = garbage.object(4);
        for from in WIRES {
            for to in WIRES {
                let target = Target {
                    reasons: round % 2 == 0,
                    max_output_tokens: (round % 3 == 0).then_some(100),
                    ..target(to)
                };
                if let Ok(t) = translate_request(from, &body, &target) {
                    let _ = translate_response(to, from, &body, "m", &t.exchange);
                }
                let _ = translate_response(from, to, &body, "m", &Exchange::default());
                let _ = usage_from_response(from, &body);
            }
        }
    }
}

#[test]
fn random_stream_events_never_panic() {
    use crate::translate::sse::SseEvent;
    let names = [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
        "error",
        "response.completed",
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "ping",
    ];
    let mut garbage = Garbage(11);
    for from in WIRES {
        for to in WIRES {
            for round in 0..40 {
                let mut t = StreamTranslator::new(from, to, "m", "resp_x", &Exchange::default());
                for _ in 0..30 {
                    let data = garbage.object(4).to_string();
                    let name = garbage.pick(&names);
                    let event = if garbage.next().is_multiple_of(2) {
                        SseEvent::named(name, data)
                    } else {
                        SseEvent::data(data)
                    };
                    let _ = t.on_event(&event);
                }
                let _ = t.finish(if round % 2 == 0 { None } else { Some("cut") });
                assert!(t.finished());
            }
        }
    }
}

#[test]
fn id_tails_strip_one_known_prefix() {
    assert_eq!(id_tail("resp_abc"), "abc");
    assert_eq!(id_tail("chatcmpl-abc"), "abc");
    assert_eq!(id_tail("msg_01"), "01");
    assert_eq!(id_tail("resp_"), "resp_");
    assert_eq!(id_tail("plain"), "plain");
}
