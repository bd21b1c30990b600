//! Metering: the price of a request from its token counts, and the usage writer, which commits
//! rows in batches (group commit) on a thread of its own. A request that waits for its row
//! learns only after the row is durable, so a completed response is never lost from billing.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::config::ModelPrice;
use crate::db::Db;
use crate::db::usage::{UsageRow, insert_rows};

/// Rows written in one transaction at most.
const MAX_BATCH: usize = 512;

/// Cost in micro-units: each token class at its price per million tokens, the sum rounded up to
/// a whole micro-unit. Cached input is billed at the cached price and the rest of the input at
/// the input price.
pub fn cost(price: &ModelPrice, input: u64, cached_input: u64, output: u64) -> i64 {
    let cached = cached_input.min(input);
    let fresh = input - cached;
    let per_million = i128::from(fresh) * i128::from(price.input.micros())
        + i128::from(cached) * i128::from(price.cached_input().micros())
        + i128::from(output) * i128::from(price.output.micros());
    let micros = (per_million + 999_999) / 1_000_000;
    i64::try_from(micros.max(0)).unwrap_or(i64::MAX)
}

/// What is needed to count a request's tokens locally, when its upstream reported none.
pub struct Estimate {
    pub request: std::sync::Arc<serde_json::Value>,
    /// The answer's text, as streamed or returned.
    pub answer: String,
    pub price: Option<ModelPrice>,
}

impl Estimate {
    /// Fills in the row's tokens and cost from local counts and marks it estimated.
    fn apply(self, row: &mut UsageRow) {
        let input = super::tokens::count_request(&self.request);
        let output = super::tokens::count(&self.answer);
        row.input_tokens = input as i64;
        row.output_tokens = output as i64;
        row.cost = self.price.as_ref().map_or(0, |p| cost(p, input, 0, output));
        row.estimated = true;
    }
}

type Done = Option<tokio::sync::oneshot::Sender<bool>>;

enum Job {
    Row(Box<UsageRow>, Option<Estimate>, Done),
    Stop,
}

#[derive(Clone)]
pub struct UsageWriter {
    jobs: mpsc::Sender<Job>,
}

impl UsageWriter {
    /// Starts the writer thread.
    pub fn start(db: Db) -> (UsageWriter, JoinHandle<()>) {
        let (jobs, queue) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("usage-writer".to_owned())
            .spawn(move || run(db, queue))
            .unwrap_or_else(|e| {
                tracing::error!("cannot start the usage writer: {e}");
                std::thread::spawn(|| {})
            });
        (UsageWriter { jobs }, handle)
    }

    /// Queues a row and waits until it is committed; false if it could not be written.
    pub async fn record(&self, row: UsageRow, estimate: Option<Estimate>) -> bool {
        let (done, committed) = tokio::sync::oneshot::channel();
        if self
            .jobs
            .send(Job::Row(Box::new(row), estimate, Some(done)))
            .is_err()
        {
            tracing::error!("usage writer is gone; a usage row was lost");
            return false;
        }
        committed.await.unwrap_or(false)
    }

    /// Queues a row without waiting (a request the client walked away from).
    pub fn record_detached(&self, row: UsageRow, estimate: Option<Estimate>) {
        if self
            .jobs
            .send(Job::Row(Box::new(row), estimate, None))
            .is_err()
        {
            tracing::error!("usage writer is gone; a usage row was lost");
        }
    }

    /// Writes everything queued so far, then ends the thread.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }
}

fn run(db: Db, queue: mpsc::Receiver<Job>) {
    let mut stopping = false;
    while !stopping {
        let Ok(first) = queue.recv() else {
            return;
        };
        let mut batch = Vec::new();
        let mut job = Some(first);
        // Everything that queued while the last commit ran goes into this one.
        while let Some(next) = job.take() {
            match next {
                Job::Row(mut row, estimate, done) => {
                    if let Some(estimate) = estimate {
                        estimate.apply(&mut row);
                    }
                    batch.push((row, done));
                }
                Job::Stop => {
                    stopping = true;
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                job = queue.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        let ok = write(&db, &batch);
        for (_, done) in batch {
            if let Some(done) = done {
                let _ = done.send(ok);
            }
        }
    }
}

fn write(db: &Db, batch: &[(Box<UsageRow>, Done)]) -> bool {
    let rows: Vec<UsageRow> = batch.iter().map(|(row, _)| (**row).clone()).collect();
    for attempt in 0..3 {
        let result = db.conn().and_then(|mut conn| {
            let tx = conn.transaction()?;
            insert_rows(&tx, &rows)?;
            tx.commit()?;
            Ok(())
        });
        match result {
            Ok(()) => return true,
            Err(e) => {
                tracing::warn!(
                    "writing {} usage rows failed (attempt {}): {e}",
                    rows.len(),
                    attempt + 1
                );
                std::thread::sleep(Duration::from_millis(50 << attempt));
            }
        }
    }
    tracing::error!("{} usage rows could not be written", rows.len());
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Money;

    fn price(input: &str, cached: &str, output: &str) -> ModelPrice {
        ModelPrice {
            input: input.parse().unwrap(),
            cached_input: Some(cached.parse().unwrap()),
            output: output.parse().unwrap(),
        }
    }

    #[test]
    fn prices_each_token_class_and_rounds_up() {
        let p = price("1.25", "0.125", "10");
        // 1000 fresh input at $1.25/M = 1250 µ; 1000 cached at $0.125/M = 125 µ; 500 out at $10/M = 5000 µ.
        assert_eq!(cost(&p, 2000, 1000, 500), 6375);
        // One token at $1.25/M is 1.25 µ, rounded up to 2.
        assert_eq!(cost(&p, 1, 0, 0), 2);
        assert_eq!(cost(&p, 0, 0, 0), 0);
        // Cached more than input (a confused upstream) is capped at the input.
        assert_eq!(cost(&p, 10, 50, 0), cost(&p, 10, 10, 0));
        let free = ModelPrice {
            input: Money::ZERO,
            cached_input: None,
            output: Money::ZERO,
        };
        assert_eq!(cost(&free, u64::MAX, 0, u64::MAX), 0);
    }
}
