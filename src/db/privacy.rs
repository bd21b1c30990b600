//! The data rights' statements: everything stored about an account, found from the schema
//! itself (so a table added later is covered without a line here), an account's erasure, and
//! the restriction of its processing.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, params};

use super::DbError;

/// Columns shown to nobody, their owner included, and what they hold instead of a value.
pub const WITHHELD: &[(&str, &str)] = &[
    ("password_hash", "an Argon2id hash of your password"),
    (
        "totp_secret",
        "the secret your authenticator app shares with the server",
    ),
    ("key_hash", "a SHA-256 hash of the key"),
    ("token_hash", "a SHA-256 hash of the cookie or emailed link"),
    ("code_hash", "a SHA-256 hash of the code"),
    (
        "csrf_token",
        "a random token that guards the session's forms",
    ),
];

/// How a table's rows belong to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// `users` itself: the row whose `id` is the account's.
    Itself,
    /// A `user_id` column.
    UserId,
    /// Mail: `to_addr` is the account's address.
    Recipient,
}

/// A table that holds data about an account, as the schema describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalTable {
    pub name: String,
    /// The schema's own comment above the table.
    pub about: String,
    pub owner: Owner,
    /// Every column, withheld ones included.
    pub columns: Vec<String>,
    /// What erasing the account does to its rows here, as the schema's foreign key says.
    pub on_erase: OnErase,
}

/// What an account's erasure does to its rows in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnErase {
    Deleted,
    /// Kept, with the link to the account cut (`ON DELETE SET NULL`).
    Detached,
}

impl PersonalTable {
    pub fn withheld(&self, column: &str) -> Option<&'static str> {
        WITHHELD
            .iter()
            .find(|(name, _)| *name == column)
            .map(|(_, what)| *what)
    }
}

/// The comment lines right above `CREATE TABLE name` in the schema file.
fn schema_comment(name: &str) -> String {
    const SCHEMA: &str = include_str!("../../schema.sql");
    let marker = format!("CREATE TABLE {name} (");
    let Some(at) = SCHEMA.find(&marker) else {
        return String::new();
    };
    let mut lines: Vec<&str> = SCHEMA[..at]
        .lines()
        .rev()
        .take_while(|l| l.starts_with("--"))
        .map(|l| l.trim_start_matches('-').trim())
        .collect();
    lines.reverse();
    lines.join(" ")
}

/// The tables that hold data about an account, read from the database's own schema.
pub fn personal_tables(conn: &Connection) -> Result<Vec<PersonalTable>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master
         WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
    )?;
    let names: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut columns_of = conn.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid")?;
    let mut user_key = conn.prepare(
        "SELECT on_delete FROM pragma_foreign_key_list(?1) WHERE \"table\" = 'users' AND \"from\" = 'user_id'",
    )?;
    let mut tables = Vec::new();
    for name in names {
        let columns: Vec<String> = columns_of
            .query_map([&name], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let owner = if name == "users" {
            Owner::Itself
        } else if columns.iter().any(|c| c == "user_id") {
            Owner::UserId
        } else if name == "email_outbox" {
            Owner::Recipient
        } else {
            continue;
        };
        let on_delete: Option<String> = user_key
            .query_map([&name], |r| r.get(0))?
            .next()
            .transpose()?;
        let on_erase = match on_delete.as_deref() {
            Some("SET NULL") => OnErase::Detached,
            _ => OnErase::Deleted,
        };
        tables.push(PersonalTable {
            about: schema_comment(&name),
            name,
            owner,
            columns,
            on_erase,
        });
    }
    Ok(tables)
}

/// One table's rows about an account; withheld columns hold `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub table: PersonalTable,
    pub rows: Vec<Vec<Option<serde_json::Value>>>,
}

