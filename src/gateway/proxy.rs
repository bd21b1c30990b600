//! Forwarding: authenticate, pick a provider, translate if the formats differ, send, and stream
//! the answer back event by event. Failures before the first byte fail over to the next
//! provider; after it, the client's stream is closed properly with an error event. Every exit
//! path settles one usage row.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

use super::Gateway;
use super::error::{ApiError, Dialect, ErrorKind};
use super::metering;
use super::providers::Candidate;
use super::tokens;
use crate::billing::limits::{Exceeded, Limited, Quotas, RateLimits, Verdict, reset_text};
use crate::billing::wallet::{Caps, Hold, Refusal};
use crate::client::ClientInfo;
use crate::config::BillingMode;
use crate::config::ModelConfig;
use crate::db::now_ms;
use crate::db::usage::{Endpoint, Outcome, UsageRow};
use crate::money::Money;
use crate::translate::sse::{SseEvent, SseParser};
use crate::translate::{self, Exchange, StreamTranslator, Target, Translated, Usage, Wire};

/// The default `anthropic-version` when the client sends none.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Names the request fields a translation left out (see `translate::policy`).
pub const DROPPED_HEADER: &str = "x-codexapi-dropped";
/// Headers a client may send that an upstream of its own format needs to see.
const FORWARDED_HEADERS: &[&str] = &[
    "anthropic-version",
    "anthropic-beta",
    "session_id",
    "openai-beta",
];

pub fn dialect(wire: Wire) -> Dialect {
    match wire {
        Wire::Messages => Dialect::Anthropic,
        Wire::Chat | Wire::Responses | Wire::Completions => Dialect::OpenAi,
    }
}

/// The usage row of one request, settled exactly once: by the code that finishes the request,
/// or, if the client went away first, when it is dropped.
pub struct Meter {
    row: Option<UsageRow>,
    started: Instant,
    rate: Option<metering::Rate>,
    writer: metering::UsageWriter,
    /// The request's reservation, settled with its row.
    hold: Option<Hold>,
    /// The account's tokens-per-minute bucket, which the output tokens are taken from.
    tokens_per_minute: Option<(Arc<RateLimits>, u32)>,
    /// The upstream reported usage; otherwise tokens are counted here when the row is settled.
    usage_known: bool,
    /// The request, for counting its tokens if the upstream reports none. Memory only.
    request: Option<Arc<Value>>,
    /// The answer's text so far, for the same reason. Memory only, for this request's life.
    answer: String,
}

impl Meter {
    fn new(gateway: &Gateway, endpoint: Endpoint, client: &ClientInfo) -> Meter {
        Meter {
            row: Some(UsageRow {
                at: now_ms(),
                endpoint,
                ip: Some(client.ip.to_string()),
                outcome: Outcome::Rejected,
                ..UsageRow::default()
            }),
            started: Instant::now(),
            rate: None,
            writer: gateway.usage.clone(),
            hold: None,
            tokens_per_minute: None,
            usage_known: false,
            request: None,
            answer: String::new(),
        }
    }

    fn row(&mut self) -> Option<&mut UsageRow> {
        self.row.as_mut()
    }

    fn first_byte(&mut self) {
        let elapsed = self.started.elapsed().as_millis() as i64;
        if let Some(row) = self.row() {
            row.ttfb_ms.get_or_insert(elapsed);
        }
    }

    fn usage(&mut self, usage: Usage) {
        self.usage_known = true;
        let cost = self.rate.as_ref().map(|r| metering::cost(r, &usage));
        if let Some(row) = self.row() {
            row.input_tokens = usage.input as i64;
            row.cached_input_tokens = usage.cached_input as i64;
            row.cache_creation_tokens = usage.cache_creation as i64;
            row.output_tokens = usage.output as i64;
            row.reasoning_tokens = usage.reasoning as i64;
            row.cost = cost.unwrap_or(0);
        }
    }

