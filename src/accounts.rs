//! Account flows: sign-up, sign-in, email confirmation, password reset, profile and password
//! changes, API keys and sessions. Handlers call one function here; SQL lives in `db::accounts`.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::password;
use crate::auth::throttle::Throttle;
use crate::auth::{token, totp};
use crate::client::ClientInfo;
use crate::config::{Config, SignupMode};
use crate::db::accounts::{
    self as repo, KeyRow, NewKey, NewUser, Role, Status, TokenPurpose, User,
};
use crate::db::{DbError, now_ms};
use crate::mail::{self, Email, MailContext};
use crate::money::Money;

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
            config,
            db,
            public_url,
            mailer,
        }
    }
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

pub struct SignUp {
    pub name: String,
    pub email: String,
    pub password: String,
    pub invite: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignUpOutcome {
    /// A confirmation link was mailed.
    pub confirm_by_mail: bool,
    /// An admin must approve the account first.
    pub needs_approval: bool,
}

/// Creates an account. The answer is the same whether or not the address already had one.
pub async fn sign_up(
    state: &Accounts,
    form: SignUp,
    actor: &Actor,
) -> Result<SignUpOutcome, AccountError> {
    let mode = state.config.accounts.signup;
    if mode == SignupMode::Closed {
        return invalid("Sign-ups are closed. Ask the operator for an account.");
    }
    let name = normalize_name(&form.name)?;
    let email = normalize_email(&form.email)?;
    password::check_strength(
        &form.password,
        state.config.accounts.password_min_length,
        &[&email, &name, &state.config.site.name],
    )
    .or_else(invalid)?;
    let invite = match (mode, form.invite.as_deref().map(str::trim)) {
        (SignupMode::Invite, Some(code)) if !code.is_empty() => {
            Some(token::sha256(&code.to_ascii_lowercase()))
        }
        (SignupMode::Invite, _) => return invalid("Enter your invite code."),
        _ => None,
    };
    let hash = state.hasher.hash(form.password).await?;

    let outcome = SignUpOutcome {
        confirm_by_mail: state.mailer.delivers(),
        needs_approval: mode == SignupMode::Approval,
    };
    let state2 = state.clone();
    let actor = actor.clone();
    let created = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let now = now_ms();
            if let Some(code) = &invite
                && !repo::take_invite(&tx, code, now)?
            {
                return Ok(Err("That invite code is not valid or has been used up."));
            }
            let id = token::random_id();
            let user = NewUser {
                id: &id,
                email: &email,
                name: &name,
                password_hash: &hash,
                role: Role::User,
                status: if outcome.needs_approval {
                    Status::Pending
                } else {
                    Status::Active
                },
                verified: false,
                credit: state2.config.billing.welcome_credit(),
            };
            if !repo::insert_user(&tx, &user, now)? {
                // Taken: say nothing different, and spend no invite.
                return Ok(Ok(false));
            }
            repo::add_event(&tx, &id, "signed_up", &actor.ip, &actor.user_agent, "", now)?;
            if outcome.confirm_by_mail {
                let secret = issue_token(
                    &tx,
                    &id,
                    TokenPurpose::Verify,
                    None,
                    VERIFY_LINK_HOURS * 3_600_000,
                )?;
                let email = mail::verify_email(
                    &mail_context(&state2),
                    &email,
                    &name,
                    &link(&state2, "/verify", &secret),
                );
                queue(&tx, &email)?;
            }
            tx.commit()?;
            Ok(Ok(true))
        })
        .await?;
    match created {
        Ok(true) => {
            state.mailer.wake();
            Ok(outcome)
        }
        Ok(false) => Ok(outcome),
        Err(message) => invalid(message),
    }
}

// ---------------------------------------------------------------- sign-in

/// A session opened by a correct password.
#[derive(Debug)]
pub struct SignedInToken {
    /// The cookie token.
    pub token: String,
    /// The account has two-factor sign-in: the session is good only for entering a code.
    pub second_factor_due: bool,
}

