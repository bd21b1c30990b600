//! The retention job: what the privacy policy says is kept for a while is deleted or shortened
//! once that while is over. It runs when the server starts, then daily, and on
//! `codexapi retention run`.
//!
//! Every step works in batches of [`BATCH`] rows, each its own short transaction with a pause
//! after it, so that the usage writer is never kept waiting behind a large table. Addresses in
//! append-only tables are shortened once: a mark per table remembers up to which date they are.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::PrivacyConfig;
use crate::db::retention::{self as repo, AddressTable, Expiring};
use crate::db::{Db, DbError, settings};

/// Rows per transaction.
pub const BATCH: u32 = 1_000;
/// The pause after each batch, which lets other writers in.
const PAUSE: Duration = Duration::from_millis(2);
/// How often the server runs the job.
pub const EVERY: Duration = Duration::from_secs(24 * 3600);
/// Emailed links are kept this long after they expire, so a late click still gets a clear answer.
const SPENT_LINKS_GRACE_MS: i64 = 86_400_000;

const DAY_MS: i64 = 86_400_000;
const REPORT_KEY: &str = "retention.last_run";

/// What one run did, per table; kept in `settings` and shown on `/readyz` and to admins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// When the run started (unix ms).
    pub at: i64,
    pub duration_ms: i64,
    /// Rows deleted, per table.
    pub deleted: Vec<(String, u64)>,
    /// Addresses shortened, per table.
    pub truncated: Vec<(String, u64)>,
}

impl Report {
    pub fn rows_touched(&self) -> u64 {
        self.deleted
            .iter()
            .chain(&self.truncated)
            .map(|(_, n)| n)
            .sum()
    }

    /// One line for a person: what was done, table by table.
    pub fn summary(&self) -> String {
        let part = |label: &str, counts: &[(String, u64)]| {
            let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t} {n}")).collect();
            format!("{label} {}", list.join(", "))
        };
        format!(
            "{}; {} ({} ms)",
            part("deleted", &self.deleted),
            part("addresses shortened", &self.truncated),
            self.duration_ms
        )
    }
}

/// The cut-off dates of one run.
#[derive(Debug, Clone, Copy)]
struct Cutoffs {
    metadata: i64,
    addresses: i64,
    outbox: i64,
    links: i64,
}

impl Cutoffs {
    fn new(config: &PrivacyConfig, now: i64) -> Cutoffs {
        let days = |n: u32| now - i64::from(n) * DAY_MS;
        Cutoffs {
            metadata: days(config.metadata_retention_days),
            addresses: days(config.ip_retention_days),
            outbox: days(config.outbox_retention_days),
            links: now - SPENT_LINKS_GRACE_MS,
        }
    }
}

/// Runs the job once, now, and records its report. Blocking: call it off the async workers.
pub fn run(db: &Db, config: &PrivacyConfig, now: i64) -> Result<Report, DbError> {
    let started = Instant::now();
    let cut = Cutoffs::new(config, now);
    let mut report = Report {
        at: now,
        ..Report::default()
    };

    for table in Expiring::ALL {
        let n = in_batches(db, |conn| {
            repo::delete_batch(conn, table, cut.metadata, BATCH)
        })?;
        report.deleted.push((table.table().to_owned(), n));
    }
    let n = in_batches(db, |conn| repo::purge_outbox_batch(conn, cut.outbox, BATCH))?;
    report.deleted.push(("email_outbox".to_owned(), n));
    let n = in_batches(db, |conn| repo::delete_spent_links(conn, cut.links, BATCH))?;
    report.deleted.push(("email_tokens".to_owned(), n));

    for table in AddressTable::ALL {
        let n = shorten_addresses(db, table, cut.addresses, now)?;
        report.truncated.push((table.table().to_owned(), n));
    }

    report.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let json = serde_json::to_string(&report).unwrap_or_default();
    settings::set(&*db.conn()?, REPORT_KEY, &json, crate::db::now_ms())?;
    Ok(report)
}

/// The last run's report, if the job ever ran on this database.
pub fn last_run(conn: &rusqlite::Connection) -> Result<Option<Report>, DbError> {
    Ok(settings::get(conn, REPORT_KEY)?.and_then(|json| serde_json::from_str(&json).ok()))
}

/// Repeats `batch` until it touches less than a whole batch; the total it touched. Each batch
/// is a transaction that takes the write lock first, so that it waits for the usage writer
/// rather than failing on a snapshot the writer made stale.
fn in_batches(
    db: &Db,
    mut batch: impl FnMut(&rusqlite::Connection) -> Result<usize, DbError>,
) -> Result<u64, DbError> {
    let mut total = 0u64;
    loop {
        let mut conn = db.conn()?;
        let tx = crate::db::write(&mut conn)?;
        let n = batch(&tx)?;
        tx.commit()?;
        drop(conn);
        total += n as u64;
        if n < BATCH as usize {
            return Ok(total);
        }
        std::thread::sleep(PAUSE);
    }
}

/// Shortens the addresses of `table` dated before `before`; how many it changed.
fn shorten_addresses(db: &Db, table: AddressTable, before: i64, now: i64) -> Result<u64, DbError> {
    let mark_key = format!("retention.addresses.{}", table.table());
    let start = if table.append_only() {
        settings::get(&*db.conn()?, &mark_key)?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(i64::MIN)
    } else {
        i64::MIN
    };
    if start >= before {
        return Ok(0);
    }
    let mut after = (start, i64::MIN);
    let mut changed = 0u64;
    loop {
        let mut conn = db.conn()?;
        let rows = repo::addresses(&conn, table, after, before, BATCH)?;
        let Some(last) = rows.last() else { break };
        after = (last.at, last.rowid);
        let updates: Vec<repo::NewAddress<'_>> = rows
            .iter()
            .filter_map(|row| {
                let short = super::address::truncate(&row.ip);
                (short.as_deref() != Some(row.ip.as_str())).then_some(repo::NewAddress {
                    rowid: row.rowid,
                    was: &row.ip,
                    now: short,
                })
            })
            .collect();
        if !updates.is_empty() {
            repo::set_addresses(&mut conn, table, &updates)?;
            changed += updates.len() as u64;
        }
        if rows.len() < BATCH as usize {
            break;
        }
        drop(conn);
        std::thread::sleep(PAUSE);
    }
    if table.append_only() {
        settings::set(&*db.conn()?, &mark_key, &before.to_string(), now)?;
    }
    Ok(changed)
}
