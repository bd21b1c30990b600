//! A fake Stripe on loopback that speaks Stripe's wire format for the parts the server uses:
//! creating Checkout Sessions (form-encoded, Bearer key, Stripe-shaped errors), a hosted payment
//! page with a Pay button, and webhooks signed exactly as Stripe signs them.
//!
//! - `POST /v1/checkout/sessions`: checks the key and the fields, answers a Checkout Session;
//!   an `Idempotency-Key` seen before returns the first session, as Stripe does;
//! - `GET /pay/{id}`: the payment page, "Fake Stripe Checkout";
//! - `POST /pay/{id}`: pays, delivers `checkout.session.completed` and only then redirects (303)
//!   to the success URL, so the webhook has been answered when the browser gets there.
//!
//! Tests drive the rest (`pay_async`, `settle_async`, `refund`, `dispute`, `deliver`) directly.
//! Event bodies are pretty-printed like Stripe's, so a receiver that re-serialises the JSON
//! before checking the signature fails here as it would in production.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use codexapi::billing::stripe::{minor_exponent, sign};

/// The API version the fake's events claim.
pub const API_VERSION: &str = "2024-06-20";

/// The form fields a Checkout Session create call must carry (`customer_email` is optional).
const REQUIRED: [&str; 10] = [
    "mode",
    "line_items[0][quantity]",
    "line_items[0][price_data][currency]",
    "line_items[0][price_data][unit_amount]",
    "line_items[0][price_data][product_data][name]",
    "success_url",
    "cancel_url",
    "client_reference_id",
    "metadata[payment_id]",
    "payment_intent_data[metadata][payment_id]",
];

/// A Checkout Session as the fake holds it: the form fields as received, then what paying,
/// refunding and disputing did to it.
#[derive(Debug, Clone)]
pub struct FakeSession {
    pub id: String,
    /// `line_items[0][price_data][unit_amount]`
    pub amount: i64,
    pub currency: String,
    pub product_name: String,
    pub success_url: String,
    pub cancel_url: String,
    pub client_reference_id: String,
    pub customer_email: Option<String>,
    /// `metadata[payment_id]`
    pub payment_id: String,
    /// `payment_intent_data[metadata][payment_id]`, which ends up on the charge too.
    pub intent_payment_id: String,
    pub idempotency_key: Option<String>,
    /// The `Stripe-Version` header of the create call.
    pub stripe_version: Option<String>,
    pub created: i64,
    /// `open`, then `complete`.
    pub status: String,
    /// `unpaid`, then `paid` (at once, or after `settle_async`).
    pub payment_status: String,
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
    pub charge: Option<String>,
    /// Cumulative, as on Stripe's charge.
    pub amount_refunded: i64,
    pub disputed: bool,
}

/// A form as received: its fields in order.
type Form = Vec<(String, String)>;

struct State {
    base: OnceLock<String>,
    secret_key: String,
    webhook_secret: String,
    webhook_url: Mutex<Option<String>>,
    sessions: Mutex<Vec<FakeSession>>,
    /// Idempotency key → (session id, the form it was first used with).
    idempotency: Mutex<HashMap<String, (String, Form)>>,
    deliveries: Mutex<Vec<(String, u16)>>,
    create_customers: AtomicBool,
    seed: u64,
    next: AtomicU64,
}

