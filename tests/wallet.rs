//! Paying for requests through the real binary: reservations under concurrency, 402 and 429 in
//! each client's format with their headers, key and monthly caps, concurrency slots, the billing
//! of streamed and cancelled requests, prices in `/v1/models`, and the account figures endpoint.
//! The harness checks after every test that each balance equals the sum of its ledger.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use common::upstream::FakeUpstream;
use common::{Server, run};
use reqwest::blocking::Response;
use rusqlite::Connection;
use serde_json::{Value, json};

/// What one chat request through the fake upstream costs at the prices below: it reports 21
/// input tokens (4 of them cached) and 9 output tokens: 17 × 1000 + 4 × 500 + 9 × 2000 µ.
const CHAT_COST: i64 = 37_000;

fn config(up: &FakeUpstream, extra: &str) -> String {
    format!(
        r#"
{extra}

[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret"

[[providers]]
name = "openai"
kind = "openai"
base_url = "{base}"
api_key = "upstream-secret"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{base}"
api_key = "upstream-secret"

[[models]]
id = "paid"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "1000", cached_input = "500", output = "2000" }}

[[models]]
id = "paid-gpt"
routes = [{{ provider = "openai" }}]
price = {{ input = "1000", cached_input = "500", output = "2000", reasoning = "4000" }}
reasoning_efforts = ["low", "medium", "high"]
context_window = 200000

[[models]]
id = "paid-claude"
routes = [{{ provider = "anthropic" }}]
price = {{ input = "1000", cached_input = "500", output = "2000" }}

[[models]]
id = "long-model"
routes = [{{ provider = "compat", model = "long" }}]
price = {{ input = "1000", output = "2000" }}
"#,
        base = up.base
    )
}

fn chat_body(model: &str) -> Value {
    json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]})
}

