//! Admission: the body read within its limit, the model found, the limits and the wallet
//! checked, and the headers that tell the client where it stands.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::billing::limits::{Exceeded, Limited, Quotas, Verdict, reset_text};
use crate::billing::wallet::{Caps, Refusal};
use crate::config::BillingMode;
use crate::db::now_ms;
use crate::gateway::Gateway;
use crate::gateway::error::{ApiError, Dialect, ErrorKind};
use crate::gateway::{guard, metering, tokens};
use crate::money::Money;

use super::meter::Meter;
use super::{Admission, Prepared};

/// Tokens a request body of `bytes` is taken to hold before it is sent: a third of its size,
/// which errs high for JSON-wrapped text and code in any script.
pub(super) fn estimate_input_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(3)
}

/// The output limit the request sets for itself, in whichever field its format uses.
pub(super) fn output_limit(body: &Value) -> Option<u64> {
    ["max_output_tokens", "max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|field| body.get(*field).and_then(Value::as_u64))
}

pub(super) fn rate_limited(exceeded: Exceeded) -> ApiError {
    let what = match exceeded.limit {
        Limited::Requests => "requests per minute",
        Limited::Tokens => "tokens per minute",
    };
    let secs = exceeded.retry_after.as_secs_f64().ceil().max(1.0) as u64;
    let mut e = ApiError::new(
        ErrorKind::RateLimited,
        format!("Rate limit reached for {what}. Try again in {secs} s."),
    )
    .code("rate_limit_exceeded");
    e.retry_after_secs = Some(secs);
    e
}

pub(super) fn refused(refusal: Refusal, gateway: &Gateway) -> ApiError {
    let config = gateway.routing().config.clone();
    let money = |micros: i64| Money::from_micros(micros).display_in(&config.billing.currency);
    let quota = |message: String| {
        ApiError::new(ErrorKind::InsufficientQuota, message).code("insufficient_quota")
    };
    match refusal {
        Refusal::Funds { available, needed } => quota(format!(
            "Your balance does not cover this request: {} available, up to {} needed. {}",
            money(available.max(0)),
            money(needed),
            if config.stripe.enabled() {
                "Top up your wallet on the dashboard's Billing page."
            } else {
                "Ask this server's operator for credit, or redeem a code on the dashboard's Billing page."
            }
        )),
        Refusal::MonthlyCap { cap, spent } => quota(format!(
            "This account has reached its monthly spend cap of {} ({} spent this month).",
            money(cap),
            money(spent)
        )),
        Refusal::KeyLimit { limit, spent } => quota(format!(
            "This API key has reached its spend limit of {} ({} spent).",
            money(limit),
            money(spent)
        )),
        Refusal::Concurrency { limit } => {
            let mut e = ApiError::new(
                ErrorKind::RateLimited,
                format!("Too many requests at once: this account may run {limit} at a time."),
            )
            .code("rate_limit_exceeded");
            e.retry_after_secs = Some(1);
            e
        }
    }
}

pub(super) fn put(headers: &mut header::HeaderMap, name: &str, value: String) {
    if let (Ok(name), Ok(value)) = (
        header::HeaderName::try_from(name),
        HeaderValue::from_str(&value),
    ) {
        headers.insert(name, value);
    }
}

/// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` on OpenAI routes (reset as a
/// duration), `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` on Anthropic's
/// (reset as an RFC 3339 time).
pub(super) fn limit_headers(headers: &mut header::HeaderMap, dialect: Dialect, verdict: Verdict) {
    let now = time::OffsetDateTime::now_utc();
    for (window, what) in [(verdict.requests, "requests"), (verdict.tokens, "tokens")] {
        let Some(w) = window else { continue };
        match dialect {
            Dialect::OpenAi => {
                put(
                    headers,
                    &format!("x-ratelimit-limit-{what}"),
                    w.limit.to_string(),
                );
                put(
                    headers,
                    &format!("x-ratelimit-remaining-{what}"),
                    w.remaining.to_string(),
                );
                put(
                    headers,
                    &format!("x-ratelimit-reset-{what}"),
                    reset_text(w.reset),
                );
            }
            Dialect::Anthropic => {
                let reset = (now + w.reset)
                    .replace_nanosecond(0)
                    .unwrap_or(now)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let prefix = format!("anthropic-ratelimit-{what}");
                put(headers, &format!("{prefix}-limit"), w.limit.to_string());
                put(
                    headers,
                    &format!("{prefix}-remaining"),
                    w.remaining.to_string(),
                );
                put(headers, &format!("{prefix}-reset"), reset);
            }
        }
    }
}

/// The credit headers Codex CLI reads from its Responses calls.
/// In prepaid mode the balance is the wallet's; in budget mode what is left of the monthly cap.
pub(super) fn credit_headers(
    headers: &mut header::HeaderMap,
    gateway: &Gateway,
    user_id: &str,
    monthly_cap: Option<i64>,
) {
    let snapshot = gateway.wallets.snapshot(user_id, now_ms());
    let (has_credits, unlimited, balance) = match (gateway.wallets.mode(), monthly_cap) {
        (BillingMode::Prepaid, _) => (
            snapshot.balance - snapshot.reserved > 0,
            false,
            Some(snapshot.balance),
        ),
        (BillingMode::Budget, Some(cap)) => {
            let left = cap - snapshot.month_spent;
            (left - snapshot.reserved > 0, false, Some(left))
        }
        (BillingMode::Budget, None) | (BillingMode::Off, _) => (true, true, None),
    };
    put(
        headers,
        "x-codex-credits-has-credits",
        has_credits.to_string(),
    );
    put(headers, "x-codex-credits-unlimited", unlimited.to_string());
    if let Some(balance) = balance {
        put(
            headers,
            "x-codex-credits-balance",
            Money::from_micros(balance).to_decimal_string(),
        );
    }
}

/// Reads the body within its size limit and its time limits (`idle` between two pieces, eight
/// times that in all), so that a client dribbling bytes cannot hold a connection for ever.
pub(super) async fn read_body(
    payload: &mut web::Payload,
    limit: usize,
    idle: Duration,
) -> Result<web::Bytes, ApiError> {
    let slow = || {
        ApiError::new(
            ErrorKind::SlowClient,
            "The request body arrived too slowly; send it again.",
        )
    };
    tokio::time::timeout(idle * 8, read_body_within(payload, limit, idle, slow))
        .await
        .unwrap_or_else(|_| Err(slow()))
}

async fn read_body_within(
    payload: &mut web::Payload,
    limit: usize,
    idle: Duration,
    slow: impl Fn() -> ApiError,
) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = tokio::time::timeout(idle, payload.next())
        .await
        .map_err(|_| slow())?
    {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                ErrorKind::InvalidRequest,
                "The request body could not be read.",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

pub(super) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorKind::TooLarge,
        format!("The request body is larger than the {limit} bytes this server accepts."),
    )
}