pub struct FakeStripe {
    /// `http://127.0.0.1:PORT`, to give `StripeClient::new` as the API base.
    pub base: String,
    pub secret_key: String,
    pub webhook_secret: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl FakeStripe {
    /// Starts on a free loopback port. Webhooks go to the URL given to `set_webhook_url`.
    pub fn start() -> FakeStripe {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let seed = now_nanos() ^ (u64::from(std::process::id()) << 40);
        let state = Arc::new(State {
            base: OnceLock::new(),
            secret_key: format!("sk_test_fake{}", &id_chars(seed, 1)[..20]),
            webhook_secret: format!("whsec_{}", id_chars(seed, 2)),
            webhook_url: Mutex::new(None),
            sessions: Mutex::new(Vec::new()),
            idempotency: Mutex::new(HashMap::new()),
            deliveries: Mutex::new(Vec::new()),
            create_customers: AtomicBool::new(false),
            seed,
            next: AtomicU64::new(3),
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let app_state = web::Data::from(state.clone());
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(app_state.clone())
                        .route("/v1/checkout/sessions", web::post().to(create_session))
                        .route("/pay/{id}", web::get().to(pay_page))
                        .route("/pay/{id}", web::post().to(pay_submit))
                        .default_service(web::to(not_found))
                })
                .workers(1)
                .disable_signals()
                .bind("127.0.0.1:0")
                .expect("bind fake stripe");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).expect("send address");
                let _ = server.await;
            });
        });
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("fake stripe started");
        let base = format!("http://{addr}");
        state.base.set(base.clone()).expect("base set once");
        FakeStripe {
            base,
            secret_key: state.secret_key.clone(),
            webhook_secret: state.webhook_secret.clone(),
            state,
            handle,
        }
    }

    pub fn set_webhook_url(&self, url: &str) {
        *self.state.webhook_url.lock().unwrap() = Some(url.to_owned());
    }

    /// Whether paying creates a Customer (`cus_…`) for the session. Off by default, as in Stripe's
    /// `payment` mode, where `customer` stays null unless one was asked for.
    pub fn set_create_customers(&self, on: bool) {
        self.state.create_customers.store(on, Ordering::Relaxed);
    }

    /// The checkout sessions created so far, oldest first.
    pub fn sessions(&self) -> Vec<FakeSession> {
        self.state.sessions.lock().unwrap().clone()
    }

    pub fn session(&self, id: &str) -> FakeSession {
        self.state
            .sessions
            .lock()
            .unwrap()
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .unwrap_or_else(|| panic!("no session {id}"))
    }

    /// Every webhook delivered so far: (event id, HTTP status answered; 0 if none).
    pub fn deliveries(&self) -> Vec<(String, u16)> {
        self.state.deliveries.lock().unwrap().clone()
    }

    /// Completes the session as if the customer paid by card: sends a signed
    /// `checkout.session.completed` with `payment_status` "paid". Returns the event id.
    pub fn pay(&self, session_id: &str) -> String {
        let (event_id, body) = complete(&self.state, session_id, true).unwrap();
        self.deliver(&body);
        event_id
    }

    /// Completes the session with a delayed payment method: `checkout.session.completed` with
    /// `payment_status` "unpaid". `settle_async` sends the outcome later.
    pub fn pay_async(&self, session_id: &str) -> String {
        let (event_id, body) = complete(&self.state, session_id, false).unwrap();
        self.deliver(&body);
        event_id
    }

    /// Sends `checkout.session.async_payment_succeeded` (the session becomes paid) or
    /// `checkout.session.async_payment_failed`.
    pub fn settle_async(&self, session_id: &str, succeeded: bool) -> String {
        let object = {
            let mut sessions = self.state.sessions.lock().unwrap();
            let session = find(&mut sessions, session_id);
            assert_eq!(session.status, "complete", "pay_async {session_id} first");
            assert_eq!(session.payment_status, "unpaid", "{session_id} is settled");
            if succeeded {
                session.payment_status = "paid".to_owned();
            }
            session_object(&self.state, session)
        };
        let kind = if succeeded {
            "checkout.session.async_payment_succeeded"
        } else {
            "checkout.session.async_payment_failed"
        };
        let (event_id, body) = self.event_body(kind, object);
        self.deliver(&body);
        event_id
    }

    /// Lets an unpaid session's page close and sends `checkout.session.expired`.
    pub fn expire(&self, session_id: &str) -> String {
        let object = {
            let mut sessions = self.state.sessions.lock().unwrap();
            let session = find(&mut sessions, session_id);
            assert_eq!(session.status, "open", "{session_id} is not open");
            session.status = "expired".to_owned();
            session_object(&self.state, session)
        };
        let (event_id, body) = self.event_body("checkout.session.expired", object);
        self.deliver(&body);
        event_id
    }

    /// Refunds `amount_minor` more of the session's charge and sends `charge.refunded`, whose
    /// `amount_refunded` is the total refunded so far.
    pub fn refund(&self, session_id: &str, amount_minor: i64) -> String {
        let object = {
            let mut sessions = self.state.sessions.lock().unwrap();
            let session = find(&mut sessions, session_id);
            assert_eq!(session.payment_status, "paid", "{session_id} is not paid");
            assert!(
                amount_minor > 0 && session.amount_refunded + amount_minor <= session.amount,
                "cannot refund {amount_minor} of {session_id}"
            );
            session.amount_refunded += amount_minor;
            charge_object(session)
        };
        let (event_id, body) = self.event_body("charge.refunded", object);
        self.deliver(&body);
        event_id
    }

    /// Opens a dispute over the session's whole charge: `charge.dispute.created`.
    pub fn dispute(&self, session_id: &str) -> String {
        let object = {
            let mut sessions = self.state.sessions.lock().unwrap();
            let session = find(&mut sessions, session_id);
            let charge = session.charge.clone().expect("the session was paid");
            session.disputed = true;
            let now = now_secs();
            json!({
                "id": new_id(&self.state, "dp_1"),
                "object": "dispute",
                "amount": session.amount,
                "balance_transactions": [],
                "charge": charge,
                "created": now,
                "currency": session.currency,
                "evidence": {"customer_email_address": session.customer_email, "product_description": null, "uncategorized_text": null},
                "evidence_details": {"due_by": now + 7 * 86_400, "has_evidence": false, "past_due": false, "submission_count": 0},
                "is_charge_refundable": false,
                "livemode": false,
                "metadata": {},
                "payment_intent": session.payment_intent,
                "reason": "fraudulent",
                "status": "needs_response",
            })
        };
        let (event_id, body) = self.event_body("charge.dispute.created", object);
        self.deliver(&body);
        event_id
    }

    /// Sends `body` as-is with a fresh, correct signature. Returns what the receiver answered.
    pub fn deliver(&self, body: &str) -> (u16, String) {
        let signature = signature_header(&self.state, body);
        self.deliver_with_signature(body, &signature)
    }

    /// Sends `body` with the given raw `Stripe-Signature` header.
    pub fn deliver_with_signature(&self, body: &str, signature: &str) -> (u16, String) {
        assert!(
            self.state.webhook_url.lock().unwrap().is_some(),
            "call set_webhook_url first"
        );
        send(&self.state, body, signature)
    }

    /// A Stripe event around `object` (`data.object`): (event id, pretty-printed JSON body).
    pub fn event_body(&self, kind: &str, object: Value) -> (String, String) {
        event_body(&self.state, kind, object)
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        let _ = futures_util::FutureExt::now_or_never(self.handle.stop(false));
    }
}

