//! Account flows, one module each: `signup`, `signin`, `recovery` (confirmation links and
//! password resets), `profile` (name, password, email, sessions), `keys`, `two_factor` and
//! `rights` (the user's copy of their data, restriction, erasure).
//! Handlers call one function here; SQL lives in `db::accounts`. This module holds what the flows
//! share: the service value, the error, the actor of a change, and the security-event record.

mod keys;
pub mod moderation;
pub mod notices;
mod profile;
mod recovery;
mod rights;
mod signin;
mod signup;
mod two_factor;

use std::sync::Arc;
use std::time::Duration;

use crate::auth::password;
use crate::auth::throttle::Throttle;
use crate::auth::token;
use crate::client::ClientInfo;
use crate::config::Config;
use crate::db::accounts::{self as repo, TokenPurpose, User};
use crate::db::{DbError, now_ms};
use crate::mail::{self, Email, MailContext};

pub use keys::*;
pub use profile::*;
pub use recovery::*;
pub use rights::*;
pub use signin::*;
pub use signup::*;
pub use two_factor::*;

const VERIFY_LINK_HOURS: i64 = 48;
const RESET_LINK_MINUTES: i64 = 30;
const EMAIL_CHANGE_LINK_HOURS: i64 = 24;
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_KEY_NAME_CHARS: usize = 64;

/// Why a flow did not go through.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Shown next to the form, which keeps what was typed (never the password).
    #[error("{0}")]
    Invalid(String),
    #[error("too many attempts")]
    Throttled(Duration),
    /// What was asked for does not exist, or is not the asker's.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<crate::billing::service::BillingError> for AccountError {
    fn from(e: crate::billing::service::BillingError) -> AccountError {
        use crate::billing::service::BillingError;
        match e {
            BillingError::Invalid(message) => AccountError::Invalid(message),
            BillingError::Db(e) => AccountError::Db(e),
        }
    }
}

impl From<password::PasswordError> for AccountError {
    fn from(e: password::PasswordError) -> AccountError {
        AccountError::Internal(e.to_string())
    }
}

/// What the account flows work with: the parts of the application they need, cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pub config: Arc<Config>,
    pub db: crate::db::Db,
    /// The public URL without a trailing slash, for the links in mails.
    pub public_url: Arc<str>,
    pub hasher: password::Hasher,
    /// Failed sign-ins (and reset requests) per client address.
    pub address_throttle: Arc<Throttle>,
    /// Failed sign-ins and password checks per account.
    pub account_throttle: Arc<Throttle>,
    /// Mails sent at someone's asking, per account asking and per address mailed.
    pub mail_throttle: Arc<Throttle>,
    pub mailer: crate::mail::Mailer,
}

impl Accounts {
    pub fn new(
        config: Arc<Config>,
        db: crate::db::Db,
        public_url: Arc<str>,
        mailer: crate::mail::Mailer,
    ) -> Accounts {
        Accounts {
            hasher: password::Hasher::new(config.accounts.max_concurrent_hashes),
            address_throttle: Arc::new(Throttle::new(crate::auth::throttle::ADDRESS_FREE_FAILURES)),
            account_throttle: Arc::new(Throttle::new(crate::auth::throttle::ACCOUNT_FREE_FAILURES)),
            mail_throttle: Arc::new(Throttle::new(MAILS_ON_REQUEST)),
            config,
            db,
            public_url,
            mailer,
        }
    }
}

/// Mails one account may have sent, and one address may be sent, at someone's asking within the
/// throttle's window (confirmation links, address changes, password resets); then the asking
/// waits. Nobody can turn the server into a way to flood a mailbox.
const MAILS_ON_REQUEST: u32 = 5;

/// Counts a mail asked for by `asker` (an account id, when signed in) to `to`; refused once
/// either has had its share.
fn mail_on_request(state: &Accounts, asker: Option<&str>, to: &str) -> Result<(), AccountError> {
    let by_recipient = state
        .mail_throttle
        .attempt(&format!("mail_to:{}", to.to_lowercase()))
        .map_err(AccountError::Throttled)?;
    drop(by_recipient);
    if let Some(asker) = asker {
        let by_asker = state
            .mail_throttle
            .attempt(&format!("mail_from:{asker}"))
            .map_err(AccountError::Throttled)?;
        drop(by_asker);
    }
    Ok(())
}

fn invalid<T>(message: impl Into<String>) -> Result<T, AccountError> {
    Err(AccountError::Invalid(message.into()))
}

