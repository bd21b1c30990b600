//! The site in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by
//! playwright-core from tests/e2e/flow.mjs signs up, confirms by the mailed link, signs in,
//! creates an API key that is shown once, revokes it, tops up through a fake Stripe payment page
//! and signs out; then, after this side made API requests, reads the usage page with its charts
//! and request log, and measures every dashboard page at a laptop's and a phone's width (the
//! `layout` phase: nothing wider than the window, no table cell cut off; it takes any list of
//! paths). Against the real binary, a real SMTP server, a fake Stripe and a fake model
//! provider. The browser runs in phases because only this side reads the mailbox and calls the
//! API. A page that breaks the site's Content Security Policy fails the test.
//! A screenshot of every step lands in target/e2e-screenshots/.
//!
//! Needs node, Chromium and tests/e2e/node_modules: `scripts/test` installs them.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use common::Server;
use common::e2e::{require_tooling, run_phase, screenshot_dir};
use common::smtp::SmtpServer;
use common::stripe::FakeStripe;
use common::upstream::FakeUpstream;
use rusqlite::Connection;
use sha2::{Digest, Sha256};

const PASSWORD: &str = "violet-harbor-tunes-92";
const EMAIL: &str = "ada@example.test";
const MAIL_WAIT: Duration = Duration::from_secs(15);
/// The pages the layout phase measures (it takes any list of paths, in `PAGES`).
const DASHBOARD_PAGES: &[&str] = &[
    "/dashboard",
    "/dashboard/keys",
    "/dashboard/setup",
    "/dashboard/usage",
    "/dashboard/billing",
    "/dashboard/profile",
    "/dashboard/security",
    "/dashboard/privacy",
];

/// Runs one phase of flow.mjs; returns its stdout, panics with its output if it fails.
fn run_flow(phase: &str, env: &[(&str, &str)]) -> String {
    run_phase("flow.mjs", phase, env)
}

/// The first link in `text` that starts with `prefix`.
fn link_in(text: &str, prefix: &str) -> String {
    let start = text
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"));
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<' || c == '>')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_new_user_signs_up_creates_and_revokes_a_key_in_a_real_browser() {
    require_tooling();
    let shots = screenshot_dir("e2e-screenshots");
    eprintln!("[browser] screenshots: {}", shots.display());

    let smtp = SmtpServer::start();
    let stripe = FakeStripe::start();
    let upstream = FakeUpstream::start();
    let server = Server::start(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Test Gateway <noreply@gateway.test>\"\nretry_secs = 1\n\n\
         [stripe]\nsecret_key = \"{}\"\nwebhook_secret = \"{}\"\napi_base = \"{}\"\n\n\
         [[providers]]\nname = \"fake\"\nkind = \"openai_compatible\"\nbase_url = \"{}\"\napi_key = \"upstream-secret\"\n\n\
         [[models]]\nid = \"m-fast\"\nroutes = [{{ provider = \"fake\", model = \"upstream-chat\" }}]\n\
         price = {{ input = 1000, output = 2000 }}\n",
        smtp.port, stripe.secret_key, stripe.webhook_secret, stripe.base, upstream.base
    ));
    stripe.set_webhook_url(&server.url("/stripe/webhook"));
    let shots_str = shots.to_str().expect("utf-8 path");
    let env = [
        ("BASE_URL", server.base.as_str()),
        ("EMAIL", EMAIL),
        ("PASSWORD", PASSWORD),
        ("SHOTS", shots_str),
    ];

    run_flow("signup", &env);

    let mail = smtp.wait_for_mail(EMAIL, MAIL_WAIT);
    let link = link_in(&mail.text, &format!("{}/verify?token=", server.base));

    let mut env = env.to_vec();
    env.push(("LINK", link.as_str()));
    let stdout = run_flow("rest", &env);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KEY="))
        .unwrap_or_else(|| panic!("the browser printed no KEY= line:\n{stdout}"))
        .trim()
        .to_owned();
    assert!(key.starts_with("sk-cx-") && key.len() == 49, "{key:?}");

    let db = Connection::open(server.db_path()).unwrap();
    let (name, hash, revoked): (String, Vec<u8>, Option<i64>) = db
        .query_row("SELECT name, key_hash, revoked_at FROM api_keys", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(name, "laptop");
    assert_eq!(
        hash,
        Sha256::digest(key.as_bytes()).to_vec(),
        "the key the browser saw is the one whose hash is stored"
    );
    assert!(revoked.is_some(), "revoked_at is set");
    let verified: Option<i64> = db
        .query_row("SELECT email_verified_at FROM users", [], |r| r.get(0))
        .unwrap();
    assert!(verified.is_some(), "the mailed link confirmed the address");
    let sessions: i64 = db
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(sessions, 0, "signing out ended the browser's session");

    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    assert!(pngs >= 16, "expected a screenshot per step, found {pngs}");
    let balance: i64 = db
        .query_row("SELECT balance FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        balance, 25_000_000,
        "the top-up paid in the browser was credited once"
    );

    // Spend some of it through the API, then read the usage page in the browser.
    let config = server.config_path();
    let (status, key, stderr) = common::run(
        server.config_path().parent().unwrap(),
        &[
            "--config",
            config.to_str().unwrap(),
            "key",
            "create",
            "--user",
            EMAIL,
            "--name",
            "script",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    const REQUESTS: usize = 3;
    for _ in 0..REQUESTS {
        let res = common::client()
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(key.trim())
            .json(&serde_json::json!({"model": "m-fast", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let requests = REQUESTS.to_string();
    env.push(("REQUESTS", requests.as_str()));
    run_flow("usage", &env);

    let pngs = std::fs::read_dir(&shots)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "png"))
        .count();
    eprintln!("[browser] {pngs} screenshots in {}", shots.display());

    // A request for a model this server does not have: refused, listed in the log, but no
    // model of the charts or the filter.
    let res = common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);

    // Every dashboard page, at a laptop's and a phone's width: nothing wider than the window,
    // no table cell cut off.
    let pages = DASHBOARD_PAGES.join(",");
    let mut layout_env = env.clone();
    layout_env.push(("PAGES", pages.as_str()));
    run_flow("layout", &layout_env);

    // Download the data, restrict processing, delete the account: afterwards the key is
    // refused and the address is in no byte of the database.
    run_flow("privacy", &env);
    let deleted = Instant::now();
    loop {
        let status = common::client()
            .post(server.url("/v1/chat/completions"))
            .bearer_auth(key.trim())
            .json(&serde_json::json!({"model": "m-fast", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .unwrap()
            .status();
        if status == 401 {
            break;
        }
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "the deleted account's key still gets {status}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let count = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(count("SELECT count(*) FROM users"), 0);
    // The confirmation is delivered, and its row goes with it.
    let mails_to_the_address =
        format!("SELECT count(*) FROM email_outbox WHERE to_addr = '{EMAIL}'");
    while count(&mails_to_the_address) > 0 {
        assert!(
            deleted.elapsed() < Duration::from_secs(20),
            "the confirmation mail was not delivered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(db);
    let dir = server.dir.path().to_path_buf();
    server.stop_keeping_files();
    let file = dir.join("data/codexapi.db");
    let mut bytes = std::fs::read(&file).unwrap();
    if let Ok(more) = std::fs::read(file.with_extension("db-wal")) {
        bytes.extend(more);
    }
    assert!(
        !bytes.windows(EMAIL.len()).any(|w| w == EMAIL.as_bytes()),
        "the deleted account's address is still in the database file"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
