//! What the gateway costs on the request path, measured against the same fake upstream called
//! directly: latency of whole answers, time to first byte of a Codex-sized streamed turn, the
//! same turns translated for other provider kinds (and Claude Code's), throughput with many
//! clients, and the server's memory. Prints figures; asserts nothing about
//! speed. Every loop is bounded in count and in time, and everything stays on loopback.
//!
//! `cargo bench --bench gateway` (builds the release binary first).

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::upstream::FakeUpstream;
use serde_json::{Value, json};

const SEQUENTIAL: usize = 1000;
const CODEX_TURNS: usize = 200;
const CLIENTS: usize = 16;
const LOAD_REQUESTS: usize = 20_000;
const LOAD_SECONDS: u64 = 8;

fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
[server]
workers = 2

[[providers]]
name = "fake"
kind = "openai"
base_url = "{base}"
api_key = "upstream-secret"

[[providers]]
name = "fake-compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret"

[[providers]]
name = "fake-anthropic"
kind = "anthropic"
base_url = "{base}"
api_key = "upstream-secret"

[[models]]
id = "bench"
routes = [{{ provider = "fake", model = "upstream-chat" }}]
price = {{ input = "1.25", cached_input = "0.125", output = "10" }}

[[models]]
id = "bench-chat"
routes = [{{ provider = "fake-compat", model = "upstream-chat" }}]
price = {{ input = "1.25", output = "10" }}

[[models]]
id = "bench-claude"
routes = [{{ provider = "fake-anthropic", model = "upstream-claude" }}]
reasoning_efforts = ["medium"]
price = {{ input = "3", output = "15" }}
"#,
        base = up.base
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "  {name:<40} n={:<5} p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms",
        samples.len(),
        p50.as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
    );
    p50
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A Codex-like turn: a developer message, about 40 KB of tool definitions, streamed.
fn codex_turn(model: &str) -> Value {
    let tools: Vec<Value> = (0..40)
        .map(|i| {
            json!({
                "type": "function",
                "name": format!("tool_{i}"),
                "description": "x".repeat(900),
                "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
            })
        })
        .collect();
    json!({
        "model": model,
        "stream": true,
        "store": false,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are a coding agent."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "say hi"}]},
        ],
        "tools": tools,
    })
}

/// What one request took.
struct Timing {
    first_byte: Duration,
    total: Duration,
    /// The longest wait between two pieces of the body: where a stream stalled.
    longest_pause: Duration,
}

/// Sends `body` to `url` and times its answer as it arrives.
fn timed(client: &reqwest::blocking::Client, url: &str, key: &str, body: &Value) -> Timing {
    use std::io::Read;
    let started = Instant::now();
    let mut res = client
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .expect("request");
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let mut buf = vec![0u8; 64 * 1024];
    let (mut first_byte, mut last, mut longest_pause) = (None, Duration::ZERO, Duration::ZERO);
    loop {
        let n = res.read(&mut buf).expect("body");
        if n == 0 {
            break;
        }
        let now = started.elapsed();
        if first_byte.is_some() {
            longest_pause = longest_pause.max(now - last);
        }
        first_byte.get_or_insert(now);
        last = now;
    }
    Timing {
        first_byte: first_byte.unwrap_or_default(),
        total: started.elapsed(),
        longest_pause,
    }
}

