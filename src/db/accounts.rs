//! SQL for accounts: users, sessions, single-use email tokens, API keys, security events and
//! invite codes. Plain functions over a `&Connection`; callers decide the transaction.
//!
//! One module because these tables are one family, joined by the user id, and each function is one
//! statement or a short sequence of them.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::DbError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// Waiting for an admin's approval.
    Pending,
    Suspended,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Pending => "pending",
            Status::Suspended => "suspended",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: Status,
    pub email_verified: bool,
    pub totp_enabled: bool,
    pub created_at: i64,
    /// When the user restricted processing (no analytics, no non-essential mail).
    pub restricted_at: Option<i64>,
    /// The policy version (effective date) the user acknowledged.
    pub policy_seen: Option<String>,
}

/// The columns [`user_from_row`] reads, in its order.
const USER_COLUMNS: &str = "u.id, u.email, u.name, u.role, u.status, u.email_verified_at, u.totp_enabled_at, u.created_at, u.restricted_at, u.policy_seen";
/// How many columns [`USER_COLUMNS`] names.
const USER_COLUMN_COUNT: usize = 10;

fn user_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<User> {
    let role: String = row.get(offset + 3)?;
    let status: String = row.get(offset + 4)?;
    Ok(User {
        id: row.get(offset)?,
        email: row.get(offset + 1)?,
        name: row.get(offset + 2)?,
        role: if role == "admin" {
            Role::Admin
        } else {
            Role::User
        },
        status: match status.as_str() {
            "active" => Status::Active,
            "pending" => Status::Pending,
            _ => Status::Suspended,
        },
        email_verified: row.get::<_, Option<i64>>(offset + 5)?.is_some(),
        totp_enabled: row.get::<_, Option<i64>>(offset + 6)?.is_some(),
        created_at: row.get(offset + 7)?,
        restricted_at: row.get(offset + 8)?,
        policy_seen: row.get(offset + 9)?,
    })
}

pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub status: Status,
    pub verified: bool,
    /// Credit the wallet starts with, booked as a grant.
    pub credit: i64,
}

/// Inserts a user (and the ledger row of its starting credit); `Ok(false)` when the email
/// address is taken.
pub fn insert_user(conn: &Connection, user: &NewUser<'_>, now: i64) -> Result<bool, DbError> {
    let inserted = conn.execute(
        "INSERT INTO users (id, email, name, password_hash, role, status, email_verified_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
         ON CONFLICT (email) DO NOTHING",
        params![
            user.id,
            user.email,
            user.name,
            user.password_hash,
            user.role.as_str(),
            user.status.as_str(),
            user.verified.then_some(now),
            now
        ],
    )?;
    if inserted == 1 && user.credit > 0 {
        super::ledger::append(
            conn,
            &super::ledger::Entry {
                user_id: user.id,
                kind: super::ledger::Kind::Grant,
                amount: user.credit,
                reference: None,
                actor: "system",
                note: Some("Welcome credit"),
                at: now,
            },
        )?;
    }
    Ok(inserted == 1)
}

pub fn user_by_id(conn: &Connection, id: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = ?1");
    Ok(conn
        .query_row(&sql, [id], |r| user_from_row(r, 0))
        .optional()?)
}

/// The user and their password hash, for signing in.
pub fn user_by_email(conn: &Connection, email: &str) -> Result<Option<(User, String)>, DbError> {
    let sql = format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = ?1");
    Ok(conn
        .query_row(&sql, [email], |r| {
            Ok((user_from_row(r, 0)?, r.get(USER_COLUMN_COUNT)?))
        })
        .optional()?)
}

pub fn password_hash(conn: &Connection, user_id: &str) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row(
            "SELECT password_hash FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?)
}

pub fn count_admins(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'",
        [],
        |r| r.get(0),
    )?)
}

pub fn set_password(conn: &Connection, user_id: &str, hash: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, hash, now],
    )?;
    Ok(())
}

