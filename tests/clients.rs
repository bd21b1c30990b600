//! Real clients against the real binary and a fake upstream: the official OpenAI and Anthropic
//! Python SDKs (tests/clients/*_sdk.py) through every provider kind, and the Codex CLI's model
//! catalog and a new user's first steps with it. tests/agents.rs runs both coding agents
//! against every provider kind.
//!
//! Needs python3 with tests/requirements.txt and tests/clients/*/node_modules: `scripts/test`
//! installs them. The tests fail, not skip, when they are missing.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::Duration;

use common::agents::{self, Run, sdk};
use common::upstream::{ANSWER, FakeUpstream};
use common::{Row, Server, usage_rows};
use serde_json::Value;

/// One provider of each kind, one model on each. The first model is the one the /docs
/// snippets name.
fn config(up: &FakeUpstream) -> String {
    format!(
        r#"{providers}
[[models]]
id = "gpt-test"
routes = [{{ provider = "openai" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "chat-model"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "claude-test"
routes = [{{ provider = "anthropic" }}]
price = {{ input = 1, output = 2 }}
"#,
        providers = up.providers_toml()
    )
}

/// (model, provider name, the path its answers take upstream for each client format).
const MODELS: [(&str, &str); 3] = [
    ("gpt-test", "openai"),
    ("chat-model", "compat"),
    ("claude-test", "anthropic"),
];

fn canary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("CANARY-{}x{nanos}", std::process::id())
}

/// Each check that asks for an answer got the fake upstream's, with the prompt's canary echoed
/// back.
fn assert_answers(checks: &[Value], echo: &str) {
    let answers = |c: &&Value| {
        let name = c["check"].as_str().unwrap();
        c["error"].is_null()
            && !["models", "compact", "count_tokens", "input_tokens"].contains(&name)
    };
    for check in checks.iter().filter(answers) {
        let text = check["text"].as_str().unwrap_or_default();
        assert!(
            text.starts_with(ANSWER) && text.contains(echo),
            "{}: {check:#}",
            check["check"]
        );
        if let Some(deltas) = check["deltas"].as_str() {
            assert_eq!(deltas, text, "streamed deltas add up to the final text");
        }
    }
}

/// (endpoint, provider, status, outcome, streamed) of each usage row, in order.
type RowKey<'a> = (&'a str, &'a str, i64, &'a str, bool);

fn row_keys(rows: &[Row]) -> Vec<RowKey<'_>> {
    rows.iter()
        .map(|r| {
            let (endpoint, provider) = (r.endpoint.as_str(), r.provider.as_str());
            (endpoint, provider, r.status, r.outcome.as_str(), r.streamed)
        })
        .collect()
}

/// Answered requests carry the fake upstream's usage (21 in, 9 out) and a cost; refused ones
/// neither.
fn assert_metered(rows: &[Row]) {
    for row in rows {
        if row.status == 200 {
            assert_eq!((row.input, row.output), (21, 9), "{row:?}");
            assert!(row.cost > 0, "{row:?}");
        } else {
            assert_eq!((row.input, row.output, row.cost), (0, 0, 0), "{row:?}");
        }
    }
}

/// The upstream path a client format's answers take on each provider kind.
fn upstream_path(client: &str, provider: &str) -> &'static str {
    match (client, provider) {
        ("chat", "openai") => "/v1/chat/completions",
        (_, "openai") => "/v1/responses",
        (_, "compat") => "/v1/chat/completions",
        _ => "/v1/messages",
    }
}