/// Checks the password and opens a session.
pub async fn sign_in(
    state: &Accounts,
    email: &str,
    password: String,
    client: &ClientInfo,
    actor: &Actor,
) -> Result<SignedInToken, AccountError> {
    let email = email.trim().to_owned();
    let ip_key = format!("ip:{}", client.ip);
    let account_key = format!("account:{}", email.to_lowercase());
    state
        .address_throttle
        .check(&ip_key)
        .map_err(AccountError::Throttled)?;
    state
        .account_throttle
        .check(&account_key)
        .map_err(AccountError::Throttled)?;
    let found = state
        .db
        .run(move |conn| repo::user_by_email(conn, &email))
        .await?;
    let (user, hash) = found.unzip();
    let correct = state.hasher.verify(password, hash).await;

    let user = match user {
        Some(user) if correct => user,
        known => {
            state.address_throttle.fail(&ip_key);
            let failure = state.account_throttle.fail(&account_key);
            if let Some(user) = known {
                let (state2, actor) = (state.clone(), actor.clone());
                state
                    .db
                    .run(move |conn| {
                        record(conn, &state2, &user, "sign_in_failed", "", &actor, None)?;
                        if failure.burst {
                            record(
                                conn,
                                &state2,
                                &user,
                                "failed_burst",
                                &failure.failures.to_string(),
                                &actor,
                                Some("Several sign-in attempts with a wrong password were made on your account"),
                            )?;
                        }
                        Ok(())
                    })
                    .await?;
                state.mailer.wake();
            }
            return invalid("The email address or password is not right.");
        }
    };
    state.account_throttle.succeed(&account_key);
    if user.status == Status::Suspended {
        return invalid("This account is suspended. Contact the operator.");
    }

    let state2 = state.clone();
    let actor = actor.clone();
    let client = client.clone();
    let token = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let device = actor.device();
            let first = repo::list_events(&tx, &user.id, 1)?
                .iter()
                .all(|e| e.kind == "signed_up");
            let known = repo::known_device(&tx, &user.id, &actor.ip, &device)?;
            if !first && !known {
                record(
                    &tx,
                    &state2,
                    &user,
                    "new_device",
                    &device,
                    &actor,
                    Some(&format!("New sign-in from {device}")),
                )?;
            }
            record(&tx, &state2, &user, "sign_in", &device, &actor, None)?;
            let token =
                start_session(&tx, &user.id, &client, &actor.user_agent, user.totp_enabled)?;
            tx.commit()?;
            Ok(SignedInToken {
                token,
                second_factor_due: user.totp_enabled,
            })
        })
        .await?;
    state.mailer.wake();
    Ok(token)
}

