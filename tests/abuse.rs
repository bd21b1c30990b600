//! Abuse and fraud, end to end on a real server: each rule triggered by synthetic traffic through
//! the real endpoints (sign-ins, sign-ups, API calls against the fake upstream, refusals of the
//! rate limits; a baseline of past spend seeded in the SQLite file), the flag and its evidence on
//! `/admin/flags`, one flag per rule and subject, resolution with a note and its audit row, mail
//! to the admins, auto-suspension, Stripe's disputes in the same list, and the blocklist on pages
//! and API.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use common::stripe::FakeStripe;
use common::upstream::FakeUpstream;
use common::{PASSWORD, Server, csrf, location, text};
use reqwest::blocking::{Client, Response};
use rusqlite::Connection;
use serde_json::{Value, json};

/// How long a test waits for the detector (it runs every second here).
const WAIT: Duration = Duration::from_secs(15);

fn config(up: &FakeUpstream, abuse: &str) -> String {
    format!(
        r#"
[server]
trusted_proxies = ["127.0.0.1/32"]

[abuse]
scan_every_secs = 1
{abuse}

[[providers]]
name = "compat"
kind = "openai_compatible"
base_url = "{base}"
api_key = "upstream-secret"

[[providers]]
name = "anthropic"
kind = "anthropic"
base_url = "{base}"
api_key = "upstream-secret"

[[models]]
id = "cheap"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "1000", output = "2000" }}

[[models]]
id = "cheap-claude"
routes = [{{ provider = "anthropic" }}]
price = {{ input = "1000", output = "2000" }}

[[models]]
id = "pricey"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "100000", output = "100000" }}
"#,
        base = up.base
    )
}

fn db(server: &Server) -> Connection {
    Connection::open(server.db_path()).unwrap()
}

fn one(server: &Server, sql: &str, arg: &str) -> i64 {
    db(server).query_row(sql, [arg], |r| r.get(0)).unwrap()
}

fn user_id(server: &Server, email: &str) -> String {
    db(server)
        .query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .unwrap()
}

/// A browser whose requests come, through the trusted proxy, from `ip`.
fn browser_from(server: &Server, ip: &str) -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("origin", server.base.parse().unwrap());
    headers.insert("x-forwarded-for", ip.parse().unwrap());
    Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn sign_in(http: &Client, server: &Server, email: &str, password: &str) -> Response {
    http.post(server.url("/login"))
        .form(&[
            ("email", email),
            ("password", password),
            ("next", "/dashboard"),
        ])
        .send()
        .unwrap()
}