/// The OpenAI SDK's calls against a model on each provider kind: Chat Completions and
/// Responses (whole, streamed, with the stream helpers), the model list and
/// `responses.input_tokens.count` (the provider's count on OpenAI, counted here elsewhere).
/// Then `responses.compact`, an unknown model and a wrong key.
#[test]
fn openai_sdk_through_every_provider_kind() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = canary();
    let echo = canary.replace("CANARY", "ECHO");
    let calls = [
        "chat",
        "chat_stream",
        "chat_stream_helper",
        "responses",
        "responses_stream",
        "responses_stream_helper",
        "models",
        "input_tokens",
    ];
    let mut expected_paths = Vec::new();
    let mut expected_rows = Vec::new();
    for (model, provider) in MODELS {
        let checks: Vec<String> = calls.iter().map(|c| format!("{c}:{model}")).collect();
        let checks: Vec<&str> = checks.iter().map(String::as_str).collect();
        let results = sdk(
            &server,
            &key,
            "openai_sdk.py",
            &format!("Say hello {canary}"),
            &checks,
        );
        assert_answers(&results, &echo);
        for check in &results[..3] {
            assert_eq!(check["usage"]["total_tokens"], 30, "{model}: {check:#}");
        }
        for check in &results[3..6] {
            assert_eq!(check["status"], "completed", "{model}: {check:#}");
            assert_eq!(check["usage"]["output_tokens"], 9, "{model}: {check:#}");
        }
        let ids = results[6]["ids"].as_array().unwrap();
        assert_eq!(ids.len(), 3, "{ids:?}");
        let counted = results[7]["input_tokens"].as_i64().unwrap();
        if provider == "openai" {
            assert_eq!(counted, 43, "the provider's own count");
        } else {
            assert!(counted > 0, "{model}: counted here");
        }
        for (i, call) in calls.iter().enumerate().take(6) {
            let client = if i < 3 { "chat" } else { "responses" };
            expected_paths.push(upstream_path(client, provider));
            let endpoint = if i < 3 {
                "/v1/chat/completions"
            } else {
                "/v1/responses"
            };
            expected_rows.push((
                endpoint,
                provider,
                200,
                "completed",
                call.contains("stream"),
            ));
        }
        if provider == "openai" {
            expected_paths.push("/v1/responses/input_tokens");
        }
        expected_rows.push((
            "/v1/responses/input_tokens",
            if provider == "openai" { "openai" } else { "" },
            200,
            "completed",
            false,
        ));
    }

    let others = sdk(
        &server,
        &key,
        "openai_sdk.py",
        "Say hello",
        &[
            "compact:gpt-test",
            "unknown_model:no-such-model",
            "bad_key:chat-model",
        ],
    );
    assert_eq!(others[0]["text"], "compaction");
    assert_eq!(others[0]["usage"]["output_tokens"], 5);
    assert_eq!(others[1]["status"], 404);
    assert_eq!(others[1]["body"]["code"], "model_not_found");
    assert_eq!(others[2]["status"], 401);
    assert_eq!(others[2]["body"]["code"], "invalid_api_key");
    expected_paths.push("/v1/responses/compact");

    let seen = up.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, expected_paths);
    for s in seen.iter().filter(|s| s.path == "/v1/responses") {
        assert_eq!(
            s.body["store"], false,
            "Responses requests are never stored upstream"
        );
    }
    assert!(
        !format!("{seen:?}").contains(&key),
        "the key never goes upstream"
    );

    // One usage row per request; listing models is not metered, counting is free.
    let rows = usage_rows(&server);
    let mut keys = row_keys(&rows);
    let tail = keys.split_off(expected_rows.len());
    assert_eq!(keys, expected_rows, "{rows:#?}");
    assert_eq!(
        tail,
        [
            ("/v1/responses/compact", "openai", 200, "completed", false),
            // A wrong key's request leaves no row at all.
            ("/v1/chat/completions", "", 404, "rejected", false),
        ]
    );
    for row in &rows {
        if row.endpoint == "/v1/responses/input_tokens" {
            assert_eq!((row.input, row.output, row.cost), (0, 0, 0), "{row:?}");
        } else if row.endpoint != "/v1/responses/compact" {
            assert_metered(std::slice::from_ref(row));
        }
    }
}

