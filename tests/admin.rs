//! The admin console over real HTTP, as an operator uses it: approve a sign-up, book credit,
//! watch the account's requests, suspend it and see the API refuse its key, revoke a key, and
//! delete the account; each action in the audit log.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use common::upstream::FakeUpstream;
use common::{PASSWORD, Server, csrf, location, text};
use reqwest::blocking::Client;
use serde_json::json;

fn config(up: &FakeUpstream) -> String {
    format!(
        r#"
[accounts]
signup = "approval"
require_verified_email = false
reauthenticate_after_secs = 0

{providers}

[[models]]
id = "chat-model"
routes = [{{ provider = "compat", model = "upstream-chat" }}]
price = {{ input = "1.00", cached_input = "0.50", output = "2.00" }}
"#,
        providers = up.providers_toml()
    )
}

fn one<T: rusqlite::types::FromSql>(server: &Server, sql: &str) -> T {
    rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

fn chat(server: &Server, key: &str) -> u16 {
    common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// Posts one of the account page's forms with the page's CSRF token.
fn act(
    admin: &Client,
    server: &Server,
    user: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let page = text(
        admin
            .get(server.url(&format!("/admin/users/{user}")))
            .send()
            .unwrap(),
    );
    let token = csrf(&page);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    admin
        .post(server.url(&format!("/admin/users/{user}/{action}")))
        .form(&form)
        .send()
        .unwrap()
}

/// How long the API took to start refusing the key, polling every 50 ms for at most 3 s.
fn refused_within(server: &Server, key: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        if chat(server, key) == 403 || chat(server, key) == 401 {
            return started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the API still accepts the key after 3 s");
}

#[test]
fn an_operator_runs_an_account_from_sign_up_to_deletion() {
    let up = FakeUpstream::start();
    let server = Server::start(&config(&up));
    let admin = common::admin(&server, "op@example.test");
    let admin_id: String = one(
        &server,
        "SELECT id FROM users WHERE email = 'op@example.test'",
    );

    // A sign-up waits for approval and is listed as such.
    let visitor = common::browser(&server);
    let res = visitor
        .post(server.url("/signup"))
        .form(&[
            ("name", "Ada Lovelace"),
            ("email", "ada@example.test"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert!(
        res.status().is_success() || res.status() == 303,
        "{}",
        res.status()
    );
    let ada: String = one(
        &server,
        "SELECT id FROM users WHERE email = 'ada@example.test'",
    );
    let pending = text(
        admin
            .get(server.url("/admin/users?status=pending"))
            .send()
            .unwrap(),
    );
    assert!(pending.contains("ada@example.test"), "{pending}");
    let active = text(
        admin
            .get(server.url("/admin/users?status=active&q=ada"))
            .send()
            .unwrap(),
    );
    assert!(!active.contains("ada@example.test"));
    let found = text(
        admin
            .get(server.url("/admin/users?q=Lovel"))
            .send()
            .unwrap(),
    );
    assert!(found.contains("ada@example.test"));
    let res = admin
        .get(server.url("/admin/users?status=gone"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("status:"));

    // Approve.
    let res = act(&admin, &server, &ada, "approve", &[]);
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/admin/users/{ada}?notice=approve"));
    assert_eq!(
        one::<String>(
            &server,
            "SELECT status FROM users WHERE email = 'ada@example.test'"
        ),
        "active"
    );

    // A wallet booking needs a reason and, with an old sign-in, the password; a refusal books
    // nothing.
    let res = act(
        &admin,
        &server,
        &ada,
        "wallet",
        &[("kind", "grant"), ("amount", "5.00"), ("reason", "trial")],
    );
    assert_eq!(res.status(), 400);
    assert!(
        text(res).contains("password"),
        "the refusal asks for the password"
    );
    let res = act(
        &admin,
        &server,
        &ada,
        "wallet",
        &[
            ("kind", "grant"),
            ("amount", "5.00"),
            ("reason", " "),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(
        one::<i64>(
            &server,
            "SELECT count(*) FROM ledger WHERE kind = 'grant' AND actor <> 'system'"
        ),
        0
    );
    let res = act(
        &admin,
        &server,
        &ada,
        "wallet",
        &[
            ("kind", "grant"),
            ("amount", "5.00"),
            ("reason", "trial"),
            ("password", PASSWORD),
        ],
    );
    assert_eq!(res.status(), 303);
    let (actor, note): (String, String) = rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(
            "SELECT actor, note FROM ledger WHERE kind = 'grant' AND user_id = ?1 ORDER BY id DESC",
            [&ada],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (actor.as_str(), note.as_str()),
        (admin_id.as_str(), "trial")
    );
    let page = text(
        admin
            .get(server.url(&format!("/admin/users/{ada}")))
            .send()
            .unwrap(),
    );
    assert!(page.contains("$5.00"), "the balance shows the grant");

    // The account's requests show on its page.
    let (status, key, _) = common::run(
        server.dir.path(),
        &[
            "--config",
            server.config_path().to_str().unwrap(),
            "key",
            "create",
            "--user",
            "ada@example.test",
            "--name",
            "laptop",
        ],
        &[],
    );
    assert!(status.success());
    let key = key.trim().to_owned();
    assert_eq!(chat(&server, &key), 200);
    let ada_browser = common::signed_in(&server, "ada@example.test");
    assert_eq!(
        ada_browser
            .get(server.url("/dashboard"))
            .send()
            .unwrap()
            .status(),
        200
    );
    let page = text(
        admin
            .get(server.url(&format!("/admin/users/{ada}")))
            .send()
            .unwrap(),
    );
    assert!(
        page.contains("/v1/chat/completions") && page.contains("chat-model"),
        "the request is listed"
    );

    // Suspend: the API refuses the key within a second, and the sessions are over.
    let res = act(
        &admin,
        &server,
        &ada,
        "suspend",
        &[("reason", "chargeback")],
    );
    assert_eq!(res.status(), 303);
    let took = refused_within(&server, &key);
    println!("suspension refused the key after {} ms", took.as_millis());
    assert!(took < Duration::from_secs(1), "{took:?}");
    let res = ada_browser.get(server.url("/dashboard")).send().unwrap();
    assert_eq!(res.status(), 303, "the suspended account's session ended");

    // Unsuspend, then revoke the key from the console.
    assert_eq!(act(&admin, &server, &ada, "unsuspend", &[]).status(), 303);
    let started = Instant::now();
    while chat(&server, &key) != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the key stays refused after unsuspending"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let key_id: String = one(&server, "SELECT id FROM api_keys WHERE name = 'laptop'");
    assert_eq!(
        act(&admin, &server, &ada, "revoke-key", &[("key", &key_id)]).status(),
        303
    );
    let took = refused_within(&server, &key);
    println!("revocation refused the key after {} ms", took.as_millis());
    assert!(took < Duration::from_secs(1), "{took:?}");

    // Tier, cap and role changes; the last admin cannot stop being one.
    assert_eq!(
        act(&admin, &server, &ada, "cap", &[("cap", "12.50")]).status(),
        303
    );
    assert_eq!(
        one::<i64>(
            &server,
            "SELECT monthly_cap FROM users WHERE email = 'ada@example.test'"
        ),
        12_500_000
    );
    let res = act(&admin, &server, &ada, "tier", &[("tier", "no-such-tier")]);
    assert_eq!(res.status(), 400);
    let res = act(
        &admin,
        &server,
        &admin_id,
        "role",
        &[("role", "user"), ("password", PASSWORD)],
    );
    assert_eq!(res.status(), 400, "an admin does not demote themselves");

    // Export: the owner's own copy, recorded in the audit log.
    let res = admin
        .get(server.url(&format!("/admin/users/{ada}/export")))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let export: serde_json::Value = res.json().unwrap();
    assert!(export.to_string().contains("ada@example.test"));

    // Delete: the address typed again and the password.
    let res = act(
        &admin,
        &server,
        &ada,
        "delete",
        &[("confirm", "someone@else.test"), ("password", PASSWORD)],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(
        one::<i64>(
            &server,
            "SELECT count(*) FROM users WHERE email = 'ada@example.test'"
        ),
        1
    );
    let res = act(
        &admin,
        &server,
        &ada,
        "delete",
        &[("confirm", "ada@example.test"), ("password", PASSWORD)],
    );
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/users?notice=deleted");
    assert_eq!(
        one::<i64>(
            &server,
            "SELECT count(*) FROM users WHERE email = 'ada@example.test'"
        ),
        0
    );

    // Every action is in the audit log, by the admin, with before and after.
    let audit = admin.get(server.url("/admin/audit.csv")).send().unwrap();
    assert_eq!(audit.status(), 200);
    let rows = common::parse_csv(&audit.text().unwrap());
    assert_eq!(
        rows[0],
        ["time_utc", "actor", "action", "target", "detail", "ip"]
    );
    let actions: Vec<&str> = rows[1..].iter().map(|r| r[2].as_str()).collect();
    for expected in [
        "user.status",
        "wallet.grant",
        "key.revoke",
        "user.cap",
        "user.export",
        "account_erased",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
    let suspension = rows[1..]
        .iter()
        .find(|r| r[2] == "user.status" && r[4].starts_with("active → suspended"))
        .expect("the suspension is recorded");
    assert_eq!(suspension[1], "op@example.test");
    assert_eq!(suspension[4], "active → suspended: chargeback");
    assert_eq!(suspension[5], "127.0.0.1");
    let filtered = text(
        admin
            .get(server.url("/admin/audit?action=wallet.grant"))
            .send()
            .unwrap(),
    );
    assert!(
        filtered.contains("<code>wallet.grant</code>")
            && !filtered.contains("<code>key.revoke</code>")
    );

    // A plain user finds no console.
    let _ = common::user_with_key(&server, "bob@example.test");
    let bob = common::signed_in(&server, "bob@example.test");
    for path in ["/admin/users", "/admin/audit", "/admin/audit.csv"] {
        assert_eq!(
            bob.get(server.url(path)).send().unwrap().status(),
            404,
            "{path}"
        );
    }
}

#[test]
fn an_admin_creates_an_account_and_a_refusal_is_shown_at_the_form() {
    let server = Server::start("[accounts]\nrequire_verified_email = false\n");
    let admin = common::admin(&server, "op@example.test");
    let page = text(admin.get(server.url("/admin/users")).send().unwrap());
    let token = csrf(&page);
    let form = [
        ("csrf", token.as_str()),
        ("name", "Grace"),
        ("email", "grace@example.test"),
        ("password", PASSWORD),
        ("role", "user"),
    ];
    let res = admin
        .post(server.url("/admin/users"))
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).ends_with("?notice=created"));
    // The new account signs in with the password it was given.
    assert_eq!(
        common::signed_in(&server, "grace@example.test")
            .get(server.url("/dashboard"))
            .send()
            .unwrap()
            .status(),
        200
    );
    // The same address again is refused beside the form, and nothing changes.
    let res = admin
        .post(server.url("/admin/users"))
        .form(&form)
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("already has an account"));
    assert_eq!(one::<i64>(&server, "SELECT count(*) FROM users"), 2);
    let res = admin
        .post(server.url("/admin/users"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", "X"),
            ("email", "x@example.test"),
            ("password", PASSWORD),
            ("role", "root"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("role:"));
}

/// Posts a console form whose page is `page`, with that page's CSRF token.
fn post_from(
    admin: &Client,
    server: &Server,
    page: &str,
    to: &str,
    fields: &[(&str, &str)],
) -> reqwest::blocking::Response {
    let html = text(admin.get(server.url(page)).send().unwrap());
    let token = csrf(&html);
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    admin.post(server.url(to)).form(&form).send().unwrap()
}

/// Two numbers from one row of the server's database.
fn pair(server: &Server, sql: &str) -> (i64, i64) {
    rusqlite::Connection::open(server.db_path())
        .unwrap()
        .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
}

/// Presses the `compat` provider's Test button; the page that answers.
fn test_compat(admin: &Client, server: &Server) -> String {
    text(post_from(
        admin,
        server,
        "/admin/providers",
        "/admin/providers/compat/test",
        &[],
    ))
}

/// Takes the `compat` provider out of rotation (`out`) or puts it back (`in`).
fn rotate_compat(admin: &Client, server: &Server, to: &str) -> reqwest::blocking::Response {
    let rotation = [("rotation", to)];
    post_from(
        admin,
        server,
        "/admin/providers",
        "/admin/providers/compat/rotation",
        &rotation,
    )
}

#[test]
fn usage_arrives_in_analytics_and_a_provider_fails_and_recovers() {
    let up = FakeUpstream::start();
    let server = Server::start(&format!(
        "{}\n[gateway]\nbreaker_failures = 3\n",
        config(&up)
    ));
    let admin = common::admin(&server, "op@example.test");
    let key = common::user_with_key(&server, "dev@example.test");
    for _ in 0..3 {
        assert_eq!(chat(&server, &key), 200);
    }

    // The requests are in the day's sums: the home page, the analytics page and its CSV.
    let home = text(admin.get(server.url("/admin")).send().unwrap());
    assert!(home.contains("3 requests"), "{home}");
    let page = text(
        admin
            .get(server.url("/admin/analytics?days=7"))
            .send()
            .unwrap(),
    );
    assert!(
        page.contains("dev@example.test") && page.contains("chat-model") && page.contains("compat")
    );
    let res = admin
        .get(server.url("/admin/analytics?days=12"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("days:"));
    let csv = admin
        .get(server.url("/admin/analytics.csv?days=7"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let rows = common::parse_csv(&csv);
    assert_eq!(
        rows[0][..5],
        ["day", "account", "model", "provider", "requests"]
    );
    let row = rows
        .iter()
        .find(|r| r[1] == "dev@example.test")
        .expect("the account's row");
    assert_eq!(
        (row[2].as_str(), row[3].as_str(), row[4].as_str()),
        ("chat-model", "compat", "3")
    );
    // The sums match the rows they sum.
    let rows = pair(&server, "SELECT count(*), sum(cost) FROM usage");
    assert_eq!(
        pair(&server, "SELECT sum(requests), sum(cost) FROM usage_daily"),
        rows
    );
    assert_eq!(
        pair(
            &server,
            "SELECT sum(requests), sum(cost) FROM usage_daily_totals"
        ),
        rows,
        "the sums across accounts too"
    );

    // The provider goes down: requests fail, the test button says so.
    up.set_down(true);
    for _ in 0..3 {
        assert_ne!(chat(&server, &key), 200);
    }
    let page = text(admin.get(server.url("/admin/providers")).send().unwrap());
    assert!(page.contains("Resting for"), "the breaker rests it: {page}");
    let tested = test_compat(&admin, &server);
    assert!(
        tested.contains("Test of <strong>compat</strong>: failed")
            && tested.contains("503: overloaded_error"),
        "{tested}"
    );

    // It comes back: the test succeeds and ends the rest.
    up.set_down(false);
    let tested = test_compat(&admin, &server);
    assert!(
        tested.contains("Test of <strong>compat</strong>: answered"),
        "{tested}"
    );
    assert!(!tested.contains("Resting for"));
    assert_eq!(chat(&server, &key), 200);

    // Out of rotation: the model has no other provider, so requests are refused until it is back,
    // across a restart.
    let res = rotate_compat(&admin, &server, "out");
    assert_eq!(res.status(), 303);
    let before = up.seen().len();
    assert_ne!(chat(&server, &key), 200);
    assert_eq!(up.seen().len(), before, "nothing went to the provider");
    let server = server.restart();
    let admin = common::signed_in(&server, "op@example.test");
    let page = text(admin.get(server.url("/admin/providers")).send().unwrap());
    assert!(page.contains("Out of rotation"));
    assert_ne!(chat(&server, &key), 200);
    let res = rotate_compat(&admin, &server, "in");
    assert_eq!(res.status(), 303);
    assert_eq!(chat(&server, &key), 200);
    let audit = text(
        admin
            .get(server.url("/admin/audit?action=provider.rotation"))
            .send()
            .unwrap(),
    );
    assert!(
        audit.contains("compat: out of rotation") && audit.contains("compat: back in rotation")
    );
}

#[test]
fn a_notice_reaches_the_dashboards_and_the_mailboxes_and_the_outbox_shows_it() {
    let smtp = common::smtp::SmtpServer::start();
    let server = Server::start(&format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Test <noreply@gateway.test>\"\nretry_secs = 1\n\n[accounts]\nrequire_verified_email = false\n",
        smtp.port
    ));
    let admin = common::admin(&server, "op@example.test");
    let _ = common::user_with_key(&server, "dev@example.test");
    let dev = common::signed_in(&server, "dev@example.test");

    // An incomplete notice is refused at its form and sends nothing.
    let res = post_from(
        &admin,
        &server,
        "/admin/notices",
        "/admin/notices",
        &[
            ("kind", "technical"),
            ("audience", "everyone"),
            ("title", ""),
            ("body", "x"),
            ("banner_days", "3"),
            ("mail", "on"),
        ],
    );
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("title:"));
    assert_eq!(one::<i64>(&server, "SELECT count(*) FROM notices"), 0);

    let res = post_from(
        &admin,
        &server,
        "/admin/notices",
        "/admin/notices",
        &[
            ("kind", "technical"),
            ("audience", "everyone"),
            ("title", "Maintenance on Sunday"),
            ("body", "The API pauses for ten minutes at 02:00 UTC."),
            ("banner_days", "3"),
            ("mail", "on"),
        ],
    );
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/admin/notices?mailed=2");
    let mail = smtp.wait_for_mail("dev@example.test", Duration::from_secs(15));
    assert!(
        mail.subject.contains("Maintenance on Sunday"),
        "{}",
        mail.subject
    );
    let page = text(dev.get(server.url("/dashboard")).send().unwrap());
    assert!(page.contains("Maintenance on Sunday") && page.contains("ten minutes"));

    // Closed, it stays closed for that account.
    let token = csrf(&page);
    let id: i64 = one(&server, "SELECT id FROM notices");
    let res = dev
        .post(server.url(&format!("/dashboard/notices/{id}/dismiss")))
        .form(&[("csrf", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(
        !text(dev.get(server.url("/dashboard")).send().unwrap()).contains("Maintenance on Sunday")
    );

    // The outbox lists both mails by recipient and subject, never the body.
    smtp.wait_for_mail("op@example.test", Duration::from_secs(15));
    let started = Instant::now();
    loop {
        let page = text(admin.get(server.url("/admin/outbox")).send().unwrap());
        if page.matches("Maintenance on Sunday").count() == 2 && page.contains("sent ") {
            assert!(!page.contains("ten minutes"), "no body in the outbox page");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{page}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let audit = text(
        admin
            .get(server.url("/admin/audit?action=notice.send"))
            .send()
            .unwrap(),
    );
    assert!(audit.contains("Maintenance on Sunday"));
}

#[test]
fn codes_and_invites_are_shown_once_and_work() {
    let server = Server::start("[accounts]\nsignup = \"invite\"\nrequire_verified_email = false\n");
    let admin = common::admin(&server, "op@example.test");

    let res = post_from(
        &admin,
        &server,
        "/admin/codes",
        "/admin/codes",
        &[("amount", "abc"), ("uses", "1")],
    );
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("amount:"));
    let res = post_from(
        &admin,
        &server,
        "/admin/codes",
        "/admin/codes",
        &[("amount", "2.50"), ("uses", "0")],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(
        one::<i64>(&server, "SELECT count(*) FROM redemption_codes"),
        0
    );

    let res = post_from(
        &admin,
        &server,
        "/admin/codes",
        "/admin/codes",
        &[("amount", "2.50"), ("uses", "3"), ("expires_in_days", "30")],
    );
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = text(res);
    let code = page
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(code.starts_with("CX-"), "{code}");
    assert!(
        !text(admin.get(server.url("/admin/codes")).send().unwrap()).contains(&code),
        "shown once"
    );

    // The invite lets someone sign up; the code then credits their wallet.
    let res = post_from(
        &admin,
        &server,
        "/admin/codes",
        "/admin/invites",
        &[("uses", "1"), ("expires_in_days", "7")],
    );
    assert_eq!(res.status(), 200);
    let invite = text(res)
        .split("<code class=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    let visitor = common::browser(&server);
    let res = visitor
        .post(server.url("/signup"))
        .form(&[
            ("name", "Ada"),
            ("email", "ada@example.test"),
            ("password", PASSWORD),
            ("invite", invite.as_str()),
        ])
        .send()
        .unwrap();
    assert!(
        res.status().is_success() || res.status() == 303,
        "{}",
        res.status()
    );
    assert_eq!(
        one::<i64>(
            &server,
            "SELECT count(*) FROM users WHERE email = 'ada@example.test'"
        ),
        1
    );
    let ada = common::signed_in(&server, "ada@example.test");
    let billing = text(ada.get(server.url("/dashboard/billing")).send().unwrap());
    let token = csrf(&billing);
    let res = ada
        .post(server.url("/dashboard/billing/redeem"))
        .form(&[("csrf", token.as_str()), ("code", code.as_str())])
        .send()
        .unwrap();
    assert!(
        res.status().is_success() || res.status() == 303,
        "{}",
        res.status()
    );
    let balance: i64 = one(
        &server,
        "SELECT balance FROM users WHERE email = 'ada@example.test'",
    );
    assert!(balance >= 2_500_000, "{balance}");
    let listed = text(admin.get(server.url("/admin/codes")).send().unwrap());
    assert!(listed.contains("1 of 3"), "{listed}");
    let audit = text(admin.get(server.url("/admin/audit")).send().unwrap());
    assert!(audit.contains("code.create") && audit.contains("invite.create"));
}

#[test]
fn role_tier_second_factor_and_sign_out_are_changed_and_audited() {
    let server = Server::start(
        "[accounts]\nrequire_verified_email = false\nreauthenticate_after_secs = 0\n\n[[tiers]]\nname = \"default\"\n\n[[tiers]]\nname = \"team\"\nrequests_per_minute = 600\n",
    );
    let admin = common::admin(&server, "op@example.test");
    let _ = common::user_with_key(&server, "dev@example.test");
    let dev = common::signed_in(&server, "dev@example.test");
    let id: String = one(
        &server,
        "SELECT id FROM users WHERE email = 'dev@example.test'",
    );

    // Tier: a configured one, then back to the default.
    assert_eq!(
        act(&admin, &server, &id, "tier", &[("tier", "team")]).status(),
        303
    );
    assert_eq!(
        one::<String>(
            &server,
            "SELECT tier FROM users WHERE email = 'dev@example.test'"
        ),
        "team"
    );
    assert_eq!(
        act(&admin, &server, &id, "tier", &[("tier", "default")]).status(),
        303
    );
    assert_eq!(
        one::<Option<String>>(
            &server,
            "SELECT tier FROM users WHERE email = 'dev@example.test'"
        ),
        None
    );

    // Sign out everywhere: the account's browser is signed out.
    assert_eq!(
        dev.get(server.url("/dashboard")).send().unwrap().status(),
        200
    );
    assert_eq!(act(&admin, &server, &id, "sign-out", &[]).status(), 303);
    assert_eq!(
        dev.get(server.url("/dashboard")).send().unwrap().status(),
        303
    );

    // Two-factor sign-in reset: its secret and recovery codes go.
    rusqlite::Connection::open(server.db_path())
        .unwrap()
        .execute(
            "UPDATE users SET totp_secret = 'JBSWY3DPEHPK3PXP', totp_enabled_at = 1 WHERE id = ?1",
            [&id],
        )
        .unwrap();
    assert_eq!(act(&admin, &server, &id, "reset-2fa", &[]).status(), 303);
    assert_eq!(
        one::<Option<i64>>(
            &server,
            "SELECT totp_enabled_at FROM users WHERE email = 'dev@example.test'"
        ),
        None
    );

    // Role: without the password (the sign-in counts as old here) nothing changes; with it the
    // account becomes an admin and finds the console.
    let res = act(&admin, &server, &id, "role", &[("role", "admin")]);
    assert_eq!(res.status(), 400);
    assert_eq!(
        one::<String>(
            &server,
            "SELECT role FROM users WHERE email = 'dev@example.test'"
        ),
        "user"
    );
    assert_eq!(
        act(
            &admin,
            &server,
            &id,
            "role",
            &[("role", "admin"), ("password", PASSWORD)]
        )
        .status(),
        303
    );
    let dev = common::signed_in(&server, "dev@example.test");
    assert_eq!(dev.get(server.url("/admin")).send().unwrap().status(), 200);

    let rows = common::parse_csv(
        &admin
            .get(server.url("/admin/audit.csv"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    let details: Vec<(String, String)> = rows[1..]
        .iter()
        .map(|r| (r[2].clone(), r[4].clone()))
        .collect();
    for (action, detail) in [
        ("user.tier", "default → team"),
        ("user.tier", "team → default"),
        ("user.sign_out", "1 sessions → 0 sessions"),
        ("user.2fa_reset", "on → off"),
        ("user.role", "user → admin"),
    ] {
        assert!(
            details.iter().any(|(a, d)| a == action && d == detail),
            "{action} {detail} missing from {details:?}"
        );
    }
}
