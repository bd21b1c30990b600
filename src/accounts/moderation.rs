//! What an administrator, or a rule acting for them, does to someone else's account: its
//! status, role, tier and cap, its wallet, sessions, keys and second factor. Each change is one
//! transaction with its audit-log row: who, what, whom, from where, and the value before and
//! after. The functions block; pages call them through `Db::run`.

use rusqlite::Connection;

use super::{AccountError, Accounts, Proof, invalid};
use crate::db::accounts::{self as repo, Role, Status, User};
use crate::db::ledger::{self, Kind};
use crate::db::{audit, now_ms};
use crate::money::Money;

/// Who makes a change, as the audit log records it.
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    /// The admin's user id, or `system` for an automatic rule.
    pub actor: &'a str,
    /// The admin's client address; none for a rule.
    pub ip: Option<&'a str>,
}

impl By<'_> {
    /// An automatic rule.
    pub const SYSTEM: By<'static> = By {
        actor: "system",
        ip: None,
    };
}

/// A change as it was made: the value before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub before: String,
    pub after: String,
}

impl Change {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Sets the account's status. Suspending ends its sessions at once; its keys are refused by the
/// gateway as soon as its key cache sees the change (within a second). `reason` goes to the
/// audit log beside the change.
pub fn set_status(
    conn: &mut Connection,
    user_id: &str,
    status: Status,
    reason: &str,
    by: By<'_>,
) -> Result<Change, AccountError> {
    let tx = crate::db::write(conn)?;
    let user = repo::user_by_id(&tx, user_id)?.ok_or(AccountError::NotFound)?;
    let change = Change {
        before: user.status.as_str().to_owned(),
        after: status.as_str().to_owned(),
    };
    if !change.changed() {
        return Ok(change);
    }
    let now = now_ms();
    repo::set_status(&tx, user_id, status, now)?;
    if status == Status::Suspended {
        repo::delete_other_sessions(&tx, user_id, None)?;
    }
    record(&tx, by, "user.status", user_id, &change, reason, now)?;
    commit(tx)?;
    Ok(change)
}

/// Makes the account an admin or a plain user. The last admin cannot be made a plain user:
/// nobody could run the console any more.
pub fn set_role(
    conn: &mut Connection,
    user_id: &str,
    role: Role,
    by: By<'_>,
) -> Result<Change, AccountError> {
    let tx = crate::db::write(conn)?;
    let user = repo::user_by_id(&tx, user_id)?.ok_or(AccountError::NotFound)?;
    let change = Change {
        before: user.role.as_str().to_owned(),
        after: role.as_str().to_owned(),
    };
    if !change.changed() {
        return Ok(change);
    }
    if user.role == Role::Admin && repo::count_admins(&tx)? <= 1 {
        return invalid("This is the only admin: make another account an admin first.");
    }
    let now = now_ms();
    repo::set_role(&tx, user_id, role, now)?;
    record(&tx, by, "user.role", user_id, &change, "", now)?;
    commit(tx)?;
    Ok(change)
}

/// Puts the account in a configured tier, or back in the default one (`None`).
pub fn set_tier(
    state: &Accounts,
    conn: &mut Connection,
    user_id: &str,
    tier: Option<&str>,
    by: By<'_>,
) -> Result<Change, AccountError> {
    if let Some(name) = tier
        && !state.config.tiers.iter().any(|t| t.name == name)
    {
        return invalid(format!("No tier is named {name:?}."));
    }
    let tx = crate::db::write(conn)?;
    let before = crate::db::billing::wallet(&tx, user_id)?.tier;
    let change = Change {
        before: before.unwrap_or_else(|| "default".to_owned()),
        after: tier.unwrap_or("default").to_owned(),
    };
    if !change.changed() {
        return Ok(change);
    }
    let now = now_ms();
    crate::billing::service::set_tier(&tx, user_id, tier, now)?;
    record(&tx, by, "user.tier", user_id, &change, "", now)?;
    commit(tx)?;
    Ok(change)
}

/// Sets the account's own monthly spend cap, or back to its tier's (`None`).
pub fn set_cap(
    state: &Accounts,
    conn: &mut Connection,
    user_id: &str,
    cap: Option<Money>,
    by: By<'_>,
) -> Result<Change, AccountError> {
    let currency = &state.config.billing.currency;
    let shown =
        |cap: Option<Money>| cap.map_or_else(|| "tier's".to_owned(), |c| c.display_in(currency));
    let tx = crate::db::write(conn)?;
    let before = crate::db::billing::wallet(&tx, user_id)?.monthly_cap;
    let change = Change {
        before: shown(before.map(Money::from_micros)),
        after: shown(cap),
    };
    if !change.changed() {
        return Ok(change);
    }
    let now = now_ms();
    crate::billing::service::set_monthly_cap(&tx, user_id, cap, now)?;
    record(&tx, by, "user.cap", user_id, &change, "", now)?;
    commit(tx)?;
    Ok(change)
}

/// Credits (a grant) or corrects (an adjustment, either sign) the wallet; the reason is
/// required and goes to the ledger row and the audit log. Returns the balance after.
pub fn book(
    state: &Accounts,
    conn: &mut Connection,
    user_id: &str,
    kind: Kind,
    amount: Money,
    reason: &str,
    by: By<'_>,
) -> Result<Money, AccountError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return invalid("Say why: the reason is kept with the wallet's history.");
    }
    match kind {
        Kind::Grant if amount <= Money::ZERO => {
            return invalid("A grant must be more than zero; use an adjustment to debit.");
        }
        Kind::Grant | Kind::Adjustment if amount == Money::ZERO => {
            return invalid("The amount must not be zero.");
        }
        Kind::Grant | Kind::Adjustment => {}
        _ => return invalid("Only grants and adjustments are booked by hand."),
    }
    let tx = crate::db::write(conn)?;
    let before = crate::db::billing::wallet(&tx, user_id)?.balance;
    let now = now_ms();
    let after = crate::billing::service::book_in(
        &tx,
        &ledger::Entry {
            user_id,
            kind,
            amount: amount.micros(),
            reference: None,
            actor: by.actor,
            note: Some(reason),
            at: now,
        },
    )?;
    let currency = &state.config.billing.currency;
    let change = Change {
        before: Money::from_micros(before).display_in(currency),
        after: Money::from_micros(after).display_in(currency),
    };
    let action = if kind == Kind::Grant {
        "wallet.grant"
    } else {
        "wallet.adjustment"
    };
    record(&tx, by, action, user_id, &change, reason, now)?;
    commit(tx)?;
    Ok(Money::from_micros(after))
}

