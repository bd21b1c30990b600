//! What the gateway costs on the request path, measured against the same fake upstream called
//! directly: latency of whole answers, time to first byte of a Codex-sized streamed turn,
//! throughput with many clients, and the server's memory. Prints figures; asserts nothing about
//! speed. Every loop is bounded in count and in time, and everything stays on loopback.
//!
//! `cargo bench --bench gateway` (builds the release binary first).

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

[[models]]
id = "bench"
routes = [{{ provider = "fake", model = "upstream-chat" }}]
price = {{ input = "1.25", cached_input = "0.125", output = "10" }}
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
        "  {name:<28} n={:<5} p50 {:>8.3} ms  p90 {:>8.3} ms  p99 {:>8.3} ms",
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

/// Sends `body` to `url` and returns (time to the first body byte, time to the end).
fn timed(
    client: &reqwest::blocking::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> (Duration, Duration) {
    use std::io::Read;
    let started = Instant::now();
    let mut res = client
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .expect("request");
    assert!(res.status().is_success(), "{url}: {}", res.status());
    let mut first = [0u8; 1];
    res.read_exact(&mut first).expect("first byte");
    let ttfb = started.elapsed();
    let mut rest = Vec::new();
    res.read_to_end(&mut rest).expect("body");
    (ttfb, started.elapsed())
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
        a.push(timed(&client, &direct, "upstream-secret", &direct_body).1);
        b.push(timed(&client, &through, &key, &gateway_body).1);
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
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..CODEX_TURNS {
        if Instant::now() > deadline {
            break;
        }
        let (ttfb, total) = timed(&client, &direct_responses, "upstream-secret", &direct_turn);
        a.push(ttfb);
        c.push(total);
        let (ttfb, total) = timed(&client, &through_responses, &key, &gateway_turn);
        b.push(ttfb);
        d.push(total);
    }
    summary("first byte, direct", a);
    summary("first byte, gateway", b);
    summary("whole stream, direct", c);
    summary("whole stream, gateway", d);

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