pub async fn sign_out(state: &Accounts, token_hash: Vec<u8>) -> Result<(), AccountError> {
    state
        .db
        .run(move |conn| repo::delete_session(conn, &token_hash))
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- email links

/// Uses a confirmation link; `Ok(false)` for an unknown, used or expired one.
pub async fn confirm_email(
    state: &Accounts,
    secret: &str,
    actor: &Actor,
) -> Result<bool, AccountError> {
    let hash = token::sha256(secret);
    let state2 = state.clone();
    let actor = actor.clone();
    Ok(state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let now = now_ms();
            let Some((user_id, _)) = repo::take_email_token(&tx, &hash, TokenPurpose::Verify, now)?
            else {
                return Ok(false);
            };
            repo::mark_verified(&tx, &user_id, now)?;
            if let Some(user) = repo::user_by_id(&tx, &user_id)? {
                record(&tx, &state2, &user, "email_verified", "", &actor, None)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await?)
}

/// Mails a new confirmation link to a signed-in, unconfirmed user.
pub async fn resend_confirmation(state: &Accounts, user: &User) -> Result<(), AccountError> {
    if user.email_verified || !state.mailer.delivers() {
        return Ok(());
    }
    let state2 = state.clone();
    let user = user.clone();
    state
        .db
        .run(move |conn| {
            let secret = issue_token(
                conn,
                &user.id,
                TokenPurpose::Verify,
                None,
                VERIFY_LINK_HOURS * 3_600_000,
            )?;
            let email = mail::verify_email(
                &mail_context(&state2),
                &user.email,
                &user.name,
                &link(&state2, "/verify", &secret),
            );
            queue(conn, &email)
        })
        .await?;
    state.mailer.wake();
    Ok(())
}

/// Mails a reset link if the address has an account; the caller answers the same either way.
pub async fn request_password_reset(
    state: &Accounts,
    email: &str,
    client: &ClientInfo,
) -> Result<(), AccountError> {
    // Every request counts, so the form cannot be used to flood someone's mailbox.
    let key = format!("reset:{}", client.ip);
    state
        .address_throttle
        .check(&key)
        .map_err(AccountError::Throttled)?;
    state.address_throttle.fail(&key);
    let email = normalize_email(email)?;
    let state2 = state.clone();
    state
        .db
        .run(move |conn| {
            let Some((user, _)) = repo::user_by_email(conn, &email)? else {
                return Ok(());
            };
            if user.status == Status::Suspended {
                return Ok(());
            }
            let secret = issue_token(
                conn,
                &user.id,
                TokenPurpose::Reset,
                None,
                RESET_LINK_MINUTES * 60_000,
            )?;
            let email = mail::password_reset(
                &mail_context(&state2),
                &user.email,
                &user.name,
                &link(&state2, "/reset", &secret),
            );
            queue(conn, &email)
        })
        .await?;
    state.mailer.wake();
    Ok(())
}

/// Whether a reset link is still good (the form is shown only then).
pub async fn reset_link_valid(state: &Accounts, secret: &str) -> Result<bool, AccountError> {
    let hash = token::sha256(secret);
    Ok(state
        .db
        .run(move |conn| repo::peek_email_token(conn, &hash, TokenPurpose::Reset, now_ms()))
        .await?
        .is_some())
}

/// Sets a new password from a reset link and ends every session of the account.
pub async fn reset_password(
    state: &Accounts,
    secret: &str,
    new_password: String,
    actor: &Actor,
) -> Result<(), AccountError> {
    let hash = token::sha256(secret);
    let lookup = hash.clone();
    let user = state
        .db
        .run(move |conn| {
            let Some((user_id, _)) =
                repo::peek_email_token(conn, &lookup, TokenPurpose::Reset, now_ms())?
            else {
                return Ok(None);
            };
            repo::user_by_id(conn, &user_id)
        })
        .await?;
    let Some(user) = user else {
        return invalid("This reset link is not valid any more. Ask for a new one.");
    };
    password::check_strength(
        &new_password,
        state.config.accounts.password_min_length,
        &[&user.email, &user.name],
    )
    .or_else(invalid)?;
    let password_hash = state.hasher.hash(new_password).await?;
    let state2 = state.clone();
    let actor = actor.clone();
    let done = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let now = now_ms();
            if repo::take_email_token(&tx, &hash, TokenPurpose::Reset, now)?.is_none() {
                return Ok(false);
            }
            repo::set_password(&tx, &user.id, &password_hash, now)?;
            repo::delete_other_sessions(&tx, &user.id, None)?;
            record(
                &tx,
                &state2,
                &user,
                "password_reset",
                "",
                &actor,
                Some("Your password was reset with a link sent to this address"),
            )?;
            tx.commit()?;
            Ok(true)
        })
        .await?;
    if !done {
        return invalid("This reset link is not valid any more. Ask for a new one.");
    }
    state.mailer.wake();
    Ok(())
}

// ---------------------------------------------------------------- profile and security

pub async fn change_name(state: &Accounts, user: &User, name: &str) -> Result<(), AccountError> {
    let name = normalize_name(name)?;
    let user_id = user.id.clone();
    state
        .db
        .run(move |conn| repo::set_name(conn, &user_id, &name, now_ms()))
        .await?;
    Ok(())
}

async fn check_current_password(
    state: &Accounts,
    user: &User,
    password: String,
) -> Result<(), AccountError> {
    let user_id = user.id.clone();
    let hash = state
        .db
        .run(move |conn| repo::password_hash(conn, &user_id))
        .await?;
    if !state.hasher.verify(password, hash).await {
        return invalid("Your current password is not right.");
    }
    Ok(())
}

