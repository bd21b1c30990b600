//! The user's data rights, self-service: a copy of everything stored about the account, the
//! restriction of processing, and erasure. What they cover is read from the database's schema,
//! so a table added later is covered, and described, without a change here.

use rusqlite::Connection;

use crate::client::ClientInfo;
use crate::config::{Config, ErasedUsage};
use crate::db::accounts::User;
use crate::db::privacy::{self as repo, Kept, OnErase, PersonalTable, UsageAfterErasure};
use crate::db::{DbError, audit, now_ms};
use crate::mail::{self, MailContext};

use super::profile::check_current_password;
use super::two_factor::check_second_factor;
use super::{AccountError, Accounts, Actor, record};

/// Everything stored about one account, as of `generated_at`.
pub struct Export {
    pub generated_at: i64,
    pub tables: Vec<repo::Rows>,
}

impl Export {
    /// The download: per table, the schema's description, the columns, what is withheld and
    /// why, and the rows as objects.
    pub fn to_json(&self, site_name: &str) -> serde_json::Value {
        use serde_json::{Map, Value, json};
        let mut tables = Map::new();
        for part in &self.tables {
            let table = &part.table;
            let withheld: Map<String, Value> = table
                .columns
                .iter()
                .filter_map(|c| table.withheld(c).map(|why| (c.clone(), Value::from(why))))
                .collect();
            let rows: Vec<Value> = part
                .rows
                .iter()
                .map(|row| {
                    let object: Map<String, Value> = table
                        .columns
                        .iter()
                        .zip(row)
                        .filter_map(|(c, v)| v.clone().map(|v| (c.clone(), v)))
                        .collect();
                    Value::Object(object)
                })
                .collect();
            tables.insert(
                table.name.clone(),
                json!({
                    "about": table.about,
                    "withheld": withheld,
                    "rows": rows,
                }),
            );
        }
        json!({
            "service": site_name,
            "generated_at": crate::clock::format_ms(self.generated_at),
            "note": "Everything this service stores about your account. Request and response bodies are never stored, so none are here.",
            "tables": tables,
        })
    }
}

pub async fn export(state: &Accounts, user: &User) -> Result<Export, AccountError> {
    let (user_id, email) = (user.id.clone(), user.email.clone());
    let tables = state
        .db
        .run(move |conn| repo::personal_data(conn, &user_id, &email))
        .await?;
    Ok(Export {
        generated_at: now_ms(),
        tables,
    })
}

/// The tables that hold data about an account, with what erasure does to each, as configured.
pub async fn what_is_stored(state: &Accounts) -> Result<Vec<Stored>, AccountError> {
    let config = state.config.clone();
    Ok(state
        .db
        .run(move |conn| stored_tables(conn, &config))
        .await?)
}

fn stored_tables(conn: &Connection, config: &Config) -> Result<Vec<Stored>, DbError> {
    let tables = repo::personal_tables(conn)?;
    let anonymise = config.privacy.erased_usage == ErasedUsage::Anonymise;
    Ok(tables
        .into_iter()
        .map(|table| {
            let anonymised = table.name == "usage" && anonymise;
            let (deleted, on_erase) = match table.on_erase {
                OnErase::Deleted if anonymised => {
                    (false, "kept, without your account, key or IP address")
                }
                OnErase::Deleted => (true, "deleted"),
                OnErase::Detached => (
                    false,
                    "kept for accounting, without your name, email or IP address",
                ),
            };
            Stored {
                table,
                deleted,
                on_erase,
            }
        })
        .collect())
}

/// One table that holds data about an account.
pub struct Stored {
    pub table: PersonalTable,
    /// Whether erasing the account deletes its rows here (else they are kept, detached).
    pub deleted: bool,
    /// What erasing the account does to its rows, in words.
    pub on_erase: &'static str,
}