/// Every row about the account in every personal table, oldest first.
pub fn personal_data(conn: &Connection, user_id: &str, email: &str) -> Result<Vec<Rows>, DbError> {
    let mut out = Vec::new();
    for table in personal_tables(conn)? {
        // Names come from the schema, never from a request; quoted all the same.
        let (filter, key) = owner_filter(table.owner, user_id, email);
        let sql = format!(
            "SELECT * FROM \"{}\" WHERE \"{filter}\" = ?1 ORDER BY rowid",
            table.name
        );
        let mut stmt = conn.prepare(&sql)?;
        let withheld: Vec<bool> = table
            .columns
            .iter()
            .map(|c| table.withheld(c).is_some())
            .collect();
        let rows = stmt
            .query_map([key], |r| {
                (0..withheld.len())
                    .map(|i| {
                        if withheld[i] {
                            return Ok(None);
                        }
                        Ok(Some(json_of(r.get_ref(i)?)))
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })?
            .collect::<Result<_, _>>()?;
        out.push(Rows { table, rows });
    }
    Ok(out)
}

/// How many rows about the account each personal table holds.
pub fn personal_counts(
    conn: &Connection,
    user_id: &str,
    email: &str,
) -> Result<Vec<(PersonalTable, i64)>, DbError> {
    let mut out = Vec::new();
    for table in personal_tables(conn)? {
        let (filter, key) = owner_filter(table.owner, user_id, email);
        let sql = format!(
            "SELECT count(*) FROM \"{}\" WHERE \"{filter}\" = ?1",
            table.name
        );
        let n = conn.query_row(&sql, [key], |r| r.get(0))?;
        out.push((table, n));
    }
    Ok(out)
}

/// The column that ties a table's rows to an account, and the value it has for this one.
fn owner_filter<'a>(owner: Owner, user_id: &'a str, email: &'a str) -> (&'static str, &'a str) {
    match owner {
        Owner::Itself => ("id", user_id),
        Owner::UserId => ("user_id", user_id),
        Owner::Recipient => ("to_addr", email),
    }
}

fn json_of(value: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value;
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(n) => Value::from(n),
        ValueRef::Real(x) => Value::from(x),
        ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::from(
            b.iter()
                .map(|byte| format!("{byte:02x}"))
                .collect::<String>(),
        ),
    }
}

/// The `settings` key counting erasures, which the key cache watches.
pub const ERASURES_KEY: &str = "accounts.erasures";

/// What erasing an account does to its usage metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageAfterErasure {
    Delete,
    /// Kept without account, key or address.
    Anonymise,
}

/// What an erasure kept, detached from the person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    pub ledger_rows: usize,
    pub payments: usize,
    pub usage_rows: usize,
}

/// Erases an account inside the caller's transaction. Ledger rows and payments stay for the
/// accounting, detached: no account, no Stripe customer, the ledger's rows tied together only by
/// `detached`. Usage rows go, or stay anonymous. Mail to the address goes. Every other row about
/// the account goes with it (the schema's `ON DELETE CASCADE`). `Ok(None)` if there is no such
/// account.
pub fn erase_account(
    conn: &Connection,
    user_id: &str,
    detached: &str,
    usage: UsageAfterErasure,
) -> Result<Option<Kept>, DbError> {
    let email: Option<String> = conn
        .query_row("SELECT email FROM users WHERE id = ?1", [user_id], |r| {
            r.get(0)
        })
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let Some(email) = email else {
        return Ok(None);
    };
    let mut kept = Kept {
        ledger_rows: conn.execute(
            "UPDATE ledger SET user_id = NULL, detached = ?2 WHERE user_id = ?1",
            params![user_id, detached],
        )?,
        payments: conn.execute(
            "UPDATE payments SET user_id = NULL, customer = NULL WHERE user_id = ?1",
            [user_id],
        )?,
        usage_rows: 0,
    };
    // Where the account acted on others (an admin's grants and actions), its id gives way too.
    conn.execute(
        "UPDATE ledger SET actor = 'erased account' WHERE actor = ?1",
        [user_id],
    )?;
    conn.execute(
        "UPDATE audit_log SET actor = 'erased account' WHERE actor = ?1",
        [user_id],
    )?;
    conn.execute(
        "UPDATE audit_log SET target = 'erased account' WHERE target = ?1",
        [user_id],
    )?;
    conn.execute(
        "UPDATE notices SET created_by = NULL WHERE created_by = ?1",
        [user_id],
    )?;
    if usage == UsageAfterErasure::Anonymise {
        // The account's daily sums join those of earlier anonymised usage.
        conn.execute(
            "INSERT INTO usage_daily (day, user_id, model, provider, requests, errors, input_tokens,
                 cached_input_tokens, output_tokens, cost, latency_ms)
             SELECT day, NULL, model, provider, requests, errors, input_tokens, cached_input_tokens,
                    output_tokens, cost, latency_ms
             FROM usage_daily WHERE user_id = ?1
             ON CONFLICT (day, coalesce(user_id, ''), model, provider) DO UPDATE SET
                 requests = requests + excluded.requests, errors = errors + excluded.errors,
                 input_tokens = input_tokens + excluded.input_tokens,
                 cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
                 output_tokens = output_tokens + excluded.output_tokens,
                 cost = cost + excluded.cost, latency_ms = latency_ms + excluded.latency_ms",
            [user_id],
        )?;
        kept.usage_rows = conn.execute(
            "UPDATE usage SET user_id = NULL, key_id = NULL, ip = NULL WHERE user_id = ?1",
            [user_id],
        )?;
    }
    conn.execute(
        "DELETE FROM email_outbox WHERE to_addr = ?1 COLLATE NOCASE",
        [&email],
    )?;
    conn.execute("DELETE FROM users WHERE id = ?1", [user_id])?;
    conn.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES (?1, '1', ?2)
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1, updated_at = ?2",
        params![ERASURES_KEY, super::now_ms()],
    )?;
    Ok(Some(kept))
}

