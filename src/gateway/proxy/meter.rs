//! The usage row of a request: opened at admission, settled once whatever the exit path.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::billing::limits::RateLimits;
use crate::billing::wallet::Hold;
use crate::client::ClientInfo;
use crate::db::now_ms;
use crate::db::usage::{Endpoint, Outcome, UsageRow};
use crate::gateway::Gateway;
use crate::gateway::error::ErrorKind;
use crate::gateway::metering;
use crate::metrics::{Metrics, UpstreamError};
use crate::translate::Usage;

/// The usage row of one request, settled exactly once: by the code that finishes the request,
/// or, if the client went away first, when it is dropped.
pub(super) struct Meter {
    pub(super) row: Option<UsageRow>,
    pub(super) started: Instant,
    pub(super) rate: Option<metering::Rate>,
    pub(super) writer: metering::UsageWriter,
    /// The request's reservation, settled with its row.
    pub(super) hold: Option<Hold>,
    /// The account's tokens-per-minute bucket, which the output tokens are taken from.
    pub(super) tokens_per_minute: Option<(Arc<RateLimits>, u32)>,
    /// The upstream reported usage; otherwise tokens are counted here when the row is settled.
    pub(super) usage_known: bool,
    /// The request, for counting its tokens if the upstream reports none. Memory only.
    pub(super) request: Option<Arc<Value>>,
    /// The answer's text so far, for the same reason. Memory only, for this request's life.
    pub(super) answer: String,
    pub(super) metrics: Arc<Metrics>,
    /// The configured model the request is for, once it is known: the metrics' model label.
    pub(super) model: Option<String>,
}

impl Meter {
    pub(super) fn new(gateway: &Gateway, endpoint: Endpoint, client: &ClientInfo) -> Meter {
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
            metrics: gateway.metrics.clone(),
            model: None,
        }
    }

    pub(super) fn row(&mut self) -> Option<&mut UsageRow> {
        self.row.as_mut()
    }

    /// No key has vouched for the request (yet).
    pub(super) fn anonymous(&self) -> bool {
        self.row.as_ref().is_some_and(|row| row.user_id.is_none())
    }

    /// Forgets the row: nothing is written for this request, it is only counted.
    pub(super) fn discard(&mut self, status: u16) {
        if let Some(row) = &self.row {
            self.metrics.request(
                row.endpoint.as_str(),
                None,
                None,
                status,
                self.started.elapsed(),
            );
        }
        self.row = None;
        self.request = None;
    }

    pub(super) fn first_byte(&mut self) {
        let elapsed = self.started.elapsed();
        if let Some(row) = self.row.as_mut()
            && row.ttfb_ms.is_none()
        {
            row.ttfb_ms = Some(elapsed.as_millis() as i64);
            if let Some(provider) = &row.provider {
                self.metrics
                    .first_byte(row.endpoint.as_str(), provider, elapsed);
            }
        }
    }

    /// The provider now serving the request failed this way.
    pub(super) fn upstream_error(&self, kind: UpstreamError) {
        if let Some(provider) = self.row.as_ref().and_then(|row| row.provider.as_deref()) {
            self.metrics.upstream_error(provider, kind);
        }
    }

    pub(super) fn usage(&mut self, usage: Usage) {
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
    /// Counting happens on the blocking pool (see `tokens::off_thread`): tokenizing can take a
    /// while and must hold up neither this worker, a `Drop`, nor the usage writer.
    pub(super) fn finish_row(
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
        let elapsed = self.started.elapsed();
        row.latency_ms = elapsed.as_millis() as i64;
        self.metrics.request(
            row.endpoint.as_str(),
            self.model.as_deref(),
            row.provider.as_deref(),
            status,
            elapsed,
        );
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
    pub(super) async fn settle(&mut self, status: u16, outcome: Outcome, error: Option<ErrorKind>) {
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