/// Who is acting, for security events and alerts.
#[derive(Debug, Clone)]
pub struct Actor {
    pub ip: String,
    pub user_agent: String,
}

impl Actor {
    pub fn new(client: &ClientInfo, user_agent: &str) -> Actor {
        Actor {
            ip: client.ip.to_string(),
            user_agent: user_agent.chars().take(300).collect(),
        }
    }

    /// "Firefox on Linux"-style description of the browser.
    pub fn device(&self) -> String {
        describe_user_agent(&self.user_agent)
    }
}

pub fn describe_user_agent(ua: &str) -> String {
    match woothee::parser::Parser::new().parse(ua) {
        Some(r) if r.name != "UNKNOWN" => {
            if r.os == "UNKNOWN" {
                r.name.to_owned()
            } else {
                format!("{} on {}", r.name, r.os)
            }
        }
        _ if ua.is_empty() => "Unknown device".to_owned(),
        _ => ua.chars().take(40).collect(),
    }
}

pub fn normalize_email(email: &str) -> Result<String, AccountError> {
    let email = email.trim();
    if email.len() > 254 || email.parse::<lettre::Address>().is_err() || !email.contains('.') {
        return invalid("Enter a valid email address.");
    }
    Ok(email.to_owned())
}

fn normalize_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    if name.is_empty() {
        return invalid("Enter your name.");
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return invalid(format!(
            "Use at most {MAX_NAME_CHARS} characters for your name, on one line."
        ));
    }
    Ok(name.to_owned())
}

fn mail_context(state: &Accounts) -> MailContext<'_> {
    MailContext {
        site_name: &state.config.site.name,
        public_url: &state.public_url,
        contact_email: state.config.site.contact_email.as_deref(),
    }
}

fn link(state: &Accounts, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", state.public_url)
}

fn when_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute] UTC"
        ))
        .unwrap_or_default()
}

/// Whether accounts must confirm their address before creating keys: only when mail is sent.
pub fn verification_required(state: &Accounts) -> bool {
    state.config.accounts.require_verified_email && state.mailer.delivers()
}

/// Records a security event, and for the important ones queues an alert to the owner.
fn record(
    conn: &rusqlite::Connection,
    state: &Accounts,
    user: &User,
    kind: &str,
    detail: &str,
    actor: &Actor,
    alert: Option<&str>,
) -> Result<bool, DbError> {
    let now = now_ms();
    repo::add_event(
        conn,
        &user.id,
        kind,
        &actor.ip,
        &actor.user_agent,
        detail,
        now,
    )?;
    if let Some(what) = alert {
        let email = mail::security_alert(
            &mail_context(state),
            &user.email,
            &user.name,
            what,
            &actor.ip,
            &when_now(),
        );
        mail::queue(conn, &email, now)?;
        return Ok(true);
    }
    Ok(false)
}

/// Issues a single-use link token, voiding the user's older ones of the same purpose, and
/// returns the secret for the link (only its hash is stored).
fn issue_token(
    conn: &rusqlite::Connection,
    user_id: &str,
    purpose: TokenPurpose,
    new_email: Option<&str>,
    ttl_ms: i64,
) -> Result<String, DbError> {
    let now = now_ms();
    repo::void_email_tokens(conn, user_id, purpose, now)?;
    let secret = token::random_token();
    repo::insert_email_token(
        conn,
        &token::sha256(&secret),
        user_id,
        purpose,
        new_email,
        now,
        now + ttl_ms,
    )?;
    Ok(secret)
}

fn queue(conn: &rusqlite::Connection, email: &Email) -> Result<(), DbError> {
    Ok(mail::queue(conn, email, now_ms())?)
}

/// Creates a session for `user_id` and returns the cookie token.
/// With `mfa_pending` the session is good for nothing but entering the second factor.
pub fn start_session(
    conn: &rusqlite::Connection,
    user_id: &str,
    client: &ClientInfo,
    user_agent: &str,
    mfa_pending: bool,
) -> Result<String, crate::db::DbError> {
    let token = token::random_token();
    repo::insert_session(
        conn,
        &repo::NewSession {
            token_hash: &token::sha256(&token),
            id: &token::random_id(),
            user_id,
            csrf_token: &token::random_token(),
            mfa_pending,
            ip: &client.ip.to_string(),
            user_agent,
        },
        now_ms(),
    )?;
    Ok(token)
}

// ---------------------------------------------------------------- sign-up