fn post(server: &Server, path: &str, key: &str, body: &Value) -> Response {
    common::client()
        .post(server.url(path))
        .bearer_auth(key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .unwrap()
}

fn db(server: &Server) -> Connection {
    Connection::open(server.db_path()).unwrap()
}

fn balance(server: &Server, email: &str) -> i64 {
    db(server)
        .query_row("SELECT balance FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Moves the account's balance to exactly `micros` with an adjustment from the command line,
/// and waits until the running server has taken it in (it follows within half a second).
fn set_balance(server: &Server, email: &str, key: &str, micros: i64) {
    let delta = micros - balance(server, email);
    if delta != 0 {
        let sign = if delta < 0 { "-" } else { "" };
        let (whole, fraction) = (delta.abs() / 1_000_000, delta.abs() % 1_000_000);
        let amount = format!("{sign}{whole}.{fraction:06}");
        cli(
            server,
            &["wallet", "adjust", "--user", email, "--amount", &amount],
        );
    }
    assert_eq!(balance(server, email), micros);
    let expected = format!("{:.6}", micros as f64 / 1e6);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let account: Value = common::client()
            .get(server.url("/v1/account"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let seen: f64 = account["balance"].as_str().unwrap().parse().unwrap();
        if format!("{seen:.6}") == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server still shows {account}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn cli(server: &Server, args: &[&str]) -> String {
    let config = server.config_path();
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = run(server.config_path().parent().unwrap(), &all, &[]);
    assert!(status.success(), "{args:?}: {stderr}");
    stdout
}

fn header<'a>(res: &'a Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

/// (usage id, cost, outcome) of a usage row.
type UsageCharge = (i64, i64, String);
/// (reference, amount) of a usage ledger row.
type LedgerCharge = (String, i64);

/// Every usage row and every usage ledger row.
fn charges(server: &Server) -> (Vec<UsageCharge>, Vec<LedgerCharge>) {
    let conn = db(server);
    let usage = conn
        .prepare("SELECT id, cost, outcome FROM usage ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ledger = conn
        .prepare("SELECT reference, amount FROM ledger WHERE kind = 'usage' ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (usage, ledger)
}

#[test]
fn fifty_parallel_requests_never_overdraw_a_wallet_that_covers_five() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    let key = common::user_with_key(&server, "dev@example.test");
    set_balance(&server, "dev@example.test", &key, 5 * CHAT_COST);

    let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let (server, key) = (&server, &key);
                scope.spawn(move || {
                    let res = post(server, "/v1/chat/completions", key, &chat_body("paid"));
                    let status = res.status().as_u16();
                    (status, res.json::<Value>().unwrap_or(Value::Null))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let served = statuses.iter().filter(|(s, _)| *s == 200).count() as i64;
    let refused: Vec<&Value> = statuses
        .iter()
        .filter(|(s, _)| *s == 402)
        .map(|(_, b)| b)
        .collect();
    eprintln!("served {served}, refused {}", refused.len());
    assert_eq!(served + refused.len() as i64, 50, "{statuses:?}");
    assert!((1..=5).contains(&served), "served {served}");
    for body in refused {
        assert_eq!(body["error"]["type"], "insufficient_quota");
        assert_eq!(body["error"]["code"], "insufficient_quota");
    }
    let left = balance(&server, "dev@example.test");
    assert!(left >= 0, "overdrawn: {left}");
    assert_eq!(left, 5 * CHAT_COST - served * CHAT_COST);

    // Each served request has exactly one ledger row, for exactly its cost.
    let (usage, ledger) = charges(&server);
    let billed: Vec<(String, i64)> = usage
        .iter()
        .filter(|(_, cost, _)| *cost > 0)
        .map(|(id, cost, _)| (id.to_string(), -cost))
        .collect();
    assert_eq!(billed.len() as i64, served);
    assert_eq!(ledger, billed);
    assert_eq!(
        usage.len(),
        50,
        "refused requests are recorded too, at no cost"
    );
}

#[test]
fn an_empty_wallet_gets_402_in_each_format_and_a_top_up_counts_at_once() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    let email = "dev@example.test";
    let key = common::user_with_key(&server, email);
    set_balance(&server, email, &key, 0);

    let res = post(&server, "/v1/chat/completions", &key, &chat_body("paid"));
    assert_eq!(res.status(), 402);
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Ask this server's operator for credit"),
        "{body}"
    );

    let messages = json!({"model": "paid-claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let res = post(&server, "/v1/messages", &key, &messages);
    assert_eq!(res.status(), 402);
    let body: Value = res.json().unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "billing_error");

    let responses = json!({"model": "paid-gpt", "input": "hi", "max_output_tokens": 10});
    let res = post(&server, "/v1/responses", &key, &responses);
    assert_eq!(res.status(), 402);
    assert_eq!(header(&res, "x-codex-credits-has-credits"), "false");
    assert_eq!(header(&res, "x-codex-credits-unlimited"), "false");
    assert_eq!(header(&res, "x-codex-credits-balance"), "0.00");

    // Credit from the command line is honoured by the very next request.
    common::grant(&server, email, "1");
    let res = post(&server, "/v1/responses", &key, &responses);
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "x-codex-credits-has-credits"), "true");
    let shown: f64 = header(&res, "x-codex-credits-balance").parse().unwrap();
    assert!(shown > 0.9 && shown <= 1.0, "{shown}");
    // Reasoning tokens at their own price: 17×1000 + 4×500 + 7×2000 + 2×4000 µ.
    assert_eq!(balance(&server, email), 1_000_000 - 41_000);
}

#[test]
fn request_limits_answer_429_with_exact_headers_in_each_format() {
    let up = FakeUpstream::start();
    let tiers = "[[tiers]]\nname = \"default\"\nrequests_per_minute = 3\n";
    let server = Server::start(&config(&up, tiers));
    let key = common::user_with_key(&server, "dev@example.test");

    for left in ["2", "1", "0"] {
        let res = post(&server, "/v1/chat/completions", &key, &chat_body("paid"));
        assert_eq!(res.status(), 200);
        assert_eq!(header(&res, "x-ratelimit-limit-requests"), "3");
        assert_eq!(header(&res, "x-ratelimit-remaining-requests"), left);
        let reset = header(&res, "x-ratelimit-reset-requests");
        assert!(reset.ends_with('s'), "{reset}");
        assert!(res.headers().get("x-ratelimit-limit-tokens").is_none());
    }
    let res = post(&server, "/v1/chat/completions", &key, &chat_body("paid"));
    assert_eq!(res.status(), 429);
    let retry: u64 = header(&res, "retry-after").parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(header(&res, "x-ratelimit-remaining-requests"), "0");
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");

    let messages = json!({"model": "paid-claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let res = post(&server, "/v1/messages", &key, &messages);
    assert_eq!(res.status(), 429);
    assert!(res.headers().get("retry-after").is_some());
    assert_eq!(header(&res, "anthropic-ratelimit-requests-limit"), "3");
    assert_eq!(header(&res, "anthropic-ratelimit-requests-remaining"), "0");
    let reset = header(&res, "anthropic-ratelimit-requests-reset");
    assert!(
        time::OffsetDateTime::parse(reset, &time::format_description::well_known::Rfc3339).is_ok(),
        "{reset}"
    );
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");

    // Counting tokens is free but still a request.
    let res = post(&server, "/v1/messages/count_tokens", &key, &messages);
    assert_eq!(res.status(), 429);
    assert_eq!(header(&res, "anthropic-ratelimit-requests-remaining"), "0");
}

#[test]
fn a_key_below_its_account_limit_and_token_limits() {
    let up = FakeUpstream::start();
    let tiers =
        "[[tiers]]\nname = \"default\"\nrequests_per_minute = 100\ntokens_per_minute = 100\n";
    let server = Server::start(&config(&up, tiers));
    let email = "dev@example.test";
    common::user_with_key(&server, email);
    let key = cli(
        &server,
        &[
            "key",
            "create",
            "--user",
            email,
            "--name",
            "ci",
            "--requests-per-minute",
            "1",
        ],
    )
    .trim()
    .to_owned();

    let body = chat_body("paid");
    let estimate = (body.to_string().len() as u64).div_ceil(3);
    let res = post(&server, "/v1/chat/completions", &key, &body);
    assert_eq!(res.status(), 200);
    // The key's limit is the tighter one, so it is the one shown.
    assert_eq!(header(&res, "x-ratelimit-limit-requests"), "1");
    assert_eq!(header(&res, "x-ratelimit-remaining-requests"), "0");
    assert_eq!(header(&res, "x-ratelimit-limit-tokens"), "100");
    let remaining: u64 = header(&res, "x-ratelimit-remaining-tokens")
        .parse()
        .unwrap();
    assert_eq!(remaining, 100 - estimate);
    let res = post(&server, "/v1/chat/completions", &key, &body);
    assert_eq!(res.status(), 429);

    // The account's other key is held to the account's limits: the first request took its
    // estimate and its 9 output tokens from the minute's 100 tokens.
    let other = cli(
        &server,
        &["key", "create", "--user", email, "--name", "other"],
    )
    .trim()
    .to_owned();
    let res = post(&server, "/v1/chat/completions", &other, &body);
    assert_eq!(res.status(), 200);
    let remaining: u64 = header(&res, "x-ratelimit-remaining-tokens")
        .parse()
        .unwrap();
    let expected = 100 - 2 * estimate - 9;
    // A token comes back every 0.6 s.
    assert!(
        (expected..=expected + 2).contains(&remaining),
        "{remaining}, expected {expected}"
    );
    let big = json!({"model": "paid", "max_tokens": 10, "messages": [{"role": "user", "content": "x".repeat(300)}]});
    let res = post(&server, "/v1/chat/completions", &other, &big);
    assert_eq!(res.status(), 429);
    let body: Value = res.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens per minute")
    );
}

#[test]
fn key_spend_limits_and_monthly_caps_stop_spending() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, "[billing]\nmode = \"budget\"\n"));

    // An account with a monthly cap that covers one request but not two worst cases.
    let capped = common::user_with_key(&server, "capped@example.test");
    cli(
        &server,
        &[
            "user",
            "cap",
            "--email",
            "capped@example.test",
            "--amount",
            "0.06",
        ],
    );
    let res = post(&server, "/v1/chat/completions", &capped, &chat_body("paid"));
    assert_eq!(res.status(), 200);
    let res = post(&server, "/v1/chat/completions", &capped, &chat_body("paid"));
    assert_eq!(res.status(), 402);
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["code"], "insufficient_quota");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("monthly spend cap"),
        "{body}"
    );
    // Codex is told what is left of the month's budget.
    let responses = json!({"model": "paid-gpt", "input": "hi", "max_output_tokens": 10});
    let res = post(&server, "/v1/responses", &capped, &responses);
    assert_eq!(res.status(), 402);
    assert_eq!(header(&res, "x-codex-credits-unlimited"), "false");
    assert_eq!(header(&res, "x-codex-credits-has-credits"), "true");
    assert_eq!(header(&res, "x-codex-credits-balance"), "0.023");

    // A key with a spend limit, on an account without a cap.
    common::user_with_key(&server, "keyed@example.test");
    let limited = cli(
        &server,
        &[
            "key",
            "create",
            "--user",
            "keyed@example.test",
            "--name",
            "ci",
            "--spend-limit",
            "0.06",
        ],
    )
    .trim()
    .to_owned();
    assert_eq!(
        post(
            &server,
            "/v1/chat/completions",
            &limited,
            &chat_body("paid")
        )
        .status(),
        200
    );
    let res = post(
        &server,
        "/v1/chat/completions",
        &limited,
        &chat_body("paid"),
    );
    assert_eq!(res.status(), 402);
    let body: Value = res.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("spend limit"),
        "{body}"
    );

    // Budget mode keeps no wallet: balances are untouched, spend is counted per month.
    assert_eq!(balance(&server, "capped@example.test"), 100_000_000);
    let spent: i64 = db(&server)
        .query_row(
            "SELECT month_spent FROM users WHERE email = 'capped@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(spent, CHAT_COST);
    let spent: i64 = db(&server)
        .query_row("SELECT spent FROM api_keys WHERE name = 'ci'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(spent, CHAT_COST);
}

#[test]
fn a_cancelled_stream_frees_its_slot_and_is_billed_for_what_was_written() {
    let up = FakeUpstream::start();
    let tiers = "[[tiers]]\nname = \"default\"\nconcurrent_requests = 1\n";
    let server = Server::start(&config(&up, tiers));
    let email = "dev@example.test";
    let key = common::user_with_key(&server, email);

    let (socket, reader) = common::open_stream(&server, &key, "long-model");
    std::thread::sleep(Duration::from_millis(300));
    let res = post(&server, "/v1/chat/completions", &key, &chat_body("paid"));
    assert_eq!(res.status(), 429);
    let body: Value = res.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at a time")
    );

    drop(reader);
    drop(socket);
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        let res = post(&server, "/v1/chat/completions", &key, &chat_body("paid"));
        if res.status() != 429 || Instant::now() > deadline {
            break res.status();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "the slot came back after the hang-up");

    // The cancelled stream was billed for the tokens counted locally, once.
    let (usage, ledger) = charges(&server);
    let cancelled = usage
        .iter()
        .find(|(_, _, outcome)| outcome == "client_cancelled")
        .expect("cancelled row");
    assert!(cancelled.1 > 0, "{cancelled:?}");
    assert!(ledger.contains(&(cancelled.0.to_string(), -cancelled.1)));
    let total: i64 = usage.iter().map(|(_, cost, _)| cost).sum();
    assert_eq!(balance(&server, email), 100_000_000 - total);
}

#[test]
fn a_streamed_request_is_billed_exactly_once_before_its_stream_ends() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    let email = "dev@example.test";
    let key = common::user_with_key(&server, email);
    let mut body = chat_body("paid");
    body["stream"] = json!(true);
    let text = post(&server, "/v1/chat/completions", &key, &body)
        .text()
        .unwrap();
    assert!(text.contains("[DONE]"));
    // Read at once: the charge was durable before the last byte.
    let (usage, ledger) = charges(&server);
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0].1, CHAT_COST);
    assert_eq!(ledger, vec![(usage[0].0.to_string(), -CHAT_COST)]);
    assert_eq!(balance(&server, email), 100_000_000 - CHAT_COST);
}

