//! SQL for top-ups: payments made through Stripe Checkout, the Stripe events already handled,
//! flags for the admin, and the wallet columns of an account that the billing page shows.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

/// Where a payment stands. Stored as the lowercase names below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// A Checkout Session was (or is being) made; nothing paid yet.
    Open,
    Paid,
    Failed,
    Expired,
    Refunded,
    PartiallyRefunded,
}

impl PaymentStatus {
    pub fn name(self) -> &'static str {
        match self {
            PaymentStatus::Open => "open",
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
        }
    }

    fn parse(name: &str) -> PaymentStatus {
        match name {
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            "expired" => PaymentStatus::Expired,
            "refunded" => PaymentStatus::Refunded,
            "partially_refunded" => PaymentStatus::PartiallyRefunded,
            _ => PaymentStatus::Open,
        }
    }

    /// The status of money received once `refunded` of `amount` has gone back.
    pub fn after_refund(amount: i64, refunded: i64) -> PaymentStatus {
        if refunded <= 0 {
            PaymentStatus::Paid
        } else if refunded >= amount {
            PaymentStatus::Refunded
        } else {
            PaymentStatus::PartiallyRefunded
        }
    }
}

/// One row of `payments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    /// `None` once the account it paid into was erased.
    pub user_id: Option<String>,
    /// Micro-units.
    pub amount: i64,
    /// Uppercase ISO code, as configured.
    pub currency: String,
    pub status: PaymentStatus,
    pub session_id: Option<String>,
    pub payment_intent: Option<String>,
    pub customer: Option<String>,
    /// Micro-units refunded so far.
    pub refunded: i64,
    pub disputed: bool,
    pub created_at: i64,
    pub paid_at: Option<i64>,
    pub updated_at: i64,
}

/// `SELECT <every payment column> FROM payments <rest>`, assembled at compile time.
macro_rules! select_payments {
    ($rest:literal) => {
        concat!(
            "SELECT id, user_id, amount, currency, status, session_id, payment_intent, customer,
                    refunded, disputed, created_at, paid_at, updated_at FROM payments ",
            $rest
        )
    };
}

fn payment_from_row(r: &Row<'_>) -> rusqlite::Result<Payment> {
    let status: String = r.get(4)?;
    Ok(Payment {
        id: r.get(0)?,
        user_id: r.get(1)?,
        amount: r.get(2)?,
        currency: r.get(3)?,
        status: PaymentStatus::parse(&status),
        session_id: r.get(5)?,
        payment_intent: r.get(6)?,
        customer: r.get(7)?,
        refunded: r.get(8)?,
        disputed: r.get::<_, i64>(9)? != 0,
        created_at: r.get(10)?,
        paid_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

/// Records a new payment, open, before its Checkout Session is made.
pub fn insert_payment(
    conn: &Connection,
    id: &str,
    user_id: &str,
    amount: i64,
    currency: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO payments (id, user_id, amount, currency, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?5)",
        params![id, user_id, amount, currency, now],
    )?;
    Ok(())
}

/// Stores the Checkout Session made for an open payment.
pub fn set_session(conn: &Connection, id: &str, session_id: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE payments SET session_id = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, session_id, now],
    )?;
    Ok(())
}

/// Moves an open payment to `status` (failed or expired); a payment already settled keeps its
/// status. Returns whether it changed.
pub fn close_open(
    conn: &Connection,
    id: &str,
    status: PaymentStatus,
    now: i64,
) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE payments SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'open'",
        params![id, status.name(), now],
    )?;
    Ok(changed > 0)
}

/// Keeps the Stripe references learnt from an event; known ones are not overwritten with null.
pub fn note_references(
    conn: &Connection,
    id: &str,
    payment_intent: Option<&str>,
    customer: Option<&str>,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE payments SET payment_intent = coalesce(?2, payment_intent),
             customer = coalesce(?3, customer), updated_at = ?4
         WHERE id = ?1",
        params![id, payment_intent, customer, now],
    )?;
    Ok(())
}

/// Marks the payment paid, once: returns false if it had been marked paid before, whatever its
/// status is now. A refund that arrived first is kept in the status.
pub fn mark_paid(conn: &Connection, id: &str, now: i64) -> Result<bool, DbError> {
    let changed = conn.execute(
        "UPDATE payments SET paid_at = ?2, updated_at = ?2,
             status = CASE WHEN refunded <= 0 THEN 'paid'
                           WHEN refunded >= amount THEN 'refunded'
                           ELSE 'partially_refunded' END
         WHERE id = ?1 AND paid_at IS NULL",
        params![id, now],
    )?;
    Ok(changed > 0)
}

