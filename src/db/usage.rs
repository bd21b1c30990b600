//! SQL for request metadata: the usage rows the gateway's writer commits in batches.

use rusqlite::{Connection, params};

use super::DbError;

/// One API request's metadata. Nothing of its content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    pub at: i64,
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub endpoint: &'static str,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub status: u16,
    pub latency_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_tokens: i64,
    pub output_tokens: i64,
    pub reasoning_tokens: i64,
    /// Counted locally because the upstream reported no usage.
    pub estimated: bool,
    pub streamed: bool,
    /// completed, incomplete, failed, upstream_dropped, client_cancelled or rejected.
    pub outcome: &'static str,
    pub error_kind: Option<&'static str>,
    /// Micro-units of the configured currency.
    pub cost: i64,
    pub ip: Option<String>,
}

/// Inserts rows and stamps their keys' `last_used_at`; returns the rows' ids. The caller holds
/// the transaction.
pub fn insert_rows(conn: &Connection, rows: &[&UsageRow]) -> Result<Vec<i64>, DbError> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO usage (at, user_id, key_id, endpoint, model, provider, status, latency_ms, ttfb_ms,
             input_tokens, cached_input_tokens, cache_creation_tokens, output_tokens, reasoning_tokens,
             estimated, streamed, outcome, error_kind, cost, ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    )?;
    let mut touch = conn.prepare_cached(
        "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, 0), ?2) WHERE id = ?1",
    )?;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        insert.execute(params![
            row.at,
            row.user_id,
            row.key_id,
            row.endpoint,
            row.model,
            row.provider,
            row.status,
            row.latency_ms,
            row.ttfb_ms,
            row.input_tokens,
            row.cached_input_tokens,
            row.cache_creation_tokens,
            row.output_tokens,
            row.reasoning_tokens,
            row.estimated,
            row.streamed,
            row.outcome,
            row.error_kind,
            row.cost,
            row.ip,
        ])?;
        ids.push(conn.last_insert_rowid());
        if let Some(key_id) = &row.key_id {
            touch.execute(params![key_id, row.at])?;
        }
    }
    Ok(ids)
}

/// A user's most recent requests, newest first.
pub fn recent_for_user(
    conn: &Connection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<UsageRow>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT at, endpoint, model, provider, status, latency_ms, ttfb_ms, input_tokens,
                cached_input_tokens, cache_creation_tokens, output_tokens, reasoning_tokens,
                estimated, streamed, outcome, error_kind, cost, key_id
         FROM usage WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![user_id, limit], |r| {
        let endpoint: String = r.get(1)?;
        let outcome: String = r.get(14)?;
        Ok(UsageRow {
            at: r.get(0)?,
            endpoint: crate::gateway::endpoint_name(&endpoint),
            model: r.get(2)?,
            provider: r.get(3)?,
            status: r.get(4)?,
            latency_ms: r.get(5)?,
            ttfb_ms: r.get(6)?,
            input_tokens: r.get(7)?,
            cached_input_tokens: r.get(8)?,
            cache_creation_tokens: r.get(9)?,
            output_tokens: r.get(10)?,
            reasoning_tokens: r.get(11)?,
            estimated: r.get(12)?,
            streamed: r.get(13)?,
            outcome: crate::gateway::outcome_name(&outcome),
            error_kind: None,
            cost: r.get(16)?,
            key_id: r.get(17)?,
            user_id: Some(user_id.to_owned()),
            ip: None,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
