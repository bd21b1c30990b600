//! Usage across all accounts, for the admin console: read from the daily sums — across accounts
//! in `usage_daily_totals` (a few rows a day), per account in `usage_daily` (a few rows per
//! account and day), however many requests — so every query is bounded by the days it covers. The last hour of a provider is read from `usage` itself, through its time
//! index and a row limit.

use rusqlite::{Connection, Row, params};

use super::DbError;
use super::usage::Totals;

/// What the sums are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    Day,
    Model,
    Provider,
    /// The account's email address; usage kept after an erasure sums as one row without one.
    Account,
}

const SUMS: &str = "sum(requests), sum(errors), sum(input_tokens), sum(cached_input_tokens),
    sum(output_tokens), sum(cost)";

fn totals_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Totals> {
    Ok(Totals {
        requests: r.get(at)?,
        errors: r.get(at + 1)?,
        input_tokens: r.get(at + 2)?,
        cached_input_tokens: r.get(at + 3)?,
        output_tokens: r.get(at + 4)?,
        cost: r.get(at + 5)?,
    })
}

/// Sums over the days `from..to` (days since the epoch, UTC).
pub fn totals(conn: &Connection, from: i64, to: i64) -> Result<Totals, DbError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(requests), 0), coalesce(sum(errors), 0), coalesce(sum(input_tokens), 0),
                coalesce(sum(cached_input_tokens), 0), coalesce(sum(output_tokens), 0),
                coalesce(sum(cost), 0)
         FROM usage_daily_totals WHERE day >= ?1 AND day < ?2",
        params![from, to],
        |r| totals_at(r, 0),
    )?)
}