/// Changes the password and ends every other session.
pub async fn change_password(
    state: &Accounts,
    user: &User,
    current_session: &[u8],
    current: String,
    new_password: String,
    actor: &Actor,
) -> Result<(), AccountError> {
    let key = format!("account:{}", user.email.to_lowercase());
    state
        .account_throttle
        .check(&key)
        .map_err(AccountError::Throttled)?;
    if let Err(e) = check_current_password(state, user, current).await {
        state.account_throttle.fail(&key);
        return Err(e);
    }
    password::check_strength(
        &new_password,
        state.config.accounts.password_min_length,
        &[&user.email, &user.name],
    )
    .or_else(invalid)?;
    let hash = state.hasher.hash(new_password).await?;
    let (state2, user, actor, keep) = (
        state.clone(),
        user.clone(),
        actor.clone(),
        current_session.to_vec(),
    );
    state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            repo::set_password(&tx, &user.id, &hash, now_ms())?;
            repo::delete_other_sessions(&tx, &user.id, Some(&keep))?;
            record(
                &tx,
                &state2,
                &user,
                "password_changed",
                "",
                &actor,
                Some("Your password was changed"),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.mailer.wake();
    Ok(())
}

/// Mails a confirmation link to the new address and tells the old one.
pub async fn request_email_change(
    state: &Accounts,
    user: &User,
    new_email: &str,
    password: String,
    actor: &Actor,
) -> Result<(), AccountError> {
    let new_email = normalize_email(new_email)?;
    if new_email.eq_ignore_ascii_case(&user.email) {
        return invalid("That is already your email address.");
    }
    check_current_password(state, user, password).await?;
    let (state2, user, actor) = (state.clone(), user.clone(), actor.clone());
    state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let secret = issue_token(
                &tx,
                &user.id,
                TokenPurpose::EmailChange,
                Some(&new_email),
                EMAIL_CHANGE_LINK_HOURS * 3_600_000,
            )?;
            let confirm = mail::email_change(
                &mail_context(&state2),
                &new_email,
                &user.name,
                &link(&state2, "/confirm-email", &secret),
            );
            queue(&tx, &confirm)?;
            record(
                &tx,
                &state2,
                &user,
                "email_change_requested",
                "",
                &actor,
                Some("A change of your account's email address was requested"),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.mailer.wake();
    Ok(())
}

/// Uses an email-change link; the old address is told.
pub async fn confirm_email_change(
    state: &Accounts,
    secret: &str,
    actor: &Actor,
) -> Result<(), AccountError> {
    let hash = token::sha256(secret);
    let (state2, actor) = (state.clone(), actor.clone());
    let result = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let now = now_ms();
            let Some((user_id, Some(new_email))) =
                repo::take_email_token(&tx, &hash, TokenPurpose::EmailChange, now)?
            else {
                return Ok(Err("This link is not valid any more."));
            };
            let Some(user) = repo::user_by_id(&tx, &user_id)? else {
                return Ok(Err("This link is not valid any more."));
            };
            if !repo::set_email(&tx, &user_id, &new_email, now)? {
                return Ok(Err("That email address belongs to another account."));
            }
            record(
                &tx,
                &state2,
                &user,
                "email_changed",
                "",
                &actor,
                Some(&format!(
                    "Your account's email address was changed to {new_email}"
                )),
            )?;
            tx.commit()?;
            Ok(Ok(()))
        })
        .await?;
    state.mailer.wake();
    result.or_else(invalid)
}

pub async fn revoke_session(
    state: &Accounts,
    user: &User,
    session_id: String,
) -> Result<bool, AccountError> {
    let user_id = user.id.clone();
    Ok(state
        .db
        .run(move |conn| repo::delete_session_by_id(conn, &user_id, &session_id))
        .await?)
}

pub async fn revoke_other_sessions(
    state: &Accounts,
    user: &User,
    keep: &[u8],
) -> Result<usize, AccountError> {
    let (user_id, keep) = (user.id.clone(), keep.to_vec());
    Ok(state
        .db
        .run(move |conn| repo::delete_other_sessions(conn, &user_id, Some(&keep)))
        .await?)
}

// ---------------------------------------------------------------- API keys

pub struct KeyRequest {
    pub name: String,
    /// Days until it stops working; None for never.
    pub expires_in_days: Option<u32>,
    /// Allowed model ids; empty for all.
    pub models: Vec<String>,
    /// Decimal amount in the configured currency; empty for none.
    pub spend_limit: String,
    /// Requests per minute; empty for the account's limit.
    pub requests_per_minute: String,
}

