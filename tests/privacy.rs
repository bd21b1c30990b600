//! The privacy policy's promises, kept by the running server: retention (old metadata deleted,
//! old addresses shortened, down to the file's bytes), and the user's data rights.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::Duration;

use common::Server;
use common::upstream::FakeUpstream;
use rusqlite::{Connection, params};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn config(up: &FakeUpstream) -> String {
    format!(
        "{}\n[[models]]\nid = \"chat-model\"\nroutes = [{{ provider = \"compat\", model = \"upstream-chat\" }}]\nprice = {{ input = 1, output = 2 }}\n",
        up.providers_toml()
    )
}

/// The status of one plain Chat request with `key`.
fn chat_status(server: &Server, key: &str) -> reqwest::StatusCode {
    common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
        .status()
}

fn open(server: &Server) -> Connection {
    let conn = Connection::open(server.db_path()).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

/// Stops the server as an operator does (the stop folds the write-ahead log into the file) and
/// returns every byte of its database file and log, with the server's own log. The ledger is
/// checked first, as for every server the tests start; then the directory goes.
fn stop_and_read(server: Server) -> (Vec<u8>, String) {
    let dir = server.dir.path().to_path_buf();
    let log = server.stop_keeping_files();
    let db = dir.join("data/codexapi.db");
    let mut bytes = std::fs::read(&db).unwrap();
    if let Ok(more) = std::fs::read(db.with_extension("db-wal")) {
        bytes.extend(more);
    }
    let config = dir.join("config.toml");
    let (status, stdout, stderr) = common::run(
        &dir,
        &["--config", config.to_str().unwrap(), "check-db"],
        &[],
    );
    assert!(status.success(), "{stdout}{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
    (bytes, log)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// Rows older than the retention periods, as a server running for a year would have them.
fn seed_old_rows(conn: &Connection, user: &str, now: i64) {
    let (old, older) = (now - 40 * DAY_MS, now - 400 * DAY_MS);
    let usage = "INSERT INTO usage (at, user_id, endpoint, status, latency_ms, outcome, ip)
                 VALUES (?1, ?2, '/v1/chat/completions', 200, 5, 'completed', ?3)";
    conn.execute(usage, params![older, user, "198.51.100.123"])
        .unwrap();
    conn.execute(usage, params![old, user, "203.0.113.77"])
        .unwrap();
    conn.execute(usage, params![old, user, "2001:db8:1:2::99"])
        .unwrap();
    let event =
        "INSERT INTO security_events (user_id, at, kind, ip) VALUES (?1, ?2, 'sign_in', ?3)";
    conn.execute(event, params![user, older, "198.51.100.124"])
        .unwrap();
    conn.execute(event, params![user, old, "203.0.113.78"])
        .unwrap();
    conn.execute(
        "INSERT INTO sessions (token_hash, id, user_id, csrf_token, created_at, last_seen_at, ip)
         VALUES (x'01', 'old-session', ?1, 'c', ?2, ?2, '203.0.113.79')",
        params![user, old],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, ip) VALUES (?1, 'cli', 'grant', '203.0.113.80')",
        params![old],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO page_views (at, path, browser, os, device, visitor)
         VALUES (?1, '/pricing', 'Firefox', 'Linux', 'desktop', x'00')",
        params![older],
    )
    .unwrap();
    let mail = "INSERT INTO email_outbox (to_addr, subject, text_body, html_body, created_at,
                    next_attempt_at, sent_at) VALUES (?1, 'Hello', '', '', ?2, ?2, ?2)";
    conn.execute(mail, params!["long-gone@example.test", now - 10 * DAY_MS])
        .unwrap();
    conn.execute(mail, params!["recent@example.test", now - DAY_MS])
        .unwrap();
}

fn ips(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A database with a year of history: when the server starts, the retention job deletes what is
/// past `metadata_retention_days` and shortens every address past `ip_retention_days`, in every
/// table that keeps one; the old values are gone from the file's bytes, not just from its tables;
/// after a restart, and from the command line, it finds nothing left to do.
#[test]
fn retention_deletes_old_metadata_and_shortens_old_addresses_down_to_the_bytes() {
    let up = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("config.toml");
    // Sessions that outlive the address retention period, so that theirs is shortened too.
    let sessions = "\n[accounts]\nsession_idle_hours = 2000\nsession_max_days = 90\n";
    std::fs::write(&config_path, config(&up) + sessions).unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", config_path.to_str().unwrap()];
        all.extend(args);
        let (status, stdout, stderr) = common::run(dir.path(), &all, &[]);
        assert!(status.success(), "{stdout}{stderr}");
        stdout
    };
    cli(&["migrate"]);
    let key = common::user_and_key_in(dir.path(), &config_path, "dev@example.test");
    common::grant_in(dir.path(), &config_path, "dev@example.test", "10");
    let now = now_ms();
    {
        let conn = Connection::open(dir.path().join("data/codexapi.db")).unwrap();
        let user: String = conn
            .query_row("SELECT id FROM users", [], |r| r.get(0))
            .unwrap();
        seed_old_rows(&conn, &user, now);
    }
    assert!(cli(&["retention", "show"]).contains("has not run"));

    let server = Server::serve_in(dir);
    assert!(
        server.wait_for_log("retention job: deleted", Duration::from_secs(20)),
        "{}",
        server.log()
    );
    assert_eq!(chat_status(&server, &key), 200);

    let conn = open(&server);
    let mut usage = ips(&conn, "SELECT ip FROM usage ORDER BY at");
    usage.sort();
    assert_eq!(usage, ["127.0.0.1", "2001:db8:1::", "203.0.113.0"]);
    assert_eq!(
        ips(
            &conn,
            "SELECT ip FROM security_events WHERE kind = 'sign_in' AND ip LIKE '203.%'"
        ),
        ["203.0.113.0"]
    );
    assert_eq!(
        ips(
            &conn,
            "SELECT ip FROM security_events WHERE ip LIKE '198.51.100.%'"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        ips(&conn, "SELECT ip FROM sessions WHERE id = 'old-session'"),
        ["203.0.113.0"]
    );
    assert_eq!(ips(&conn, "SELECT ip FROM audit_log"), ["203.0.113.0"]);
    assert_eq!(
        ips(&conn, "SELECT path FROM page_views"),
        Vec::<String>::new()
    );
    assert_eq!(
        ips(
            &conn,
            "SELECT to_addr FROM email_outbox WHERE to_addr LIKE '%gone%' OR to_addr LIKE 'recent%'"
        ),
        ["recent@example.test"]
    );
    drop(conn);
    let ready = common::text(common::client().get(server.url("/readyz")).send().unwrap());
    assert!(ready.contains("retention job: last run"), "{ready}");

    // After a restart, and run now from the command line while the server runs: nothing is
    // left to do.
    let server = server.restart();
    assert!(
        server.wait_for_log("retention job: deleted", Duration::from_secs(20)),
        "{}",
        server.log()
    );
    let config = server.config_path();
    let (status, stdout, stderr) = common::run(
        server.dir.path(),
        &["--config", config.to_str().unwrap(), "retention", "run"],
        &[],
    );
    assert!(status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "deleted usage 0, usage_daily 0, usage_daily_totals 0, security_events 0, page_views 0, email_outbox 0"
        ) && stdout
            .contains("addresses shortened usage 0, security_events 0, audit_log 0, sessions 0"),
        "{stdout}"
    );
    let conn = open(&server);
    let mut usage = ips(&conn, "SELECT ip FROM usage ORDER BY at");
    usage.sort();
    assert_eq!(usage, ["127.0.0.1", "2001:db8:1::", "203.0.113.0"]);
    drop(conn);

    // None of the old values is left in the file or its log.
    let (bytes, log) = stop_and_read(server);
    for gone in [
        "198.51.100.123",
        "198.51.100.124",
        "203.0.113.77",
        "203.0.113.78",
        "203.0.113.79",
        "203.0.113.80",
        "2001:db8:1:2::99",
        "long-gone@example.test",
    ] {
        assert!(
            !contains(&bytes, gone),
            "{gone} is still in the file; log:\n{log}"
        );
    }
    assert!(contains(&bytes, "recent@example.test"));
}

/// The data rights, as a user goes through them in the dashboard: the page lists what is
/// stored (from the schema), the download holds every row about the account and no secret,
/// restriction is a switch, and deleting the account (a wrong password changes nothing) stops
/// the key within a second, ends the session, mails a confirmation whose row then goes, keeps
/// the ledger detached, and leaves the address nowhere in the database file's bytes.
#[test]
fn a_user_downloads_restricts_and_deletes_their_data() {
    let up = FakeUpstream::start();
    let smtp = common::smtp::SmtpServer::start();
    let config = format!(
        "{}[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Gateway <noreply@gateway.test>\"\nretry_secs = 1\n",
        config(&up),
        smtp.port
    );
    let server = Server::start(&config);
    let email = format!("erase-me-{}@example.test", std::process::id());
    let key = common::user_with_key(&server, &email);
    assert_eq!(chat_status(&server, &key), 200);

    let http = common::signed_in(&server, &email);
    let page = common::text(http.get(server.url("/dashboard/privacy")).send().unwrap());
    for shown in [
        "<code>usage</code>",
        "<code>ledger</code>",
        "withheld: an Argon2id hash of your password",
        "kept for accounting",
    ] {
        assert!(page.contains(shown), "{shown} on:\n{page}");
    }
    let token = common::csrf(&page);

    let res = http
        .get(server.url("/dashboard/privacy/export"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let raw = res.text().unwrap();
    assert!(!raw.contains(&key), "the key itself is never stored");
    let export: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let tables = &export["tables"];
    let rows = |t: &str| tables[t]["rows"].as_array().unwrap().clone();
    assert_eq!(rows("users")[0]["email"], email);
    assert!(rows("users")[0].get("password_hash").is_none());
    assert_eq!(
        tables["users"]["withheld"]["password_hash"],
        "an Argon2id hash of your password"
    );
    assert_eq!(rows("usage").len(), 1);
    assert_eq!(rows("usage")[0]["model"], "chat-model");
    assert_eq!(rows("usage")[0]["ip"], "127.0.0.1");
    let api_key = &rows("api_keys")[0];
    assert!(key.starts_with(api_key["prefix"].as_str().unwrap()));
    assert!(api_key.get("key_hash").is_none());
    assert_eq!(rows("ledger").len(), 2, "the grant and the request");
    assert!(!rows("sessions").is_empty());
    assert!(rows("sessions")[0].get("token_hash").is_none());
    let readable = common::text(
        http.get(server.url("/dashboard/privacy/data"))
            .send()
            .unwrap(),
    );
    assert!(readable.contains(&email) && readable.contains("chat-model"));

    let res = http
        .post(server.url("/dashboard/privacy/restrict"))
        .form(&[("csrf", token.as_str()), ("restrict", "on")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = common::text(http.get(server.url("/dashboard/privacy")).send().unwrap());
    assert!(page.contains("Restricted since"), "{page}");

    let res = http
        .post(server.url("/dashboard/privacy/delete"))
        .form(&[("csrf", token.as_str()), ("password", "not-my-password")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(common::text(res).contains("not right"));
    let chat = || chat_status(&server, &key);
    assert_eq!(chat(), 200, "a refused deletion changes nothing");

    let res = http
        .post(server.url("/dashboard/privacy/delete"))
        .form(&[("csrf", token.as_str()), ("password", common::PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(common::text(res).contains("Your account is deleted"));
    let deleted_at = std::time::Instant::now();

    loop {
        let status = chat();
        if status == 401 {
            break;
        }
        assert!(
            deleted_at.elapsed() < Duration::from_secs(1),
            "the key still gets {status} a second after the deletion; log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let res = http.get(server.url("/dashboard")).send().unwrap();
    assert_eq!(res.status(), 303, "the session ended");

    let mail = smtp.wait_for_mail(&email, Duration::from_secs(15));
    assert_eq!(mail.subject, "Your account has been deleted");
    assert!(
        mail.text.contains("Deleted: users,") && mail.text.contains("ledger"),
        "{}",
        mail.text
    );
    let conn = open(&server);
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    let started = std::time::Instant::now();
    while count("SELECT count(*) FROM email_outbox") > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the delivered mail's row stays"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(count("SELECT count(*) FROM users"), 0);
    assert_eq!(count("SELECT count(*) FROM usage"), 0);
    assert_eq!(
        count("SELECT count(*) FROM ledger WHERE user_id IS NULL AND detached IS NOT NULL"),
        3,
        "the grant and two requests"
    );
    assert_eq!(
        count("SELECT count(*) FROM audit_log WHERE action = 'account_erased'"),
        1
    );
    drop(conn);

    let (bytes, log) = stop_and_read(server);
    assert!(
        !contains(&bytes, &email),
        "the address is still in the file"
    );
    assert!(!log.contains(&email), "the address is in the log:\n{log}");
}

/// First-party analytics as the policy describes them: a page view keeps its route, the
/// referring host, browser and OS families, the device class and a visitor hash, and no
/// address; Do Not Track, Global Privacy Control, crawlers, the API and restricted users are
/// not counted; the admins' page shows the figures.
#[test]
fn site_analytics_count_pages_without_addresses_and_skip_whoever_opted_out() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let visit = |path: &str, headers: &[(&str, &str)]| {
        let mut req = common::client().get(server.url(path));
        if !headers.iter().any(|(name, _)| *name == "user-agent") {
            req = req.header("user-agent", firefox);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{path}: a visitor gets no cookie"
        );
    };
    visit("/", &[("referer", "https://News.Example.org/item?id=42")]);
    visit("/pricing", &[]);
    visit("/pricing", &[("dnt", "1")]);
    visit("/docs", &[("sec-gpc", "1")]);
    visit(
        "/docs",
        &[(
            "user-agent",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        )],
    );
    visit("/healthz", &[]);

    // One account that restricted processing, one that did not: only the second is counted.
    common::user_with_key(&server, "quiet@example.test");
    common::user_with_key(&server, "open@example.test");
    let quiet = common::signed_in(&server, "quiet@example.test");
    let page = common::text(quiet.get(server.url("/dashboard/privacy")).send().unwrap());
    let res = quiet
        .post(server.url("/dashboard/privacy/restrict"))
        .form(&[("csrf", common::csrf(&page).as_str()), ("restrict", "on")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let open_user = common::signed_in(&server, "open@example.test");
    for client in [&quiet, &open_user] {
        let res = client
            .get(server.url("/dashboard/keys"))
            .header("user-agent", firefox)
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
    }

    // The views the quiet user made before restricting (sign-in, privacy page) count; none after.
    let conn = open(&server);
    let rows = || -> Vec<(String, Option<String>, String, String, String, i64)> {
        let mut stmt = conn
            .prepare(
                "SELECT path, referrer, browser, os, device, length(visitor) FROM page_views
                 WHERE browser = 'Firefox' ORDER BY id",
            )
            .unwrap();
        stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let started = std::time::Instant::now();
    while rows().len() < 3 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let counted = rows();
    let firefox_view = |path: &str, referrer: Option<&str>| {
        (
            path.to_owned(),
            referrer.map(str::to_owned),
            "Firefox".to_owned(),
            "Linux".to_owned(),
            "desktop".to_owned(),
            16,
        )
    };
    assert_eq!(
        counted,
        [
            firefox_view("/", Some("news.example.org")),
            firefox_view("/pricing", None),
            firefox_view("/dashboard/keys", None),
        ]
    );
    let all: i64 = conn
        .query_row(
            "SELECT count(*) FROM page_views WHERE path IN ('/docs', '/healthz') OR path LIKE '/v1/%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(all, 0, "opted out, crawled, or not a page");
    drop(conn);

    let admin = common::admin(&server, "op@example.test");
    let page = common::text(admin.get(server.url("/admin/site")).send().unwrap());
    for shown in [
        "news.example.org",
        "/dashboard/keys",
        "Firefox",
        "Linux",
        "desktop",
    ] {
        assert!(page.contains(shown), "{shown} on the admin page:\n{page}");
    }
    let system = common::text(admin.get(server.url("/admin/system")).send().unwrap());
    assert!(
        system.contains("quiet@example.test") && !system.contains("open@example.test"),
        "admins see who restricted processing:\n{system}"
    );
    let user_page = open_user.get(server.url("/admin/site")).send().unwrap();
    assert_eq!(user_page.status(), 404);

    let (bytes, log) = stop_and_read(server);
    assert!(
        !contains(&bytes, "news.example.org/item"),
        "only the host of a referrer is kept; log:\n{log}"
    );
}

/// A new policy version (a new `policy.effective_date`): the earlier text stays readable at its
/// own address, account holders from before see a notice until they acknowledge it, and each
/// gets exactly one mail about it, however often the server restarts.
#[test]
fn a_new_policy_version_is_announced_once_and_the_old_one_stays_readable() {
    let up = FakeUpstream::start();
    let smtp = common::smtp::SmtpServer::start();
    let config_at = |date: &str| {
        format!(
            "{}[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Gateway <noreply@gateway.test>\"\nretry_secs = 1\n\n[policy]\neffective_date = \"{date}\"\n",
            config(&up),
            smtp.port
        )
    };
    let server = Server::start(&config_at("2026-01-01"));
    common::user_with_key(&server, "reader@example.test");
    let http = common::signed_in(&server, "reader@example.test");
    let dashboard = common::text(http.get(server.url("/dashboard")).send().unwrap());
    assert!(
        !dashboard.contains("policy and terms changed"),
        "a first version is no change"
    );
    let privacy = common::text(common::client().get(server.url("/privacy")).send().unwrap());
    assert!(privacy.contains("Effective 2026-01-01") && !privacy.contains("id=\"versions-title\""));

    std::fs::write(server.config_path(), config_at("2027-01-01")).unwrap();
    let server = server.restart();
    let privacy = common::text(common::client().get(server.url("/privacy")).send().unwrap());
    assert!(privacy.contains("Effective 2027-01-01"), "{privacy}");
    assert!(
        privacy.contains("href=\"/privacy/2026-01-01\""),
        "{privacy}"
    );
    let old = common::client()
        .get(server.url("/privacy/2026-01-01"))
        .send()
        .unwrap();
    assert_eq!(old.status(), 200);
    let old = common::text(old);
    assert!(old.contains("This is an earlier version") && old.contains("Effective 2026-01-01"));
    let old_terms = common::client()
        .get(server.url("/terms/2026-01-01"))
        .send()
        .unwrap();
    assert_eq!(old_terms.status(), 200);
    assert_eq!(
        common::client()
            .get(server.url("/privacy/1999-01-01"))
            .send()
            .unwrap()
            .status(),
        404
    );

    let mail = smtp.wait_for_mail("reader@example.test", Duration::from_secs(15));
    assert_eq!(mail.subject, "Our privacy policy has changed");
    assert!(mail.text.contains("2027-01-01") && mail.text.contains("/privacy/2026-01-01"));

    let http = common::signed_in(&server, "reader@example.test");
    let page = common::text(http.get(server.url("/dashboard/keys")).send().unwrap());
    assert!(page.contains("policy and terms changed"), "{page}");
    let res = http
        .post(server.url("/dashboard/policy/seen"))
        .header("referer", server.url("/dashboard/keys"))
        .form(&[("csrf", common::csrf(&page))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(common::location(&res), "/dashboard/keys");
    let page = common::text(http.get(server.url("/dashboard/keys")).send().unwrap());
    assert!(!page.contains("policy and terms changed"));

    // Someone who signs up now agreed to this version: no notice.
    common::user_with_key(&server, "newcomer@example.test");
    let newcomer = common::signed_in(&server, "newcomer@example.test");
    let page = common::text(newcomer.get(server.url("/dashboard")).send().unwrap());
    assert!(!page.contains("policy and terms changed"));

    let server = server.restart();
    std::thread::sleep(Duration::from_secs(2));
    let notices = smtp
        .received_for("reader@example.test")
        .into_iter()
        .filter(|m| m.subject == "Our privacy policy has changed")
        .count();
    assert_eq!(notices, 1, "one mail per version");
    assert!(smtp.received_for("newcomer@example.test").is_empty());
    drop(server);
}

/// The secret guard: with "redact" the provider receives the request with the credential
/// replaced (whatever the client format), with "block" the client gets a 400 in its own format
/// naming the rule and nothing goes upstream; the secret reaches no file and no log line, and
/// the admins' system page shows only counts per rule.
#[test]
fn the_secret_guard_redacts_or_blocks_credentials_before_they_go_upstream() {
    let aws = format!("AKIA{}", "Q3VNZ7RTXK2MWP5L");
    let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDr8aYhY2hSbXVh5k1TqWq2mF9yZ3vB6nD4pL0eR7sQ1wAAAJg=\n-----END OPENSSH PRIVATE KEY-----";
    for mode in ["redact", "block"] {
        let up = FakeUpstream::start();
        let extra = format!("\n[privacy]\nsecret_guard = \"{mode}\"\n");
        let server =
            Server::start_with(&(config(&up) + &extra), &[("CODEXAPI_LOG__LEVEL", "trace")]);
        let key = common::user_with_key(&server, "dev@example.test");
        let http = common::client();
        let prompt = format!("Why does this fail?\n\nAWS_ACCESS_KEY_ID={aws}\n\n{pem}\n");
        let chat = http
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(
                &json!({"model": "chat-model", "messages": [{"role": "user", "content": prompt}]}),
            )
            .send()
            .unwrap();
        let messages = http
            .post(server.url("/v1/messages"))
            .bearer_auth(&key)
            .json(&json!({"model": "chat-model", "max_tokens": 9, "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}]}))
            .send()
            .unwrap();
        let clean = http
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "fn main() { let key = std::env::var(\"AWS_ACCESS_KEY_ID\"); }"}]}))
            .send()
            .unwrap();
        assert_eq!(clean.status(), 200, "{mode}: code without secrets passes");
        let seen = up.seen();
        if mode == "redact" {
            assert_eq!(chat.status(), 200);
            assert_eq!(messages.status(), 200);
            assert_eq!(seen.len(), 3);
            for request in &seen[..2] {
                let sent = request.body.to_string();
                assert!(sent.contains("[redacted:aws-access-token]"), "{sent}");
                assert!(sent.contains("[redacted:private-key]"), "{sent}");
                assert!(
                    sent.contains("Why does this fail?"),
                    "the rest is kept: {sent}"
                );
            }
        } else {
            assert_eq!(chat.status(), 400);
            let body: serde_json::Value = chat.json().unwrap();
            assert_eq!(body["error"]["code"], "secret_detected");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(message.contains("rule `"), "{message}");
            assert_eq!(messages.status(), 400);
            let body: serde_json::Value = messages.json().unwrap();
            assert_eq!(body["type"], "error", "Anthropic's error format: {body}");
            assert_eq!(seen.len(), 1, "only the clean request went upstream");
        }
        for request in &seen {
            assert!(!request.body.to_string().contains(&aws));
        }

        let admin = common::admin(&server, "op@example.test");
        let page = common::text(admin.get(server.url("/admin/system")).send().unwrap());
        assert!(page.contains("<code>aws-access-token</code>"), "{page}");
        // The policy says what the guard does on this server.
        let policy = common::text(http.get(server.url("/privacy")).send().unwrap());
        let says = if mode == "redact" {
            "replaced by a placeholder"
        } else {
            "is refused and not sent to any provider"
        };
        assert!(policy.contains(says), "{mode}: the policy does not say so");

        let dir = server.dir.path().to_path_buf();
        let log = server.stop_keeping_files();
        assert!(!log.contains(&aws), "the secret is in the log");
        for entry in std::fs::read_dir(dir.join("data")).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(!contains(&bytes, &aws), "the secret is on disk");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// The canary suite over every face of the server, logging at trace level in JSON (the text
/// format at trace level is the gateway tests' own): passwords and codes
/// typed into the sign-in, account and deletion forms, addresses and reports sent to the error
/// pages, and the API under faults (a provider quoting the request back in its error, a stream
/// it drops, a body over the limit, a client that hangs up mid-stream). Afterwards the canary is
/// in no file of the data directory or the temp directory, in no export, in no backup and in no
/// line of the log.
#[test]
fn canaries_reach_no_file_export_backup_or_log_on_any_face() {
    let up = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let models = "\n[[models]]\nid = \"echo-error\"\nroutes = [{ provider = \"compat\", model = \"echo-error\" }]\nprice = { input = 1, output = 2 }\n\n[[models]]\nid = \"drop\"\nroutes = [{ provider = \"compat\", model = \"drop\" }]\nprice = { input = 1, output = 2 }\n\n[[models]]\nid = \"long\"\nroutes = [{ provider = \"compat\", model = \"long\" }]\nprice = { input = 1, output = 2 }\n";
    let server = Server::start_with(
        &(config(&up) + models),
        &[
            ("TMPDIR", tmp.path().to_str().unwrap()),
            ("CODEXAPI_LOG__LEVEL", "trace"),
            ("CODEXAPI_LOG__FORMAT", "json"),
            ("CODEXAPI_GATEWAY__MAX_BODY_BYTES", "1000000"),
        ],
    );
    let key = common::user_with_key(&server, "dev@example.test");
    let canary = format!("CANARY{}z{}", std::process::id(), now_ms() % 1_000_000_007);

    // The pages: passwords and codes that must never be kept, where they are typed.
    let anonymous = common::browser(&server);
    let _ = anonymous
        .post(server.url("/login"))
        .form(&[("email", "dev@example.test"), ("password", canary.as_str())])
        .send()
        .unwrap();
    let _ = anonymous
        .post(server.url("/signup"))
        .form(&[
            ("name", "New"),
            ("email", "new@example.test"),
            ("password", canary.as_str()),
        ])
        .send()
        .unwrap();
    let _ = anonymous
        .get(server.url(&format!("/no/such/{canary}?q={canary}")))
        .send()
        .unwrap();
    let _ = anonymous
        .get(server.url(&format!("/dashboard/billing/receipts/{canary}")))
        .send()
        .unwrap();
    let _ = anonymous
        .post(server.url("/csp-report"))
        .header("content-type", "application/csp-report")
        .body(json!({"csp-report": {"blocked-uri": format!("https://evil.test/{canary}"), "effective-directive": canary}}).to_string())
        .send()
        .unwrap();
    let http = common::signed_in(&server, "dev@example.test");
    let page = common::text(http.get(server.url("/dashboard/security")).send().unwrap());
    let token = common::csrf(&page);
    for (path, form) in [
        (
            "/dashboard/security/password",
            vec![("current", canary.as_str()), ("password", canary.as_str())],
        ),
        (
            "/dashboard/security/2fa/disable",
            vec![("password", canary.as_str())],
        ),
        (
            "/dashboard/privacy/delete",
            vec![("password", canary.as_str()), ("code", canary.as_str())],
        ),
        ("/dashboard/billing/redeem", vec![("code", canary.as_str())]),
    ] {
        let mut form = form;
        form.push(("csrf", token.as_str()));
        let res = http.post(server.url(path)).form(&form).send().unwrap();
        assert!(
            res.status().is_client_error() || res.status().is_redirection(),
            "{path}: {}",
            res.status()
        );
    }

    // The API under faults.
    let api = common::client();
    let ask = |model: &str, stream: bool| {
        api.post(server.url("/v1/chat/completions"))
            .bearer_auth(&key)
            .json(&json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": canary}]}))
            .send()
            .unwrap()
            .text()
            .unwrap_or_default()
    };
    for stream in [false, true] {
        ask("echo-error", stream);
        ask("drop", stream);
    }
    let oversized = api
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(format!(
            "{{\"model\": \"chat-model\", \"messages\": [{{\"role\": \"user\", \"content\": \"{}\"}}]}}",
            canary.repeat(2_000_000 / canary.len())
        ))
        .send();
    if let Ok(res) = oversized {
        assert_eq!(res.status(), 413);
    }
    {
        use std::io::{BufRead, Write};
        let body = json!({"model": "long", "stream": true, "messages": [{"role": "user", "content": canary}]}).to_string();
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        write!(
            socket,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(socket.try_clone().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(first.contains("200"), "{first}");
        drop(socket);
        std::thread::sleep(Duration::from_millis(300));
    }

    // The exports and a backup.
    let mut exports = Vec::new();
    for path in [
        "/dashboard/privacy/export",
        "/dashboard/privacy/data",
        "/dashboard/usage.csv",
        "/dashboard/billing/transactions.csv",
        "/dashboard/usage",
        "/dashboard/security",
    ] {
        let res = http.get(server.url(path)).send().unwrap();
        assert_eq!(res.status(), 200, "{path}");
        exports.push((path, res.text().unwrap()));
    }
    for (path, text) in &exports {
        assert!(!text.contains(&canary), "the canary is in {path}");
    }
    let backup = server.dir.path().join("copy.db");
    let config = server.config_path();
    let (status, _, stderr) = common::run(
        server.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "backup",
            backup.to_str().unwrap(),
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");

    let dir = server.dir.path().to_path_buf();
    let log = server.stop_keeping_files();
    assert!(
        log.contains("TRACE") || log.contains("DEBUG"),
        "logging ran at trace level"
    );
    for line in log.lines() {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "target"] {
            assert!(event[field].is_string(), "no {field} in {line}");
        }
    }
    let leaks: Vec<&str> = log.lines().filter(|l| l.contains(&canary)).collect();
    assert!(
        leaks.is_empty(),
        "the canary is in the log:\n{}",
        leaks.join("\n")
    );
    let mut files = vec![backup];
    let mut pending = vec![dir.join("data"), tmp.path().to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, &canary),
            "the canary is in {}",
            file.display()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// For a request that reaches the operator by mail: `codexapi user export` prints what the
/// owner's download holds, and `codexapi user erase --yes` erases as the dashboard does (without
/// `--yes` nothing changes), beside a running server that then refuses the account's key.
#[test]
fn the_operator_exports_and_erases_an_account_from_the_command_line() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let key = common::user_with_key(&server, "asked@example.test");
    let config = server.config_path();
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", config.to_str().unwrap()];
        all.extend(args);
        common::run(server.dir.path(), &all, &[])
    };
    let (status, stdout, stderr) = cli(&["user", "export", "--email", "asked@example.test"]);
    assert!(status.success(), "{stderr}");
    let export: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        export["tables"]["users"]["rows"][0]["email"],
        "asked@example.test"
    );
    assert_eq!(
        export["tables"]["ledger"]["rows"].as_array().unwrap().len(),
        1
    );

    let (status, _, stderr) = cli(&["user", "erase", "--email", "asked@example.test"]);
    assert_eq!(status.code(), Some(65), "{stderr}");
    assert!(stderr.contains("--yes"), "{stderr}");
    let chat = || chat_status(&server, &key);
    assert_eq!(chat(), 200, "nothing changed without --yes");

    let (status, _, stderr) = cli(&["user", "erase", "--email", "asked@example.test", "--yes"]);
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("ledger rows"), "{stderr}");
    let erased = std::time::Instant::now();
    while chat() != 401 {
        assert!(
            erased.elapsed() < Duration::from_secs(1),
            "the key still works"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let conn = open(&server);
    let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM users"), 0);
    assert_eq!(
        count("SELECT count(*) FROM ledger WHERE user_id IS NULL"),
        2
    );
    assert_eq!(
        count("SELECT count(*) FROM audit_log WHERE action = 'account_erased' AND actor = 'cli'"),
        1
    );
    // The running server's sender picks the confirmation up at its next look at the outbox
    // (within 5 s) and, once it is delivered, its row goes.
    while count("SELECT count(*) FROM email_outbox WHERE to_addr = 'asked@example.test'") > 0 {
        assert!(
            erased.elapsed() < Duration::from_secs(15),
            "the confirmation stays queued"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(conn);
    let (bytes, log) = stop_and_read(server);
    assert!(
        log.contains("Your account has been deleted"),
        "the mail went to the log"
    );
    assert!(
        !contains(&bytes, "asked@example.test"),
        "the address is still in the file"
    );
}
