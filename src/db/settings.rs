//! `settings`: small values the server keeps for itself between runs (the retention job's last
//! report and progress marks), by key.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

pub fn get(conn: &Connection, key: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// A value and when it was last set (unix ms).
pub fn get_dated(conn: &Connection, key: &str) -> Result<Option<(String, i64)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT value, updated_at FROM settings WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

pub fn set(conn: &Connection, key: &str, value: &str, now_ms: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![key, value, now_ms],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_read_back_and_replaced() {
        let conn = super::super::test_db(&[]);
        assert_eq!(get(&conn, "k").unwrap(), None);
        set(&conn, "k", "one", 1).unwrap();
        set(&conn, "k", "two", 2).unwrap();
        assert_eq!(get(&conn, "k").unwrap().as_deref(), Some("two"));
    }
}
