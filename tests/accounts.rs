//! Accounts through the real binary: sign-up, email links received by a real SMTP server, sign-in,
//! sessions, CSRF and origin checks, throttling, API keys, and the command line.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::Duration;

use common::smtp::SmtpServer;
use common::{Server, run};
use reqwest::blocking::{Client, Response};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

use common::{PASSWORD, browser, csrf, location, text};
const MAIL_WAIT: Duration = Duration::from_secs(15);

fn config_with_smtp(smtp: &SmtpServer, extra: &str) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Test Gateway <noreply@gateway.test>\"\nretry_secs = 1\n\n\
         [[models]]\nid = \"m-fast\"\nprice = {{ input = 1, output = 2 }}\n\n[[models]]\nid = \"m-slow\"\nprice = {{ input = 3, output = 4 }}\n\n{extra}",
        smtp.port
    )
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

/// Waits for a mail to `to` whose subject mentions `needle` (case-insensitive).
fn mail_about(smtp: &SmtpServer, to: &str, needle: &str) -> common::smtp::ReceivedMail {
    let deadline = std::time::Instant::now() + MAIL_WAIT;
    let needle = needle.to_lowercase();
    loop {
        let found = smtp
            .received_for(to)
            .into_iter()
            .find(|m| m.subject.to_lowercase().contains(&needle));
        if let Some(mail) = found {
            return mail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no mail to {to} about {needle:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sign_up(http: &Client, server: &Server, name: &str, email: &str, password: &str) -> Response {
    http.post(server.url("/signup"))
        .form(&[("name", name), ("email", email), ("password", password)])
        .send()
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

fn db(server: &Server) -> Connection {
    Connection::open(server.db_path()).unwrap()
}

fn count(server: &Server, sql: &str) -> i64 {
    db(server).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Signs up, confirms by the mailed link and signs in; returns the signed-in client.
fn confirmed_user(server: &Server, smtp: &SmtpServer, name: &str, email: &str) -> Client {
    let http = browser(server);
    assert_eq!(sign_up(&http, server, name, email, PASSWORD).status(), 200);
    let mail = smtp.wait_for_mail(email, MAIL_WAIT);
    let link = link_in(&mail.text, &format!("{}/verify?token=", server.base));
    assert_eq!(http.get(&link).send().unwrap().status(), 200);
    let res = sign_in(&http, server, email, PASSWORD);
    assert_eq!(res.status(), 303, "{}", text(res));
    http
}

/// Posts the create-key form; a key made answers with a redirect to the page that shows it once,
/// which this follows.
fn create_key(http: &Client, server: &Server, form: &[(&str, &str)]) -> Response {
    let page = text(http.get(server.url("/dashboard/keys")).send().unwrap());
    let token = csrf(&page);
    let mut fields = vec![("csrf", token.as_str())];
    fields.extend_from_slice(form);
    let res = http
        .post(server.url("/dashboard/keys"))
        .form(&fields)
        .send()
        .unwrap();
    if res.status() != 303 {
        return res;
    }
    assert_eq!(location(&res), "/dashboard/keys/new");
    http.get(server.url("/dashboard/keys/new")).send().unwrap()
}

fn the_key(html: &str) -> String {
    let start = html.find("sk-cx-").expect("key shown");
    html[start..start + 6 + 43].to_owned()
}

#[test]
fn sign_up_confirm_sign_in_create_and_revoke_a_key() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = browser(&server);

    let res = sign_up(&http, &server, "Ada Lovelace", "ada@example.test", PASSWORD);
    assert_eq!(res.status(), 200);
    assert!(text(res).contains("Check your email"));

    let mail = smtp.wait_for_mail("ada@example.test", MAIL_WAIT);
    assert!(
        mail.subject.to_lowercase().contains("confirm"),
        "{}",
        mail.subject
    );
    assert!(!mail.html.is_empty());
    let link = link_in(&mail.text, &format!("{}/verify?token=", server.base));

    // Unconfirmed accounts may sign in but not create keys.
    assert_eq!(
        sign_in(&http, &server, "ada@example.test", PASSWORD).status(),
        303
    );
    let res = create_key(&http, &server, &[("name", "laptop")]);
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("Confirm your email address"));
    assert_eq!(count(&server, "SELECT count(*) FROM api_keys"), 0);

    assert_eq!(http.get(&link).send().unwrap().status(), 200);
    let again = http.get(&link).send().unwrap();
    assert_eq!(again.status(), 400, "a confirmation link works once");

    let res = create_key(
        &http,
        &server,
        &[
            ("name", "laptop"),
            ("expires_in_days", "30"),
            ("model", "m-fast"),
            ("spend_limit", "12.50"),
            ("requests_per_minute", "30"),
        ],
    );
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = text(res);
    let key = the_key(&page);
    assert!(
        page.contains(&format!("{}/v1", server.base)),
        "setup shows the base URL"
    );
    assert!(
        page.contains(&format!("export CODEXAPI_API_KEY=\"{key}\"")),
        "setup is filled with the key"
    );

    let conn = db(&server);
    let (hash, prefix, models, limit, rpm): (Vec<u8>, String, String, i64, i64) = conn
        .query_row(
            "SELECT key_hash, prefix, models, spend_limit, requests_per_minute FROM api_keys",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        hash,
        Sha256::digest(key.as_bytes()).to_vec(),
        "only the hash is stored"
    );
    assert!(key.starts_with(&prefix) && prefix.len() < 16);
    assert_eq!(models, r#"["m-fast"]"#);
    assert_eq!(limit, 12_500_000);
    assert_eq!(rpm, 30);
    drop(conn);

    let list = text(http.get(server.url("/dashboard/keys")).send().unwrap());
    assert!(
        list.contains(&prefix) && !list.contains(&key),
        "the list shows only the prefix"
    );
    assert!(list.contains("$0.00 of $12.50"), "spent against the limit");
    assert!(list.contains("30 requests/min"), "the key's own rate");
    for (field, bad) in [
        ("requests_per_minute", "0"),
        ("requests_per_minute", "many"),
        ("spend_limit", "-5"),
    ] {
        let res = create_key(&http, &server, &[("name", "bad"), (field, bad)]);
        assert_eq!(res.status(), 400, "{field}={bad}");
        assert_eq!(
            count(&server, "SELECT count(*) FROM api_keys"),
            1,
            "{field}={bad}"
        );
    }

    let key_id: String = db(&server)
        .query_row("SELECT id FROM api_keys", [], |r| r.get(0))
        .unwrap();
    let confirm = text(
        http.get(server.url(&format!("/dashboard/keys/{key_id}/revoke")))
            .send()
            .unwrap(),
    );
    let res = http
        .post(server.url(&format!("/dashboard/keys/{key_id}/revoke")))
        .form(&[("csrf", csrf(&confirm))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let revoked: Option<i64> = db(&server)
        .query_row("SELECT revoked_at FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert!(revoked.is_some());

    let events = text(http.get(server.url("/dashboard/security")).send().unwrap());
    for event in [
        "Account created",
        "Email address confirmed",
        "API key created: laptop",
        "API key revoked: laptop",
    ] {
        assert!(events.contains(event), "security events list {event}");
    }
}

#[test]
fn sign_up_errors_change_nothing_and_reveal_nothing() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = browser(&server);

    let weak = sign_up(&http, &server, "Bob", "bob@example.test", "password123");
    assert_eq!(weak.status(), 400);
    assert!(text(weak).contains("too weak"));
    let short = sign_up(&http, &server, "Bob", "bob@example.test", "abc");
    assert_eq!(short.status(), 400);
    let bad_email = sign_up(&http, &server, "Bob", "not-an-email", PASSWORD);
    assert_eq!(bad_email.status(), 400);
    assert!(text(bad_email).contains("valid email"));
    let no_name = sign_up(&http, &server, "  ", "bob@example.test", PASSWORD);
    assert_eq!(no_name.status(), 400);
    assert_eq!(count(&server, "SELECT count(*) FROM users"), 0);

    let first = text(sign_up(&http, &server, "Bob", "bob@example.test", PASSWORD));
    let second = text(sign_up(
        &http,
        &server,
        "Mallory",
        "BOB@example.test",
        "another-long-phrase-77",
    ));
    assert_eq!(first, second, "a taken address gets the very same answer");
    assert_eq!(count(&server, "SELECT count(*) FROM users"), 1);
    let name: String = db(&server)
        .query_row("SELECT name FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "Bob");
}

#[test]
fn sign_in_failures_are_generic_and_throttled() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let _ada = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    let http = browser(&server);

    let wrong = text(sign_in(
        &http,
        &server,
        "ada@example.test",
        "not-the-password-1",
    ));
    let unknown = text(sign_in(
        &http,
        &server,
        "nobody@example.test",
        "not-the-password-1",
    ));
    let message = "The email address or password is not right.";
    assert!(wrong.contains(message) && unknown.contains(message));

    for _ in 0..4 {
        assert_eq!(
            sign_in(&http, &server, "ada@example.test", "wrong-wrong-wrong").status(),
            400
        );
    }
    // Five failures for the account now: an alert goes to its owner.
    let alert = mail_about(&smtp, "ada@example.test", "security alert");
    assert!(alert.text.contains("127.0.0.1"));
    assert_eq!(
        sign_in(&http, &server, "ada@example.test", "wrong-wrong-wrong").status(),
        400
    );
    // Six failures: the account is locked out for a while.
    let locked = sign_in(&http, &server, "ada@example.test", PASSWORD);
    assert_eq!(
        locked.status(),
        429,
        "even the right password waits out the lockout"
    );
    assert!(text(locked).contains("Too many attempts"));
    assert!(
        count(
            &server,
            "SELECT count(*) FROM security_events WHERE kind = 'sign_in_failed'"
        ) >= 5
    );
}

#[test]
fn forms_need_the_session_csrf_token_and_this_sites_origin() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");

    let missing = http
        .post(server.url("/dashboard/keys"))
        .form(&[("name", "k")])
        .send()
        .unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = http
        .post(server.url("/dashboard/keys"))
        .form(&[("name", "k"), ("csrf", "0000")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 403);

    let page = text(http.get(server.url("/dashboard/keys")).send().unwrap());
    let token = csrf(&page);
    let foreign = http
        .post(server.url("/dashboard/keys"))
        .header("origin", "https://evil.test")
        .form(&[("name", "k"), ("csrf", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert!(text(foreign).contains("another site"));
    assert_eq!(count(&server, "SELECT count(*) FROM api_keys"), 0);

    let ok = http
        .post(server.url("/dashboard/keys"))
        .form(&[("name", "k"), ("csrf", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(count(&server, "SELECT count(*) FROM api_keys"), 1);
}

#[test]
fn another_users_key_is_not_found() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let ada = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    let eve = confirmed_user(&server, &smtp, "Eve", "eve@example.test");
    assert_eq!(
        create_key(&ada, &server, &[("name", "ada-key")]).status(),
        200
    );
    let key_id: String = db(&server)
        .query_row("SELECT id FROM api_keys", [], |r| r.get(0))
        .unwrap();

    let path = format!("/dashboard/keys/{key_id}/revoke");
    assert_eq!(eve.get(server.url(&path)).send().unwrap().status(), 404);
    let eve_page = text(eve.get(server.url("/dashboard/keys")).send().unwrap());
    assert!(!eve_page.contains("ada-key"));
    let res = eve
        .post(server.url(&path))
        .form(&[("csrf", csrf(&eve_page))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
    let revoked: Option<i64> = db(&server)
        .query_row("SELECT revoked_at FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert!(revoked.is_none());
}

#[test]
fn password_reset_by_mail_ends_every_session() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let laptop = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    assert_eq!(
        laptop
            .get(server.url("/dashboard"))
            .send()
            .unwrap()
            .status(),
        200
    );

    let http = browser(&server);
    let res = http
        .post(server.url("/forgot"))
        .form(&[("email", "ada@example.test")])
        .send()
        .unwrap();
    let answer = text(res);
    let unknown = text(
        http.post(server.url("/forgot"))
            .form(&[("email", "nobody@example.test")])
            .send()
            .unwrap(),
    );
    assert_eq!(
        answer, unknown,
        "the answer does not say whether the account exists"
    );

    let mail = mail_about(&smtp, "ada@example.test", "reset");
    let link = link_in(&mail.text, &format!("{}/reset?token=", server.base));
    let token = link.split("token=").nth(1).unwrap().to_owned();
    assert_eq!(http.get(&link).send().unwrap().status(), 200);

    let weak = http
        .post(server.url("/reset"))
        .form(&[("token", token.as_str()), ("password", "123")])
        .send()
        .unwrap();
    assert_eq!(weak.status(), 400);
    let forged = http
        .post(server.url("/reset"))
        .form(&[
            ("token", "f".repeat(64).as_str()),
            ("password", "a-brand-new-phrase-33"),
        ])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 400);

    // A key made by whoever held the session; the reset can take it away too.
    let key = the_key(&text(create_key(&laptop, &server, &[("name", "theirs")])));
    let models = |key: &str| {
        reqwest::blocking::Client::new()
            .get(server.url("/v1/models"))
            .bearer_auth(key)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(models(&key), 200);

    let res = http
        .post(server.url("/reset"))
        .form(&[
            ("token", token.as_str()),
            ("password", "a-brand-new-phrase-33"),
            ("revoke_keys", "yes"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?notice=reset");
    std::thread::sleep(Duration::from_millis(1_000));
    assert_eq!(models(&key), 403, "the key stopped working with the reset");
    let reused = http
        .post(server.url("/reset"))
        .form(&[
            ("token", token.as_str()),
            ("password", "yet-another-phrase-44"),
        ])
        .send()
        .unwrap();
    assert_eq!(reused.status(), 400, "a reset link works once");

    let res = laptop.get(server.url("/dashboard")).send().unwrap();
    assert_eq!(res.status(), 303, "the old session ended");
    assert!(location(&res).starts_with("/login"));
    assert_eq!(
        sign_in(&http, &server, "ada@example.test", PASSWORD).status(),
        400
    );
    assert_eq!(
        sign_in(&http, &server, "ada@example.test", "a-brand-new-phrase-33").status(),
        303
    );
    mail_about(&smtp, "ada@example.test", "password was reset");
}

#[test]
fn expired_links_and_sessions_stop_working() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    assert_eq!(
        http.get(server.url("/dashboard")).send().unwrap().status(),
        200
    );

    let anon = browser(&server);
    anon.post(server.url("/forgot"))
        .form(&[("email", "ada@example.test")])
        .send()
        .unwrap();
    let mail = mail_about(&smtp, "ada@example.test", "reset");
    let link = link_in(&mail.text, &format!("{}/reset?token=", server.base));
    db(&server)
        .execute(
            "UPDATE email_tokens SET expires_at = 0 WHERE purpose = 'reset'",
            [],
        )
        .unwrap();
    assert_eq!(anon.get(&link).send().unwrap().status(), 400);

    // A session idle longer than accounts.session_idle_hours is over.
    db(&server)
        .execute("UPDATE sessions SET last_seen_at = 0", [])
        .unwrap();
    let res = http.get(server.url("/dashboard/keys")).send().unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/login?next=%2Fdashboard%2Fkeys");
    assert_eq!(count(&server, "SELECT count(*) FROM sessions"), 0);
}

#[test]
fn sessions_can_be_listed_and_revoked() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let laptop = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    let phone = browser(&server);
    assert_eq!(
        sign_in(&phone, &server, "ada@example.test", PASSWORD).status(),
        303
    );

    let page = text(
        laptop
            .get(server.url("/dashboard/security"))
            .send()
            .unwrap(),
    );
    assert!(page.contains("This session"));
    assert_eq!(count(&server, "SELECT count(*) FROM sessions"), 2);

    let res = laptop
        .post(server.url("/dashboard/sessions/revoke-others"))
        .form(&[("csrf", csrf(&page))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        phone.get(server.url("/dashboard")).send().unwrap().status(),
        303
    );
    assert_eq!(
        laptop
            .get(server.url("/dashboard"))
            .send()
            .unwrap()
            .status(),
        200
    );

    let page = text(laptop.get(server.url("/dashboard")).send().unwrap());
    let res = laptop
        .post(server.url("/logout"))
        .form(&[("csrf", csrf(&page))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(count(&server, "SELECT count(*) FROM sessions"), 0);
}

#[test]
fn session_cookie_is_httponly_lax_and_host_bound_under_https() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(
        &smtp,
        "[server]\ntrusted_proxies = [\"127.0.0.1/32\"]\n",
    ));
    let _ = confirmed_user(&server, &smtp, "Ada", "ada@example.test");

    let plain = browser(&server);
    let res = sign_in(&plain, &server, "ada@example.test", PASSWORD);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("codexapi_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"));
    let token = cookie_value(&cookie);
    assert_eq!(token.len(), 64, "256 random bits");
    let stored: Vec<u8> = db(&server)
        .query_row(
            "SELECT token_hash FROM sessions ORDER BY created_at DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        stored,
        Sha256::digest(token.as_bytes()).to_vec(),
        "only the hash is stored"
    );

    let https = browser(&server);
    let res = https
        .post(server.url("/login"))
        .header("x-forwarded-proto", "https")
        .header("origin", server.base.replace("http://", "https://"))
        .form(&[("email", "ada@example.test"), ("password", PASSWORD)])
        .send()
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-codexapi=") && cookie.contains("Secure"),
        "{cookie}"
    );

    // Over HTTPS, the plain cookie (which anyone on plain HTTP or a sibling host could set)
    // opens no session.
    let res = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(server.url("/dashboard"))
        .header("x-forwarded-proto", "https")
        .header("cookie", format!("codexapi_session={token}"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login"));
}

#[test]
fn redirects_after_sign_in_stay_on_the_site() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let _ = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    for (next, expected) in [
        ("/dashboard/security", "/dashboard/security"),
        ("//evil.test/x", "/dashboard"),
        ("https://evil.test/", "/dashboard"),
    ] {
        let http = browser(&server);
        let res = http
            .post(server.url("/login"))
            .form(&[
                ("email", "ada@example.test"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .unwrap();
        assert_eq!(location(&res), expected, "{next}");
    }
}

#[test]
fn profile_changes_send_alerts_and_confirmations() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");

    let page = text(http.get(server.url("/dashboard/profile")).send().unwrap());
    let token = csrf(&page);
    let res = http
        .post(server.url("/dashboard/profile/name"))
        .form(&[("csrf", token.as_str()), ("name", "Ada King")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let too_long = "x".repeat(101);
    let res = http
        .post(server.url("/dashboard/profile/name"))
        .form(&[("csrf", token.as_str()), ("name", too_long.as_str())])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let name: String = db(&server)
        .query_row("SELECT name FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "Ada King");

    let res = http
        .post(server.url("/dashboard/profile/email"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "ada@new.test"),
            ("password", "wrong-password-99"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400, "changing the address needs the password");
    let res = http
        .post(server.url("/dashboard/profile/email"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", "ada@new.test"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    mail_about(&smtp, "ada@example.test", "security alert");
    let confirm = smtp.wait_for_mail("ada@new.test", MAIL_WAIT);
    let link = link_in(
        &confirm.text,
        &format!("{}/confirm-email?token=", server.base),
    );
    assert_eq!(http.get(&link).send().unwrap().status(), 200);
    let email: String = db(&server)
        .query_row("SELECT email FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(email, "ada@new.test");

    let page = text(http.get(server.url("/dashboard/security")).send().unwrap());
    let res = http
        .post(server.url("/dashboard/security/password"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("current", PASSWORD),
            ("password", "short"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = http
        .post(server.url("/dashboard/security/password"))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("current", PASSWORD),
            ("password", "a-brand-new-phrase-33"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let alert = mail_about(&smtp, "ada@new.test", "password was changed");
    assert!(alert.text.contains("127.0.0.1"), "{}", alert.text);
}

#[test]
fn signup_modes_closed_invite_and_approval() {
    let closed = Server::start("[accounts]\nsignup = \"closed\"\n");
    let http = browser(&closed);
    let res = sign_up(&http, &closed, "Ada", "ada@example.test", PASSWORD);
    assert_eq!(res.status(), 400);
    assert_eq!(count(&closed, "SELECT count(*) FROM users"), 0);

    let invite = Server::start("[accounts]\nsignup = \"invite\"\n");
    let http = browser(&invite);
    assert_eq!(
        sign_up(&http, &invite, "Ada", "ada@example.test", PASSWORD).status(),
        400
    );
    let config = invite.config_path();
    let (status, code, _) = run(
        invite.dir.path(),
        &["--config", config.to_str().unwrap(), "invite", "create"],
        &[],
    );
    assert!(status.success());
    let code = code.trim().to_owned();
    let form = [
        ("name", "Ada"),
        ("email", "ada@example.test"),
        ("password", PASSWORD),
        ("invite", code.as_str()),
    ];
    // No mail to confirm by, no approval: the new account is signed in at once.
    let res = http.post(invite.url("/signup")).form(&form).send().unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard?welcome=1");
    assert_eq!(count(&invite, "SELECT count(*) FROM users"), 1);
    let form = [
        ("name", "Bob"),
        ("email", "bob@example.test"),
        ("password", PASSWORD),
        ("invite", code.as_str()),
    ];
    assert_eq!(
        http.post(invite.url("/signup"))
            .form(&form)
            .send()
            .unwrap()
            .status(),
        400,
        "used up"
    );

    let approval = Server::start("[accounts]\nsignup = \"approval\"\n");
    let http = browser(&approval);
    assert_eq!(
        sign_up(&http, &approval, "Ada", "ada@example.test", PASSWORD).status(),
        200
    );
    assert_eq!(
        sign_in(&http, &approval, "ada@example.test", PASSWORD).status(),
        303
    );
    let res = http.get(approval.url("/dashboard")).send().unwrap();
    assert_eq!(location(&res), "/pending");
    assert!(
        text(http.get(approval.url("/pending")).send().unwrap()).contains("Waiting for approval")
    );
    let config = approval.config_path();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "user",
        "approve",
        "--email",
        "ada@example.test",
    ];
    assert!(run(approval.dir.path(), &args, &[]).0.success());
    assert_eq!(
        http.get(approval.url("/dashboard"))
            .send()
            .unwrap()
            .status(),
        200
    );
    // The approval is in the audit log, by the command line, as the console's would be.
    assert_eq!(
        count(
            &approval,
            "SELECT count(*) FROM audit_log WHERE actor = 'cli' AND action = 'user.status'
             AND detail = 'pending → active: sign-up approved'"
        ),
        1
    );
}

#[test]
fn without_smtp_mail_goes_to_the_log_and_keys_need_no_confirmation() {
    let server = Server::start("");
    let http = browser(&server);
    let res = sign_up(&http, &server, "Ada", "ada@example.test", PASSWORD);
    assert_eq!(res.status(), 303, "signed in at once");
    assert!(server.wait_for_log("smtp.host is not set", Duration::from_secs(5)));
    assert_eq!(
        sign_in(&http, &server, "ada@example.test", PASSWORD).status(),
        303
    );
    let res = create_key(&http, &server, &[("name", "laptop")]);
    assert_eq!(res.status(), 200);
}

#[test]
fn command_line_creates_admins_users_and_keys_beside_a_running_server() {
    let server = Server::start("");
    let config = server.config_path();
    let config = config.to_str().unwrap();
    assert!(server.wait_for_log("/setup/admin?token=", Duration::from_secs(5)));

    let weak = run_with_stdin(
        &server,
        &[
            "--config",
            config,
            "admin",
            "create",
            "--email",
            "root@example.test",
            "--name",
            "Root",
            "--password-stdin",
        ],
        "weak\n",
    );
    assert_eq!(weak.0.code(), Some(65), "EX_DATAERR");
    assert!(weak.2.contains("Use at least"), "{}", weak.2);

    let ok = run_with_stdin(
        &server,
        &[
            "--config",
            config,
            "admin",
            "create",
            "--email",
            "root@example.test",
            "--name",
            "Root",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok.0.success(), "{}", ok.2);
    let role: String = db(&server)
        .query_row("SELECT role FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(role, "admin");

    let dup = run_with_stdin(
        &server,
        &[
            "--config",
            config,
            "user",
            "create",
            "--email",
            "ROOT@example.test",
            "--name",
            "Again",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(!dup.0.success() && dup.2.contains("already has an account"));

    let (status, stdout, stderr) = run(
        server.dir.path(),
        &[
            "--config",
            config,
            "key",
            "create",
            "--user",
            "root@example.test",
            "--name",
            "ci",
            "--expires",
            "30",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only the key on stdout: {stdout:?}");
    assert!(lines[0].starts_with("sk-cx-") && lines[0].len() == 49);

    let http = browser(&server);
    assert_eq!(
        sign_in(&http, &server, "root@example.test", PASSWORD).status(),
        303
    );
    let page = text(http.get(server.url("/dashboard/keys")).send().unwrap());
    assert!(
        page.contains(&lines[0][..12]),
        "the running server lists the new key"
    );

    let (status, _, stderr) = run(
        server.dir.path(),
        &[
            "--config",
            config,
            "key",
            "create",
            "--user",
            "ghost@example.test",
            "--name",
            "x",
        ],
        &[],
    );
    assert_eq!(status.code(), Some(65), "EX_DATAERR: {stderr}");
    assert!(
        stderr.contains("no account uses ghost@example.test"),
        "{stderr}"
    );
}

fn run_with_stdin(
    server: &Server,
    args: &[&str],
    input: &str,
) -> (std::process::ExitStatus, String, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = common::command(server.dir.path())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_first_admin_comes_from_the_logged_setup_link() {
    let server = Server::start("");
    assert!(server.wait_for_log("/setup/admin?token=", Duration::from_secs(5)));
    let log = server.log();
    let link = link_in(&log, &format!("{}/setup/admin?token=", server.base));
    let token = link.split("token=").nth(1).unwrap().to_owned();

    let http = browser(&server);
    assert_eq!(
        http.get(server.url("/setup/admin?token=wrong"))
            .send()
            .unwrap()
            .status(),
        404
    );
    assert_eq!(http.get(&link).send().unwrap().status(), 200);
    let res = http
        .post(server.url("/setup/admin"))
        .form(&[
            ("token", token.as_str()),
            ("name", "Root"),
            ("email", "root@example.test"),
            ("password", PASSWORD),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(
        http.get(server.url("/dashboard")).send().unwrap().status(),
        200
    );
    assert_eq!(
        http.get(&link).send().unwrap().status(),
        404,
        "the link works once"
    );
    let role: String = db(&server)
        .query_row("SELECT role FROM users", [], |r| r.get(0))
        .unwrap();
    assert_eq!(role, "admin");
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code an authenticator app shows at unix time `at`.
fn totp_code_at(secret: &str, at: u64) -> String {
    let totp = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).unwrap())
        .build()
        .unwrap();
    totp.generate(at).to_string()
}

#[test]
fn two_factor_sign_in_with_app_codes_and_recovery_codes() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");

    let setup = two_factor_setup_page(&server, &http);
    assert!(setup.contains("<svg"), "QR code shown");
    let start = setup.find("id=\"totp-secret\">").unwrap() + 17;
    let secret = setup[start..start + 32].to_owned();
    let token = csrf(&setup);

    let wrong = http
        .post(server.url("/dashboard/security/2fa"))
        .form(&[("csrf", token.as_str()), ("code", "000000")])
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 400);
    // The code used to turn it on, and when: it must not work a second time, whenever that is.
    let enabled_at = now_secs();
    let first_code = totp_code_at(&secret, enabled_at);
    let on = http
        .post(server.url("/dashboard/security/2fa"))
        .form(&[("csrf", token.as_str()), ("code", first_code.as_str())])
        .send()
        .unwrap();
    let status = on.status();
    let page = text(on);
    let notice = page
        .find("role=\"alert\"")
        .map(|at| &page[at..(at + 300).min(page.len())]);
    assert_eq!(status, 200, "{notice:?}");
    let codes_start = page.find("id=\"recovery-codes\">").unwrap() + 20;
    let codes: Vec<String> = page
        [codes_start..page[codes_start..].find("</code>").unwrap() + codes_start]
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(count(&server, "SELECT count(*) FROM recovery_codes"), 10);
    mail_about(
        &smtp,
        "ada@example.test",
        "two-factor sign-in was turned on",
    );

    // A new sign-in now stops halfway until a code is given.
    let phone = browser(&server);
    let res = sign_in(&phone, &server, "ada@example.test", PASSWORD);
    assert_eq!(location(&res), "/login/2fa?next=%2Fdashboard");
    let res = phone.get(server.url("/dashboard")).send().unwrap();
    assert_eq!(location(&res), "/login/2fa");
    let form = text(phone.get(server.url("/login/2fa")).send().unwrap());
    let token = csrf(&form);
    let replayed = phone
        .post(server.url("/login/2fa"))
        .form(&[("csrf", token.as_str()), ("code", first_code.as_str())])
        .send()
        .unwrap();
    assert_eq!(replayed.status(), 400, "a code is accepted once only");
    // The app's next code (one 30 s step later) is accepted within the allowed clock skew.
    let res = phone
        .post(server.url("/login/2fa"))
        .form(&[
            ("csrf", token.as_str()),
            ("code", totp_code_at(&secret, enabled_at + 30).as_str()),
            ("next", "/dashboard/keys"),
        ])
        .send()
        .unwrap();
    assert_eq!(location(&res), "/dashboard/keys");
    assert_eq!(
        phone.get(server.url("/dashboard")).send().unwrap().status(),
        200
    );

    // A recovery code works once.
    for (attempt, expected) in [(1, 303), (2, 400)] {
        let tablet = browser(&server);
        sign_in(&tablet, &server, "ada@example.test", PASSWORD);
        let form = text(tablet.get(server.url("/login/2fa")).send().unwrap());
        let res = tablet
            .post(server.url("/login/2fa"))
            .form(&[
                ("csrf", csrf(&form).as_str()),
                ("code", codes[0].to_uppercase().as_str()),
            ])
            .send()
            .unwrap();
        let status = res.status();
        assert_eq!(
            status,
            expected,
            "recovery code attempt {attempt}: {}",
            text(res)
        );
    }

    let page = text(http.get(server.url("/dashboard/security")).send().unwrap());
    let res = http
        .post(server.url("/dashboard/security/2fa/disable"))
        .form(&[("csrf", csrf(&page).as_str()), ("password", PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(count(&server, "SELECT count(*) FROM recovery_codes"), 0);
    let laptop = browser(&server);
    let res = sign_in(&laptop, &server, "ada@example.test", PASSWORD);
    let (status, to) = (res.status(), location(&res));
    assert_eq!(to, "/dashboard", "{status}: {}", text(res));
}

/// Turns two-factor sign-in on for the signed-in `http`; returns the secret.
fn turn_on_two_factor(server: &Server, http: &Client) -> String {
    let setup = two_factor_setup_page(server, http);
    let start = setup.find("id=\"totp-secret\">").unwrap() + 17;
    let secret = setup[start..start + 32].to_owned();
    let res = http
        .post(server.url("/dashboard/security/2fa"))
        .form(&[
            ("csrf", csrf(&setup).as_str()),
            ("code", totp_code_at(&secret, now_secs()).as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    secret
}

#[test]
fn parallel_guesses_at_a_second_factor_are_counted_before_they_are_checked() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    turn_on_two_factor(&server, &http);

    let thief = browser(&server);
    sign_in(&thief, &server, "ada@example.test", PASSWORD);
    let form = text(thief.get(server.url("/login/2fa")).send().unwrap());
    let token = csrf(&form);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..40)
            .map(|i| {
                let (thief, token, server) = (&thief, &token, &server);
                scope.spawn(move || {
                    let guess = format!("{:06}", 100_000 + i);
                    thief
                        .post(server.url("/login/2fa"))
                        .form(&[("csrf", token.as_str()), ("code", guess.as_str())])
                        .send()
                        .unwrap()
                        .status()
                        .as_u16()
                })
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 400).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 40, "{statuses:?}");
    // Five free failures, and the one that locks the account.
    assert!(checked <= 6, "{checked} guesses were checked: {statuses:?}");
}

#[test]
fn an_old_sign_in_confirms_the_password_before_new_keys_and_two_factor() {
    let smtp = SmtpServer::start();
    // Every sign-in counts as old.
    let server = Server::start(&config_with_smtp(
        &smtp,
        "[accounts]\nreauthenticate_after_secs = 0\n",
    ));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    std::thread::sleep(Duration::from_millis(5));

    let page = text(http.get(server.url("/dashboard/keys")).send().unwrap());
    assert!(page.contains("confirm it is you"), "the form asks for it");
    let res = create_key(&http, &server, &[("name", "stolen")]);
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("Enter your password"));
    let res = create_key(
        &http,
        &server,
        &[("name", "stolen"), ("password", "wrong-password-1")],
    );
    assert_eq!(res.status(), 400);
    assert_eq!(count(&server, "SELECT count(*) FROM api_keys"), 0);
    let res = create_key(&http, &server, &[("name", "mine"), ("password", PASSWORD)]);
    assert_eq!(res.status(), 200);
    assert_eq!(count(&server, "SELECT count(*) FROM api_keys"), 1);
    mail_about(&smtp, "ada@example.test", "new api key");

    let setup = two_factor_setup_page(&server, &http);
    let start = setup.find("id=\"totp-secret\">").unwrap() + 17;
    let secret = setup[start..start + 32].to_owned();
    let code = totp_code_at(&secret, now_secs());
    let turn_on = |password: &str| {
        http.post(server.url("/dashboard/security/2fa"))
            .form(&[
                ("csrf", csrf(&setup).as_str()),
                ("code", code.as_str()),
                ("password", password),
            ])
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(turn_on(""), 400);
    assert_eq!(count(&server, "SELECT count(*) FROM recovery_codes"), 0);
    assert_eq!(turn_on(PASSWORD), 200);
    assert_eq!(count(&server, "SELECT count(*) FROM recovery_codes"), 10);
}

#[test]
fn mail_on_request_is_limited_and_carries_no_text_the_asker_chose() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = browser(&server);
    let spam = "Win a prize at evil.example";
    let res = sign_up(&http, &server, spam, "victim@example.test", PASSWORD);
    assert_eq!(res.status(), 200);
    let first = smtp.wait_for_mail("victim@example.test", MAIL_WAIT);
    assert!(!first.text.contains("evil.example"), "{}", first.text);
    assert!(!first.html.contains("evil.example"));
    assert_eq!(
        sign_in(&http, &server, "victim@example.test", PASSWORD).status(),
        303
    );

    let page = text(http.get(server.url("/dashboard")).send().unwrap());
    let token = csrf(&page);
    let statuses: Vec<u16> = (0..10)
        .map(|_| {
            http.post(server.url("/dashboard/verify/resend"))
                .form(&[("csrf", token.as_str())])
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    let sent = statuses.iter().filter(|s| **s != 429).count();
    assert!(sent <= 6, "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    std::thread::sleep(Duration::from_secs(2));
    let mails = smtp.received_for("victim@example.test");
    assert_eq!(
        mails.len(),
        1 + sent,
        "the sign-up's mail and each one let through"
    );

    // The forgotten-password form counts against the address too, whoever asks.
    let stranger = browser(&server);
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            stranger
                .post(server.url("/forgot"))
                .form(&[("email", "victim@example.test")])
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
}

/// Starts setting up two-factor sign-in and returns the page with the secret to scan. Only the
/// start (a POST) makes a secret; looking at the page changes nothing.
fn two_factor_setup_page(server: &Server, http: &Client) -> String {
    let before = text(
        http.get(server.url("/dashboard/security/2fa"))
            .send()
            .unwrap(),
    );
    assert!(
        !before.contains("totp-secret"),
        "no secret before the start"
    );
    let secrets = "SELECT count(*) FROM users WHERE totp_secret IS NOT NULL";
    assert_eq!(count(server, secrets), 0, "looking changed nothing");
    let res = http
        .post(server.url("/dashboard/security/2fa/start"))
        .form(&[("csrf", csrf(&before).as_str())])
        .send()
        .unwrap();
    assert_eq!(location(&res), "/dashboard/security/2fa");
    text(
        http.get(server.url("/dashboard/security/2fa"))
            .send()
            .unwrap(),
    )
}

#[test]
fn signed_in_pages_are_kept_by_no_cache() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    for path in [
        "/dashboard",
        "/dashboard/keys",
        "/dashboard/usage",
        "/dashboard/billing",
        "/dashboard/security",
        "/dashboard/profile",
    ] {
        let res = http.get(server.url(path)).send().unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    }
    let public = http.get(server.url("/pricing")).send().unwrap();
    assert_ne!(
        public
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

#[test]
fn a_session_cannot_be_used_to_guess_the_password() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let http = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    let page = text(http.get(server.url("/dashboard/profile")).send().unwrap());
    let token = csrf(&page);
    let statuses: Vec<u16> = (0..8)
        .map(|i| {
            http.post(server.url("/dashboard/profile/email"))
                .form(&[
                    ("csrf", token.as_str()),
                    ("email", "new@example.test"),
                    ("password", format!("guess-number-{i}").as_str()),
                ])
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert_eq!(&statuses[..6], [400; 6], "{statuses:?}");
    assert_eq!(&statuses[6..], [429; 2], "{statuses:?}");
    // The same lock guards signing in: guesses through the profile count there too.
    let other = browser(&server);
    assert_eq!(
        sign_in(&other, &server, "ada@example.test", PASSWORD).status(),
        429
    );
}

#[test]
fn sessions_resist_fixation_reuse_and_another_users_hands() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let ada = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    let _eve = confirmed_user(&server, &smtp, "Eve", "eve@example.test");

    // Eve cannot end Ada's session by its id.
    let ada_session: String = db(&server)
        .query_row(
            "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE u.email = 'ada@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let eve = browser(&server);
    sign_in(&eve, &server, "eve@example.test", PASSWORD);
    let page = text(eve.get(server.url("/dashboard/security")).send().unwrap());
    let res = eve
        .post(server.url(&format!("/dashboard/sessions/{ada_session}/revoke")))
        .form(&[("csrf", csrf(&page))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(
        ada.get(server.url("/dashboard")).send().unwrap().status(),
        200,
        "Ada is still signed in"
    );

    // A session token planted before the sign-in is not the one used after it.
    let planted = "a".repeat(64);
    let raw = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = raw
        .post(server.url("/login"))
        .header("cookie", format!("codexapi_session={planted}"))
        .header("origin", &server.base)
        .form(&[("email", "ada@example.test"), ("password", PASSWORD)])
        .send()
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.contains(&planted), "{cookie}");
    let token = cookie_value(&cookie);

    // After signing out, the old token opens nothing.
    let with = |token: &str| {
        raw.get(server.url("/dashboard"))
            .header("cookie", format!("codexapi_session={token}"))
            .send()
            .unwrap()
    };
    assert_eq!(with(&token).status(), 200);
    let page = with(&token).text().unwrap();
    let res = raw
        .post(server.url("/logout"))
        .header("cookie", format!("codexapi_session={token}"))
        .header("origin", &server.base)
        .form(&[("csrf", csrf(&page))])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303);
    let res = with(&token);
    assert_eq!(res.status(), 303);
    assert!(location(&res).starts_with("/login"));
}

#[test]
fn emailed_links_ignore_the_host_header() {
    let smtp = SmtpServer::start();
    let server = Server::start(&config_with_smtp(&smtp, ""));
    let _ada = confirmed_user(&server, &smtp, "Ada", "ada@example.test");
    let res = browser(&server)
        .post(server.url("/forgot"))
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .form(&[("email", "ada@example.test")])
        .send()
        .unwrap();
    assert!(res.status().is_success() || res.status().is_redirection());
    let mail = mail_about(&smtp, "ada@example.test", "reset");
    assert!(!mail.text.contains("evil.example"), "{}", mail.text);
    assert!(
        mail.text.contains(&format!("{}/reset?token=", server.base)),
        "{}",
        mail.text
    );
}

/// The value of a `Set-Cookie` header's cookie.
fn cookie_value(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or_default();
    pair.split_once('=')
        .map(|(_, v)| v.to_owned())
        .unwrap_or_default()
}