pub fn set_name(conn: &Connection, user_id: &str, name: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, name, now],
    )?;
    Ok(())
}

/// Changes the address (already confirmed by a link sent to it); `Ok(false)` if it is taken.
pub fn set_email(conn: &Connection, user_id: &str, email: &str, now: i64) -> Result<bool, DbError> {
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1 AND id <> ?2)",
        params![email, user_id],
        |r| r.get(0),
    )?;
    if taken {
        return Ok(false);
    }
    conn.execute(
        "UPDATE users SET email = ?2, email_verified_at = ?3, updated_at = ?3 WHERE id = ?1",
        params![user_id, email, now],
    )?;
    Ok(true)
}

pub fn mark_verified(conn: &Connection, user_id: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET email_verified_at = coalesce(email_verified_at, ?2), updated_at = ?2 WHERE id = ?1",
        params![user_id, now],
    )?;
    Ok(())
}

pub fn set_status(
    conn: &Connection,
    user_id: &str,
    status: Status,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET status = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, status.as_str(), now],
    )?;
    Ok(())
}

pub fn set_role(conn: &Connection, user_id: &str, role: Role, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET role = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, role.as_str(), now],
    )?;
    Ok(())
}

// ---------------------------------------------------------------- sessions

pub struct NewSession<'a> {
    pub token_hash: &'a [u8],
    pub id: &'a str,
    pub user_id: &'a str,
    pub csrf_token: &'a str,
    /// Password checked, second factor still due.
    pub mfa_pending: bool,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

pub fn insert_session(conn: &Connection, s: &NewSession<'_>, now: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO sessions (token_hash, id, user_id, csrf_token, mfa_pending, created_at, last_seen_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8)",
        params![s.token_hash, s.id, s.user_id, s.csrf_token, s.mfa_pending, now, s.ip, s.user_agent],
    )?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ip: String,
    pub user_agent: String,
    pub mfa_pending: bool,
}

fn session_from_row(row: &Row<'_>, offset: usize) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(offset)?,
        csrf_token: row.get(offset + 1)?,
        created_at: row.get(offset + 2)?,
        last_seen_at: row.get(offset + 3)?,
        ip: row
            .get::<_, Option<String>>(offset + 4)?
            .unwrap_or_default(),
        user_agent: row
            .get::<_, Option<String>>(offset + 5)?
            .unwrap_or_default(),
        mfa_pending: row.get(offset + 6)?,
    })
}

pub fn session_by_hash(
    conn: &Connection,
    hash: &[u8],
) -> Result<Option<(SessionRow, User)>, DbError> {
    let sql = format!(
        "SELECT s.id, s.csrf_token, s.created_at, s.last_seen_at, s.ip, s.user_agent, s.mfa_pending, {USER_COLUMNS}
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1"
    );
    Ok(conn
        .query_row(&sql, [hash], |r| {
            Ok((session_from_row(r, 0)?, user_from_row(r, 7)?))
        })
        .optional()?)
}

pub fn touch_session(conn: &Connection, hash: &[u8], ip: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE sessions SET last_seen_at = ?2, ip = ?3 WHERE token_hash = ?1",
        params![hash, now, ip],
    )?;
    Ok(())
}

pub fn delete_session(conn: &Connection, hash: &[u8]) -> Result<(), DbError> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [hash])?;
    Ok(())
}

/// Ends one of the user's sessions by its public id; `Ok(false)` if it is not theirs.
pub fn delete_session_by_id(conn: &Connection, user_id: &str, id: &str) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id = ?2",
        params![user_id, id],
    )? == 1)
}

/// Ends every session of the user except `keep` (by token hash).
pub fn delete_other_sessions(
    conn: &Connection,
    user_id: &str,
    keep: Option<&[u8]>,
) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND token_hash IS NOT ?2",
        params![user_id, keep],
    )?)
}

