//! Metering: the price of a request from its token counts, and the usage writer, which commits
//! rows in batches (group commit) on a thread of its own. A request that waits for its row
//! learns only after the row is durable, so a completed response is never lost from billing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::billing::alert::BalanceAlert;
use crate::billing::wallet::{Hold, Wallets, month_of};
use crate::config::{BillingMode, ModelPrice};
use crate::db::billing as billing_repo;
use crate::db::ledger::{self, Kind};
use crate::db::usage::{UsageRow, insert_rows};
use crate::db::{Db, DbError};
use crate::metrics::Metrics;
use crate::money::Money;
use crate::translate::Usage;

/// Rows written in one transaction at most.
const MAX_BATCH: usize = 512;
/// How often the writer looks for wallet changes made elsewhere (top-ups, grants, the CLI).
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How often rows the database would not take are tried again.
const BACKLOG_RETRY: Duration = Duration::from_millis(500);

/// A model's prices as they apply to one account: the rate card times the tier's multiplier.
#[derive(Debug, Clone)]
pub struct Rate {
    pub price: ModelPrice,
    /// In millionths: 1_000_000 is list price.
    pub multiplier: Money,
}

/// Cost in micro-units. Each token class is billed at its price per million tokens: input read
/// from the cache at the cached price, input written to it at the cache-creation price, the rest
/// of the input at the input price; reasoning tokens at the reasoning price and the rest of the
/// output at the output price; plus the per-request fee. The sum is multiplied by the tier's
/// multiplier and rounded up to a whole micro-unit, once per request.
pub fn cost(rate: &Rate, usage: &Usage) -> i64 {
    let price = &rate.price;
    let cached = usage.cached_input.min(usage.input);
    let creation = usage.cache_creation.min(usage.input - cached);
    let fresh = usage.input - cached - creation;
    let reasoning = usage.reasoning.min(usage.output);
    let plain_output = usage.output - reasoning;
    let per_token = |tokens: u64, price: Money| i128::from(tokens) * i128::from(price.micros());
    // Micro-units times a million.
    let scaled = per_token(fresh, price.input)
        + per_token(cached, price.cached_input())
        + per_token(creation, price.cache_creation())
        + per_token(plain_output, price.output)
        + per_token(reasoning, price.reasoning())
        + i128::from(price.request_fee().micros()) * 1_000_000;
    // Micro-units times a million times a million.
    let Some(total) = scaled.checked_mul(i128::from(rate.multiplier.micros())) else {
        return i64::MAX;
    };
    const SCALE: i128 = 1_000_000_000_000;
    let micros = (total.max(0) + SCALE - 1) / SCALE;
    i64::try_from(micros).unwrap_or(i64::MAX)
}

/// The most a request can cost when it sends about `input` tokens and may write `output`.
pub fn worst_case(rate: &Rate, input: u64, output: u64) -> i64 {
    let reasoning_dearer = rate.price.reasoning() > rate.price.output;
    cost(
        rate,
        &Usage {
            input,
            output,
            reasoning: if reasoning_dearer { output } else { 0 },
            ..Usage::default()
        },
    )
}

/// What is needed to count a request's tokens locally, when its upstream reported none.
pub struct Estimate {
    pub request: Arc<serde_json::Value>,
    /// The answer's text, as streamed or returned.
    pub answer: String,
    pub rate: Option<Rate>,
}

impl Estimate {
    /// Counts the tokens locally, off the async workers, and fills in the row's tokens and cost.
    pub async fn apply(self, row: &mut UsageRow) {
        let (count, rough, rate) = self.parts();
        let tokens = super::tokens::off_thread(count).await.unwrap_or_else(rough);
        fill(row, tokens, rate.as_ref());
    }

    /// Like [`Estimate::apply`] without waiting: counts on a free blocking thread and then
    /// hands the row on, or, with none free, estimates from the sizes at once.
    fn apply_then(self, mut row: UsageRow, then: impl FnOnce(UsageRow) + Send + 'static) {
        let (count, rough, rate) = self.parts();
        match (
            super::tokens::try_off_thread(count),
            tokio::runtime::Handle::try_current(),
        ) {
            (Some(counting), Ok(runtime)) => {
                runtime.spawn(async move {
                    let tokens = counting.await.ok().unwrap_or_else(rough);
                    fill(&mut row, tokens, rate.as_ref());
                    then(row);
                });
            }
            _ => {
                fill(&mut row, rough(), rate.as_ref());
                then(row);
            }
        }
    }

