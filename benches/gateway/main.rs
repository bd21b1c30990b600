//! What the gateway costs, each figure measured in the same run directly against a fake upstream
//! and through the gateway (the release binary, with keys, limits, wallet and metering on):
//!
//! 1. whole Chat answers under wrk at 1, 16 and 64 connections: requests per second, latency
//!    percentiles, the latency added, and CPU per request of the gateway's process (of this
//!    process, which runs the upstream, for the direct figure); 1 and 16 connections again with
//!    the usage writer's commits waiting for the disk (`database.usage_synchronous = full`);
//! 2. streams: the first byte of a Chat stream and of a Codex-sized (40 KB) Responses turn, the
//!    whole turn, and events forwarded per second;
//! 3. translated answers under wrk (Messages to a Chat provider, Responses to an Anthropic one),
//!    and Codex-sized (40 KB) Responses turns passed through, for the cost of a large body;
//! 4. a soak of steady load (whole answers and streams by turns), the gateway's memory after
//!    each minute; then thousands of slow streams open at once: the gateway's resident memory,
//!    and that each ends;
//! 5. after each part, one usage row per request the gateway forwarded, and `check-db`;
//! 6. the dashboard's usage page, the admin's analytics and the CSV exports with millions of
//!    usage rows in the database.
//!
//! Prints one Markdown table and writes it to `bench/latest.md` with the machine it ran on.
//! Every loop is bounded in count and in time; everything stays on loopback.
//!
//! `cargo bench --bench gateway` (builds the release binary first). Smaller runs:
//! `GATEWAY_BENCH_SECONDS` (each wrk run, default 10), `GATEWAY_BENCH_STREAMS` (default 5000),
//! `GATEWAY_BENCH_ROWS` (usage rows for the pages, default 10,000,000; 0 skips them),
//! `GATEWAY_BENCH_SOAK` (seconds of the soak, default 600; 0 skips it),
//! `GATEWAY_BENCH_OUT` (the table's file), `GATEWAY_BENCH_PERF` (a file: `perf record` of the
//! gateway during one more 16-connection run of whole answers, `FILE.stream` of streams of
//! many events and `FILE.turn` of 40 KB Codex turns, kept apart from the measured runs;
//! `bench/profile` does it with symbols).

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

#[path = "../../tests/common/mod.rs"]
mod common;
mod load;
mod pages;
mod streams;
mod upstream;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use load::{Load, memory_kib, wrk};
use serde_json::{Value, json};
use upstream::FastUpstream;

/// Requests of each one-client timing loop, and its time limit.
const TIMED: usize = 200;
const TIMED_LIMIT: Duration = Duration::from_secs(30);
/// Streams of `MANY_EVENTS` events timed for the events per second.
const MANY_STREAMS: usize = 20;
/// Open files the crowd of streams needs per stream: the client's socket and the upstream's,
/// in this process and in the gateway.
const FILES_PER_STREAM: u64 = 2;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn config(base: &str) -> String {
    format!(
        r#"
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
id = "bench-many"
routes = [{{ provider = "fake", model = "many" }}]
price = {{ input = "1.25", output = "10" }}

[[models]]
id = "bench-slow"
routes = [{{ provider = "fake", model = "slow" }}]
price = {{ input = "1.25", output = "10" }}

[[models]]
id = "bench-chat"
routes = [{{ provider = "fake-compat", model = "upstream-chat" }}]
price = {{ input = "1.25", output = "10" }}

[[models]]
id = "bench-claude"
routes = [{{ provider = "fake-anthropic", model = "upstream-claude" }}]
price = {{ input = "3", output = "15" }}
"#
    )
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

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

/// What one streamed or whole request took, read as it arrived.
struct Timing {
    first_byte: Duration,
    total: Duration,
}

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
    let mut first_byte = None;
    loop {
        let n = res.read(&mut buf).expect("body");
        if n == 0 {
            break;
        }
        first_byte.get_or_insert(started.elapsed());
        let _ = &buf[..n];
    }
    Timing {
        first_byte: first_byte.unwrap_or_default(),
        total: started.elapsed(),
    }
}

