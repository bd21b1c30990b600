//! The API through the real binary against a fake upstream that speaks the providers' wire
//! formats: forwarding, streaming, errors in the caller's shape, failover and metering.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::Duration;

use common::upstream::{ANSWER, FakeUpstream};
use common::{Row, Server, usage_rows};
use reqwest::blocking::{Client, Response};
use rusqlite::Connection;
use serde_json::{Value, json};

fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
[log]
level = "trace"

[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret-compat"
priority = 1

[[providers]]
name = "openai"
kind = "openai"
base_url = "{base}"
api_key = "upstream-secret-openai"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{base}"
api_key = "upstream-secret-anthropic"

[[providers]]
name = "broken"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret-broken"
priority = 0

[[models]]
id = "chat-model"
aliases = ["chat-alias"]
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "1.00", cached_input = "0.50", output = "2.00" }}

[[models]]
id = "gpt-test"
routes = [{{ provider = "openai" }}]
reasoning_efforts = ["low", "medium", "high"]
price = {{ input = 1, output = 2 }}

[[models]]
id = "claude-test"
routes = [{{ provider = "anthropic" }}]
reasoning_efforts = ["low", "medium", "high"]
price = {{ input = 1, output = 2 }}

[[models]]
id = "failover-model"
routes = [{{ provider = "broken", model = "fail-500" }}, {{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "busy-model"
routes = [{{ provider = "compat", model = "fail-429" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "drop-model"
routes = [{{ provider = "compat", model = "drop" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "codex-via-chat"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "claude-via-chat"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "no-usage-model"
routes = [{{ provider = "compat", model = "no-usage" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "long-model"
routes = [{{ provider = "compat", model = "long" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "refused-model"
routes = [{{ provider = "compat", model = "bad-request" }}]
price = {{ input = 1, output = 2 }}
"#,
        base = up.base
    )
}

fn http() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn post(server: &Server, path: &str, key: &str, body: Value) -> Response {
    http()
        .post(server.url(path))
        .bearer_auth(key)
        .json(&body)
        .send()
        .unwrap()
}

#[test]
fn chat_completions_forward_to_a_chat_provider_whole_and_streamed() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");

    let res = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({
            "model": "chat-alias",
            "messages": [{"role": "user", "content": "Say hello"}],
        }),
    );
    assert_eq!(res.status(), 200);
    let body: Value = res.json().unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], ANSWER);

    let seen = up.seen();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(
        seen[0].body["model"], "upstream-chat",
        "the route's upstream name is sent"
    );
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer upstream-secret-compat")
    );
    assert!(
        !format!("{seen:?}").contains(&key),
        "the client's key never goes upstream"
    );

    let res = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({
            "model": "chat-model",
            "stream": true,
            "messages": [{"role": "user", "content": "Say hello"}],
        }),
    );
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let text = res.text().unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let streamed: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(streamed, ANSWER);

    let rows = usage_rows(&server);
    assert_eq!(rows.len(), 2);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.endpoint, "/v1/chat/completions");
        assert_eq!(row.provider, "compat");
        assert_eq!((row.status, row.outcome.as_str()), (200, "completed"));
        assert_eq!(
            (row.input, row.cached, row.output),
            (21, 4, 9),
            "usage from the upstream"
        );
        // 17 fresh at $1/M + 4 cached at $0.50/M + 9 out at $2/M = 17 + 2 + 18 = 37 µ.
        assert_eq!(row.cost, 37);
        assert_eq!(row.streamed, i == 1);
    }
}

#[test]
fn nothing_is_stored_upstream_in_any_format() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    for stream in [false, true] {
        let res = post(
            &server,
            "/v1/responses",
            &key,
            json!({
                "model": "gpt-test",
                "stream": stream,
                "store": true,
                "input": "Say hello",
            }),
        );
        assert_eq!(res.status(), 200);
        let text = res.text().unwrap();
        assert!(text.contains(ANSWER));
        if stream {
            assert!(text.contains("event: response.completed"), "{text}");
        }
    }
    for seen in up.seen() {
        assert_eq!(seen.path, "/v1/responses");
        assert_eq!(seen.body["store"], false, "nothing is stored upstream");
    }
    let rows = usage_rows(&server);
    assert_eq!(rows.len(), 2);

    // Chat stores only when asked to; the ask does not go upstream either.
    for model in ["chat-model", "gpt-test"] {
        let res = post(
            &server,
            "/v1/chat/completions",
            &key,
            json!({"model": model, "store": true, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(res.status(), 200);
        let seen = up.seen();
        let last = seen.last().unwrap();
        match last.path.as_str() {
            "/v1/chat/completions" => assert_eq!(last.body.get("store"), None, "{model}"),
            _ => assert_eq!(last.body["store"], false, "{model}"),
        }
    }
    assert!(
        rows.iter()
            .all(|r| r.outcome == "completed" && r.input == 21 && r.output == 9)
    );
}

#[test]
fn messages_go_to_anthropic_with_its_headers() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    for stream in [false, true] {
        let res = http()
            .post(server.url("/v1/messages?beta=true"))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(
                &json!({"model": "claude-test", "max_tokens": 64, "stream": stream,
                          "messages": [{"role": "user", "content": "Say hello"}]}),
            )
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
        let text = res.text().unwrap();
        assert!(text.contains(ANSWER));
        if stream {
            assert!(text.contains("event: message_stop"));
        }
    }
    for seen in up.seen() {
        assert_eq!(seen.path, "/v1/messages");
        assert_eq!(seen.x_api_key.as_deref(), Some("upstream-secret-anthropic"));
        assert_eq!(seen.anthropic_version.as_deref(), Some("2023-06-01"));
        assert!(seen.authorization.is_none());
    }
    // Anthropic's input_tokens leave out cached tokens: 17 + 4 read from cache = 21.
    let rows = usage_rows(&server);
    assert!(
        rows.iter()
            .all(|r| r.input == 21 && r.cached == 4 && r.output == 9),
        "{rows:?}"
    );
}

#[test]
fn errors_come_in_the_callers_shape() {
    let up = FakeUpstream::start();
    let server = Server::start(&format!(
        "{}\n[gateway]\nmax_body_bytes = 2048\n",
        config(&up)
    ));
    let key = common::user_with_key(&server, "dev@example.test");
    let client = http();

    let openai = |res: Response| -> (u16, Value) {
        let status = res.status().as_u16();
        (status, res.json().unwrap())
    };
    let (status, body) = openai(
        client
            .post(server.url("/v1/chat/completions"))
            .json(&json!({"model": "chat-model"}))
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (401, Some("authentication_error"))
    );
    let (status, body) = openai(post(
        &server,
        "/v1/chat/completions",
        "sk-cx-not-a-real-key",
        json!({"model": "chat-model"}),
    ));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );

    let res = client
        .post(server.url("/v1/messages"))
        .header("x-api-key", "sk-cx-wrong")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
    let body: Value = res.json().unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");

    let res = client
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let (status, body) = openai(post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"messages": []}),
    ));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "model");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`model`")
    );

    let (status, body) = openai(post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"model": "no-such-model"}),
    ));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );

    let big = "x".repeat(4096);
    let (status, body) = openai(post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"model": "chat-model", "pad": big}),
    ));
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (413, Some("invalid_request_error"))
    );

    let (status, body) = openai(post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"model": "busy-model", "messages": []}),
    ));
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (429, Some("rate_limit_error"))
    );

    let (status, body) = openai(post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"model": "refused-model", "messages": []}),
    ));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"]["message"],
        "upstream says the request is wrong"
    );

    let res = client
        .get(server.url("/v1/nope"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);

    // Every request a key vouched for left a row, rejected ones included; the anonymous ones
    // left nothing, and a model name the server does not have was not written down.
    let rows = usage_rows(&server);
    assert!(rows.len() >= 6, "{rows:?}");
    assert!(rows.iter().all(|r| r.status != 401), "{rows:?}");
    assert!(rows.iter().any(|r| r.status == 413));
    let conn = Connection::open(server.db_path()).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM usage WHERE user_id IS NULL OR model = 'no-such-model'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, 0);
}