/// Sets or lifts the restriction of processing.
pub fn set_restricted(
    conn: &Connection,
    user_id: &str,
    restricted: bool,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET restricted_at = CASE WHEN ?2 THEN coalesce(restricted_at, ?3) END,
                          updated_at = ?3
         WHERE id = ?1",
        params![user_id, restricted, now],
    )?;
    Ok(())
}

/// Accounts that restricted processing, most recent first: (email, since).
pub fn restricted_accounts(conn: &Connection, limit: u32) -> Result<Vec<(String, i64)>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT email, restricted_at FROM users WHERE restricted_at IS NOT NULL
         ORDER BY restricted_at DESC LIMIT ?1",
    )?;
    let rows = stmt
        .query_map([limit], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether the account restricted processing (an unknown account counts as restricted: nothing
/// optional is done for it).
pub fn is_restricted(conn: &Connection, user_id: &str) -> Result<bool, DbError> {
    Ok(conn
        .query_row(
            "SELECT restricted_at IS NOT NULL FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(true),
            e => Err(e),
        })?)
}

/// A version of the policy and terms the server has shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    pub effective_date: String,
    pub first_shown_at: i64,
}

/// Keeps the current version's texts: a new date is added, the current date's texts are kept up
/// to date (its first showing stays), earlier dates are never touched. Returns the version list,
/// oldest first.
pub fn record_policy(
    conn: &Connection,
    effective_date: &str,
    privacy_html: &str,
    terms_html: &str,
    now: i64,
) -> Result<Vec<PolicyVersion>, DbError> {
    conn.execute(
        "INSERT INTO policy_versions (effective_date, privacy, terms, first_shown_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (effective_date) DO UPDATE SET privacy = excluded.privacy, terms = excluded.terms",
        params![effective_date, privacy_html, terms_html, now],
    )?;
    policy_versions(conn)
}

/// Every version shown, oldest first.
pub fn policy_versions(conn: &Connection) -> Result<Vec<PolicyVersion>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT effective_date, first_shown_at FROM policy_versions ORDER BY first_shown_at, effective_date",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(PolicyVersion {
                effective_date: r.get(0)?,
                first_shown_at: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The texts of one version (privacy, terms), as HTML.
pub fn policy_text(
    conn: &Connection,
    effective_date: &str,
) -> Result<Option<(String, String)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT privacy, terms FROM policy_versions WHERE effective_date = ?1",
            [effective_date],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?)
}

/// Up to `limit` accounts made before `since` that have neither acknowledged nor been mailed
/// about the version `date`: (id, email, name).
pub fn due_policy_notice(
    conn: &Connection,
    date: &str,
    since: i64,
    limit: u32,
) -> Result<Vec<(String, String, String)>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, email, name FROM users
         WHERE created_at < ?2 AND coalesce(policy_seen, '') <> ?1 AND coalesce(policy_mailed, '') <> ?1
         ORDER BY id LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![date, since, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn mark_policy_mailed(conn: &Connection, user_id: &str, date: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET policy_mailed = ?2 WHERE id = ?1",
        params![user_id, date],
    )?;
    Ok(())
}

