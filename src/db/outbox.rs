//! The `email_outbox` table: mail waits here until the sender has handed it to the SMTP server,
//! so a restart or an outage of the mail server loses nothing.
//!
//! A row is due while `sent_at IS NULL AND next_attempt_at <= now`. Once sent, its bodies are
//! blanked: they may hold single-use links that nobody should be able to read back later.

use rusqlite::{Connection, TransactionBehavior, params};

/// Deliveries tried before a mail is given up on. A row with this many attempts and no `sent_at`
/// was given up on and is never tried again.
pub const MAX_ATTEMPTS: i64 = 10;

/// `next_attempt_at` of a mail that was given up on.
pub(crate) const NEVER: i64 = i64::MAX;

/// How the outbox stands: mail waiting to go, mail whose last attempt failed and will be tried
/// again, and mail given up on (within the outbox's retention period).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    pub waiting: i64,
    pub retrying: i64,
    pub given_up: i64,
}

pub fn standing(conn: &Connection) -> Result<Standing, super::DbError> {
    Ok(conn.query_row(
        "SELECT count(*) FILTER (WHERE next_attempt_at < ?1 AND attempts = 0),
                count(*) FILTER (WHERE next_attempt_at < ?1 AND attempts > 0),
                count(*) FILTER (WHERE next_attempt_at = ?1)
         FROM email_outbox WHERE sent_at IS NULL",
        [NEVER],
        |r| {
            Ok(Standing {
                waiting: r.get(0)?,
                retrying: r.get(1)?,
                given_up: r.get(2)?,
            })
        },
    )?)
}

/// One mail as the admin's outbox page lists it: recipient and subject, never the body.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub created_at: i64,
    pub attempts: i64,
    pub sent_at: Option<i64>,
    pub given_up: bool,
    pub last_error: Option<String>,
}