    /// The count to run, the guess from the sizes to fall back on, and the price.
    #[expect(
        clippy::type_complexity,
        reason = "two closures and a price, named where used"
    )]
    fn parts(
        self,
    ) -> (
        impl FnOnce() -> (u64, u64) + Send + 'static,
        impl FnOnce() -> (u64, u64) + Send + 'static,
        Option<Rate>,
    ) {
        let Estimate {
            request,
            answer,
            rate,
        } = self;
        let (kept, answer_bytes) = (request.clone(), answer.len());
        (
            move || counts(&request, &answer),
            move || rough(&kept, answer_bytes),
            rate,
        )
    }
}

/// Input and output tokens, counted.
fn counts(request: &serde_json::Value, answer: &str) -> (u64, u64) {
    (
        super::tokens::count_request(request),
        super::tokens::count(answer),
    )
}

/// Input and output tokens guessed from the sizes alone.
fn rough(request: &serde_json::Value, answer_bytes: usize) -> (u64, u64) {
    let request_bytes = serde_json::to_vec(request).map_or(0, |b| b.len());
    (
        super::tokens::rough(request_bytes),
        super::tokens::rough(answer_bytes),
    )
}

/// Fills in a row's tokens and cost from local counts and marks it estimated.
fn fill(row: &mut UsageRow, (input, output): (u64, u64), rate: Option<&Rate>) {
    let usage = Usage {
        input,
        output,
        ..Usage::default()
    };
    row.input_tokens = i64::try_from(input).unwrap_or(i64::MAX);
    row.output_tokens = i64::try_from(output).unwrap_or(i64::MAX);
    row.cost = rate.map_or(0, |r| cost(r, &usage));
    row.estimated = true;
}

type Done = Option<tokio::sync::oneshot::Sender<bool>>;

/// A row to commit, with the reservation to settle and who waits for it.
struct Pending {
    row: UsageRow,
    hold: Option<Hold>,
    done: Done,
}

enum Job {
    Row(Box<Pending>),
    /// Catch up with wallet changes made elsewhere now, then answer.
    Refresh(tokio::sync::oneshot::Sender<()>),
    Stop,
}

