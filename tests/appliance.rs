//! The appliance: zero-config start, pages, headers, config errors, database versions, backup,
//! graceful shutdown, TLS and trusted proxies — all against the real binary on loopback.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Server, client, command, free_port, run};

const PRICED: &str = r#"
[site]
name = "Acme Gateway"
contact_email = "privacy@acme.test"

[policy]
effective_date = "2026-10-01"

[billing]
currency = "USD"

[[models]]
id = "gpt-test"
display_name = "GPT Test"
description = "A model for tests"
price = { input = "1.25", cached_input = 0.125, output = "10" }
"#;

#[test]
fn zero_config_start_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path());
    // No config file at all; only the port is moved off 8080 so tests can run side by side.
    cmd.arg("serve")
        .env("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0");
    let server = Server::spawn(cmd, dir);
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "{}",
        server.base
    );

    let db = server.dir.path().join("data/codexapi.db");
    assert!(db.exists(), "database file created");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, codexapi::db::LATEST_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    let http = client();
    for path in [
        "/", "/pricing", "/docs", "/privacy", "/terms", "/contact", "/healthz", "/readyz",
    ] {
        let res = http.get(server.url(path)).send().unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let log = server.stop();
    assert!(log.contains("listening on http://127.0.0.1:"), "{log}");
    assert!(
        log.contains("billing: prepaid wallets in USD; no [stripe], so credit comes from"),
        "the log says where credit comes from: {log}"
    );
}

#[test]
fn log_lines_wait_briefly_and_a_warning_or_the_stop_writes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, PRICED).unwrap();
    let mut cmd = command(dir.path());
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .env("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0")
        .env("CODEXAPI_LOG__FLUSH_MS", "1000");
    let server = Server::spawn(cmd, dir);
    let http = client();
    let health = |n: usize| {
        for _ in 0..n {
            assert_eq!(
                http.get(server.url("/healthz")).send().unwrap().status(),
                200
            );
        }
    };
    let access_lines = |log: &str| log.matches("GET /healthz 200").count();

    // Without anything else, the lines come out within the delay.
    health(20);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while access_lines(&server.log()) < 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(access_lines(&server.log()), 20, "{}", server.log());

    // An error is written at once, with the lines waiting before it.
    health(20);
    std::fs::write(&config, "[server\n").unwrap();
    server.signal("HUP");
    assert!(
        server.wait_for_log("configuration not reloaded", Duration::from_secs(20)),
        "{}",
        server.log()
    );
    let log = server.log();
    let error_at = log.find("configuration not reloaded").unwrap();
    assert_eq!(access_lines(&log[..error_at]), 40, "{log}");
    std::fs::write(&config, PRICED).unwrap();

    // The stop writes whatever still waits; no line is cut or mixed with another.
    health(5);
    let log = server.stop();
    assert_eq!(access_lines(&log), 45, "{log}");
    for line in log.lines() {
        assert!(line.starts_with("20") && line.contains("Z "), "{line:?}");
    }
}

#[test]
fn pages_show_what_the_config_says() {
    let server = Server::start(PRICED);
    let http = client();
    let get = |path: &str| {
        let res = http.get(server.url(path)).send().unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        res.text().unwrap()
    };

    let home = get("/");
    assert!(home.contains("Acme Gateway"));
    assert!(
        home.contains("never stored"),
        "the landing page states the promise"
    );

    let pricing = get("/pricing");
    assert!(pricing.contains("GPT Test") && pricing.contains("gpt-test"));
    for price in ["$1.25", "$0.125", "$10.00"] {
        assert!(pricing.contains(price), "pricing shows {price}");
    }

    let docs = get("/docs").replace("&#34;", "\"").replace("&quot;", "\"");
    let codex_base = format!("base_url = \"{}/v1\"", server.base);
    assert!(docs.contains(&codex_base), "docs use the public URL");
    assert!(docs.contains("wire_api = \"responses\""));
    assert!(docs.contains("ANTHROPIC_BASE_URL"));

    let privacy = get("/privacy");
    assert!(
        privacy.contains("2026-10-01"),
        "policy shows the configured date"
    );
    assert!(
        privacy.contains("privacy@acme.test"),
        "policy shows the configured email"
    );
    assert!(privacy.contains("Argon2id"));
    assert!(!privacy.contains("{{"), "every placeholder is filled");

    let terms = get("/terms");
    assert!(terms.contains("2026-10-01"));
    assert!(!terms.contains("{{"));

    assert!(get("/contact").contains("privacy@acme.test"));

    let missing = http.get(server.url("/no/such/page")).send().unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.text().unwrap().contains("Acme Gateway"),
        "404 is a site page"
    );
}

