//! The pages that read usage, with many requests in the database: the schema made by the real
//! binary (`codexapi migrate`), accounts made by the command line and the library, then the
//! usage rows written by one `INSERT … WITH RECURSIVE` in one transaction and the daily sums
//! (`usage_daily`, `usage_daily_totals`) filled from them as the usage writer keeps them: per UTC
//! day, account, model and provider; errors are the rows with a status outside 2xx; a row that
//! reached no provider sums under no model.

use std::io::Read;
use std::time::{Duration, Instant};

use codexapi::db::accounts::{NewUser, Role, Status};
use rusqlite::{Connection, params};

use crate::common::{self, Server};

/// Other accounts the rows belong to; one row in [`OWN_SHARE`] is the signed-in user's.
const ACCOUNTS: i64 = 99;
const OWN_SHARE: i64 = 4;
/// Days the rows span, up to now: within the IP retention period, so that the retention job
/// has nothing to shorten while the pages are timed.
const DAYS: i64 = 28;
/// How often each page is fetched; the median is shown.
const ROUNDS: usize = 5;

/// Time of one page: median and slowest of [`ROUNDS`].
pub struct PageTime {
    pub name: String,
    pub median: Duration,
    pub worst: Duration,
    pub note: String,
}

pub struct Pages {
    pub rows: i64,
    pub generate: Duration,
    pub sums: Duration,
    pub times: Vec<PageTime>,
    pub db_bytes: u64,
}

/// Writes `rows` usage rows into a fresh database and times the pages that read them.
pub fn run(config: &str, rows: i64) -> Pages {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).expect("config");
    let cfg = config_path.to_str().expect("path");
    let (status, _, stderr) = common::run(dir.path(), &["--config", cfg, "migrate"], &[]);
    assert!(status.success(), "migrate: {stderr}");
    let email = "pages@example.test";
    let key = common::user_and_key_in(dir.path(), &config_path, email);
    drop(key);
    let db_path = dir.path().join("data/codexapi.db");
    let (generate, sums) = fill(&db_path, email, rows);
    let db_bytes = std::fs::metadata(&db_path).map(|m| m.len()).unwrap_or(0);

    let server = Server::serve_in(dir);
    let admin = common::admin(&server, "pages-admin@example.test");
    let user = common::signed_in(&server, email);
    let mut times = Vec::new();
    let page = |client: &reqwest::blocking::Client, path: &str| -> (Duration, String) {
        let started = Instant::now();
        let res = client.get(server.url(path)).send().expect(path);
        assert!(res.status().is_success(), "{path}: {}", res.status());
        let body = res.text().expect(path);
        (started.elapsed(), format!("{} KB", body.len() / 1024))
    };
    let pages: [(&str, &reqwest::blocking::Client, &str); 5] = [
        ("dashboard: usage page", &user, "/dashboard/usage"),
        ("admin: home", &admin, "/admin"),
        (
            "admin: analytics, 30 days",
            &admin,
            "/admin/analytics?days=30",
        ),
        (
            "admin: analytics, 90 days",
            &admin,
            "/admin/analytics?days=90",
        ),
        (
            "admin: analytics CSV, 30 days",
            &admin,
            "/admin/analytics.csv?days=30",
        ),
    ];
    for (name, client, path) in pages {
        let mut runs = Vec::new();
        let mut note = String::new();
        for _ in 0..ROUNDS {
            let (took, what) = page(client, path);
            runs.push(took);
            note = what;
        }
        times.push(timed(name, runs, note));
    }
    // The export streams every row of the account: its first page of rows, and its first
    // 10,000 rows.
    let mut first = Vec::new();
    let mut tenk = Vec::new();
    for _ in 0..ROUNDS {
        let (a, b) = export(&user, &server.url("/dashboard/usage.csv"), 10_000);
        first.push(a);
        tenk.push(b);
    }
    times.push(timed(
        "dashboard: CSV export, first rows",
        first,
        String::new(),
    ));
    times.push(timed(
        "dashboard: CSV export, 10,000 rows",
        tenk,
        String::new(),
    ));
    Pages {
        rows,
        generate,
        sums,
        times,
        db_bytes,
    }
}

fn timed(name: &str, mut runs: Vec<Duration>, note: String) -> PageTime {
    runs.sort_unstable();
    PageTime {
        name: name.to_owned(),
        median: runs[runs.len() / 2],
        worst: runs[runs.len() - 1],
        note,
    }
}

/// Time to the first line after the header, and to `lines` lines (or the end).
fn export(client: &reqwest::blocking::Client, url: &str, lines: usize) -> (Duration, Duration) {
    let started = Instant::now();
    let mut res = client.get(url).send().expect("export");
    assert!(res.status().is_success(), "export: {}", res.status());
    let mut buf = vec![0u8; 64 * 1024];
    let (mut seen, mut first) = (0usize, None);
    loop {
        let n = res.read(&mut buf).expect("export body");
        if n == 0 {
            break;
        }
        seen += buf[..n].iter().filter(|&&b| b == b'\n').count();
        if seen >= 2 && first.is_none() {
            first = Some(started.elapsed());
        }
        if seen > lines {
            break;
        }
    }
    let all = started.elapsed();
    (first.unwrap_or(all), all)
}