/// The median of some durations.
fn median(mut samples: Vec<Duration>) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn added(gateway: Duration, direct: Duration) -> String {
    format!(
        "{:+.3} ms",
        (gateway.as_secs_f64() - direct.as_secs_f64()) * 1e3
    )
}

/// The table: a figure, direct, through the gateway, the comparison.
#[derive(Default)]
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn row(&mut self, figure: &str, direct: String, gateway: String, compared: String) {
        println!("  {figure}: direct {direct} | gateway {gateway} | {compared}");
        self.rows
            .push([figure.to_owned(), direct, gateway, compared]);
    }

    fn markdown(&self) -> String {
        let mut out = String::from(
            "| figure | direct to the upstream | through the gateway | gateway vs direct |\n|---|---:|---:|---:|\n",
        );
        for [a, b, c, d] in &self.rows {
            out.push_str(&format!("| {a} | {b} | {c} | {d} |\n"));
        }
        out
    }

    /// The rows of one wrk comparison.
    fn load(&mut self, name: &str, direct: &Load, gateway: &Load) {
        self.row(
            &format!("{name}: requests/s"),
            format!("{:.0}", direct.rate()),
            format!("{:.0}", gateway.rate()),
            format!("{:.0} %", 100.0 * gateway.rate() / direct.rate().max(1.0)),
        );
        self.row(
            &format!("{name}: p50 / p90 / p99 / max"),
            format!(
                "{} / {} / {} / {}",
                ms(direct.p50),
                ms(direct.p90),
                ms(direct.p99),
                ms(direct.max)
            ),
            format!(
                "{} / {} / {} / {}",
                ms(gateway.p50),
                ms(gateway.p90),
                ms(gateway.p99),
                ms(gateway.max)
            ),
            format!(
                "p50 {} , p99 {}",
                added(gateway.p50, direct.p50),
                added(gateway.p99, direct.p99)
            ),
        );
        self.row(
            &format!("{name}: CPU per request"),
            format!("{:.3} ms (upstream)", direct.cpu_ms),
            format!("{:.3} ms (gateway)", gateway.cpu_ms),
            format!("{} failed requests", direct.errors + gateway.errors),
        );
    }
}

/// Counts what the gateway has forwarded, to check its usage rows against.
struct Forwarded<'a> {
    upstream: &'a FastUpstream,
    count: u64,
}

impl Forwarded<'_> {
    /// Runs `f` (which only sends requests through the gateway) and counts its requests as the
    /// upstream saw them.
    fn through<T>(&mut self, f: impl FnOnce() -> T) -> T {
        // The last answers of a run reach the upstream's count just after their bytes left it,
        // also those of a direct run just before (wrk stops with requests in flight).
        std::thread::sleep(Duration::from_millis(300));
        let before = self.upstream.served();
        let out = f();
        std::thread::sleep(Duration::from_millis(300));
        self.count += self.upstream.served() - before;
        out
    }
}

/// One usage row per forwarded request, and the ledger balanced (`codexapi check-db`).
fn verify(table: &mut Table, part: &str, server: &Server, forwarded: u64) {
    let conn = rusqlite::Connection::open(server.db_path()).expect("database");
    let (rows, ledger): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT count(*) FROM usage), (SELECT count(*) FROM ledger WHERE kind = 'usage')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("counts");
    let config = server.config_path();
    let (status, stdout, stderr) = common::run(
        server.dir.path(),
        &["--config", config.to_str().unwrap(), "check-db"],
        &[],
    );
    let check = if status.success() {
        "check-db ok".to_owned()
    } else {
        format!("check-db FAILED: {}{}", stdout.trim(), stderr.trim())
    };
    let same = if u64::try_from(rows).unwrap_or(0) == forwarded {
        "equal"
    } else {
        "DIFFERENT"
    };
    table.row(
        &format!("{part}: usage rows = requests forwarded"),
        "—".to_owned(),
        format!("{rows} rows, {ledger} debits, {forwarded} forwarded"),
        format!("{same}; {check}"),
    );
}

/// The soft limit of open files, and the hard one.
fn file_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_default();
    let mut numbers = line.split_whitespace().filter_map(|w| {
        w.parse::<u64>()
            .ok()
            .or((w == "unlimited").then_some(u64::MAX))
    });
    (
        numbers.next().unwrap_or(1024),
        numbers.next().unwrap_or(1024),
    )
}

