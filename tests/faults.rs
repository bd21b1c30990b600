//! Faults: of the process (killed without warning under load, it comes back with a sound
//! database, a row and a debit for every answer a client received, a ledger that balances), of
//! the upstream (every way it breaks gives the client a prompt error in its own format), and of
//! the database (locked by another process: nothing answered is lost, new requests wait).

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use common::upstream::FakeUpstream;
use rusqlite::Connection;
use serde_json::{Value, json};

/// The fake upstream's providers, a `chat-model` on its Chat provider at 1 and 2 a million
/// tokens, and `extra` TOML.
fn chat_config(up: &FakeUpstream, extra: &str) -> String {
    format!(
        "{}\n[[models]]\nid = \"chat-model\"\nroutes = [{{ provider = \"compat\", model = \"upstream-chat\" }}]\nprice = {{ input = 1, output = 2 }}\n\n{extra}",
        up.providers_toml()
    )
}

/// One plain Chat request for `model`.
fn chat(
    http: &reqwest::blocking::Client,
    server: &Server,
    key: &str,
    model: &str,
) -> reqwest::blocking::Response {
    http.post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
}

#[test]
fn kill_9_under_load_loses_no_answered_request() {
    let up = FakeUpstream::start();
    let config = chat_config(&up, "");
    let server = Server::start(&config);
    let key = common::user_with_key(&server, "dev@example.test");
    let url = server.url("/v1/chat/completions");

    let answered = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let http = common::client();
                // Bounded: a few hundred requests or a few seconds, whichever ends first.
                for _ in 0..200 {
                    if stop.load(Ordering::Relaxed) || started.elapsed() > Duration::from_secs(20) {
                        return;
                    }
                    let res = http
                        .post(&url)
                        .bearer_auth(&key)
                        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
                        .send();
                    // Only an answer read to its end counts as received.
                    let whole = res.ok().filter(|r| r.status() == 200).and_then(|r| r.json::<Value>().ok());
                    if whole.is_some_and(|v| v["choices"][0]["message"]["content"].is_string()) {
                        answered.fetch_add(1, Ordering::SeqCst);
                    } else {
                        return;
                    }
                }
            });
        }
        while answered.load(Ordering::SeqCst) < 60 && started.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let pid = server.pid();
        let status = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        stop.store(true, Ordering::Relaxed);
    });
    let answered = answered.load(Ordering::SeqCst);
    assert!(answered >= 60, "only {answered} answers before the kill");

    // Back up on the same files.
    let server = server.kill_and_restart();
    let conn = Connection::open(server.db_path()).unwrap();
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(verdict, "ok");
    let (rows, debits): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM usage WHERE status = 200),
                    (SELECT count(*) FROM ledger WHERE kind = 'usage')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        rows as usize >= answered,
        "{answered} answers received, {rows} usage rows"
    );
    assert_eq!(rows, debits, "each row has its debit");
    // The restarted server serves, and the ledger still balances (checked when it stops).
    assert_eq!(
        chat(&common::client(), &server, &key, "chat-model").status(),
        200
    );
}

