//! Wallet operations outside the request path: grants and corrections, tiers and monthly caps,
//! redemption codes. Each runs in one transaction on a blocking connection, so the command line
//! and the web handlers share them. The gateway picks up wallet changes within half a second.

use rusqlite::Connection;

use crate::auth::token;
use crate::db::DbError;
use crate::db::billing as repo;
use crate::db::ledger::{self, Kind};
use crate::money::Money;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Something the user or admin can fix; the message says what.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<rusqlite::Error> for BillingError {
    fn from(e: rusqlite::Error) -> Self {
        BillingError::Db(e.into())
    }
}

fn invalid(message: impl Into<String>) -> BillingError {
    BillingError::Invalid(message.into())
}

/// Appends a credit (or debit) in its own transaction; returns the balance after. Crediting an
/// account above its low-balance threshold re-arms the warning.
pub fn book(conn: &mut Connection, entry: &ledger::Entry) -> Result<i64, BillingError> {
    let tx = crate::db::write(conn)?;
    let balance = book_in(&tx, entry)?;
    tx.commit()?;
    Ok(balance)
}

/// [`book`] inside the caller's transaction.
pub fn book_in(conn: &Connection, entry: &ledger::Entry) -> Result<i64, BillingError> {
    let balance = match ledger::append(conn, entry) {
        Err(DbError::NotFound) => return Err(invalid("no such account")),
        other => other?,
    };
    if entry.amount > 0 {
        repo::rearm_low_balance_alert(conn, entry.user_id, balance)?;
    }
    Ok(balance)
}

/// The id of the account with this email address.
pub fn user_id_by_email(conn: &Connection, email: &str) -> Result<String, BillingError> {
    repo::user_id_by_email(conn, email.trim())?
        .ok_or_else(|| invalid(format!("no account uses {}", email.trim())))
}

/// Puts the account in `tier` (None: the default tier).
pub fn set_tier(
    conn: &Connection,
    user_id: &str,
    tier: Option<&str>,
    now: i64,
) -> Result<(), BillingError> {
    if !repo::set_tier(conn, user_id, tier, now)? {
        return Err(invalid("no such account"));
    }
    Ok(())
}

/// Sets the account's own monthly spend cap (None: its tier's).
pub fn set_monthly_cap(
    conn: &Connection,
    user_id: &str,
    cap: Option<Money>,
    now: i64,
) -> Result<(), BillingError> {
    if cap.is_some_and(|c| c < Money::ZERO) {
        return Err(invalid("a monthly cap must not be negative"));
    }
    if !repo::set_monthly_cap(conn, user_id, cap.map(Money::micros), now)? {
        return Err(invalid("no such account"));
    }
    Ok(())
}

/// Sets the balance below which the account gets a warning mail (None: no warning).
pub fn set_low_balance_alert(
    conn: &Connection,
    user_id: &str,
    threshold: Option<Money>,
) -> Result<(), BillingError> {
    if threshold.is_some_and(|t| t <= Money::ZERO) {
        return Err(invalid("The warning threshold must be more than zero."));
    }
    repo::set_low_balance_alert(conn, user_id, threshold.map(Money::micros))?;
    Ok(())
}

/// A new redemption code.
pub struct NewCode {
    pub amount: Money,
    pub max_uses: u32,
    pub expires_at: Option<i64>,
    /// `cli` or an admin's user id.
    pub created_by: String,
}

/// Creates a redemption code and returns it; only its hash is kept.
pub fn create_code(conn: &Connection, code: &NewCode, now: i64) -> Result<String, BillingError> {
    if code.amount <= Money::ZERO {
        return Err(invalid("the amount must be more than zero"));
    }
    if code.max_uses == 0 {
        return Err(invalid("a code must allow at least one use"));
    }
    let secret = format!("CX-{}", token::short_code().to_ascii_uppercase());
    repo::insert_code(
        conn,
        &repo::NewCode {
            id: &token::random_id(),
            code_hash: &token::sha256(&normalize_code(&secret)),
            amount: code.amount.micros(),
            max_uses: code.max_uses,
            expires_at: code.expires_at,
            created_by: &code.created_by,
        },
        now,
    )?;
    Ok(secret)
}

