//! Schema migrations: ordered SQL steps, each applied in its own transaction together with the
//! bump of `PRAGMA user_version`. A file newer than this program is refused, never touched.

use std::path::Path;

use rusqlite::{Connection, TransactionBehavior};

use super::DbError;

/// Step `n` (1-based) moves a database from version `n - 1` to `n`.
const STEPS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_accounts.sql"),
    include_str!("../../migrations/0003_totp_replay.sql"),
    include_str!("../../migrations/0004_usage.sql"),
    include_str!("../../migrations/0005_billing.sql"),
    include_str!("../../migrations/0006_dropped_fields.sql"),
    include_str!("../../migrations/0007_privacy.sql"),
    include_str!("../../migrations/0008_abuse.sql"),
    include_str!("../../migrations/0009_console.sql"),
    include_str!("../../migrations/0010_unserved.sql"),
];

pub const LATEST_VERSION: u32 = STEPS.len() as u32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrationReport {
    pub from: u32,
    pub to: u32,
}

pub fn schema_version(conn: &Connection) -> Result<u32, DbError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

pub fn migrate(conn: &mut Connection, path: &Path) -> Result<MigrationReport, DbError> {
    let too_new = |found| DbError::TooNew {
        path: path.to_path_buf(),
        found,
        supported: LATEST_VERSION,
    };
    let from = schema_version(conn)?;
    if from > LATEST_VERSION {
        return Err(too_new(from));
    }
    for (index, sql) in STEPS.iter().enumerate().skip(from as usize) {
        let target = index as u32 + 1;
        // IMMEDIATE takes the write lock first, so two processes migrating at once take turns.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = schema_version(&tx)?;
        if current > LATEST_VERSION {
            return Err(too_new(current));
        }
        if current >= target {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(MigrationReport {
        from,
        to: schema_version(conn)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema as SQLite sees it: each table's columns, keys and strictness, and each index.
    /// (Text of CREATE statements differs once a migration has used ALTER TABLE.)
    fn objects(conn: &Connection) -> Vec<String> {
        let rows = |sql: &str| -> Vec<String> {
            let mut stmt = conn.prepare(sql).unwrap();
            let count = stmt.column_count();
            stmt.query_map([], |r| {
                Ok((0..count)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Text(t) => {
                            String::from_utf8_lossy(t).into_owned()
                        }
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let mut out = Vec::new();
        for table in rows(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ) {
            let name = table;
            out.push(format!("table {name}"));
            out.extend(rows(&format!("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{name}') ORDER BY name")));
            out.extend(rows(&format!("SELECT \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list('{name}') ORDER BY \"from\"")));
            out.extend(rows(&format!(
                "SELECT strict FROM pragma_table_list('{name}')"
            )));
        }
        for index in
            rows("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
        {
            out.push(index.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        out
    }

    #[test]
    fn schema_sql_is_what_the_migrations_build() {
        let mut migrated = Connection::open_in_memory().unwrap();
        let report = migrate(&mut migrated, Path::new(":memory:")).unwrap();
        assert_eq!(
            report,
            MigrationReport {
                from: 0,
                to: LATEST_VERSION
            }
        );

        let fresh = Connection::open_in_memory().unwrap();
        fresh
            .execute_batch(include_str!("../../schema.sql"))
            .unwrap();
        assert_eq!(objects(&migrated), objects(&fresh));
        let app_id = |c: &Connection| {
            c.query_row("PRAGMA application_id", [], |r| r.get::<_, i32>(0))
                .unwrap()
        };
        assert_eq!(app_id(&migrated), super::super::APPLICATION_ID);
        assert_eq!(app_id(&fresh), super::super::APPLICATION_ID);
    }

    #[test]
    fn migrating_twice_changes_nothing() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, Path::new(":memory:")).unwrap();
        let again = migrate(&mut conn, Path::new(":memory:")).unwrap();
        assert_eq!(
            again,
            MigrationReport {
                from: LATEST_VERSION,
                to: LATEST_VERSION
            }
        );
    }
}