pub fn list_sessions(conn: &Connection, user_id: &str) -> Result<Vec<SessionRow>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT id, csrf_token, created_at, last_seen_at, ip, user_agent, mfa_pending FROM sessions
         WHERE user_id = ?1 ORDER BY last_seen_at DESC",
    )?;
    let rows = stmt.query_map([user_id], |r| session_from_row(r, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete_expired_sessions(
    conn: &Connection,
    idle_before: i64,
    created_before: i64,
) -> Result<usize, DbError> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE last_seen_at < ?1 OR created_at < ?2",
        params![idle_before, created_before],
    )?)
}

// ---------------------------------------------------------------- email tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    Verify,
    Reset,
    EmailChange,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::Verify => "verify",
            TokenPurpose::Reset => "reset",
            TokenPurpose::EmailChange => "email_change",
        }
    }
}

pub fn insert_email_token(
    conn: &Connection,
    hash: &[u8],
    user_id: &str,
    purpose: TokenPurpose,
    new_email: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO email_tokens (token_hash, user_id, purpose, new_email, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![hash, user_id, purpose.as_str(), new_email, now, expires_at],
    )?;
    Ok(())
}

/// The user (and new address) of a valid, unused token, without using it up.
pub fn peek_email_token(
    conn: &Connection,
    hash: &[u8],
    purpose: TokenPurpose,
    now: i64,
) -> Result<Option<(String, Option<String>)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT user_id, new_email FROM email_tokens
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3",
            params![hash, purpose.as_str(), now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Uses a token up; only one caller can ever succeed for a given token.
pub fn take_email_token(
    conn: &Connection,
    hash: &[u8],
    purpose: TokenPurpose,
    now: i64,
) -> Result<Option<(String, Option<String>)>, DbError> {
    Ok(conn
        .query_row(
            "UPDATE email_tokens SET used_at = ?3
             WHERE token_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND expires_at > ?3
             RETURNING user_id, new_email",
            params![hash, purpose.as_str(), now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// Voids the user's other unused tokens of a purpose (a new reset link replaces older ones).
pub fn void_email_tokens(
    conn: &Connection,
    user_id: &str,
    purpose: TokenPurpose,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE email_tokens SET used_at = ?3 WHERE user_id = ?1 AND purpose = ?2 AND used_at IS NULL",
        params![user_id, purpose.as_str(), now],
    )?;
    Ok(())
}

// ---------------------------------------------------------------- API keys

pub struct NewKey<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub name: &'a str,
    pub prefix: &'a str,
    pub hash: &'a [u8],
    /// JSON list of model ids, or None for every model.
    pub models: Option<&'a str>,
    pub spend_limit: Option<i64>,
    pub requests_per_minute: Option<u32>,
    pub expires_at: Option<i64>,
}

pub fn insert_key(conn: &Connection, key: &NewKey<'_>, now: i64) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, models, spend_limit, created_at, expires_at,
                               requests_per_minute)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            key.id,
            key.user_id,
            key.name,
            key.prefix,
            key.hash,
            key.models,
            key.spend_limit,
            now,
            key.expires_at,
            key.requests_per_minute
        ],
    )?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub models: Option<Vec<String>>,
    pub spend_limit: Option<i64>,
    /// What the key has spent over its life.
    pub spent: i64,
    pub requests_per_minute: Option<u32>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<KeyRow> {
    let models: Option<String> = row.get(3)?;
    Ok(KeyRow {
        id: row.get(0)?,
        name: row.get(1)?,
        prefix: row.get(2)?,
        models: allow_list(models),
        spend_limit: row.get(4)?,
        created_at: row.get(5)?,
        last_used_at: row.get(6)?,
        expires_at: row.get(7)?,
        revoked_at: row.get(8)?,
        spent: row.get(9)?,
        requests_per_minute: row.get(10)?,
    })
}

/// A key and its account as the gateway checks them on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub key_id: String,
    pub user_id: String,
    /// Allowed model ids; None for all. A list that cannot be read allows nothing.
    pub models: Option<Vec<String>>,
    pub expires_at: Option<i64>,
    pub revoked: bool,
    /// The account's status: "active", "pending" or "suspended".
    pub account_status: String,
    pub spend_limit: Option<i64>,
    pub requests_per_minute: Option<u32>,
    pub tier: Option<String>,
    pub monthly_cap: Option<i64>,
}