#[test]
fn operator_policy_file_replaces_the_built_in_one() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.md");
    std::fs::write(
        &policy,
        "## Our own words\n\nContact {{contact_email}} since {{effective_date}}.\n",
    )
    .unwrap();
    let config = format!(
        "{PRICED}\n[policy]\neffective_date = \"2026-09-09\"\nprivacy_path = {:?}\n",
        policy.to_str().unwrap()
    )
    .replace("[policy]\neffective_date = \"2026-10-01\"\n", "");
    let server = Server::start(&config);
    let body = client()
        .get(server.url("/privacy"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(body.contains("Our own words"));
    assert!(body.contains("Contact privacy@acme.test since 2026-09-09."));
}

#[test]
fn every_response_carries_security_headers_and_a_request_id() {
    let server = Server::start("");
    let http = client();
    for path in ["/", "/no/such/page", "/healthz"] {
        let res = http.get(server.url(path)).send().unwrap();
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert!(h.contains_key("referrer-policy"));
        assert_eq!(h["x-request-id"].len(), 24);
        assert!(
            !h.contains_key("strict-transport-security"),
            "no HSTS over plain HTTP"
        );
    }
    let a = http.get(server.url("/")).send().unwrap();
    let b = http.get(server.url("/")).send().unwrap();
    assert_ne!(a.headers()["x-request-id"], b.headers()["x-request-id"]);
}

#[test]
fn pages_use_no_inline_script_or_style_and_no_third_party_hosts() {
    let server = Server::start(PRICED);
    let http = client();
    for path in [
        "/", "/pricing", "/docs", "/privacy", "/terms", "/contact", "/nope",
    ] {
        let html = http.get(server.url(path)).send().unwrap().text().unwrap();
        assert!(!html.contains(" style=\""), "{path} has an inline style");
        assert!(!html.contains("<style"), "{path} has a style block");
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').unwrap()];
            assert!(
                tag.contains("src=\"/assets/"),
                "{path}: inline or foreign script {tag}"
            );
        }
        for attr in ["src=\"http", "href=\"//", "src=\"//"] {
            assert!(
                !html.contains(attr),
                "{path} loads from another host ({attr})"
            );
        }
    }
}

#[test]
fn assets_are_cached_by_content_hash() {
    let server = Server::start("");
    let http = client();
    let home = http.get(server.url("/")).send().unwrap().text().unwrap();
    let start = home.find("/assets/app.css?v=").expect("versioned css link");
    let href = &home[start..start + home[start..].find('"').unwrap()];

    let res = http.get(server.url(href)).send().unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let etag = res.headers()["etag"].clone();

    let again = http
        .get(server.url("/assets/app.css"))
        .header("if-none-match", etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["cache-control"], "public, no-cache");

    assert_eq!(
        http.get(server.url("/assets/nope.css"))
            .send()
            .unwrap()
            .status(),
        404
    );
}

#[test]
fn oversized_bodies_get_413() {
    let server = Server::start("[server]\nmax_body_bytes = 1024\n");
    let res = client()
        .post(server.url("/"))
        .body(vec![b'x'; 4096])
        .send()
        .unwrap();
    assert_eq!(res.status(), 413);
    assert!(res.text().unwrap().contains("1024 bytes"));
}