fn main() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "bench@example.test");
    let client = common::client();
    let direct = format!("{}/chat/completions", up.base);
    let through = server.url("/v1/chat/completions");
    let chat =
        |model: &str| json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    let (direct_body, gateway_body) = (chat("upstream-chat"), chat("bench"));
    println!("codexapi gateway benchmark (release build, loopback, fake upstream)");
    let (idle_rss, _) = rss_kib(server.pid());
    println!("  server RSS after start       {} KiB", idle_rss);

    for _ in 0..100 {
        timed(&client, &direct, "upstream-secret", &direct_body);
        timed(&client, &through, &key, &gateway_body);
    }

    println!("whole chat answers, one client:");
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..SEQUENTIAL {
        if Instant::now() > deadline {
            break;
        }
        a.push(timed(&client, &direct, "upstream-secret", &direct_body).total);
        b.push(timed(&client, &through, &key, &gateway_body).total);
    }
    let direct_p50 = summary("direct to the upstream", a);
    let gateway_p50 = summary("through the gateway", b);
    println!(
        "  gateway overhead at p50      {:.3} ms",
        (gateway_p50.as_secs_f64() - direct_p50.as_secs_f64()) * 1e3
    );

    println!("Codex-sized streamed turns (~40 KB of tools), one client:");
    let direct_responses = format!("{}/responses", up.base);
    let through_responses = server.url("/v1/responses");
    let (direct_turn, gateway_turn) = (codex_turn("upstream-chat"), codex_turn("bench"));
    println!(
        "  request body                 {} bytes",
        gateway_turn.to_string().len()
    );
    let (mut direct, mut gateway) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..CODEX_TURNS {
        if Instant::now() > deadline {
            break;
        }
        direct.push(timed(
            &client,
            &direct_responses,
            "upstream-secret",
            &direct_turn,
        ));
        gateway.push(timed(&client, &through_responses, &key, &gateway_turn));
    }
    let of = |timings: &[Timing], field: fn(&Timing) -> Duration| -> Vec<Duration> {
        timings.iter().map(field).collect()
    };
    summary("first byte, direct", of(&direct, |t| t.first_byte));
    summary("first byte, gateway", of(&gateway, |t| t.first_byte));
    summary("whole stream, direct", of(&direct, |t| t.total));
    summary("whole stream, gateway", of(&gateway, |t| t.total));
    summary("longest pause, direct", of(&direct, |t| t.longest_pause));
    summary("longest pause, gateway", of(&gateway, |t| t.longest_pause));

    println!("translated streamed turns, one client (first byte / whole stream):");
    let claude_turn = |model: &str| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/claude-code-2.1.332-tool-turn.json"
        );
        let mut body: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
        body["model"] = json!(model);
        body
    };
    let through_messages = server.url("/v1/messages");
    let cases = [
        (
            "Codex on a Chat server",
            &through_responses,
            codex_turn("bench-chat"),
        ),
        (
            "Codex on Anthropic",
            &through_responses,
            codex_turn("bench-claude"),
        ),
        (
            "Claude Code on a Chat server",
            &through_messages,
            claude_turn("bench-chat"),
        ),
        (
            "Claude Code on OpenAI",
            &through_messages,
            claude_turn("bench"),
        ),
    ];
    for (name, url, body) in &cases {
        let mut timings = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..CODEX_TURNS {
            if Instant::now() > deadline {
                break;
            }
            timings.push(timed(&client, url, &key, body));
        }
        summary(
            &format!("{name}, first byte"),
            of(&timings, |t| t.first_byte),
        );
        summary(&format!("{name}, whole"), of(&timings, |t| t.total));
    }

    println!("throughput, {CLIENTS} clients, whole chat answers through the gateway:");
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(LOAD_SECONDS);
    let per_client = LOAD_REQUESTS / CLIENTS;
    let (done, failed) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|_| {
                let (through, key, body) = (&through, &key, &gateway_body);
                scope.spawn(move || {
                    let client = common::client();
                    let (mut ok, mut bad) = (0usize, 0usize);
                    for _ in 0..per_client {
                        if Instant::now() > stop_at {
                            break;
                        }
                        match client
                            .post(through.as_str())
                            .bearer_auth(key)
                            .json(body)
                            .send()
                        {
                            Ok(res) if res.status().is_success() => {
                                let _ = res.bytes();
                                ok += 1;
                            }
                            _ => bad += 1,
                        }
                    }
                    (ok, bad)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or((0, 0)))
            .fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    });
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "  {done} answered, {failed} failed in {elapsed:.2} s: {:.0} requests/s",
        done as f64 / elapsed
    );
    let (rss, peak) = rss_kib(server.pid());
    println!("  server RSS after load        {rss} KiB (peak {peak} KiB)");

    let conn = rusqlite::Connection::open(server.db_path()).expect("database");
    let (rows, ledger): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM usage), (SELECT count(*) FROM ledger WHERE kind = 'usage')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("counts");
    println!("  usage rows {rows}, usage ledger rows {ledger} (one each per billed request)");
}