#[test]
fn an_address_that_sends_many_unknown_keys_is_refused_for_a_while() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let models = |key: &str| {
        http()
            .get(server.url("/v1/models"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(models(&key), 200, "the key is known now");
    let statuses: Vec<u16> = (0..40)
        .map(|i| models(&format!("sk-cx-guess{i:040}")))
        .collect();
    let unknown = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(unknown, 31, "{statuses:?}");
    assert!(statuses[31..].iter().all(|s| *s == 429), "{statuses:?}");
    // Someone else behind the same address, with a key that works, still gets through.
    assert_eq!(models(&key), 200);
    let res = http()
        .get(server.url("/v1/models"))
        .bearer_auth("sk-cx-one-more")
        .send()
        .unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
}

#[test]
fn revoked_keys_and_disallowed_models_are_refused_at_once() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    assert_eq!(
        post(
            &server,
            "/v1/chat/completions",
            &key,
            json!({"model": "chat-model", "messages": []})
        )
        .status(),
        200
    );

    let conn = Connection::open(server.db_path()).unwrap();
    conn.execute("UPDATE api_keys SET models = '[\"gpt-test\"]'", [])
        .unwrap();
    // A change to the key alone is seen at the next refresh; revocation moves the marker.
    conn.execute("UPDATE users SET updated_at = updated_at + 1", [])
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let res = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"model": "chat-model", "messages": []}),
    );
    assert_eq!(res.status(), 403);

    conn.execute("UPDATE api_keys SET revoked_at = 1", [])
        .unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    let res = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({"model": "gpt-test", "messages": []}),
    );
    assert_eq!(res.status(), 403);
    let body: Value = res.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

