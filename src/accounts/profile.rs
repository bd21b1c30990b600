//! Changes to a signed-in account: name, password, email address, and its sessions.

use crate::auth::password;
use crate::auth::token;
use crate::db::accounts::{self as repo, TokenPurpose, User};
use crate::db::now_ms;
use crate::mail;

use super::{
    AccountError, Accounts, Actor, EMAIL_CHANGE_LINK_HOURS, invalid, issue_token, link,
    mail_context, mail_on_request, normalize_email, normalize_name, queue, record,
};

pub async fn change_name(state: &Accounts, user: &User, name: &str) -> Result<(), AccountError> {
    let name = normalize_name(name)?;
    let user_id = user.id.clone();
    state
        .db
        .run(move |conn| repo::set_name(conn, &user_id, &name, now_ms()))
        .await?;
    Ok(())
}

/// What a signed-in user offers to show it is them, for a change a stolen session must not make
/// alone: a sign-in recent enough, or the password.
#[derive(Debug, Clone)]
pub struct Proof {
    /// When the session's sign-in was completed (unix ms).
    pub signed_in_at: i64,
    /// The password typed with the change; empty when none was asked for.
    pub password: String,
}

impl Proof {
    /// Whether the sign-in is too old to stand for the user alone.
    pub fn needs_password(signed_in_at: i64, config: &crate::config::AccountsConfig) -> bool {
        let window = i64::try_from(config.reauthenticate_after_secs.saturating_mul(1000))
            .unwrap_or(i64::MAX);
        now_ms().saturating_sub(signed_in_at) > window
    }
}

/// Accepts a recent sign-in, or else the right password.
pub(super) async fn confirm_identity(
    state: &Accounts,
    user: &User,
    proof: &Proof,
) -> Result<(), AccountError> {
    if !Proof::needs_password(proof.signed_in_at, &state.config.accounts) {
        return Ok(());
    }
    if proof.password.is_empty() {
        return invalid("Enter your password: you signed in a while ago, so confirm it is you.");
    }
    check_current_password(state, user, proof.password.clone()).await
}

/// Checks the password of a signed-in user, under the same per-account throttle as signing in:
/// a stolen session must not become a way to guess the password.
pub(super) async fn check_current_password(
    state: &Accounts,
    user: &User,
    password: String,
) -> Result<(), AccountError> {
    let attempt = state
        .account_throttle
        .attempt(&format!("account:{}", user.email.to_lowercase()))
        .map_err(AccountError::Throttled)?;
    let user_id = user.id.clone();
    let hash = state
        .db
        .run(move |conn| repo::password_hash(conn, &user_id))
        .await?;
    if !state.hasher.verify(password, hash).await {
        return invalid("Your current password is not right.");
    }
    attempt.succeeded();
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
    check_current_password(state, user, current).await?;
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
    mail_on_request(state, Some(&user.id), &new_email)?;
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