/// Runs this benchmark again under `ulimit -n` when the soft limit of open files is too low
/// for the crowd of streams and the hard one allows more (the gateway inherits it).
fn raise_file_limit(streams: u64) {
    let needed = streams * FILES_PER_STREAM + 1024;
    let (soft, hard) = file_limits();
    if soft >= needed || hard < needed || std::env::var_os("GATEWAY_BENCH_RAISED").is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("this program");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {needed} && exec \"$0\" \"$@\""))
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env("GATEWAY_BENCH_RAISED", "1")
        .status()
        .expect("run again under ulimit -n");
    std::process::exit(status.code().unwrap_or(1));
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores ({cpu}), Linux {}", kernel.trim())
}

fn main() {
    let seconds: u64 = env_or("GATEWAY_BENCH_SECONDS", 10);
    let streams: u64 = env_or("GATEWAY_BENCH_STREAMS", 5000);
    let usage_rows: i64 = env_or("GATEWAY_BENCH_ROWS", 10_000_000);
    let soak_seconds: u64 = env_or("GATEWAY_BENCH_SOAK", 600);
    let out_file = std::env::var("GATEWAY_BENCH_OUT")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/bench/latest.md").to_owned());
    raise_file_limit(streams);
    load::ensure_wrk();
    let (soft, _) = file_limits();
    let streams = streams.min(soft.saturating_sub(1024) / FILES_PER_STREAM);

    let up = FastUpstream::start();
    let config = config(&up.base);
    // The log as a server writes it by default, not line by line as the tests read it.
    let flush_ms = codexapi::config::LogConfig::default().flush_ms.to_string();
    let server = Server::start_with(&config, &[("CODEXAPI_LOG__FLUSH_MS", &flush_ms)]);
    let key = common::user_with_key(&server, "bench@example.test");
    common::grant(&server, "bench@example.test", "1000000");
    let client = common::client();
    let pid = server.pid();
    let gateway_pid = pid.to_string();
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut table = Table::default();
    let mut forwarded = Forwarded {
        upstream: &up,
        count: 0,
    };
    let started = Instant::now();
    println!(
        "codexapi gateway benchmark: {}; wrk runs of {seconds} s",
        machine()
    );
    let (idle_rss, _) = memory_kib(pid);

    // Warm both paths: connections, caches, the key.
    let direct_chat = format!("{}/chat/completions", up.base);
    let through_chat = server.url("/v1/chat/completions");
    let (direct_body, gateway_body) = (
        chat("upstream-chat", false).to_string(),
        chat("bench", false).to_string(),
    );
    forwarded.through(|| {
        for _ in 0..100 {
            timed(&client, &through_chat, &key, &chat("bench", false));
        }
    });
    println!("1. whole Chat answers, wrk");
    let run = |url: &str, body: &str, conns: usize, who: &str| {
        wrk(scratch.path(), url, &key, body, conns, seconds, who)
    };
    for conns in [1, 16, 64] {
        let direct = run(&direct_chat, &direct_body, conns, "self");
        let gateway = forwarded.through(|| run(&through_chat, &gateway_body, conns, &gateway_pid));
        table.load(
            &format!(
                "Chat, {conns} connection{}",
                if conns == 1 { "" } else { "s" }
            ),
            &direct,
            &gateway,
        );
    }
    verify(&mut table, "whole Chat answers", &server, forwarded.count);

    if let Ok(file) = std::env::var("GATEWAY_BENCH_PERF") {
        profile(&file, pid, seconds, || {
            forwarded.through(|| run(&through_chat, &gateway_body, 16, &gateway_pid))
        });
        // Streams of many events: where the time of each forwarded event goes.
        let many = chat("bench-many", true).to_string();
        profile(&format!("{file}.stream"), pid, seconds, || {
            forwarded.through(|| run(&through_chat, &many, 16, &gateway_pid))
        });
        // Codex-sized turns: where the time of a large request body goes.
        let turn = codex_turn("bench").to_string();
        let through_responses = server.url("/v1/responses");
        profile(&format!("{file}.turn"), pid, seconds, || {
            forwarded.through(|| run(&through_responses, &turn, 16, &gateway_pid))
        });
    }

    println!("2. streams, one client");
    let direct_stream = chat("upstream-chat", true);
    let gateway_stream = chat("bench", true);
    let direct_responses = format!("{}/responses", up.base);
    let through_responses = server.url("/v1/responses");
    let (direct_turn, gateway_turn) = (codex_turn("upstream-chat"), codex_turn("bench"));
    let pairs: [(&str, &str, &Value, &str, &Value); 2] = [
        (
            "Chat stream",
            &direct_chat,
            &direct_stream,
            &through_chat,
            &gateway_stream,
        ),
        (
            &format!(
                "Codex turn, Responses, {} KB streamed",
                gateway_turn.to_string().len() / 1024
            ),
            &direct_responses,
            &direct_turn,
            &through_responses,
            &gateway_turn,
        ),
    ];
    for (name, direct_url, direct_body, gateway_url, gateway_body) in pairs {
        let (mut direct, mut gateway) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + TIMED_LIMIT;
        for _ in 0..TIMED {
            if Instant::now() > deadline {
                break;
            }
            direct.push(timed(&client, direct_url, "upstream-secret", direct_body));
            gateway.push(timed(&client, gateway_url, &key, gateway_body));
        }
        forwarded.count += gateway.len() as u64;
        let of = |t: &[Timing], f: fn(&Timing) -> Duration| median(t.iter().map(f).collect());
        let (d, g) = (
            of(&direct, |t| t.first_byte),
            of(&gateway, |t| t.first_byte),
        );
        table.row(
            &format!("{name}: first byte, p50 of {}", direct.len()),
            ms(d),
            ms(g),
            added(g, d),
        );
        let (d, g) = (of(&direct, |t| t.total), of(&gateway, |t| t.total));
        table.row(&format!("{name}: whole, p50"), ms(d), ms(g), added(g, d));
    }
    let events = (upstream::MANY_EVENTS + 6) as f64;
    let (mut direct, mut gateway) = (Vec::new(), Vec::new());
    for _ in 0..MANY_STREAMS {
        direct.push(
            timed(
                &client,
                &direct_chat,
                "upstream-secret",
                &chat("many", true),
            )
            .total,
        );
        gateway.push(timed(&client, &through_chat, &key, &chat("bench-many", true)).total);
    }
    forwarded.count += MANY_STREAMS as u64;
    let (d, g) = (
        events / median(direct).as_secs_f64(),
        events / median(gateway).as_secs_f64(),
    );
    table.row(
        &format!("Chat stream of {} events: events/s", upstream::MANY_EVENTS),
        format!("{d:.0}"),
        format!("{g:.0}"),
        format!("{:.0} %", 100.0 * g / d),
    );
    verify(&mut table, "streams", &server, forwarded.count);

    println!("3. translated whole answers, and Codex-sized turns, wrk, 16 connections");
    let messages_to_chat = json!({"model": "bench-chat", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]});
    let responses_to_messages =
        json!({"model": "bench-claude", "max_output_tokens": 256, "input": "hi"});
    let direct_messages = json!({"model": "upstream-claude", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]});
    let cases = [
        (
            "Messages → Chat",
            &direct_chat,
            direct_body.clone(),
            server.url("/v1/messages"),
            messages_to_chat.to_string(),
        ),
        (
            "Responses → Messages",
            &format!("{}/messages", up.base),
            direct_messages.to_string(),
            server.url("/v1/responses"),
            responses_to_messages.to_string(),
        ),
        (
            "Codex turn (40 KB, Responses, streamed)",
            &direct_responses,
            direct_turn.to_string(),
            through_responses.clone(),
            gateway_turn.to_string(),
        ),
    ];
    for (name, direct_url, direct_body, gateway_url, gateway_body) in &cases {
        let direct = run(direct_url, direct_body, 16, "self");
        let gateway = forwarded.through(|| run(gateway_url, gateway_body, 16, &gateway_pid));
        table.load(&format!("{name}, 16 connections"), &direct, &gateway);
    }
    verify(&mut table, "translated", &server, forwarded.count);
    let (rss, peak) = memory_kib(pid);
    table.row(
        "gateway resident memory: idle / after the load (peak)",
        "—".to_owned(),
        format!(
            "{} / {} MiB ({} MiB)",
            idle_rss / 1024,
            rss / 1024,
            peak / 1024
        ),
        String::new(),
    );

    if soak_seconds > 0 {
        let bodies = [gateway_body.clone(), chat("bench", true).to_string()];
        soak(
            &mut table,
            &server,
            soak_seconds,
            &mut forwarded,
            |step, turn| {
                let body = &bodies[turn % 2];
                wrk(
                    scratch.path(),
                    &through_chat,
                    &key,
                    body,
                    16,
                    step,
                    &gateway_pid,
                )
            },
        );
    }
    if streams > 0 {
        slow_streams(&mut table, &server, &key, streams, &mut forwarded);
    }
    drop(server);

    println!("1b. whole Chat answers with database.usage_synchronous = full");
    {
        let server = Server::start_with(
            &config,
            &[
                ("CODEXAPI_DATABASE__USAGE_SYNCHRONOUS", "full"),
                ("CODEXAPI_LOG__FLUSH_MS", &flush_ms),
            ],
        );
        let key = common::user_with_key(&server, "bench@example.test");
        let through = server.url("/v1/chat/completions");
        let gateway_pid = server.pid().to_string();
        let mut forwarded = Forwarded {
            upstream: &up,
            count: 0,
        };
        forwarded.through(|| {
            for _ in 0..100 {
                timed(&client, &through, &key, &chat("bench", false));
            }
        });
        for conns in [1, 16] {
            let direct = wrk(
                scratch.path(),
                &direct_chat,
                &key,
                &direct_body,
                conns,
                seconds,
                "self",
            );
            let gateway = forwarded.through(|| {
                wrk(
                    scratch.path(),
                    &through,
                    &key,
                    &gateway_body,
                    conns,
                    seconds,
                    &gateway_pid,
                )
            });
            table.load(
                &format!(
                    "Chat, {conns} connection{}, usage commits synchronous = full",
                    if conns == 1 { "" } else { "s" }
                ),
                &direct,
                &gateway,
            );
        }
        verify(
            &mut table,
            "usage commits synchronous = full",
            &server,
            forwarded.count,
        );
    }

    if usage_rows > 0 {
        println!("6. pages with {usage_rows} usage rows");
        let pages = pages::run(&config, usage_rows);
        table.row(
            &format!("{usage_rows} usage rows: written, then their daily sums"),
            "—".to_owned(),
            format!(
                "{:.1} s + {:.1} s ({:.0} rows/s), {} MiB file",
                pages.generate.as_secs_f64(),
                pages.sums.as_secs_f64(),
                pages.rows as f64 / pages.generate.as_secs_f64(),
                pages.db_bytes >> 20
            ),
            String::new(),
        );
        for page in &pages.times {
            table.row(
                &format!("{}, {usage_rows} rows: median / slowest of 5", page.name),
                "—".to_owned(),
                format!("{} / {}", ms(page.median), ms(page.worst)),
                page.note.clone(),
            );
        }
    }

    let markdown = format!(
        "Measured {} on {}, by `cargo bench --bench gateway` in {:.0} s (wrk runs of {seconds} s; \
         the load generator, the fake upstream and the gateway share the machine).\n\n{}",
        time::OffsetDateTime::now_utc().date(),
        machine(),
        started.elapsed().as_secs_f64(),
        table.markdown()
    );
    println!("\n{markdown}");
    if let Some(dir) = Path::new(&out_file).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out_file, &markdown).expect("write the table");
    println!("written to {out_file}");
}

