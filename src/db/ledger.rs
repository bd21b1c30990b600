//! SQL for the ledger: every change of a wallet is one appended row, written in the same
//! transaction as the account's balance, so that the balance always equals the sum of its rows.

use rusqlite::{Connection, OptionalExtension, params};

use super::DbError;

/// Why a wallet changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Money paid in (Stripe).
    Topup,
    /// A request's cost.
    Usage,
    /// Credit given by an admin or the sign-up credit.
    Grant,
    /// A correction by an admin, either way.
    Adjustment,
    /// Money paid back (a Stripe refund takes the credit away again).
    Refund,
    /// A redemption code.
    Redemption,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Topup => "topup",
            Kind::Usage => "usage",
            Kind::Grant => "grant",
            Kind::Adjustment => "adjustment",
            Kind::Refund => "refund",
            Kind::Redemption => "redemption",
        }
    }
}

/// One change to append.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    pub user_id: &'a str,
    pub kind: Kind,
    /// Signed micro-units: positive credits the wallet.
    pub amount: i64,
    pub reference: Option<&'a str>,
    /// `system`, `stripe`, `cli`, or the id of the user who made the change.
    pub actor: &'a str,
    pub note: Option<&'a str>,
    pub at: i64,
}

/// Appends `entry` and moves the balance with it; returns the balance after. The caller holds
/// the transaction. Fails with `NotFound` if the account does not exist.
pub fn append(conn: &Connection, entry: &Entry) -> Result<i64, DbError> {
    let balance: i64 = conn
        .prepare_cached("UPDATE users SET balance = balance + ?2 WHERE id = ?1 RETURNING balance")?
        .query_row(params![entry.user_id, entry.amount], |r| r.get(0))
        .optional()?
        .ok_or(DbError::NotFound)?;
    conn.prepare_cached(
        "INSERT INTO ledger (at, user_id, kind, amount, balance_after, reference, actor, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        entry.at,
        entry.user_id,
        entry.kind.name(),
        entry.amount,
        balance,
        entry.reference,
        entry.actor,
        entry.note,
    ])?;
    Ok(balance)
}

/// A ledger row as the dashboard and exports show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub amount: i64,
    pub balance_after: i64,
    pub reference: Option<String>,
    pub note: Option<String>,
}

/// A user's ledger, newest first: `limit` rows older than `before` (a row id), if given.
pub fn for_user(
    conn: &Connection,
    user_id: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<LedgerRow>, DbError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, kind, amount, balance_after, reference, note FROM ledger
         WHERE user_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = stmt
        .query_map(params![user_id, before.unwrap_or(i64::MAX), limit], |r| {
            Ok(LedgerRow {
                id: r.get(0)?,
                at: r.get(1)?,
                kind: r.get(2)?,
                amount: r.get(3)?,
                balance_after: r.get(4)?,
                reference: r.get(5)?,
                note: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The newest row id written by anything but the usage writer; it moves when a wallet was
/// credited or corrected from outside the gateway's own settling.
pub fn external_marker(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT coalesce(max(id), 0) FROM ledger WHERE kind <> 'usage'",
        [],
        |r| r.get(0),
    )?)
}

/// Everything wrong with the wallets: an account whose balance is not the sum of its ledger,
/// or whose newest row's `balance_after` is not its balance, or a row whose `balance_after` does
/// not follow from the row before. Empty when all is well.
pub fn check(conn: &Connection) -> Result<Vec<String>, DbError> {
    let mut problems = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT u.id, u.email, u.balance, coalesce(sum(l.amount), 0),
                (SELECT balance_after FROM ledger WHERE user_id = u.id ORDER BY id DESC LIMIT 1)
         FROM users u LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, Option<i64>>(4)?,
        ))
    })?;
    for row in rows {
        let (id, email, balance, sum, last) = row?;
        if balance != sum {
            problems.push(format!(
                "account {id} ({email}): balance {balance} but its ledger sums to {sum}"
            ));
        }
        if last.is_some_and(|last| last != balance) {
            problems.push(format!(
                "account {id} ({email}): balance {balance} but its newest ledger row says {}",
                last.unwrap_or_default()
            ));
        }
    }
    let mut stmt = conn.prepare(
        "SELECT id, coalesce(user_id, 'erased ' || detached), amount, balance_after,
                lag(balance_after, 1, 0) OVER (PARTITION BY coalesce(user_id, detached) ORDER BY id)
         FROM ledger",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    for row in rows {
        let (id, user, amount, after, before) = row?;
        if before + amount != after {
            problems.push(format!(
                "ledger row {id} of account {user}: {before} + {amount} is not {after}"
            ));
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::db::test_db(&["u1"])
    }

    fn entry(kind: Kind, amount: i64) -> Entry<'static> {
        Entry {
            user_id: "u1",
            kind,
            amount,
            reference: None,
            actor: "system",
            note: None,
            at: 1,
        }
    }

    #[test]
    fn balance_follows_the_ledger() {
        let conn = db();
        assert_eq!(append(&conn, &entry(Kind::Grant, 500)).unwrap(), 500);
        assert_eq!(append(&conn, &entry(Kind::Usage, -120)).unwrap(), 380);
        assert_eq!(append(&conn, &entry(Kind::Topup, 1000)).unwrap(), 1380);
        assert!(check(&conn).unwrap().is_empty());
        let rows = for_user(&conn, "u1", None, 10).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].kind, "topup");
        assert_eq!(
            for_user(&conn, "u1", Some(rows[1].id), 10).unwrap().len(),
            1
        );
        let missing = Entry {
            user_id: "nobody",
            ..entry(Kind::Grant, 1)
        };
        assert!(matches!(append(&conn, &missing), Err(DbError::NotFound)));
    }

    #[test]
    fn check_finds_a_balance_changed_behind_the_ledgers_back() {
        let conn = db();
        append(&conn, &entry(Kind::Grant, 500)).unwrap();
        conn.execute("UPDATE users SET balance = 900", []).unwrap();
        let problems = check(&conn).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("ledger sums to 500"));
    }

    #[test]
    fn external_marker_ignores_usage() {
        let conn = db();
        assert_eq!(external_marker(&conn).unwrap(), 0);
        append(&conn, &entry(Kind::Grant, 500)).unwrap();
        let after_grant = external_marker(&conn).unwrap();
        append(&conn, &entry(Kind::Usage, -1)).unwrap();
        assert_eq!(external_marker(&conn).unwrap(), after_grant);
    }
}
