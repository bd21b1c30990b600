//! Stripe: creating Checkout Sessions, checking webhook signatures, reading webhook events, and
//! converting between our micro-units and the minor units in which Stripe counts money.
//!
//! Only the handful of fields the server acts on are read; everything else in Stripe's objects is
//! ignored, so new fields on Stripe's side never break parsing.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::money::MICROS_PER_UNIT;

/// The API version requests are pinned to, so that answers keep the shape this module reads
/// whatever the account's default version is. Webhook bodies follow the version configured on the
/// webhook endpoint instead; the fields read here are the same in every version since 2022-08-01.
pub const API_VERSION: &str = "2024-06-20";

/// How long one call to Stripe may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Client for the few Stripe API calls the server makes.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    api_base: String,
    secret_key: String,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.api_base)
            .field("secret_key", &"***")
            .finish()
    }
}

/// What to sell in one Checkout Session: a single line of `amount_minor` in `currency`.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutRequest<'a> {
    /// In the currency's minor unit (cents for usd); see [`micros_to_minor`].
    pub amount_minor: i64,
    /// ISO 4217 code in any case; Stripe is sent it in lowercase.
    pub currency: &'a str,
    /// The line item's name on the payment page, e.g. "CodexAPI credit".
    pub product_name: &'a str,
    /// Where the customer lands after paying. Stripe replaces a literal `{CHECKOUT_SESSION_ID}`
    /// in it with the session's id.
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Our user id, echoed back in the session.
    pub client_reference_id: &'a str,
    /// Prefills the email field on the payment page.
    pub customer_email: Option<&'a str>,
    /// Our payment id. Stored on the session and on the PaymentIntent; Stripe copies the
    /// PaymentIntent's metadata onto the charge, so refunds and disputes can be traced back too.
    pub payment_id: &'a str,
    /// Makes a retried create return the first session instead of a second one.
    pub idempotency_key: &'a str,
}

/// A newly created Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    /// The hosted payment page to send the customer to.
    pub url: String,
    /// Usually `None` at creation: Stripe makes the PaymentIntent when the customer pays.
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
}

/// Why a call to Stripe failed.
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe could not be reached, or did not answer within the timeout. The call may or may not
    /// have taken effect; retrying with the same idempotency key is safe.
    #[error("could not reach Stripe: {0}")]
    Network(#[source] reqwest::Error),
    /// Stripe refused the call. `message` is Stripe's own explanation, fit to show an operator.
    #[error("Stripe answered {status} ({kind}): {message}")]
    Api {
        status: u16,
        /// Stripe's error type, such as `invalid_request_error` or `card_error`.
        kind: String,
        message: String,
    },
    /// Stripe answered something this module cannot read.
    #[error("unexpected answer from Stripe: {0}")]
    Unexpected(String),
}

impl StripeClient {
    /// `api_base` is `https://api.stripe.com` in production; tests point it at a loopback fake.
    pub fn new(http: reqwest::Client, api_base: &str, secret_key: &str) -> StripeClient {
        StripeClient {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secret_key: secret_key.to_owned(),
        }
    }

    /// Creates a one-line Checkout Session in `payment` mode and returns its id and page URL.
    pub async fn create_checkout_session(
        &self,
        req: &CheckoutRequest<'_>,
    ) -> Result<CheckoutSession, StripeError> {
        let response = self
            .http
            .post(format!("{}/v1/checkout/sessions", self.api_base))
            .bearer_auth(&self.secret_key)
            .header("Idempotency-Key", req.idempotency_key)
            .header("Stripe-Version", API_VERSION)
            .timeout(REQUEST_TIMEOUT)
            .form(&checkout_form(req))
            .send()
            .await
            .map_err(StripeError::Network)?;
        let status = response.status();
        let body = response.bytes().await.map_err(StripeError::Network)?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &body));
        }
        parse_session(&body)
    }
}

/// The form fields of a Checkout Session create call, in Stripe's bracket notation.
fn checkout_form(req: &CheckoutRequest<'_>) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("mode", "payment".to_owned()),
        ("line_items[0][quantity]", "1".to_owned()),
        (
            "line_items[0][price_data][currency]",
            req.currency.to_ascii_lowercase(),
        ),
        (
            "line_items[0][price_data][unit_amount]",
            req.amount_minor.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            req.product_name.to_owned(),
        ),
        ("success_url", req.success_url.to_owned()),
        ("cancel_url", req.cancel_url.to_owned()),
        ("client_reference_id", req.client_reference_id.to_owned()),
        ("metadata[payment_id]", req.payment_id.to_owned()),
        (
            "payment_intent_data[metadata][payment_id]",
            req.payment_id.to_owned(),
        ),
    ];
    if let Some(email) = req.customer_email {
        form.push(("customer_email", email.to_owned()));
    }
    form
}