    /// The finished row, and what the writer must count when the upstream reported no usage.
    /// Counting happens on the writer's thread: tokenizing can take a while and must not hold
    /// up this worker (nor run in a `Drop`).
    fn finish_row(
        &mut self,
        status: u16,
        outcome: Outcome,
        error: Option<ErrorKind>,
    ) -> Option<(UsageRow, Option<metering::Estimate>, Option<Hold>)> {
        let mut row = self.row.take()?;
        if let (Some((limits, per_minute)), Some(user)) = (&self.tokens_per_minute, &row.user_id) {
            limits.spend_tokens(user, Some(*per_minute), row.output_tokens.max(0) as u64);
        }
        row.status = status;
        row.outcome = outcome;
        row.error_kind = error.map(ErrorKind::name);
        row.latency_ms = self.started.elapsed().as_millis() as i64;
        // Count locally only what a provider actually answered (it produced a first byte).
        let estimate = match self.request.take() {
            Some(request) if !self.usage_known && row.ttfb_ms.is_some() => {
                Some(metering::Estimate {
                    request,
                    answer: std::mem::take(&mut self.answer),
                    rate: self.rate.clone(),
                })
            }
            _ => None,
        };
        Some((row, estimate, self.hold.take()))
    }

    /// Commits the row; returns once it is durable.
    async fn settle(&mut self, status: u16, outcome: Outcome, error: Option<ErrorKind>) {
        if let Some((row, estimate, hold)) = self.finish_row(status, outcome, error) {
            self.writer.record(row, estimate, hold).await;
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        // Still unsettled: the client hung up mid-request (499, as proxies say).
        if let Some((row, estimate, hold)) = self.finish_row(499, Outcome::ClientCancelled, None) {
            self.writer.record_detached(row, estimate, hold);
        }
    }
}

/// An endpoint beside a format's main one. It is forwarded, untranslated, only to providers
/// that speak the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aux {
    /// `/v1/messages/count_tokens`
    CountTokens,
    /// `/v1/responses/input_tokens`
    InputTokens,
    /// `/v1/responses/compact`
    Compact,
}

impl Aux {
    fn of(endpoint: Endpoint) -> Option<Aux> {
        match endpoint {
            Endpoint::CountTokens => Some(Aux::CountTokens),
            Endpoint::ResponsesInputTokens => Some(Aux::InputTokens),
            Endpoint::ResponsesCompact => Some(Aux::Compact),
            _ => None,
        }
    }

    /// The path after the provider's base URL.
    fn path(self) -> &'static str {
        match self {
            Aux::CountTokens => "messages/count_tokens",
            Aux::InputTokens => "responses/input_tokens",
            Aux::Compact => "responses/compact",
        }
    }

    /// Counting tokens costs nothing; when no provider of the format serves the model, the
    /// gateway counts itself.
    fn counts(self) -> bool {
        matches!(self, Aux::CountTokens | Aux::InputTokens)
    }

    /// The answer of a count made here, in the endpoint's shape.
    fn counted(self, input_tokens: u64) -> Value {
        match self {
            Aux::InputTokens => {
                serde_json::json!({"object": "response.input_tokens", "input_tokens": input_tokens})
            }
            Aux::CountTokens | Aux::Compact => serde_json::json!({"input_tokens": input_tokens}),
        }
    }
}

/// What the request asks for, once it passed authentication and parsing.
struct Prepared {
    aux: Option<Aux>,
    body: Arc<Value>,
    raw: web::Bytes,
    model: ModelConfig,
    stream: bool,
}

/// What the admission checks learned, for the response headers.
#[derive(Default)]
struct Admission {
    user_id: Option<String>,
    limits: Option<Verdict>,
    /// The account's monthly spend cap, its own or its tier's.
    monthly_cap: Option<i64>,
}