/// A key request that passed validation.
pub struct ValidKey {
    pub name: String,
    /// JSON list of model ids; None for all.
    pub models: Option<String>,
    pub spend_limit: Option<i64>,
    pub requests_per_minute: Option<u32>,
}

pub struct CreatedKey {
    pub id: String,
    pub key: String,
}

pub fn validate_key_request(state: &Accounts, req: &KeyRequest) -> Result<ValidKey, AccountError> {
    let name = req.name.trim();
    if name.is_empty() {
        return invalid("Give the key a name, such as the machine or tool that uses it.");
    }
    if name.chars().count() > MAX_KEY_NAME_CHARS || name.chars().any(char::is_control) {
        return invalid(format!(
            "Use at most {MAX_KEY_NAME_CHARS} characters for the key's name."
        ));
    }
    if let Some(unknown) = req
        .models
        .iter()
        .find(|m| !state.config.models.iter().any(|c| &c.id == *m))
    {
        return invalid(format!("There is no model {unknown:?}."));
    }
    let models = if req.models.is_empty() {
        None
    } else {
        serde_json::to_string(&req.models).ok()
    };
    let spend_limit = match req.spend_limit.trim() {
        "" => None,
        text => match text.parse::<Money>() {
            Ok(m) if m > Money::ZERO => Some(m.micros()),
            _ => {
                return invalid(
                    "Enter the spend limit as an amount like 25 or 12.50, or leave it empty.",
                );
            }
        },
    };
    let requests_per_minute = match req.requests_per_minute.trim() {
        "" => None,
        text => match text.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                return invalid(
                    "Enter the requests per minute as a whole number above zero, or leave it empty.",
                );
            }
        },
    };
    Ok(ValidKey {
        name: name.to_owned(),
        models,
        spend_limit,
        requests_per_minute,
    })
}

/// Creates a key; the full key is returned once and never stored.
pub async fn create_key(
    state: &Accounts,
    user: &User,
    req: KeyRequest,
    actor: &Actor,
) -> Result<CreatedKey, AccountError> {
    if !user.email_verified && verification_required(state) {
        return invalid("Confirm your email address before creating API keys.");
    }
    let valid = validate_key_request(state, &req)?;
    let (state2, user, actor) = (state.clone(), user.clone(), actor.clone());
    let expires_in_days = req.expires_in_days;
    let created = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let created = insert_key(&tx, &user.id, &valid, expires_in_days)?;
            record(
                &tx,
                &state2,
                &user,
                "key_created",
                &valid.name,
                &actor,
                None,
            )?;
            tx.commit()?;
            Ok(created)
        })
        .await?;
    Ok(created)
}

/// Inserts a new key for a user (shared with the command line).
pub fn insert_key(
    conn: &rusqlite::Connection,
    user_id: &str,
    key: &ValidKey,
    expires_in_days: Option<u32>,
) -> Result<CreatedKey, DbError> {
    let now = now_ms();
    let new = token::new_api_key();
    let id = token::random_id();
    repo::insert_key(
        conn,
        &NewKey {
            id: &id,
            user_id,
            name: &key.name,
            prefix: &new.prefix,
            hash: &new.hash,
            models: key.models.as_deref(),
            spend_limit: key.spend_limit,
            requests_per_minute: key.requests_per_minute,
            expires_at: expires_in_days.map(|d| now + i64::from(d) * 86_400_000),
        },
        now,
    )?;
    Ok(CreatedKey { id, key: new.key })
}

pub async fn key_of_user(
    state: &Accounts,
    user: &User,
    key_id: String,
) -> Result<KeyRow, AccountError> {
    let user_id = user.id.clone();
    state
        .db
        .run(move |conn| repo::key_of_user(conn, &user_id, &key_id))
        .await?
        .ok_or(AccountError::NotFound)
}