/// The key with this hash, with what the gateway checks of its account.
pub fn key_check(conn: &Connection, hash: &[u8]) -> Result<Option<KeyCheck>, DbError> {
    Ok(conn
        .query_row(
            "SELECT k.id, k.user_id, k.models, k.expires_at, k.revoked_at IS NOT NULL, u.status, k.spend_limit,
                    k.requests_per_minute, u.tier, u.monthly_cap
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = ?1",
            params![hash],
            |r| {
                Ok(KeyCheck {
                    key_id: r.get(0)?,
                    user_id: r.get(1)?,
                    models: allow_list(r.get(2)?),
                    expires_at: r.get(3)?,
                    revoked: r.get(4)?,
                    account_status: r.get(5)?,
                    spend_limit: r.get(6)?,
                    requests_per_minute: r.get(7)?,
                    tier: r.get(8)?,
                    monthly_cap: r.get(9)?,
                })
            },
        )
        .optional()?)
}

/// A key's stored model allow-list: none means every model; one that cannot be read allows
/// none, rather than all.
fn allow_list(stored: Option<String>) -> Option<Vec<String>> {
    stored.map(|list| serde_json::from_str(&list).unwrap_or_default())
}

/// A change marker for the key cache: moves whenever a key or an account changes. Erasures
/// count apart: deleting an account can bring the other figures back to where they were.
pub fn key_marker(conn: &Connection) -> Result<(i64, i64, i64, i64), DbError> {
    Ok(conn.query_row(
        "SELECT (SELECT coalesce(max(revoked_at), 0) FROM api_keys),
                (SELECT count(*) FROM api_keys),
                (SELECT coalesce(max(updated_at), 0) FROM users),
                (SELECT coalesce(CAST(value AS INTEGER), 0) FROM settings WHERE key = ?1)",
        [super::privacy::ERASURES_KEY],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            ))
        },
    )?)
}

const KEY_COLUMNS: &str = "id, name, prefix, models, spend_limit, created_at, last_used_at, expires_at, revoked_at, spent, requests_per_minute";

pub fn list_keys(conn: &Connection, user_id: &str) -> Result<Vec<KeyRow>, DbError> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ?1 ORDER BY revoked_at IS NOT NULL, created_at DESC"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([user_id], key_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One of the user's keys; another user's key id finds nothing.
pub fn key_of_user(
    conn: &Connection,
    user_id: &str,
    key_id: &str,
) -> Result<Option<KeyRow>, DbError> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE user_id = ?1 AND id = ?2");
    Ok(conn
        .query_row(&sql, params![user_id, key_id], key_from_row)
        .optional()?)
}

/// `Ok(false)` when the key is not the user's or already revoked.
pub fn revoke_key(
    conn: &Connection,
    user_id: &str,
    key_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE user_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![user_id, key_id, now],
    )? == 1)
}

/// Revokes every key of the user still in force; returns how many.
pub fn revoke_all_keys(conn: &Connection, user_id: &str, now: i64) -> Result<usize, DbError> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user_id, now],
    )?)
}

// ---------------------------------------------------------------- security events

#[derive(Debug, Clone)]
pub struct EventRow {
    pub at: i64,
    pub kind: String,
    pub ip: String,
    pub user_agent: String,
    pub detail: String,
}

pub fn add_event(
    conn: &Connection,
    user_id: &str,
    kind: &str,
    ip: &str,
    user_agent: &str,
    detail: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO security_events (user_id, at, kind, ip, user_agent, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![user_id, now, kind, ip, user_agent, detail],
    )?;
    Ok(())
}