/// Reads Stripe's error body (`{"error": {"type": …, "message": …}}`), which not every failure
/// has: a proxy in between may answer with anything.
fn api_error(status: u16, body: &[u8]) -> StripeError {
    let error = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned())
        .unwrap_or(Value::Null);
    let text = |name: &str| error.get(name).and_then(Value::as_str).map(str::to_owned);
    StripeError::Api {
        status,
        kind: text("type").unwrap_or_else(|| "unknown".to_owned()),
        message: text("message")
            .or_else(|| text("code"))
            .unwrap_or_else(|| "no error message".to_owned()),
    }
}

fn parse_session(body: &[u8]) -> Result<CheckoutSession, StripeError> {
    let unexpected = |e: EventError| StripeError::Unexpected(e.to_string());
    let session: Value = serde_json::from_slice(body)
        .map_err(|e| StripeError::Unexpected(format!("the body is not JSON: {e}")))?;
    let id = string(&session, "", "id").map_err(unexpected)?;
    let url = string(&session, "", "url").map_err(unexpected)?;
    Ok(CheckoutSession {
        id,
        url,
        payment_intent: id_ref(&session, "", "payment_intent").map_err(unexpected)?,
        customer: id_ref(&session, "", "customer").map_err(unexpected)?,
    })
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

type HmacSha256 = Hmac<Sha256>;

/// Why a `Stripe-Signature` header was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not a list of `key=value` pairs with exactly one integer `t`.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// No `v1` signature (test-mode `v0` ones are not trusted).
    #[error("the Stripe-Signature header has no v1 signature")]
    NoSignature,
    /// No `v1` signature matches the body and the endpoint secret.
    #[error("no webhook signature matches the body")]
    Mismatch,
    /// Correctly signed, but the timestamp is further from now than the tolerance: a replay,
    /// or a badly wrong clock on one side.
    #[error("the webhook signature's timestamp is outside the tolerance")]
    Stale,
}

/// The HMAC-SHA256 of `"{timestamp}.{payload}"` keyed with the whole endpoint secret (the
/// `whsec_` prefix included, as bytes of text, not decoded).
fn expected_signature(payload: &[u8], secret: &str, timestamp: i64) -> Option<Vec<u8>> {
    // HMAC takes keys of any length, so this never fails in practice.
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac.finalize().into_bytes().to_vec())
}

/// Checks a `Stripe-Signature` header (`t=<unix secs>,v1=<hex>[,v1=…][,v0=…]`) against the raw
/// request body. Any one `v1` entry may match (there are several while a secret is being rolled);
/// other schemes are ignored. The timestamp must be within `tolerance_secs` of `now_secs` in either
/// direction. `payload` must be the body exactly as received: Stripe's JSON re-serialised does not
/// match.
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for item in header.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (key, value) = item.split_once('=').ok_or(SignatureError::Malformed)?;
        match key.trim() {
            "t" => {
                let t = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| SignatureError::Malformed)?;
                if timestamp.replace(t).is_some() {
                    return Err(SignatureError::Malformed);
                }
            }
            "v1" => candidates.push(value.trim()),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let expected =
        expected_signature(payload, secret, timestamp).ok_or(SignatureError::Mismatch)?;
    // Every candidate is compared, in constant time, so timing tells nothing about which or how
    // much of one matched.
    let mut matched = subtle::Choice::from(0);
    for candidate in candidates {
        if let Ok(bytes) = hex::decode(candidate) {
            matched |= expected.as_slice().ct_eq(&bytes);
        }
    }
    if !bool::from(matched) {
        return Err(SignatureError::Mismatch);
    }
    if now_secs.abs_diff(timestamp) > tolerance_secs.max(0).unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The `Stripe-Signature` header value Stripe would send for `payload` at `timestamp`:
/// `t=<timestamp>,v1=<hex>`. For tests and fakes.
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    match expected_signature(payload, secret, timestamp) {
        Some(signature) => format!("t={timestamp},v1={}", hex::encode(signature)),
        // Unreachable (see `expected_signature`); a header without a signature is refused.
        None => format!("t={timestamp}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Events

/// A webhook event, reduced to what the server acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `evt_…`; Stripe may deliver one event more than once, so this is the key for deduplication.
    pub id: String,
    pub kind: EventKind,
    /// When the event happened, in Unix seconds (not when it was delivered).
    pub created: i64,
    pub livemode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// `checkout.session.completed`: the customer finished the payment page. Money has arrived
    /// only if `payment_status` is `paid`; with delayed methods (bank debits) it is `unpaid` and
    /// one of the two async events follows.
    CheckoutCompleted(SessionInfo),
    /// `checkout.session.async_payment_succeeded`
    CheckoutAsyncSucceeded(SessionInfo),
    /// `checkout.session.async_payment_failed`
    CheckoutAsyncFailed(SessionInfo),
    /// `checkout.session.expired`: the payment page was left unpaid until it closed.
    CheckoutExpired(SessionInfo),
    /// `charge.refunded`, sent for partial refunds too.
    ChargeRefunded(ChargeInfo),
    /// `charge.dispute.created`
    DisputeCreated(DisputeInfo),
    /// Any other event type, by name.
    Other(String),
}

/// The parts of a Checkout Session object the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
    /// In minor units.
    pub amount_total: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    pub client_reference_id: Option<String>,
    /// `metadata.payment_id`
    pub payment_id: Option<String>,
}

/// The parts of a Charge object the server uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeInfo {
    pub charge_id: String,
    pub payment_intent: Option<String>,
    /// In minor units.
    pub amount: i64,
    /// Everything refunded on this charge so far, not just the latest refund.
    pub amount_refunded: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// `metadata.payment_id`, copied by Stripe from the PaymentIntent.
    pub payment_id: Option<String>,
}

/// The parts of a Dispute object the server uses. A dispute carries no metadata of ours: it is
/// traced back through its charge or PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeInfo {
    pub dispute_id: String,
    pub charge_id: String,
    pub payment_intent: Option<String>,
    /// In minor units; may differ from the charge's amount.
    pub amount: i64,
    /// Lowercase ISO code.
    pub currency: String,
    /// Such as `fraudulent`, `product_not_received`, `general`.
    pub reason: String,
}

/// Why a webhook body could not be read as an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// The dotted path of a field that is absent or null.
    #[error("field `{0}` is missing")]
    Missing(String),
    /// The dotted path of a field of an unexpected JSON type.
    #[error("field `{0}` has the wrong type")]
    WrongType(String),
}

/// Reads a webhook body. Call [`verify_signature`] on the same bytes first.
pub fn parse_event(payload: &[u8]) -> Result<Event, EventError> {
    let event: Value =
        serde_json::from_slice(payload).map_err(|e| EventError::NotJson(e.to_string()))?;
    let id = string(&event, "", "id")?;
    let kind_name = string(&event, "", "type")?;
    let created = integer(&event, "", "created")?;
    let livemode = match event.get("livemode") {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => return Err(EventError::Missing("livemode".to_owned())),
        Some(_) => return Err(EventError::WrongType("livemode".to_owned())),
    };
    let object = || -> Result<&Value, EventError> {
        let data = field(&event, "", "data")?;
        field(data, "data", "object")
    };
    let kind = match kind_name.as_str() {
        "checkout.session.completed" => EventKind::CheckoutCompleted(session_info(object()?)?),
        "checkout.session.async_payment_succeeded" => {
            EventKind::CheckoutAsyncSucceeded(session_info(object()?)?)
        }
        "checkout.session.async_payment_failed" => {
            EventKind::CheckoutAsyncFailed(session_info(object()?)?)
        }
        "checkout.session.expired" => EventKind::CheckoutExpired(session_info(object()?)?),
        "charge.refunded" => EventKind::ChargeRefunded(charge_info(object()?)?),
        "charge.dispute.created" => EventKind::DisputeCreated(dispute_info(object()?)?),
        _ => EventKind::Other(kind_name),
    };
    Ok(Event {
        id,
        kind,
        created,
        livemode,
    })
}

const OBJECT: &str = "data.object";

fn session_info(object: &Value) -> Result<SessionInfo, EventError> {
    Ok(SessionInfo {
        session_id: string(object, OBJECT, "id")?,
        payment_intent: id_ref(object, OBJECT, "payment_intent")?,
        customer: id_ref(object, OBJECT, "customer")?,
        amount_total: integer(object, OBJECT, "amount_total")?,
        currency: string(object, OBJECT, "currency")?.to_ascii_lowercase(),
        payment_status: string(object, OBJECT, "payment_status")?,
        client_reference_id: opt_string(object, OBJECT, "client_reference_id")?,
        payment_id: metadata_payment_id(object)?,
    })
}

