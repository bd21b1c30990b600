//! Versions of the privacy policy and terms. The version is the effective date in config. Each
//! version's texts are kept, so earlier ones stay readable at `/privacy/{date}`; when the date
//! changes, account holders from before see a notice in the dashboard until they acknowledge it,
//! and get one mail about it.

use crate::db::privacy::{self as repo, PolicyVersion};
use crate::db::{Db, DbError, now_ms};
use crate::mail::{self, MailContext};

/// Accounts mailed per transaction.
const BATCH: u32 = 500;

/// The version in force, and what came before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub effective_date: String,
    /// When this server first showed it (unix ms).
    pub since: i64,
    /// Earlier versions, newest first.
    pub earlier: Vec<PolicyVersion>,
}

impl Current {
    /// Before the database says otherwise: the configured date, with nothing earlier.
    pub fn configured(effective_date: &str) -> Current {
        Current {
            effective_date: effective_date.to_owned(),
            since: 0,
            earlier: Vec::new(),
        }
    }

    /// Whether an account should be told about this version: it changed since the account was
    /// made, and the account has not acknowledged it.
    pub fn is_news_to(&self, created_at: i64, seen: Option<&str>) -> bool {
        !self.earlier.is_empty()
            && created_at < self.since
            && seen != Some(self.effective_date.as_str())
    }
}

/// Records the version being shown and returns it with the earlier ones.
pub fn publish(
    db: &Db,
    effective_date: &str,
    privacy_html: &str,
    terms_html: &str,
) -> Result<Current, DbError> {
    let versions = repo::record_policy(
        &*db.conn()?,
        effective_date,
        privacy_html,
        terms_html,
        now_ms(),
    )?;
    let since = versions
        .iter()
        .find(|v| v.effective_date == effective_date)
        .map_or(0, |v| v.first_shown_at);
    let mut earlier: Vec<PolicyVersion> = versions
        .into_iter()
        .filter(|v| v.effective_date != effective_date)
        .collect();
    earlier.reverse();
    Ok(Current {
        effective_date: effective_date.to_owned(),
        since,
        earlier,
    })
}

/// Mails each account holder from before this version once about it; how many were mailed.
/// Blocking: run it off the async workers, then wake the mailer.
pub fn mail_notices(db: &Db, current: &Current, ctx: &MailContext<'_>) -> Result<usize, DbError> {
    let Some(previous) = current.earlier.first() else {
        return Ok(0);
    };
    let mut mailed = 0;
    loop {
        let mut conn = db.conn()?;
        let tx = crate::db::write(&mut conn)?;
        let due = repo::due_policy_notice(&tx, &current.effective_date, current.since, BATCH)?;
        for (id, email, name) in &due {
            let notice = mail::policy_changed(
                ctx,
                email,
                name,
                &current.effective_date,
                &previous.effective_date,
            );
            mail::queue(&tx, &notice, now_ms())?;
            repo::mark_policy_mailed(&tx, id, &current.effective_date)?;
        }
        tx.commit()?;
        mailed += due.len();
        if due.len() < BATCH as usize {
            return Ok(mailed);
        }
    }
}

/// The user acknowledged the version in force.
pub async fn acknowledge(db: &Db, user_id: &str, current: &Current) -> Result<(), DbError> {
    let (user_id, date) = (user_id.to_owned(), current.effective_date.clone());
    db.run(move |conn| repo::mark_policy_seen(conn, &user_id, &date))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_accounts_from_before_a_change_hear_of_it_until_they_acknowledge() {
        let mut current = Current::configured("2027-01-01");
        current.since = 1_000;
        assert!(
            !current.is_news_to(10, None),
            "a first version is no change"
        );
        current.earlier.push(PolicyVersion {
            effective_date: "2026-01-01".to_owned(),
            first_shown_at: 1,
        });
        assert!(current.is_news_to(10, None));
        assert!(current.is_news_to(10, Some("2026-01-01")));
        assert!(!current.is_news_to(10, Some("2027-01-01")));
        assert!(!current.is_news_to(2_000, None), "made under this version");
    }
}