/// Revokes one of the user's keys; another user's key id is not found.
pub async fn revoke_key(
    state: &Accounts,
    user: &User,
    key_id: String,
    actor: &Actor,
) -> Result<(), AccountError> {
    let (state2, user, actor) = (state.clone(), user.clone(), actor.clone());
    let revoked = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let Some(key) = repo::key_of_user(&tx, &user.id, &key_id)? else {
                return Ok(false);
            };
            if repo::revoke_key(&tx, &user.id, &key_id, now_ms())? {
                record(&tx, &state2, &user, "key_revoked", &key.name, &actor, None)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await?;
    if revoked {
        Ok(())
    } else {
        Err(AccountError::NotFound)
    }
}

// ---------------------------------------------------------------- administrators and scripts

/// Creates the first administrator from the one-time setup link and signs them in.
pub async fn create_first_admin(
    state: &Accounts,
    name: &str,
    email: &str,
    password: String,
    client: &ClientInfo,
    actor: &Actor,
) -> Result<String, AccountError> {
    let name = normalize_name(name)?;
    let email = normalize_email(email)?;
    password::check_strength(
        &password,
        state.config.accounts.password_min_length,
        &[&email, &name],
    )
    .or_else(invalid)?;
    let hash = state.hasher.hash(password).await?;
    let (client, actor) = (client.clone(), actor.clone());
    let credit = state.config.billing.welcome_credit();
    let result = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            if repo::count_admins(&tx)? > 0 {
                return Ok(Err("An administrator exists already. Sign in instead."));
            }
            let id = token::random_id();
            let now = now_ms();
            let user = NewUser {
                id: &id,
                email: &email,
                name: &name,
                password_hash: &hash,
                role: Role::Admin,
                status: Status::Active,
                verified: true,
                credit,
            };
            if !repo::insert_user(&tx, &user, now)? {
                return Ok(Err("That email address already has an account."));
            }
            repo::add_event(
                &tx,
                &id,
                "signed_up",
                &actor.ip,
                &actor.user_agent,
                "first administrator",
                now,
            )?;
            repo::add_event(
                &tx,
                &id,
                "sign_in",
                &actor.ip,
                &actor.user_agent,
                &actor.device(),
                now,
            )?;
            let token = start_session(&tx, &id, &client, &actor.user_agent, false)?;
            tx.commit()?;
            Ok(Ok(token))
        })
        .await?;
    result.or_else(invalid)
}

/// What the command line needs to create an account.
pub struct ScriptedUser<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub password: &'a str,
    pub admin: bool,
    pub min_length: usize,
    /// Credit the wallet starts with.
    pub credit: i64,
}

/// Creates a confirmed, active account from the command line; returns its id.
pub fn create_user_blocking(
    conn: &rusqlite::Connection,
    user: &ScriptedUser<'_>,
) -> Result<String, AccountError> {
    let name = normalize_name(user.name)?;
    let email = normalize_email(user.email)?;
    password::check_strength(user.password, user.min_length, &[&email, &name])
        .map_err(AccountError::Invalid)?;
    let hash = password::hash_blocking(user.password)?;
    let id = token::random_id();
    let new = NewUser {
        id: &id,
        email: &email,
        name: &name,
        password_hash: &hash,
        role: if user.admin { Role::Admin } else { Role::User },
        status: Status::Active,
        verified: true,
        credit: user.credit,
    };
    if repo::insert_user(conn, &new, now_ms())? {
        Ok(id)
    } else {
        Err(AccountError::Invalid(format!(
            "{email} already has an account"
        )))
    }
}

// ---------------------------------------------------------------- two-factor sign-in

const RECOVERY_CODES: usize = 10;

/// What the set-up page shows: the secret as text and as a QR code.
pub struct TotpSetup {
    pub secret: String,
    pub qr_svg: String,
}

/// Starts (or restarts) setting up two-factor sign-in with a new secret.
pub async fn start_totp_setup(state: &Accounts, user: &User) -> Result<TotpSetup, AccountError> {
    let secret = totp::new_secret();
    let url = totp::otpauth_url(&secret, &state.config.site.name, &user.email)
        .ok_or_else(|| AccountError::Internal("cannot build the authenticator link".to_owned()))?;
    let qr_svg = totp::qr_svg(&url)
        .ok_or_else(|| AccountError::Internal("cannot draw the QR code".to_owned()))?;
    let (user_id, stored) = (user.id.clone(), secret.clone());
    state
        .db
        .run(move |conn| repo::set_pending_totp(conn, &user_id, &stored, now_ms()))
        .await?;
    Ok(TotpSetup { secret, qr_svg })
}