fn charge_info(object: &Value) -> Result<ChargeInfo, EventError> {
    Ok(ChargeInfo {
        charge_id: string(object, OBJECT, "id")?,
        payment_intent: id_ref(object, OBJECT, "payment_intent")?,
        amount: integer(object, OBJECT, "amount")?,
        amount_refunded: integer(object, OBJECT, "amount_refunded")?,
        currency: string(object, OBJECT, "currency")?.to_ascii_lowercase(),
        payment_id: metadata_payment_id(object)?,
    })
}

fn dispute_info(object: &Value) -> Result<DisputeInfo, EventError> {
    Ok(DisputeInfo {
        dispute_id: string(object, OBJECT, "id")?,
        charge_id: id_ref(object, OBJECT, "charge")?
            .ok_or_else(|| EventError::Missing(format!("{OBJECT}.charge")))?,
        payment_intent: id_ref(object, OBJECT, "payment_intent")?,
        amount: integer(object, OBJECT, "amount")?,
        currency: string(object, OBJECT, "currency")?.to_ascii_lowercase(),
        reason: string(object, OBJECT, "reason")?,
    })
}

fn path_of(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// A field that must be present and not null.
fn field<'a>(object: &'a Value, parent: &str, name: &str) -> Result<&'a Value, EventError> {
    match object.get(name) {
        None | Some(Value::Null) => Err(EventError::Missing(path_of(parent, name))),
        Some(value) => Ok(value),
    }
}

fn string(object: &Value, parent: &str, name: &str) -> Result<String, EventError> {
    field(object, parent, name)?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| EventError::WrongType(path_of(parent, name)))
}

fn integer(object: &Value, parent: &str, name: &str) -> Result<i64, EventError> {
    field(object, parent, name)?
        .as_i64()
        .ok_or_else(|| EventError::WrongType(path_of(parent, name)))
}

fn opt_string(object: &Value, parent: &str, name: &str) -> Result<Option<String>, EventError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(EventError::WrongType(path_of(parent, name))),
    }
}

/// A reference to another Stripe object: its id, or the whole object when it was expanded.
fn id_ref(object: &Value, parent: &str, name: &str) -> Result<Option<String>, EventError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) => Ok(Some(id.clone())),
        Some(expanded @ Value::Object(_)) => {
            string(expanded, &path_of(parent, name), "id").map(Some)
        }
        Some(_) => Err(EventError::WrongType(path_of(parent, name))),
    }
}