// ---------------------------------------------------------------------------------------------
// Objects and events

fn find<'a>(sessions: &'a mut [FakeSession], id: &str) -> &'a mut FakeSession {
    sessions
        .iter_mut()
        .find(|s| s.id == id)
        .unwrap_or_else(|| panic!("no session {id}"))
}

/// Marks the session complete and builds its `checkout.session.completed` event.
fn complete(state: &State, session_id: &str, paid: bool) -> Result<(String, String), String> {
    let object = {
        let mut sessions = state.sessions.lock().unwrap();
        let Some(session) = sessions.iter_mut().find(|s| s.id == session_id) else {
            return Err(format!("no session {session_id}"));
        };
        if session.status != "open" {
            return Err(format!("session {session_id} is {}", session.status));
        }
        session.status = "complete".to_owned();
        session.payment_status = if paid { "paid" } else { "unpaid" }.to_owned();
        session.payment_intent = Some(new_id(state, "pi_3"));
        session.charge = Some(new_id(state, "ch_3"));
        if state.create_customers.load(Ordering::Relaxed) {
            session.customer = Some(new_id(state, "cus_"));
        }
        session_object(state, session)
    };
    Ok(event_body(state, "checkout.session.completed", object))
}

fn session_object(state: &State, s: &FakeSession) -> Value {
    let open = s.status == "open";
    json!({
        "id": s.id,
        "object": "checkout.session",
        "after_expiration": null,
        "allow_promotion_codes": null,
        "amount_subtotal": s.amount,
        "amount_total": s.amount,
        "billing_address_collection": null,
        "cancel_url": s.cancel_url,
        "client_reference_id": s.client_reference_id,
        "created": s.created,
        "currency": s.currency,
        "customer": s.customer,
        "customer_creation": "if_required",
        "customer_details": if open { Value::Null } else {
            json!({"address": null, "email": s.customer_email.as_deref().unwrap_or("customer@example.com"), "name": "Test Customer", "phone": null, "tax_exempt": "none", "tax_ids": []})
        },
        "customer_email": s.customer_email,
        "expires_at": s.created + 86_400,
        "livemode": false,
        "locale": null,
        "metadata": {"payment_id": s.payment_id},
        "mode": "payment",
        "payment_intent": s.payment_intent,
        "payment_link": null,
        "payment_method_collection": "if_required",
        "payment_method_types": ["card"],
        "payment_status": s.payment_status,
        "status": s.status,
        "submit_type": null,
        "subscription": null,
        "success_url": s.success_url,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "ui_mode": "hosted",
        "url": if open { json!(format!("{}/pay/{}", state.base.get().map(String::as_str).unwrap_or_default(), s.id)) } else { Value::Null },
    })
}

