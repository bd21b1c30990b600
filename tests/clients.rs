//! Real clients against the real binary and a fake upstream: the official OpenAI and Anthropic
//! Python SDKs (tests/clients/*_sdk.py) and the Codex CLI (tests/clients/codex).
//!
//! Needs python3 with tests/requirements.txt and tests/clients/codex/node_modules: `scripts/test`
//! installs them. The tests fail, not skip, when they are missing.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::upstream::{ANSWER, FakeUpstream};
use common::{Row, Server, usage_rows};
use serde_json::Value;

/// The longest one client run may take.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// One provider per wire format. The first model is the one the /docs snippets name.
fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret-compat"

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
        base = up.base
    )
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

struct Output {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion, killing it after `timeout`.
fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        success: status.is_some_and(|s| s.success()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "{what} did not finish in {timeout:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    out
}

/// Runs an SDK script from tests/clients with `checks` (`check:model`) and returns the summary
/// of each check, in order; fails when any check did not get what it expects.
fn sdk(server: &Server, key: &str, script: &str, prompt: &str, checks: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join(script))
        .args(["--prompt", prompt])
        .args(checks)
        .env("CODEXAPI_BASE_URL", &server.base)
        .env("CODEXAPI_API_KEY", key)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("OPENAI_") || name.starts_with("ANTHROPIC_") {
            cmd.env_remove(name);
        }
    }
    let out = run_bounded(cmd, CLIENT_TIMEOUT);
    let summary: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{script} printed no summary (is tests/requirements.txt installed? scripts/test \
             installs it)\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        )
    });
    assert!(
        out.success,
        "{script}: a check failed\n{:#}\nstderr:\n{}\nserver log:\n{}",
        summary,
        out.stderr,
        server.log()
    );
    summary["checks"].as_array().unwrap().clone()
}

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
        c["error"].is_null() && !["models", "compact", "count_tokens"].contains(&name)
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

#[test]
fn openai_sdk_drives_chat_completions_and_responses() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = canary();
    let checks = sdk(
        &server,
        &key,
        "openai_sdk.py",
        &format!("Say hello {canary}"),
        &[
            "chat:chat-model",
            "chat_stream:chat-model",
            "chat_stream_helper:chat-model",
            "responses:gpt-test",
            "responses_stream:gpt-test",
            "responses_stream_helper:gpt-test",
            "models:gpt-test",
            "unknown_model:no-such-model",
            "bad_key:chat-model",
        ],
    );
    assert_answers(&checks, &canary.replace("CANARY", "ECHO"));
    for check in &checks[..3] {
        assert_eq!(check["usage"]["total_tokens"], 30, "{check:#}");
    }
    for check in &checks[3..6] {
        assert_eq!(check["status"], "completed", "{check:#}");
        assert_eq!(check["usage"]["output_tokens"], 9, "{check:#}");
    }
    let ids = checks[6]["ids"].as_array().unwrap();
    assert!(ids.iter().any(|id| id == "claude-test"), "{ids:?}");
    assert_eq!(checks[7]["status"], 404);
    assert_eq!(checks[7]["body"]["code"], "model_not_found");
    assert_eq!(checks[8]["status"], 401);
    assert_eq!(checks[8]["body"]["code"], "invalid_api_key");

    // The upstream saw the six answered requests, Responses ones with store: false.
    let seen = up.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/responses",
            "/v1/responses",
            "/v1/responses",
        ]
    );
    assert!(seen[3..].iter().all(|s| s.body["store"] == false));
    assert!(
        !format!("{seen:?}").contains(&key),
        "the key never goes upstream"
    );

    // One usage row per request; listing models is not metered.
    let rows = usage_rows(&server);
    assert_eq!(
        row_keys(&rows),
        [
            ("/v1/chat/completions", "compat", 200, "completed", false),
            ("/v1/chat/completions", "compat", 200, "completed", true),
            ("/v1/chat/completions", "compat", 200, "completed", true),
            ("/v1/responses", "openai", 200, "completed", false),
            ("/v1/responses", "openai", 200, "completed", true),
            ("/v1/responses", "openai", 200, "completed", true),
            ("/v1/chat/completions", "", 404, "rejected", false),
            ("/v1/chat/completions", "", 401, "rejected", false),
        ],
        "{rows:#?}"
    );
    assert_metered(&rows);
}

