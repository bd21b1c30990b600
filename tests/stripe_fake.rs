//! The fake Stripe against the real Stripe module: sessions made with `StripeClient`, webhooks
//! that `verify_signature` and `parse_event` accept, and the payment page's redirect.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use codexapi::billing::stripe::{
    CheckoutRequest, CheckoutSession, Event, EventKind, StripeClient, StripeError, parse_event,
    verify_signature,
};
use common::stripe::FakeStripe;

/// A webhook as the receiver got it: the `Stripe-Signature` header and the raw body.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Stands in for the server's webhook endpoint: records every delivery and answers 400 to a bad
/// signature or an unreadable event, 200 otherwise.
struct Receiver {
    url: String,
    received: Received,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start(secret: &str) -> Receiver {
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let state = received.clone();
        let secret = secret.to_owned();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(state.clone()))
                        .app_data(web::Data::new(secret.clone()))
                        .route("/stripe/webhook", web::post().to(receive))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind receiver");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).expect("send address");
                let _ = server.await;
            });
        });
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver started");
        Receiver {
            url: format!("http://{addr}/stripe/webhook"),
            received,
            handle,
        }
    }

    fn received(&self) -> Vec<(String, Vec<u8>)> {
        self.received.lock().unwrap().clone()
    }

    /// The last delivery, checked as the server would check it.
    fn last_event(&self, secret: &str) -> Event {
        let (signature, body) = self.received().pop().expect("a webhook arrived");
        verify_signature(&signature, &body, secret, now(), 300).expect("signature verifies");
        parse_event(&body).expect("event parses")
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = futures_util::FutureExt::now_or_never(self.handle.stop(false));
    }
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    received: web::Data<Received>,
    secret: web::Data<String>,
) -> HttpResponse {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    received
        .lock()
        .unwrap()
        .push((signature.clone(), body.to_vec()));
    if let Err(e) = verify_signature(&signature, &body, &secret, now(), 300) {
        return HttpResponse::BadRequest().body(e.to_string());
    }
    match parse_event(&body) {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"received": true})),
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn stripe_client(fake: &FakeStripe, key: &str) -> StripeClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    StripeClient::new(reqwest::Client::new(), &fake.base, key)
}

const SUCCESS: &str = "https://codexapi.test/billing/done?session={CHECKOUT_SESSION_ID}&x=1";

fn request<'a>(payment_id: &'a str, currency: &'a str, amount: i64) -> CheckoutRequest<'a> {
    CheckoutRequest {
        amount_minor: amount,
        currency,
        product_name: "CodexAPI credit",
        success_url: SUCCESS,
        cancel_url: "https://codexapi.test/billing?cancelled=1",
        client_reference_id: "user-42",
        customer_email: Some("dev@example.com"),
        payment_id,
        idempotency_key: payment_id,
    }
}

fn create(fake: &FakeStripe, req: &CheckoutRequest<'_>) -> CheckoutSession {
    block_on(stripe_client(fake, &fake.secret_key).create_checkout_session(req))
        .expect("session created")
}

fn setup() -> (FakeStripe, Receiver) {
    let fake = FakeStripe::start();
    let receiver = Receiver::start(&fake.webhook_secret);
    fake.set_webhook_url(&receiver.url);
    (fake, receiver)
}