pub fn list_events(conn: &Connection, user_id: &str, limit: i64) -> Result<Vec<EventRow>, DbError> {
    let mut stmt = conn.prepare(
        "SELECT at, kind, ip, user_agent, detail FROM security_events
         WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![user_id, limit], |r| {
        Ok(EventRow {
            at: r.get(0)?,
            kind: r.get(1)?,
            ip: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            user_agent: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
            detail: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Whether the user signed in before from this address or this browser family.
pub fn known_device(
    conn: &Connection,
    user_id: &str,
    ip: &str,
    device: &str,
) -> Result<bool, DbError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM security_events
         WHERE user_id = ?1 AND kind = 'sign_in' AND (ip = ?2 OR detail = ?3))",
        params![user_id, ip, device],
        |r| r.get(0),
    )?)
}

// ---------------------------------------------------------------- invites

pub fn insert_invite(
    conn: &Connection,
    hash: &[u8],
    created_by: Option<&str>,
    uses: i64,
    expires_at: Option<i64>,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO invites (code_hash, created_by, created_at, expires_at, uses_left) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![hash, created_by, now, expires_at, uses],
    )?;
    Ok(())
}

/// Uses one use of an invite; `Ok(false)` if it is unknown, used up or expired.
pub fn take_invite(conn: &Connection, hash: &[u8], now: i64) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE invites SET uses_left = uses_left - 1
         WHERE code_hash = ?1 AND uses_left > 0 AND (expires_at IS NULL OR expires_at > ?2)",
        params![hash, now],
    )? == 1)
}

// ---------------------------------------------------------------- two-factor

/// The user's TOTP secret (enabled or only being set up) and the last step accepted.
pub fn totp_state(
    conn: &Connection,
    user_id: &str,
) -> Result<Option<(String, bool, Option<i64>)>, DbError> {
    Ok(conn
        .query_row(
            "SELECT totp_secret, totp_enabled_at IS NOT NULL, totp_last_step FROM users
             WHERE id = ?1 AND totp_secret IS NOT NULL",
            [user_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?)
}

/// Stores a secret being set up; it protects nothing until [`enable_totp`].
pub fn set_pending_totp(
    conn: &Connection,
    user_id: &str,
    secret: &str,
    now: i64,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET totp_secret = ?2, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = ?3
         WHERE id = ?1 AND totp_enabled_at IS NULL",
        params![user_id, secret, now],
    )?;
    Ok(())
}

pub fn enable_totp(conn: &Connection, user_id: &str, step: i64, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET totp_enabled_at = ?3, totp_last_step = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, step, now],
    )?;
    Ok(())
}

pub fn disable_totp(conn: &Connection, user_id: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL, updated_at = ?2
         WHERE id = ?1",
        params![user_id, now],
    )?;
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
    Ok(())
}

/// Records the step a code was accepted in; `Ok(false)` if that step (or a later one) was used.
pub fn use_totp_step(conn: &Connection, user_id: &str, step: i64) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE users SET totp_last_step = ?2
         WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        params![user_id, step],
    )? == 1)
}

pub fn replace_recovery_codes(
    conn: &Connection,
    user_id: &str,
    hashes: &[Vec<u8>],
) -> Result<(), DbError> {
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?1", [user_id])?;
    let mut stmt =
        conn.prepare("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?1, ?2)")?;
    for hash in hashes {
        stmt.execute(params![user_id, hash])?;
    }
    Ok(())
}

/// Uses a recovery code up; `Ok(false)` if unknown or used.
pub fn take_recovery_code(
    conn: &Connection,
    user_id: &str,
    hash: &[u8],
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE recovery_codes SET used_at = ?3 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        params![user_id, hash, now],
    )? == 1)
}

