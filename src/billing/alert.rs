//! The low-balance warning: when the usage writer sees a balance fall below the threshold its
//! owner chose, it asks this to queue a mail in the same transaction and wakes the mailer after.

use rusqlite::Connection;

use crate::config::Config;
use crate::db::DbError;
use crate::mail::{self, MailContext, Mailer};
use crate::money::Money;

/// Sends a low-balance warning; the writer calls it inside the transaction that crossed the
/// account's threshold.
pub trait BalanceAlert: Send {
    /// Queues the mail (in the outbox, inside `conn`'s transaction).
    fn queue(&self, conn: &Connection, user_id: &str, balance: i64) -> Result<(), DbError>;
    /// Called once the transaction has committed.
    fn committed(&self);
}

/// Queues the `low_balance` mail; one per crossing, since the writer arms it once.
pub struct LowBalanceMail {
    site_name: String,
    public_url: String,
    contact_email: Option<String>,
    currency: String,
    mailer: Mailer,
}

impl LowBalanceMail {
    pub fn new(config: &Config, public_url: &str, mailer: Mailer) -> LowBalanceMail {
        LowBalanceMail {
            site_name: config.site.name.clone(),
            public_url: public_url.trim_end_matches('/').to_owned(),
            contact_email: config.site.contact_email.clone(),
            currency: config.billing.currency.clone(),
            mailer,
        }
    }
}

impl BalanceAlert for LowBalanceMail {
    fn queue(&self, conn: &Connection, user_id: &str, balance: i64) -> Result<(), DbError> {
        let Some((email, name, Some(threshold))) = crate::db::billing::recipient(conn, user_id)?
        else {
            return Ok(());
        };
        let ctx = MailContext {
            site_name: &self.site_name,
            public_url: &self.public_url,
            contact_email: self.contact_email.as_deref(),
        };
        let warning = mail::low_balance(
            &ctx,
            &email,
            &name,
            &Money::from_micros(balance).display_in(&self.currency),
            &Money::from_micros(threshold).display_in(&self.currency),
        );
        mail::queue(conn, &warning, crate::db::now_ms())?;
        Ok(())
    }

    fn committed(&self) {
        self.mailer.wake();
    }
}
