//! The retention job's statements: old rows deleted and stored addresses rewritten, each call one
//! bounded batch, so that a large table never holds the write lock for long.

use rusqlite::{Connection, params};

use super::DbError;
use super::outbox::NEVER;

/// Tables whose rows are deleted once older than the metadata retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiring {
    Usage,
    /// The daily sums of usage, by the day they sum.
    UsageDaily,
    UsageDailyTotals,
    SecurityEvents,
    PageViews,
}

impl Expiring {
    pub const ALL: [Expiring; 5] = [
        Expiring::Usage,
        Expiring::UsageDaily,
        Expiring::UsageDailyTotals,
        Expiring::SecurityEvents,
        Expiring::PageViews,
    ];

    pub fn table(self) -> &'static str {
        match self {
            Expiring::Usage => "usage",
            Expiring::UsageDaily => "usage_daily",
            Expiring::UsageDailyTotals => "usage_daily_totals",
            Expiring::SecurityEvents => "security_events",
            Expiring::PageViews => "page_views",
        }
    }
}

/// Deletes up to `limit` rows older than `before` (unix ms), oldest first; how many went.
pub fn delete_batch(
    conn: &Connection,
    table: Expiring,
    before: i64,
    limit: u32,
) -> Result<usize, DbError> {
    let sql = match table {
        Expiring::Usage => {
            "DELETE FROM usage WHERE id IN
             (SELECT id FROM usage WHERE at < ?1 ORDER BY at LIMIT ?2)"
        }
        // A day goes once all of it is past the period.
        Expiring::UsageDaily => {
            "DELETE FROM usage_daily WHERE rowid IN
             (SELECT rowid FROM usage_daily WHERE day < ?1 / 86400000 ORDER BY day LIMIT ?2)"
        }
        Expiring::UsageDailyTotals => {
            "DELETE FROM usage_daily_totals WHERE (day, model, provider) IN
             (SELECT day, model, provider FROM usage_daily_totals WHERE day < ?1 / 86400000
              ORDER BY day LIMIT ?2)"
        }
        Expiring::SecurityEvents => {
            "DELETE FROM security_events WHERE id IN
             (SELECT id FROM security_events WHERE at < ?1 ORDER BY at LIMIT ?2)"
        }
        Expiring::PageViews => {
            "DELETE FROM page_views WHERE id IN
             (SELECT id FROM page_views WHERE at < ?1 ORDER BY at LIMIT ?2)"
        }
    };
    Ok(conn.execute(sql, params![before, limit])?)
}

/// Tables that store client addresses, each with the time that dates its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressTable {
    Usage,
    SecurityEvents,
    AuditLog,
    /// Dated by its last use; a session in use keeps its address current.
    Sessions,
}

impl AddressTable {
    pub const ALL: [AddressTable; 4] = [
        AddressTable::Usage,
        AddressTable::SecurityEvents,
        AddressTable::AuditLog,
        AddressTable::Sessions,
    ];

    pub fn table(self) -> &'static str {
        match self {
            AddressTable::Usage => "usage",
            AddressTable::SecurityEvents => "security_events",
            AddressTable::AuditLog => "audit_log",
            AddressTable::Sessions => "sessions",
        }
    }

    /// Whether rows keep their date, so that a pass can remember how far it got.
    pub fn append_only(self) -> bool {
        !matches!(self, AddressTable::Sessions)
    }
}

/// A stored address and where it is: the row's `rowid` and its date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    pub rowid: i64,
    pub at: i64,
    pub ip: String,
}

/// Up to `limit` addresses dated before `before`, in (date, rowid) order after `after`.
pub fn addresses(
    conn: &Connection,
    table: AddressTable,
    after: (i64, i64),
    before: i64,
    limit: u32,
) -> Result<Vec<Address>, DbError> {
    let sql = match table {
        AddressTable::Usage => {
            "SELECT rowid, at, ip FROM usage
             WHERE at >= ?1 AND at < ?3 AND (at > ?1 OR rowid > ?2) AND ip IS NOT NULL
             ORDER BY at, rowid LIMIT ?4"
        }
        AddressTable::SecurityEvents => {
            "SELECT rowid, at, ip FROM security_events
             WHERE at >= ?1 AND at < ?3 AND (at > ?1 OR rowid > ?2) AND ip IS NOT NULL
             ORDER BY at, rowid LIMIT ?4"
        }
        AddressTable::AuditLog => {
            "SELECT rowid, at, ip FROM audit_log
             WHERE at >= ?1 AND at < ?3 AND (at > ?1 OR rowid > ?2) AND ip IS NOT NULL
             ORDER BY at, rowid LIMIT ?4"
        }
        AddressTable::Sessions => {
            "SELECT rowid, last_seen_at, ip FROM sessions
             WHERE last_seen_at >= ?1 AND last_seen_at < ?3
               AND (last_seen_at > ?1 OR rowid > ?2) AND ip IS NOT NULL
             ORDER BY last_seen_at, rowid LIMIT ?4"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params![after.0, after.1, before, limit], |r| {
            Ok(Address {
                rowid: r.get(0)?,
                at: r.get(1)?,
                ip: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One address to replace: the row, the address it was read with, and the new one (`None`
/// clears it).
pub struct NewAddress<'a> {
    pub rowid: i64,
    pub was: &'a str,
    pub now: Option<String>,
}

/// Replaces the addresses of the given rows, each only if it still holds the address it was
/// read with (a session in use may have moved on to a new one meanwhile).
pub fn set_addresses(
    conn: &mut Connection,
    table: AddressTable,
    rows: &[NewAddress<'_>],
) -> Result<(), DbError> {
    let sql = match table {
        AddressTable::Usage => "UPDATE usage SET ip = ?2 WHERE rowid = ?1 AND ip = ?3",
        AddressTable::SecurityEvents => {
            "UPDATE security_events SET ip = ?2 WHERE rowid = ?1 AND ip = ?3"
        }
        AddressTable::AuditLog => "UPDATE audit_log SET ip = ?2 WHERE rowid = ?1 AND ip = ?3",
        AddressTable::Sessions => "UPDATE sessions SET ip = ?2 WHERE rowid = ?1 AND ip = ?3",
    };
    let tx = super::write(conn)?;
    {
        let mut stmt = tx.prepare_cached(sql)?;
        for row in rows {
            stmt.execute(params![row.rowid, row.now, row.was])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Deletes up to `limit` mails (recipient and subject with them) delivered before `before`, or
/// given up on and queued before it.
pub fn purge_outbox_batch(conn: &Connection, before: i64, limit: u32) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM email_outbox WHERE id IN
         (SELECT id FROM email_outbox
          WHERE (sent_at IS NOT NULL AND sent_at < ?1)
             OR (sent_at IS NULL AND next_attempt_at = ?3 AND created_at < ?1)
          LIMIT ?2)",
        params![before, limit, NEVER],
    )?)
}

/// Deletes up to `limit` emailed links (and the new addresses they carried) that expired before
/// `before`.
pub fn delete_spent_links(conn: &Connection, before: i64, limit: u32) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM email_tokens WHERE rowid IN
         (SELECT rowid FROM email_tokens WHERE expires_at < ?1 LIMIT ?2)",
        params![before, limit],
    )?)
}