#[derive(Clone)]
pub struct UsageWriter {
    jobs: mpsc::Sender<Job>,
    /// Rows the database would not take, waiting to be written again.
    backlog: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl UsageWriter {
    /// Starts the writer thread. It loads the wallets first and keeps them in step with the
    /// database from then on.
    /// A writer that cannot start is an error: without it no request could be billed.
    pub fn start(
        db: Db,
        wallets: Arc<Wallets>,
        alert: Option<Box<dyn BalanceAlert>>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<(UsageWriter, JoinHandle<()>)> {
        let (jobs, queue) = mpsc::channel();
        let backlog = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            db,
            wallets,
            alert,
            marker: None,
            checked: None,
            backlog: Vec::new(),
            backlog_len: backlog.clone(),
            next_try: None,
            metrics: metrics.clone(),
            conn: None,
        };
        let handle = std::thread::Builder::new()
            .name("usage-writer".to_owned())
            .spawn(move || writer.run(queue))?;
        Ok((
            UsageWriter {
                jobs,
                backlog,
                metrics,
            },
            handle,
        ))
    }

    /// Whether usage cannot be recorded now (the database would not take the last rows). New
    /// requests are then refused: an answer that could not be billed must not be given.
    pub fn stalled(&self) -> bool {
        self.backlog.load(Ordering::Relaxed) > 0
    }

    fn send(&self, pending: Pending) {
        self.metrics.usage_queued();
        if self.jobs.send(Job::Row(Box::new(pending))).is_err() {
            self.metrics.usage_taken(1);
            tracing::error!("usage writer is gone; a usage row was lost");
        }
    }

    /// Queues a row and waits until it is committed (and its hold settled); false if it could
    /// not be written.
    pub async fn record(
        &self,
        mut row: UsageRow,
        estimate: Option<Estimate>,
        hold: Option<Hold>,
    ) -> bool {
        if let Some(estimate) = estimate {
            estimate.apply(&mut row).await;
        }
        let (done, committed) = tokio::sync::oneshot::channel();
        self.send(Pending {
            row,
            hold,
            done: Some(done),
        });
        committed.await.unwrap_or(false)
    }

    /// Queues a row without waiting (a request the client walked away from).
    pub fn record_detached(&self, row: UsageRow, estimate: Option<Estimate>, hold: Option<Hold>) {
        let queue = |writer: UsageWriter, row| {
            writer.send(Pending {
                row,
                hold,
                done: None,
            })
        };
        match estimate {
            Some(estimate) => {
                let writer = self.clone();
                estimate.apply_then(row, move |row| queue(writer, row));
            }
            None => queue(self.clone(), row),
        }
    }

    /// Returns once the wallets have caught up with every ledger change committed so far (a
    /// top-up a moment ago), after the rows queued before.
    pub async fn refresh_wallets(&self) {
        let (done, caught_up) = tokio::sync::oneshot::channel();
        if self.jobs.send(Job::Refresh(done)).is_ok() {
            let _ = caught_up.await;
        }
    }

    /// Writes everything queued so far, then ends the thread.
    pub fn stop(&self) {
        let _ = self.jobs.send(Job::Stop);
    }
}

struct Writer {
    db: Db,
    wallets: Arc<Wallets>,
    alert: Option<Box<dyn BalanceAlert>>,
    /// The newest ledger row written by others, as last seen.
    marker: Option<i64>,
    checked: Option<Instant>,
    /// Rows already answered that the database would not take yet, with their holds: kept in
    /// order and written as soon as it takes them again.
    backlog: Vec<Pending>,
    backlog_len: Arc<AtomicUsize>,
    /// When to try the backlog again.
    next_try: Option<Instant>,
    metrics: Arc<Metrics>,
    /// The connection the rows are committed on, opened at the first batch and again after a
    /// failed one.
    conn: Option<Connection>,
}

/// Rows kept for a database that will not take them, at most; past this the oldest are given up
/// (with an error in the log), and the server refuses requests all along anyway.
const MAX_BACKLOG: usize = 100_000;

impl Writer {
    fn run(mut self, queue: mpsc::Receiver<Job>) {
        self.follow_wallets();
        let mut stopping = false;
        while !stopping {
            let first = match queue.recv_timeout(WATCH_EVERY) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.retry_backlog();
                    self.follow_wallets();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    self.flush_backlog_before_exit();
                    return;
                }
            };
            if self.checked.is_none_or(|at| at.elapsed() >= WATCH_EVERY) {
                self.follow_wallets();
            }
            let mut batch = Vec::new();
            let mut refreshes = Vec::new();
            let mut job = Some(first);
            // Everything that queued while the last commit ran goes into this one.
            while let Some(next) = job.take() {
                match next {
                    Job::Row(pending) => batch.push(*pending),
                    Job::Refresh(done) => refreshes.push(done),
                    Job::Stop => {
                        stopping = true;
                        break;
                    }
                }
                if batch.len() < MAX_BATCH {
                    job = queue.try_recv().ok();
                }
            }
            if !refreshes.is_empty() {
                // Rows queued before a refresh are settled first (below, in order), which
                // cannot be told apart from settling them after it: both only subtract.
                self.follow_wallets();
                for done in refreshes {
                    let _ = done.send(());
                }
            }
            self.metrics.usage_taken(batch.len());
            self.retry_backlog();
            if batch.is_empty() {
                continue;
            }
            // Behind a backlog, new rows wait their turn so that rows commit in order.
            let ok = self.backlog.is_empty() && self.write(&batch);
            if ok {
                self.settle(batch, true);
            } else {
                self.keep(batch);
            }
        }
        self.flush_backlog_before_exit();
    }

    /// Applies committed rows to the wallets and tells who waits for them.
    fn settle(&self, batch: Vec<Pending>, ok: bool) {
        for pending in batch {
            let row = &pending.row;
            match (ok, pending.hold) {
                (true, Some(hold)) => self.wallets.settle(hold, row.cost, row.at),
                (true, None) => {
                    if let Some(user) = &row.user_id {
                        self.wallets
                            .apply_cost(user, row.key_id.as_deref(), row.cost, row.at);
                    }
                }
                // Given up: nothing was charged; dropping the hold gives it back.
                (false, hold) => drop(hold),
            }
            if let Some(done) = pending.done {
                let _ = done.send(ok);
            }
        }
    }

    /// Keeps rows the database would not take: their holds stay reserved, and who waits for
    /// them is told now (the answer is out already) rather than held up.
    fn keep(&mut self, batch: Vec<Pending>) {
        for mut pending in batch {
            if let Some(done) = pending.done.take() {
                let _ = done.send(false);
            }
            self.backlog.push(pending);
        }
        if self.backlog.len() > MAX_BACKLOG {
            let excess = self.backlog.len() - MAX_BACKLOG;
            tracing::error!("{excess} usage rows could not be written and were given up");
            let given_up: Vec<Pending> = self.backlog.drain(..excess).collect();
            self.settle(given_up, false);
        }
        self.backlog_len
            .store(self.backlog.len(), Ordering::Relaxed);
        self.metrics.usage_backlog(self.backlog.len());
        self.next_try
            .get_or_insert_with(|| Instant::now() + BACKLOG_RETRY);
    }

    /// Writes the backlog if it is time to try again; on success the server takes requests again.
    fn retry_backlog(&mut self) {
        if self.backlog.is_empty() || self.next_try.is_some_and(|at| Instant::now() < at) {
            return;
        }
        let backlog = std::mem::take(&mut self.backlog);
        let mut written = 0;
        for chunk in backlog.chunks(MAX_BATCH) {
            if !self.write_once(chunk) {
                break;
            }
            written += chunk.len();
        }
        let mut backlog = backlog;
        let done: Vec<Pending> = backlog.drain(..written).collect();
        self.settle(done, true);
        self.backlog = backlog;
        self.backlog_len
            .store(self.backlog.len(), Ordering::Relaxed);
        self.metrics.usage_backlog(self.backlog.len());
        if self.backlog.is_empty() {
            self.next_try = None;
            tracing::warn!("usage rows are written again; requests are taken again");
        } else {
            self.next_try = Some(Instant::now() + BACKLOG_RETRY);
        }
    }

    /// At shutdown, a few last tries for rows still kept.
    fn flush_backlog_before_exit(&mut self) {
        for _ in 0..5 {
            if self.backlog.is_empty() {
                return;
            }
            self.next_try = None;
            self.retry_backlog();
            if !self.backlog.is_empty() {
                std::thread::sleep(BACKLOG_RETRY);
            }
        }
        if !self.backlog.is_empty() {
            tracing::error!(
                "{} usage rows could not be written before the server stopped",
                self.backlog.len()
            );
        }
    }

    /// Reloads the wallets when something other than this writer has written to the ledger.
    fn follow_wallets(&mut self) {
        self.checked = Some(Instant::now());
        let result = self.db.conn().and_then(|conn| {
            let now = ledger::external_marker(&conn)?;
            if self.marker != Some(now) {
                self.wallets.load(&conn)?;
                self.marker = Some(now);
            }
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!("cannot read the wallets: {e}");
        }
    }

    /// Commits a batch, trying three times in quick succession.
    fn write(&mut self, batch: &[Pending]) -> bool {
        for attempt in 0..3 {
            if self.write_once(batch) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50 << attempt));
        }
        tracing::error!(
            "{} usage rows could not be written; they are kept, and requests are refused until they are",
            batch.len()
        );
        false
    }

    /// One attempt at committing a batch: rows, bills and ledger in one transaction.
    fn write_once(&mut self, batch: &[Pending]) -> bool {
        let rows: Vec<&UsageRow> = batch.iter().map(|p| &p.row).collect();
        let prepaid = self.wallets.mode() == BillingMode::Prepaid;
        let mut alerted = false;
        let started = Instant::now();
        let conn = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => self.db.usage_writer_conn(),
        };
        let result = conn.and_then(|mut conn| {
            let tx = crate::db::write(&mut conn)?;
            let ids = insert_rows(&tx, &rows)?;
            for (row, id) in rows.iter().zip(ids) {
                alerted |= self.bill(&tx, row, id, prepaid)?;
            }
            tx.commit()?;
            Ok(conn)
        });
        let result = result.map(|conn| self.conn = Some(conn));
        self.metrics
            .usage_commit(started.elapsed(), rows.len(), result.is_ok());
        match result {
            Ok(()) => {
                if alerted && let Some(alert) = &self.alert {
                    alert.committed();
                }
                true
            }
            Err(e) => {
                tracing::warn!("writing {} usage rows failed: {e}", rows.len());
                false
            }
        }
    }

    /// Charges one committed row (whose key's spend `insert_rows` added): the month's spend, and in prepaid mode the
    /// wallet, with its ledger row. True if a low-balance mail was queued.
    fn bill(
        &self,
        conn: &Connection,
        row: &UsageRow,
        usage_id: i64,
        prepaid: bool,
    ) -> Result<bool, DbError> {
        let Some(user_id) = row.user_id.as_deref() else {
            return Ok(false);
        };
        if row.cost == 0 {
            return Ok(false);
        }
        billing_repo::add_month_spend(conn, user_id, month_of(row.at), row.cost)?;
        if !prepaid {
            return Ok(false);
        }
        let reference = usage_id.to_string();
        let balance = match ledger::append(
            conn,
            &ledger::Entry {
                user_id,
                kind: Kind::Usage,
                amount: -row.cost,
                reference: Some(&reference),
                actor: "gateway",
                note: row.model.as_deref(),
                at: row.at,
            },
        ) {
            Ok(balance) => balance,
            // The account was deleted while its request ran: nothing left to charge.
            Err(DbError::NotFound) => return Ok(false),
            Err(e) => return Err(e),
        };
        let Some(alert) = &self.alert else {
            return Ok(false);
        };
        let due = billing_repo::take_low_balance_alert(conn, user_id, balance, row.at)?;
        if due {
            alert.queue(conn, user_id, balance)?;
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(input: &str, cached: &str, output: &str) -> Rate {
        Rate {
            price: ModelPrice {
                input: input.parse().unwrap(),
                cached_input: Some(cached.parse().unwrap()),
                cache_creation: None,
                output: output.parse().unwrap(),
                reasoning: None,
                request_fee: None,
            },
            multiplier: "1".parse().unwrap(),
        }
    }

    fn usage(input: u64, cached: u64, creation: u64, output: u64, reasoning: u64) -> Usage {
        Usage {
            input,
            cached_input: cached,
            cache_creation: creation,
            output,
            reasoning,
        }
    }

    #[test]
    fn prices_each_token_class_and_rounds_up() {
        let r = rate("1.25", "0.125", "10");
        // 1000 fresh input at $1.25/M = 1250 µ; 1000 cached at $0.125/M = 125 µ; 500 out at $10/M = 5000 µ.
        assert_eq!(cost(&r, &usage(2000, 1000, 0, 500, 0)), 6375);
        // One token at $1.25/M is 1.25 µ, rounded up to 2.
        assert_eq!(cost(&r, &usage(1, 0, 0, 0, 0)), 2);
        assert_eq!(cost(&r, &Usage::default()), 0);
        // Cached more than input (a confused upstream) is capped at the input.
        assert_eq!(
            cost(&r, &usage(10, 50, 0, 0, 0)),
            cost(&r, &usage(10, 10, 0, 0, 0))
        );
        let free = rate("0", "0", "0");
        assert_eq!(cost(&free, &usage(u64::MAX, 0, 0, u64::MAX, 0)), 0);
    }

    #[test]
    fn openai_usage_counts_cached_input_and_reasoning_inside_the_totals() {
        // OpenAI reports input_tokens 10_000 of which 8_000 cached, output 3_000 of which
        // 2_000 reasoning; reasoning priced apart at $20/M.
        let mut r = rate("2", "0.5", "8");
        r.price.reasoning = Some("20".parse().unwrap());
        let u = usage(10_000, 8_000, 0, 3_000, 2_000);
        // 2000×2 + 8000×0.5 + 1000×8 + 2000×20 = 4000 + 4000 + 8000 + 40000 µ.
        assert_eq!(cost(&r, &u), 56_000);
    }

    #[test]
    fn anthropic_cache_writes_are_priced_apart() {
        // Anthropic's input_tokens 50 exclude its cache reads (2000) and writes (100); the
        // translation adds them up to input 2150.
        let mut r = rate("3", "0.3", "15");
        r.price.cache_creation = Some("3.75".parse().unwrap());
        let u = usage(2_150, 2_000, 100, 70, 0);
        // 50×3 + 2000×0.3 + 100×3.75 + 70×15 = 150 + 600 + 375 + 1050 µ.
        assert_eq!(cost(&r, &u), 2_175);
    }

    #[test]
    fn fee_and_tier_multiplier_apply_once_per_request() {
        let mut r = rate("1", "1", "1");
        r.price.request_fee = Some("0.001".parse().unwrap());
        assert_eq!(
            cost(&r, &usage(1_000, 0, 0, 1_000, 0)),
            1_000 + 1_000 + 1_000
        );
        r.multiplier = "0.8".parse().unwrap();
        assert_eq!(cost(&r, &usage(1_000, 0, 0, 1_000, 0)), 2_400);
        // 0.8 × 1.25 µ = 1 µ exactly; 0.8 × 1.5 µ = 1.2 µ rounds up to 2.
        let mut odd = rate("1.25", "1.25", "1.5");
        odd.multiplier = "0.8".parse().unwrap();
        assert_eq!(cost(&odd, &usage(1, 0, 0, 0, 0)), 1);
        assert_eq!(cost(&odd, &usage(0, 0, 0, 1, 0)), 2);
    }

    #[test]
    fn worst_case_takes_the_dearer_of_output_and_reasoning() {
        let mut r = rate("1", "1", "10");
        assert_eq!(worst_case(&r, 1_000, 1_000), 1_000 + 10_000);
        r.price.reasoning = Some("40".parse().unwrap());
        assert_eq!(worst_case(&r, 1_000, 1_000), 1_000 + 40_000);
        assert!(worst_case(&r, 1_000, 1_000) >= cost(&r, &usage(1_000, 0, 0, 1_000, 300)));
    }
}
