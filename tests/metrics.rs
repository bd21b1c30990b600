//! `/metrics` through the real binary: a separate metrics listener, the public listener behind
//! a bearer token (and without one, no endpoint at all), the text parsed by Prometheus's own
//! Python parser, counters that match the requests sent, and no request content in a scrape.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::upstream::FakeUpstream;
use common::{Server, client, free_port};
use serde_json::{Value, json};

const TOKEN: &str = "metrics-token-0123456789abcdef";
/// Sent in every prompt; it must never appear in a scrape.
const MARKER: &str = "PROMPT-MARKER-q7Zx31";

fn config(up: &FakeUpstream, metrics: &str) -> String {
    format!(
        r#"
{metrics}

[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret-compat"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{base}"
api_key = "upstream-secret-anthropic"

[[models]]
id = "chat-model"
aliases = ["chat-alias"]
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "claude-test"
routes = [{{ provider = "anthropic" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "broken-model"
routes = [{{ provider = "compat", model = "fail-500" }}]
price = {{ input = 1, output = 2 }}
"#,
        base = up.base
    )
}

/// One sample as `prometheus_client.parser` read it.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// Parses an exposition with Prometheus's Python client; fails the test if it is not valid.
fn parse(text: &str) -> Vec<Sample> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append({"family": family.name, "type": family.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 (pip install -r tests/requirements.txt)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the exposition does not parse: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|s| Sample {
            name: s["name"].as_str().unwrap().to_owned(),
            labels: s["labels"].as_object().unwrap().clone(),
            value: s["value"].as_f64().unwrap(),
        })
        .collect()
}

/// The value of the one sample named `name` with (at least) these labels; 0 when absent.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?} matches {found:?}");
    found.first().map_or(0.0, |s| s.value)
}

fn chat(server: &Server, key: &str, model: &str, stream: bool) -> u16 {
    client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": format!("Say hello {MARKER}")}],
        }))
        .send()
        .map(|res| {
            let status = res.status().as_u16();
            let _ = res.text();
            status
        })
        .unwrap()
}

fn scrape(url: &str, token: Option<&str>) -> (u16, String, String) {
    let mut req = client().get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, res.text().unwrap())
}

