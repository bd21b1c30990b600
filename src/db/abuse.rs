//! Abuse and fraud: the detector's windows over security events and request metadata, the flags
//! it raises and admins resolve, and the blocklist of networks.
//!
//! Every window is read through an index bounded by its start (`security_events_at`,
//! `usage_at_key_ip`, `usage_at_user_cost`, `usage_rate_limited`), so a scan costs what the window
//! holds, not what the tables hold.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// Security events of one kind from one address on one account within a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    pub ip: String,
    pub user_id: String,
    pub count: i64,
    pub first: i64,
    pub last: i64,
}

/// Security events of `kind` since `since`, grouped by address and account.
pub fn events(conn: &Connection, kind: &str, since: i64) -> Result<Vec<EventGroup>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT ip, user_id, count(*), min(at), max(at) FROM security_events
         WHERE at >= ?1 AND kind = ?2 AND ip IS NOT NULL
         GROUP BY ip, user_id",
    )?;
    let rows = stmt
        .query_map(params![since, kind], |r| {
            Ok(EventGroup {
                ip: r.get(0)?,
                user_id: r.get(1)?,
                count: r.get(2)?,
                first: r.get(3)?,
                last: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Requests of one key from one address within a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAddress {
    pub key_id: String,
    pub ip: String,
    pub requests: i64,
    pub first: i64,
    pub last: i64,
}

/// The addresses each key was used from since `since` (read from `usage_at_key_ip` alone).
pub fn key_addresses(conn: &Connection, since: i64) -> Result<Vec<KeyAddress>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT key_id, ip, count(*), min(at), max(at) FROM usage INDEXED BY usage_at_key_ip
         WHERE at >= ?1 AND key_id IS NOT NULL AND ip IS NOT NULL
         GROUP BY key_id, ip",
    )?;
    let rows = stmt
        .query_map([since], |r| {
            Ok(KeyAddress {
                key_id: r.get(0)?,
                ip: r.get(1)?,
                requests: r.get(2)?,
                first: r.get(3)?,
                last: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A key's owner and the part of it people recognise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub user_id: String,
    pub prefix: String,
    pub name: String,
}

pub fn key_owner(conn: &Connection, key_id: &str) -> Result<Option<KeyOwner>, DbError> {
    Ok(conn
        .query_row(
            "SELECT user_id, prefix, name FROM api_keys WHERE id = ?1",
            [key_id],
            |r| {
                Ok(KeyOwner {
                    user_id: r.get(0)?,
                    prefix: r.get(1)?,
                    name: r.get(2)?,
                })
            },
        )
        .optional()?)
}

/// What each account spent since `since`, for accounts that spent at least `floor` (read from
/// `usage_at_user_cost` alone).
pub fn spend_since(
    conn: &Connection,
    since: i64,
    floor: i64,
) -> Result<Vec<(String, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, sum(cost) FROM usage INDEXED BY usage_at_user_cost
         WHERE at >= ?1 AND user_id IS NOT NULL
         GROUP BY user_id HAVING sum(cost) >= ?2",
    )?;
    let rows = stmt
        .query_map(params![since, floor], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What one account spent in `[from, to)`.
pub fn spend_between(conn: &Connection, user_id: &str, from: i64, to: i64) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(cost), 0) FROM usage INDEXED BY usage_user_at
         WHERE user_id = ?1 AND at >= ?2 AND at < ?3",
        params![user_id, from, to],
        |r| r.get(0),
    )?)
}

/// Requests of one account the limits refused within a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusals {
    pub user_id: String,
    pub count: i64,
    pub first: i64,
    pub last: i64,
}

/// Requests refused by the rate and concurrency limits since `since`, per account.
pub fn rate_limited(conn: &Connection, since: i64) -> Result<Vec<Refusals>, DbError> {
    // The literal matches the partial index `usage_rate_limited`; a bound value would not.
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, count(*), min(at), max(at) FROM usage INDEXED BY usage_rate_limited
         WHERE error_kind = 'rate_limited' AND at >= ?1 AND user_id IS NOT NULL
         GROUP BY user_id",
    )?;
    let rows = stmt
        .query_map([since], |r| {
            Ok(Refusals {
                user_id: r.get(0)?,
                count: r.get(1)?,
                first: r.get(2)?,
                last: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A flag about to be raised by a rule.
#[derive(Debug, Clone)]
pub struct NewFlag<'a> {
    pub at: i64,
    pub kind: &'a str,
    /// What the flag is about: an account, a key or a network.
    pub reference: &'a str,
    pub user_id: Option<&'a str>,
    pub detail: &'a str,
    /// JSON.
    pub evidence: &'a str,
}

/// What raising a flag did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// A new flag.
    New(i64),
    /// The flag already open for this rule and subject now shows the latest evidence.
    Updated(i64),
    /// A flag for this rule and subject was resolved after `quiet_since`: nothing raised.
    Quiet,
}

/// Raises a flag, unless one for the same rule and subject is open (its evidence is then
/// brought up to date) or was resolved after `quiet_since`. Call it in a write transaction.
pub fn raise(conn: &Connection, flag: &NewFlag<'_>, quiet_since: i64) -> Result<Raised, DbError> {
    let open: Option<i64> = conn
        .query_row(
            "SELECT id FROM flags WHERE kind = ?1 AND reference = ?2 AND resolved_at IS NULL
             ORDER BY id LIMIT 1",
            params![flag.kind, flag.reference],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = open {
        conn.execute(
            "UPDATE flags SET detail = ?2, evidence = ?3
             WHERE id = ?1 AND (detail IS NOT ?2 OR evidence IS NOT ?3)",
            params![id, flag.detail, flag.evidence],
        )?;
        return Ok(Raised::Updated(id));
    }
    let quiet: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM flags WHERE kind = ?1 AND reference = ?2
                        AND resolved_at >= ?3)",
        params![flag.kind, flag.reference, quiet_since],
        |r| r.get(0),
    )?;
    if quiet {
        return Ok(Raised::Quiet);
    }
    conn.execute(
        "INSERT INTO flags (at, user_id, kind, reference, detail, evidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            flag.at,
            flag.user_id,
            flag.kind,
            flag.reference,
            flag.detail,
            flag.evidence
        ],
    )?;
    Ok(Raised::New(conn.last_insert_rowid()))
}

/// A flag as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub id: i64,
    pub at: i64,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub kind: String,
    pub reference: Option<String>,
    pub detail: String,
    pub evidence: Option<String>,
    pub action: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolution: Option<String>,
}

const FLAG_COLUMNS: &str = "f.id, f.at, f.user_id, u.email, f.kind, f.reference, f.detail,
     f.evidence, f.action, f.resolved_at, r.email, f.resolution";

fn flag_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Flag> {
    Ok(Flag {
        id: r.get(0)?,
        at: r.get(1)?,
        user_id: r.get(2)?,
        email: r.get(3)?,
        kind: r.get(4)?,
        reference: r.get(5)?,
        detail: r.get(6)?,
        evidence: r.get(7)?,
        action: r.get(8)?,
        resolved_at: r.get(9)?,
        resolved_by: r.get(10)?,
        resolution: r.get(11)?,
    })
}

fn flags_where(conn: &Connection, filter: &str, arg: i64) -> Result<Vec<Flag>, DbError> {
    let sql = format!(
        "SELECT {FLAG_COLUMNS} FROM flags f
         LEFT JOIN users u ON u.id = f.user_id LEFT JOIN users r ON r.id = f.resolved_by
         {filter}"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([arg], flag_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Unresolved flags, newest first.
pub fn open_flags(conn: &Connection, limit: i64) -> Result<Vec<Flag>, DbError> {
    flags_where(
        conn,
        "WHERE f.resolved_at IS NULL ORDER BY f.id DESC LIMIT ?1",
        limit,
    )
}

/// Flags resolved since `since`, the most recently resolved first.
pub fn resolved_flags(conn: &Connection, since: i64) -> Result<Vec<Flag>, DbError> {
    flags_where(
        conn,
        "WHERE f.resolved_at >= ?1 ORDER BY f.resolved_at DESC, f.id DESC LIMIT 100",
        since,
    )
}

/// Open flags the admins have not been told of, nor their rule's action taken, oldest first.
pub fn unhandled_flags(conn: &Connection) -> Result<Vec<Flag>, DbError> {
    flags_where(
        conn,
        "WHERE f.resolved_at IS NULL AND f.handled_at IS NULL ORDER BY f.id LIMIT ?1",
        100,
    )
}

pub fn flag(conn: &Connection, id: i64) -> Result<Option<Flag>, DbError> {
    Ok(flags_where(conn, "WHERE f.id = ?1", id)?.into_iter().next())
}

/// Records that the admins were told of the flag and what the server did on its own.
pub fn mark_handled(
    conn: &Connection,
    id: i64,
    action: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE flags SET handled_at = ?2, action = coalesce(?3, action) WHERE id = ?1",
        params![id, now, action],
    )?;
    Ok(())
}

/// Resolves an open flag with a note; false when it is not open (resolved already, or none).
pub fn resolve(
    conn: &Connection,
    id: i64,
    by: &str,
    note: &str,
    now: i64,
) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE flags SET resolved_at = ?2, resolved_by = ?3, resolution = ?4, handled_at = coalesce(handled_at, ?2)
         WHERE id = ?1 AND resolved_at IS NULL",
        params![id, now, by, note],
    )?;
    Ok(changed > 0)
}