/// The accounts, the rows and their daily sums; returns how long the rows and the sums took.
fn fill(db_path: &std::path::Path, email: &str, rows: i64) -> (Duration, Duration) {
    let mut conn = Connection::open(db_path).expect("database");
    // Nothing else has the file open: write it without a journal, as fast as SQLite goes,
    // then hand it back in WAL mode as the server keeps it.
    conn.pragma_update(None, "journal_mode", "DELETE")
        .expect("journal");
    conn.pragma_update(None, "journal_mode", "OFF")
        .expect("journal");
    conn.pragma_update(None, "synchronous", "OFF")
        .expect("synchronous");
    conn.pragma_update(None, "cache_size", -262_144)
        .expect("cache");
    conn.pragma_update(None, "temp_store", "MEMORY")
        .expect("temp store");
    let (own, own_key): (String, String) = conn
        .query_row(
            "SELECT u.id, k.id FROM users u JOIN api_keys k ON k.user_id = u.id WHERE u.email = ?1",
            [email],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the user");
    let tx = conn.transaction().expect("transaction");
    for i in 0..ACCOUNTS {
        let (id, email) = (format!("bench-{i:02}"), format!("bench{i}@example.test"));
        let user = NewUser {
            id: &id,
            email: &email,
            name: "Dev",
            password_hash: "x",
            role: Role::User,
            status: Status::Active,
            verified: true,
            credit: 0,
        };
        codexapi::db::accounts::insert_user(&tx, &user, 0).expect("account");
    }
    let now = codexapi::db::now_ms();
    let span = DAYS * 86_400_000;
    let started = Instant::now();
    // Row i: evenly spread over the span, oldest first (as the writer appends them); one in
    // OWN_SHARE the signed-in user's through its key, the rest spread over the other
    // accounts; one in 50 an upstream failure, one in 200 refused by a rate limit before any
    // provider; models, providers and endpoints in turn.
    tx.execute(
        "INSERT INTO usage (at, user_id, key_id, endpoint, model, provider, status, latency_ms,
             ttfb_ms, input_tokens, cached_input_tokens, cache_creation_tokens, output_tokens,
             reasoning_tokens, estimated, streamed, outcome, error_kind, cost, ip, dropped)
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
         SELECT ?2 + i * ?3 / ?1,
                CASE WHEN i % ?4 = 0 THEN ?5 ELSE printf('bench-%02d', (i * 2654435761) % ?6) END,
                CASE WHEN i % ?4 = 0 THEN ?7 END,
                CASE i % 3 WHEN 0 THEN '/v1/responses' WHEN 1 THEN '/v1/chat/completions'
                           ELSE '/v1/messages' END,
                CASE i % 4 WHEN 0 THEN 'gpt-5.3-codex' WHEN 1 THEN 'claude-sonnet-5'
                           WHEN 2 THEN 'claude-haiku-5' ELSE 'deepseek-v4' END,
                CASE WHEN i % 200 = 104 THEN NULL
                     ELSE CASE i % 3 WHEN 0 THEN 'openai' WHEN 1 THEN 'anthropic'
                                     ELSE 'deepseek' END END,
                CASE WHEN i % 50 = 0 THEN 502 WHEN i % 200 = 104 THEN 429 ELSE 200 END,
                200 + (i * 2654435761) % 4000, 120,
                4000, 2000, 0, 300, 100, 0, 1,
                CASE WHEN i % 50 = 0 THEN 'failed' WHEN i % 200 = 104 THEN 'rejected'
                     ELSE 'completed' END,
                CASE WHEN i % 50 = 0 THEN 'bad_gateway' WHEN i % 200 = 104 THEN 'rate_limited'
                END,
                CASE WHEN i % 50 = 0 OR i % 200 = 104 THEN 0 ELSE 9500 END,
                NULL, NULL
         FROM n",
        params![rows, now - span, span, OWN_SHARE, own, ACCOUNTS, own_key],
    )
    .expect("usage rows");
    let generate = started.elapsed();
    let started = Instant::now();
    tx.execute_batch(
        "INSERT INTO usage_daily (day, user_id, model, provider, requests, errors, input_tokens,
             cached_input_tokens, output_tokens, cost, latency_ms)
         SELECT at / 86400000, user_id,
                CASE WHEN provider IS NULL THEN '' ELSE coalesce(model, '') END,
                coalesce(provider, ''), count(*), sum(status NOT BETWEEN 200 AND 299),
                sum(input_tokens), sum(cached_input_tokens), sum(output_tokens), sum(cost),
                sum(latency_ms)
         FROM usage GROUP BY 1, 2, 3, 4;
         INSERT INTO usage_daily_totals (day, model, provider, requests, errors, input_tokens,
             cached_input_tokens, output_tokens, cost, latency_ms)
         SELECT day, model, provider, sum(requests), sum(errors), sum(input_tokens),
                sum(cached_input_tokens), sum(output_tokens), sum(cost), sum(latency_ms)
         FROM usage_daily GROUP BY 1, 2, 3;",
    )
    .expect("daily sums");
    tx.execute(
        "UPDATE api_keys SET last_used_at = (SELECT max(at) FROM usage WHERE user_id = ?2)
         WHERE id = ?1",
        params![own_key, own],
    )
    .expect("the key's last use");
    tx.commit().expect("commit");
    let sums = started.elapsed();
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("journal");
    (generate, sums)
}
