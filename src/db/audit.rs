//! `audit_log`: what was done to whom, for operators. Rows hold ids and names of actions, never
//! content.

use rusqlite::{Connection, params};

use super::DbError;

/// One action to record.
pub struct Entry<'a> {
    pub at: i64,
    /// A user id, or `cli` / `system`.
    pub actor: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub ip: Option<&'a str>,
}

pub fn record(conn: &Connection, entry: &Entry<'_>) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, target, detail, ip) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![entry.at, entry.actor, entry.action, entry.target, entry.detail, entry.ip],
    )?;
    Ok(())
}

/// One recorded action, as the audit page lists it; `actor_email` and `target_email` are the
/// accounts' addresses while they exist.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub actor_email: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub target_email: Option<String>,
    pub detail: Option<String>,
    pub ip: Option<String>,
}

/// What the audit page is filtered by; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// An action's name, or its start (`user.` for every action on accounts).
    pub action: Option<String>,
    /// The actor: a user id, `cli` or `system`.
    pub actor: Option<String>,
    /// The account acted on.
    pub target: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Matching rows, newest first: `limit` rows older than the row `before`, if given.
pub fn list(
    conn: &Connection,
    query: &Query,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.at, a.actor, actor.email, a.action, a.target, target.email, a.detail, a.ip
         FROM audit_log a
         LEFT JOIN users actor ON actor.id = a.actor
         LEFT JOIN users target ON target.id = a.target
         WHERE a.id < ?1
           AND (?2 IS NULL OR a.action = ?2 OR (substr(?2, -1) = '.' AND substr(a.action, 1, length(?2)) = ?2))
           AND (?3 IS NULL OR a.actor = ?3) AND (?4 IS NULL OR a.target = ?4)
           AND (?5 IS NULL OR a.at >= ?5) AND (?6 IS NULL OR a.at < ?6)
         ORDER BY a.id DESC LIMIT ?7",
    )?;
    let rows = stmt.query_map(
        params![
            before.unwrap_or(i64::MAX),
            query.action,
            query.actor,
            query.target,
            query.from,
            query.to,
            limit
        ],
        |r| {
            Ok(Row {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                actor_email: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                target_email: r.get(6)?,
                detail: r.get(7)?,
                ip: r.get(8)?,
            })
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The names of the actions recorded so far, for the page's filter.
pub fn actions(conn: &Connection) -> Result<Vec<String>, DbError> {
    let mut stmt = conn.prepare("SELECT DISTINCT action FROM audit_log ORDER BY action")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
