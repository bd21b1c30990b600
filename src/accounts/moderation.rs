//! What an administrator, or a rule acting for them, does to someone else's account: its
//! status, and later its role, tier, sessions and keys. Each change is one transaction with its
//! audit-log row: who, what, whom, from where, and the value before and after.

use rusqlite::Connection;

use super::AccountError;
use crate::db::accounts::{self as repo, Status};
use crate::db::{audit, now_ms};

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
    tx.commit().map_err(crate::db::DbError::from)?;
    Ok(change)
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
