//! `notices` and `notice_dismissals`: the technical and administrative notices admins send, the
//! dashboard banner each shows until its end, and who closed it.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// Who a notice is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every account that is not suspended.
    Everyone,
    /// Active accounts.
    Active,
    Admins,
}

impl Audience {
    pub const ALL: [Audience; 3] = [Audience::Everyone, Audience::Active, Audience::Admins];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Everyone => "everyone",
            Audience::Active => "active",
            Audience::Admins => "admins",
        }
    }

    pub fn parse(text: &str) -> Option<Audience> {
        Audience::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The `WHERE` condition on `users u` for this audience.
    fn condition(self) -> &'static str {
        match self {
            Audience::Everyone => "u.status <> 'suspended'",
            Audience::Active => "u.status = 'active'",
            Audience::Admins => "u.role = 'admin' AND u.status = 'active'",
        }
    }
}

pub struct NewNotice<'a> {
    pub created_by: &'a str,
    /// `technical` or `administrative`.
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub audience: Audience,
    /// The banner shows until then; none for no banner.
    pub show_until: Option<i64>,
    pub mailed: bool,
}

pub fn insert(conn: &Connection, notice: &NewNotice<'_>, now: i64) -> Result<i64, DbError> {
    conn.execute(
        "INSERT INTO notices (created_at, created_by, kind, title, body, audience, show_until, mailed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            now,
            notice.created_by,
            notice.kind,
            notice.title,
            notice.body,
            notice.audience.as_str(),
            notice.show_until,
            notice.mailed
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A notice as its banner shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Banner {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
}

/// The newest notice whose banner the account should see now and has not closed.
pub fn banner_for(conn: &Connection, user_id: &str, now: i64) -> Result<Option<Banner>, DbError> {
    let sql = format!(
        "SELECT n.id, n.kind, n.title, n.body FROM notices n JOIN users u ON u.id = ?1
         WHERE n.show_until > ?2
           AND ((n.audience = 'everyone' AND {}) OR (n.audience = 'active' AND {})
                OR (n.audience = 'admins' AND {}))
           AND NOT EXISTS (SELECT 1 FROM notice_dismissals d WHERE d.notice_id = n.id AND d.user_id = ?1)
         ORDER BY n.id DESC LIMIT 1",
        Audience::Everyone.condition(),
        Audience::Active.condition(),
        Audience::Admins.condition()
    );
    Ok(conn
        .query_row(&sql, params![user_id, now], |r| {
            Ok(Banner {
                id: r.get(0)?,
                kind: r.get(1)?,
                title: r.get(2)?,
                body: r.get(3)?,
            })
        })
        .optional()?)
}

/// The account closed the banner; closing it twice is the same.
pub fn dismiss(conn: &Connection, notice_id: i64, user_id: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO notice_dismissals (notice_id, user_id, at)
         SELECT id, ?2, ?3 FROM notices WHERE id = ?1
         ON CONFLICT DO NOTHING",
        params![notice_id, user_id, now],
    )?;
    Ok(())
}

/// A notice as the admin's list shows it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub id: i64,
    pub created_at: i64,
    pub author: Option<String>,
    pub kind: String,
    pub title: String,
    pub audience: String,
    pub show_until: Option<i64>,
    pub mailed: bool,
    pub dismissed: i64,
}

/// The newest notices, at most `limit`.
pub fn recent(conn: &Connection, limit: i64) -> Result<Vec<Sent>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT n.id, n.created_at, u.email, n.kind, n.title, n.audience, n.show_until, n.mailed,
                (SELECT count(*) FROM notice_dismissals d WHERE d.notice_id = n.id)
         FROM notices n LEFT JOIN users u ON u.id = n.created_by ORDER BY n.id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(Sent {
            id: r.get(0)?,
            created_at: r.get(1)?,
            author: r.get(2)?,
            kind: r.get(3)?,
            title: r.get(4)?,
            audience: r.get(5)?,
            show_until: r.get(6)?,
            mailed: r.get(7)?,
            dismissed: r.get(8)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Ends a notice's banner now.
pub fn end_banner(conn: &Connection, id: i64, now: i64) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE notices SET show_until = ?2 WHERE id = ?1 AND show_until > ?2",
        params![id, now],
    )? == 1)
}

/// The accounts of an audience after the row `after` (by rowid), `limit` at a time: rowid,
/// address and name.
pub fn recipients(
    conn: &Connection,
    audience: Audience,
    after: i64,
    limit: i64,
) -> Result<Vec<(i64, String, String)>, DbError> {
    let sql = format!(
        "SELECT u.rowid, u.email, u.name FROM users u WHERE u.rowid > ?1 AND {}
         ORDER BY u.rowid LIMIT ?2",
        audience.condition()
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(params![after, limit], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