/// Part 4: `streams` slow streams at once.
fn slow_streams(
    table: &mut Table,
    server: &Server,
    key: &str,
    streams: u64,
    forwarded: &mut Forwarded<'_>,
) {
    println!("4b. {streams} slow streams at once");
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = chat("bench-slow", true).to_string();
    let limit = upstream::SLOW_PAUSE * upstream::SLOW_EVENTS as u32 + Duration::from_secs(60);
    let crowd = forwarded.through(|| {
        streams::crowd(
            &addr,
            "/v1/chat/completions",
            key,
            &body,
            usize::try_from(streams).unwrap_or(0),
            server.pid(),
            limit,
        )
    });
    let grown = crowd.open_kib.saturating_sub(crowd.idle_kib);
    table.row(
        &format!(
            "{streams} slow streams ({} events, {} ms apart): completed",
            upstream::SLOW_EVENTS,
            upstream::SLOW_PAUSE.as_millis()
        ),
        "—".to_owned(),
        format!(
            "{} of {streams} in {:.1} s (all open after {})",
            crowd.completed,
            crowd.took.as_secs_f64(),
            crowd
                .all_open_at
                .map_or("never".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()))
        ),
        format!("{} connected", crowd.opened),
    );
    table.row(
        &format!("{streams} slow streams: gateway resident memory"),
        "—".to_owned(),
        format!(
            "{} MiB open (from {} MiB), peak {} MiB",
            crowd.open_kib / 1024,
            crowd.idle_kib / 1024,
            crowd.peak_kib / 1024
        ),
        format!("{:.1} KiB a stream", grown as f64 / streams.max(1) as f64),
    );
    verify(table, "slow streams", server, forwarded.count);
}