#[test]
fn checkout_payment_refunds_and_dispute_reach_the_webhook() {
    let (fake, receiver) = setup();
    let session = create(&fake, &request("pay_1", "USD", 2500));
    assert!(session.id.starts_with("cs_test_"), "{}", session.id);
    assert_eq!(session.url, format!("{}/pay/{}", fake.base, session.id));
    assert_eq!(session.payment_intent, None);

    let seen = fake.session(&session.id);
    assert_eq!(seen.amount, 2500);
    assert_eq!(seen.currency, "usd");
    assert_eq!(seen.product_name, "CodexAPI credit");
    assert_eq!(seen.success_url, SUCCESS);
    assert_eq!(seen.client_reference_id, "user-42");
    assert_eq!(seen.customer_email.as_deref(), Some("dev@example.com"));
    assert_eq!(seen.payment_id, "pay_1");
    assert_eq!(seen.intent_payment_id, "pay_1");
    assert_eq!(seen.idempotency_key.as_deref(), Some("pay_1"));
    assert_eq!(seen.stripe_version.as_deref(), Some("2024-06-20"));

    // The browser's way through the payment page.
    let browser = common::client();
    let page = browser.get(&session.url).send().unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().unwrap();
    assert!(
        html.contains("<title>Fake Stripe Checkout</title>"),
        "{html}"
    );
    assert!(html.contains("25.00 USD"), "{html}");
    assert!(html.contains("<button type=submit>Pay</button>"), "{html}");
    assert!(
        html.contains("href=\"https://codexapi.test/billing?cancelled=1\""),
        "{html}"
    );
    let paid = browser.post(&session.url).send().unwrap();
    assert_eq!(paid.status(), 303);
    assert_eq!(
        paid.headers()["location"],
        format!(
            "https://codexapi.test/billing/done?session={}&x=1",
            session.id
        )
        .as_str()
    );
    // Delivered before the redirect was answered.
    assert_eq!(receiver.received().len(), 1);
    let paid_session = fake.session(&session.id);
    let event = receiver.last_event(&fake.webhook_secret);
    assert!(event.id.starts_with("evt_"), "{}", event.id);
    assert!(!event.livemode);
    assert!((event.created - now()).abs() < 60);
    let EventKind::CheckoutCompleted(info) = event.kind else {
        panic!("{event:?}");
    };
    assert_eq!(info.session_id, session.id);
    assert_eq!(info.amount_total, 2500);
    assert_eq!(info.currency, "usd");
    assert_eq!(info.payment_status, "paid");
    assert_eq!(info.client_reference_id.as_deref(), Some("user-42"));
    assert_eq!(info.payment_id.as_deref(), Some("pay_1"));
    assert_eq!(info.payment_intent, paid_session.payment_intent);
    assert!(info.payment_intent.as_deref().unwrap().starts_with("pi_"));
    assert_eq!(info.customer, None);
    assert_eq!(fake.deliveries(), vec![(event.id.clone(), 200)]);

    // Paying again only redirects.
    let again = browser.post(&session.url).send().unwrap();
    assert_eq!(again.status(), 303);
    assert_eq!(fake.deliveries().len(), 1);

    // Two partial refunds: Stripe reports the running total.
    let charge = paid_session.charge.clone().unwrap();
    for (refund, total) in [(1000, 1000), (500, 1500)] {
        let id = fake.refund(&session.id, refund);
        let event = receiver.last_event(&fake.webhook_secret);
        assert_eq!(event.id, id);
        let EventKind::ChargeRefunded(info) = event.kind else {
            panic!("{event:?}");
        };
        assert_eq!(info.charge_id, charge);
        assert_eq!(info.payment_intent, paid_session.payment_intent);
        assert_eq!(info.amount, 2500);
        assert_eq!(info.amount_refunded, total);
        assert_eq!(info.currency, "usd");
        assert_eq!(info.payment_id.as_deref(), Some("pay_1"));
    }

    let id = fake.dispute(&session.id);
    let event = receiver.last_event(&fake.webhook_secret);
    assert_eq!(event.id, id);
    let EventKind::DisputeCreated(info) = event.kind else {
        panic!("{event:?}");
    };
    assert!(info.dispute_id.starts_with("dp_"), "{}", info.dispute_id);
    assert_eq!(info.charge_id, charge);
    assert_eq!(info.payment_intent, paid_session.payment_intent);
    assert_eq!(info.amount, 2500);
    assert_eq!(info.reason, "fraudulent");
    assert!(fake.deliveries().iter().all(|(_, status)| *status == 200));
    assert_eq!(fake.deliveries().len(), 4);
}