#[test]
fn models_show_the_rate_card_and_codex_gets_its_catalog() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    let key = common::user_with_key(&server, "dev@example.test");
    let client = common::client();

    let list: Value = client
        .get(server.url("/v1/models"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(list.get("models").is_none());
    let gpt = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "paid-gpt")
        .unwrap();
    assert_eq!(gpt["pricing"]["currency"], "USD");
    assert_eq!(gpt["pricing"]["input"], "1000.00");
    assert_eq!(gpt["pricing"]["cached_input"], "500.00");
    assert_eq!(gpt["pricing"]["cache_creation"], "1000.00");
    assert_eq!(gpt["pricing"]["reasoning"], "4000.00");

    // The pricing page shows the same numbers.
    let page = client
        .get(server.url("/pricing"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("$1,000") || page.contains("$1000"),
        "input price"
    );
    assert!(page.contains("Reasoning tokens: $4,000") || page.contains("Reasoning tokens: $4000"));

    let codex: Value = client
        .get(server.url("/v1/models?client_version=0.169.0"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(codex["data"].as_array().unwrap().len(), 4);
    let models = codex["models"].as_array().unwrap();
    assert_eq!(models.len(), 4);
    let entry = models.iter().find(|m| m["slug"] == "paid-gpt").unwrap();
    for field in [
        "display_name",
        "supported_reasoning_levels",
        "shell_type",
        "visibility",
        "supported_in_api",
        "priority",
        "support_verbosity",
        "truncation_policy",
        "experimental_supported_tools",
    ] {
        assert!(entry.get(field).is_some(), "{field} missing");
    }
    assert!(
        !entry["base_instructions"]
            .as_str()
            .unwrap()
            .trim()
            .is_empty()
    );
    assert_eq!(entry["default_reasoning_level"], "low");
    assert_eq!(entry["context_window"], 200000);
    assert_eq!(entry["supported_reasoning_levels"][2]["effort"], "high");
}

#[test]
fn scripts_read_their_account_figures_with_the_api_key() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    let key = common::user_with_key(&server, "dev@example.test");
    assert_eq!(
        post(&server, "/v1/chat/completions", &key, &chat_body("paid")).status(),
        200
    );
    let client = common::client();
    let account: Value = client
        .get(server.url("/v1/account"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(account["billing_mode"], "prepaid");
    assert_eq!(account["balance"], "99.963");
    assert_eq!(account["reserved"], "0.00");
    assert_eq!(account["usage"]["last_24_hours"]["requests"], 1);
    assert_eq!(account["usage"]["last_30_days"]["cost"], "0.037");
    assert_eq!(account["usage"]["last_7_days"]["output_tokens"], 9);
    let res = client
        .get(server.url("/v1/account"))
        .bearer_auth("sk-cx-unknown")
        .send()
        .unwrap();
    assert_eq!(res.status(), 401);
}
