//! Technical and administrative notices from the admins to account holders: a dashboard banner
//! for as many days as the admin chose, and a mail to each account of the audience.

use super::moderation::By;
use super::{AccountError, Accounts, invalid, mail_context};
use crate::db::notices::{self as repo, Audience};
use crate::db::{audit, now_ms};
use crate::mail;

/// What an admin wrote.
pub struct Draft {
    /// `technical` or `administrative`.
    pub kind: String,
    pub audience: String,
    pub title: String,
    pub body: String,
    /// Days the banner shows; 0 for none.
    pub banner_days: u32,
    pub mail: bool,
}

/// Longest title and body, in characters.
const TITLE_MAX: usize = 120;
const BODY_MAX: usize = 5_000;
/// Longest banner, in days.
const BANNER_DAYS_MAX: u32 = 90;
/// Mails queued per transaction.
const BATCH: i64 = 500;

/// Records the notice and queues its mails; returns how many accounts were mailed. A draft that
/// is not complete changes nothing and says which field is wrong.
pub fn send(
    state: &Accounts,
    conn: &mut rusqlite::Connection,
    draft: &Draft,
    by: By<'_>,
) -> Result<usize, AccountError> {
    if !matches!(draft.kind.as_str(), "technical" | "administrative") {
        return invalid("kind: choose technical or administrative.");
    }
    let Some(audience) = Audience::parse(&draft.audience) else {
        return invalid("audience: choose everyone, active accounts or admins.");
    };
    let (title, body) = (draft.title.trim(), draft.body.trim());
    if title.is_empty() || title.chars().count() > TITLE_MAX {
        return invalid(format!("title: between 1 and {TITLE_MAX} characters."));
    }
    if body.is_empty() || body.chars().count() > BODY_MAX {
        return invalid(format!("body: between 1 and {BODY_MAX} characters."));
    }
    if draft.banner_days > BANNER_DAYS_MAX {
        return invalid(format!("banner: at most {BANNER_DAYS_MAX} days."));
    }
    if draft.banner_days == 0 && !draft.mail {
        return invalid("Show a banner, send a mail, or both.");
    }
    let now = now_ms();
    let tx = crate::db::write(conn)?;
    let id = repo::insert(
        &tx,
        &repo::NewNotice {
            created_by: by.actor,
            kind: &draft.kind,
            title,
            body,
            audience,
            show_until: (draft.banner_days > 0)
                .then(|| now + i64::from(draft.banner_days) * 86_400_000),
            mailed: draft.mail,
        },
        now,
    )?;
    let detail = format!(
        "notice {id} ({}, to {}): {title}",
        draft.kind,
        audience.as_str()
    );
    audit::record(
        &tx,
        &audit::Entry {
            at: now,
            actor: by.actor,
            action: "notice.send",
            target: None,
            detail: Some(&detail),
            ip: by.ip,
        },
    )?;
    tx.commit().map_err(crate::db::DbError::from)?;
    if !draft.mail {
        return Ok(0);
    }
    let ctx = mail_context(state);
    let (mut after, mut mailed) = (0, 0);
    loop {
        let tx = crate::db::write(conn)?;
        let batch = repo::recipients(&tx, audience, after, BATCH)?;
        for (_, email, name) in &batch {
            let message = mail::notice(&ctx, email, name, &draft.kind, title, body);
            mail::queue(&tx, &message, now).map_err(crate::db::DbError::from)?;
        }
        tx.commit().map_err(crate::db::DbError::from)?;
        mailed += batch.len();
        match batch.last() {
            Some((rowid, _, _)) if batch.len() == BATCH as usize => after = *rowid,
            _ => break,
        }
    }
    state.mailer.wake();
    Ok(mailed)
}
