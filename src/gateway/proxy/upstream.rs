//! The upstream side: each provider tried in turn, the body it gets (translated when its
//! format differs), and its refusals turned into the client's format.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::db::usage::Outcome;
use crate::gateway::Gateway;
use crate::gateway::error::{ApiError, ErrorKind};
use crate::gateway::providers::Candidate;
use crate::metrics::UpstreamError;
use crate::translate::{self, Exchange, Target, Translated, Wire};

use super::admission::put;
use super::meter::Meter;
use super::respond::{respond_whole, stream_back};
use super::{ANTHROPIC_VERSION, DROPPED_HEADER, FORWARDED_HEADERS, Prepared, dialect};

/// Why an attempt did not produce a response for the client.
pub(super) enum AttemptError {
    /// Worth trying the next provider: the provider cannot have done the work, or it is a stream
    /// that gave nothing yet. `down` when it counts against the provider's health; a slow
    /// provider is not a broken one.
    Retry {
        error: ApiError,
        what: &'static str,
        down: bool,
    },
    /// Final: the upstream refused the request itself (a 4xx other than 429 and the credential
    /// refusals), or may have done the work, which must not be paid for twice.
    Final {
        response: Box<HttpResponse>,
        status: u16,
        kind: ErrorKind,
        /// Counts against the provider's health, with the reason.
        down: Option<&'static str>,
        /// What the provider did wrong, when it was the provider.
        upstream: Option<UpstreamError>,
        /// What the translation left out of the request the provider refused, comma-separated
        /// (empty when nothing): the client may want to know, and the usage row records it.
        dropped: String,
    },
}

impl AttemptError {
    fn retry(kind: ErrorKind, message: &str, what: &'static str) -> AttemptError {
        AttemptError::Retry {
            error: ApiError::new(kind, message),
            what,
            down: true,
        }
    }

    /// A final error in the client's format, from the gateway's own words.
    fn final_error(
        wire: Wire,
        error: ApiError,
        down: Option<&'static str>,
        upstream: Option<UpstreamError>,
    ) -> AttemptError {
        AttemptError::Final {
            upstream,
            status: error.kind.status().as_u16(),
            kind: error.kind,
            response: Box::new(error.response(dialect(wire))),
            down,
            dropped: String::new(),
        }
    }
}