/// Sets the total refunded so far and the status that follows from it.
pub fn set_refunded(
    conn: &Connection,
    id: &str,
    refunded: i64,
    status: PaymentStatus,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE payments SET refunded = ?2, status = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, refunded, status.name(), now],
    )?;
    Ok(())
}

pub fn mark_disputed(conn: &Connection, id: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE payments SET disputed = 1, updated_at = ?2 WHERE id = ?1",
        params![id, now],
    )?;
    Ok(())
}

pub fn payment(conn: &Connection, id: &str) -> Result<Option<Payment>, DbError> {
    Ok(conn
        .query_row(select_payments!("WHERE id = ?1"), [id], payment_from_row)
        .optional()?)
}

pub fn payment_by_session(conn: &Connection, session_id: &str) -> Result<Option<Payment>, DbError> {
    Ok(conn
        .query_row(
            select_payments!("WHERE session_id = ?1"),
            [session_id],
            payment_from_row,
        )
        .optional()?)
}

pub fn payment_by_intent(conn: &Connection, intent: &str) -> Result<Option<Payment>, DbError> {
    Ok(conn
        .query_row(
            select_payments!("WHERE payment_intent = ?1 ORDER BY created_at LIMIT 1"),
            [intent],
            payment_from_row,
        )
        .optional()?)
}

/// A user's payments that reached Stripe (those with a Checkout Session), newest first.
pub fn payments_for_user(
    conn: &Connection,
    user_id: &str,
    limit: i64,
) -> Result<Vec<Payment>, DbError> {
    let mut stmt = conn.prepare_cached(select_payments!(
        "WHERE user_id = ?1 AND session_id IS NOT NULL ORDER BY created_at DESC, id LIMIT ?2"
    ))?;
    let rows = stmt
        .query_map(params![user_id, limit], payment_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Remembers a Stripe event; false if it was seen before.
pub fn record_event(conn: &Connection, id: &str, kind: &str, now: i64) -> Result<bool, DbError> {
    let inserted = conn.execute(
        "INSERT INTO stripe_events (id, type, received_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO NOTHING",
        params![id, kind, now],
    )?;
    Ok(inserted > 0)
}

/// Something for an admin to look at.
pub fn insert_flag(
    conn: &Connection,
    at: i64,
    user_id: Option<&str>,
    kind: &str,
    reference: Option<&str>,
    detail: &str,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO flags (at, user_id, kind, reference, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![at, user_id, kind, reference, detail],
    )?;
    Ok(())
}

/// Unresolved flags, newest first, with the account each is about; their SQL lives with the
/// abuse rules' in `db::abuse`.
pub use super::abuse::{Flag as OpenFlag, open_flags};

/// The wallet side of an account, as the billing page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wallet {
    pub balance: i64,
    pub low_balance_alert: Option<i64>,
    pub tier: Option<String>,
    pub monthly_cap: Option<i64>,
    /// YYYYMM of `month_spent`.
    pub spend_month: u32,
    pub month_spent: i64,
}

impl Wallet {
    /// What the account has spent in `month` (YYYYMM): nothing yet when its figure is of an
    /// earlier month.
    pub fn spent_in(&self, month: u32) -> i64 {
        if self.spend_month == month {
            self.month_spent
        } else {
            0
        }
    }
}

pub fn wallet(conn: &Connection, user_id: &str) -> Result<Wallet, DbError> {
    conn.query_row(
        "SELECT balance, low_balance_alert, tier, monthly_cap, spend_month, month_spent
         FROM users WHERE id = ?1",
        [user_id],
        |r| {
            Ok(Wallet {
                balance: r.get(0)?,
                low_balance_alert: r.get(1)?,
                tier: r.get(2)?,
                monthly_cap: r.get(3)?,
                spend_month: r.get(4)?,
                month_spent: r.get(5)?,
            })
        },
    )
    .optional()?
    .ok_or(DbError::NotFound)
}

/// Who gets the mails about an account's wallet: (email, name, low-balance threshold).
pub fn recipient(
    conn: &Connection,
    user_id: &str,
) -> Result<Option<(String, String, Option<i64>)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT email, name, low_balance_alert FROM users WHERE id = ?1",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Every account's balance and month spend: (id, balance, YYYYMM of the spend, spend).
pub fn all_wallets(conn: &Connection) -> Result<Vec<(String, i64, u32, i64)>, DbError> {
    let mut stmt = conn.prepare("SELECT id, balance, spend_month, month_spent FROM users")?;
    let rows = stmt.query_map([], |r| {
        let month: i64 = r.get(2)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            u32::try_from(month).unwrap_or(0),
            r.get(3)?,
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What every key has spent: (id, spent).
pub fn all_key_spends(conn: &Connection) -> Result<Vec<(String, i64)>, DbError> {
    let mut stmt = conn.prepare("SELECT id, spent FROM api_keys")?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Adds a request's cost to the account's spend in `month` (`YYYYMM`), starting the month over
/// when it is a new one.
pub fn add_month_spend(
    conn: &Connection,
    user_id: &str,
    month: u32,
    amount: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE users SET
            month_spent = CASE WHEN spend_month = ?2 THEN month_spent + ?3 ELSE ?3 END,
            spend_month = ?2
         WHERE id = ?1",
    )?
    .execute(params![user_id, month, amount])?;
    Ok(())
}

/// Whether `balance` just fell below the account's low-balance threshold with no warning sent
/// since; if so, marks the warning as sent at `at`, so that it goes out once per crossing. The
/// warning is non-essential mail: an account that restricted processing gets none.
pub fn take_low_balance_alert(
    conn: &Connection,
    user_id: &str,
    balance: i64,
    at: i64,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "UPDATE users SET low_balance_sent_at = ?3
             WHERE id = ?1 AND ?2 < low_balance_alert AND low_balance_sent_at IS NULL
               AND restricted_at IS NULL
             RETURNING 1",
        )?
        .exists(params![user_id, balance, at])?)
}

/// Re-arms the low-balance warning once a credit has lifted the balance back over it.
pub fn rearm_low_balance_alert(
    conn: &Connection,
    user_id: &str,
    balance: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET low_balance_sent_at = NULL
         WHERE id = ?1 AND low_balance_sent_at IS NOT NULL AND ?2 >= low_balance_alert",
        params![user_id, balance],
    )?;
    Ok(())
}

/// When the low-balance warning last went out, if it is not re-armed.
#[cfg(test)]
pub fn low_balance_sent_at(conn: &Connection, user_id: &str) -> Result<Option<i64>, DbError> {
    Ok(conn.query_row(
        "SELECT low_balance_sent_at FROM users WHERE id = ?1",
        [user_id],
        |r| r.get(0),
    )?)
}

/// How many times the redemption code with this hash has been used.
#[cfg(test)]
pub fn code_uses(conn: &Connection, hash: &[u8]) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT uses FROM redemption_codes WHERE code_hash = ?1",
        [hash],
        |r| r.get(0),
    )?)
}

