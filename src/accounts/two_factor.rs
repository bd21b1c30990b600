//! Two-factor sign-in: setting up an authenticator app, recovery codes, and the second step of a
//! sign-in.

use crate::auth::throttle::{Attempt, address_key};
use crate::auth::{token, totp};
use crate::client::ClientInfo;
use crate::db::accounts::{self as repo, User};
use crate::db::now_ms;

use super::profile::{Proof, check_current_password, confirm_identity};
use super::{AccountError, Accounts, Actor, invalid, record, start_session};

const RECOVERY_CODES: usize = 10;

/// What the set-up page shows: the secret as text and as a QR code.
pub struct TotpSetup {
    pub secret: String,
    pub qr_svg: String,
}

/// Starts (or restarts) setting up two-factor sign-in with a new secret.
pub async fn start_totp_setup(state: &Accounts, user: &User) -> Result<TotpSetup, AccountError> {
    let secret = totp::new_secret();
    let setup = totp_setup_of(state, user, secret)?;
    let (user_id, stored) = (user.id.clone(), setup.secret.clone());
    state
        .db
        .run(move |conn| repo::set_pending_totp(conn, &user_id, &stored, now_ms()))
        .await?;
    Ok(setup)
}

/// The set-up started and not finished yet, if there is one; changes nothing.
pub async fn pending_totp_setup(
    state: &Accounts,
    user: &User,
) -> Result<Option<TotpSetup>, AccountError> {
    let user_id = user.id.clone();
    let pending = state
        .db
        .run(move |conn| repo::totp_state(conn, &user_id))
        .await?;
    match pending {
        Some((secret, false, _)) => Ok(Some(totp_setup_of(state, user, secret)?)),
        _ => Ok(None),
    }
}

fn totp_setup_of(state: &Accounts, user: &User, secret: String) -> Result<TotpSetup, AccountError> {
    let url = totp::otpauth_url(&secret, &state.config.site.name, &user.email)
        .ok_or_else(|| AccountError::Internal("cannot build the authenticator link".to_owned()))?;
    let qr_svg = totp::qr_svg(&url)
        .ok_or_else(|| AccountError::Internal("cannot draw the QR code".to_owned()))?;
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
    proof: &Proof,
    actor: &Actor,
) -> Result<Vec<String>, AccountError> {
    confirm_identity(state, user, proof).await?;
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
    let (by_address, by_account) = code_attempts(state, user, client)?;
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
            let accepted = accept_code(&tx, &state2, &user2, &code, &actor)?;
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
        return invalid("That code is not right.");
    };
    by_address.refund();
    by_account.succeeded();
    state.mailer.wake();
    Ok(new_token)
}

/// Counts a try at a second-factor code, per address and per account, before it is checked.
/// Codes are cheap to try (no Argon2 in the way), so both bounds apply to every check.
fn code_attempts<'a>(
    state: &'a Accounts,
    user: &User,
    client: &ClientInfo,
) -> Result<(Attempt<'a>, Attempt<'a>), AccountError> {
    let by_address = state
        .address_throttle
        .attempt(&address_key("second_factor", client.ip))
        .map_err(AccountError::Throttled)?;
    let by_account = state
        .account_throttle
        .attempt(&format!("account:{}", user.email.to_lowercase()))
        .map_err(AccountError::Throttled)?;
    Ok((by_address, by_account))
}

/// Whether `code` is the account's authenticator code for now (not used before) or one of its
/// unused recovery codes, which it uses up; false when two-factor sign-in is off. Runs in the
/// caller's write transaction.
fn accept_code(
    tx: &rusqlite::Connection,
    state: &Accounts,
    user: &User,
    code: &str,
    actor: &Actor,
) -> Result<bool, crate::db::DbError> {
    let Some((secret, true, last_step)) = repo::totp_state(tx, &user.id)? else {
        return Ok(false);
    };
    if let Some(step) = totp::check(&secret, code, last_step)
        && repo::use_totp_step(tx, &user.id, step)?
    {
        return Ok(true);
    }
    let hash = token::sha256(&totp::normalize_recovery_code(code));
    if !repo::take_recovery_code(tx, &user.id, &hash, now_ms())? {
        return Ok(false);
    }
    let left = repo::recovery_codes_left(tx, &user.id)?;
    record(
        tx,
        state,
        user,
        "recovery_code_used",
        &left.to_string(),
        actor,
        Some("A two-factor recovery code was used"),
    )?;
    Ok(true)
}

/// Checks a second-factor code of a signed-in user with two-factor sign-in on, for a change as
/// grave as deleting the account; bounded like the sign-in step, per account and per address.
pub async fn check_second_factor(
    state: &Accounts,
    user: &User,
    code: &str,
    client: &ClientInfo,
    actor: &Actor,
) -> Result<(), AccountError> {
    if code.trim().is_empty() {
        return invalid("Enter a code from your authenticator app, or a recovery code.");
    }
    let (by_address, by_account) = code_attempts(state, user, client)?;
    let (state2, user2, actor, code) =
        (state.clone(), user.clone(), actor.clone(), code.to_owned());
    let accepted = state
        .db
        .run(move |conn| {
            let tx = crate::db::write(conn)?;
            let accepted = accept_code(&tx, &state2, &user2, &code, &actor)?;
            tx.commit()?;
            Ok(accepted)
        })
        .await?;
    if !accepted {
        return invalid("That code is not right.");
    }
    by_address.refund();
    by_account.succeeded();
    state.mailer.wake();
    Ok(())
}