fn chat(server: &Server, key: &str, model: &str, ip: &str) -> Response {
    common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .header("x-forwarded-for", ip)
        .json(&json!({"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "the secret plan"}]}))
        .send()
        .unwrap()
}

/// A stored flag: (id, user_id, reference, detail, evidence, action).
type Stored = (
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

/// The open flags of a rule.
fn open_flags(server: &Server, kind: &str) -> Vec<Stored> {
    let conn = db(server);
    let mut stmt = conn
        .prepare(
            "SELECT id, user_id, reference, detail, evidence, action FROM flags
             WHERE kind = ?1 AND resolved_at IS NULL ORDER BY id",
        )
        .unwrap();
    stmt.query_map([kind], |r| {
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
}

/// Waits until `done` holds, for at most [`WAIT`].
fn wait_until(what: &str, server: &Server, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not happen; log:\n{}", server.log());
}

/// Waits for the rule's one open flag, handled (mailed, acted on), and returns it.
fn flag_of(server: &Server, kind: &str) -> Stored {
    wait_until(&format!("a {kind} flag"), server, || {
        one(
            server,
            "SELECT count(*) FROM flags WHERE kind = ?1 AND handled_at IS NOT NULL",
            kind,
        ) > 0
    });
    let mut open = open_flags(server, kind);
    assert_eq!(open.len(), 1, "{open:?}");
    open.remove(0)
}

fn flags_page(admin: &Client, server: &Server) -> String {
    let res = admin.get(server.url("/admin/flags")).send().unwrap();
    assert_eq!(res.status(), 200);
    text(res)
}

fn mails_to(server: &Server, to: &str, subject: &str) -> i64 {
    db(server)
        .query_row(
            "SELECT count(*) FROM email_outbox WHERE to_addr = ?1 AND subject = ?2",
            [to, subject],
            |r| r.get(0),
        )
        .unwrap()
}

#[test]
fn failed_sign_ins_per_network_and_per_account_are_flagged_once_and_resolved_with_a_note() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(
        &up,
        "mail_admins = true\n\
         [abuse.signin_failures_network]\nthreshold = 4\nwindow_mins = 15\n\
         [abuse.signin_failures_account]\nthreshold = 3\nwindow_mins = 15\n",
    ));
    let admin = common::admin(&server, "op@example.test");
    for email in ["ada@example.test", "bob@example.test"] {
        common::user_and_key(&server, email);
    }

    // Guessing from one network: two accounts, two tries each.
    let attacker = browser_from(&server, "203.0.113.7");
    for email in ["ada@example.test", "bob@example.test"] {
        for _ in 0..2 {
            let res = sign_in(&attacker, &server, email, "wrong-password-1");
            assert_eq!(res.status(), 400);
        }
    }
    let (id, user, reference, detail, evidence, _) = flag_of(&server, "signin_failures_network");
    assert_eq!(user, None);
    assert_eq!(reference.as_deref(), Some("203.0.113.0/24"));
    assert!(detail.contains("4 failed sign-ins"), "{detail}");
    let evidence: Vec<(String, String)> = serde_json::from_str(&evidence.unwrap()).unwrap();
    assert!(
        evidence.contains(&("accounts".to_owned(), "2".to_owned())),
        "{evidence:?}"
    );
    // Ada's account also had a third failure from elsewhere: the per-account rule.
    let other = browser_from(&server, "198.51.100.20");
    assert_eq!(
        sign_in(&other, &server, "ada@example.test", "wrong-password-2").status(),
        400
    );
    let (account_flag, user, _, detail, evidence, _) = flag_of(&server, "signin_failures_account");
    assert_eq!(user, Some(user_id(&server, "ada@example.test")));
    assert!(detail.contains("3 failed sign-ins"), "{detail}");
    assert!(detail.contains("from 2 networks"), "{detail}");
    let evidence = evidence.unwrap();
    assert!(evidence.contains("203.0.113.0/24") && evidence.contains("198.51.100.0/24"));

    // The page shows both with their evidence, never a whole address.
    let page = flags_page(&admin, &server);
    assert!(page.contains("Failed sign-ins from one network"), "{page}");
    assert!(page.contains("Failed sign-ins on one account"), "{page}");
    assert!(page.contains("203.0.113.0/24"), "{page}");
    assert!(page.contains("ada@example.test"), "{page}");
    assert!(!page.contains("203.0.113.7") && !page.contains("198.51.100.20"));
    assert!(
        !page.contains("Stripe"),
        "no Stripe without [stripe]: {page}"
    );
    assert!(page.contains("/admin/flags?block=203.0.113.0/24"), "{page}");
    // Each admin was mailed once per flag.
    assert_eq!(
        mails_to(
            &server,
            "op@example.test",
            "Flag: Failed sign-ins from one network"
        ),
        1
    );

    // More failures later: still one open flag, with the evidence brought up to date.
    for _ in 0..2 {
        sign_in(&attacker, &server, "bob@example.test", "wrong-password-3");
    }
    wait_until("updated evidence", &server, || {
        open_flags(&server, "signin_failures_network")[0]
            .3
            .contains("6 failed sign-ins")
    });
    assert_eq!(open_flags(&server, "signin_failures_network").len(), 1);
    assert_eq!(
        mails_to(
            &server,
            "op@example.test",
            "Flag: Failed sign-ins from one network"
        ),
        1
    );

    // Resolving: a note is needed, a forged form is refused, neither changes anything.
    let token = csrf(&page);
    let resolve = |form: &[(&str, &str)]| {
        admin
            .post(server.url(&format!("/admin/flags/{id}/resolve")))
            .form(form)
            .send()
            .unwrap()
    };
    let res = resolve(&[("csrf", &token), ("note", "  ")]);
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("Say how the flag was resolved."));
    assert_eq!(
        resolve(&[("csrf", "forged"), ("note", "fine")]).status(),
        403
    );
    assert_eq!(open_flags(&server, "signin_failures_network").len(), 1);
    let res = resolve(&[("csrf", &token), ("note", "Blocked the scanner's network")]);
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/flags?done=resolved");
    assert!(open_flags(&server, "signin_failures_network").is_empty());
    let (actor, target, detail): (String, String, String) = db(&server)
        .query_row(
            "SELECT actor, target, detail FROM audit_log WHERE action = 'flag.resolve'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(actor, user_id(&server, "op@example.test"));
    assert_eq!(target, id.to_string());
    assert!(detail.contains("Blocked the scanner's network"), "{detail}");
    // Resolved twice: refused, and the first note stays.
    assert_eq!(
        resolve(&[("csrf", &token), ("note", "again")]).status(),
        400
    );
    let page = flags_page(&admin, &server);
    let resolved = &page[page.find("Resolved in the last 30 days").unwrap()..];
    assert!(
        resolved.contains("Blocked the scanner's network"),
        "{resolved}"
    );
    // Within its window a resolved flag is not raised again by the same failures.
    std::thread::sleep(Duration::from_secs(2));
    assert!(open_flags(&server, "signin_failures_network").is_empty());
    assert_eq!(
        open_flags(&server, "signin_failures_account")[0].0,
        account_flag
    );

    // Only admins see the console.
    let ada = common::signed_in(&server, "ada@example.test");
    assert_eq!(
        ada.get(server.url("/admin/flags")).send().unwrap().status(),
        404
    );
    let res = ada
        .post(server.url(&format!("/admin/flags/{account_flag}/resolve")))
        .form(&[("csrf", "x"), ("note", "mine")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[test]
fn a_shared_key_is_flagged_and_its_account_suspended_within_a_second() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(
        &up,
        "[abuse.key_networks]\nthreshold = 3\nwindow_mins = 1440\nauto_suspend = true\n",
    ));
    let key = common::user_with_key(&server, "dev@example.test");
    for ip in ["192.0.2.10", "192.0.2.99", "2001:db8:1::5"] {
        assert_eq!(chat(&server, &key, "cheap", ip).status(), 200);
    }
    // Two networks so far (192.0.2.0/24 twice): nothing yet.
    std::thread::sleep(Duration::from_secs(2));
    assert!(open_flags(&server, "key_networks").is_empty());
    assert_eq!(chat(&server, &key, "cheap", "198.51.100.1").status(), 200);

    let (_, user, _, detail, evidence, action) = flag_of(&server, "key_networks");
    assert_eq!(user, Some(user_id(&server, "dev@example.test")));
    assert!(detail.contains("used from 3 networks"), "{detail}");
    let evidence = evidence.unwrap();
    for network in ["192.0.2.0/24", "2001:db8:1::/48", "198.51.100.0/24"] {
        assert!(evidence.contains(network), "{evidence}");
    }
    assert!(!evidence.contains("192.0.2.10") && !evidence.contains("secret plan"));
    assert_eq!(action.as_deref(), Some("account suspended"));
    assert_eq!(
        one(
            &server,
            "SELECT count(*) FROM users WHERE email = ?1 AND status = 'suspended'",
            "dev@example.test"
        ),
        1
    );
    let reason: String = db(&server)
        .query_row(
            "SELECT detail FROM audit_log WHERE action = 'user.status' AND actor = 'system'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reason.contains("key_networks"), "{reason}");
    // The gateway refuses the key once its cache sees the change.
    wait_until("the key refused", &server, || {
        chat(&server, &key, "cheap", "192.0.2.10").status() == 403
    });
}

#[test]
fn rate_limit_hammering_sign_ups_from_one_network_and_a_spend_spike_are_flagged() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(
        &up,
        "[abuse.rate_limited]\nthreshold = 3\nwindow_mins = 10\n\
         [abuse.signups_network]\nthreshold = 3\nwindow_mins = 60\nauto_suspend = true\n\
         [abuse.spend_spike]\nfactor = 5\nbaseline_days = 7\nmin_spend = \"1\"\n",
    ));
    let admin = common::admin(&server, "op@example.test");

    // A key limited to one request a minute, sent five.
    common::user_and_key(&server, "hammer@example.test");
    common::grant(&server, "hammer@example.test", "100");
    let config = server.config_path();
    let (status, key, stderr) = common::run(
        server.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "key",
            "create",
            "--user",
            "hammer@example.test",
            "--name",
            "limited",
            "--requests-per-minute",
            "1",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let key = key.trim();
    let statuses: Vec<u16> = (0..5)
        .map(|_| chat(&server, key, "cheap", "192.0.2.1").status().as_u16())
        .collect();
    assert_eq!(statuses, [200, 429, 429, 429, 429]);
    let (_, user, _, detail, _, action) = flag_of(&server, "rate_limited");
    assert_eq!(user, Some(user_id(&server, "hammer@example.test")));
    assert!(detail.contains("4 requests refused"), "{detail}");
    assert_eq!(action, None, "rate_limited has no auto_suspend here");

    // Three sign-ups from one network, through the sign-up form.
    for (i, ip) in ["203.0.113.5", "203.0.113.6", "203.0.113.7"]
        .iter()
        .enumerate()
    {
        let http = browser_from(&server, ip);
        let res = http
            .post(server.url("/signup"))
            .form(&[
                ("name", "Mass"),
                ("email", &format!("mass{i}@example.test")),
                ("password", PASSWORD),
            ])
            .send()
            .unwrap();
        // The account may be used at once, so the sign-up signs it in.
        assert_eq!(res.status(), 303);
        assert!(location(&res).starts_with("/dashboard"));
    }
    let (_, user, reference, detail, _, action) = flag_of(&server, "signups_network");
    assert_eq!(user, None);
    assert_eq!(reference.as_deref(), Some("203.0.113.0/24"));
    assert!(detail.contains("3 sign-ups"), "{detail}");
    assert_eq!(action.as_deref(), Some("3 accounts suspended"));
    assert_eq!(
        one(
            &server,
            "SELECT count(*) FROM users WHERE email LIKE ?1 AND status = 'suspended'",
            "mass%"
        ),
        3
    );

    // A baseline of small daily spend over the last week (seeded), then a day of expensive calls.
    let spender = common::user_with_key(&server, "spender@example.test");
    let spender_id = user_id(&server, "spender@example.test");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let conn = db(&server);
    for day in 2..=7 {
        conn.execute(
            "INSERT INTO usage (at, user_id, endpoint, status, latency_ms, outcome, cost)
             VALUES (?1, ?2, '/v1/chat/completions', 200, 5, 'completed', 50000)",
            rusqlite::params![now - day * 86_400_000, spender_id],
        )
        .unwrap();
    }
    // A cheap day does not reach the floor.
    assert_eq!(chat(&server, &spender, "cheap", "192.0.2.50").status(), 200);
    std::thread::sleep(Duration::from_secs(2));
    assert!(open_flags(&server, "spend_spike").is_empty());
    while one(
        &server,
        "SELECT coalesce(sum(cost), 0) FROM usage WHERE user_id = ?1 AND at > strftime('%s','now') * 1000 - 86400000",
        &spender_id,
    ) < 1_000_000
    {
        assert_eq!(
            chat(&server, &spender, "pricey", "192.0.2.50").status(),
            200
        );
    }
    let (_, user, _, detail, evidence, _) = flag_of(&server, "spend_spike");
    assert_eq!(user, Some(spender_id));
    assert!(detail.contains("$0.042857"), "the average day: {detail}");
    assert!(evidence.unwrap().contains("more than 5×"));

    let page = flags_page(&admin, &server);
    for label in [
        "Rate-limit hammering",
        "Many sign-ups from one network",
        "Spend far above the account's baseline",
        "3 accounts suspended",
    ] {
        assert!(page.contains(label), "{label}: {page}");
    }
}

#[test]
fn disputes_join_the_flags_are_mailed_and_suspend_when_configured() {
    let fake = FakeStripe::start();
    let server = Server::start(&format!(
        "[stripe]\nsecret_key = \"{}\"\nwebhook_secret = \"{}\"\napi_base = \"{}\"\n\n\
         [abuse]\nscan_every_secs = 1\n[abuse.disputes]\nauto_suspend = true\n",
        fake.secret_key, fake.webhook_secret, fake.base
    ));
    fake.set_webhook_url(&server.url("/stripe/webhook"));
    let admin = common::admin(&server, "op@example.test");
    common::user_with_key(&server, "ada@example.test");
    let ada = common::signed_in(&server, "ada@example.test");
    let page = text(ada.get(server.url("/dashboard/billing")).send().unwrap());
    let res = ada
        .post(server.url("/dashboard/billing/topup"))
        .form(&[("csrf", csrf(&page).as_str()), ("amount", "10")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let url = location(&res);
    let session_id = url.rsplit('/').next().unwrap().to_owned();
    fake.pay(&session_id);
    fake.dispute(&session_id);

    let (_, user, _, _, _, action) = flag_of(&server, "dispute");
    assert_eq!(user, Some(user_id(&server, "ada@example.test")));
    assert_eq!(action.as_deref(), Some("account suspended"));
    assert_eq!(
        mails_to(&server, "op@example.test", "Flag: Payment dispute"),
        1
    );
    let page = flags_page(&admin, &server);
    assert!(page.contains("Payment dispute"), "{page}");
    assert!(page.contains("Stripe"), "Stripe is configured: {page}");
}

#[test]
fn the_blocklist_refuses_pages_and_api_in_their_own_formats_until_it_expires() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, ""));
    let admin = common::admin(&server, "op@example.test");
    let key = common::user_with_key(&server, "dev@example.test");
    let page = flags_page(&admin, &server);
    let token = csrf(&page);
    let block = |form: &[(&str, &str)]| {
        admin
            .post(server.url("/admin/blocklist"))
            .form(form)
            .send()
            .unwrap()
    };

    // Bad input: the form again with the message at its field, and nothing stored.
    for (network, hours, reason, message) in [
        ("not a network", "", "scan", "Give a network such as"),
        ("0.0.0.0/0", "", "scan", "holds every address"),
        ("127.0.0.0/8", "", "scan", "your own address"),
        ("198.51.100.0/24", "0", "scan", "whole number from 1 to"),
        (
            "198.51.100.0/24",
            "",
            " ",
            "Say why the network is blocked.",
        ),
    ] {
        let res = block(&[
            ("csrf", &token),
            ("network", network),
            ("expires_in_hours", hours),
            ("reason", reason),
        ]);
        assert_eq!(res.status(), 400, "{network}");
        let body = text(res);
        assert!(body.contains(message), "{message}: {body}");
        assert!(body.contains("aria-invalid=\"true\""));
    }
    assert_eq!(
        block(&[
            ("csrf", "forged"),
            ("network", "198.51.100.0/24"),
            ("reason", "x")
        ])
        .status(),
        403
    );
    assert_eq!(
        one(&server, "SELECT count(*) FROM blocklist WHERE ?1 = ?1", ""),
        0
    );

    let res = block(&[
        ("csrf", &token),
        ("network", "198.51.100.77/24"),
        ("expires_in_hours", "2"),
        ("reason", "credential stuffing"),
    ]);
    assert_eq!(res.status(), 303);
    let (actor, target): (String, String) = db(&server)
        .query_row(
            "SELECT actor, target FROM audit_log WHERE action = 'blocklist.add'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(actor, user_id(&server, "op@example.test"));
    assert_eq!(target, "198.51.100.0/24");

    // Pages: the site's own refusal page, styled; another network is served as before.
    let blocked = browser_from(&server, "198.51.100.9");
    let res = blocked.get(server.url("/pricing")).send().unwrap();
    assert_eq!(res.status(), 403);
    let body = text(res);
    assert!(
        body.contains("Requests from your network are not accepted"),
        "{body}"
    );
    assert!(body.contains("/assets/"), "the site's own page: {body}");
    assert_eq!(
        sign_in(&blocked, &server, "dev@example.test", PASSWORD).status(),
        403
    );
    let elsewhere = browser_from(&server, "192.0.2.8");
    assert_eq!(
        elsewhere
            .get(server.url("/pricing"))
            .send()
            .unwrap()
            .status(),
        200
    );

    // The API, in each client's format, before the key is looked at.
    let res = chat(&server, &key, "cheap", "198.51.100.9");
    assert_eq!(res.status(), 403);
    let body: Value = res.json().unwrap();
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(body["error"]["code"], "network_blocked");
    let res = common::client()
        .post(server.url("/v1/messages"))
        .header("x-api-key", &key)
        .header("anthropic-version", "2023-06-01")
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"model": "cheap-claude", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 403);
    let body: Value = res.json().unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "permission_error");
    assert_eq!(chat(&server, &key, "cheap", "192.0.2.8").status(), 200);
    assert!(
        up.seen()
            .iter()
            .all(|s| !s.body.to_string().contains("198.51.100"))
    );

    // The page lists the entry; once it has expired it no longer blocks, without a restart.
    let page = flags_page(&admin, &server);
    assert!(page.contains("198.51.100.0/24") && page.contains("credential stuffing"));
    db(&server)
        .execute(
            "UPDATE blocklist SET expires_at = strftime('%s','now') * 1000 - 1000",
            [],
        )
        .unwrap();
    wait_until("the expired entry to stop blocking", &server, || {
        blocked.get(server.url("/pricing")).send().unwrap().status() == 200
    });
    assert_eq!(chat(&server, &key, "cheap", "198.51.100.9").status(), 200);
    assert!(flags_page(&admin, &server).contains("expired"));

    // Removing an entry: audited, and the network is served at once.
    let res = block(&[
        ("csrf", &token),
        ("network", "2001:db8:7::/48"),
        ("expires_in_hours", ""),
        ("reason", "spam sign-ups"),
    ]);
    assert_eq!(res.status(), 303);
    let v6 = browser_from(&server, "2001:db8:7::1");
    assert_eq!(v6.get(server.url("/")).send().unwrap().status(), 403);
    let id: String = db(&server)
        .query_row(
            "SELECT id FROM blocklist WHERE network = '2001:db8:7::/48'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let res = admin
        .post(server.url(&format!("/admin/blocklist/{id}/remove")))
        .form(&[("csrf", &token)])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(v6.get(server.url("/")).send().unwrap().status(), 200);
    assert_eq!(
        one(
            &server,
            "SELECT count(*) FROM audit_log WHERE action = 'blocklist.remove' AND target = ?1",
            "2001:db8:7::/48"
        ),
        1
    );
}

#[test]
fn operators_run_the_rules_from_the_command_line() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up, "").replace(
        "scan_every_secs = 1",
        "scan_every_secs = 86400\nmail_admins = false\n\
         [abuse.signin_failures_account]\nthreshold = 2\nwindow_mins = 15",
    ));
    common::user_and_key(&server, "ada@example.test");
    let http = browser_from(&server, "203.0.113.50");
    for _ in 0..2 {
        assert_eq!(
            sign_in(&http, &server, "ada@example.test", "wrong-password-1").status(),
            400
        );
    }
    let config = server.config_path();
    let scan = || {
        let (status, stdout, stderr) = common::run(
            server.dir.path(),
            &["--config", config.to_str().unwrap(), "abuse", "scan"],
            &[],
        );
        assert!(status.success(), "{stderr}");
        stdout
    };
    let first = scan();
    assert!(first.contains("1 flag raised"), "{first}");
    assert_eq!(open_flags(&server, "signin_failures_account").len(), 1);
    let again = scan();
    assert!(again.contains("0 flags raised, 1 updated"), "{again}");
    assert_eq!(open_flags(&server, "signin_failures_account").len(), 1);
}
