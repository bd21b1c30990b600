//! Property tests. Any request a client format accepts translates for every provider format it
//! can meet, or is refused on a field the tables refuse: never a panic, never a body without its
//! conversation, never a reported name that is not one. A provider's answer to it converts
//! back. Streams give the same client events however their bytes are split, end cleanly, and
//! carry every piece of text and tool input through.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::policy::{Policy, pair};
use super::sse::{SseEvent, SseParser};
use super::*;

const NAMES: &[&str] = &[
    "shell",
    "exec_command",
    "Bash",
    "apply_patch",
    "mcp__fs__read",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,10}",
        Just("fn main() { println!(\"hi\"); }".to_owned()),
        "\\PC{0,6}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(NAMES).prop_map(str::to_owned)
}

/// A type tag no format has (yet).
fn new_tag() -> impl Strategy<Value = String> {
    "zz_[a-z]{1,8}".prop_map(|t| t)
}

fn arguments() -> impl Strategy<Value = String> {
    prop_oneof![
        text().prop_map(|t| json!({"cmd": t}).to_string()),
        Just(String::new()),
        Just("{\"a\": [1, 2".to_owned()),
        Just("[1]".to_owned()),
    ]
}

fn schema() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(
            json!({"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]})
        ),
        Just(json!({"type": "object"})),
        Just(
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": false})
        ),
    ]
}

