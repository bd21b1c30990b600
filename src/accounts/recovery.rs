//! Proving an email address and getting back in: confirmation links and password resets.

use crate::auth::password;
use crate::auth::throttle::address_key;
use crate::auth::token;
use crate::client::ClientInfo;
use crate::db::accounts::{self as repo, Status, TokenPurpose, User};
use crate::db::now_ms;
use crate::mail;

use super::{
    AccountError, Accounts, Actor, RESET_LINK_MINUTES, VERIFY_LINK_HOURS, invalid, issue_token,
    link, mail_context, mail_on_request, normalize_email, queue, record,
};

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
    mail_on_request(state, Some(&user.id), &user.email)?;
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
    let key = address_key("reset", client.ip);
    let counted = state
        .address_throttle
        .attempt(&key)
        .map_err(AccountError::Throttled)?;
    drop(counted);
    let email = normalize_email(email)?;
    // Whether or not the address has an account, so the answer tells nothing.
    mail_on_request(state, None, &email)?;
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
/// Sets a new password from a reset link and ends every session; with `revoke_keys`, every API
/// key of the account stops working too.
pub async fn reset_password(
    state: &Accounts,
    secret: &str,
    new_password: String,
    revoke_keys: bool,
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
            if revoke_keys {
                let revoked = repo::revoke_all_keys(&tx, &user.id, now)?;
                record(
                    &tx,
                    &state2,
                    &user,
                    "keys_revoked",
                    &revoked.to_string(),
                    &actor,
                    None,
                )?;
            }
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