/// Sums over the days `from..to` per group, the largest cost first (by day: oldest first);
/// at most `limit` groups.
pub fn grouped(
    conn: &Connection,
    group: Group,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<(String, Totals)>, DbError> {
    let (label, from_table, order) = match group {
        Group::Day => ("CAST(d.day AS TEXT)", "usage_daily_totals d", "d.day"),
        Group::Model => ("d.model", "usage_daily_totals d", "sum(cost) DESC, d.model"),
        Group::Provider => (
            "d.provider",
            "usage_daily_totals d",
            "sum(cost) DESC, d.provider",
        ),
        Group::Account => (
            "coalesce(u.email, '')",
            "usage_daily d LEFT JOIN users u ON u.id = d.user_id",
            "sum(cost) DESC, 1",
        ),
    };
    let sql = format!(
        "SELECT {label}, {SUMS} FROM {from_table}
         WHERE d.day >= ?1 AND d.day < ?2 GROUP BY 1 ORDER BY {order} LIMIT ?3"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![from, to, limit], |r| {
        Ok((r.get(0)?, totals_at(r, 1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One day's sums for one account, model and provider: a row of the CSV export.
#[derive(Debug, Clone)]
pub struct DailyRow {
    pub day: i64,
    pub account: String,
    pub model: String,
    pub provider: String,
    pub totals: Totals,
}

/// Every daily row of `from..to`, oldest first; at most `limit`.
pub fn daily_rows(
    conn: &Connection,
    from: i64,
    to: i64,
    limit: i64,
) -> Result<Vec<DailyRow>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT d.day, coalesce(u.email, ''), d.model, d.provider, d.requests, d.errors,
                d.input_tokens, d.cached_input_tokens, d.output_tokens, d.cost
         FROM usage_daily d LEFT JOIN users u ON u.id = d.user_id
         WHERE d.day >= ?1 AND d.day < ?2 ORDER BY d.day, 2, d.model, d.provider LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![from, to, limit], |r| {
        Ok(DailyRow {
            day: r.get(0)?,
            account: r.get(1)?,
            model: r.get(2)?,
            provider: r.get(3)?,
            totals: totals_at(r, 4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Money that came in or went out other than by usage, per ledger kind (`topup`, `refund`,
/// `grant`, `redemption`, `adjustment`) within `from..to` (unix ms): how many and how much.
pub fn revenue(conn: &Connection, from: i64, to: i64) -> Result<Vec<(String, i64, i64)>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT kind, count(*), sum(amount) FROM ledger
         WHERE kind <> 'usage' AND at >= ?1 AND at < ?2 GROUP BY kind ORDER BY kind",
    )?;
    let rows = stmt.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A provider's requests since a moment, as its live state shows them.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    pub requests: i64,
    pub errors: i64,
    /// Latencies in milliseconds, fastest first.
    pub latencies: Vec<i64>,
    pub last_success: Option<i64>,
    pub last_failure: Option<i64>,
}

/// Requests that reached a provider since `since` (unix ms), per provider; at most `limit` rows
/// are read, newest first.
pub fn recent_by_provider(
    conn: &Connection,
    since: i64,
    limit: i64,
) -> Result<Vec<(String, Recent)>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT provider, status, latency_ms, at FROM usage
         WHERE at >= ?1 AND provider IS NOT NULL ORDER BY at DESC LIMIT ?2",
    )?;
    let mut out: Vec<(String, Recent)> = Vec::new();
    let mut rows = stmt.query(params![since, limit])?;
    while let Some(row) = rows.next()? {
        let provider: String = row.get(0)?;
        let status: i64 = row.get(1)?;
        let latency: i64 = row.get(2)?;
        let at: i64 = row.get(3)?;
        let index = match out.iter().position(|(p, _)| *p == provider) {
            Some(i) => i,
            None => {
                out.push((provider, Recent::default()));
                out.len() - 1
            }
        };
        let recent = &mut out[index].1;
        recent.requests += 1;
        recent.latencies.push(latency);
        if (200..300).contains(&status) {
            recent.last_success = recent.last_success.max(Some(at));
        } else {
            recent.errors += 1;
            recent.last_failure = recent.last_failure.max(Some(at));
        }
    }
    for (_, recent) in &mut out {
        recent.latencies.sort_unstable();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::usage::{Endpoint, Outcome, UsageRow, insert_rows};

    fn row(at: i64, model: &str, status: u16, cost: i64) -> UsageRow {
        UsageRow {
            at,
            user_id: None,
            key_id: None,
            endpoint: Endpoint::ChatCompletions,
            model: Some(model.to_owned()),
            provider: Some("p".to_owned()),
            status,
            latency_ms: 100,
            ttfb_ms: None,
            input_tokens: 10,
            cached_input_tokens: 0,
            cache_creation_tokens: 0,
            output_tokens: 5,
            reasoning_tokens: 0,
            estimated: false,
            streamed: false,
            outcome: Outcome::Completed,
            error_kind: None,
            cost,
            ip: None,
            dropped: None,
        }
    }

    #[test]
    fn daily_sums_follow_the_rows_written() {
        let conn = crate::db::test_db(&[]);
        let day = 20_000_i64;
        let at = day * 86_400_000;
        insert_rows(
            &conn,
            &[
                row(at, "a", 200, 7),
                row(at + 1, "a", 500, 0),
                row(at + 86_400_000, "b", 200, 3),
            ],
        )
        .unwrap();
        let all = totals(&conn, day, day + 2).unwrap();
        assert_eq!((all.requests, all.errors, all.cost), (3, 1, 10));
        assert_eq!(all.input_tokens, 30);
        let by_day = grouped(&conn, Group::Day, day, day + 2, 10).unwrap();
        assert_eq!(by_day.len(), 2);
        assert_eq!(by_day[0].0, day.to_string());
        assert_eq!(by_day[0].1.requests, 2);
        let by_model = grouped(&conn, Group::Model, day, day + 2, 10).unwrap();
        assert_eq!(by_model[0].0, "a", "the costlier model first");
        assert_eq!(totals(&conn, day + 1, day + 2).unwrap().requests, 1);
    }

    #[test]
    fn a_request_that_reached_no_provider_sums_under_no_model() {
        let conn = crate::db::test_db(&[]);
        let day = 20_000_i64;
        let mut refused = row(day * 86_400_000, "made-up-model", 404, 0);
        refused.provider = None;
        insert_rows(&conn, &[refused, row(day * 86_400_000, "a", 200, 1)]).unwrap();
        let models: Vec<String> = grouped(&conn, Group::Model, day, day + 1, 10)
            .unwrap()
            .into_iter()
            .map(|(m, _)| m)
            .collect();
        assert_eq!(models, ["a", ""]);
    }
}
