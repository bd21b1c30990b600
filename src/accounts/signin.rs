//! Signing in and out: the password, the throttles, and the half-signed-in state before a second
//! factor.

use crate::auth::throttle::address_key;
use crate::client::ClientInfo;
use crate::db::accounts::{self as repo, Status};

use super::{AccountError, Accounts, Actor, invalid, record, start_session};

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
    let ip_key = address_key("ip", client.ip);
    let account_key = format!("account:{}", email.to_lowercase());
    let by_address = state
        .address_throttle
        .attempt(&ip_key)
        .map_err(AccountError::Throttled)?;
    let by_account = state
        .account_throttle
        .attempt(&account_key)
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
            drop(by_address);
            let failure = by_account.failure();
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
    by_address.refund();
    by_account.succeeded();
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