/// Extra top-level fields: any field of the pair's table with its example value (the mapped
/// ones excepted, which the generators make), and fields nobody has seen.
fn extras(client: Wire, provider: Wire) -> impl Strategy<Value = Map<String, Value>> {
    let rules: Vec<(&'static str, &'static str)> = pair(client, provider)
        .map(|p| {
            p.rules
                .iter()
                .filter(|r| !matches!(r.policy, Policy::Map))
                .map(|r| (r.field, r.example))
                .collect()
        })
        .unwrap_or_default();
    let known = prop::sample::subsequence(rules.clone(), 0..=rules.len().min(6));
    let unknown = prop::collection::vec(("x_[a-z]{1,6}", text()), 0..3);
    (known, unknown).prop_map(|(known, unknown)| {
        let mut out = Map::new();
        for (field, example) in known {
            if let Ok(value) = serde_json::from_str(example) {
                out.insert(field.to_owned(), value);
            }
        }
        for (field, value) in unknown {
            out.insert(field, json!(value));
        }
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Responses requests

fn responses_part() -> BoxedStrategy<Value> {
    prop_oneof![
        text().prop_map(|t| json!({"type": "input_text", "text": t})),
        text().prop_map(|t| json!({"type": "output_text", "text": t})),
        text().prop_map(|t| json!({"type": "refusal", "refusal": t})),
        Just(json!({"type": "input_image", "image_url": "data:image/png;base64,iVBOR"})),
        Just(json!({"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"})),
        Just(json!({"type": "input_image", "file_id": "file-1"})),
        Just(json!({"type": "input_file", "file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"})),
        Just(json!({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}})),
        new_tag().prop_map(|t| json!({"type": t})),
    ]
    .boxed()
}

fn responses_content() -> BoxedStrategy<Value> {
    prop_oneof![
        text().prop_map(Value::String),
        prop::collection::vec(responses_part(), 0..4).prop_map(Value::Array),
    ]
    .boxed()
}

fn responses_tool() -> BoxedStrategy<Value> {
    let function = (
        name(),
        prop::option::of(text()),
        schema(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(name, description, parameters, strict)| {
            let mut tool = json!({"type": "function", "name": name, "parameters": parameters});
            if let Some(d) = description {
                tool["description"] = json!(d);
            }
            if let Some(s) = strict {
                tool["strict"] = json!(s);
            }
            tool
        });
    let custom = name().prop_map(|name| {
        json!({"type": "custom", "name": name, "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}})
    });
    let plain = prop_oneof![function, custom];
    prop_oneof![
        4 => plain.clone(),
        1 => ("[a-z_]{1,12}", prop::collection::vec(plain, 0..3))
            .prop_map(|(ns, tools)| json!({"type": "namespace", "name": ns, "tools": tools})),
        1 => Just(json!({"type": "web_search", "external_web_access": false})),
        1 => new_tag().prop_map(|t| json!({"type": t})),
    ]
    .boxed()
}

fn responses_item() -> BoxedStrategy<Value> {
    let role = prop::sample::select(&["user", "assistant", "system", "developer"][..]);
    let sealed = prop_oneof![
        Just(Value::Null),
        Just(json!("gAAAA-opaque")),
        Just(json!(
            super::seal::Sealed::Thinking {
                thinking: "t".to_owned(),
                signature: "s".to_owned()
            }
            .for_client(Wire::Responses)
        )),
    ];
    prop_oneof![
        (role, responses_content(), any::<bool>()).prop_map(|(role, content, typed)| {
            let mut item = json!({"role": role, "content": content});
            if typed {
                item["type"] = json!("message");
            }
            item
        }),
        ("call_[a-z0-9]{1,6}", name(), arguments()).prop_map(|(id, name, arguments)| {
            json!({"type": "function_call", "call_id": id, "name": name, "arguments": arguments})
        }),
        ("call_[a-z0-9]{1,6}", responses_content()).prop_map(|(id, output)| {
            json!({"type": "function_call_output", "call_id": id, "output": output})
        }),
        ("call_[a-z0-9]{1,6}", name(), text()).prop_map(|(id, name, input)| {
            json!({"type": "custom_tool_call", "call_id": id, "name": name, "input": input})
        }),
        ("call_[a-z0-9]{1,6}", responses_content()).prop_map(|(id, output)| {
            json!({"type": "custom_tool_call_output", "call_id": id, "output": output})
        }),
        (text(), sealed).prop_map(|(summary, sealed)| {
            json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": summary}], "encrypted_content": sealed})
        }),
        prop::collection::vec(responses_tool(), 0..3)
            .prop_map(|tools| json!({"type": "additional_tools", "role": "developer", "tools": tools})),
        Just(json!({"type": "web_search_call", "action": {"type": "search"}})),
        Just(json!({"type": "compaction", "encrypted_content": "opaque"})),
        Just(json!({"type": "item_reference", "id": "msg_1"})),
        new_tag().prop_map(|t| json!({"type": t})),
    ]
    .boxed()
}

fn responses_request(provider: Wire) -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            text().prop_map(Value::String),
            prop::collection::vec(responses_item(), 0..8).prop_map(Value::Array),
        ],
        prop::option::of(text()),
        prop::collection::vec(responses_tool(), 0..4),
        prop::option::of(prop_oneof![
            Just(json!("auto")),
            Just(json!("required")),
            Just(json!("none")),
            Just(json!("sometimes")),
            name().prop_map(|n| json!({"type": "function", "name": n})),
            Just(json!({"type": "allowed_tools", "mode": "required", "tools": []})),
        ]),
        prop::option::of(
            prop::sample::select(&["none", "minimal", "low", "medium", "high", "xhigh", "extreme"][..])
                .prop_map(|e| json!({"effort": e, "summary": "auto", "context": "all_turns"})),
        ),
        prop::option::of(prop_oneof![
            Just(json!({"format": {"type": "json_schema", "name": "a", "schema": {"type": "object"}}})),
            Just(json!({"format": {"type": "json_object"}, "verbosity": "low"})),
            Just(json!({"format": {"type": "zz_grammar"}})),
        ]),
        (prop::option::of(1u64..200_000), any::<bool>()),
        extras(Wire::Responses, provider),
    )
        .prop_map(
            |(input, instructions, tools, choice, reasoning, text, (limit, stream), extras)| {
                let mut body = json!({"model": "m", "input": input, "stream": stream});
                let set = |body: &mut Value, key: &str, value: Option<Value>| {
                    if let Some(value) = value {
                        body[key] = value;
                    }
                };
                set(&mut body, "instructions", instructions.map(Value::String));
                set(&mut body, "tools", Some(Value::Array(tools)));
                set(&mut body, "tool_choice", choice);
                set(&mut body, "reasoning", reasoning);
                set(&mut body, "text", text);
                set(&mut body, "max_output_tokens", limit.map(|l| json!(l)));
                for (key, value) in extras {
                    body[key] = value;
                }
                body
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Messages requests

fn messages_block(role: &'static str) -> BoxedStrategy<Value> {
    let text_block = (text(), any::<bool>()).prop_map(|(t, cached)| {
        let mut block = json!({"type": "text", "text": t});
        if cached {
            block["cache_control"] = json!({"type": "ephemeral"});
        }
        block
    });
    match role {
        "assistant" => prop_oneof![
            text_block,
            (text(), prop_oneof![
                Just("EqQBCkYIARgC".to_owned()),
                Just(String::new()),
                Just(super::seal::Sealed::Encrypted { content: "gAAAA".to_owned() }.for_client(Wire::Messages)),
            ])
            .prop_map(|(t, s)| json!({"type": "thinking", "thinking": t, "signature": s})),
            Just(json!({"type": "redacted_thinking", "data": "EmwKAhgB"})),
            ("toolu_[a-z0-9]{1,6}", name(), text())
                .prop_map(|(id, n, t)| json!({"type": "tool_use", "id": id, "name": n, "input": {"command": t}})),
            Just(json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}})),
            new_tag().prop_map(|t| json!({"type": t})),
        ]
        .boxed(),
        "system" => text_block.boxed(),
        _ => {
            let inner = prop_oneof![
                text().prop_map(|t| json!({"type": "text", "text": t})),
                Just(json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}})),
                Just(json!({"type": "tool_reference", "tool_name": "WebFetch"})),
            ];
            prop_oneof![
                text_block,
                Just(json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}})),
                Just(json!({"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}})),
                Just(json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBER"}})),
                Just(json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}})),
                (
                    "toolu_[a-z0-9]{1,6}",
                    prop_oneof![
                        text().prop_map(Value::String),
                        prop::collection::vec(inner, 0..3).prop_map(Value::Array),
                    ],
                    any::<bool>()
                )
                    .prop_map(|(id, content, error)| {
                        json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": error})
                    }),
                new_tag().prop_map(|t| json!({"type": t})),
            ]
            .boxed()
        }
    }
}