/// Codes are compared without case, spaces or dashes, as people type them.
fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Redeems `code` for the account; returns the amount credited and the balance after. Each
/// account can redeem a code once; a code is spent after its uses.
pub fn redeem(
    conn: &mut Connection,
    user_id: &str,
    code: &str,
    now: i64,
) -> Result<(Money, i64), BillingError> {
    let not_valid = || invalid("That code is not valid, has expired or has been used up.");
    let hash = token::sha256(&normalize_code(code));
    let tx = crate::db::write(conn)?;
    let (id, amount) = repo::use_code(&tx, &hash, now)?.ok_or_else(not_valid)?;
    if !repo::record_redemption(&tx, &id, user_id, now)? {
        return Err(invalid("You have already redeemed this code."));
    }
    let balance = book_in(
        &tx,
        &ledger::Entry {
            user_id,
            kind: Kind::Redemption,
            amount,
            reference: Some(&id),
            actor: user_id,
            note: None,
            at: now,
        },
    )?;
    tx.commit()?;
    Ok((Money::from_micros(amount), balance))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::db::test_db(&["u1", "u2"])
    }

    #[test]
    fn a_code_credits_each_account_once_and_runs_out() {
        let mut conn = db();
        let code = create_code(
            &conn,
            &NewCode {
                amount: "2.50".parse().unwrap(),
                max_uses: 1,
                expires_at: None,
                created_by: "cli".into(),
            },
            1,
        )
        .unwrap();
        let typed = format!(" {} ", code.to_lowercase());
        let (amount, balance) = redeem(&mut conn, "u1", &typed, 2).unwrap();
        assert_eq!((amount.micros(), balance), (2_500_000, 2_500_000));
        assert!(redeem(&mut conn, "u1", &code, 3).is_err());
        assert!(redeem(&mut conn, "u2", &code, 3).is_err(), "used up");
        assert!(ledger::check(&conn).unwrap().is_empty());
    }

    #[test]
    fn a_code_redeemed_twice_by_one_account_changes_nothing() {
        let mut conn = db();
        let new = NewCode {
            amount: "1".parse().unwrap(),
            max_uses: 5,
            expires_at: Some(100),
            created_by: "cli".into(),
        };
        let code = create_code(&conn, &new, 1).unwrap();
        redeem(&mut conn, "u1", &code, 2).unwrap();
        let again = redeem(&mut conn, "u1", &code, 3).unwrap_err();
        assert!(again.to_string().contains("already"));
        let uses = repo::code_uses(&conn, &token::sha256(&normalize_code(&code))).unwrap();
        assert_eq!(uses, 1, "the refused attempt rolled back");
        assert!(redeem(&mut conn, "u2", &code, 100).is_err(), "expired");
        assert!(redeem(&mut conn, "u2", "CX-NOPE", 2).is_err());
    }

    #[test]
    fn a_credit_above_the_threshold_rearms_the_warning() {
        let mut conn = db();
        set_low_balance_alert(&conn, "u1", Some("1".parse().unwrap())).unwrap();
        assert!(repo::take_low_balance_alert(&conn, "u1", 0, 5).unwrap());
        let grant = |amount| ledger::Entry {
            user_id: "u1",
            kind: Kind::Grant,
            amount,
            reference: None,
            actor: "cli",
            note: None,
            at: 9,
        };
        book(&mut conn, &grant(500_000)).unwrap();
        let sent = repo::low_balance_sent_at(&conn, "u1").unwrap();
        assert_eq!(sent, Some(5), "still below the threshold");
        book(&mut conn, &grant(600_000)).unwrap();
        let sent = repo::low_balance_sent_at(&conn, "u1").unwrap();
        assert_eq!(sent, None);
    }
}