/// The newest mails, `failed` only those not delivered after an attempt; at most `limit`.
pub fn list(conn: &Connection, failed: bool, limit: i64) -> Result<Vec<Listed>, super::DbError> {
    let mut stmt = conn.prepare(
        "SELECT id, to_addr, subject, created_at, attempts, sent_at, next_attempt_at = ?1, last_error
         FROM email_outbox WHERE NOT ?2 OR (sent_at IS NULL AND attempts > 0)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![NEVER, failed, limit], |r| {
        Ok(Listed {
            id: r.get(0)?,
            to: r.get(1)?,
            subject: r.get(2)?,
            created_at: r.get(3)?,
            attempts: r.get(4)?,
            sent_at: r.get(5)?,
            given_up: r.get(6)?,
            last_error: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes an undelivered mail due now, with a fresh count of attempts; `Ok(false)` when it was
/// delivered (or is gone).
pub fn retry(conn: &Connection, id: i64, now_ms: i64) -> Result<bool, super::DbError> {
    Ok(conn.execute(
        "UPDATE email_outbox SET attempts = 0, next_attempt_at = ?2 WHERE id = ?1 AND sent_at IS NULL",
        params![id, now_ms],
    )? == 1)
}

/// A due mail, as the sender needs it.
#[derive(Debug, Clone)]
pub(crate) struct Queued {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// A mail to queue.
pub(crate) struct NewMail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    /// The row goes as soon as the mail is delivered.
    pub purge_on_send: bool,
}

pub(crate) fn insert(conn: &Connection, mail: &NewMail<'_>, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO email_outbox (to_addr, subject, text_body, html_body, created_at, next_attempt_at, purge_on_send)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![mail.to, mail.subject, mail.text, mail.html, now_ms, mail.purge_on_send],
    )?;
    Ok(())
}

/// What one look at the outbox found.
pub(crate) struct Claimed {
    pub due: Vec<Queued>,
    /// When the earliest mail that is still waiting becomes due, so the sender can wake then.
    pub next_due: Option<i64>,
}

/// Takes up to `limit` due mails, oldest first, and leases them: their `next_attempt_at` moves
/// `lease_ms` ahead so that a second sender (another process on the same file) leaves them alone,
/// and a sender that dies mid-delivery has them tried again once the lease runs out.
pub(crate) fn claim_due(
    conn: &mut Connection,
    now_ms: i64,
    limit: usize,
    lease_ms: i64,
) -> rusqlite::Result<Claimed> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let due = {
        let mut stmt = tx.prepare_cached(
            "SELECT id, to_addr, subject, text_body, html_body, attempts FROM email_outbox
             WHERE sent_at IS NULL AND next_attempt_at <= ?1
             ORDER BY next_attempt_at, id LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![now_ms, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok(Queued {
                    id: r.get(0)?,
                    to: r.get(1)?,
                    subject: r.get(2)?,
                    text: r.get(3)?,
                    html: r.get(4)?,
                    attempts: r.get(5)?,
                })
            },
        )?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    {
        let mut lease = tx.prepare_cached(
            "UPDATE email_outbox SET next_attempt_at = ?2 WHERE id = ?1 AND sent_at IS NULL",
        )?;
        for mail in &due {
            lease.execute(params![mail.id, now_ms.saturating_add(lease_ms)])?;
        }
    }
    let next_due: Option<i64> = tx.query_row(
        "SELECT MIN(next_attempt_at) FROM email_outbox
         WHERE sent_at IS NULL AND next_attempt_at < ?1",
        params![NEVER],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(Claimed { due, next_due })
}

/// Marks a mail delivered: its bodies are blanked, or the whole row deleted if it was queued to
/// go once sent.
pub(crate) fn mark_sent(conn: &Connection, id: i64, now_ms: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM email_outbox WHERE id = ?1 AND purge_on_send = 1",
        [id],
    )?;
    conn.execute(
        "UPDATE email_outbox
         SET sent_at = ?2, text_body = '', html_body = '', last_error = NULL
         WHERE id = ?1",
        params![id, now_ms],
    )?;
    Ok(())
}

pub(crate) fn mark_failed(
    conn: &Connection,
    id: i64,
    attempts: i64,
    next_attempt_at: i64,
    error: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE email_outbox SET attempts = ?2, next_attempt_at = ?3, last_error = ?4
         WHERE id = ?1 AND sent_at IS NULL",
        params![id, attempts, next_attempt_at, error],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::db::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn
    }

    fn mail(to: &str) -> NewMail<'_> {
        NewMail {
            to,
            subject: "s",
            text: "t",
            html: "h",
            purge_on_send: false,
        }
    }

    #[test]
    fn a_mail_queued_to_go_once_sent_leaves_no_row() {
        let mut conn = db();
        insert(&conn, &mail("kept@example.test"), 1).unwrap();
        let once = NewMail {
            purge_on_send: true,
            ..mail("gone@example.test")
        };
        insert(&conn, &once, 1).unwrap();
        let due = claim_due(&mut conn, 1, 10, 60_000).unwrap().due;
        for mail in &due {
            mark_sent(&conn, mail.id, 2).unwrap();
        }
        let left: Vec<String> = conn
            .prepare("SELECT to_addr FROM email_outbox")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(left, ["kept@example.test"]);
    }

    #[test]
    fn claims_due_mail_oldest_first_and_leases_it() {
        let mut conn = db();
        insert(&conn, &mail("a@x.test"), 1_000).unwrap();
        insert(&conn, &mail("b@x.test"), 2_000).unwrap();
        insert(&conn, &mail("c@x.test"), 9_000).unwrap();

        let claimed = claim_due(&mut conn, 5_000, 10, 60_000).unwrap();
        let to: Vec<_> = claimed.due.iter().map(|m| m.to.as_str()).collect();
        assert_eq!(to, ["a@x.test", "b@x.test"]);
        assert_eq!(claimed.next_due, Some(9_000));

        // Leased: not handed out again until the lease runs out.
        assert!(
            claim_due(&mut conn, 6_000, 10, 60_000)
                .unwrap()
                .due
                .is_empty()
        );
        assert_eq!(
            claim_due(&mut conn, 65_000, 10, 60_000).unwrap().due.len(),
            3
        );
    }

    #[test]
    fn sent_mail_loses_its_bodies_and_is_never_due_again() {
        let mut conn = db();
        insert(&conn, &mail("a@x.test"), 1_000).unwrap();
        let id = claim_due(&mut conn, 1_000, 1, 0).unwrap().due[0].id;
        mark_sent(&conn, id, 1_500).unwrap();
        let (text, html, sent): (String, String, Option<i64>) = conn
            .query_row(
                "SELECT text_body, html_body, sent_at FROM email_outbox WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((text.as_str(), html.as_str(), sent), ("", "", Some(1_500)));
        let later = claim_due(&mut conn, i64::MAX - 1, 10, 0).unwrap();
        assert!(later.due.is_empty());
        assert_eq!(later.next_due, None);
    }

    #[test]
    fn given_up_mail_is_not_due_and_does_not_wake_the_sender() {
        let mut conn = db();
        insert(&conn, &mail("a@x.test"), 1_000).unwrap();
        mark_failed(&conn, 1, MAX_ATTEMPTS, NEVER, "refused").unwrap();
        let claimed = claim_due(&mut conn, i64::MAX - 1, 10, 0).unwrap();
        assert!(claimed.due.is_empty());
        assert_eq!(claimed.next_due, None);
    }
}