fn new_recovery_codes() -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| token::short_code()).collect();
    let hashes = codes
        .iter()
        .map(|c| token::sha256(&totp::normalize_recovery_code(c)))
        .collect();
    (codes, hashes)
}

/// Turns two-factor sign-in on once a code from the app proves it was set up; returns the
/// recovery codes, shown once.
pub async fn enable_totp(
    state: &Accounts,
    user: &User,
    code: &str,
    actor: &Actor,
) -> Result<Vec<String>, AccountError> {
    let (state2, user, actor, code) = (state.clone(), user.clone(), actor.clone(), code.to_owned());
    let result = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let Some((secret, false, _)) = repo::totp_state(&tx, &user.id)? else {
                return Ok(Err("Start the set-up again."));
            };
            let Some(step) = totp::check(&secret, &code, None) else {
                return Ok(Err("That code is not right. Check the time on your phone and try the current code."));
            };
            let now = now_ms();
            repo::enable_totp(&tx, &user.id, step, now)?;
            let (codes, hashes) = new_recovery_codes();
            repo::replace_recovery_codes(&tx, &user.id, &hashes)?;
            record(&tx, &state2, &user, "totp_enabled", "", &actor, Some("Two-factor sign-in was turned on"))?;
            tx.commit()?;
            Ok(Ok(codes))
        })
        .await?;
    state.mailer.wake();
    result.or_else(invalid)
}

/// Turns two-factor sign-in off; needs the password.
pub async fn disable_totp(
    state: &Accounts,
    user: &User,
    password: String,
    actor: &Actor,
) -> Result<(), AccountError> {
    check_current_password(state, user, password).await?;
    let (state2, user, actor) = (state.clone(), user.clone(), actor.clone());
    state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            repo::disable_totp(&tx, &user.id, now_ms())?;
            record(
                &tx,
                &state2,
                &user,
                "totp_disabled",
                "",
                &actor,
                Some("Two-factor sign-in was turned off"),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await?;
    state.mailer.wake();
    Ok(())
}

/// Completes a sign-in with an authenticator code or a recovery code. The half-signed-in session
/// is replaced by a new one (new token) whose cookie token is returned.
pub async fn complete_second_factor(
    state: &Accounts,
    user: &User,
    session: &[u8],
    code: &str,
    client: &ClientInfo,
    actor: &Actor,
) -> Result<String, AccountError> {
    let key = format!("account:{}", user.email.to_lowercase());
    state
        .account_throttle
        .check(&key)
        .map_err(AccountError::Throttled)?;
    let (state2, user2, actor, code, session, client) = (
        state.clone(),
        user.clone(),
        actor.clone(),
        code.to_owned(),
        session.to_vec(),
        client.clone(),
    );
    let new_token = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let Some((secret, true, last_step)) = repo::totp_state(&tx, &user2.id)? else {
                return Ok(None);
            };
            let by_app = match totp::check(&secret, &code, last_step) {
                Some(step) => repo::use_totp_step(&tx, &user2.id, step)?,
                None => false,
            };
            let accepted = by_app || {
                let hash = token::sha256(&totp::normalize_recovery_code(&code));
                let used = repo::take_recovery_code(&tx, &user2.id, &hash, now_ms())?;
                if used {
                    let left = repo::recovery_codes_left(&tx, &user2.id)?;
                    record(
                        &tx,
                        &state2,
                        &user2,
                        "recovery_code_used",
                        &left.to_string(),
                        &actor,
                        Some("A two-factor recovery code was used to sign in"),
                    )?;
                }
                used
            };
            let new_token = if accepted {
                repo::delete_session(&tx, &session)?;
                Some(start_session(
                    &tx,
                    &user2.id,
                    &client,
                    &actor.user_agent,
                    false,
                )?)
            } else {
                None
            };
            tx.commit()?;
            Ok(new_token)
        })
        .await?;
    let Some(new_token) = new_token else {
        state.account_throttle.fail(&key);
        return invalid("That code is not right.");
    };
    state.account_throttle.succeed(&key);
    state.mailer.wake();
    Ok(new_token)
}