/// Ends every session of the account; returns how many.
pub fn sign_out_everywhere(
    conn: &mut Connection,
    user_id: &str,
    by: By<'_>,
) -> Result<usize, AccountError> {
    let tx = crate::db::write(conn)?;
    repo::user_by_id(&tx, user_id)?.ok_or(AccountError::NotFound)?;
    let ended = repo::delete_other_sessions(&tx, user_id, None)?;
    let change = Change {
        before: format!("{ended} sessions"),
        after: "0 sessions".to_owned(),
    };
    record(&tx, by, "user.sign_out", user_id, &change, "", now_ms())?;
    commit(tx)?;
    Ok(ended)
}

/// Turns the account's two-factor sign-in off (its recovery codes go too), for an owner who
/// lost both; they sign in with the password and may set it up again.
pub fn reset_second_factor(
    conn: &mut Connection,
    user_id: &str,
    by: By<'_>,
) -> Result<Change, AccountError> {
    let tx = crate::db::write(conn)?;
    let user = repo::user_by_id(&tx, user_id)?.ok_or(AccountError::NotFound)?;
    let change = Change {
        before: if user.totp_enabled { "on" } else { "off" }.to_owned(),
        after: "off".to_owned(),
    };
    if !change.changed() {
        return Ok(change);
    }
    let now = now_ms();
    repo::disable_totp(&tx, user_id, now)?;
    repo::add_event(
        &tx,
        user_id,
        "totp_reset",
        by.ip.unwrap_or_default(),
        "",
        "Two-factor sign-in was turned off by an admin",
        now,
    )?;
    record(&tx, by, "user.2fa_reset", user_id, &change, "", now)?;
    commit(tx)?;
    Ok(change)
}

/// Revokes one of the account's keys; the gateway refuses it within a second.
pub fn revoke_key(
    conn: &mut Connection,
    user_id: &str,
    key_id: &str,
    by: By<'_>,
) -> Result<(), AccountError> {
    let tx = crate::db::write(conn)?;
    let key = repo::key_of_user(&tx, user_id, key_id)?.ok_or(AccountError::NotFound)?;
    let now = now_ms();
    if !repo::revoke_key(&tx, user_id, key_id, now)? {
        return invalid("That key is already revoked.");
    }
    let change = Change {
        before: format!("key {} in force", key.prefix),
        after: "revoked".to_owned(),
    };
    record(&tx, by, "key.revoke", user_id, &change, "", now)?;
    commit(tx)?;
    Ok(())
}

/// Records an action that changes nothing stored but must be accounted for (a data export).
pub fn note(
    conn: &Connection,
    user_id: &str,
    action: &str,
    detail: &str,
    by: By<'_>,
) -> Result<(), AccountError> {
    audit::record(
        conn,
        &audit::Entry {
            at: now_ms(),
            actor: by.actor,
            action,
            target: Some(user_id),
            detail: Some(detail),
            ip: by.ip,
        },
    )?;
    Ok(())
}

/// Accepts an admin's recent sign-in, or else their password, before a dangerous action
/// (deleting an account, adjusting a wallet, changing a role).
pub async fn confirm_admin(
    state: &Accounts,
    admin: &User,
    proof: &Proof,
) -> Result<(), AccountError> {
    super::profile::confirm_identity(state, admin, proof).await
}

fn commit(tx: rusqlite::Transaction<'_>) -> Result<(), AccountError> {
    tx.commit().map_err(crate::db::DbError::from)?;
    Ok(())
}

/// The audit row of a change: `before → after`, and the reason when one was given.
fn record(
    conn: &Connection,
    by: By<'_>,
    action: &str,
    target: &str,
    change: &Change,
    reason: &str,
    now: i64,
) -> Result<(), AccountError> {
    let mut detail = format!("{} → {}", change.before, change.after);
    if !reason.trim().is_empty() {
        detail.push_str(": ");
        detail.push_str(reason.trim());
    }
    audit::record(
        conn,
        &audit::Entry {
            at: now,
            actor: by.actor,
            action,
            target: Some(target),
            detail: Some(&detail),
            ip: by.ip,
        },
    )?;
    Ok(())
}