/// The id of the account with this email address.
pub fn user_id_by_email(conn: &Connection, email: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row("SELECT id FROM users WHERE email = ?1", [email], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Puts an account in a tier (None: the default); false when there is no such account.
pub fn set_tier(
    conn: &Connection,
    user_id: &str,
    tier: Option<&str>,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE users SET tier = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, tier, now],
    )? > 0)
}

/// Sets an account's own monthly cap (None: its tier's); false when there is no such account.
pub fn set_monthly_cap(
    conn: &Connection,
    user_id: &str,
    cap: Option<i64>,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE users SET monthly_cap = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, cap, now],
    )? > 0)
}

/// Sets the balance below which the account is warned (None: never), keeping a warning already
/// sent only while the balance is still below the new threshold.
pub fn set_low_balance_alert(
    conn: &Connection,
    user_id: &str,
    threshold: Option<i64>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET low_balance_alert = ?2,
             low_balance_sent_at = CASE WHEN balance < ?2 THEN low_balance_sent_at END
         WHERE id = ?1",
        params![user_id, threshold],
    )?;
    Ok(())
}

/// A redemption code to store: only its hash.
pub struct NewCode<'a> {
    pub id: &'a str,
    pub code_hash: &'a [u8],
    pub amount: i64,
    pub max_uses: u32,
    pub expires_at: Option<i64>,
    pub created_by: &'a str,
}

pub fn insert_code(conn: &Connection, code: &NewCode<'_>, now: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO redemption_codes (id, code_hash, amount, max_uses, expires_at, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            code.id,
            code.code_hash,
            code.amount,
            code.max_uses,
            code.expires_at,
            code.created_by,
            now
        ],
    )?;
    Ok(())
}

