//! The detector: runs the rules every `abuse.scan_every_secs`, off the request path, and acts
//! on what they find. One flag stays open per rule and subject (a later run brings its evidence
//! up to date); a flag resolved within its rule's window is not raised again in that window.
//! Each new flag, Stripe's included, is mailed to the admins when `abuse.mail_admins` is on and
//! suspends its accounts when its rule has `auto_suspend`.

use std::collections::HashMap;

use serde::Serialize;

use super::rules::{self, Finding, Rule};
use super::{AbuseError, Blocklist};
use crate::accounts::moderation::{self, By};
use crate::config::Config;
use crate::db::abuse::{self as repo, NewFlag, Raised};
use crate::db::accounts::{self as accounts_repo, Role, Status};
use crate::db::{Db, DbError};
use crate::mail::{self, MailContext};

/// Expired blocklist entries stay listed this long, then go.
const EXPIRED_KEPT_MS: i64 = 30 * 86_400_000;

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Flags raised.
    pub raised: usize,
    /// Open flags whose evidence was brought up to date.
    pub updated: usize,
    /// Accounts suspended by a rule.
    pub suspended: usize,
    /// Mails queued for the admins.
    pub mailed: usize,
}

impl Report {
    pub fn summary(&self) -> String {
        use super::rules::count;
        format!(
            "{} raised, {} updated, {} suspended, {} queued",
            count(self.raised as u64, "flag"),
            self.updated,
            count(self.suspended as u64, "account"),
            count(self.mailed as u64, "mail")
        )
    }
}

/// Runs the rules once, now, and acts on what they find; reloads the blocklist snapshot.
/// Blocking: call it off the async workers.
pub fn scan(
    db: &Db,
    config: &Config,
    blocklist: &Blocklist,
    ctx: &MailContext<'_>,
    now: i64,
) -> Result<Report, AbuseError> {
    let mut conn = db.conn()?;
    let findings = rules::findings(&conn, &config.abuse, &config.billing.currency, now)?;
    let mut report = Report::default();
    // The accounts each flag found now concerns: a network's sign-ups name several.
    let mut accounts: HashMap<i64, Vec<String>> = HashMap::new();
    for finding in &findings {
        match raise(&mut conn, finding, now)? {
            Raised::New(id) => {
                report.raised += 1;
                accounts.insert(id, finding.accounts.clone());
            }
            Raised::Updated(id) => {
                report.updated += 1;
                accounts.insert(id, finding.accounts.clone());
            }
            Raised::Quiet => {}
        }
    }
    for flag in repo::unhandled_flags(&conn)? {
        let rule = Rule::from_kind(&flag.kind);
        let concerned = accounts
            .remove(&flag.id)
            .unwrap_or_else(|| flag.user_id.iter().cloned().collect());
        let action = match rule.filter(|r| r.auto_suspend(&config.abuse)) {
            Some(rule) => {
                let n = suspend(&mut conn, rule, flag.id, &concerned)?;
                report.suspended += n;
                match n {
                    0 => None,
                    1 => Some("account suspended".to_owned()),
                    n => Some(format!("{n} accounts suspended")),
                }
            }
            None => None,
        };
        let tx = crate::db::write(&mut conn)?;
        if config.abuse.mail_admins {
            let what = rule.map_or_else(|| flag.kind.replace('_', " "), |r| r.label().to_owned());
            for (to, name) in repo::admin_recipients(&tx)? {
                let email =
                    mail::abuse_flag(ctx, &to, &name, &what, &flag.detail, action.as_deref());
                mail::queue(&tx, &email, now).map_err(DbError::from)?;
                report.mailed += 1;
            }
        }
        repo::mark_handled(&tx, flag.id, action.as_deref(), now)?;
        tx.commit().map_err(DbError::from)?;
    }
    repo::delete_expired_blocks(&conn, now - EXPIRED_KEPT_MS)?;
    blocklist.reload(&conn)?;
    Ok(report)
}

fn raise(
    conn: &mut rusqlite::Connection,
    finding: &Finding,
    now: i64,
) -> Result<Raised, AbuseError> {
    let evidence = serde_json::to_string(&finding.evidence).unwrap_or_else(|_| "[]".to_owned());
    let tx = crate::db::write(conn)?;
    let raised = repo::raise(
        &tx,
        &NewFlag {
            at: now,
            kind: finding.rule.kind(),
            reference: &finding.reference,
            user_id: finding.user_id.as_deref(),
            detail: &finding.detail,
            evidence: &evidence,
        },
        finding.quiet_since,
    )?;
    tx.commit().map_err(DbError::from)?;
    Ok(raised)
}

/// Suspends the accounts a flag concerns, except administrators (a rule must not lock the
/// operators out) and accounts suspended already; how many it suspended.
fn suspend(
    conn: &mut rusqlite::Connection,
    rule: Rule,
    flag_id: i64,
    accounts: &[String],
) -> Result<usize, AbuseError> {
    let mut suspended = 0;
    for user_id in accounts {
        let Some(user) = accounts_repo::user_by_id(conn, user_id)? else {
            continue;
        };
        if user.role == Role::Admin || user.status == Status::Suspended {
            continue;
        }
        let reason = format!("abuse rule {} (flag {flag_id})", rule.kind());
        moderation::set_status(conn, user_id, Status::Suspended, &reason, By::SYSTEM)?;
        tracing::warn!("abuse: account {user_id} suspended by {reason}");
        suspended += 1;
    }
    Ok(suspended)
}