/// Handles one API request of the given wire format.
pub async fn handle(
    wire: Wire,
    endpoint: Endpoint,
    req: HttpRequest,
    payload: web::Payload,
    gateway: web::Data<Gateway>,
) -> HttpResponse {
    let mut admission = Admission::default();
    let mut response = serve(wire, endpoint, &req, payload, &gateway, &mut admission).await;
    let headers = response.headers_mut();
    if let Some(verdict) = admission.limits {
        limit_headers(headers, dialect(wire), verdict);
    }
    if wire == Wire::Responses
        && let Some(user) = &admission.user_id
    {
        credit_headers(headers, &gateway, user, admission.monthly_cap);
    }
    response
}

async fn serve(
    wire: Wire,
    endpoint: Endpoint,
    req: &HttpRequest,
    payload: web::Payload,
    gateway: &Gateway,
    admission: &mut Admission,
) -> HttpResponse {
    let dialect = dialect(wire);
    let client = actix_web::HttpMessage::extensions(req)
        .get::<ClientInfo>()
        .cloned()
        .unwrap_or_else(|| ClientInfo {
            ip: std::net::Ipv6Addr::UNSPECIFIED.into(),
            https: false,
            request_id: String::new(),
        });
    let mut meter = Meter::new(gateway, endpoint, &client);

    let aux = Aux::of(endpoint);
    let free = aux.is_some_and(Aux::counts);
    let prepared = match prepare(gateway, req, payload, &mut meter, free, admission).await {
        Ok(mut p) => {
            p.aux = aux;
            if aux.is_some() {
                p.stream = false;
            }
            p
        }
        Err(e) => {
            meter
                .settle(e.kind.status().as_u16(), Outcome::Rejected, Some(e.kind))
                .await;
            return e.response(dialect);
        }
    };
    let mut candidates = gateway.providers.candidates(&prepared.model, wire);
    if aux.is_some() {
        candidates.retain(|c| c.wire == wire);
    }
    if let Some(aux) = aux.filter(|a| a.counts() && candidates.is_empty()) {
        // No provider of the format to ask: count here, off the async workers.
        let body = prepared.body.clone();
        let Ok(input) = web::block(move || tokens::count_request(&body)).await else {
            let e = ApiError::new(ErrorKind::Internal, "The tokens could not be counted.");
            meter.settle(500, Outcome::Failed, Some(e.kind)).await;
            return e.response(dialect);
        };
        meter.usage(Usage::default());
        meter.settle(200, Outcome::Completed, None).await;
        return HttpResponse::Ok().json(aux.counted(input));
    }
    if candidates.is_empty() {
        // Providers exist for the model but none speaks this endpoint's format: the client's
        // choice of endpoint is at fault. No provider at all: the operator's configuration is.
        let has_providers = !gateway
            .providers
            .candidates(&prepared.model, Wire::Chat)
            .is_empty()
            || !gateway
                .providers
                .candidates(&prepared.model, Wire::Messages)
                .is_empty();
        let e = if has_providers {
            ApiError::new(
                ErrorKind::InvalidRequest,
                format!(
                    "The model {:?} cannot be used on {endpoint}: its providers do not support it. Use another endpoint or model.",
                    prepared.model.id
                ),
            )
            .param("model")
        } else {
            ApiError::new(
                ErrorKind::Unavailable,
                format!(
                    "No provider is configured for the model {:?}.",
                    prepared.model.id
                ),
            )
        };
        meter
            .settle(e.kind.status().as_u16(), Outcome::Rejected, Some(e.kind))
            .await;
        return e.response(dialect);
    }
    forward(gateway, wire, req, prepared, candidates, meter).await
}

/// Tokens a request body of `bytes` is taken to hold before it is sent: a third of its size,
/// which errs high for JSON-wrapped text and code in any script.
fn estimate_input_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(3)
}