fn messages_message() -> BoxedStrategy<Value> {
    prop::sample::select(&["user", "assistant", "system"][..])
        .prop_flat_map(|role| {
            prop_oneof![
                text().prop_map(Value::String),
                prop::collection::vec(messages_block(role), 0..4).prop_map(Value::Array),
            ]
            .prop_map(move |content| json!({"role": role, "content": content}))
        })
        .boxed()
}

fn messages_request(provider: Wire) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(messages_message(), 0..7),
        prop_oneof![
            Just(Value::Null),
            text().prop_map(Value::String),
            Just(json!([
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=1;"},
                {"type": "text", "text": "You are an agent.", "cache_control": {"type": "ephemeral"}}
            ])),
        ],
        prop::collection::vec(
            prop_oneof![
                3 => (name(), schema(), any::<bool>()).prop_map(|(n, s, deferred)| {
                    let mut tool = json!({"name": n, "description": "d", "input_schema": s});
                    if deferred {
                        tool["defer_loading"] = json!(true);
                    }
                    tool
                }),
                1 => Just(json!({"type": "web_search_20250305", "name": "web_search"})),
            ],
            0..4,
        ),
        prop::option::of(prop_oneof![
            Just(json!({"type": "auto"})),
            Just(json!({"type": "any", "disable_parallel_tool_use": true})),
            Just(json!({"type": "none"})),
            name().prop_map(|n| json!({"type": "tool", "name": n})),
            Just(json!({"type": "zz_new"})),
        ]),
        prop::option::of(prop_oneof![
            (1024u64..40_000).prop_map(|b| json!({"type": "enabled", "budget_tokens": b})),
            Just(json!({"type": "adaptive", "display": "omitted"})),
            Just(json!({"type": "disabled"})),
        ]),
        prop::option::of(
            prop::sample::select(&["low", "medium", "high", "max", "bogus"][..])
                .prop_map(|e| json!({"effort": e})),
        ),
        (1u64..130_000, any::<bool>()),
        extras(Wire::Messages, provider),
    )
        .prop_map(
            |(messages, system, tools, choice, thinking, config, (max, stream), extras)| {
                let mut body = json!({"model": "m", "messages": messages, "max_tokens": max, "stream": stream,
                                      "system": system, "tools": tools});
                if let Some(choice) = choice {
                    body["tool_choice"] = choice;
                }
                if let Some(thinking) = thinking {
                    body["thinking"] = thinking;
                }
                if let Some(config) = config {
                    body["output_config"] = config;
                }
                for (key, value) in extras {
                    body[key] = value;
                }
                body
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Chat and legacy requests

fn chat_message() -> BoxedStrategy<Value> {
    let part = prop_oneof![
        text().prop_map(|t| json!({"type": "text", "text": t})),
        Just(
            json!({"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/", "detail": "high"}})
        ),
        Just(json!({"type": "image_url", "image_url": "https://example.com/a.png"})),
        Just(
            json!({"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBER", "filename": "a.pdf"}})
        ),
        Just(json!({"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}})),
        new_tag().prop_map(|t| json!({"type": t})),
    ];
    let content = prop_oneof![
        text().prop_map(Value::String),
        prop::collection::vec(part, 0..3).prop_map(Value::Array),
    ];
    let call = ("call_[a-z0-9]{1,6}", name(), arguments()).prop_map(|(id, n, a)| {
        let arguments = if serde_json::from_str::<Value>(&a).is_ok_and(|v| v.is_object()) {
            a
        } else {
            "{}".to_owned()
        };
        json!({"id": id, "type": "function", "function": {"name": n, "arguments": arguments}})
    });
    prop_oneof![
        (
            prop::sample::select(&["system", "developer", "user"][..]),
            content.clone()
        )
            .prop_map(|(role, content)| json!({"role": role, "content": content})),
        (
            prop::option::of(text()),
            prop::collection::vec(call, 0..3),
            prop::option::of(text())
        )
            .prop_map(|(text, calls, reasoning)| {
                let mut m = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    m["tool_calls"] = json!(calls);
                }
                if let Some(r) = reasoning {
                    m["reasoning_content"] = json!(r);
                }
                m
            }),
        ("call_[a-z0-9]{1,6}", content).prop_map(
            |(id, content)| json!({"role": "tool", "tool_call_id": id, "content": content})
        ),
    ]
    .boxed()
}

fn chat_request(provider: Wire) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(chat_message(), 0..7),
        prop::collection::vec(
            prop_oneof![
                3 => (name(), schema()).prop_map(|(n, s)| json!({"type": "function", "function": {"name": n, "parameters": s}})),
                1 => name().prop_map(|n| json!({"type": "custom", "custom": {"name": n}})),
            ],
            0..3,
        ),
        prop::option::of(prop_oneof![
            Just(json!("auto")),
            Just(json!("required")),
            name().prop_map(|n| json!({"type": "function", "function": {"name": n}})),
        ]),
        prop::option::of(prop::sample::select(&["low", "medium", "high", "minimal", "odd"][..])),
        any::<bool>(),
        extras(Wire::Chat, provider),
    )
        .prop_map(|(messages, tools, choice, effort, stream, extras)| {
            let mut body = json!({"model": "m", "messages": messages, "tools": tools, "stream": stream});
            if let Some(choice) = choice {
                body["tool_choice"] = choice;
            }
            if let Some(effort) = effort {
                body["reasoning_effort"] = json!(effort);
            }
            for (key, value) in extras {
                body[key] = value;
            }
            body
        })
}