pub(super) async fn prepare(
    gateway: &Gateway,
    req: &HttpRequest,
    mut payload: web::Payload,
    meter: &mut Meter,
    free: bool,
    admission: &mut Admission,
) -> Result<Prepared, ApiError> {
    let limits = &mut admission.limits;
    let key = gateway.identify(req).await?;
    if let Some(row) = meter.row() {
        row.user_id = Some(key.user_id.clone());
        row.key_id = Some(key.key_id.clone());
    }
    admission.user_id = Some(key.user_id.clone());
    if let Some(reason) = key.refusal(now_ms()) {
        return Err(ApiError::new(ErrorKind::Permission, reason));
    }
    // An answer that cannot be billed is not given: while the database will not take usage
    // rows, new requests wait outside.
    if gateway.usage.stalled() {
        let mut error = ApiError::new(
            ErrorKind::Unavailable,
            "The server cannot record usage right now. Try again in a moment.",
        );
        error.retry_after_secs = Some(5);
        return Err(error);
    }

    let routing = gateway.routing();
    let limit = routing.config.gateway.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    let idle = Duration::from_secs(routing.config.gateway.body_idle_secs);
    let mut raw = read_body(&mut payload, limit, idle).await?;
    let mut body: Value = serde_json::from_slice(&raw).map_err(|e| {
        // serde_json's message gives a position, never the text it choked on.
        ApiError::new(
            ErrorKind::InvalidRequest,
            format!("The body is not valid JSON ({e})."),
        )
    })?;
    if !body.is_object() {
        return Err(ApiError::new(
            ErrorKind::InvalidRequest,
            "The body must be a JSON object.",
        ));
    }
    if let Some(guard) = &gateway.guard {
        let (checked, outcome) = if raw.len() <= guard::INLINE_BYTES {
            let outcome = guard.check(&mut body);
            (body, outcome)
        } else {
            let guard = guard.clone();
            tokens::off_thread(move || {
                let outcome = guard.check(&mut body);
                (body, outcome)
            })
            .await
            .ok_or_else(|| {
                ApiError::new(ErrorKind::Internal, "The request could not be checked.")
            })?
        };
        body = checked;
        match outcome {
            guard::Outcome::Clean => {}
            guard::Outcome::Redacted => {
                raw = serde_json::to_vec(&body)
                    .map_err(|_| {
                        ApiError::new(ErrorKind::Internal, "The request could not be checked.")
                    })?
                    .into();
            }
            guard::Outcome::Refused(rule) => return Err(guard::refusal(&rule)),
        }
    }
    let model_id = match body.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(_) => {
            return Err(ApiError::new(
                ErrorKind::InvalidRequest,
                "Field `model` must be a string.",
            )
            .param("model"));
        }
        None => {
            return Err(ApiError::new(
                ErrorKind::InvalidRequest,
                "Missing required field `model`.",
            )
            .param("model"));
        }
    };
    let stream = match body.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::new(
                ErrorKind::InvalidRequest,
                "Field `stream` must be true or false.",
            )
            .param("stream"));
        }
    };
    if let Some(row) = meter.row() {
        row.streamed = stream;
    }
    let model = routing.model(&model_id).ok_or_else(|| {
        ApiError::new(
            ErrorKind::NotFound,
            format!("The model {model_id:?} does not exist on this server."),
        )
        .code("model_not_found")
        .param("model")
    })?;
    // Only a name this server knows (a model id or an alias) is written down: a client's
    // made-up name is not kept.
    if let Some(row) = meter.row() {
        row.model = Some(model_id.clone());
    }
    meter.model = Some(model.id.clone());
    if !key.allows(&model.id) {
        return Err(ApiError::new(
            ErrorKind::Permission,
            format!("This API key may not use the model {:?}.", model.id),
        )
        .param("model"));
    }
    let tier = routing.tier(key.tier.as_deref());
    let rate = metering::Rate {
        price: model.price.clone(),
        multiplier: tier.price_multiplier,
    };
    meter.rate = Some(rate.clone());
    // Free requests (token counting) still count against the requests per minute, not the
    // tokens, and reserve nothing.
    let input = estimate_input_tokens(raw.len());
    let quotas = Quotas {
        account_requests: tier.requests_per_minute,
        key_requests: key.requests_per_minute,
        account_tokens: if free { None } else { tier.tokens_per_minute },
    };
    let verdict = gateway
        .limits
        .admit(&key.user_id, &key.key_id, quotas, input)
        .map_err(|exceeded| {
            *limits = Some(exceeded.verdict);
            rate_limited(exceeded)
        })?;
    *limits = Some(verdict);
    if !free {
        let output = output_limit(&body)
            .map_or(model.max_output_tokens, |asked| {
                Some(model.max_output_tokens.map_or(asked, |cap| asked.min(cap)))
            })
            .unwrap_or(routing.config.billing.reserve_output_tokens);
        if let Some(per_minute) = tier.tokens_per_minute {
            meter.tokens_per_minute = Some((gateway.limits.clone(), per_minute));
        }
        admission.monthly_cap = tier.monthly_cap(key.monthly_cap);
        let caps = Caps {
            monthly: admission.monthly_cap,
            key: key.spend_limit,
            concurrent: tier.concurrent_requests,
        };
        let worst = metering::worst_case(&rate, input, output);
        let mut reserved =
            gateway
                .wallets
                .reserve(&key.user_id, &key.key_id, worst, caps, now_ms());
        if let Err(Refusal::Funds { .. }) = reserved {
            // The wallet may have been topped up a moment ago: catch up, then look again.
            gateway.usage.refresh_wallets().await;
            reserved = gateway
                .wallets
                .reserve(&key.user_id, &key.key_id, worst, caps, now_ms());
        }
        let hold = reserved.map_err(|refusal| refused(refusal, gateway))?;
        meter.hold = Some(hold);
    }
    let body = Arc::new(body);
    meter.request = Some(body.clone());
    Ok(Prepared {
        aux: None,
        body,
        raw,
        model: model.clone(),
        stream,
        routing: routing.clone(),
    })
}