/// Runs `check-config` and `serve` with a bad config; both must fail with one line naming `key`.
fn assert_rejected(config: &str, env: &[(&str, &str)], key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, config).unwrap();
    let path = path.to_str().unwrap();
    for args in [
        vec!["--config", path, "check-config"],
        vec!["--config", path, "serve"],
    ] {
        let (status, stdout, stderr) = run(dir.path(), &args, env);
        assert_eq!(
            status.code(),
            Some(78),
            "EX_CONFIG for {args:?} {config:?}: {stdout} {stderr}"
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        assert!(lines[0].starts_with("config error: "), "{stderr}");
        assert!(lines[0].contains(key), "{key} named in: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
    assert!(
        !dir.path().join("data").exists(),
        "a rejected config creates nothing"
    );
}

#[test]
fn bad_config_stops_the_start_with_one_line() {
    assert_rejected("[server]\nlisen = \"127.0.0.1:1\"\n", &[], "server.lisen");
    assert_rejected(
        "[server]\nlisten = \"not an address\"\n",
        &[],
        "server.listen",
    );
    assert_rejected(
        "[server]\npublic_url = \"gateway.example.com\"\n",
        &[],
        "server.public_url",
    );
    assert_rejected("[server.tls]\ncert = \"cert.pem\"\n", &[], "server.tls.key");
    assert_rejected(
        "[server.tls]\ncert = \"missing.pem\"\nkey = \"missing.pem\"\n",
        &[],
        "server.tls.cert",
    );
    assert_rejected(
        "[policy]\neffective_date = \"1st of May\"\n",
        &[],
        "policy.effective_date",
    );
    assert_rejected(
        "[site]\ncontact_email = \"nobody\"\n",
        &[],
        "site.contact_email",
    );
    assert_rejected("[database]\npool_size = -1\n", &[], "database.pool_size");
    assert_rejected("[log]\nlevel = \"loud\"\n", &[], "log.level");
    assert_rejected(
        "[gateway]\nbreaker_cooldown_secs = 100000000000\n",
        &[],
        "gateway.breaker_cooldown_secs",
    );
    assert_rejected(
        "[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\nidle_timeout_secs = 99999999\n",
        &[],
        "providers[0].idle_timeout_secs",
    );
    assert_rejected("[server\n", &[], "config.toml");
    assert_rejected(
        "",
        &[("CODEXAPI_SERVER__WORKERS", "lots")],
        "CODEXAPI_SERVER__WORKERS",
    );
    assert_rejected("", &[("CODEXAPI_SERVR__LISTEN", "127.0.0.1:1")], "servr");
}

#[test]
fn check_config_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, PRICED).unwrap();
    let (status, stdout, stderr) = run(
        dir.path(),
        &["--config", path.to_str().unwrap(), "check-config"],
        &[],
    );
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("config ok"));

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let (status, _, stderr) = run(dir.path(), &["--config", example, "check-config"], &[]);
    assert!(
        status.success(),
        "config.example.toml must be valid: {stderr}"
    );
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stdout, _) = run(dir.path(), &["migrate"], &[]);
    assert!(status.success());
    assert!(
        stdout.contains("migrated from schema version 0"),
        "{stdout}"
    );
    let (status, stdout, _) = run(dir.path(), &["migrate"], &[]);
    assert!(
        status.success() && stdout.contains("nothing to do"),
        "{stdout}"
    );

    let db = dir.path().join("data/codexapi.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.pragma_update(None, "user_version", 999).unwrap();
    drop(conn);

    for args in [&["migrate"][..], &["serve"][..]] {
        let (status, _, stderr) = run(
            dir.path(),
            args,
            &[("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0")],
        );
        assert_eq!(status.code(), Some(65), "EX_DATAERR for {args:?}");
        assert!(
            stderr.contains("schema version 999, newer than this program knows"),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"));
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 999, "the newer file is left untouched");
}

#[test]
fn check_db_lists_a_balance_its_ledger_does_not_explain() {
    let dir = tempfile::tempdir().unwrap();
    let mut admin = command(dir.path())
        .args([
            "admin",
            "create",
            "--email",
            "owner@example.test",
            "--name",
            "Owner",
        ])
        .arg("--password-stdin")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    admin
        .stdin
        .take()
        .unwrap()
        .write_all(b"a long enough passphrase\n")
        .unwrap();
    let out = admin.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, stdout, stderr) = run(dir.path(), &["check-db"], &[]);
    assert!(status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("database ok: 1 accounts"), "{stdout}");

    let conn = rusqlite::Connection::open(dir.path().join("data/codexapi.db")).unwrap();
    conn.execute("UPDATE users SET balance = balance + 7", [])
        .unwrap();
    drop(conn);
    let (status, stdout, stderr) = run(dir.path(), &["check-db"], &[]);
    assert_eq!(status.code(), Some(65), "EX_DATAERR: {stdout}{stderr}");
    assert!(
        stdout.contains("(owner@example.test): balance 7 but its ledger sums to 0"),
        "{stdout}"
    );
    assert!(stderr.contains("error: 1 problem(s) found"), "{stderr}");
}

#[test]
fn a_file_of_another_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("data/codexapi.db")).unwrap();
    conn.execute_batch("CREATE TABLE notes (body TEXT)")
        .unwrap();
    drop(conn);
    let (status, _, stderr) = run(dir.path(), &["migrate"], &[]);
    assert_eq!(status.code(), Some(65), "EX_DATAERR");
    assert!(stderr.contains("is not a CodexAPI database"), "{stderr}");

    std::fs::write(
        dir.path().join("data/codexapi.db"),
        b"this is not sqlite at all, just text....",
    )
    .unwrap();
    let (status, _, stderr) = run(dir.path(), &["migrate"], &[]);
    assert_eq!(status.code(), Some(65), "EX_DATAERR");
    assert!(stderr.contains("is not a CodexAPI database"), "{stderr}");
}