/// The test config with a provider that waits for answers one second at most, `breaker_failures`
/// of 1 with a rest of one second, and models on the fake upstream's `slow` and `fail-401` behaviours.
fn config_with_slow_and_refusing_providers(up: &FakeUpstream) -> String {
    format!(
        r#"{base}
[[providers]]
name = "hasty"
kind = "openai_compatible"
base_url = "{url}"
api_key = "upstream-secret-hasty"
first_byte_timeout_secs = 1
priority = 0

[[models]]
id = "slow-model"
routes = [{{ provider = "hasty", model = "slow" }}, {{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "keyless-model"
routes = [{{ provider = "broken", model = "fail-401" }}, {{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "keyless-only"
routes = [{{ provider = "broken", model = "fail-401" }}]
price = {{ input = 1, output = 2 }}

[gateway]
breaker_failures = 1
breaker_cooldown_secs = 1
"#,
        base = config(up),
        url = up.base
    )
}

#[test]
fn credential_refusals_fail_over_and_their_text_reaches_no_user() {
    let up = FakeUpstream::start();
    let server = Server::start(&config_with_slow_and_refusing_providers(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let ask = |model: &str| {
        post(
            &server,
            "/v1/chat/completions",
            &key,
            json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        )
    };
    let res = ask("keyless-model");
    assert_eq!(res.status(), 200, "the next provider answered");
    assert!(res.text().unwrap().contains(ANSWER));

    // With nowhere else to go.
    let res = ask("keyless-only");
    assert_eq!(res.status(), 502);
    let body = res.text().unwrap();
    for leak in ["sk-op", "WXYZ", "Incorrect API key", "api-keys"] {
        assert!(!body.contains(leak), "{leak} reached the user: {body}");
    }
    assert!(body.contains("credentials"), "{body}");
}

#[test]
fn slow_whole_answers_are_waited_for_and_slow_streams_rest_no_provider() {
    let up = FakeUpstream::start();
    let server = Server::start(&config_with_slow_and_refusing_providers(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let ask = |stream: bool| {
        let res = post(
            &server,
            "/v1/chat/completions",
            &key,
            json!({"model": "slow-model", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}),
        );
        assert_eq!(res.status(), 200);
        res.text().unwrap()
    };
    // A stream that says nothing for a second goes to the next provider; the slow one is not
    // counted as failed (with breaker_failures = 1 it would rest at once).
    ask(true);
    // A whole answer takes its time: it is waited for, not sent a second time elsewhere.
    ask(false);
    let models: Vec<String> = up
        .seen()
        .iter()
        .map(|s| s.body["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["slow", "upstream-chat", "slow"]);
}

#[test]
fn failing_providers_fail_over_before_the_first_byte() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    for stream in [false, true] {
        let res = post(
            &server,
            "/v1/chat/completions",
            &key,
            json!({
                "model": "failover-model", "stream": stream,
                "messages": [{"role": "user", "content": "hi"}],
            }),
        );
        assert_eq!(res.status(), 200);
        assert!(res.text().unwrap().contains("fake upstream"));
    }
    let models: Vec<String> = up
        .seen()
        .iter()
        .map(|s| s.body["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        ["fail-500", "upstream-chat", "fail-500", "upstream-chat"]
    );
}

#[test]
fn a_stream_cut_midway_ends_with_an_error_event_and_is_metered() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let res = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({
            "model": "drop-model", "stream": true, "messages": [{"role": "user", "content": "hi"}],
        }),
    );
    assert_eq!(res.status(), 200);
    let text = res.text().unwrap();
    assert!(text.contains("\"error\""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let rows = usage_rows(&server);
    assert_eq!(rows.last().unwrap().outcome, "upstream_dropped");
}

#[test]
fn models_are_listed_in_the_callers_shape() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let openai: Value = http()
        .get(server.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(openai["object"], "list");
    let ids: Vec<&str> = openai["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"chat-model") && ids.contains(&"claude-test"));

    let anthropic: Value = http()
        .get(server.url("/v1/models"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["data"][0]["type"], "model");

    let one: Value = http()
        .get(server.url("/v1/models/gpt-test"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(one["id"], "gpt-test");
    assert_eq!(
        http()
            .get(server.url("/v1/models"))
            .send()
            .unwrap()
            .status(),
        401
    );
}

/// Every file below `dir`.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// Unique strings go through every endpoint, streamed and not, on success and failure, with
/// logging at trace level; afterwards they appear in no file of the data directory, in the
/// server's temp directory, or anywhere in its log.
#[test]
fn canaries_never_reach_disk_or_log() {
    let up = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start_with(&config(&up), &[("TMPDIR", tmp.path().to_str().unwrap())]);
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = format!("CANARY-{}x{}", std::process::id(), rand_suffix());
    let echo = canary.replace("CANARY", "ECHO");
    let requests = [
        (
            "/v1/chat/completions",
            json!({"model": "chat-model", "messages": [{"role": "user", "content": canary}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "drop-model", "messages": [{"role": "user", "content": canary}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "refused-model", "messages": [{"role": "user", "content": canary}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "busy-model", "messages": [{"role": "user", "content": canary}]}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "no-such-model", "messages": [{"role": "user", "content": canary}]}),
        ),
        (
            "/v1/responses",
            json!({"model": "gpt-test", "input": canary}),
        ),
        (
            "/v1/messages",
            json!({"model": "claude-test", "max_tokens": 9, "messages": [{"role": "user", "content": canary}]}),
        ),
        // Translated both ways between Responses and Messages, with tool calls, results,
        // reasoning to carry, fields nobody knows and the canary in names and tags too.
        (
            "/v1/responses",
            json!({"model": "claude-test", "instructions": canary, "input": [
                {"role": "user", "content": canary},
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": canary}], "encrypted_content": canary},
                {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": format!("{{\"cmd\": \"{canary}\"}}")},
                {"type": "function_call_output", "call_id": "c1", "output": canary},
                {"type": canary, "text": canary}
            ], "tools": [{"type": "function", "name": "shell", "description": canary, "parameters": {"type": "object"}}, {"type": canary}],
               "x_unknown": canary, canary.clone(): canary}),
        ),
        (
            "/v1/messages",
            json!({"model": "gpt-test", "max_tokens": 9, "system": [{"type": "text", "text": canary}], "messages": [
                {"role": "user", "content": canary},
                {"role": "system", "content": canary},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": canary, "signature": canary}, {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": canary}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": canary}, {"type": canary}]}
            ], "thinking": {"type": "adaptive", canary.clone(): canary}, "metadata": {"user_id": canary}}),
        ),
        (
            "/v1/messages",
            json!({"model": "chat-model", "max_tokens": 9, "messages": [{"role": "user", "content": canary}, {"role": "system", "content": canary}],
                   "context_management": {"edits": [{"type": canary}]}}),
        ),
        (
            "/v1/responses/input_tokens",
            json!({"model": "chat-model", "input": canary}),
        ),
        (
            "/v1/responses/input_tokens",
            json!({"model": "gpt-test", "input": canary}),
        ),
    ];
    let mut echoed = false;
    for (path, body) in requests {
        for stream in [false, true] {
            let mut body = body.clone();
            body["stream"] = json!(stream);
            let text = post(&server, path, &key, body).text().unwrap_or_default();
            echoed |= text.contains(&echo);
        }
    }
    let _ = http()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .body(format!(
            "{{\"model\": \"chat-model\", \"messages\": \"{canary}"
        ))
        .send();
    assert!(
        echoed,
        "the fake upstream's answers carried the canary back"
    );

    let data = server.dir.path().to_path_buf();
    let log = server.stop_keeping_files();
    assert!(log.contains("TRACE") || log.contains("DEBUG") || log.contains("INFO"));
    assert!(
        !log.contains(&canary) && !log.contains(&echo),
        "a canary reached the log"
    );
    let mut files = files_under(&data);
    files.extend(files_under(tmp.path()));
    assert!(files.iter().any(|f| f.ends_with("codexapi.db")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(&canary) && !text.contains(&echo),
            "a canary reached {}",
            file.display()
        );
    }
    std::fs::remove_dir_all(&data).ok();
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64
}

/// The text of the data lines of a stream, events parsed.
fn events(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str(d).ok())
        .collect()
}

#[test]
fn formats_are_translated_when_client_and_provider_differ() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");

    // Responses client (Codex CLI) against a Chat-only provider.
    let body: Value = post(&server, "/v1/responses", &key, json!({
        "model": "codex-via-chat", "instructions": "Be brief.", "input": "Say hello", "store": false,
    }))
    .json()
    .unwrap();
    assert_eq!(body["object"], "response");
    assert_eq!(body["output"][0]["content"][0]["text"], ANSWER);
    let text = post(
        &server,
        "/v1/responses",
        &key,
        json!({
            "model": "codex-via-chat", "input": "Say hello", "stream": true,
        }),
    )
    .text()
    .unwrap();
    let evs = events(&text);
    let done = evs
        .iter()
        .find(|e| e["type"] == "response.output_item.done")
        .expect("output_item.done");
    assert_eq!(done["item"]["content"][0]["text"], ANSWER);
    assert_eq!(evs.last().unwrap()["type"], "response.completed");
    assert_eq!(evs.last().unwrap()["response"]["usage"]["input_tokens"], 21);
    let sent = &up.seen()[0].body;
    assert_eq!(
        sent["messages"][0]["role"], "system",
        "instructions became a system message"
    );
    assert_eq!(up.seen()[1].body["stream_options"]["include_usage"], true);

    // Messages client (Claude Code) against a Chat provider.
    let res = http()
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-via-chat", "max_tokens": 100, "stream": true, "system": "Be brief.",
                      "messages": [{"role": "user", "content": "Say hello"}]}))
        .send()
        .unwrap();
    let text = res.text().unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    let streamed: String = events(&text)
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(streamed, ANSWER);

    // Chat client against an Anthropic provider.
    let body: Value = post(&server, "/v1/chat/completions", &key, json!({
        "model": "claude-test", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}],
    }))
    .json()
    .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], ANSWER);
    let sent = up.seen().last().unwrap().body.clone();
    assert_eq!(sent["system"], "Be brief.");
    assert!(
        sent["max_tokens"].as_u64().unwrap() > 0,
        "Anthropic needs max_tokens"
    );

    // Legacy completions through Chat.
    let body: Value = post(
        &server,
        "/v1/completions",
        &key,
        json!({"model": "chat-model", "prompt": "Say hello"}),
    )
    .json()
    .unwrap();
    assert_eq!(body["choices"][0]["text"], ANSWER);

    // A field that cannot be carried over is named, never dropped in silence.
    let res = post(
        &server,
        "/v1/completions",
        &key,
        json!({"model": "chat-model", "prompt": "x", "echo": true}),
    );
    assert_eq!(res.status(), 400);
    let body: Value = res.json().unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("echo"),
        "{body}"
    );

    let rows = usage_rows(&server);
    assert!(
        rows.iter()
            .filter(|r| r.status == 200)
            .all(|r| r.outcome == "completed" && r.input > 0 && r.output > 0),
        "{rows:?}"
    );
}

#[test]
fn count_tokens_and_compact() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let count = |model: &str| -> Value {
        http()
            .post(server.url("/v1/messages/count_tokens"))
            .header("x-api-key", &key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hello, world!"}]}))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    assert_eq!(
        count("claude-test")["input_tokens"],
        42,
        "asked of the Anthropic provider"
    );
    let local = count("claude-via-chat")["input_tokens"].as_u64().unwrap();
    assert!((2..=10).contains(&local), "counted locally: {local}");

    // Many MiB without a space, twice at once: counted within a budget, extrapolated beyond it.
    let run = "a".repeat(12 << 20);
    let huge = json!({"model": "claude-via-chat", "messages": [{"role": "user", "content": run}]});
    let big_counts: Vec<u64> = std::thread::scope(|scope| {
        let asks: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let res = http()
                        .post(server.url("/v1/messages/count_tokens"))
                        .header("x-api-key", &key)
                        .header("anthropic-version", "2023-06-01")
                        .json(&huge)
                        .send()
                        .unwrap();
                    assert_eq!(res.status(), 200);
                    res.json::<Value>().unwrap()["input_tokens"]
                        .as_u64()
                        .unwrap()
                })
            })
            .collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    for tokens in big_counts {
        assert!(
            ((12 << 20) / 16..(12 << 20) / 2).contains(&tokens),
            "{tokens}"
        );
    }

    let body: Value = post(
        &server,
        "/v1/responses/compact",
        &key,
        json!({"model": "gpt-test", "input": "long history"}),
    )
    .json()
    .unwrap();
    assert_eq!(body["object"], "response.compaction");
    assert_eq!(up.seen().last().unwrap().path, "/v1/responses/compact");

    let rows = usage_rows(&server);
    let counts: Vec<&Row> = rows
        .iter()
        .filter(|r| r.endpoint == "/v1/messages/count_tokens")
        .collect();
    assert_eq!(counts.len(), 4);
    assert!(counts.iter().all(|r| r.cost == 0), "counting is free");
}

#[test]
fn usage_is_counted_locally_when_the_upstream_reports_none() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    for stream in [false, true] {
        let res = post(
            &server,
            "/v1/chat/completions",
            &key,
            json!({
                "model": "no-usage-model", "stream": stream,
                "messages": [{"role": "user", "content": "Please say hello to everyone in the room"}],
            }),
        );
        assert_eq!(res.status(), 200);
        let _ = res.text().unwrap();
    }
    let conn = Connection::open(server.db_path()).unwrap();
    let rows: Vec<(i64, i64, bool, i64)> = conn
        .prepare("SELECT input_tokens, output_tokens, estimated, cost FROM usage ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    for (input, output, estimated, cost) in rows {
        assert!(estimated, "marked as estimated");
        assert!(input >= 8 && output >= 5, "{input} {output}");
        assert!(cost > 0);
    }
}

#[test]
fn a_client_that_hangs_up_cancels_the_upstream_request() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let (socket, reader) = common::open_stream(&server, &key, "long-model");
    // The first event arrived; now walk away.
    let hung_up = std::time::Instant::now();
    drop(reader);
    drop(socket);

    let deadline = hung_up + Duration::from_secs(5);
    while up.closed().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let closed = up.closed();
    assert_eq!(closed.len(), 1, "the upstream request was cancelled");
    let after = closed[0].duration_since(hung_up);
    eprintln!("upstream cancelled {after:?} after the client hung up");
    assert!(
        after < Duration::from_secs(1),
        "cancelled {after:?} after the client left"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let rows = usage_rows(&server);
        if let Some(row) = rows.iter().find(|r| r.outcome == "client_cancelled") {
            assert_eq!(row.status, 499);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no cancelled row: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_dashboard_lists_recent_requests_without_their_content() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let secret = "SECRET-PROMPT-TEXT";
    let res = post(
        &server,
        "/v1/chat/completions",
        &key,
        json!({
            "model": "chat-model", "messages": [{"role": "user", "content": secret}],
        }),
    );
    assert_eq!(res.status(), 200);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", server.base.parse().unwrap());
    let browser = Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = browser
        .post(server.url("/login"))
        .form(&[
            ("email", "dev@example.test"),
            ("password", "violet-harbor-tunes-92"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = browser
        .get(server.url("/dashboard"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("/v1/chat/completions") && page.contains("chat-model"),
        "recent requests listed"
    );
    // 37 micro-units: below the last of the four decimals a cost below a cent is written with.
    assert!(
        page.contains("&lt;$0.0001") || page.contains("&#60;$0.0001"),
        "the request's cost is shown"
    );
    assert!(
        !page.contains(secret) && !page.contains(ANSWER),
        "never their content"
    );
}

#[test]
fn admins_see_provider_health_and_nobody_else_does() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    // The `broken` provider fails first, then `compat` answers.
    let res = common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "failover-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    let admin = common::admin(&server, "admin@example.test");
    let page = admin
        .get(server.url("/admin/providers"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    // Each provider is a section of the page, from its heading to the next.
    let section = |name: &str| {
        let at = page
            .find(&format!("\">{name} <span class=\"badge"))
            .unwrap_or_else(|| panic!("no section for {name}:\n{page}"));
        page[at..at + page[at..].find("</section>").unwrap()].to_owned()
    };
    let broken = section("broken");
    assert!(
        broken.contains("0 answered · 1 failed · 1 failures in a row"),
        "{broken}"
    );
    let last_failure = broken.split("Last failure</dt><dd>").nth(1).unwrap();
    assert!(
        !last_failure.starts_with('—'),
        "the last failure is named: {broken}"
    );
    let compat = section("compat");
    assert!(compat.contains("Serving"), "{compat}");
    assert!(
        compat.contains("1 answered · 0 failed"),
        "one answer: {compat}"
    );
    assert!(
        compat.contains("p50 ") && !compat.contains("p50 —"),
        "{compat}"
    );

    let user = common::signed_in(&server, "dev@example.test");
    let res = user.get(server.url("/admin/providers")).send().unwrap();
    assert_eq!(res.status(), 404);
    let res = common::client()
        .get(server.url("/admin/providers"))
        .send()
        .unwrap();
    assert_ne!(res.status(), 200);
}

/// A translated request names what it left out: in its response header (whole and streamed),
/// its usage row and the request log; names only, never values. The docs page lists the table
/// of every pair.
#[test]
fn translated_requests_report_what_they_left_out() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let secret = format!("CANARY-left-out-{}", rand_suffix());
    let body = |stream: bool| {
        json!({
            "model": "codex-via-chat", "input": "hi", "stream": stream, "store": false,
            "include": ["reasoning.encrypted_content"], "client_metadata": {"session": secret},
            "x_new_field_2027": {"value": secret},
            "tools": [{"type": "web_search", "external_web_access": false}]
        })
    };
    let expected = "client_metadata,include,store,x_new_field_2027,tools.web_search";
    for stream in [false, true] {
        let res = post(&server, "/v1/responses", &key, body(stream));
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["x-codexapi-dropped"],
            expected,
            "stream: {stream}"
        );
        let text = res.text().unwrap();
        assert!(text.contains(ANSWER), "{text}");
    }
    // The fields never went upstream.
    for seen in up.seen() {
        assert!(!seen.body.to_string().contains(&secret), "{:?}", seen.body);
    }
    // Nothing is left out when the formats match.
    let res = post(
        &server,
        "/v1/responses",
        &key,
        json!({"model": "gpt-test", "input": "hi", "x_new_field_2027": 1}),
    );
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("x-codexapi-dropped").is_none());
    // A translated request the provider refuses still says what was left out of it.
    let res = post(
        &server,
        "/v1/responses",
        &key,
        json!({"model": "refused-model", "input": "hi", "include": ["reasoning.encrypted_content"]}),
    );
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["x-codexapi-dropped"], "include");

    let conn = Connection::open(server.db_path()).unwrap();
    let dropped: Vec<Option<String>> = conn
        .prepare("SELECT dropped FROM usage ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        dropped,
        [
            Some(expected.to_owned()),
            Some(expected.to_owned()),
            None,
            Some("include".to_owned())
        ]
    );
    let page = common::text(
        common::signed_in(&server, "dev@example.test")
            .get(server.url("/dashboard/usage"))
            .send()
            .unwrap(),
    );
    assert!(
        page.contains(
            "left out: client_metadata, include, store, x_new_field_2027, tools.web_search"
        ),
        "the request log names them"
    );
    assert!(!page.contains(&secret));

    // A client's own headers go only to a provider of its format.
    let res = http()
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .json(&json!({"model": "gpt-test", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = http()
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-beta", "interleaved-thinking-2025-05-14")
        .json(&json!({"model": "claude-test", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let seen = up.seen();
    let (to_openai, to_anthropic) = (&seen[seen.len() - 2], &seen[seen.len() - 1]);
    assert_eq!(to_openai.path, "/v1/responses");
    assert_eq!(
        (
            to_openai.anthropic_beta.as_deref(),
            to_openai.anthropic_version.as_deref()
        ),
        (None, None)
    );
    assert_eq!(
        to_anthropic.anthropic_beta.as_deref(),
        Some("interleaved-thinking-2025-05-14")
    );
    assert_eq!(
        to_anthropic.anthropic_version.as_deref(),
        Some("2023-06-01")
    );

    let docs = common::text(http().get(server.url("/docs")).send().unwrap());
    assert_eq!(docs.matches(r#"<details class="policy""#).count(), 7);
    for id in [
        "policy-responses-chat",
        "policy-responses-messages",
        "policy-messages-chat",
        "policy-messages-responses",
        "policy-chat-messages",
    ] {
        assert!(docs.contains(&format!(r#"id="{id}""#)), "{id}");
    }
    assert!(docs.contains("<code>previous_response_id</code>"));
}

/// A conversation that moves between models of different provider kinds keeps working: each
/// provider gets back the reasoning it sealed and never the other's (which it would refuse).
#[test]
fn a_conversation_can_move_between_provider_kinds() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let json_of = |res: Response| -> Value {
        assert_eq!(res.status(), 200);
        res.json().unwrap()
    };

    // A Responses client: Claude first, then an OpenAI model, then Claude again.
    let mut input = vec![json!({"role": "user", "content": "Plan it."})];
    let turn = |model: &str, input: &[Value]| {
        json_of(post(
            &server,
            "/v1/responses",
            &key,
            json!({"model": model, "input": input, "reasoning": {"effort": "low"}}),
        ))
    };
    for model in ["claude-test", "gpt-test", "claude-test"] {
        let out = turn(model, &input);
        let output = out["output"].as_array().unwrap();
        assert_eq!(output[0]["type"], "reasoning", "{model}: {out}");
        input.extend(output.iter().cloned());
        input.push(json!({"role": "user", "content": "Go on."}));
    }
    let seen = up.seen();
    let to_openai = seen[1].body.to_string();
    assert!(
        !to_openai.contains("cxa1_"),
        "Anthropic's thinking stays away from OpenAI"
    );
    let back_to_claude = &seen[2].body;
    assert_eq!(
        back_to_claude["messages"][1]["content"][0]["type"], "thinking",
        "Claude gets its own thinking back"
    );
    assert!(
        !back_to_claude.to_string().contains("enc-"),
        "OpenAI's reasoning stays away from Claude"
    );

    // A Messages client: an OpenAI model first, then Claude.
    let first = json_of(
        http()
            .post(server.url("/v1/messages"))
            .header("x-api-key", &key)
            .json(
                &json!({"model": "gpt-test", "max_tokens": 500, "thinking": {"type": "adaptive"},
                          "messages": [{"role": "user", "content": "Plan it."}]}),
            )
            .send()
            .unwrap(),
    );
    assert_eq!(first["content"][0]["type"], "thinking", "{first}");
    let history = json!([
        {"role": "user", "content": "Plan it."},
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": "Go on."}
    ]);
    let second = http()
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&json!({"model": "claude-test", "max_tokens": 500, "thinking": {"type": "enabled", "budget_tokens": 1024},
                      "messages": history}))
        .send()
        .unwrap();
    assert_eq!(second.headers()["x-codexapi-dropped"], "messages.thinking");
    let second = json_of(second);
    assert!(
        second["content"][1]["text"]
            .as_str()
            .unwrap()
            .starts_with(ANSWER),
        "{second}"
    );
    let to_claude = up.seen().last().unwrap().body.to_string();
    assert!(
        !to_claude.contains("cxo1_"),
        "OpenAI's reasoning stays away from Claude"
    );
}

#[test]
fn a_body_that_arrives_too_slowly_gets_a_408_in_the_callers_format() {
    use std::io::{Read, Write};
    let up = FakeUpstream::start();
    let server = Server::start(&format!("{}\n[gateway]\nbody_idle_secs = 1\n", config(&up)));
    let key = common::user_with_key(&server, "dev@example.test");
    let address = server.base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        tcp,
        "POST /v1/messages HTTP/1.1\r\nHost: {address}\r\nx-api-key: {key}\r\n\
         anthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n\
         content-length: 1000\r\n\r\n{{\"model\""
    )
    .unwrap();
    // Then nothing more: the rest of the 1000 bytes never comes.
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("\"type\":\"error\""),
        "Anthropic's shape: {answer}"
    );
    assert!(answer.contains("too slowly"), "{answer}");
    assert!(up.seen().is_empty(), "nothing went upstream");
}