/// The session's charge. Stripe copies the PaymentIntent's metadata onto it when the payment is
/// confirmed; since API version 2022-11-15 the `refunds` list is no longer included.
fn charge_object(s: &FakeSession) -> Value {
    let charge = s.charge.clone().expect("the session was paid");
    json!({
        "id": charge,
        "object": "charge",
        "amount": s.amount,
        "amount_captured": s.amount,
        "amount_refunded": s.amount_refunded,
        "balance_transaction": charge.replacen("ch_", "txn_", 1),
        "billing_details": {"address": null, "email": s.customer_email, "name": "Test Customer", "phone": null},
        "captured": true,
        "created": s.created + 60,
        "currency": s.currency,
        "customer": s.customer,
        "description": null,
        "disputed": s.disputed,
        "failure_code": null,
        "failure_message": null,
        "livemode": false,
        "metadata": {"payment_id": s.intent_payment_id},
        "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
        "paid": true,
        "payment_intent": s.payment_intent,
        "payment_method": charge.replacen("ch_3", "pm_1", 1),
        "receipt_email": null,
        "refunded": s.amount_refunded == s.amount,
        "status": "succeeded",
    })
}

fn event_body(state: &State, kind: &str, object: Value) -> (String, String) {
    let id = new_id(state, "evt_1");
    let event = json!({
        "id": id,
        "object": "event",
        "api_version": API_VERSION,
        "created": now_secs(),
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
    });
    (
        id,
        serde_json::to_string_pretty(&event).expect("event serialises"),
    )
}

// ---------------------------------------------------------------------------------------------
// Webhook delivery

/// What Stripe sends in test mode: the real `v1` signature plus a `v0` one made with another
/// secret, which receivers must ignore.
fn signature_header(state: &State, body: &str) -> String {
    let now = now_secs();
    let header = sign(body.as_bytes(), &state.webhook_secret, now);
    let v0 = sign(body.as_bytes(), "whsec_legacy_v0_scheme", now);
    let v0 = v0.split_once(",v1=").map(|(_, s)| s).unwrap_or_default();
    format!("{header},v0={v0}")
}

