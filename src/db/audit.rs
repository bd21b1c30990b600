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
