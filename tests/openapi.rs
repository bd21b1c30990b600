//! The OpenAPI description at `/openapi.json`: public, valid OpenAPI 3.1 by
//! `openapi-spec-validator`, and true of the running server by schemathesis, which sends
//! generated requests with a funded key (a fake upstream answers them) and checks that every
//! answer has a documented status, content type and body.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use common::stripe::FakeStripe;
use common::upstream::FakeUpstream;
use serde_json::Value;

/// How long schemathesis may run before the test gives up on it.
const SCHEMATHESIS_LIMIT: Duration = Duration::from_secs(150);

fn config(up: &FakeUpstream, stripe: &FakeStripe) -> String {
    // The models carry the ids the description uses as examples, so examples reach a provider.
    format!(
        r#"{providers}
[[models]]
id = "gpt-5"
routes = [{{ provider = "openai" }}]
reasoning_efforts = ["low", "medium", "high"]
price = {{ input = "1.25", output = "10" }}

[[models]]
id = "claude-sonnet-4-5"
routes = [{{ provider = "anthropic" }}]
price = {{ input = "3", output = "15" }}

[stripe]
secret_key = "{secret}"
webhook_secret = "{webhook}"
api_base = "{api}"
"#,
        providers = up.providers_toml(),
        secret = stripe.secret_key,
        webhook = stripe.webhook_secret,
        api = stripe.base,
    )
}

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Runs a Python tool of tests/requirements.txt in `dir`, killing it past `limit`; returns
/// whether it succeeded and what it printed.
fn run_bounded(
    program: &str,
    args: &[&str],
    dir: &std::path::Path,
    limit: Duration,
) -> (bool, String) {
    let mut cmd = Command::new(program);
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    let out = common::agents::run_bounded(cmd, limit);
    (out.success, format!("{}{}", out.stdout, out.stderr))
}

#[test]
fn the_description_is_public_valid_and_true_of_the_server() {
    let up = FakeUpstream::start();
    let stripe = FakeStripe::start();
    let server = Server::start(&config(&up, &stripe));
    let key = common::user_with_key(&server, "dev@example.test");

    // Public: no key, no cookie.
    let res = http().get(server.url("/openapi.json")).send().unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let text = res.text().unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/v1/account", "get"),
        ("/v1/models", "get"),
        ("/v1/models/{id}", "get"),
        ("/v1/chat/completions", "post"),
        ("/v1/completions", "post"),
        ("/v1/responses", "post"),
        ("/v1/responses/compact", "post"),
        ("/v1/responses/input_tokens", "post"),
        ("/v1/messages", "post"),
        ("/v1/messages/count_tokens", "post"),
        ("/stripe/webhook", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is described"
        );
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "x-api-key");

    // A known endpoint asked with another method says which it takes, in the caller's shape.
    let res = http()
        .get(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .send()
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let res = http()
        .delete(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .send()
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.json::<Value>().unwrap()["type"], "error");

    // The docs page links to it.
    let docs = http()
        .get(server.url("/docs"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        docs.contains("href=\"/openapi.json\""),
        "the docs page links the description"
    );

    let work = tempfile::tempdir().unwrap();
    let spec = work.path().join("openapi.json");
    std::fs::write(&spec, &text).unwrap();
    let (valid, said) = run_bounded(
        "python3",
        &["-m", "openapi_spec_validator", spec.to_str().unwrap()],
        work.path(),
        Duration::from_secs(60),
    );
    assert!(valid, "openapi-spec-validator:\n{said}");

    // Requests name a model of this server, so generated requests reach the provider (and its
    // translation) rather than stopping at "no such model"; other names are tried all the same
    // where the generator breaks the schema on purpose.
    let mut narrowed = doc.clone();
    for request in [
        "ChatCompletionRequest",
        "CompletionRequest",
        "ResponsesRequest",
        "MessagesRequest",
    ] {
        narrowed["components"]["schemas"][request]["properties"]["model"]["enum"] =
            serde_json::json!(["gpt-5", "claude-sonnet-4-5"]);
    }
    for parameter in narrowed["paths"]["/v1/models/{id}"]["get"]["parameters"]
        .as_array_mut()
        .unwrap()
    {
        if parameter["name"] == "id" {
            parameter["schema"]["enum"] = serde_json::json!(["gpt-5", "claude-sonnet-4-5"]);
        }
    }
    let narrowed_path = work.path().join("narrowed.json");
    std::fs::write(&narrowed_path, narrowed.to_string()).unwrap();

    let started = Instant::now();
    let auth = format!("Authorization: Bearer {key}");
    let (passed, said) = run_bounded(
        "schemathesis",
        &[
            "run",
            narrowed_path.to_str().unwrap(),
            "--url",
            &server.base,
            "--header",
            &auth,
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,unsupported_method",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            "--request-timeout",
            "10",
            // One worker: hypothesis on Python 3.11 can fail describing a strategy when several
            // threads generate at once.
            "--workers",
            "1",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        work.path(),
        SCHEMATHESIS_LIMIT,
    );
    println!(
        "schemathesis ({:.0} s):\n{said}",
        started.elapsed().as_secs_f64()
    );
    assert!(
        passed,
        "schemathesis found answers the description does not allow"
    );
    let log = server.log();
    assert!(!log.contains(&key), "the key never reaches the log");
    assert!(!log.contains("panicked"), "no handler panicked:\n{log}");
}