fn completions_request(provider: Wire) -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            text().prop_map(Value::String),
            text().prop_map(|t| json!([t])),
        ],
        any::<bool>(),
        extras(Wire::Completions, provider),
    )
        .prop_map(|(prompt, stream, extras)| {
            let mut body = json!({"model": "m", "prompt": prompt, "stream": stream});
            for (key, value) in extras {
                body[key] = value;
            }
            body
        })
}

// ---------------------------------------------------------------------------------------------
// The request property

/// Whether an error names a field the tables refuse, or the one item type that needs stored
/// state.
fn refusable(client: Wire, provider: Wire, field: &str) -> bool {
    let table = pair(client, provider).is_some_and(|p| {
        p.rule(field)
            .is_some_and(|r| matches!(r.policy, Policy::Refuse(_)))
    });
    table || (field.starts_with("input[") && field.ends_with("].type"))
}

fn check_request(client: Wire, provider: Wire, body: &Value) -> Result<(), TestCaseError> {
    for (reasons, max_output_tokens) in [(false, None), (true, Some(8_192))] {
        let target = Target {
            wire: provider,
            model: "up",
            max_output_tokens,
            reasons,
        };
        match translate_request(client, body, &target) {
            Ok(t) => {
                prop_assert_eq!(&t.body["model"], "up");
                let conversation = if provider == Wire::Responses {
                    "input"
                } else {
                    "messages"
                };
                prop_assert!(t.body[conversation].is_array(), "{}", t.body);
                if provider == Wire::Messages {
                    prop_assert!(t.body["max_tokens"].as_u64().is_some_and(|m| m > 0));
                }
                for name in &t.exchange.dropped {
                    prop_assert!(
                        name == "?"
                            || name == "…"
                            || name.bytes().all(|b| b.is_ascii_lowercase()
                                || b.is_ascii_digit()
                                || b"_.?".contains(&b)),
                        "{name}"
                    );
                }
                // A provider's answer calling one of the tools it was offered converts back.
                let tool = t.body["tools"]
                    .get(0)
                    .and_then(|t| t.get("name").or_else(|| t.pointer("/function/name")))
                    .and_then(Value::as_str)
                    .unwrap_or("f");
                let answer = match provider {
                    Wire::Chat => {
                        json!({"id": "c", "choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant", "content": "ok",
                        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{\"input\":\"x\"}"}}]}}]})
                    }
                    Wire::Messages => {
                        json!({"id": "msg_1", "content": [{"type": "text", "text": "ok"}, {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {"input": "x"}}],
                        "stop_reason": "tool_use", "usage": {"input_tokens": 1, "output_tokens": 1}})
                    }
                    Wire::Responses => {
                        json!({"id": "resp_1", "status": "completed", "output": [{"type": "function_call", "call_id": "c1", "name": tool, "arguments": "{\"input\":\"x\"}"}]})
                    }
                    Wire::Completions => Value::Null,
                };
                let back = translate_response(provider, client, &answer, "m", &t.exchange);
                prop_assert!(back.is_ok(), "{:?}", back.err());
            }
            Err(e) => prop_assert!(
                refusable(client, provider, &e.field),
                "{client:?}→{provider:?}: {e:?} for {body}"
            ),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn responses_requests_translate_or_are_refused_on_a_refused_field(
        chat in responses_request(Wire::Chat),
        messages in responses_request(Wire::Messages),
    ) {
        check_request(Wire::Responses, Wire::Chat, &chat)?;
        check_request(Wire::Responses, Wire::Messages, &messages)?;
    }

    #[test]
    fn messages_requests_translate_or_are_refused_on_a_refused_field(
        chat in messages_request(Wire::Chat),
        responses in messages_request(Wire::Responses),
    ) {
        check_request(Wire::Messages, Wire::Chat, &chat)?;
        check_request(Wire::Messages, Wire::Responses, &responses)?;
    }

    #[test]
    fn chat_and_legacy_requests_translate_or_are_refused_on_a_refused_field(
        chat in chat_request(Wire::Messages),
        legacy_chat in completions_request(Wire::Chat),
        legacy_messages in completions_request(Wire::Messages),
    ) {
        check_request(Wire::Chat, Wire::Messages, &chat)?;
        check_request(Wire::Completions, Wire::Chat, &legacy_chat)?;
        check_request(Wire::Completions, Wire::Messages, &legacy_messages)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Streams

#[derive(Debug, Clone)]
enum Step {
    Text(String),
    Reasoning(String),
    Call { name: String, pieces: Vec<String> },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let piece = "[a-z\"{}: ]{0,6}";
    prop::collection::vec(
        prop_oneof![
            text().prop_map(Step::Text),
            "[a-z ]{1,10}".prop_map(Step::Reasoning),
            (name(), prop::collection::vec(piece, 1..4))
                .prop_map(|(name, pieces)| Step::Call { name, pieces }),
        ],
        1..6,
    )
}

fn events(provider: Wire, steps: &[Step]) -> Vec<SseEvent> {
    let calls = steps.iter().any(|s| matches!(s, Step::Call { .. }));
    let mut out = Vec::new();
    let named = |out: &mut Vec<SseEvent>, name: &str, mut data: Value| {
        data["type"] = json!(name);
        out.push(SseEvent::named(name, data.to_string()));
    };
    match provider {
        Wire::Chat => {
            let chunk = |delta: Value, finish: Value| {
                SseEvent::data(json!({"id": "chatcmpl-1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string())
            };
            out.push(chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
            ));
            let mut index = 0;
            for step in steps {
                match step {
                    Step::Text(t) => out.push(chunk(json!({"content": t}), Value::Null)),
                    Step::Reasoning(r) => {
                        out.push(chunk(json!({"reasoning_content": r}), Value::Null))
                    }
                    Step::Call { name, pieces } => {
                        out.push(chunk(json!({"tool_calls": [{"index": index, "id": format!("call_{index}"), "type": "function", "function": {"name": name, "arguments": ""}}]}), Value::Null));
                        for piece in pieces {
                            out.push(chunk(json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), Value::Null));
                        }
                        index += 1;
                    }
                }
            }
            out.push(chunk(
                json!({}),
                json!(if calls { "tool_calls" } else { "stop" }),
            ));
            out.push(SseEvent::data(json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}}).to_string()));
            out.push(SseEvent::data("[DONE]"));
        }
        Wire::Messages => {
            named(
                &mut out,
                "message_start",
                json!({"message": {"id": "msg_1", "usage": {"input_tokens": 5, "output_tokens": 1}}}),
            );
            for (index, step) in steps.iter().enumerate() {
                match step {
                    Step::Text(t) => {
                        named(
                            &mut out,
                            "content_block_start",
                            json!({"index": index, "content_block": {"type": "text", "text": ""}}),
                        );
                        named(
                            &mut out,
                            "content_block_delta",
                            json!({"index": index, "delta": {"type": "text_delta", "text": t}}),
                        );
                    }
                    Step::Reasoning(r) => {
                        named(
                            &mut out,
                            "content_block_start",
                            json!({"index": index, "content_block": {"type": "thinking", "thinking": ""}}),
                        );
                        named(
                            &mut out,
                            "content_block_delta",
                            json!({"index": index, "delta": {"type": "thinking_delta", "thinking": r}}),
                        );
                        named(
                            &mut out,
                            "content_block_delta",
                            json!({"index": index, "delta": {"type": "signature_delta", "signature": "sig"}}),
                        );
                    }
                    Step::Call { name, pieces } => {
                        named(
                            &mut out,
                            "content_block_start",
                            json!({"index": index, "content_block": {"type": "tool_use", "id": format!("toolu_{index}"), "name": name, "input": {}}}),
                        );
                        for piece in pieces {
                            named(
                                &mut out,
                                "content_block_delta",
                                json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                            );
                        }
                    }
                }
                named(&mut out, "content_block_stop", json!({"index": index}));
            }
            named(
                &mut out,
                "message_delta",
                json!({"delta": {"stop_reason": if calls { "tool_use" } else { "end_turn" }}, "usage": {"output_tokens": 3}}),
            );
            named(&mut out, "message_stop", json!({}));
        }
        Wire::Responses => {
            named(
                &mut out,
                "response.created",
                json!({"response": {"id": "resp_1"}}),
            );
            for (index, step) in steps.iter().enumerate() {
                match step {
                    Step::Text(t) => {
                        named(
                            &mut out,
                            "response.output_item.added",
                            json!({"output_index": index, "item": {"type": "message"}}),
                        );
                        named(
                            &mut out,
                            "response.output_text.delta",
                            json!({"output_index": index, "delta": t}),
                        );
                    }
                    Step::Reasoning(r) => {
                        named(
                            &mut out,
                            "response.output_item.added",
                            json!({"output_index": index, "item": {"type": "reasoning"}}),
                        );
                        named(
                            &mut out,
                            "response.reasoning_summary_text.delta",
                            json!({"output_index": index, "summary_index": 0, "delta": r}),
                        );
                        named(
                            &mut out,
                            "response.output_item.done",
                            json!({"output_index": index, "item": {"type": "reasoning", "encrypted_content": "enc"}}),
                        );
                    }
                    Step::Call { name, pieces } => {
                        named(
                            &mut out,
                            "response.output_item.added",
                            json!({"output_index": index, "item": {"type": "function_call", "call_id": format!("call_{index}"), "name": name, "arguments": ""}}),
                        );
                        for piece in pieces {
                            named(
                                &mut out,
                                "response.function_call_arguments.delta",
                                json!({"output_index": index, "delta": piece}),
                            );
                        }
                    }
                }
            }
            named(
                &mut out,
                "response.completed",
                json!({"response": {"status": "completed", "usage": {"input_tokens": 5, "output_tokens": 3}}}),
            );
        }
        Wire::Completions => {}
    }
    out
}