/// Each step of the soak, in seconds: the gateway's memory is read after each.
const SOAK_STEP: u64 = 60;

/// `seconds` of steady load at 16 connections, whole answers and streams by turns (`load`
/// runs one step of the given length; its second argument counts the steps): whether the
/// gateway's memory stays level, and that every request was served and metered.
fn soak(
    table: &mut Table,
    server: &Server,
    seconds: u64,
    forwarded: &mut Forwarded<'_>,
    mut load: impl FnMut(u64, usize) -> Load,
) {
    println!("4. soak: {seconds} s at 16 connections, whole answers and streams by turns");
    let pid = server.pid();
    let (before_kib, _) = memory_kib(pid);
    let mut after_each = Vec::new();
    let (mut requests, mut failed, mut took) = (0, 0, 0.0);
    forwarded.through(|| {
        let mut left = seconds;
        while left > 0 {
            let step = left.min(SOAK_STEP);
            let run = load(step, after_each.len());
            requests += run.requests;
            failed += run.errors;
            took += run.seconds;
            after_each.push(memory_kib(pid).0);
            left -= step;
        }
    });
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  resident memory after each step, MiB: {}",
        after_each
            .iter()
            .map(|k| format!("{:.1}", mib(*k)))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let first = after_each.first().copied().unwrap_or(before_kib);
    let last = after_each.last().copied().unwrap_or(before_kib);
    let highest = after_each.iter().copied().max().unwrap_or(before_kib);
    table.row(
        &format!("soak, {} s at 16 connections: requests", seconds),
        "—".to_owned(),
        format!(
            "{requests} in {took:.0} s ({:.0} req/s)",
            requests as f64 / took.max(f64::MIN_POSITIVE)
        ),
        format!("{failed} failed requests"),
    );
    table.row(
        &format!("soak: gateway resident memory after each {SOAK_STEP} s"),
        "—".to_owned(),
        format!(
            "first {:.1} MiB, last {:.1} MiB, highest {:.1} MiB (from {:.1} MiB)",
            mib(first),
            mib(last),
            mib(highest),
            mib(before_kib)
        ),
        format!("{:+.1} MiB first to last", mib(last) - mib(first)),
    );
    verify(table, "soak", server, forwarded.count);
}

/// `perf record` of the gateway while `load` runs, with call stacks unwound from DWARF (the
/// release build keeps no frame pointers, so `-g` alone would cut them after one frame).
fn profile<T>(file: &str, pid: u32, seconds: u64, load: impl FnOnce() -> T) {
    println!("profiling the gateway into {file}");
    let mut perf = Command::new("perf")
        .args([
            "record",
            "-F",
            "499",
            "--call-graph",
            "dwarf,16384",
            "-p",
            &pid.to_string(),
            "-o",
            file,
        ])
        .args(["--", "sleep", &seconds.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("perf (linux-perf)");
    let _ = load();
    let status = perf.wait().expect("perf");
    println!("perf record ended: {status}");
}
