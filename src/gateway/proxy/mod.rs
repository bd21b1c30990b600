//! Forwarding: authenticate, pick a provider, translate if the formats differ, send, and stream
//! the answer back event by event. Failures before the first byte fail over to the next
//! provider; after it, the client's stream is closed properly with an error event. Every exit
//! path settles one usage row.
//!
//! The steps, a module each: `admission` (body, model, limits, wallet), `upstream` (each provider
//! in turn), `respond` (whole or streamed answers), and `meter` (the usage row every path settles).

mod admission;
mod meter;
mod respond;
mod upstream;

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use crate::billing::limits::Verdict;
use crate::config::ModelConfig;
use crate::db::usage::{Endpoint, Outcome};
use crate::gateway::Gateway;
use crate::gateway::error::{ApiError, Dialect, ErrorKind};
use crate::gateway::tokens;
use crate::translate::{Usage, Wire};

use admission::{credit_headers, limit_headers, prepare};
use meter::Meter;
pub(super) use upstream::credentials;
use upstream::forward;

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
    pub(super) fn of(endpoint: Endpoint) -> Option<Aux> {
        match endpoint {
            Endpoint::CountTokens => Some(Aux::CountTokens),
            Endpoint::ResponsesInputTokens => Some(Aux::InputTokens),
            Endpoint::ResponsesCompact => Some(Aux::Compact),
            _ => None,
        }
    }

    /// The path after the provider's base URL.
    pub(super) fn path(self) -> &'static str {
        match self {
            Aux::CountTokens => "messages/count_tokens",
            Aux::InputTokens => "responses/input_tokens",
            Aux::Compact => "responses/compact",
        }
    }

    /// Counting tokens costs nothing; when no provider of the format serves the model, the
    /// gateway counts itself.
    pub(super) fn counts(self) -> bool {
        matches!(self, Aux::CountTokens | Aux::InputTokens)
    }

    /// The answer of a count made here, in the endpoint's shape.
    pub(super) fn counted(self, input_tokens: u64) -> Value {
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
    pub(super) aux: Option<Aux>,
    pub(super) body: Arc<Value>,
    pub(super) raw: web::Bytes,
    pub(super) model: ModelConfig,
    pub(super) stream: bool,
    /// The configuration this request runs under, from its start to its end.
    pub(super) routing: Arc<crate::gateway::Routing>,
}

/// What the admission checks learned, for the response headers.
#[derive(Default)]
struct Admission {
    pub(super) user_id: Option<String>,
    pub(super) limits: Option<Verdict>,
    /// The account's monthly spend cap, its own or its tier's.
    pub(super) monthly_cap: Option<i64>,
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
    let client = crate::gateway::client_of(req);
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
            // A request no key vouched for leaves nothing behind: no row, no address.
            if meter.anonymous() {
                meter.discard(e.kind.status().as_u16());
            } else {
                meter
                    .settle(e.kind.status().as_u16(), Outcome::Rejected, Some(e.kind))
                    .await;
            }
            return e.response(dialect);
        }
    };
    let mut candidates = prepared.routing.providers.candidates(&prepared.model, wire);
    if aux.is_some() {
        candidates.retain(|c| c.wire == wire);
    }
    if let Some(aux) = aux.filter(|a| a.counts() && candidates.is_empty()) {
        // No provider of the format to ask: count here, off the async workers, a few at a time.
        let body = prepared.body.clone();
        let Some(input) = tokens::off_thread(move || tokens::count_request(&body)).await else {
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
        let has_providers = !prepared
            .routing
            .providers
            .candidates(&prepared.model, Wire::Chat)
            .is_empty()
            || !prepared
                .routing
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