#[test]
fn anthropic_sdk_drives_messages() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = canary();
    let checks = sdk(
        &server,
        &key,
        "anthropic_sdk.py",
        &format!("Say hello {canary}"),
        &[
            "messages:claude-test",
            "messages_stream:claude-test",
            "messages_stream_helper:claude-test",
            "models:claude-test",
            "unknown_model:no-such-model",
            "bad_key:claude-test",
        ],
    );
    assert_answers(&checks, &canary.replace("CANARY", "ECHO"));
    assert_eq!(checks[0]["usage"]["input_tokens"], 17);
    assert_eq!(checks[0]["usage"]["output_tokens"], 9);
    assert_eq!(checks[1]["usage"]["delta"]["output_tokens"], 9);
    assert_eq!(checks[2]["usage"]["output_tokens"], 9);
    assert!(checks[..3].iter().all(|c| c["stop_reason"] == "end_turn"));
    assert_eq!(checks[4]["status"], 404);
    assert_eq!(checks[4]["body"]["error"]["type"], "not_found_error");
    assert_eq!(checks[5]["status"], 401);
    assert_eq!(checks[5]["body"]["error"]["type"], "authentication_error");

    let seen = up.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for s in &seen {
        assert_eq!(s.path, "/v1/messages");
        assert_eq!(s.x_api_key.as_deref(), Some("upstream-secret-anthropic"));
    }

    // Anthropic's input_tokens leave out the 4 read from cache: the rows say 17 + 4 = 21.
    let rows = usage_rows(&server);
    assert_eq!(
        row_keys(&rows),
        [
            ("/v1/messages", "anthropic", 200, "completed", false),
            ("/v1/messages", "anthropic", 200, "completed", true),
            ("/v1/messages", "anthropic", 200, "completed", true),
            ("/v1/messages", "", 404, "rejected", false),
            ("/v1/messages", "", 401, "rejected", false),
        ],
        "{rows:#?}"
    );
    assert_metered(&rows);
}

/// Both SDKs on models whose provider speaks another format, plus the auxiliary endpoints:
/// `responses.compact` (forwarded to an OpenAI provider) and `messages.count_tokens`
/// (forwarded to an Anthropic provider, counted locally for others; never billed).
#[test]
fn sdks_across_formats() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = canary();
    let prompt = format!("Say hello {canary}");
    let echo = canary.replace("CANARY", "ECHO");

    let openai = sdk(
        &server,
        &key,
        "openai_sdk.py",
        &prompt,
        &[
            "chat:claude-test",
            "chat_stream:claude-test",
            "chat_stream_helper:claude-test",
            "responses:chat-model",
            "responses_stream:chat-model",
            "responses_stream_helper:chat-model",
            "compact:gpt-test",
        ],
    );
    assert_answers(&openai, &echo);
    assert_eq!(openai[6]["text"], "compaction");
    assert_eq!(openai[6]["usage"]["output_tokens"], 5);

    let anthropic = sdk(
        &server,
        &key,
        "anthropic_sdk.py",
        &prompt,
        &[
            "messages:chat-model",
            "messages_stream:chat-model",
            "messages_stream_helper:gpt-test",
            "count_tokens:claude-test",
            "count_tokens:chat-model",
        ],
    );
    assert_answers(&anthropic, &echo);
    assert_eq!(anthropic[3]["input_tokens"], 42, "the upstream's count");
    assert!(anthropic[4]["input_tokens"].as_i64().unwrap() > 0);

    // What each request became upstream.
    let seen = up.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v1/messages",
            "/v1/messages",
            "/v1/messages",
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/responses/compact",
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/chat/completions",
            "/v1/messages/count_tokens",
        ]
    );
    let rows = usage_rows(&server);
    assert_eq!(
        row_keys(&rows),
        [
            ("/v1/chat/completions", "anthropic", 200, "completed", false),
            ("/v1/chat/completions", "anthropic", 200, "completed", true),
            ("/v1/chat/completions", "anthropic", 200, "completed", true),
            ("/v1/responses", "compat", 200, "completed", false),
            ("/v1/responses", "compat", 200, "completed", true),
            ("/v1/responses", "compat", 200, "completed", true),
            ("/v1/responses/compact", "openai", 200, "completed", false),
            ("/v1/messages", "compat", 200, "completed", false),
            ("/v1/messages", "compat", 200, "completed", true),
            ("/v1/messages", "openai", 200, "completed", true),
            (
                "/v1/messages/count_tokens",
                "anthropic",
                200,
                "completed",
                false
            ),
            ("/v1/messages/count_tokens", "", 200, "completed", false),
        ],
        "{rows:#?}"
    );
    assert_metered(&rows[..6]);
    assert_metered(&rows[7..10]);
    assert_eq!((rows[6].input, rows[6].output), (30, 5), "{:?}", rows[6]);
    assert!(rows[6].cost > 0);
    for row in &rows[10..] {
        assert_eq!((row.input, row.output, row.cost), (0, 0, 0), "{row:?}");
    }
}

/// The Codex CLI's `codex exec` as installed by `npm ci --prefix tests/clients/codex`.
fn codex_bin() -> PathBuf {
    let bin = clients_dir().join("codex/node_modules/.bin/codex");
    assert!(
        bin.exists(),
        "{} is missing; run scripts/test (it installs it), or: npm ci --prefix tests/clients/codex",
        bin.display()
    );
    bin
}

