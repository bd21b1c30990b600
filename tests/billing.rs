//! Billing through the real binary: top-ups via the dashboard and a fake Stripe, signed webhooks
//! (replays, forgeries, stale signatures, unknown types, delayed payments, refunds, disputes),
//! receipts by mail and on a page, the CSV export, codes and the low-balance warning.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::time::{Duration, Instant};

use common::smtp::SmtpServer;
use common::stripe::FakeStripe;
use common::upstream::FakeUpstream;
use common::{Server, run};
use reqwest::blocking::{Client, Response};
use rusqlite::Connection;
use serde_json::{Value, json};

use common::{csrf, location, text};
const MAIL_WAIT: Duration = Duration::from_secs(15);

fn stripe_config(fake: &FakeStripe) -> String {
    format!(
        "[stripe]\nsecret_key = \"{}\"\nwebhook_secret = \"{}\"\napi_base = \"{}\"\n\n\
         [billing]\ntopup_presets = [\"10\", \"25\"]\ntopup_min = \"5\"\ntopup_max = \"500\"\n\n",
        fake.secret_key, fake.webhook_secret, fake.base
    )
}

fn smtp_config(smtp: &SmtpServer) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"none\"\nfrom = \"Test Gateway <noreply@gateway.test>\"\nretry_secs = 1\n\n",
        smtp.port
    )
}

/// A server with Stripe pointed at the fake, and the fake's webhooks pointed at the server.
fn start(fake: &FakeStripe, extra: &str) -> Server {
    let server = Server::start(&format!("{}{extra}", stripe_config(fake)));
    fake.set_webhook_url(&server.url("/stripe/webhook"));
    server
}

/// A confirmed account with 100 of credit, signed in.
fn signed_in(server: &Server, email: &str) -> Client {
    common::user_with_key(server, email);
    common::signed_in(server, email)
}

fn billing_page(http: &Client, server: &Server) -> String {
    let res = http.get(server.url("/dashboard/billing")).send().unwrap();
    assert_eq!(res.status(), 200);
    text(res)
}

/// Posts a dashboard form with the page's CSRF token.
fn post_form(http: &Client, server: &Server, path: &str, fields: &[(&str, &str)]) -> Response {
    let token = csrf(&billing_page(http, server));
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    http.post(server.url(path)).form(&form).send().unwrap()
}

/// Starts a top-up of `amount` from the dashboard; returns the fake's checkout session id.
fn top_up(http: &Client, server: &Server, fake: &FakeStripe, amount: &str) -> String {
    let res = post_form(
        http,
        server,
        "/dashboard/billing/topup",
        &[("amount", amount)],
    );
    assert_eq!(res.status(), 303, "{}", text(res));
    let url = location(&res);
    let prefix = format!("{}/pay/", fake.base);
    assert!(url.starts_with(&prefix), "{url}");
    url[prefix.len()..].to_owned()
}

fn db(server: &Server) -> Connection {
    Connection::open(server.db_path()).unwrap()
}