/// The active admins' addresses and names, who are mailed about new flags.
pub fn admin_recipients(conn: &Connection) -> Result<Vec<(String, String)>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT email, name FROM users WHERE role = 'admin' AND status = 'active' ORDER BY created_at",
    )?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// One blocked network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub id: String,
    /// CIDR form: `203.0.113.0/24`.
    pub network: String,
    pub reason: String,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

pub fn insert_blocked(conn: &Connection, entry: &Blocked) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO blocklist (id, network, reason, created_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            entry.id,
            entry.network,
            entry.reason,
            entry.created_by,
            entry.created_at,
            entry.expires_at
        ],
    )?;
    Ok(())
}

/// Removes an entry; the entry it was, if there was one.
pub fn delete_blocked(conn: &Connection, id: &str) -> Result<Option<Blocked>, DbError> {
    let found = blocklist(conn)?.into_iter().find(|b| b.id == id);
    if found.is_some() {
        conn.execute("DELETE FROM blocklist WHERE id = ?1", [id])?;
    }
    Ok(found)
}

/// Every entry, expired ones included, newest first. (Operators keep a handful, not thousands.)
pub fn blocklist(conn: &Connection) -> Result<Vec<Blocked>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT b.id, b.network, b.reason, u.email, b.created_at, b.expires_at
         FROM blocklist b LEFT JOIN users u ON u.id = b.created_by
         ORDER BY b.created_at DESC, b.id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Blocked {
                id: r.get(0)?,
                network: r.get(1)?,
                reason: r.get(2)?,
                created_by: r.get(3)?,
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Deletes entries that expired before `before`; how many.
pub fn delete_expired_blocks(conn: &Connection, before: i64) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM blocklist WHERE expires_at IS NOT NULL AND expires_at < ?1",
        [before],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each of the detector's windows is read through an index, never by scanning the table.
    #[test]
    fn the_windows_are_read_through_their_indexes() {
        let conn = super::super::test_db(&["u1"]);
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows: Vec<String> = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            rows.join("; ")
        };
        let cases = [
            (
                "SELECT key_id, ip, count(*) FROM usage INDEXED BY usage_at_key_ip
                 WHERE at >= 1 AND key_id IS NOT NULL AND ip IS NOT NULL GROUP BY key_id, ip",
                "COVERING INDEX usage_at_key_ip",
            ),
            (
                "SELECT user_id, sum(cost) FROM usage INDEXED BY usage_at_user_cost
                 WHERE at >= 1 AND user_id IS NOT NULL GROUP BY user_id",
                "COVERING INDEX usage_at_user_cost",
            ),
            (
                "SELECT user_id, count(*) FROM usage INDEXED BY usage_rate_limited
                 WHERE error_kind = 'rate_limited' AND at >= 1 AND user_id IS NOT NULL GROUP BY user_id",
                "COVERING INDEX usage_rate_limited",
            ),
            (
                "SELECT ip, user_id, count(*) FROM security_events
                 WHERE at >= 1 AND kind = 'x' AND ip IS NOT NULL GROUP BY ip, user_id",
                "INDEX security_events_at",
            ),
        ];
        for (sql, expected) in cases {
            let found = plan(sql);
            assert!(found.contains(expected), "{sql}\n{found}");
            assert!(found.contains("(at>?)"), "{sql}\n{found}");
        }
    }

    #[test]
    fn one_flag_stays_open_per_rule_and_subject() {
        let conn = super::super::test_db(&["u1"]);
        let flag = |at: i64, evidence: &'static str| NewFlag {
            at,
            kind: "key_networks",
            reference: "k1",
            user_id: Some("u1"),
            detail: "d",
            evidence,
        };
        let Raised::New(id) = raise(&conn, &flag(1, "[]"), 0).unwrap() else {
            panic!("a new flag")
        };
        assert_eq!(
            raise(&conn, &flag(2, "[[\"n\",\"2\"]]"), 0).unwrap(),
            Raised::Updated(id)
        );
        let open = open_flags(&conn, 10).unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].evidence.as_deref(), Some("[[\"n\",\"2\"]]"));
        assert!(resolve(&conn, id, "u1", "fine", 10).unwrap());
        assert!(!resolve(&conn, id, "u1", "again", 11).unwrap());
        // Resolved within the window: quiet; resolved before it: a new flag.
        assert_eq!(raise(&conn, &flag(12, "[]"), 5).unwrap(), Raised::Quiet);
        assert!(matches!(
            raise(&conn, &flag(13, "[]"), 11).unwrap(),
            Raised::New(n) if n != id
        ));
    }
}