/// The Codex config block of the server's /docs page, unescaped.
fn docs_codex_snippet(server: &Server) -> String {
    let html = common::client()
        .get(server.url("/docs"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let start = html
        .find(r#"<code id="codex-config">"#)
        .expect("the docs page has a Codex config block");
    let block = &html[start..];
    let block = &block[block.find('>').unwrap() + 1..block.find("</code>").unwrap()];
    block
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Runs `codex exec "say hi"` with `codex_config` as its config and the key in its
/// environment; returns what it printed and its last message.
fn run_codex_exec(codex_config: &str, key: &str) -> (Output, String) {
    let codex = codex_bin();
    let tmp = tempfile::tempdir().unwrap();
    let (home, codex_home, work) = (
        tmp.path().join("home"),
        tmp.path().join("codex-home"),
        tmp.path().join("work"),
    );
    for dir in [&home, &codex_home, &work] {
        std::fs::create_dir(dir).unwrap();
    }
    std::fs::write(codex_home.join("config.toml"), codex_config).unwrap();
    let last = tmp.path().join("last-message.txt");

    let mut cmd = Command::new(&codex);
    cmd.current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CODEX_HOME", &codex_home)
        .env("TMPDIR", tmp.path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("CODEXAPI_API_KEY", key)
        .args([
            "exec",
            "--skip-git-repo-check",
            "--strict-config",
            "--ephemeral",
        ])
        .args(["--color", "never", "--output-last-message"])
        .arg(&last)
        // One request per turn: no retries hide a failure.
        .args(["-c", "model_providers.codexapi.request_max_retries=0"])
        .args(["-c", "model_providers.codexapi.stream_max_retries=0"])
        .arg("say hi");
    let out = run_bounded(cmd, CLIENT_TIMEOUT);
    let answer = std::fs::read_to_string(&last).unwrap_or_default();
    (out, answer)
}

#[test]
fn codex_exec_answers_through_the_gateway() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "dev@example.test");

    let snippet = docs_codex_snippet(&server);
    assert!(
        snippet.contains(&format!(r#"base_url = "{}/v1""#, server.base)),
        "{snippet}"
    );
    let template = std::fs::read_to_string(clients_dir().join("codex/config.toml.in")).unwrap();
    assert!(template.contains("# @SETUP_SNIPPET@"));
    let codex_config = template.replace("# @SETUP_SNIPPET@", &snippet);

    let (out, answer) = run_codex_exec(&codex_config, &key);
    let seen = up.seen();
    let rows = usage_rows(&server);
    let report = format!(
        "config.toml:\n{codex_config}\nstdout:\n{}\nstderr:\n{}\nupstream saw: {:#?}\nusage rows: \
         {rows:#?}\nserver log:\n{}",
        out.stdout,
        out.stderr,
        seen.iter()
            .map(|s| (&s.path, &s.body["model"], &s.body["stream"]))
            .collect::<Vec<_>>(),
        server.log()
    );
    assert!(out.success, "codex exec failed\n{report}");
    assert!(
        answer.contains(ANSWER) && out.stdout.contains(ANSWER),
        "codex did not print the answer\n{report}"
    );

    let turns: Vec<_> = seen.iter().filter(|s| s.path == "/v1/responses").collect();
    assert!(!turns.is_empty(), "{report}");
    for turn in &turns {
        assert_eq!(turn.body["model"], "gpt-test", "{report}");
        assert_eq!(turn.body["stream"], true, "{report}");
        assert_eq!(turn.body["store"], false, "{report}");
    }
    assert!(
        rows.iter().any(|r| r.endpoint == "/v1/responses"
            && r.status == 200
            && r.outcome == "completed"
            && r.streamed
            && r.input > 0
            && r.output > 0),
        "{report}"
    );
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
        docs_codex_snippet(&server),
        server.base
    );
    let template = std::fs::read_to_string(clients_dir().join("codex/config.toml.in")).unwrap();
    let codex_config = template.replace("# @SETUP_SNIPPET@", &snippet);

    let (out, answer) = run_codex_exec(&codex_config, &key);
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
    let template = std::fs::read_to_string(clients_dir().join("codex/config.toml.in")).unwrap();
    let codex_config = template.replace("# @SETUP_SNIPPET@", &docs_codex_snippet(&server));

    // An empty wallet: Codex is refused with the reason.
    let (out, _) = run_codex_exec(&codex_config, &key);
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
    let (out, answer) = run_codex_exec(&codex_config, &key);
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
    let shown = codexapi::billing::Money::from_micros(cost).display_in("USD");
    let usage = common::text(browser.get(server.url("/dashboard/usage")).send().unwrap());
    assert!(
        usage.contains(&shown),
        "the request's cost {shown} on the usage page"
    );
    let billing = common::text(
        browser
            .get(server.url("/dashboard/billing"))
            .send()
            .unwrap(),
    );
    let left = codexapi::billing::Money::from_micros(10_000_000 - cost).display_in("USD");
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