/// Upstreams that go wrong in the ways real ones do, before or while answering: a refused
/// connection, a name that does not resolve, an HTML page with status 200, an answer of 20 MiB,
/// a storm of 429s, garbage in a stream, a stream cut midway and one that falls silent.
#[test]
fn a_broken_upstream_gives_a_prompt_error_in_the_callers_format_and_leaks_no_slot() {
    let up = FakeUpstream::start();
    let closed = common::free_port();
    let config = format!(
        r#"{providers}
[[providers]]
name = "gone"
kind = "openai_compatible"
base_url = "http://127.0.0.1:{closed}/v1"
api_key = "upstream-secret-gone"

[[models]]
id = "refused"
routes = [{{ provider = "gone", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "html"
routes = [{{ provider = "compat", model = "html" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "huge"
routes = [{{ provider = "compat", model = "huge" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "garbage"
routes = [{{ provider = "compat", model = "garbage" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "drop"
routes = [{{ provider = "compat", model = "drop" }}]
price = {{ input = 1, output = 2 }}

[[providers]]
name = "unresolvable"
kind = "openai_compatible"
base_url = "http://codexapi-test.invalid/v1"
api_key = "upstream-secret-unresolvable"
connect_timeout_secs = 2

[[providers]]
name = "quiet"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret-quiet"
idle_timeout_secs = 1

[[models]]
id = "nowhere"
routes = [{{ provider = "unresolvable", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "trickle"
routes = [{{ provider = "quiet", model = "trickle" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "storm"
routes = [{{ provider = "compat", model = "fail-429" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "fine"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = 1, output = 2 }}

[[tiers]]
name = "default"
concurrent_requests = 1
"#,
        providers = up.providers_toml(),
        base = up.base
    );
    let server = Server::start(&config);
    let key = common::user_with_key(&server, "dev@example.test");
    let http = common::client();
    let mut cases = 0;
    // Garbage and a cut connection are faults of streams; the others of any answer.
    for (model, streams) in [
        ("refused", &[false, true][..]),
        ("html", &[false, true]),
        ("huge", &[false, true]),
        ("nowhere", &[false, true]),
        ("storm", &[false, true]),
        ("garbage", &[true]),
        ("drop", &[true]),
        ("trickle", &[true]),
    ] {
        for (path, &stream) in ["/v1/chat/completions", "/v1/messages"]
            .into_iter()
            .flat_map(|path| streams.iter().map(move |s| (path, s)))
        {
            let anthropic = path == "/v1/messages";
            let mut request = http.post(server.url(path)).bearer_auth(&key).json(&json!({
                "model": model, "stream": stream, "max_tokens": 50,
                "messages": [{"role": "user", "content": "hi"}],
            }));
            if anthropic {
                request = request.header("anthropic-version", "2023-06-01");
            }
            let started = Instant::now();
            let res = request.send().unwrap();
            let status = res.status().as_u16();
            let body = res.text().unwrap();
            cases += 1;
            let what = format!("{model} {path} stream={stream}: {status} {body:.300}");
            assert!(started.elapsed() < Duration::from_secs(10), "slow: {what}");
            if status == 200 {
                // The stream had begun: it ends with the format's own error.
                assert!(stream, "{what}");
                if anthropic {
                    assert!(body.contains("event: error"), "{what}");
                } else {
                    assert!(
                        body.contains("\"error\"") && body.contains("[DONE]"),
                        "{what}"
                    );
                }
            } else {
                // A provider's 429 storm is passed on as the client's 429, with when to retry.
                assert!(
                    (500..600).contains(&status) || (model == "storm" && status == 429),
                    "{what}"
                );
                let error: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}"));
                if anthropic {
                    assert_eq!(error["type"], "error", "{what}");
                    assert!(error["error"]["message"].is_string(), "{what}");
                } else {
                    assert!(error["error"]["message"].is_string(), "{what}");
                }
            }
            assert!(
                !body.contains("<html>"),
                "the provider's page reached the client: {what}"
            );
        }
    }
    assert_eq!(cases, 26);
    // With one request at a time allowed, a free slot shows that none of the above kept one.
    assert_eq!(chat(&http, &server, &key, "fine").status(), 200);
}

/// Another process holds the database's write lock for longer than the busy timeout.
#[test]
fn a_database_locked_by_another_process_fails_requests_cleanly_and_then_recovers() {
    let up = FakeUpstream::start();
    let config = chat_config(&up, "[database]\nbusy_timeout_ms = 500\n");
    let server = Server::start(&config);
    let key = common::user_with_key(&server, "dev@example.test");
    let http = common::client();
    let ask = || {
        http.post(server.url("/v1/messages"))
            .bearer_auth(&key)
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "chat-model", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
    };
    assert_eq!(ask().status(), 200);
    let browser = common::signed_in(&server, "dev@example.test");

    let holder = Connection::open(server.db_path()).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // The answer is given (the provider already worked on it) and its row waits in memory...
    assert_eq!(ask().status(), 200);
    // ...and until it is written, new requests are refused in the caller's format, promptly.
    let started = Instant::now();
    let res = ask();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body: Value = res.json().unwrap();
    assert_eq!(body["type"], "error", "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The dashboard says it cannot reach its data, with a 503, not a 500.
    let page = browser
        .get(server.url("/dashboard/usage"))
        .send()
        .unwrap()
        .status();
    assert!(page == 503 || page == 200, "{page}");
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);

    // Once the lock is gone the kept row is written and requests are taken again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ask().status() != 200 {
        assert!(Instant::now() < deadline, "never served again");
        std::thread::sleep(Duration::from_millis(200));
    }
    let conn = Connection::open(server.db_path()).unwrap();
    let (answered, debits): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM usage WHERE status = 200),
                    (SELECT count(*) FROM ledger WHERE kind = 'usage')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        answered >= 3,
        "the answer given while locked has its row: {answered}"
    );
    assert_eq!(answered, debits);
    assert_eq!(ask().status(), 200, "served again once the lock is gone");
}

/// The shell that runs the server in a mount namespace of its own, its data directory on a small
/// tmpfs filled but for a few pages: `USR1` makes the file system larger; `TERM` stops the
/// server, and then the database is checked where it lives.
const SMALL_DISK: &str = r#"
set -u
mount -t tmpfs -o size=4m tmpfs "$DATA"
cp "$SEED" "$DATA/codexapi.db"
# Fill the disk, then give back a little: room for the server to start, not for long.
cat /dev/zero > "$DATA/filler" 2>/dev/null
truncate -s -48K "$DATA/filler"
trap 'mount -o remount,size=64m "$DATA"; rm -f "$DATA/filler"; echo "disk grown" >&2' USR1
"$BIN" --config "$CONFIG" serve &
server=$!
trap 'kill -TERM $server' TERM
while kill -0 $server 2>/dev/null; do wait $server; done
"$BIN" --config "$CONFIG" check-db >&2
"#;

#[test]
fn a_full_disk_fails_requests_cleanly_and_nothing_answered_is_lost() {
    let up = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let seed = dir.path().join("seed.db");
    let config = |db: &std::path::Path| {
        chat_config(&up, &format!("[database]\npath = \"{}\"\n", db.display()))
    };
    // The account is made beforehand, in a file the namespace copies onto its small disk.
    let seed_config = dir.path().join("seed.toml");
    std::fs::write(&seed_config, config(&seed)).unwrap();
    let (status, _, stderr) = common::run(
        dir.path(),
        &["--config", seed_config.to_str().unwrap(), "migrate"],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let key = common::user_and_key_in(dir.path(), &seed_config, "dev@example.test");
    common::grant_in(dir.path(), &seed_config, "dev@example.test", "100");
    // One file that holds it all (its -wal may still hold the last changes).
    let standalone = dir.path().join("standalone.db");
    let (status, _, stderr) = common::run(
        dir.path(),
        &[
            "--config",
            seed_config.to_str().unwrap(),
            "backup",
            standalone.to_str().unwrap(),
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config(&data.join("codexapi.db"))).unwrap();

    let mut cmd = std::process::Command::new("unshare");
    cmd.args([
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        SMALL_DISK,
    ])
    .current_dir(dir.path())
    .env("DATA", &data)
    .env("SEED", &standalone)
    .env("BIN", common::BIN)
    .env("CONFIG", &config_path)
    .env("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0")
    .env("CODEXAPI_SERVER__WORKERS", "2");
    let server = Server::spawn(cmd, dir);
    let shell = server.pid();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([&format!("-{name}"), &shell.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    let http = common::client();
    let ask = || {
        let res = chat(&http, &server, &key, "chat-model");
        let status = res.status().as_u16();
        let body: Value = res.json().unwrap();
        (status, body)
    };
    // Requests until the disk is full: each answer is a success or a clean 503.
    let answered = std::cell::Cell::new(0u32);
    let until = |wanted: u16| {
        let deadline = Instant::now() + Duration::from_secs(20);
        for _ in 0..500 {
            let (status, body) = ask();
            assert!(status == 200 || status == 503, "{status} {body}");
            if status == 200 {
                answered.set(answered.get() + 1);
            }
            if status == 503 {
                assert!(body["error"]["message"].is_string(), "{body}");
            }
            if status == wanted {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {wanted} in time; log:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no {wanted} in 500 requests; log:\n{}", server.log());
    };
    until(503);
    assert!(
        server.log().contains("could not be written"),
        "{}",
        server.log()
    );
    // More room: what was kept is written, and requests are taken again.
    signal("USR1");
    until(200);
    // Every answer given was billed, the one answered as the disk filled included: 21 input
    // tokens at 1 and 9 output tokens at 2 per million each.
    let account: Value = http
        .get(server.url("/v1/account"))
        .bearer_auth(&key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let balance: f64 = account["balance"].as_str().unwrap().parse().unwrap();
    let expected = 100.0 - f64::from(answered.get()) * 0.000_039;
    assert!(
        (balance - expected).abs() < 1e-9,
        "{account} after {} answers",
        answered.get()
    );

    let log = server.stop_keeping_files();
    assert!(log.contains("database ok:"), "{log}");
    assert!(!log.contains("do not match"), "{log}");
}

/// A data directory the server cannot write stops the start with one line that says so.
#[test]
fn a_read_only_data_directory_stops_the_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let seed = dir.path().join("seed.db");
    let (status, _, stderr) = common::run(
        dir.path(),
        &["migrate"],
        &[("CODEXAPI_DATABASE__PATH", seed.to_str().unwrap())],
    );
    assert!(status.success(), "{stderr}");
    let script = r#"
mount -t tmpfs tmpfs "$DATA" && cp "$SEED" "$DATA/codexapi.db" && mount -o remount,ro "$DATA" || exit 99
exec "$BIN" serve
"#;
    let db = data.join("codexapi.db");
    let out = std::process::Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", script])
        .current_dir(dir.path())
        .env("DATA", &data)
        .env("SEED", &seed)
        .env("BIN", common::BIN)
        .env("CODEXAPI_DATABASE__PATH", &db)
        .env("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(74), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&db.display().to_string()) && last.contains("must be writable"),
        "{stderr}"
    );
}