/// The Anthropic SDK's calls against a model on each provider kind: messages (whole,
/// streamed, with the stream helper), `count_tokens` (the provider's count on Anthropic,
/// counted here elsewhere) and the model list. Then an unknown model and a wrong key.
#[test]
fn anthropic_sdk_through_every_provider_kind() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = canary();
    let echo = canary.replace("CANARY", "ECHO");
    let calls = [
        "messages",
        "messages_stream",
        "messages_stream_helper",
        "count_tokens",
        "models",
    ];
    let mut expected_paths = Vec::new();
    let mut expected_rows = Vec::new();
    for (model, provider) in MODELS {
        let checks: Vec<String> = calls.iter().map(|c| format!("{c}:{model}")).collect();
        let checks: Vec<&str> = checks.iter().map(String::as_str).collect();
        let results = sdk(
            &server,
            &key,
            "anthropic_sdk.py",
            &format!("Say hello {canary}"),
            &checks,
        );
        assert_answers(&results, &echo);
        assert_eq!(results[0]["usage"]["output_tokens"], 9, "{model}");
        assert_eq!(results[1]["usage"]["delta"]["output_tokens"], 9, "{model}");
        assert_eq!(results[2]["usage"]["output_tokens"], 9, "{model}");
        // Input tokens apart from cache reads, as Anthropic counts them.
        assert_eq!(results[0]["usage"]["input_tokens"], 17, "{model}");
        assert!(
            results[..3].iter().all(|c| c["stop_reason"] == "end_turn"),
            "{results:#?}"
        );
        let counted = results[3]["input_tokens"].as_i64().unwrap();
        if provider == "anthropic" {
            assert_eq!(counted, 42, "the provider's own count");
        } else {
            assert!(counted > 0, "{model}: counted here");
        }
        let ids = results[4]["ids"].as_array().unwrap();
        assert_eq!(ids.len(), 3, "{ids:?}");
        for call in &calls[..3] {
            expected_paths.push(upstream_path("messages", provider));
            expected_rows.push((
                "/v1/messages",
                provider,
                200,
                "completed",
                call.contains("stream"),
            ));
        }
        if provider == "anthropic" {
            expected_paths.push("/v1/messages/count_tokens");
        }
        expected_rows.push((
            "/v1/messages/count_tokens",
            if provider == "anthropic" {
                "anthropic"
            } else {
                ""
            },
            200,
            "completed",
            false,
        ));
    }
    let others = sdk(
        &server,
        &key,
        "anthropic_sdk.py",
        "Say hello",
        &["unknown_model:no-such-model", "bad_key:claude-test"],
    );
    assert_eq!(others[0]["status"], 404);
    assert_eq!(others[0]["body"]["error"]["type"], "not_found_error");
    assert_eq!(others[1]["status"], 401);
    assert_eq!(others[1]["body"]["error"]["type"], "authentication_error");

    let seen = up.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, expected_paths);
    for s in seen.iter().filter(|s| s.path == "/v1/messages") {
        assert_eq!(s.x_api_key.as_deref(), Some("upstream-secret-anthropic"));
    }

    let rows = usage_rows(&server);
    let mut keys = row_keys(&rows);
    let tail = keys.split_off(expected_rows.len());
    assert_eq!(keys, expected_rows, "{rows:#?}");
    assert_eq!(
        tail,
        [
            // A wrong key's request leaves no row at all.
            ("/v1/messages", "", 404, "rejected", false),
        ]
    );
    for row in &rows {
        if row.endpoint == "/v1/messages/count_tokens" {
            assert_eq!((row.input, row.output, row.cost), (0, 0, 0), "{row:?}");
        } else {
            // Anthropic's input_tokens leave out the 4 read from cache: the rows say 21.
            assert_metered(std::slice::from_ref(row));
        }
    }
}

#[test]
fn codex_reads_the_model_catalog_and_its_instructions() {
    let up = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let instructions = dir.path().join("codex-instructions.md");
    std::fs::write(
        &instructions,
        "You are the house coding agent. Follow HOUSE-RULE-7731 in every answer.\n",
    )
    .unwrap();
    let server_config = format!(
        "[gateway]\ncodex_instructions_file = {:?}\n{}",
        instructions.to_str().unwrap(),
        config(&up)
    );
    let server = Server::start(&server_config);
    let key = common::user_with_key(&server, "dev@example.test");
    let snippet = format!(
        "{}\nmodel_catalog_url = \"{}/v1/models\"",
        agents::docs_block(&server, "codex-config"),
        server.base
    );
    let codex_config = agents::codex_config_with(&snippet);

    let Run { out, answer } = agents::codex(&codex_config, &key, &[], "say hi", false);
    let seen = up.seen();
    let report = format!(
        "stdout:\n{}\nstderr:\n{}\nserver log:\n{}",
        out.stdout,
        out.stderr,
        server.log()
    );
    assert!(out.success, "codex exec failed\n{report}");
    assert!(answer.contains(ANSWER), "{report}");
    assert!(
        server.log().contains("/v1/models"),
        "Codex did not ask for the catalog\n{report}"
    );
    assert!(
        !out.stderr.contains("failed to refresh available models")
            && !out.stderr.contains("not found. Defaulting to fallback"),
        "Codex did not take the catalog\n{report}"
    );
    let turn = seen
        .iter()
        .find(|s| s.path == "/v1/responses")
        .expect("a turn");
    assert!(
        turn.body.to_string().contains("HOUSE-RULE-7731"),
        "the catalog's instructions were not used\n{report}"
    );
}