/// POSTs one webhook and records the answer; a failed connection is recorded as status 0.
fn send(state: &State, body: &str, signature: &str) -> (u16, String) {
    let event_id = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let url = state.webhook_url.lock().unwrap().clone();
    let answer = match url {
        None => (0, "no webhook URL set".to_owned()),
        Some(url) => {
            let client = reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("webhook client");
            let sent = client
                .post(&url)
                .header("content-type", "application/json; charset=utf-8")
                .header(
                    "user-agent",
                    "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                )
                .header("stripe-signature", signature)
                .body(body.to_owned())
                .send();
            match sent {
                Ok(response) => {
                    let status = response.status().as_u16();
                    (status, response.text().unwrap_or_default())
                }
                Err(e) => (0, e.to_string()),
            }
        }
    };
    state.deliveries.lock().unwrap().push((event_id, answer.0));
    answer
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn stripe_error(
    status: u16,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> HttpResponse {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!(
            "https://stripe.com/docs/error-codes/{}",
            code.replace('_', "-")
        ));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .insert_header(("request-id", "req_fake"))
        .json(json!({"error": error}))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let message = format!(
        "Unrecognized request URL ({}: {}).",
        req.method(),
        req.path()
    );
    stripe_error(404, "invalid_request_error", None, &message, None)
}

async fn create_session(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if authorization.is_empty() {
        return stripe_error(
            401,
            "invalid_request_error",
            None,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            None,
        );
    }
    if authorization != format!("Bearer {}", state.secret_key) {
        let given = authorization.trim_start_matches("Bearer ");
        let tail: String = given
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return stripe_error(
            401,
            "invalid_request_error",
            None,
            &format!("Invalid API Key provided: sk_test_****{tail}"),
            None,
        );
    }
    let form: Form = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let header_value = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let idempotency_key = header_value("idempotency-key");
    if let Some(key) = &idempotency_key {
        let known = state.idempotency.lock().unwrap().get(key).cloned();
        if let Some((session_id, first_form)) = known {
            if first_form != form {
                return stripe_error(
                    400,
                    "idempotency_error",
                    None,
                    &format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                    ),
                    None,
                );
            }
            let sessions = state.sessions.lock().unwrap();
            let session = sessions
                .iter()
                .find(|s| s.id == session_id)
                .expect("stored session");
            return HttpResponse::Ok()
                .insert_header(("idempotent-replayed", "true"))
                .json(session_object(&state, session));
        }
    }
    for name in REQUIRED {
        if get(name).is_none() {
            return stripe_error(
                400,
                "invalid_request_error",
                Some("parameter_missing"),
                &format!("Missing required param: {name}."),
                Some(name),
            );
        }
    }
    let field = |name: &str| get(name).unwrap_or_default();
    if field("mode") != "payment" {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_invalid_string"),
            "This fake supports only mode=payment.",
            Some("mode"),
        );
    }
    let mut integers = [0_i64; 2];
    for (slot, name) in integers.iter_mut().zip([
        "line_items[0][quantity]",
        "line_items[0][price_data][unit_amount]",
    ]) {
        match field(name).parse::<i64>() {
            Ok(n) if n >= 0 => *slot = n,
            _ => {
                return stripe_error(
                    400,
                    "invalid_request_error",
                    Some("parameter_invalid_integer"),
                    &format!("Invalid integer: {}", field(name)),
                    Some(name),
                );
            }
        }
    }
    let [quantity, amount] = integers;
    let currency = field("line_items[0][price_data][currency]");
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_lowercase()) {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_invalid_string"),
            &format!(
                "Invalid currency: {currency}. Stripe currencies are three lowercase letters."
            ),
            Some("line_items[0][price_data][currency]"),
        );
    }
    if quantity != 1 {
        return stripe_error(
            400,
            "invalid_request_error",
            None,
            "This fake supports only one of one line item.",
            Some("line_items[0][quantity]"),
        );
    }
    let session = FakeSession {
        id: new_id(&state, "cs_test_a1"),
        amount,
        currency,
        product_name: field("line_items[0][price_data][product_data][name]"),
        success_url: field("success_url"),
        cancel_url: field("cancel_url"),
        client_reference_id: field("client_reference_id"),
        customer_email: get("customer_email"),
        payment_id: field("metadata[payment_id]"),
        intent_payment_id: field("payment_intent_data[metadata][payment_id]"),
        idempotency_key: idempotency_key.clone(),
        stripe_version: header_value("stripe-version"),
        created: now_secs(),
        status: "open".to_owned(),
        payment_status: "unpaid".to_owned(),
        payment_intent: None,
        customer: None,
        charge: None,
        amount_refunded: 0,
        disputed: false,
    };
    let answer = session_object(&state, &session);
    if let Some(key) = idempotency_key {
        state
            .idempotency
            .lock()
            .unwrap()
            .insert(key, (session.id.clone(), form));
    }
    state.sessions.lock().unwrap().push(session);
    HttpResponse::Ok().json(answer)
}