#[test]
fn metrics_count_requests_on_their_own_listener_and_behind_a_token() {
    let up = FakeUpstream::start();
    let port = free_port();
    let server = Server::start(&config(
        &up,
        &format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\ntoken = \"{TOKEN}\"\n"),
    ));
    assert!(
        server
            .log()
            .contains(&format!("metrics at http://127.0.0.1:{port}/metrics")),
        "{}",
        server.log()
    );
    let key = common::user_with_key(&server, "dev@example.test");

    assert_eq!(chat(&server, &key, "chat-model", false), 200);
    assert_eq!(chat(&server, &key, "chat-alias", false), 200);
    assert_eq!(chat(&server, &key, "chat-model", true), 200);
    assert_eq!(chat(&server, &key, "no-such-model", false), 404);
    assert_eq!(chat(&server, &key, MARKER, false), 404);
    assert_eq!(chat(&server, &key, "broken-model", false), 502);
    assert_eq!(chat(&server, "sk-cx-not-a-key", "chat-model", false), 401);
    let res = client()
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .json(&json!({
            "model": "claude-test",
            "max_tokens": 16,
            "messages": [{"role": "user", "content": MARKER}],
        }))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);

    // The metrics listener: /metrics to anyone who reaches it, nothing else.
    let own = format!("http://127.0.0.1:{port}/metrics");
    let (status, content_type, text) = scrape(&own, None);
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert_eq!(
        scrape(&format!("http://127.0.0.1:{port}/"), None).0,
        404,
        "the metrics listener serves nothing else"
    );

    // The public listener: only to the token.
    let public = server.url("/metrics");
    assert_eq!(scrape(&public, None).0, 401);
    assert_eq!(
        scrape(&public, Some("metrics-token-0123456789abcdeX")).0,
        401
    );
    assert_eq!(scrape(&public, Some(&TOKEN[..10])).0, 401);
    let (status, _, public_text) = scrape(&public, Some(TOKEN));
    assert_eq!(status, 200, "{public_text}");

    for text in [&text, &public_text] {
        assert!(
            !text.contains(MARKER),
            "request content in a scrape:\n{text}"
        );
        assert!(!text.contains(&key), "an API key in a scrape");
        assert!(
            !text.contains("upstream-secret"),
            "a provider key in a scrape"
        );
        assert!(
            !text.contains("no-such-model"),
            "a made-up model name in a scrape"
        );
    }

    let samples = parse(&public_text);
    let requests_total = "codexapi_http_requests_total";
    let requests = |samples: &[Sample], route: &str, model: &str, provider: &str, status: &str| {
        value(
            samples,
            requests_total,
            &[
                ("route", route),
                ("model", model),
                ("provider", provider),
                ("status", status),
            ],
        )
    };
    let chat_route = "/v1/chat/completions";
    assert_eq!(
        requests(&samples, chat_route, "chat-model", "compat", "200"),
        3.0,
        "an alias counts as its model"
    );
    assert_eq!(
        requests(&samples, chat_route, "other", "none", "404"),
        2.0,
        "unknown models count as other"
    );
    assert_eq!(
        requests(&samples, chat_route, "broken-model", "compat", "502"),
        1.0
    );
    assert_eq!(
        requests(&samples, chat_route, "other", "none", "401"),
        1.0,
        "a request without a valid key is counted, and only counted"
    );
    assert_eq!(
        requests(&samples, "/v1/messages", "claude-test", "anthropic", "200"),
        1.0
    );
    let all: f64 = samples
        .iter()
        .filter(|s| s.name == requests_total)
        .map(|s| s.value)
        .sum();
    assert_eq!(all, 8.0, "every request counted once");
    assert_eq!(
        value(
            &samples,
            "codexapi_upstream_errors_total",
            &[("provider", "compat"), ("kind", "5xx")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "codexapi_http_request_duration_seconds_count",
            &[("route", chat_route), ("provider", "compat")]
        ),
        4.0
    );
    assert_eq!(
        value(
            &samples,
            "codexapi_http_time_to_first_byte_seconds_count",
            &[("route", chat_route), ("provider", "compat")]
        ),
        3.0,
        "only answers that began have a first byte"
    );
    // Each provider is in exactly one state.
    for provider in ["compat", "anthropic"] {
        let on: f64 = ["closed", "open", "out_of_rotation"]
            .iter()
            .map(|state| {
                value(
                    &samples,
                    "codexapi_provider_state",
                    &[("provider", provider), ("state", state)],
                )
            })
            .sum();
        assert_eq!(on, 1.0, "{provider}");
    }
    assert!(
        value(
            &samples,
            "codexapi_usage_writer_commit_duration_seconds_count",
            &[]
        ) >= 1.0
    );
    assert_eq!(
        value(&samples, "codexapi_usage_writer_queue_rows", &[]),
        0.0
    );
    assert!(value(&samples, "codexapi_database_size_bytes", &[]) > 0.0);
    assert!(
        value(
            &samples,
            "codexapi_retention_last_run_timestamp_seconds",
            &[]
        ) > 1.7e9
    );
    assert_eq!(
        value(
            &samples,
            "codexapi_outbox_messages",
            &[("state", "given_up")]
        ),
        0.0
    );
    assert!(value(&samples, "codexapi_process_resident_memory_bytes", &[]) > 0.0);

    // Every metric the sample dashboard and the README name is one the server exposes.
    for doc in ["deploy/grafana-dashboard.json", "README.md"] {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/").to_owned() + doc)
                .unwrap();
        // The README's section about them (its cookie is called codexapi_session too).
        let text = match text.split_once("\n## Metrics\n") {
            Some((_, section)) => section.split("\n## ").next().unwrap_or_default(),
            None => &text,
        };
        let names = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("codexapi_"));
        let mut checked = 0;
        for name in names {
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .unwrap_or(name);
            assert!(
                samples.iter().any(|s| s.name.starts_with(family)),
                "{doc} names {name}, which /metrics does not show"
            );
            checked += 1;
        }
        assert!(checked > 10, "{doc}");
    }

    // The separate listener shows the same counters.
    let own_samples = parse(&text);
    assert_eq!(
        requests(&own_samples, chat_route, "chat-model", "compat", "200"),
        3.0
    );
}

#[test]
fn without_metrics_settings_there_is_no_endpoint() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    assert_eq!(scrape(&server.url("/metrics"), None).0, 404);
    assert_eq!(scrape(&server.url("/metrics"), Some(TOKEN)).0, 404);
    assert!(!server.log().contains("metrics at"));
}

#[test]
fn a_token_alone_serves_the_public_listener_only_to_it() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, &format!("[metrics]\ntoken = \"{TOKEN}\"\n")));
    assert_eq!(scrape(&server.url("/metrics"), None).0, 401);
    let (status, _, text) = scrape(&server.url("/metrics"), Some(TOKEN));
    assert_eq!(status, 200);
    assert!(!parse(&text).is_empty());
}

#[test]
fn a_metrics_listener_on_the_public_address_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[server]\nlisten = \"127.0.0.1:18080\"\n[metrics]\nlisten = \"127.0.0.1:18080\"\n",
    )
    .unwrap();
    let (status, _, stderr) = common::run(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert!(!status.success());
    assert!(stderr.contains("metrics.listen"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