#[test]
fn backup_while_serving_writes_a_file_that_opens() {
    let server = Server::start("");
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES ('marker', 'kept', 1)",
        [],
    )
    .unwrap();
    drop(conn);

    let backup = server.dir.path().join("copy.db");
    let config = server.config_path();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "backup",
        backup.to_str().unwrap(),
    ];
    let (status, stdout, stderr) = run(server.dir.path(), &args, &[]);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("wrote"));
    // The server is still serving.
    assert_eq!(
        client().get(server.url("/readyz")).send().unwrap().status(),
        200
    );

    let copy = rusqlite::Connection::open(&backup).unwrap();
    let value: String = copy
        .query_row("SELECT value FROM settings WHERE key = 'marker'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(value, "kept");
    let version: u32 = copy
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, codexapi::db::LATEST_VERSION);
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    assert!(
        !server.dir.path().join("copy.db-wal").exists(),
        "the copy is one file"
    );

    let (status, _, stderr) = run(server.dir.path(), &args, &[]);
    assert_eq!(
        status.code(),
        Some(73),
        "EX_CANTCREAT: an existing file is never overwritten"
    );
    assert!(stderr.contains("already exists"), "{stderr}");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut server = Server::start("[server]\nshutdown_timeout_secs = 20\n");
    let addr = format!("127.0.0.1:{}", server.port());
    let report = br#"{"csp-report":{"effective-directive":"script-src-elem","blocked-uri":"https://evil.test/x.js"}}"#;
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The whole head and half the body: the handler is now running, waiting for the rest.
    write!(
        slow,
        "POST /csp-report HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/csp-report\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        report.len()
    )
    .unwrap();
    slow.write_all(&report[..20]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    server.terminate();
    assert!(server.wait_for_log("stop signal received", Duration::from_secs(10)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(&addr).is_err(),
        "no new connections after SIGTERM"
    );

    slow.write_all(&report[20..]).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");

    let status = server.wait(Duration::from_secs(20));
    assert!(status.success());
    let log = server.log();
    assert!(
        log.contains("content security policy blocked https://evil.test (script-src-elem)"),
        "{log}"
    );
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn tls_serves_with_hsts_and_the_plain_listener_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();

    let https_port = free_port();
    let redirect_port = free_port();
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{https_port}\"\npublic_url = \"https://localhost:{https_port}\"\n\
         [server.tls]\ncert = {cert:?}\nkey = {key:?}\nredirect_http_listen = \"127.0.0.1:{redirect_port}\"\n",
        cert = cert_path.to_str().unwrap(),
        key = key_path.to_str().unwrap(),
    );
    let server = Server::start(&config);
    assert!(server.base.starts_with("https://"), "{}", server.base);

    let _ = rustls::crypto::ring::default_provider().install_default();
    let https = reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .resolve(
            "localhost",
            format!("127.0.0.1:{https_port}").parse().unwrap(),
        )
        .build()
        .unwrap();
    let res = https
        .get(format!("https://localhost:{https_port}/healthz"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    let res = client()
        .get(format!("http://127.0.0.1:{redirect_port}/pricing?x=1"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.headers()["location"],
        format!("https://localhost:{https_port}/pricing?x=1").as_str()
    );
}

fn logged_ip_for(server: &Server, headers: &[(&str, &str)]) -> (String, bool) {
    let mut req = client().get(server.url("/healthz"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().unwrap();
    let hsts = res.headers().contains_key("strict-transport-security");
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    let needle = format!("id={id}");
    assert!(server.wait_for_log(&needle, Duration::from_secs(5)));
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains(&needle))
        .unwrap()
        .to_owned();
    assert!(line.contains("GET /healthz 200"), "{line}");
    let ip = line
        .split("ip=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (ip, hsts)
}

#[test]
fn forwarded_headers_count_only_from_trusted_proxies() {
    let forwarded = [
        ("x-forwarded-for", "6.6.6.6, 203.0.113.9"),
        ("x-forwarded-proto", "https"),
    ];

    let untrusted = Server::start("");
    assert_eq!(
        logged_ip_for(&untrusted, &forwarded),
        ("127.0.0.1".to_owned(), false)
    );

    let trusted = Server::start("[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n");
    assert_eq!(
        logged_ip_for(&trusted, &forwarded),
        ("203.0.113.9".to_owned(), true)
    );
    assert_eq!(
        logged_ip_for(&trusted, &[]),
        ("127.0.0.1".to_owned(), false)
    );
}

#[test]
fn access_log_holds_no_query_strings() {
    let server = Server::start("");
    let res = client()
        .get(server.url("/docs?token=SECRET-QUERY-VALUE"))
        .send()
        .unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(server.wait_for_log(&id, Duration::from_secs(5)));
    let log = server.stop();
    assert!(log.contains("GET /docs 200"), "{log}");
    assert!(!log.contains("SECRET-QUERY-VALUE"), "{log}");
}