fn metadata_payment_id(object: &Value) -> Result<Option<String>, EventError> {
    match object.get("metadata") {
        None | Some(Value::Null) => Ok(None),
        Some(metadata @ Value::Object(_)) => {
            opt_string(metadata, &path_of(OBJECT, "metadata"), "payment_id")
        }
        Some(_) => Err(EventError::WrongType(path_of(OBJECT, "metadata"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Minor units

/// Currencies Stripe counts in whole units.
const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Currencies Stripe counts in thousandths.
const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// How many decimal places Stripe's integer amounts have in `currency` (any case): 0, 2 or 3.
pub fn minor_exponent(currency: &str) -> u32 {
    let listed = |list: &[&str]| list.iter().any(|c| c.eq_ignore_ascii_case(currency));
    if listed(&ZERO_DECIMAL) {
        0
    } else if listed(&THREE_DECIMAL) {
        3
    } else {
        2
    }
}

/// Micro-units per minor unit of `currency`.
fn micros_per_minor(currency: &str) -> i64 {
    // The exponent is at most 3, so this stays within 10^6.
    MICROS_PER_UNIT / 10_i64.pow(minor_exponent(currency))
}

/// Micro-units (1 unit = 1_000_000) to minor units; `None` if the amount is not a whole number of
/// minor units (nothing is rounded) or does not fit.
///
/// Stripe also wants the last digit of a three-decimal amount to be 0 when charging; that rule is
/// Stripe's to enforce and is not checked here.
pub fn micros_to_minor(micros: i64, currency: &str) -> Option<i64> {
    let per_minor = micros_per_minor(currency);
    if micros.checked_rem(per_minor)? != 0 {
        return None;
    }
    micros.checked_div(per_minor)
}

/// Minor units to micro-units; `None` on overflow.
pub fn minor_to_micros(minor: i64, currency: &str) -> Option<i64> {
    minor.checked_mul(micros_per_minor(currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_700_000_000;

    // ----- signatures

    #[test]
    fn signature_matches_an_independent_hmac() {
        // Computed outside this code: HMAC-SHA256("whsec_test_secret", "1700000000.<body>").
        let body = br#"{"id":"evt_1","object":"event"}"#;
        assert_eq!(
            sign(body, SECRET, NOW),
            "t=1700000000,v1=0c8670ed117751cc551a20e35839447075c42800ea3cf3e8a2fbda99cd1e6edd"
        );
    }

    #[test]
    fn good_signature_is_accepted() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(body, SECRET, NOW - 10);
        assert_eq!(verify_signature(&header, body, SECRET, NOW, 300), Ok(()));
    }

    #[test]
    fn tampered_payload_is_refused() {
        let header = sign(br#"{"amount":100}"#, SECRET, NOW);
        assert_eq!(
            verify_signature(&header, br#"{"amount":900}"#, SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn wrong_secret_is_refused() {
        let body = b"{}";
        let header = sign(body, "whsec_other", NOW);
        assert_eq!(
            verify_signature(&header, body, SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_secret_prefix_is_part_of_the_key() {
        let body = b"{}";
        let header = sign(body, "test_secret", NOW);
        assert_eq!(
            verify_signature(&header, body, SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn changing_the_timestamp_breaks_the_signature() {
        let body = b"{}";
        let header = sign(body, SECRET, NOW);
        let moved = header.replace("t=1700000000", "t=1700000001");
        assert_eq!(
            verify_signature(&moved, body, SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn old_and_future_timestamps_beyond_tolerance_are_stale() {
        let body = b"{}";
        let old = sign(body, SECRET, NOW - 301);
        assert_eq!(
            verify_signature(&old, body, SECRET, NOW, 300),
            Err(SignatureError::Stale)
        );
        let future = sign(body, SECRET, NOW + 301);
        assert_eq!(
            verify_signature(&future, body, SECRET, NOW, 300),
            Err(SignatureError::Stale)
        );
        let edge = sign(body, SECRET, NOW + 300);
        assert_eq!(verify_signature(&edge, body, SECRET, NOW, 300), Ok(()));
    }

    #[test]
    fn malformed_headers_are_refused() {
        let body = b"{}";
        let good = sign(body, SECRET, NOW);
        let v1 = good.split_once(",v1=").map(|(_, s)| s).unwrap_or_default();
        for header in [
            String::new(),
            "garbage".to_owned(),
            format!("v1={v1}"),
            format!("t=yesterday,v1={v1}"),
            format!("t=,v1={v1}"),
            format!("t={NOW},t={NOW},v1={v1}"),
            format!("t={NOW},v1{v1}"),
        ] {
            assert_eq!(
                verify_signature(&header, body, SECRET, NOW, 300),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
        assert_eq!(
            verify_signature(&format!("t={NOW}"), body, SECRET, NOW, 300),
            Err(SignatureError::NoSignature)
        );
        let not_hex = format!("t={NOW},v1=zz{}", &v1[2..]);
        assert_eq!(
            verify_signature(&not_hex, body, SECRET, NOW, 300),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_v1_may_match_and_unknown_schemes_are_ignored() {
        let body = br#"{"id":"evt_2"}"#;
        let good = sign(body, SECRET, NOW);
        let v1 = good.split_once(",v1=").map(|(_, s)| s).unwrap_or_default();
        let wrong = "0".repeat(64);
        let header = format!("t={NOW},v1={wrong},v0={wrong},v1={v1},v9=whatever");
        assert_eq!(verify_signature(&header, body, SECRET, NOW, 300), Ok(()));
        let spaced = format!("t={NOW}, v1={wrong}, v1={v1}");
        assert_eq!(verify_signature(&spaced, body, SECRET, NOW, 300), Ok(()));
    }

    #[test]
    fn a_v0_signature_alone_is_not_enough() {
        let body = b"{}";
        let good = sign(body, SECRET, NOW);
        let v0_only = good.replace(",v1=", ",v0=");
        assert_eq!(
            verify_signature(&v0_only, body, SECRET, NOW, 300),
            Err(SignatureError::NoSignature)
        );
    }

    // ----- events

    fn event(kind: &str, object: Value) -> Vec<u8> {
        // Stripe sends its bodies pretty-printed; the parser must not care.
        serde_json::to_vec_pretty(&json!({
            "id": "evt_1PXb2cFv0a1b2c3d4e5f6g7h",
            "object": "event",
            "api_version": "2024-06-20",
            "created": 1_719_000_000,
            "data": {"object": object},
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": kind,
        }))
        .unwrap()
    }

    fn session_object(payment_status: &str) -> Value {
        json!({
            "id": "cs_test_a1B2c3D4e5F6",
            "object": "checkout.session",
            "amount_subtotal": 2500,
            "amount_total": 2500,
            "cancel_url": "https://codexapi.example/billing",
            "client_reference_id": "user-42",
            "created": 1_718_999_000,
            "currency": "usd",
            "customer": null,
            "customer_details": {"email": "dev@example.com", "name": "Dev", "tax_exempt": "none"},
            "customer_email": "dev@example.com",
            "expires_at": 1_719_085_400,
            "livemode": false,
            "metadata": {"payment_id": "pay_7"},
            "mode": "payment",
            "payment_intent": "pi_3PXb2cFv0a1b2c3d",
            "payment_method_types": ["card"],
            "payment_status": payment_status,
            "status": "complete",
            "success_url": "https://codexapi.example/billing/done?session={CHECKOUT_SESSION_ID}",
            "url": null,
        })
    }

    #[test]
    fn checkout_completed_is_read() {
        let parsed =
            parse_event(&event("checkout.session.completed", session_object("paid"))).unwrap();
        assert_eq!(parsed.id, "evt_1PXb2cFv0a1b2c3d4e5f6g7h");
        assert_eq!(parsed.created, 1_719_000_000);
        assert!(!parsed.livemode);
        assert_eq!(
            parsed.kind,
            EventKind::CheckoutCompleted(SessionInfo {
                session_id: "cs_test_a1B2c3D4e5F6".to_owned(),
                payment_intent: Some("pi_3PXb2cFv0a1b2c3d".to_owned()),
                customer: None,
                amount_total: 2500,
                currency: "usd".to_owned(),
                payment_status: "paid".to_owned(),
                client_reference_id: Some("user-42".to_owned()),
                payment_id: Some("pay_7".to_owned()),
            })
        );
    }

    #[test]
    fn async_session_events_are_read() {
        let ok = parse_event(&event(
            "checkout.session.async_payment_succeeded",
            session_object("paid"),
        ))
        .unwrap();
        assert!(
            matches!(ok.kind, EventKind::CheckoutAsyncSucceeded(ref s) if s.payment_status == "paid")
        );
        let failed = parse_event(&event(
            "checkout.session.async_payment_failed",
            session_object("unpaid"),
        ))
        .unwrap();
        assert!(
            matches!(failed.kind, EventKind::CheckoutAsyncFailed(ref s) if s.payment_status == "unpaid")
        );
        let expired =
            parse_event(&event("checkout.session.expired", session_object("unpaid"))).unwrap();
        assert!(matches!(expired.kind, EventKind::CheckoutExpired(_)));
    }

    #[test]
    fn expanded_references_give_their_id_and_empty_metadata_gives_none() {
        let mut object = session_object("paid");
        object["customer"] = json!({"id": "cus_Q1w2e3", "object": "customer"});
        object["metadata"] = json!({});
        object["client_reference_id"] = Value::Null;
        object["currency"] = json!("EUR");
        let parsed = parse_event(&event("checkout.session.completed", object)).unwrap();
        let EventKind::CheckoutCompleted(session) = parsed.kind else {
            panic!("{parsed:?}");
        };
        assert_eq!(session.customer.as_deref(), Some("cus_Q1w2e3"));
        assert_eq!(session.payment_id, None);
        assert_eq!(session.client_reference_id, None);
        assert_eq!(session.currency, "eur");
    }

    #[test]
    fn charge_refunded_is_read() {
        let charge = json!({
            "id": "ch_3PXb2cFv0a1b2c3d",
            "object": "charge",
            "amount": 2500,
            "amount_captured": 2500,
            "amount_refunded": 1000,
            "balance_transaction": "txn_3PXb2cFv0a1b2c3d",
            "captured": true,
            "created": 1_719_000_100,
            "currency": "usd",
            "customer": null,
            "disputed": false,
            "livemode": false,
            "metadata": {"payment_id": "pay_7"},
            "paid": true,
            "payment_intent": "pi_3PXb2cFv0a1b2c3d",
            "payment_method": "pm_1PXb2cFv0a1b2c3d",
            "refunded": false,
            "status": "succeeded",
        });
        let parsed = parse_event(&event("charge.refunded", charge)).unwrap();
        assert_eq!(
            parsed.kind,
            EventKind::ChargeRefunded(ChargeInfo {
                charge_id: "ch_3PXb2cFv0a1b2c3d".to_owned(),
                payment_intent: Some("pi_3PXb2cFv0a1b2c3d".to_owned()),
                amount: 2500,
                amount_refunded: 1000,
                currency: "usd".to_owned(),
                payment_id: Some("pay_7".to_owned()),
            })
        );
    }

    #[test]
    fn dispute_created_is_read() {
        let dispute = json!({
            "id": "dp_1PXb2cFv0a1b2c3d",
            "object": "dispute",
            "amount": 2500,
            "balance_transactions": [],
            "charge": "ch_3PXb2cFv0a1b2c3d",
            "created": 1_719_000_200,
            "currency": "usd",
            "evidence_details": {"due_by": 1_719_900_000, "has_evidence": false, "past_due": false, "submission_count": 0},
            "is_charge_refundable": false,
            "livemode": false,
            "metadata": {},
            "payment_intent": "pi_3PXb2cFv0a1b2c3d",
            "reason": "fraudulent",
            "status": "needs_response",
        });
        let parsed = parse_event(&event("charge.dispute.created", dispute)).unwrap();
        assert_eq!(
            parsed.kind,
            EventKind::DisputeCreated(DisputeInfo {
                dispute_id: "dp_1PXb2cFv0a1b2c3d".to_owned(),
                charge_id: "ch_3PXb2cFv0a1b2c3d".to_owned(),
                payment_intent: Some("pi_3PXb2cFv0a1b2c3d".to_owned()),
                amount: 2500,
                currency: "usd".to_owned(),
                reason: "fraudulent".to_owned(),
            })
        );
    }

    #[test]
    fn other_types_are_named() {
        let parsed = parse_event(&event(
            "payment_intent.succeeded",
            json!({"id": "pi_1", "object": "payment_intent"}),
        ))
        .unwrap();
        assert_eq!(
            parsed.kind,
            EventKind::Other("payment_intent.succeeded".to_owned())
        );
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        let mut object = session_object("paid");
        object.as_object_mut().unwrap().remove("amount_total");
        assert_eq!(
            parse_event(&event("checkout.session.completed", object)),
            Err(EventError::Missing("data.object.amount_total".to_owned()))
        );
        let mut object = session_object("paid");
        object["amount_total"] = json!("2500");
        assert_eq!(
            parse_event(&event("checkout.session.completed", object)),
            Err(EventError::WrongType("data.object.amount_total".to_owned()))
        );
        assert_eq!(
            parse_event(br#"{"object":"event","type":"charge.refunded"}"#),
            Err(EventError::Missing("id".to_owned()))
        );
        assert_eq!(
            parse_event(
                br#"{"id":"evt_1","type":"charge.refunded","created":1,"livemode":false,"data":{}}"#
            ),
            Err(EventError::Missing("data.object".to_owned()))
        );
        let dispute = json!({"id": "dp_1", "amount": 1, "currency": "usd", "reason": "general"});
        assert_eq!(
            parse_event(&event("charge.dispute.created", dispute)),
            Err(EventError::Missing("data.object.charge".to_owned()))
        );
        assert!(matches!(
            parse_event(b"not json"),
            Err(EventError::NotJson(_))
        ));
    }

    // ----- checkout answers

    #[test]
    fn checkout_form_has_every_field() {
        let req = CheckoutRequest {
            amount_minor: 2500,
            currency: "USD",
            product_name: "CodexAPI credit",
            success_url: "https://x.example/done?s={CHECKOUT_SESSION_ID}",
            cancel_url: "https://x.example/billing",
            client_reference_id: "user-42",
            customer_email: Some("dev@example.com"),
            payment_id: "pay_7",
            idempotency_key: "pay_7",
        };
        let form = checkout_form(&req);
        let get = |k: &str| {
            form.iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("mode"), Some("payment"));
        assert_eq!(get("line_items[0][price_data][currency]"), Some("usd"));
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("2500"));
        assert_eq!(
            get("payment_intent_data[metadata][payment_id]"),
            Some("pay_7")
        );
        assert_eq!(get("customer_email"), Some("dev@example.com"));
        // Braces survive form encoding as %7B…%7D, which Stripe decodes back.
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form.iter().map(|(k, v)| (*k, v.as_str())))
            .finish();
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(encoded.as_bytes())
            .into_owned()
            .collect();
        assert!(decoded.contains(&(
            "success_url".to_owned(),
            "https://x.example/done?s={CHECKOUT_SESSION_ID}".to_owned()
        )));
        let without_email = checkout_form(&CheckoutRequest {
            customer_email: None,
            ..req
        });
        assert!(without_email.iter().all(|(k, _)| *k != "customer_email"));
    }

    #[test]
    fn stripe_error_bodies_are_read() {
        let body = br#"{"error":{"code":"parameter_missing","message":"Missing required param: success_url.","param":"success_url","type":"invalid_request_error"}}"#;
        match api_error(400, body) {
            StripeError::Api {
                status,
                kind,
                message,
            } => {
                assert_eq!(status, 400);
                assert_eq!(kind, "invalid_request_error");
                assert_eq!(message, "Missing required param: success_url.");
            }
            other => panic!("{other:?}"),
        }
        match api_error(502, b"<html>Bad gateway</html>") {
            StripeError::Api { status, kind, .. } => {
                assert_eq!(status, 502);
                assert_eq!(kind, "unknown");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn session_answers_are_read() {
        let body = br#"{"id":"cs_test_1","object":"checkout.session","url":"https://checkout.stripe.com/c/pay/cs_test_1","payment_intent":null,"customer":null}"#;
        assert_eq!(
            parse_session(body).unwrap(),
            CheckoutSession {
                id: "cs_test_1".to_owned(),
                url: "https://checkout.stripe.com/c/pay/cs_test_1".to_owned(),
                payment_intent: None,
                customer: None,
            }
        );
        assert!(matches!(
            parse_session(br#"{"id":"cs_test_1","url":null}"#),
            Err(StripeError::Unexpected(_))
        ));
    }

    #[test]
    fn debug_hides_the_secret_key() {
        crate::tls::install_crypto_provider();
        let client = StripeClient::new(
            reqwest::Client::new(),
            "https://api.stripe.com/",
            "sk_test_hidden",
        );
        let shown = format!("{client:?}");
        assert!(!shown.contains("sk_test_hidden"), "{shown}");
        assert!(shown.contains("\"https://api.stripe.com\""), "{shown}");
    }

    // ----- minor units

    #[test]
    fn exponents_follow_stripe_lists() {
        assert_eq!(minor_exponent("usd"), 2);
        assert_eq!(minor_exponent("EUR"), 2);
        assert_eq!(minor_exponent("jpy"), 0);
        assert_eq!(minor_exponent("JPY"), 0);
        assert_eq!(minor_exponent("krw"), 0);
        assert_eq!(minor_exponent("kwd"), 3);
        assert_eq!(minor_exponent("Tnd"), 3);
        assert_eq!(minor_exponent("isk"), 2);
    }

    #[test]
    fn usd_conversions() {
        assert_eq!(micros_to_minor(25_000_000, "usd"), Some(2500));
        assert_eq!(micros_to_minor(10_000, "usd"), Some(1));
        assert_eq!(micros_to_minor(0, "usd"), Some(0));
        assert_eq!(micros_to_minor(-1_500_000, "usd"), Some(-150));
        assert_eq!(minor_to_micros(2500, "usd"), Some(25_000_000));
    }

    #[test]
    fn jpy_and_kwd_conversions() {
        assert_eq!(micros_to_minor(500_000_000, "jpy"), Some(500));
        assert_eq!(minor_to_micros(500, "JPY"), Some(500_000_000));
        assert_eq!(micros_to_minor(5_125_000, "kwd"), Some(5125));
        assert_eq!(minor_to_micros(5125, "kwd"), Some(5_125_000));
    }

    #[test]
    fn fractions_of_a_minor_unit_are_refused() {
        assert_eq!(micros_to_minor(10_001, "usd"), None);
        assert_eq!(micros_to_minor(5_000, "usd"), None);
        assert_eq!(micros_to_minor(1_500_000, "jpy"), None);
        assert_eq!(micros_to_minor(1_000_500, "kwd"), None);
    }

    #[test]
    fn overflow_is_refused() {
        assert_eq!(minor_to_micros(i64::MAX / 1000, "usd"), None);
        assert_eq!(minor_to_micros(i64::MAX / 1000, "jpy"), None);
        assert_eq!(minor_to_micros(i64::MIN, "kwd"), None);
        assert_eq!(
            micros_to_minor(i64::MAX - i64::MAX % 10_000, "usd"),
            Some(i64::MAX / 10_000)
        );
    }
}