/// What erasure deletes and keeps, in words: `(deleted, kept)`.
pub fn erasure_summary(stored: &[Stored]) -> (String, String) {
    let (deleted, kept): (Vec<&Stored>, Vec<&Stored>) = stored.iter().partition(|s| s.deleted);
    let names = |list: Vec<&Stored>| {
        list.iter()
            .map(|s| s.table.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    (names(deleted), names(kept))
}

/// Sets or lifts the restriction of processing: while it is on, page views of the account are
/// not counted and no non-essential mail goes to it.
pub async fn set_restricted(
    state: &Accounts,
    user: &User,
    restricted: bool,
    actor: &Actor,
) -> Result<(), AccountError> {
    let (state2, user, actor) = (state.clone(), user.clone(), actor.clone());
    state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            repo::set_restricted(&tx, &user.id, restricted, now_ms())?;
            let kind = if restricted {
                "processing_restricted"
            } else {
                "restriction_lifted"
            };
            record(&tx, &state2, &user, kind, "", &actor, None)?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    Ok(())
}

/// Who asked for an erasure.
#[derive(Debug, Clone, Copy)]
pub enum ErasedBy<'a> {
    /// The account's owner, from the dashboard.
    Owner,
    /// An administrator, by user id.
    Admin(&'a str),
    /// The operator, with `codexapi user erase`.
    CommandLine,
}

impl ErasedBy<'_> {
    /// As the audit log names it.
    pub fn actor(self) -> String {
        match self {
            ErasedBy::Owner => "owner".to_owned(),
            ErasedBy::Admin(id) => id.to_owned(),
            ErasedBy::CommandLine => "cli".to_owned(),
        }
    }
}

/// The owner deletes their account: the password always, and a second-factor code when
/// two-factor sign-in is on.
pub async fn erase_own_account(
    state: &Accounts,
    user: &User,
    password: String,
    code: &str,
    client: &ClientInfo,
    actor: &Actor,
) -> Result<Kept, AccountError> {
    check_current_password(state, user, password).await?;
    if user.totp_enabled {
        check_second_factor(state, user, code, client, actor).await?;
    }
    erase(state, user, ErasedBy::Owner, Some(&actor.ip)).await
}

/// Erases an account at once: its sessions and keys stop working (the gateway's key cache
/// notices within a second), its personal data is deleted, what accounting needs is kept
/// detached from the person, and a last mail confirms it, its row deleted once delivered.
pub async fn erase(
    state: &Accounts,
    user: &User,
    by: ErasedBy<'_>,
    ip: Option<&str>,
) -> Result<Kept, AccountError> {
    let (config, public_url, user2) =
        (state.config.clone(), state.public_url.clone(), user.clone());
    let (actor, ip) = (by.actor(), ip.map(str::to_owned));
    let kept = state
        .db
        .run(move |conn| erase_blocking(conn, &config, &public_url, &user2, &actor, ip.as_deref()))
        .await?
        .ok_or(AccountError::NotFound)?;
    state.mailer.wake();
    Ok(kept)
}

/// [`erase`] on a connection of the caller's, for the command line: the confirmation waits in
/// the outbox for the server's sender. `Ok(None)` if the account is already gone.
pub fn erase_blocking(
    conn: &mut Connection,
    config: &Config,
    public_url: &str,
    user: &User,
    actor: &str,
    ip: Option<&str>,
) -> Result<Option<Kept>, DbError> {
    let stored = stored_tables(conn, config)?;
    let (deleted, kept_words) = erasure_summary(&stored);
    let ctx = MailContext {
        site_name: &config.site.name,
        public_url,
        contact_email: config.site.contact_email.as_deref(),
    };
    let confirmation = mail::account_erased(&ctx, &user.email, &user.name, &deleted, &kept_words);
    let usage = match config.privacy.erased_usage {
        ErasedUsage::Delete => UsageAfterErasure::Delete,
        ErasedUsage::Anonymise => UsageAfterErasure::Anonymise,
    };
    let detached = crate::auth::token::random_token();
    let tx = crate::db::write(conn)?;
    let Some(kept) = repo::erase_account(&tx, &user.id, &detached, usage)? else {
        return Ok(None);
    };
    let now = now_ms();
    mail::queue_once(&tx, &confirmation, now)?;
    let detail = format!(
        "{} ledger rows and {} payments kept, detached as {detached}",
        kept.ledger_rows, kept.payments
    );
    audit::record(
        &tx,
        &audit::Entry {
            at: now,
            actor,
            action: "account_erased",
            target: None,
            detail: Some(&detail),
            ip,
        },
    )?;
    tx.commit()?;
    // Deleted pages may still sit in the write-ahead log: fold it into the file (whose freed
    // bytes `secure_delete` has zeroed) and empty it, if no reader is in the way. The erasure is
    // done whatever this says.
    if !crate::db::fold_log(conn).unwrap_or(false) {
        tracing::debug!("the write-ahead log is folded in at a later checkpoint");
    }
    tracing::info!(
        "an account was erased ({} ledger rows kept, detached)",
        kept.ledger_rows
    );
    Ok(Some(kept))
}