fn html_page(status: u16, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>{}</title></head>\n<body>\n{body}\n</body></html>\n",
            escape(title)
        ))
}

async fn pay_page(path: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    let id = path.into_inner();
    let session = state
        .sessions
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.id == id)
        .cloned();
    let Some(s) = session else {
        return html_page(
            404,
            "Fake Stripe Checkout",
            "<h1>Something went wrong</h1><p>This checkout session does not exist.</p>",
        );
    };
    let amount = display_amount(s.amount, &s.currency);
    let body = if s.status != "open" {
        format!(
            "<h1>Fake Stripe Checkout</h1>\n<p>This session is already {}.</p>",
            escape(&s.status)
        )
    } else {
        format!(
            "<h1>Fake Stripe Checkout</h1>\n<p class=product>{product}</p>\n<p class=amount>{amount}</p>\n<form method=post action=\"/pay/{id}\">\n<button type=submit>Pay</button>\n</form>\n<p><a href=\"{cancel}\">Cancel</a></p>",
            product = escape(&s.product_name),
            amount = escape(&amount),
            id = escape(&s.id),
            cancel = escape(&s.cancel_url),
        )
    };
    html_page(200, "Fake Stripe Checkout", &body)
}

async fn pay_submit(path: web::Path<String>, state: web::Data<State>) -> HttpResponse {
    let id = path.into_inner();
    let session = state
        .sessions
        .lock()
        .unwrap()
        .iter()
        .find(|s| s.id == id)
        .cloned();
    let Some(session) = session else {
        return html_page(
            404,
            "Fake Stripe Checkout",
            "<h1>Something went wrong</h1><p>This checkout session does not exist.</p>",
        );
    };
    if session.status == "open" {
        let state = state.into_inner();
        // A second click that lost the race finds the session complete and only redirects.
        let delivered = web::block(move || {
            if let Ok((_, body)) = complete(&state, &id, true) {
                let signature = signature_header(&state, &body);
                send(&state, &body, &signature);
            }
        })
        .await;
        if let Err(e) = delivered {
            return html_page(500, "Fake Stripe Checkout", &escape(&e.to_string()));
        }
    }
    let location = session
        .success_url
        .replace("{CHECKOUT_SESSION_ID}", &session.id);
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

// ---------------------------------------------------------------------------------------------
// Small helpers

fn display_amount(minor: i64, currency: &str) -> String {
    let exponent = minor_exponent(currency);
    let code = currency.to_ascii_uppercase();
    if exponent == 0 {
        return format!("{minor} {code}");
    }
    let scale = 10_i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let scale = scale.unsigned_abs();
    format!(
        "{sign}{}.{:0width$} {code}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// One step of SplitMix64: a bijection on u64 that scatters neighbouring inputs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// 24 base62 characters that differ for every `n` under one seed, like the tail of a Stripe id.
fn id_chars(seed: u64, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(24);
    // The first 11 digits encode one 64-bit value in full, so distinct `n` give distinct ids.
    let mut value = mix(seed ^ mix(n));
    for _ in 0..11 {
        out.push(ALPHABET[(value % 62) as usize] as char);
        value /= 62;
    }
    let mut more = mix(seed.wrapping_add(n));
    for _ in 0..13 {
        out.push(ALPHABET[(more % 62) as usize] as char);
        more /= 62;
    }
    out
}

fn new_id(state: &State, prefix: &str) -> String {
    let n = state.next.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}", id_chars(state.seed, n))
}