/// Takes one use of the code with this hash, if it has uses left and has not expired; its id
/// and amount.
pub fn use_code(
    conn: &Connection,
    hash: &[u8],
    now: i64,
) -> Result<Option<(String, i64)>, DbError> {
    Ok(conn
        .query_row(
            "UPDATE redemption_codes SET uses = uses + 1
             WHERE code_hash = ?1 AND uses < max_uses AND (expires_at IS NULL OR expires_at > ?2)
             RETURNING id, amount",
            params![hash, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Records that the account redeemed the code; false when it had already.
pub fn record_redemption(
    conn: &Connection,
    code_id: &str,
    user_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "INSERT INTO redemptions (code_id, user_id, at) VALUES (?1, ?2, ?3)
         ON CONFLICT DO NOTHING",
        params![code_id, user_id, now],
    )? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::db::test_db(&["u1"])
    }

    #[test]
    fn a_payment_is_marked_paid_once_and_keeps_an_early_refund() {
        let conn = db();
        insert_payment(&conn, "p1", "u1", 10_000_000, "USD", 1).unwrap();
        assert!(payments_for_user(&conn, "u1", 10).unwrap().is_empty());
        set_session(&conn, "p1", "cs_1", 2).unwrap();
        set_refunded(&conn, "p1", 4_000_000, PaymentStatus::Open, 3).unwrap();
        assert!(mark_paid(&conn, "p1", 4).unwrap());
        assert!(!mark_paid(&conn, "p1", 5).unwrap());
        let p = payment_by_session(&conn, "cs_1").unwrap().unwrap();
        assert_eq!(p.status, PaymentStatus::PartiallyRefunded);
        assert_eq!(p.paid_at, Some(4));
        assert!(!close_open(&conn, "p1", PaymentStatus::Failed, 6).unwrap());
        assert_eq!(payments_for_user(&conn, "u1", 10).unwrap().len(), 1);
    }

    #[test]
    fn an_account_that_restricted_processing_gets_no_low_balance_mail() {
        let conn = crate::db::test_db(&["open", "quiet"]);
        for user in ["open", "quiet"] {
            set_low_balance_alert(&conn, user, Some(5_000_000)).unwrap();
        }
        crate::db::privacy::set_restricted(&conn, "quiet", true, 1).unwrap();
        assert!(take_low_balance_alert(&conn, "open", 1_000_000, 2).unwrap());
        assert!(!take_low_balance_alert(&conn, "quiet", 1_000_000, 2).unwrap());
        assert_eq!(low_balance_sent_at(&conn, "quiet").unwrap(), None);
    }

    #[test]
    fn events_are_recorded_once() {
        let conn = db();
        assert!(record_event(&conn, "evt_1", "charge.refunded", 1).unwrap());
        assert!(!record_event(&conn, "evt_1", "charge.refunded", 2).unwrap());
    }

    #[test]
    fn statuses_follow_refunds() {
        assert_eq!(PaymentStatus::after_refund(10, 0), PaymentStatus::Paid);
        assert_eq!(
            PaymentStatus::after_refund(10, 4),
            PaymentStatus::PartiallyRefunded
        );
        assert_eq!(PaymentStatus::after_refund(10, 10), PaymentStatus::Refunded);
        for s in [
            PaymentStatus::Open,
            PaymentStatus::Paid,
            PaymentStatus::Failed,
            PaymentStatus::Expired,
            PaymentStatus::Refunded,
            PaymentStatus::PartiallyRefunded,
        ] {
            assert_eq!(PaymentStatus::parse(s.name()), s);
        }
    }
}

/// A redemption code as the admin's list shows it (never the code itself: only its hash is
/// kept).
#[derive(Debug, Clone)]
pub struct ListedCode {
    pub id: String,
    pub amount: i64,
    pub uses: i64,
    pub max_uses: i64,
    pub expires_at: Option<i64>,
    pub created_by: String,
    pub created_at: i64,
}

/// The newest codes, at most `limit`; `created_by` is the admin's address while the account
/// exists.
pub fn list_codes(conn: &Connection, limit: i64) -> Result<Vec<ListedCode>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT c.id, c.amount, c.uses, c.max_uses, c.expires_at, coalesce(u.email, c.created_by), c.created_at
         FROM redemption_codes c LEFT JOIN users u ON u.id = c.created_by
         ORDER BY c.created_at DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit], |r| {
        Ok(ListedCode {
            id: r.get(0)?,
            amount: r.get(1)?,
            uses: r.get(2)?,
            max_uses: r.get(3)?,
            expires_at: r.get(4)?,
            created_by: r.get(5)?,
            created_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
