//! Log output on standard error, filtered by `log.level`: human-readable lines, or one JSON
//! object per line with `log.format = "json"`.
//!
//! Nothing that passes through the API is ever handed to a log macro; the access log carries
//! only the method, the route pattern, the status, the latency and the client address.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Parses a filter such as `info` or `warn,codexapi=debug`.
pub fn parse_filter(spec: &str) -> Result<Targets, String> {
    let bad =
        || format!("{spec:?} is not a log filter; use e.g. \"info\" or \"warn,codexapi=debug\"");
    // Targets alone would read a misspelt level ("inof") as a target name; insist on levels.
    let is_level = |s: &str| {
        matches!(
            s.trim().to_ascii_lowercase().as_str(),
            "off" | "error" | "warn" | "info" | "debug" | "trace"
        )
    };
    let well_formed = spec
        .split(',')
        .all(|directive| match directive.split_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(directive),
        });
    if !well_formed {
        return Err(bad());
    }
    spec.parse::<Targets>().map_err(|_| bad())
}

/// How each event is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One readable line.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and its fields.
    Json,
}

/// Installs the global subscriber. Later calls (tests starting several servers) keep the first.
pub fn init(spec: &str, format: Format) {
    let filter =
        parse_filter(spec).unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    let text = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        Format::Text => registry.with(text).try_init(),
        Format::Json => registry.with(text.json().flatten_event(true)).try_init(),
    };
}