/// The user acknowledged the version `date`.
pub fn mark_policy_seen(conn: &Connection, user_id: &str, date: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET policy_seen = ?2 WHERE id = ?1",
        params![user_id, date],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stored_secret_is_withheld() {
        let conn = super::super::test_db(&["u1"]);
        for table in personal_tables(&conn).unwrap() {
            for column in &table.columns {
                let secret = column.ends_with("_hash")
                    || column.contains("secret")
                    || column == "csrf_token";
                assert_eq!(
                    secret,
                    table.withheld(column).is_some(),
                    "{}.{column}",
                    table.name
                );
            }
        }
    }

    #[test]
    fn the_personal_tables_come_from_the_schema_with_its_comments() {
        let conn = super::super::test_db(&["u1"]);
        let tables = personal_tables(&conn).unwrap();
        let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
        for expected in [
            "users",
            "sessions",
            "api_keys",
            "usage",
            "ledger",
            "payments",
            "security_events",
            "email_outbox",
            "flags",
        ] {
            assert!(names.contains(&expected), "{expected} in {names:?}");
        }
        assert!(!names.contains(&"settings") && !names.contains(&"page_views"));
        let on_erase = |name: &str| tables.iter().find(|t| t.name == name).unwrap().on_erase;
        assert_eq!(on_erase("ledger"), OnErase::Detached);
        assert_eq!(on_erase("payments"), OnErase::Detached);
        assert_eq!(on_erase("sessions"), OnErase::Deleted);
        assert_eq!(on_erase("usage"), OnErase::Deleted);
        let users = tables.iter().find(|t| t.name == "users").unwrap();
        assert!(
            users.about.starts_with("People with an account"),
            "{}",
            users.about
        );
    }

    #[test]
    fn erasure_detaches_the_accounting_and_deletes_the_rest() {
        let conn = super::super::test_db(&["u1", "u2"]);
        conn.execute_batch(
            "INSERT INTO ledger (at, user_id, kind, amount, balance_after, actor) VALUES
                 (1, 'u1', 'grant', 5, 5, 'u2'), (2, 'u2', 'grant', 7, 7, 'u1');
             UPDATE users SET balance = 5 WHERE id = 'u1';
             UPDATE users SET balance = 7 WHERE id = 'u2';
             INSERT INTO payments (id, user_id, amount, currency, status, customer, created_at, updated_at)
                 VALUES ('p1', 'u1', 5, 'USD', 'paid', 'cus_1', 1, 1);
             INSERT INTO usage (at, user_id, endpoint, status, latency_ms, outcome, ip)
                 VALUES (1, 'u1', '/v1/messages', 200, 1, 'completed', '192.0.2.1');
             INSERT INTO email_outbox (to_addr, subject, text_body, html_body, created_at, next_attempt_at)
                 VALUES ('U1@example.test', 's', 't', 'h', 1, 1);",
        )
        .unwrap();
        let kept = erase_account(&conn, "u1", "d1", UsageAfterErasure::Anonymise)
            .unwrap()
            .unwrap();
        assert_eq!(
            kept,
            Kept {
                ledger_rows: 1,
                payments: 1,
                usage_rows: 1
            }
        );
        let one = |sql: &str| -> String { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(one("SELECT detached FROM ledger WHERE id = 1"), "d1");
        assert_eq!(
            one("SELECT actor FROM ledger WHERE id = 2"),
            "erased account"
        );
        assert_eq!(
            one("SELECT coalesce(user_id, '-') || coalesce(customer, '-') FROM payments"),
            "--"
        );
        assert_eq!(
            one("SELECT coalesce(user_id, '-') || coalesce(ip, '-') FROM usage"),
            "--"
        );
        assert_eq!(one("SELECT count(*) || '' FROM email_outbox"), "0");
        assert_eq!(one("SELECT group_concat(id) FROM users"), "u2");
        assert!(
            erase_account(&conn, "u1", "d2", UsageAfterErasure::Delete)
                .unwrap()
                .is_none()
        );
        assert!(super::super::ledger::check(&conn).unwrap().is_empty());
    }
}
