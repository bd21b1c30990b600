//! API keys: checking a request for one, creating, listing and revoking them.

use crate::auth::token;
use crate::db::accounts::{self as repo, KeyRow, NewKey, User};
use crate::db::{DbError, now_ms};
use crate::money::Money;

use super::profile::{Proof, confirm_identity};
use super::{
    AccountError, Accounts, Actor, MAX_KEY_NAME_CHARS, invalid, record, verification_required,
};

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
    proof: &Proof,
    actor: &Actor,
) -> Result<CreatedKey, AccountError> {
    if !user.email_verified && verification_required(state) {
        return invalid("Confirm your email address before creating API keys.");
    }
    let valid = validate_key_request(state, &req)?;
    confirm_identity(state, user, proof).await?;
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
                Some("A new API key was created on your account"),
            )?;
            tx.commit()?;
            Ok(created)
        })
        .await?;
    state.mailer.wake();
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