fn feed(provider: Wire, client: Wire, bytes: &[u8], cuts: &[usize]) -> (Vec<SseEvent>, bool, bool) {
    // A fixed `created`, so that two runs a second apart write the same events.
    let mut t = StreamTranslator::new(provider, client, "m", "resp_p", &Exchange::default())
        .with_created_at(1_700_000_000);
    let mut parser = SseParser::default();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([bytes.len()]) {
        for event in parser.push(&bytes[at..cut.max(at)]) {
            out.extend(t.on_event(&event));
        }
        at = cut.max(at);
    }
    for event in parser.finish() {
        out.extend(t.on_event(&event));
    }
    let finished = t.finished();
    out.extend(t.finish(None));
    (out, finished, t.failed())
}

/// The text and the tool-call arguments (in order of the calls) a client's events carry.
fn carried(client: Wire, events: &[SseEvent]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut calls: Vec<String> = Vec::new();
    for event in events {
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            continue;
        };
        match client {
            Wire::Chat | Wire::Completions => {
                let choice = &data["choices"][0];
                text.push_str(
                    choice["delta"]["content"]
                        .as_str()
                        .or(choice["text"].as_str())
                        .unwrap_or_default(),
                );
                for call in choice["delta"]["tool_calls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    let index = call["index"].as_u64().unwrap_or(0) as usize;
                    if calls.len() <= index {
                        calls.resize(index + 1, String::new());
                    }
                    calls[index]
                        .push_str(call["function"]["arguments"].as_str().unwrap_or_default());
                }
            }
            Wire::Messages => match data["delta"]["type"].as_str() {
                Some("text_delta") => {
                    text.push_str(data["delta"]["text"].as_str().unwrap_or_default())
                }
                Some("input_json_delta") => {
                    if let Some(last) = calls.last_mut() {
                        last.push_str(data["delta"]["partial_json"].as_str().unwrap_or_default());
                    }
                }
                _ if data["content_block"]["type"] == "tool_use" => calls.push(String::new()),
                _ => {}
            },
            Wire::Responses => {
                if data["type"] == "response.completed" {
                    for item in data["response"]["output"].as_array().into_iter().flatten() {
                        match item["type"].as_str() {
                            Some("message") => text
                                .push_str(item["content"][0]["text"].as_str().unwrap_or_default()),
                            Some("function_call") => calls
                                .push(item["arguments"].as_str().unwrap_or_default().to_owned()),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    (text, calls)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn streams_split_anywhere_give_the_same_events_and_carry_everything(
        steps in steps(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        for provider in [Wire::Chat, Wire::Messages, Wire::Responses] {
            let bytes: Vec<u8> = events(provider, &steps).iter().flat_map(SseEvent::to_bytes).collect();
            for client in [Wire::Chat, Wire::Messages, Wire::Responses, Wire::Completions] {
                if client == provider || !supported(client, provider) {
                    continue;
                }
                let (whole, finished, failed) = feed(provider, client, &bytes, &[]);
                let (split, _, _) = feed(provider, client, &bytes, &cuts);
                prop_assert_eq!(&whole, &split, "{:?}→{:?}", provider, client);
                prop_assert!(finished && !failed, "{:?}→{:?} ended cleanly", provider, client);
                let (text, calls) = carried(client, &whole);
                let sent: String = steps.iter().filter_map(|s| match s { Step::Text(t) => Some(t.as_str()), _ => None }).collect();
                prop_assert_eq!(text, sent, "{:?}→{:?}: text", provider, client);
                if client != Wire::Completions {
                    let sent: Vec<String> = steps.iter().filter_map(|s| match s { Step::Call { pieces, .. } => Some(pieces.concat()), _ => None }).collect();
                    prop_assert_eq!(calls, sent, "{:?}→{:?}: tool input", provider, client);
                }
            }
        }
    }
}
