//! `page_views`: first-party site analytics. A row holds the route, the referring host, the
//! browser, OS and device families and a visitor hash; never an address, a cookie or a query.

use rusqlite::{Connection, params};

use super::DbError;

/// One page view to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageView {
    pub at: i64,
    pub path: String,
    pub referrer: Option<String>,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub visitor: Vec<u8>,
}

pub fn insert(conn: &mut Connection, views: &[PageView]) -> Result<(), DbError> {
    let tx = super::write(conn)?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO page_views (at, path, referrer, browser, os, device, visitor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for v in views {
            stmt.execute(params![
                v.at, v.path, v.referrer, v.browser, v.os, v.device, v.visitor
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Whether the session with this token hash belongs to an account that restricted processing.
pub fn session_restricted(conn: &Connection, token_hash: &[u8]) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.token_hash = ?1 AND u.restricted_at IS NOT NULL",
        )?
        .exists([token_hash])?)
}

/// Views and distinct visitors per UTC day (days since the epoch) in `[from, to)` (unix ms).
pub fn per_day(conn: &Connection, from: i64, to: i64) -> Result<Vec<(i64, i64, i64)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT at / 86400000 AS day, count(*), count(DISTINCT visitor) FROM page_views
         WHERE at >= ?1 AND at < ?2 GROUP BY day ORDER BY day",
    )?;
    let rows = stmt
        .query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A column of `page_views` to rank by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Path,
    Referrer,
    Browser,
    Os,
    Device,
}

/// The `limit` most viewed values of `dimension` in `[from, to)`: value, views, visitors.
pub fn top(
    conn: &Connection,
    dimension: Dimension,
    from: i64,
    to: i64,
    limit: u32,
) -> Result<Vec<(String, i64, i64)>, DbError> {
    let sql = match dimension {
        Dimension::Path => {
            "SELECT path, count(*) AS n, count(DISTINCT visitor) FROM page_views
             WHERE at >= ?1 AND at < ?2 GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?3"
        }
        Dimension::Referrer => {
            "SELECT coalesce(referrer, '(direct)'), count(*) AS n, count(DISTINCT visitor)
             FROM page_views WHERE at >= ?1 AND at < ?2 GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?3"
        }
        Dimension::Browser => {
            "SELECT browser, count(*) AS n, count(DISTINCT visitor) FROM page_views
             WHERE at >= ?1 AND at < ?2 GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?3"
        }
        Dimension::Os => {
            "SELECT os, count(*) AS n, count(DISTINCT visitor) FROM page_views
             WHERE at >= ?1 AND at < ?2 GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?3"
        }
        Dimension::Device => {
            "SELECT device, count(*) AS n, count(DISTINCT visitor) FROM page_views
             WHERE at >= ?1 AND at < ?2 GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?3"
        }
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt
        .query_map(params![from, to, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