/// The whole way of a new user: an empty wallet refuses Codex with a clear 402, a card top-up
/// through (fake) Stripe credits it and mails a receipt, Codex then works, and the dashboard
/// shows the request's charge in the request log, the day's totals and the ledger. Past the
/// tier's request limit, a 429 with its headers.
#[test]
fn a_new_user_tops_up_spends_through_codex_and_sees_the_charge() {
    use common::smtp::SmtpServer;
    use common::stripe::FakeStripe;
    let up = FakeUpstream::start();
    let fake = FakeStripe::start();
    let smtp = SmtpServer::start();
    let server = Server::start(&format!(
        "[stripe]\nsecret_key = \"{}\"\nwebhook_secret = \"{}\"\napi_base = \"{}\"\n\n\
         [smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\n\
         from = \"Gateway <noreply@gateway.test>\"\nretry_secs = 1\n\n\
         [[tiers]]\nname = \"default\"\nrequests_per_minute = 6\n{}",
        fake.secret_key,
        fake.webhook_secret,
        fake.base,
        smtp.port,
        config(&up)
    ));
    fake.set_webhook_url(&server.url("/stripe/webhook"));
    let email = "new@example.test";
    let key = common::user_and_key(&server, email);
    let codex_config = agents::codex_config(&server);

    // An empty wallet: Codex is refused with the reason.
    let Run { out, .. } = agents::codex(&codex_config, &key, &[], "say hi", false);
    let said = format!("{}\n{}", out.stdout, out.stderr);
    assert!(!out.success, "{said}");
    assert!(said.contains("402"), "{said}");
    assert!(said.contains("does not cover this request"), "{said}");

    // A top-up through the billing page and the fake Stripe checkout.
    let browser = common::signed_in(&server, email);
    let page = common::text(
        browser
            .get(server.url("/dashboard/billing"))
            .send()
            .unwrap(),
    );
    let res = browser
        .post(server.url("/dashboard/billing/topup"))
        .form(&[("csrf", common::csrf(&page).as_str()), ("amount", "10")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let pay = common::location(&res);
    let session = pay.rsplit('/').next().unwrap().to_owned();
    fake.pay(&session);
    let receipt = smtp.wait_for_mail(email, Duration::from_secs(15));
    assert_eq!(receipt.subject, "Payment received: $10.00");

    // Now Codex works, and the turn is billed.
    let Run { out, answer } = agents::codex(&codex_config, &key, &[], "say hi", false);
    assert!(
        out.success && answer.contains(ANSWER),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let (cost, usage_id): (i64, i64) = conn
        .query_row(
            "SELECT cost, id FROM usage WHERE status = 200 AND endpoint = '/v1/responses'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(cost > 0);
    let charged: i64 = conn
        .query_row(
            "SELECT amount FROM ledger WHERE kind = 'usage' AND reference = ?1",
            [usage_id.to_string()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(charged, -cost);
    let shown = codexapi::money::Money::from_micros(cost).cost_in("USD");
    let usage = common::text(browser.get(server.url("/dashboard/usage")).send().unwrap());
    // A cost below the last decimal shown reads `<$0.0001`, its `<` escaped in the page.
    assert!(
        usage.contains(&shown)
            || usage.contains(&shown.replace('<', "&lt;"))
            || usage.contains(&shown.replace('<', "&#60;")),
        "the request's cost {shown} on the usage page"
    );
    let billing = common::text(
        browser
            .get(server.url("/dashboard/billing"))
            .send()
            .unwrap(),
    );
    let left = codexapi::money::Money::from_micros(10_000_000 - cost).amount_in("USD");
    assert!(
        billing.contains(&left),
        "the balance {left} on the billing page"
    );

    // Past the tier's limit of requests per minute: 429 with the limit's headers.
    let client = common::client();
    let body = serde_json::json!({"model": "gpt-test", "input": "hi", "max_output_tokens": 16});
    let refused = (0..8)
        .map(|_| {
            client
                .post(server.url("/v1/responses"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .unwrap()
        })
        .find(|res| res.status() == 429)
        .expect("the limit was reached");
    assert_eq!(refused.headers()["x-ratelimit-limit-requests"], "6");
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    assert!(refused.headers().contains_key("retry-after"));
}
