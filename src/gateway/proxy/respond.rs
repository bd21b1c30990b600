//! The answer back to the client: whole or streamed event by event, translated when the
//! formats differ, with the usage read on the way.

use std::collections::VecDeque;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use futures_util::StreamExt;
use serde_json::Value;

use crate::db::usage::Outcome;
use crate::gateway::error::{ApiError, ErrorKind};
use crate::gateway::providers::Candidate;
use crate::gateway::tokens;
use crate::metrics::UpstreamError;
use crate::translate::sse::{MAX_EVENT_BYTES, SseEvent, SseParser};
use crate::translate::{self, StreamTranslator, Usage, Wire};

use super::meter::Meter;
use super::upstream::{ByteStream, Upstream};
use super::{Aux, Prepared, dialect};

pub(super) async fn respond_whole(
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
            // A whole answer is far smaller than one streamed event may be; one that is not is
            // no answer, and it is not held in memory.
            Ok(chunk) if bytes.len() + chunk.len() > MAX_EVENT_BYTES => {
                let e = ApiError::new(
                    ErrorKind::BadGateway,
                    "The model provider's answer is larger than this server accepts.",
                );
                meter.upstream_error(UpstreamError::BadAnswer);
                meter.settle(502, Outcome::Failed, Some(e.kind)).await;
                return e.response(dialect);
            }
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(_) => {
                let e = ApiError::new(
                    ErrorKind::BadGateway,
                    "The model provider's answer broke off.",
                );
                meter.upstream_error(UpstreamError::Dropped);
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
        meter.upstream_error(UpstreamError::BadAnswer);
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
                meter.upstream_error(UpstreamError::BadAnswer);
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
pub(super) fn answer_text(body: &Value) -> String {
    pub(super) fn walk(value: &Value, out: &mut String) {
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
pub(super) fn whole_outcome(wire: Wire, body: &Value) -> Outcome {
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
pub(super) fn stream_back(
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

pub(super) struct StreamState {
    pub(super) client_wire: Wire,
    pub(super) translator: StreamTranslator,
    pub(super) parser: SseParser,
    pub(super) first: Option<web::Bytes>,
    pub(super) upstream: ByteStream,
    pub(super) idle: Duration,
    pub(super) pending: VecDeque<web::Bytes>,
    pub(super) done: bool,
    pub(super) meter: Meter,
}

impl StreamState {
    /// Reads the next upstream chunk and queues what the client should get for it.
    pub(super) async fn advance(&mut self) {
        let chunk = match self.first.take() {
            Some(bytes) => Some(Ok(bytes)),
            None => match tokio::time::timeout(self.idle, self.upstream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    self.meter.upstream_error(UpstreamError::Timeout);
                    self.close("The model provider stopped sending.", Outcome::Failed)
                        .await;
                    return;
                }
            },
        };
        let events = match chunk {
            Some(Ok(bytes)) => self.parser.push(&bytes),
            Some(Err(_)) => {
                self.meter.upstream_error(UpstreamError::Dropped);
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
            self.meter.upstream_error(UpstreamError::BadAnswer);
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

    pub(super) fn translate(&mut self, events: &[SseEvent]) -> Vec<SseEvent> {
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

    pub(super) fn queue(&mut self, events: Vec<SseEvent>) {
        for event in events {
            self.pending.push_back(web::Bytes::from(event.to_bytes()));
        }
    }

    pub(super) async fn settle(&mut self, outcome: Outcome) {
        if let Some(usage) = self.translator.usage() {
            self.meter.usage(usage);
        }
        let error = (outcome != Outcome::Completed).then_some(ErrorKind::BadGateway);
        self.meter.settle(200, outcome, error).await;
        self.done = true;
    }

    pub(super) async fn close(&mut self, failure: &str, outcome: Outcome) {
        self.settle(outcome).await;
        let events = self.translator.finish(Some(failure));
        self.queue(events);
    }
}
