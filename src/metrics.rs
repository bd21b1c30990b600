//! The figures `/metrics` exposes, in the Prometheus text format: the registry and its metric
//! families. Requests are counted on the hot path with atomics (a family's lookup takes a read
//! lock and hashes the labels); what is read only when scraped (the providers' circuit breakers,
//! the outbox, the database's size) is handed to [`Metrics::encode`] as a [`Scrape`].
//!
//! Labels hold only names this server chose or was configured with — routes, configured model
//! ids, provider names, status codes, error kinds — never anything a request carried, so their
//! number stays bounded and no content can reach a scrape.

use std::fmt::Write as _;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of a scrape.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
/// Every metric's name starts with it.
const PREFIX: &str = "codexapi";
/// The model label of a request that named no configured model (or none yet).
pub const OTHER_MODEL: &str = "other";
/// The provider label of a request no provider was asked about.
pub const NO_PROVIDER: &str = "none";

/// Seconds for a gateway's requests: from a refusal answered in well under a millisecond to a
/// long reasoning stream of several minutes.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 600.0,
];
/// Seconds for one group commit of usage rows.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Rows in one group commit.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// An HTTP status code as a label value, written without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Status(pub u16);

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        write!(encoder, "{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    model: String,
    provider: String,
    status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TimingLabels {
    route: &'static str,
    provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct UpstreamLabels {
    provider: String,
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderStateLabels {
    provider: String,
    state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutboxLabels {
    state: &'static str,
}

/// What went wrong with a provider, as the upstream-errors counter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamError {
    /// No answer (or first event) in time, or a stream that went quiet.
    Timeout,
    /// The connection could not be made.
    Connect,
    /// The request broke off on the way, or the connection closed before the first byte.
    Request,
    /// A 5xx answer.
    ServerError,
    /// A 429 answer.
    RateLimited,
    /// This server's own credentials were refused (401, 403, 407).
    Credentials,
    /// Another 4xx: the provider refused the request itself.
    Refused,
    /// The answer broke off after it began.
    Dropped,
    /// An answer that could not be read or passed on (not JSON, too large, untranslatable).
    BadAnswer,
}

impl UpstreamError {
    pub const ALL: &'static [UpstreamError] = &[
        UpstreamError::Timeout,
        UpstreamError::Connect,
        UpstreamError::Request,
        UpstreamError::ServerError,
        UpstreamError::RateLimited,
        UpstreamError::Credentials,
        UpstreamError::Refused,
        UpstreamError::Dropped,
        UpstreamError::BadAnswer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamError::Timeout => "timeout",
            UpstreamError::Connect => "connect",
            UpstreamError::Request => "request",
            UpstreamError::ServerError => "5xx",
            UpstreamError::RateLimited => "429",
            UpstreamError::Credentials => "credentials",
            UpstreamError::Refused => "4xx",
            UpstreamError::Dropped => "dropped",
            UpstreamError::BadAnswer => "bad_answer",
        }
    }
}

/// A provider's state as its circuit breaker and the admins leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderState {
    /// Requests go to it.
    Closed,
    /// The breaker rests it after failures.
    Open,
    /// An admin took it out of rotation.
    OutOfRotation,
}

impl ProviderState {
    const ALL: [ProviderState; 3] = [
        ProviderState::Closed,
        ProviderState::Open,
        ProviderState::OutOfRotation,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ProviderState::Closed => "closed",
            ProviderState::Open => "open",
            ProviderState::OutOfRotation => "out_of_rotation",
        }
    }
}

/// What is read only when scraped.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub providers: Vec<(String, ProviderState)>,
    /// Mails waiting for their first try, waiting to be tried again, and given up.
    pub outbox: Option<(i64, i64, i64)>,
    /// The database file with its write-ahead log.
    pub database_bytes: Option<u64>,
    /// When the retention job last ran (unix ms), and how long it took (ms).
    pub retention: Option<(i64, i64)>,
    pub process: Option<Process>,
}

/// The process's own figures, from `/proc/self`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub threads: u64,
    pub start_time_seconds: f64,
}

impl Process {
    /// Reads `/proc/self` (Linux); none elsewhere or when it cannot be read.
    pub fn read() -> Option<Process> {
        // The kernel's clock ticks and page size on every Linux this runs on.
        const TICKS_PER_SECOND: f64 = 100.0;
        const PAGE_BYTES: u64 = 4096;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name (field 2) is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // Counted from field 3, the state.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let cpu_ticks = field(14)? + field(15)?;
        let threads = field(20)?;
        let start_ticks = field(22)?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let mut pages = statm
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0));
        let virtual_pages = pages.next()?;
        let resident_pages = pages.next()?;
        let open_fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64);
        Some(Process {
            cpu_seconds: cpu_ticks as f64 / TICKS_PER_SECOND,
            resident_bytes: resident_pages * PAGE_BYTES,
            virtual_bytes: virtual_pages * PAGE_BYTES,
            open_fds,
            threads,
            start_time_seconds: boot as f64 + start_ticks as f64 / TICKS_PER_SECOND,
        })
    }
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS.iter().copied())
}