/// The output limit the request sets for itself, in whichever field its format uses.
fn output_limit(body: &Value) -> Option<u64> {
    ["max_output_tokens", "max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|field| body.get(*field).and_then(Value::as_u64))
}

fn rate_limited(exceeded: Exceeded) -> ApiError {
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

fn refused(refusal: Refusal, gateway: &Gateway) -> ApiError {
    let money =
        |micros: i64| Money::from_micros(micros).display_in(&gateway.config.billing.currency);
    let quota = |message: String| {
        ApiError::new(ErrorKind::InsufficientQuota, message).code("insufficient_quota")
    };
    match refusal {
        Refusal::Funds { available, needed } => quota(format!(
            "Your balance does not cover this request: {} available, up to {} needed. {}",
            money(available.max(0)),
            money(needed),
            if gateway.config.stripe.enabled() {
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

fn put(headers: &mut header::HeaderMap, name: &str, value: String) {
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
fn limit_headers(headers: &mut header::HeaderMap, dialect: Dialect, verdict: Verdict) {
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
fn credit_headers(
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

async fn read_body(payload: &mut web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
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

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorKind::TooLarge,
        format!("The request body is larger than the {limit} bytes this server accepts."),
    )
}

async fn prepare(
    gateway: &Gateway,
    req: &HttpRequest,
    mut payload: web::Payload,
    meter: &mut Meter,
    free: bool,
    admission: &mut Admission,
) -> Result<Prepared, ApiError> {
    let limits = &mut admission.limits;
    let key = gateway.identify(req.headers()).await?;
    if let Some(row) = meter.row() {
        row.user_id = Some(key.user_id.clone());
        row.key_id = Some(key.key_id.clone());
    }
    admission.user_id = Some(key.user_id.clone());
    if let Some(reason) = key.refusal(now_ms()) {
        return Err(ApiError::new(ErrorKind::Permission, reason));
    }

    let limit = gateway.config.gateway.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large(limit));
    }
    let raw = read_body(&mut payload, limit).await?;
    let body: Value = serde_json::from_slice(&raw).map_err(|e| {
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
    if let Some(row) = meter.row() {
        row.model = Some(model_id.clone());
    }
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
    let model = gateway.model(&model_id).ok_or_else(|| {
        ApiError::new(
            ErrorKind::NotFound,
            format!("The model {model_id:?} does not exist on this server."),
        )
        .code("model_not_found")
        .param("model")
    })?;
    if !key.allows(&model.id) {
        return Err(ApiError::new(
            ErrorKind::Permission,
            format!("This API key may not use the model {:?}.", model.id),
        )
        .param("model"));
    }
    let tier = gateway.tier(key.tier.as_deref());
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
            .unwrap_or(gateway.config.billing.reserve_output_tokens);
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
    })
}

/// Why an attempt did not produce a response for the client.
enum AttemptError {
    /// Worth trying the next provider.
    Retry(ApiError, &'static str),
    /// Final: the upstream refused the request itself (a 4xx other than 429).
    Final(Box<HttpResponse>, u16),
}

async fn forward(
    gateway: &Gateway,
    wire: Wire,
    req: &HttpRequest,
    prepared: Prepared,
    candidates: Vec<Candidate>,
    mut meter: Meter,
) -> HttpResponse {
    let dialect = dialect(wire);
    let attempts = gateway.config.gateway.max_attempts as usize;
    let mut last_error = ApiError::new(
        ErrorKind::Unavailable,
        "No provider could serve the request.",
    );
    for (attempt, candidate) in candidates.into_iter().take(attempts).enumerate() {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
        }
        if let Some(row) = meter.row() {
            row.provider = Some(candidate.upstream.config.name.clone());
        }
        match attempt_once(gateway, wire, req, &prepared, &candidate).await {
            Ok(upstream) => {
                gateway.providers.succeeded(&candidate.upstream);
                meter.first_byte();
                let dropped = upstream.exchange.dropped.join(",");
                if let Some(row) = meter.row()
                    && !dropped.is_empty()
                {
                    row.dropped = Some(dropped.clone());
                }
                let mut response = if prepared.stream {
                    stream_back(wire, &prepared, &candidate, upstream, meter)
                } else {
                    respond_whole(wire, &prepared, &candidate, upstream, meter).await
                };
                if !dropped.is_empty() {
                    put(response.headers_mut(), DROPPED_HEADER, dropped);
                }
                return response;
            }
            Err(AttemptError::Retry(error, what)) => {
                gateway.providers.failed(&candidate.upstream, what);
                tracing::warn!(
                    "provider {} failed before the first byte ({what}); trying the next",
                    candidate.upstream.config.name
                );
                last_error = error;
            }
            Err(AttemptError::Final(response, status)) => {
                meter
                    .settle(status, Outcome::Failed, Some(ErrorKind::InvalidRequest))
                    .await;
                return *response;
            }
        }
    }
    meter
        .settle(
            last_error.kind.status().as_u16(),
            Outcome::Failed,
            Some(last_error.kind),
        )
        .await;
    last_error.response(dialect)
}

/// Sends the request to one provider and waits for the response head (and, for streams, the
/// first chunk), so that anything that fails this early can still fail over.
async fn attempt_once(
    gateway: &Gateway,
    wire: Wire,
    req: &HttpRequest,
    prepared: &Prepared,
    candidate: &Candidate,
) -> Result<Upstream, AttemptError> {
    let upstream = &candidate.upstream;
    let (body, exchange) = upstream_body(gateway, wire, prepared, candidate)?;
    let mut request = gateway
        .http
        .post(match prepared.aux {
            Some(aux) => format!(
                "{}/{}",
                upstream.config.base_url.as_str().trim_end_matches('/'),
                aux.path()
            ),
            None => upstream.url(candidate.wire),
        })
        .timeout(Duration::from_secs(upstream.config.total_timeout_secs))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    if prepared.stream {
        request = request.header(reqwest::header::ACCEPT, "text/event-stream");
    }
    // A client's own headers (its betas, its session) mean something only to a provider of its
    // format; a translated request goes without them.
    if candidate.wire == wire {
        for name in FORWARDED_HEADERS {
            if let Some(value) = req.headers().get(*name) {
                request = request.header(*name, value.as_bytes());
            }
        }
    }
    match (candidate.wire, &upstream.key) {
        (Wire::Messages, key) => {
            if wire != Wire::Messages || !req.headers().contains_key("anthropic-version") {
                request = request.header("anthropic-version", ANTHROPIC_VERSION);
            }
            if let Some(key) = key {
                request = request.header("x-api-key", key.expose());
            }
        }
        (_, Some(key)) => request = request.bearer_auth(key.expose()),
        (_, None) => {}
    }
    for (name, value) in &upstream.config.headers {
        request = request.header(name.as_str(), value.as_str());
    }

    let first_byte = Duration::from_secs(upstream.config.first_byte_timeout_secs);
    let response = match tokio::time::timeout(first_byte, request.send()).await {
        Err(_) => {
            return Err(AttemptError::Retry(
                ApiError::new(
                    ErrorKind::Timeout,
                    "The model provider did not answer in time.",
                ),
                "first-byte timeout",
            ));
        }
        Ok(Err(e)) => {
            let what = if e.is_connect() {
                "connect error"
            } else {
                "request error"
            };
            return Err(AttemptError::Retry(
                ApiError::new(
                    ErrorKind::BadGateway,
                    "The model provider could not be reached.",
                ),
                what,
            ));
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.as_u16() == 429 || status.is_server_error() {
        let kind = if status.as_u16() == 429 {
            ErrorKind::RateLimited
        } else {
            ErrorKind::BadGateway
        };
        let mut error = ApiError::new(kind, format!("The model provider answered {status}."));
        if let Some(secs) = retry_after(response.headers()) {
            error.retry_after_secs = Some(secs);
        }
        let what = if status.as_u16() == 429 { "429" } else { "5xx" };
        return Err(AttemptError::Retry(error, what));
    }
    if !status.is_success() {
        // The provider refused the request itself: pass its reason on in the client's shape.
        let bytes = response.bytes().await.unwrap_or_default();
        return Err(AttemptError::Final(
            Box::new(upstream_refusal(
                wire,
                candidate.wire,
                status.as_u16(),
                &bytes,
            )),
            status.as_u16(),
        ));
    }

    let mut stream = Box::pin(response.bytes_stream());
    let first = if prepared.stream {
        match tokio::time::timeout(first_byte, stream.next()).await {
            Err(_) => {
                return Err(AttemptError::Retry(
                    ApiError::new(
                        ErrorKind::Timeout,
                        "The model provider did not answer in time.",
                    ),
                    "first-byte timeout",
                ));
            }
            Ok(None) | Ok(Some(Err(_))) => {
                return Err(AttemptError::Retry(
                    ApiError::new(
                        ErrorKind::BadGateway,
                        "The model provider closed the connection.",
                    ),
                    "dropped before the first byte",
                ));
            }
            Ok(Some(Ok(bytes))) => Some(bytes),
        }
    } else {
        None
    };
    Ok(Upstream {
        first,
        stream,
        exchange,
        idle: Duration::from_secs(upstream.config.idle_timeout_secs),
    })
}

type ByteStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<web::Bytes>>>>;

struct Upstream {
    first: Option<web::Bytes>,
    stream: ByteStream,
    /// What the request's translation tells the answer's.
    exchange: Exchange,
    idle: Duration,
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The body to send upstream (the client's bytes as they are when nothing needs to change),
/// and what its translation tells the answer's.
fn upstream_body(
    gateway: &Gateway,
    wire: Wire,
    prepared: &Prepared,
    candidate: &Candidate,
) -> Result<(web::Bytes, Exchange), AttemptError> {
    let same_model =
        prepared.body.get("model").and_then(Value::as_str) == Some(candidate.model.as_str());
    let needs_store_off = candidate.wire == Wire::Responses
        && prepared.aux.is_none()
        && !gateway.config.gateway.allow_upstream_storage
        && prepared.body.get("store") != Some(&Value::Bool(false));
    // A Chat stream reports usage only when asked; billing needs it.
    let needs_usage = prepared.stream
        && candidate.wire == Wire::Chat
        && prepared.body.pointer("/stream_options/include_usage") != Some(&Value::Bool(true));
    if (wire == candidate.wire || prepared.aux.is_some())
        && same_model
        && !needs_store_off
        && !needs_usage
        && !translate::may_hold_packed(&prepared.raw)
    {
        return Ok((prepared.raw.clone(), Exchange::default()));
    }
    let unprepared = || {
        AttemptError::Final(
            Box::new(
                ApiError::new(ErrorKind::Internal, "The request could not be prepared.")
                    .response(dialect(wire)),
            ),
            500,
        )
    };
    if prepared.aux.is_some() {
        // Auxiliary endpoints have no translation: only the model name changes.
        let mut body = (*prepared.body).clone();
        if let Some(object) = body.as_object_mut() {
            object.insert("model".to_owned(), Value::String(candidate.model.clone()));
        }
        let bytes = serde_json::to_vec(&body).map_err(|_| unprepared())?;
        return Ok((web::Bytes::from(bytes), Exchange::default()));
    }
    let target = Target {
        wire: candidate.wire,
        model: &candidate.model,
        max_output_tokens: prepared.model.max_output_tokens,
        reasons: !prepared.model.reasoning_efforts.is_empty(),
    };
    let Translated { mut body, exchange } =
        translate::translate_request(wire, &prepared.body, &target).map_err(|e| {
            AttemptError::Final(
                Box::new(
                    ApiError::new(ErrorKind::InvalidRequest, e.message)
                        .param(e.field)
                        .response(dialect(wire)),
                ),
                400,
            )
        })?;
    if candidate.wire == Wire::Responses
        && !gateway.config.gateway.allow_upstream_storage
        && let Some(object) = body.as_object_mut()
    {
        object.insert("store".to_owned(), Value::Bool(false));
    }
    let bytes = serde_json::to_vec(&body).map_err(|_| unprepared())?;
    Ok((web::Bytes::from(bytes), exchange))
}

/// An upstream 4xx, passed on: as it is when the formats match, else reworded in the client's
/// shape with the provider's message.
fn upstream_refusal(client: Wire, provider: Wire, status: u16, bytes: &[u8]) -> HttpResponse {
    let status_code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    if client == provider {
        return HttpResponse::build(status_code)
            .content_type("application/json")
            .body(bytes.to_vec());
    }
    let message = serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| format!("The model provider refused the request ({status})."));
    let kind = match status {
        401 | 403 => ErrorKind::BadGateway,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::TooLarge,
        _ => ErrorKind::InvalidRequest,
    };
    let mut res = ApiError::new(kind, message).response(dialect(client));
    if kind == ErrorKind::InvalidRequest || kind == ErrorKind::NotFound {
        *res.status_mut() = status_code;
    }
    res
}

async fn respond_whole(
    wire: Wire,
    prepared: &Prepared,
    candidate: &Candidate,
    mut upstream: Upstream,
    mut meter: Meter,
) -> HttpResponse {
    let dialect = dialect(wire);
    let mut bytes = web::BytesMut::new();
    while let Some(chunk) = upstream.stream.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(_) => {
                let e = ApiError::new(
                    ErrorKind::BadGateway,
                    "The model provider's answer broke off.",
                );
                meter
                    .settle(502, Outcome::UpstreamDropped, Some(e.kind))
                    .await;
                return e.response(dialect);
            }
        }
    }
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        let e = ApiError::new(
            ErrorKind::BadGateway,
            "The model provider sent an answer that is not JSON.",
        );
        meter.settle(502, Outcome::Failed, Some(e.kind)).await;
        return e.response(dialect);
    };
    match translate::usage_from_response(candidate.wire, &body) {
        // Counting tokens is free.
        _ if prepared.aux.is_some_and(Aux::counts) => meter.usage(Usage::default()),
        Some(usage) => meter.usage(usage),
        // Counted locally when the row is settled.
        None => meter.answer = answer_text(&body),
    }
    let out = if wire == candidate.wire {
        bytes.freeze()
    } else {
        match translate::translate_response(
            candidate.wire,
            wire,
            &body,
            &prepared.model.id,
            &upstream.exchange,
        ) {
            Ok(v) => web::Bytes::from(v.to_string()),
            Err(e) => {
                let e = ApiError::new(ErrorKind::BadGateway, e.message);
                meter.settle(502, Outcome::Failed, Some(e.kind)).await;
                return e.response(dialect);
            }
        }
    };
    let outcome = whole_outcome(candidate.wire, &body);
    meter.settle(200, outcome, None).await;
    HttpResponse::Ok()
        .content_type("application/json")
        .body(out)
}

/// Every string of a whole answer, joined: what the model wrote, for counting.
fn answer_text(body: &Value) -> String {
    fn walk(value: &Value, out: &mut String) {
        match value {
            Value::String(s) => out.push_str(s),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            Value::Object(map) => map
                .iter()
                .filter(|(k, _)| {
                    matches!(
                        k.as_str(),
                        "choices"
                            | "message"
                            | "content"
                            | "text"
                            | "output"
                            | "arguments"
                            | "reasoning_content"
                            | "tool_calls"
                            | "function"
                            | "input"
                            | "summary"
                            | "thinking"
                    )
                })
                .for_each(|(_, v)| walk(v, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(body, &mut out);
    out
}

/// Completed, or cut short by the token limit.
fn whole_outcome(wire: Wire, body: &Value) -> Outcome {
    let incomplete = match wire {
        Wire::Responses => body.get("status").and_then(Value::as_str) == Some("incomplete"),
        Wire::Messages => body.get("stop_reason").and_then(Value::as_str) == Some("max_tokens"),
        Wire::Chat | Wire::Completions => {
            body.pointer("/choices/0/finish_reason")
                .and_then(Value::as_str)
                == Some("length")
        }
    };
    if incomplete {
        Outcome::Incomplete
    } else {
        Outcome::Completed
    }
}

/// Streams the upstream's events to the client, translated, with no buffering beyond one event.
fn stream_back(
    wire: Wire,
    prepared: &Prepared,
    candidate: &Candidate,
    upstream: Upstream,
    meter: Meter,
) -> HttpResponse {
    let response_id = format!("resp_{}", crate::auth::token::random_id());
    let state = StreamState {
        client_wire: wire,
        translator: StreamTranslator::new(
            candidate.wire,
            wire,
            &prepared.model.id,
            &response_id,
            &upstream.exchange,
        ),
        parser: SseParser::default(),
        first: upstream.first,
        upstream: upstream.stream,
        idle: upstream.idle,
        pending: VecDeque::new(),
        done: false,
        meter,
    };
    let body = futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(bytes) = state.pending.pop_front() {
                return Some((Ok::<_, std::convert::Infallible>(bytes), state));
            }
            if state.done {
                return None;
            }
            state.advance().await;
        }
    });
    let mut res = HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(body);
    // Compression would hold events back until a buffer fills.
    res.headers_mut().insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    res
}

struct StreamState {
    client_wire: Wire,
    translator: StreamTranslator,
    parser: SseParser,
    first: Option<web::Bytes>,
    upstream: ByteStream,
    idle: Duration,
    pending: VecDeque<web::Bytes>,
    done: bool,
    meter: Meter,
}

impl StreamState {
    /// Reads the next upstream chunk and queues what the client should get for it.
    async fn advance(&mut self) {
        let chunk = match self.first.take() {
            Some(bytes) => Some(Ok(bytes)),
            None => match tokio::time::timeout(self.idle, self.upstream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    self.close("The model provider stopped sending.", Outcome::Failed)
                        .await;
                    return;
                }
            },
        };
        let events = match chunk {
            Some(Ok(bytes)) => self.parser.push(&bytes),
            Some(Err(_)) => {
                self.close(
                    "The model provider's stream broke off.",
                    Outcome::UpstreamDropped,
                )
                .await;
                return;
            }
            None => {
                // The upstream ended: the translator decides whether that was a proper end.
                let rest = self.parser.finish();
                let mut out = self.translate(&rest);
                if !self.translator.finished() {
                    out.extend(self.translator.finish(None));
                }
                let outcome = if self.translator.failed() {
                    Outcome::UpstreamDropped
                } else {
                    Outcome::Completed
                };
                self.settle(outcome).await;
                self.queue(out);
                return;
            }
        };
        if self.parser.overflowed() {
            self.close(
                "The model provider sent an event too large to pass on.",
                Outcome::Failed,
            )
            .await;
            return;
        }
        let out = self.translate(&events);
        if self.translator.finished() {
            // The closing events wait until the usage row is durable.
            let outcome = if self.translator.failed() {
                Outcome::Failed
            } else {
                Outcome::Completed
            };
            self.settle(outcome).await;
        }
        self.queue(out);
    }

    fn translate(&mut self, events: &[SseEvent]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for event in events {
            out.extend(self.translator.on_event(event));
        }
        for event in &out {
            if let Some(text) = tokens::delta_text(self.client_wire, event) {
                self.meter.answer.push_str(&text);
            }
        }
        out
    }

    fn queue(&mut self, events: Vec<SseEvent>) {
        for event in events {
            self.pending.push_back(web::Bytes::from(event.to_bytes()));
        }
    }

    async fn settle(&mut self, outcome: Outcome) {
        if let Some(usage) = self.translator.usage() {
            self.meter.usage(usage);
        }
        let error = (outcome != Outcome::Completed).then_some(ErrorKind::BadGateway);
        self.meter.settle(200, outcome, error).await;
        self.done = true;
    }

    async fn close(&mut self, failure: &str, outcome: Outcome) {
        self.settle(outcome).await;
        let events = self.translator.finish(Some(failure));
        self.queue(events);
    }
}
