//! Log output on standard error, filtered by `log.level`: human-readable lines, or one JSON
//! object per line with `log.format = "json"`. Lines below a warning wait in memory for up to
//! `log.flush_ms`, so that a busy server writes its log in a few large writes rather than one
//! per request; warnings and errors are written at once with everything before them.
//!
//! Nothing that passes through the API is ever handed to a log macro; the access log carries
//! only the method, the route pattern, the status, the latency and the client address.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

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

/// Installs the global subscriber, its lines written within `flush_ms` (at once with 0). Later
/// calls (tests starting several servers) keep the first.
pub fn init(spec: &str, format: Format, flush_ms: u64) {
    let filter =
        parse_filter(spec).unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO));
    if flush_ms == 0 {
        let _ = install(filter, format, std::io::stderr);
        return;
    }
    let buffer = Arc::new(Buffer::default());
    if install(filter, format, Buffered(buffer.clone())).is_ok()
        && BUFFER.set(buffer.clone()).is_ok()
    {
        start_flushing(buffer, Duration::from_millis(flush_ms));
    }
}

fn install<W>(filter: Targets, format: Format, writer: W) -> Result<(), TryInitError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        Format::Text => registry.with(layer).try_init(),
        Format::Json => registry.with(layer.json().flatten_event(true)).try_init(),
    }
}

/// Writes out the lines still waiting; for the end of the process.
pub fn flush() {
    if let Some(buffer) = BUFFER.get() {
        buffer.write_out(buffer.lock());
    }
}

/// The installed buffer, for [`flush`].
static BUFFER: OnceLock<Arc<Buffer>> = OnceLock::new();

/// Once this many bytes wait, the line that brought them there writes them out.
const FLUSH_AT: usize = 32 * 1024;

/// Lines not yet on standard error, oldest first.
#[derive(Default)]
struct Buffer {
    lines: Mutex<Vec<u8>>,
    /// Held while writing to standard error, taken before `lines` is let go, so that lines
    /// come out in the order they were logged.
    out: Mutex<()>,
    /// Wakes the flusher when a first line waits.
    waiting: Condvar,
}

impl Buffer {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes the waiting lines out of `lines` and writes them.
    fn write_out(&self, mut lines: MutexGuard<'_, Vec<u8>>) {
        if lines.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut *lines);
        let out = self
            .out
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(lines);
        // Standard error that cannot be written to has nowhere to report it.
        let _ = std::io::stderr().lock().write_all(&chunk);
        drop(out);
    }
}

/// The flusher: asleep until a line waits, then writes out what gathered within `delay`.
fn start_flushing(buffer: Arc<Buffer>, delay: Duration) {
    let flusher = move || {
        loop {
            let lines = buffer.lock();
            let lines = buffer
                .waiting
                .wait_while(lines, |lines| lines.is_empty())
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            drop(lines);
            std::thread::sleep(delay);
            buffer.write_out(buffer.lock());
        }
    };
    let spawned = std::thread::Builder::new()
        .name("log-flush".into())
        .spawn(flusher);
    if spawned.is_err() {
        eprintln!("cannot start the log's flusher thread; lines wait until a warning");
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Not behind a lock the panicking thread may hold itself.
        if let Some(buffer) = BUFFER.get()
            && let Ok(lines) = buffer.lines.try_lock()
        {
            buffer.write_out(lines);
        }
        previous(info);
    }));
}

/// The subscriber's writer over [`Buffer`].
struct Buffered(Arc<Buffer>);

/// One event's line on its way into the buffer.
struct Line<'a> {
    buffer: &'a Buffer,
    urgent: bool,
}

impl<'a> MakeWriter<'a> for Buffered {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line {
            buffer: &self.0,
            urgent: true,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Line<'a> {
        Line {
            buffer: &self.0,
            urgent: *meta.level() <= tracing::Level::WARN,
        }
    }
}

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.buffer.lock();
        let first = lines.is_empty();
        lines.extend_from_slice(bytes);
        if self.urgent || lines.len() >= FLUSH_AT {
            self.buffer.write_out(lines);
        } else if first {
            drop(lines);
            self.buffer.waiting.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