/// The registry and the families recorded while the server runs.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Family<TimingLabels, Histogram, fn() -> Histogram>,
    first_byte: Family<TimingLabels, Histogram, fn() -> Histogram>,
    upstream_errors: Family<UpstreamLabels, Counter>,
    usage_queued: Gauge,
    usage_backlog: Gauge,
    usage_commit: Histogram,
    usage_batch: Histogram,
    usage_failed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "API requests answered, by route, configured model (other when none), provider (none when none was asked) and status code",
            requests.clone(),
        );
        let duration: Family<TimingLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        registry.register_with_unit(
            "http_request_duration",
            "Time from a request's arrival to its last byte (or its refusal), by route and provider",
            Unit::Seconds,
            duration.clone(),
        );
        let first_byte: Family<TimingLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(request_histogram);
        registry.register_with_unit(
            "http_time_to_first_byte",
            "Time from a request's arrival to the provider's first byte, by route and provider",
            Unit::Seconds,
            first_byte.clone(),
        );
        let upstream_errors = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "upstream_errors",
            "Provider failures by provider and kind (timeout, connect, request, 5xx, 429, credentials, 4xx, dropped, bad_answer)",
            upstream_errors.clone(),
        );
        let usage_queued = Gauge::default();
        registry.register(
            "usage_writer_queue_rows",
            "Usage rows waiting for the usage writer's next commit",
            usage_queued.clone(),
        );
        let usage_backlog = Gauge::default();
        registry.register(
            "usage_writer_backlog_rows",
            "Usage rows the database would not take, kept to be written again (new requests get a 503 meanwhile)",
            usage_backlog.clone(),
        );
        let usage_commit = Histogram::new(COMMIT_BUCKETS.iter().copied());
        registry.register_with_unit(
            "usage_writer_commit_duration",
            "Time one group commit of usage rows (rows, bills and ledger) takes",
            Unit::Seconds,
            usage_commit.clone(),
        );
        let usage_batch = Histogram::new(BATCH_BUCKETS.iter().copied());
        registry.register(
            "usage_writer_commit_rows",
            "Usage rows in one group commit",
            usage_batch.clone(),
        );
        let usage_failed = Counter::default();
        registry.register(
            "usage_writer_failed_commits",
            "Group commits the database refused",
            usage_failed.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            first_byte,
            upstream_errors,
            usage_queued,
            usage_backlog,
            usage_commit,
            usage_batch,
            usage_failed,
        }
    }

    /// One API request answered. `model` is a configured model id, `provider` a configured
    /// provider's name.
    pub fn request(
        &self,
        route: &'static str,
        model: Option<&str>,
        provider: Option<&str>,
        status: u16,
        elapsed: Duration,
    ) {
        let provider = provider.unwrap_or(NO_PROVIDER);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                model: model.unwrap_or(OTHER_MODEL).to_owned(),
                provider: provider.to_owned(),
                status: Status(status),
            })
            .inc();
        self.duration
            .get_or_create(&TimingLabels {
                route,
                provider: provider.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// A provider's first byte of an answer.
    pub fn first_byte(&self, route: &'static str, provider: &str, elapsed: Duration) {
        self.first_byte
            .get_or_create(&TimingLabels {
                route,
                provider: provider.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn upstream_error(&self, provider: &str, kind: UpstreamError) {
        self.upstream_errors
            .get_or_create(&UpstreamLabels {
                provider: provider.to_owned(),
                kind: kind.as_str(),
            })
            .inc();
    }

    /// A usage row handed to the writer.
    pub fn usage_queued(&self) {
        self.usage_queued.inc();
    }

    /// Rows the writer took off its queue.
    pub fn usage_taken(&self, rows: usize) {
        self.usage_queued.dec_by(rows as i64);
    }

    pub fn usage_backlog(&self, rows: usize) {
        self.usage_backlog.set(rows as i64);
    }

    /// One group commit tried: how long it took, its rows, whether the database took it.
    pub fn usage_commit(&self, elapsed: Duration, rows: usize, ok: bool) {
        if ok {
            self.usage_commit.observe(elapsed.as_secs_f64());
            self.usage_batch.observe(rows as f64);
        } else {
            self.usage_failed.inc();
        }
    }

    /// The exposition: what was recorded, then what `scrape` read just now.
    pub fn encode(&self, scrape: &Scrape) -> Result<String, std::fmt::Error> {
        use prometheus_client::encoding::prometheus_text::encode;
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        encode(&mut out, &scraped(scrape))?;
        Ok(out)
    }
}

/// A registry of this scrape's readings: built afresh each time, so a provider no longer
/// configured is no longer listed.
fn scraped(scrape: &Scrape) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    let states = Family::<ProviderStateLabels, Gauge>::default();
    for (name, state) in &scrape.providers {
        for each in ProviderState::ALL {
            states
                .get_or_create(&ProviderStateLabels {
                    provider: name.clone(),
                    state: each.as_str(),
                })
                .set(i64::from(each == *state));
        }
    }
    registry.register(
        "provider_state",
        "1 for each provider's present state: closed (serving), open (rested by the circuit breaker) or out_of_rotation (taken out by an admin)",
        states,
    );
    if let Some((waiting, retrying, given_up)) = scrape.outbox {
        let outbox = Family::<OutboxLabels, Gauge>::default();
        for (state, n) in [
            ("waiting", waiting),
            ("retrying", retrying),
            ("given_up", given_up),
        ] {
            outbox.get_or_create(&OutboxLabels { state }).set(n);
        }
        registry.register(
            "outbox_messages",
            "Mails not sent yet: waiting for their first try, to be tried again, or given up",
            outbox,
        );
    }
    if let Some(bytes) = scrape.database_bytes {
        registry.register_with_unit(
            "database_size",
            "The SQLite database file with its write-ahead log",
            Unit::Bytes,
            ConstGauge::new(bytes as i64),
        );
    }
    if let Some((at, took)) = scrape.retention {
        registry.register(
            "retention_last_run_timestamp_seconds",
            "When the retention job last ran (unix time)",
            ConstGauge::new(at as f64 / 1000.0),
        );
        registry.register_with_unit(
            "retention_last_run_duration",
            "How long the retention job's last run took",
            Unit::Seconds,
            ConstGauge::new(took as f64 / 1000.0),
        );
    }
    if let Some(p) = scrape.process {
        registry.register_with_unit(
            "process_cpu",
            "User and system CPU time this process used",
            Unit::Seconds,
            ConstCounter::new(p.cpu_seconds),
        );
        registry.register_with_unit(
            "process_resident_memory",
            "Resident memory of this process",
            Unit::Bytes,
            ConstGauge::new(p.resident_bytes as i64),
        );
        registry.register_with_unit(
            "process_virtual_memory",
            "Virtual memory of this process",
            Unit::Bytes,
            ConstGauge::new(p.virtual_bytes as i64),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of this process",
            ConstGauge::new(p.open_fds as i64),
        );
        registry.register(
            "process_threads",
            "Threads of this process",
            ConstGauge::new(p.threads as i64),
        );
        registry.register(
            "process_start_time_seconds",
            "When this process started (unix time)",
            ConstGauge::new(p.start_time_seconds),
        );
    }
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_by_their_labels_and_reads_the_scrape() {
        let metrics = Metrics::new();
        let route = "/v1/chat/completions";
        for _ in 0..3 {
            metrics.request(route, Some("m"), Some("p"), 200, Duration::from_millis(3));
        }
        metrics.request(route, None, None, 404, Duration::from_micros(200));
        metrics.first_byte(route, "p", Duration::from_millis(1));
        metrics.upstream_error("p", UpstreamError::ServerError);
        let text = metrics
            .encode(&Scrape {
                providers: vec![("p".to_owned(), ProviderState::Open)],
                database_bytes: Some(4096),
                process: Process::read(),
                ..Scrape::default()
            })
            .unwrap();
        assert!(text.contains(
            r#"codexapi_http_requests_total{route="/v1/chat/completions",model="m",provider="p",status="200"} 3"#
        ), "{text}");
        assert!(text.contains(
            r#"codexapi_http_requests_total{route="/v1/chat/completions",model="other",provider="none",status="404"} 1"#
        ));
        assert!(text.contains(r#"codexapi_upstream_errors_total{provider="p",kind="5xx"} 1"#));
        assert!(text.contains(r#"codexapi_provider_state{provider="p",state="open"} 1"#));
        assert!(text.contains(r#"codexapi_provider_state{provider="p",state="closed"} 0"#));
        assert!(text.contains("codexapi_database_size_bytes 4096"));
        assert!(text.contains("# TYPE codexapi_http_request_duration_seconds histogram"));
        assert!(text.contains("codexapi_process_resident_memory_bytes "));
        assert!(!text.contains("# EOF"));
    }
}