pub(super) async fn forward(
    gateway: &Gateway,
    wire: Wire,
    req: &HttpRequest,
    prepared: Prepared,
    candidates: Vec<Candidate>,
    mut meter: Meter,
) -> HttpResponse {
    let dialect = dialect(wire);
    let attempts = prepared.routing.config.gateway.max_attempts as usize;
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
                prepared.routing.providers.succeeded(&candidate.upstream);
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
            Err(AttemptError::Retry { error, what, down }) => {
                meter.upstream_error(error_kind(what));
                if down {
                    prepared.routing.providers.failed(&candidate.upstream, what);
                }
                tracing::warn!(
                    "provider {} failed before the first byte ({what}); trying the next",
                    candidate.upstream.config.name
                );
                last_error = error;
            }
            Err(AttemptError::Final {
                mut response,
                status,
                kind,
                down,
                upstream,
                dropped,
            }) => {
                if let Some(upstream) = upstream {
                    meter.upstream_error(upstream);
                }
                if !dropped.is_empty() {
                    put(response.headers_mut(), DROPPED_HEADER, dropped.clone());
                    if let Some(row) = meter.row() {
                        row.dropped = Some(dropped);
                    }
                }
                if let Some(what) = down {
                    prepared.routing.providers.failed(&candidate.upstream, what);
                    tracing::warn!(
                        "provider {} failed after the request was sent ({what}); not retried",
                        candidate.upstream.config.name
                    );
                }
                meter.settle(status, Outcome::Failed, Some(kind)).await;
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
pub(super) async fn attempt_once(
    gateway: &Gateway,
    wire: Wire,
    req: &HttpRequest,
    prepared: &Prepared,
    candidate: &Candidate,
) -> Result<Upstream, AttemptError> {
    let upstream = &candidate.upstream;
    let (body, exchange) = upstream_body(wire, prepared, candidate)?;
    let mut request = gateway
        .http
        .post(match prepared.aux {
            Some(aux) => upstream.url_at(aux.path()),
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
    // A Messages client's own API version stands; any other request gets ours.
    let client_version = wire == Wire::Messages && req.headers().contains_key("anthropic-version");
    request = credentials(request, upstream, candidate.wire, !client_version);

    // A stream's head comes at once and its first event soon after: a provider that sends
    // neither in time is slow and the next one is tried. A whole answer's head comes only with
    // the answer, so it may take as long as the request may; when it does not come, the work
    // may have been done (and billed) upstream, and it is not sent again.
    let first_byte = Duration::from_secs(upstream.config.first_byte_timeout_secs);
    let head_wait = if prepared.stream {
        first_byte
    } else {
        Duration::from_secs(upstream.config.total_timeout_secs)
    };
    let slow_stream = || AttemptError::Retry {
        error: ApiError::new(
            ErrorKind::Timeout,
            "The model provider did not answer in time.",
        ),
        what: "first-byte timeout",
        down: false,
    };
    let slow_whole = || {
        AttemptError::final_error(
            wire,
            ApiError::new(
                ErrorKind::Timeout,
                "The model provider did not finish the answer in time.",
            ),
            None,
            Some(UpstreamError::Timeout),
        )
    };
    let response = match tokio::time::timeout(head_wait, request.send()).await {
        Err(_) if prepared.stream => return Err(slow_stream()),
        Err(_) => return Err(slow_whole()),
        Ok(Err(e)) if e.is_connect() => {
            return Err(AttemptError::retry(
                ErrorKind::BadGateway,
                "The model provider could not be reached.",
                "connect error",
            ));
        }
        Ok(Err(e)) if e.is_timeout() && prepared.stream => return Err(slow_stream()),
        Ok(Err(e)) if e.is_timeout() => return Err(slow_whole()),
        Ok(Err(_)) if prepared.stream => {
            return Err(AttemptError::retry(
                ErrorKind::BadGateway,
                "The model provider could not be reached.",
                "request error",
            ));
        }
        Ok(Err(_)) => {
            return Err(AttemptError::final_error(
                wire,
                ApiError::new(
                    ErrorKind::BadGateway,
                    "The connection to the model provider broke off.",
                ),
                Some("request error"),
                Some(UpstreamError::Request),
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
        return Err(AttemptError::Retry {
            error,
            what,
            down: true,
        });
    }
    if matches!(status.as_u16(), 401 | 403 | 407) {
        // The provider refused this server's own credentials: the operator's problem, not the
        // user's, and its text may quote part of the operator's key. Nothing of it is passed on.
        return Err(AttemptError::retry(
            ErrorKind::BadGateway,
            "The model provider refused this server's credentials. The operator has been told.",
            "credentials refused",
        ));
    }
    if !status.is_success() {
        // The provider refused the request itself: pass its reason on in the client's shape.
        let bytes = response.bytes().await.unwrap_or_default();
        return Err(AttemptError::Final {
            response: Box::new(upstream_refusal(
                wire,
                candidate.wire,
                status.as_u16(),
                &bytes,
            )),
            status: status.as_u16(),
            kind: ErrorKind::InvalidRequest,
            down: None,
            upstream: Some(UpstreamError::Refused),
            dropped: exchange.dropped.join(","),
        });
    }

    let mut stream = Box::pin(response.bytes_stream());
    let first = if prepared.stream {
        match tokio::time::timeout(first_byte, stream.next()).await {
            Err(_) => return Err(slow_stream()),
            Ok(None) | Ok(Some(Err(_))) => {
                return Err(AttemptError::retry(
                    ErrorKind::BadGateway,
                    "The model provider closed the connection.",
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

/// The metrics' name for a failure before the first byte, from the reason the health keeps.
fn error_kind(what: &str) -> UpstreamError {
    match what {
        "first-byte timeout" => UpstreamError::Timeout,
        "connect error" => UpstreamError::Connect,
        "5xx" => UpstreamError::ServerError,
        "429" => UpstreamError::RateLimited,
        "credentials refused" => UpstreamError::Credentials,
        _ => UpstreamError::Request,
    }
}

pub(super) type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<web::Bytes>>>>;

pub(super) struct Upstream {
    pub(super) first: Option<web::Bytes>,
    pub(super) stream: ByteStream,
    /// What the request's translation tells the answer's.
    pub(super) exchange: Exchange,
    pub(super) idle: Duration,
}

pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
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
pub(super) fn upstream_body(
    wire: Wire,
    prepared: &Prepared,
    candidate: &Candidate,
) -> Result<(web::Bytes, Exchange), AttemptError> {
    let same_model =
        prepared.body.get("model").and_then(Value::as_str) == Some(candidate.model.as_str());
    // Without the operator's leave, nothing is stored upstream: Responses stores unless told
    // not to, Chat only when asked to.
    let keep_nothing =
        prepared.aux.is_none() && !prepared.routing.config.gateway.allow_upstream_storage;
    let store = prepared.body.get("store");
    let needs_store_off = keep_nothing
        && match candidate.wire {
            Wire::Responses => store != Some(&Value::Bool(false)),
            Wire::Chat => store.is_some(),
            Wire::Messages | Wire::Completions => false,
        };
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
        AttemptError::final_error(
            wire,
            ApiError::new(ErrorKind::Internal, "The request could not be prepared."),
            None,
            None,
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
            AttemptError::final_error(
                wire,
                ApiError::new(ErrorKind::InvalidRequest, e.message).param(e.field),
                None,
                None,
            )
        })?;
    if keep_nothing && let Some(object) = body.as_object_mut() {
        match candidate.wire {
            Wire::Responses => {
                object.insert("store".to_owned(), Value::Bool(false));
            }
            // Absent is off, and servers that merely speak Chat need not know the field.
            Wire::Chat => {
                object.remove("store");
            }
            Wire::Messages | Wire::Completions => {}
        }
    }
    let bytes = serde_json::to_vec(&body).map_err(|_| unprepared())?;
    Ok((web::Bytes::from(bytes), exchange))
}

/// An upstream 4xx, passed on: as it is when the formats match, else reworded in the client's
/// shape with the provider's message.
pub(super) fn upstream_refusal(
    client: Wire,
    provider: Wire,
    status: u16,
    bytes: &[u8],
) -> HttpResponse {
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

/// This server's credentials for the provider, as its format takes them (`x-api-key` and, when
/// `version`, an API version for Messages; a bearer token for the rest), and the headers the
/// operator configured for it.
pub(in crate::gateway) fn credentials(
    mut request: reqwest::RequestBuilder,
    upstream: &crate::gateway::providers::Upstream,
    wire: Wire,
    version: bool,
) -> reqwest::RequestBuilder {
    let sent = &upstream.sent_headers;
    if wire == Wire::Messages {
        if version {
            request = request.header("anthropic-version", ANTHROPIC_VERSION);
        }
        if let Some(key) = &sent.api_key {
            request = request.header("x-api-key", key.clone());
        }
    } else if let Some(bearer) = &sent.bearer {
        request = request.header(reqwest::header::AUTHORIZATION, bearer.clone());
    }
    for (name, value) in &sent.extra {
        request = request.header(name.clone(), value.clone());
    }
    request
}
