//! The admin console at scale: a database with ten million requests (by default; set
//! `CONSOLE_BENCH_ROWS` for another count) from a thousand accounts over ninety days, written
//! through the usage writer's own insert (which keeps the daily sums), then each of the
//! console's queries timed. Prints a Markdown table.
//!
//! `cargo bench --bench console`

// Benchmarks: a failed step fails the run at once, with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use codexapi::config::DatabaseConfig;
use codexapi::db::accounts::{NewUser, Role, Status, UserQuery};
use codexapi::db::rollup::{self, Group};
use codexapi::db::usage::{Endpoint, Outcome, UsageRow, insert_rows};
use codexapi::db::{self, Db};

const ACCOUNTS: usize = 1_000;
const DAYS: i64 = 90;
const MODELS: [&str; 4] = [
    "gpt-5.3-codex",
    "claude-sonnet-5",
    "claude-haiku-5",
    "deepseek-v4",
];
const PROVIDERS: [&str; 3] = ["openai", "anthropic", "deepseek"];
/// Rows per write transaction, as the usage writer groups them.
const BATCH: usize = 5_000;
/// How often each query is run; the median is shown.
const ROUNDS: usize = 7;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort_unstable();
    runs[runs.len() / 2]
}

fn time(label: &str, rows: &mut Vec<(String, Duration, String)>, mut run: impl FnMut() -> String) {
    let mut runs = Vec::with_capacity(ROUNDS);
    let mut what = String::new();
    for _ in 0..ROUNDS {
        let started = Instant::now();
        what = run();
        runs.push(started.elapsed());
    }
    rows.push((label.to_owned(), median(runs), what));
}

fn main() {
    let total: usize = std::env::var("CONSOLE_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let config = DatabaseConfig {
        path: dir.path().join("bench.db"),
        ..DatabaseConfig::default()
    };
    let db = Db::open(&config, true).unwrap();
    db.migrate().unwrap();
    let mut conn = db.conn().unwrap();

    let ids: Vec<String> = (0..ACCOUNTS).map(|i| format!("user-{i:04}")).collect();
    {
        let tx = db::write(&mut conn).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let email = format!("dev{i}@example.test");
            let user = NewUser {
                id,
                email: &email,
                name: "Dev",
                password_hash: "x",
                role: Role::User,
                status: Status::Active,
                verified: true,
                credit: 0,
            };
            db::accounts::insert_user(&tx, &user, 0).unwrap();
        }
        tx.commit().unwrap();
    }

    let now = db::now_ms();
    let span = DAYS * 86_400_000;
    let started = Instant::now();
    let mut written = 0;
    let mut batch = Vec::with_capacity(BATCH);
    while written < total {
        batch.clear();
        for n in written..(written + BATCH).min(total) {
            let spread = u64::try_from(n).unwrap().wrapping_mul(2_654_435_761);
            batch.push(UsageRow {
                at: now - span + i64::try_from(n).unwrap() * span / i64::try_from(total).unwrap(),
                user_id: Some(ids[usize::try_from(spread % ACCOUNTS as u64).unwrap()].clone()),
                key_id: None,
                endpoint: Endpoint::Responses,
                model: Some(MODELS[n % MODELS.len()].to_owned()),
                provider: Some(PROVIDERS[n % PROVIDERS.len()].to_owned()),
                status: if n % 50 == 0 { 502 } else { 200 },
                latency_ms: i64::try_from(200 + spread % 4_000).unwrap(),
                ttfb_ms: Some(120),
                input_tokens: 4_000,
                cached_input_tokens: 2_000,
                cache_creation_tokens: 0,
                output_tokens: 300,
                reasoning_tokens: 100,
                estimated: false,
                streamed: true,
                outcome: Outcome::Completed,
                error_kind: None,
                cost: 9_500,
                ip: Some("203.0.113.7".to_owned()),
                dropped: None,
            });
        }
        let tx = db::write(&mut conn).unwrap();
        insert_rows(&tx, &batch).unwrap();
        tx.commit().unwrap();
        written += batch.len();
    }
    let writing = started.elapsed();
    let daily: i64 = conn
        .query_row("SELECT count(*) FROM usage_daily", [], |r| r.get(0))
        .unwrap();
    println!(
        "{total} requests written with their daily sums in {:.1} s ({:.0} rows/s); {daily} daily rows\n",
        writing.as_secs_f64(),
        total as f64 / writing.as_secs_f64()
    );

    let today = now / 86_400_000;
    let mut rows = Vec::new();
    time("home: today and 30 days", &mut rows, || {
        let day = rollup::totals(&conn, today, today + 1).unwrap();
        let month = rollup::totals(&conn, today - 29, today + 1).unwrap();
        format!("{} and {} requests", day.requests, month.requests)
    });
    for (label, group) in [
        ("analytics 90 days: per day", Group::Day),
        ("analytics 90 days: by model", Group::Model),
        ("analytics 90 days: by provider", Group::Provider),
        ("analytics 90 days: top accounts", Group::Account),
    ] {
        time(label, &mut rows, || {
            let found = rollup::grouped(&conn, group, today - 89, today + 1, 90).unwrap();
            format!("{} groups", found.len())
        });
    }
    time("analytics 30 days: CSV rows", &mut rows, || {
        let found = rollup::daily_rows(&conn, today - 29, today + 1, 200_000).unwrap();
        format!("{} rows", found.len())
    });
    time("providers: the last hour", &mut rows, || {
        let found = rollup::recent_by_provider(&conn, now - 3_600_000, 50_000).unwrap();
        let n: i64 = found.iter().map(|(_, r)| r.requests).sum();
        format!("{n} requests")
    });
    time("users: search page", &mut rows, || {
        let query = UserQuery {
            text: Some("dev99".to_owned()),
            ..UserQuery::default()
        };
        let (found, total) = db::accounts::find_users(&conn, &query, 0, 50).unwrap();
        format!("{} of {total}", found.len())
    });

    println!("| query | median of {ROUNDS} | result |\n|---|---:|---|");
    for (label, took, what) in rows {
        println!(
            "| {label} | {:.2} ms | {what} |",
            took.as_secs_f64() * 1000.0
        );
    }
}