#[test]
fn delayed_payments_complete_unpaid_then_settle() {
    let (fake, receiver) = setup();
    fake.set_create_customers(true);
    let won = create(&fake, &request("pay_2", "jpy", 1500));
    let lost = create(&fake, &request("pay_3", "jpy", 900));

    fake.pay_async(&won.id);
    let EventKind::CheckoutCompleted(info) = receiver.last_event(&fake.webhook_secret).kind else {
        panic!("not a completed session");
    };
    assert_eq!(info.payment_status, "unpaid");
    assert_eq!(info.currency, "jpy");
    assert!(info.customer.as_deref().unwrap().starts_with("cus_"));

    fake.settle_async(&won.id, true);
    let EventKind::CheckoutAsyncSucceeded(info) = receiver.last_event(&fake.webhook_secret).kind
    else {
        panic!("not a success");
    };
    assert_eq!(info.session_id, won.id);
    assert_eq!(info.payment_status, "paid");
    assert_eq!(info.amount_total, 1500);
    assert_eq!(info.payment_id.as_deref(), Some("pay_2"));

    fake.pay_async(&lost.id);
    fake.settle_async(&lost.id, false);
    let EventKind::CheckoutAsyncFailed(info) = receiver.last_event(&fake.webhook_secret).kind
    else {
        panic!("not a failure");
    };
    assert_eq!(info.session_id, lost.id);
    assert_eq!(info.payment_status, "unpaid");
    assert_eq!(fake.deliveries().len(), 4);
}

#[test]
fn fake_answers_like_stripe_to_bad_calls() {
    let fake = FakeStripe::start();
    let wrong = block_on(
        stripe_client(&fake, "sk_test_wrong").create_checkout_session(&request("p", "usd", 100)),
    );
    match wrong {
        Err(StripeError::Api {
            status,
            kind,
            message,
        }) => {
            assert_eq!(status, 401);
            assert_eq!(kind, "invalid_request_error");
            assert!(message.starts_with("Invalid API Key provided"), "{message}");
            assert!(!message.contains("sk_test_wrong"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let raw = common::client()
        .post(format!("{}/v1/checkout/sessions", fake.base))
        .bearer_auth(&fake.secret_key)
        .form(&[("mode", "payment"), ("line_items[0][quantity]", "1")])
        .send()
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "parameter_missing");
    assert_eq!(
        body["error"]["message"],
        "Missing required param: line_items[0][price_data][currency]."
    );

    // The same idempotency key gives back the same session; with other fields, an error.
    let first = create(&fake, &request("pay_9", "usd", 100));
    let again = create(&fake, &request("pay_9", "usd", 100));
    assert_eq!(first, again);
    assert_eq!(fake.sessions().len(), 1);
    let changed = block_on(
        stripe_client(&fake, &fake.secret_key)
            .create_checkout_session(&request("pay_9", "usd", 200)),
    );
    assert!(
        matches!(changed, Err(StripeError::Api { status: 400, ref kind, .. }) if kind == "idempotency_error"),
        "{changed:?}"
    );
}

#[test]
fn bad_signatures_and_other_events_reach_the_receiver_as_sent() {
    let (fake, receiver) = setup();
    let (id, body) = fake.event_body(
        "customer.created",
        serde_json::json!({"id": "cus_1", "object": "customer"}),
    );
    assert!(
        body.contains("\n  \"api_version\": \"2024-06-20\""),
        "{body}"
    );
    let (status, _) = fake.deliver(&body);
    assert_eq!(status, 200);
    let event = receiver.last_event(&fake.webhook_secret);
    assert_eq!(event.kind, EventKind::Other("customer.created".to_owned()));
    // Test mode's extra v0 signature is there and ignored.
    assert!(receiver.received()[0].0.contains(",v0="));

    let forged = codexapi::billing::stripe::sign(body.as_bytes(), "whsec_forged", now());
    let (status, answer) = fake.deliver_with_signature(&body, &forged);
    assert_eq!(status, 400);
    assert!(answer.contains("no webhook signature matches"), "{answer}");
    let (status, _) = fake.deliver_with_signature(&body, "v1=abc");
    assert_eq!(status, 400);
    assert_eq!(
        fake.deliveries(),
        vec![(id.clone(), 200), (id.clone(), 400), (id, 400)]
    );
}