pub fn recovery_codes_left(conn: &Connection, user_id: &str) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
        [user_id],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_list_that_cannot_be_read_allows_nothing() {
        assert_eq!(allow_list(None), None);
        assert_eq!(
            allow_list(Some(r#"["a","b"]"#.to_owned())),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(allow_list(Some("not json".to_owned())), Some(Vec::new()));
        assert_eq!(allow_list(Some("{}".to_owned())), Some(Vec::new()));
    }
}

// ---------------------------------------------------------------- the admin console's lists

/// What the admin's user list is filtered by; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Part of the name or the email address.
    pub text: Option<String>,
    pub status: Option<Status>,
    pub role: Option<Role>,
    /// A tier's name, or `default` for accounts in the default tier.
    pub tier: Option<String>,
    /// Signed up at or after (unix ms).
    pub joined_from: Option<i64>,
    /// Signed up before (unix ms).
    pub joined_to: Option<i64>,
}

/// One account in the admin's list.
#[derive(Debug, Clone)]
pub struct ListedUser {
    pub user: User,
    pub tier: Option<String>,
    pub balance: i64,
    /// The last time any of its sessions was seen.
    pub last_seen: Option<i64>,
}

/// `%part%` for LIKE, with LIKE's own characters taken literally.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The accounts that match, newest first: one page of them and how many match in all.
pub fn find_users(
    conn: &Connection,
    query: &UserQuery,
    offset: i64,
    limit: i64,
) -> Result<(Vec<ListedUser>, i64), DbError> {
    const MATCHES: &str =
        "(?1 IS NULL OR u.email LIKE ?1 ESCAPE '\\' OR u.name LIKE ?1 ESCAPE '\\')
        AND (?2 IS NULL OR u.status = ?2) AND (?3 IS NULL OR u.role = ?3)
        AND (?4 IS NULL OR (?4 = 'default' AND u.tier IS NULL) OR u.tier = ?4)
        AND (?5 IS NULL OR u.created_at >= ?5) AND (?6 IS NULL OR u.created_at < ?6)";
    let text = query
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(like_pattern);
    let filters = params![
        text,
        query.status.map(Status::as_str),
        query.role.map(Role::as_str),
        query.tier,
        query.joined_from,
        query.joined_to,
    ];
    let total: i64 = conn.query_row(
        &format!("SELECT count(*) FROM users u WHERE {MATCHES}"),
        filters,
        |r| r.get(0),
    )?;
    let sql = format!(
        "SELECT {USER_COLUMNS}, u.tier, u.balance,
                (SELECT max(s.last_seen_at) FROM sessions s WHERE s.user_id = u.id)
         FROM users u WHERE {MATCHES} ORDER BY u.created_at DESC, u.id LIMIT ?7 OFFSET ?8"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(
        params![
            text,
            query.status.map(Status::as_str),
            query.role.map(Role::as_str),
            query.tier,
            query.joined_from,
            query.joined_to,
            limit,
            offset
        ],
        |r| {
            Ok(ListedUser {
                user: user_from_row(r, 0)?,
                tier: r.get(USER_COLUMN_COUNT)?,
                balance: r.get(USER_COLUMN_COUNT + 1)?,
                last_seen: r.get(USER_COLUMN_COUNT + 2)?,
            })
        },
    )?;
    Ok((rows.collect::<Result<_, _>>()?, total))
}

/// How many accounts there are in each status: active, pending, suspended.
pub fn count_by_status(conn: &Connection) -> Result<(i64, i64, i64), DbError> {
    Ok(conn.query_row(
        "SELECT count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'pending'),
                count(*) FILTER (WHERE status = 'suspended')
         FROM users",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?)
}

/// How many invites are still in force, and how many sign-ups they allow between them.
pub fn invites_in_force(conn: &Connection, now: i64) -> Result<(i64, i64), DbError> {
    Ok(conn.query_row(
        "SELECT count(*), coalesce(sum(uses_left), 0) FROM invites
         WHERE uses_left > 0 AND (expires_at IS NULL OR expires_at > ?1)",
        [now],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}