fn balance(server: &Server, email: &str) -> i64 {
    db(server)
        .query_row("SELECT balance FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .unwrap()
}

fn user_id(server: &Server, email: &str) -> String {
    db(server)
        .query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .unwrap()
}

fn count(server: &Server, sql: &str) -> i64 {
    db(server).query_row(sql, [], |r| r.get(0)).unwrap()
}

/// (status, amount, refunded, disputed) of the payment with this session.
fn payment(server: &Server, session_id: &str) -> (String, i64, i64, i64) {
    db(server)
        .query_row(
            "SELECT status, amount, refunded, disputed FROM payments WHERE session_id = ?1",
            [session_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

/// (kind, amount, reference) of the account's ledger rows, oldest first.
fn ledger(server: &Server, email: &str) -> Vec<(String, i64, Option<String>)> {
    let conn = db(server);
    let mut stmt = conn
        .prepare(
            "SELECT kind, amount, reference FROM ledger
             WHERE user_id = (SELECT id FROM users WHERE email = ?1) ORDER BY id",
        )
        .unwrap();
    stmt.query_map([email], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

const UNIT: i64 = 1_000_000;

/// A Checkout Session object as Stripe sends it in events, for hand-made events.
fn session_object(fake: &FakeStripe, session_id: &str, payment_status: &str) -> Value {
    let s = fake.session(session_id);
    json!({
        "id": s.id,
        "object": "checkout.session",
        "amount_subtotal": s.amount,
        "amount_total": s.amount,
        "client_reference_id": s.client_reference_id,
        "currency": s.currency,
        "customer": null,
        "livemode": false,
        "metadata": {"payment_id": s.payment_id},
        "mode": "payment",
        "payment_intent": "pi_3HandMade",
        "payment_status": payment_status,
        "status": "complete",
    })
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_card_top_up_is_credited_once_by_the_webhook_with_a_receipt() {
    let fake = FakeStripe::start();
    let smtp = SmtpServer::start();
    let server = start(&fake, &smtp_config(&smtp));
    let ada = signed_in(&server, "ada@example.test");
    // Browsers check the redirect after a form against `form-action`: Stripe's page is allowed.
    let res = ada.get(server.url("/dashboard/billing")).send().unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' {};", fake.base)),
        "{csp}"
    );
    let page = billing_page(&ada, &server);
    assert!(page.contains("$100.00"), "{page}");
    assert!(
        page.contains("value=\"10.00\"") && page.contains("$25.00"),
        "{page}"
    );

    let session_id = top_up(&ada, &server, &fake, "25.00");
    let session = fake.session(&session_id);
    let (payment_id, status): (String, String) = db(&server)
        .query_row(
            "SELECT id, status FROM payments WHERE session_id = ?1",
            [&session_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(status, "open");
    assert_eq!(session.amount, 2500);
    assert_eq!(session.currency, "usd");
    assert_eq!(session.payment_id, payment_id);
    assert_eq!(
        session.idempotency_key.as_deref(),
        Some(payment_id.as_str())
    );
    assert_eq!(
        session.client_reference_id,
        user_id(&server, "ada@example.test")
    );
    assert_eq!(session.customer_email.as_deref(), Some("ada@example.test"));
    assert_eq!(
        session.success_url,
        server.url("/dashboard/billing/topup/done?session_id={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(
        session.cancel_url,
        server.url("/dashboard/billing/topup/cancelled")
    );

    // Coming back from the payment page without paying credits nothing.
    let done = format!("/dashboard/billing/topup/done?session_id={session_id}");
    let res = ada.get(server.url(&done)).send().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["refresh"], "3");
    let html = text(res);
    assert!(html.contains("Confirming your payment"), "{html}");
    assert_eq!(balance(&server, "ada@example.test"), 100 * UNIT);

    fake.pay(&session_id);
    assert_eq!(balance(&server, "ada@example.test"), 125 * UNIT);
    assert_eq!(payment(&server, &session_id).0, "paid");
    let rows = ledger(&server, "ada@example.test");
    assert_eq!(
        rows.last().unwrap(),
        &("topup".to_owned(), 25 * UNIT, Some(payment_id.clone()))
    );
    let res = ada.get(server.url(&done)).send().unwrap();
    assert!(res.headers().get("refresh").is_none());
    let html = text(res);
    assert!(html.contains("Payment received"), "{html}");

    let mail = smtp.wait_for_mail("ada@example.test", MAIL_WAIT);
    assert_eq!(mail.subject, "Payment received: $25.00");
    assert!(mail.text.contains("$125.00"), "{}", mail.text);
    let receipt_path = format!("/dashboard/billing/receipts/{payment_id}");
    assert!(
        mail.text.contains(&server.url(&receipt_path)),
        "{}",
        mail.text
    );

    let res = ada.get(server.url(&receipt_path)).send().unwrap();
    assert_eq!(res.status(), 200);
    let html = text(res);
    assert!(
        html.contains("Receipt") && html.contains(&payment_id) && html.contains("$25.00"),
        "{html}"
    );
    let page = billing_page(&ada, &server);
    assert!(page.contains(&receipt_path) && page.contains("$125.00"));

    // The same payment through other deliveries: a replayed event and a second, differently
    // numbered completion. Neither credits again.
    let (event_id, body) = fake.event_body(
        "checkout.session.completed",
        session_object(&fake, &session_id, "paid"),
    );
    for _ in 0..2 {
        let (status, _) = fake.deliver(&body);
        assert_eq!(status, 200);
    }
    assert_eq!(balance(&server, "ada@example.test"), 125 * UNIT);
    assert_eq!(
        count(
            &server,
            &format!("SELECT count(*) FROM stripe_events WHERE id = '{event_id}'")
        ),
        1
    );
    assert_eq!(smtp.received_for("ada@example.test").len(), 1);

    // Another account sees none of it.
    let bob = signed_in(&server, "bob@example.test");
    assert_eq!(
        bob.get(server.url(&receipt_path)).send().unwrap().status(),
        404
    );
    assert_eq!(bob.get(server.url(&done)).send().unwrap().status(), 404);
    assert!(!billing_page(&bob, &server).contains(&payment_id));
    let cancelled = bob
        .get(server.url("/dashboard/billing/topup/cancelled"))
        .send()
        .unwrap();
    assert!(text(cancelled).contains("Nothing was charged"));
}

#[test]
fn forged_stale_and_unknown_webhooks_change_nothing() {
    let fake = FakeStripe::start();
    let server = start(&fake, "");
    let ada = signed_in(&server, "ada@example.test");
    let session_id = top_up(&ada, &server, &fake, "10");
    let (_, body) = fake.event_body(
        "checkout.session.completed",
        session_object(&fake, &session_id, "paid"),
    );

    let forged = codexapi::billing::stripe::sign(body.as_bytes(), "whsec_forged", now_secs());
    let stale =
        codexapi::billing::stripe::sign(body.as_bytes(), &fake.webhook_secret, now_secs() - 3600);
    for signature in [forged.as_str(), stale.as_str(), "t=1", ""] {
        let (status, answer) = fake.deliver_with_signature(&body, signature);
        assert_eq!(status, 400, "{signature}: {answer}");
    }
    // A body changed after signing fails too.
    let signature =
        codexapi::billing::stripe::sign(body.as_bytes(), &fake.webhook_secret, now_secs());
    let tampered = body.replace("\"amount_total\": 1000", "\"amount_total\": 99000");
    assert_ne!(tampered, body);
    assert_eq!(fake.deliver_with_signature(&tampered, &signature).0, 400);
    assert_eq!(count(&server, "SELECT count(*) FROM stripe_events"), 0);
    assert_eq!(balance(&server, "ada@example.test"), 100 * UNIT);
    assert_eq!(payment(&server, &session_id).0, "open");
    let log = server.log();
    assert!(!log.contains("amount_total"), "the body is never logged");

    // A correctly signed event of a type we do not act on.
    let (id, other) = fake.event_body(
        "customer.created",
        json!({"id": "cus_1", "object": "customer"}),
    );
    assert_eq!(fake.deliver(&other).0, 200);
    assert_eq!(
        count(
            &server,
            &format!(
                "SELECT count(*) FROM stripe_events WHERE id = '{id}' AND type = 'customer.created'"
            )
        ),
        1
    );
    // A paid session that is not ours: recorded, answered 200, nothing credited.
    let mut stranger = session_object(&fake, &session_id, "paid");
    stranger["id"] = json!("cs_test_unknown");
    stranger["metadata"] = json!({"payment_id": "nope"});
    assert_eq!(
        fake.deliver(&fake.event_body("checkout.session.completed", stranger).1)
            .0,
        200
    );
    // A session whose client reference is another account: flagged, not credited.
    let mut hijack = session_object(&fake, &session_id, "paid");
    hijack["client_reference_id"] = json!("someone-else");
    assert_eq!(
        fake.deliver(&fake.event_body("checkout.session.completed", hijack).1)
            .0,
        200
    );
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM flags WHERE kind = 'payment_mismatch'"
        ),
        1
    );
    assert_eq!(balance(&server, "ada@example.test"), 100 * UNIT);
    assert_eq!(payment(&server, &session_id).0, "open");
    assert_eq!(
        count(&server, "SELECT count(*) FROM ledger WHERE kind = 'topup'"),
        0
    );

    // Stripe sends no Origin header: nothing was refused by the origin check (403).
    assert!(
        fake.deliveries()
            .iter()
            .all(|(_, s)| *s == 200 || *s == 400)
    );
}

#[test]
fn delayed_payments_are_credited_only_when_they_settle() {
    let fake = FakeStripe::start();
    let server = start(&fake, "");
    let ada = signed_in(&server, "ada@example.test");
    let won = top_up(&ada, &server, &fake, "30");
    let lost = top_up(&ada, &server, &fake, "20");

    fake.pay_async(&won);
    fake.pay_async(&lost);
    assert_eq!(balance(&server, "ada@example.test"), 100 * UNIT);
    assert_eq!(payment(&server, &won).0, "open");

    fake.settle_async(&won, true);
    fake.settle_async(&lost, false);
    assert_eq!(balance(&server, "ada@example.test"), 130 * UNIT);
    assert_eq!(payment(&server, &won).0, "paid");
    assert_eq!(payment(&server, &lost).0, "failed");

    // A late `completed` for the settled payment, under a new event id, credits nothing more.
    let (_, body) = fake.event_body(
        "checkout.session.completed",
        session_object(&fake, &won, "paid"),
    );
    assert_eq!(fake.deliver(&body).0, 200);
    assert_eq!(balance(&server, "ada@example.test"), 130 * UNIT);

    let res = ada
        .get(server.url(&format!("/dashboard/billing/topup/done?session_id={lost}")))
        .send()
        .unwrap();
    assert!(text(res).contains("did not go through"));

    // A checkout left unpaid until Stripe closes it ends as expired and credits nothing.
    let abandoned = top_up(&ada, &server, &fake, "15");
    fake.expire(&abandoned);
    assert_eq!(payment(&server, &abandoned).0, "expired");
    assert_eq!(balance(&server, "ada@example.test"), 130 * UNIT);
    assert!(billing_page(&ada, &server).contains("Expired"));
    assert!(fake.deliveries().iter().all(|(_, s)| *s == 200));
}

#[test]
fn refunds_debit_exactly_what_was_refunded_and_disputes_are_flagged() {
    let fake = FakeStripe::start();
    let server = start(&fake, "");
    let ada = signed_in(&server, "ada@example.test");
    let session_id = top_up(&ada, &server, &fake, "50");
    fake.pay(&session_id);
    assert_eq!(balance(&server, "ada@example.test"), 150 * UNIT);

    fake.refund(&session_id, 1000);
    assert_eq!(balance(&server, "ada@example.test"), 140 * UNIT);
    assert_eq!(
        payment(&server, &session_id),
        ("partially_refunded".to_owned(), 50 * UNIT, 10 * UNIT, 0)
    );
    fake.refund(&session_id, 250);
    assert_eq!(balance(&server, "ada@example.test"), 137_500_000);

    // Spend most of the wallet, then refund the rest of the payment: the balance goes below zero.
    let config = server.config_path();
    let (status, _, stderr) = run(
        server.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "wallet",
            "adjust",
            "--user",
            "ada@example.test",
            "--amount=-120",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    fake.refund(&session_id, 3750);
    assert_eq!(balance(&server, "ada@example.test"), -20 * UNIT);
    assert_eq!(
        payment(&server, &session_id),
        ("refunded".to_owned(), 50 * UNIT, 50 * UNIT, 0)
    );
    let refunds: Vec<i64> = ledger(&server, "ada@example.test")
        .into_iter()
        .filter(|(kind, _, _)| kind == "refund")
        .map(|(_, amount, _)| amount)
        .collect();
    assert_eq!(refunds, vec![-10 * UNIT, -2_500_000, -37_500_000]);
    let page = billing_page(&ada, &server);
    assert!(page.contains("-$20.00"), "{page}");
    assert!(page.contains("below zero"), "{page}");
    assert!(page.contains("Refunded"), "{page}");

    fake.dispute(&session_id);
    assert_eq!(payment(&server, &session_id).3, 1);
    let (kind, detail, owner): (String, String, String) = db(&server)
        .query_row("SELECT kind, detail, user_id FROM flags", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(kind, "dispute");
    assert!(detail.contains("fraudulent"), "{detail}");
    assert_eq!(owner, user_id(&server, "ada@example.test"));
    assert_eq!(balance(&server, "ada@example.test"), -20 * UNIT);
    assert!(fake.deliveries().iter().all(|(_, s)| *s == 200));

    // The admin sees the flag; the account holder does not get to the page.
    let op = common::admin(&server, "op@example.test");
    let flags = text(op.get(server.url("/admin/flags")).send().unwrap());
    assert!(flags.contains("ada@example.test"), "{flags}");
    assert!(flags.contains("dispute"), "{flags}");
    assert!(flags.contains("fraudulent"), "{flags}");
    assert_eq!(
        ada.get(server.url("/admin/flags")).send().unwrap().status(),
        404
    );
}

#[test]
fn custom_amounts_must_be_within_bounds_and_nothing_is_made_otherwise() {
    let fake = FakeStripe::start();
    let server = start(&fake, "");
    let ada = signed_in(&server, "ada@example.test");
    for bad in ["4.99", "500.01", "abc", "", "10.001", "-5"] {
        let res = post_form(
            &ada,
            &server,
            "/dashboard/billing/topup",
            &[("amount", bad)],
        );
        assert_eq!(res.status(), 400, "{bad}");
        let html = text(res);
        assert!(html.contains("notice-error"), "{bad}: {html}");
    }
    assert_eq!(count(&server, "SELECT count(*) FROM payments"), 0);
    assert!(fake.sessions().is_empty());

    let session_id = top_up(&ada, &server, &fake, "12.34");
    assert_eq!(fake.session(&session_id).amount, 1234);
    top_up(&ada, &server, &fake, "5");
    top_up(&ada, &server, &fake, "500");
    assert_eq!(count(&server, "SELECT count(*) FROM payments"), 3);

    // Without the page's CSRF token nothing happens.
    let res = ada
        .post(server.url("/dashboard/billing/topup"))
        .form(&[("csrf", "wrong"), ("amount", "10")])
        .send()
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(count(&server, "SELECT count(*) FROM payments"), 3);
}

#[test]
fn stripe_errors_become_a_message_and_a_log_line_without_secrets() {
    let fake = FakeStripe::start();
    let server = Server::start(&format!(
        "[stripe]\nsecret_key = \"sk_test_not_the_right_one_1234\"\nwebhook_secret = \"whsec_x\"\napi_base = \"{}\"\n",
        fake.base
    ));
    let ada = signed_in(&server, "ada@example.test");
    let res = post_form(
        &ada,
        &server,
        "/dashboard/billing/topup",
        &[("amount", "10")],
    );
    assert_eq!(res.status(), 502);
    let html = text(res);
    assert!(html.contains("could not be opened"), "{html}");
    assert!(server.wait_for_log(
        "Stripe checkout could not be started",
        Duration::from_secs(5)
    ));
    assert!(!server.log().contains("sk_test_not_the_right_one_1234"));
    assert_eq!(
        count(
            &server,
            "SELECT count(*) FROM payments WHERE status = 'failed'"
        ),
        1
    );
    assert!(!billing_page(&ada, &server).contains("Failed"));
}

fn decimal_micros(text: &str) -> i64 {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let frac = format!("{frac:0<6}");
    sign * (whole.parse::<i64>().unwrap() * UNIT + frac.parse::<i64>().unwrap())
}

#[test]
fn codes_warnings_and_the_csv_export() {
    let up = FakeUpstream::start();
    let smtp = SmtpServer::start();
    let server = Server::start(&format!(
        "{}[[providers]]\nname = \"compat\"\nkind = \"openai_compatible\"\nbase_url = \"{}\"\napi_key = \"k\"\n\n\
         [[models]]\nid = \"chat-model\"\nroutes = [{{ provider = \"compat\", model = \"upstream-chat\" }}]\nprice = {{ input = 1000, output = 1000 }}\n",
        smtp_config(&smtp),
        up.base
    ));
    let email = "ada@example.test";
    let ada = signed_in(&server, email);
    let config = server.config_path();
    let (status, code, stderr) = run(
        server.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "code",
            "create",
            "--amount",
            "2.50",
            "--uses",
            "5",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let code = code
        .split_whitespace()
        .find(|w| w.starts_with("CX-"))
        .unwrap_or_else(|| panic!("no code in {code}"))
        .to_owned();

    let res = post_form(
        &ada,
        &server,
        "/dashboard/billing/redeem",
        &[("code", &code)],
    );
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), "/dashboard/billing?notice=redeemed");
    assert_eq!(balance(&server, email), 102_500_000);
    let res = post_form(
        &ada,
        &server,
        "/dashboard/billing/redeem",
        &[("code", &code)],
    );
    assert_eq!(res.status(), 400);
    assert!(text(res).contains("already redeemed"));
    // Guessing is slowed down after a few misses.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let res = post_form(
            &ada,
            &server,
            "/dashboard/billing/redeem",
            &[("code", "CX-GUESS")],
        );
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![400, 400, 400, 400, 400, 429], "{statuses:?}");
    assert_eq!(balance(&server, email), 102_500_000);

    // The warning: a bad threshold is refused, a good one saved, then crossed by one request.
    let res = post_form(
        &ada,
        &server,
        "/dashboard/billing/alert",
        &[("threshold", "lots")],
    );
    assert_eq!(res.status(), 400);
    let res = post_form(
        &ada,
        &server,
        "/dashboard/billing/alert",
        &[("threshold", "102.50")],
    );
    assert_eq!(res.status(), 303);
    assert!(billing_page(&ada, &server).contains("below <strong>$102.50</strong>"));
    // Ada's own key: made by the command line for her account.
    let (status, ada_key, stderr) = run(
        server.dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "key",
            "create",
            "--user",
            email,
            "--name",
            "k2",
        ],
        &[],
    );
    assert!(status.success(), "{stderr}");
    let res = common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(ada_key.trim())
        .json(&json!({"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(balance(&server, email) < 102_500_000);
    let deadline = Instant::now() + MAIL_WAIT;
    let warning = loop {
        if let Some(mail) = smtp
            .received_for(email)
            .into_iter()
            .find(|m| m.subject.starts_with("Your balance is low"))
        {
            break mail;
        }
        assert!(Instant::now() < deadline, "no low-balance mail");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(warning.text.contains("$102.50"), "{}", warning.text);
    let res = post_form(&ada, &server, "/dashboard/billing/alert", &[("off", "1")]);
    assert_eq!(location(&res), "/dashboard/billing?notice=alert-off");

    // The export holds every ledger row, newest first, with exact amounts.
    let res = ada
        .get(server.url("/dashboard/billing/transactions.csv"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let rows = common::parse_csv(&res.text().unwrap());
    assert_eq!(
        rows[0],
        [
            "date",
            "kind",
            "amount",
            "balance_after",
            "currency",
            "reference",
            "note"
        ]
    );
    let conn = db(&server);
    let mut stmt = conn
        .prepare(
            "SELECT kind, amount, balance_after, coalesce(reference, '') FROM ledger
             WHERE user_id = (SELECT id FROM users WHERE email = ?1) ORDER BY id DESC",
        )
        .unwrap();
    let expected: Vec<(String, i64, i64, String)> = stmt
        .query_map([email], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let exported: Vec<(String, i64, i64, String)> = rows[1..]
        .iter()
        .map(|r| {
            assert_eq!(r.len(), 7, "{r:?}");
            assert_eq!(r[4], "USD");
            (
                r[1].clone(),
                decimal_micros(&r[2]),
                decimal_micros(&r[3]),
                r[5].clone(),
            )
        })
        .collect();
    assert_eq!(exported, expected);
    assert!(expected.iter().any(|(kind, ..)| kind == "usage"));
    assert!(expected.iter().any(|(kind, ..)| kind == "redemption"));

    // Another account's export holds only its own rows.
    let other = signed_in(&server, "bob@example.test");
    let theirs = common::parse_csv(
        &other
            .get(server.url("/dashboard/billing/transactions.csv"))
            .send()
            .unwrap()
            .text()
            .unwrap(),
    );
    assert_eq!(theirs.len(), 2, "{theirs:?}");
}

#[test]
fn budget_accounts_see_their_cap_instead_of_top_ups() {
    let server = Server::start(
        "[billing]\nmode = \"budget\"\n\n[[tiers]]\nname = \"default\"\nmonthly_spend_cap = \"40\"\n",
    );
    let ada = signed_in(&server, "ada@example.test");
    let page = billing_page(&ada, &server);
    assert!(page.contains("Spent this month"), "{page}");
    assert!(page.contains("$40.00"), "{page}");
    assert!(!page.contains("Add credit"), "{page}");
    let res = post_form(
        &ada,
        &server,
        "/dashboard/billing/topup",
        &[("amount", "10")],
    );
    assert_eq!(res.status(), 404);
    // Without Stripe the webhook does not exist.
    let res = common::client()
        .post(server.url("/stripe/webhook"))
        .body("{}")
        .send()
        .unwrap();
    assert_eq!(res.status(), 404);
}
