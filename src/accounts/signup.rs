//! New accounts: sign-up in each sign-up mode, the first admin from the set-up link, and users
//! created from the command line.

use crate::auth::password;
use crate::auth::token;
use crate::client::ClientInfo;
use crate::config::SignupMode;
use crate::db::accounts::{self as repo, NewUser, Role, Status, TokenPurpose};
use crate::db::now_ms;
use crate::mail;

use super::{
    AccountError, Accounts, Actor, VERIFY_LINK_HOURS, invalid, issue_token, link, mail_context,
    normalize_email, normalize_name, queue, start_session,
};

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

/// What a sign-up did: the outcome every sign-up of this server shares, and the token of a new
/// session when the new account may be used at once.
pub struct SignedUp {
    pub outcome: SignUpOutcome,
    /// Set when the account was created now and needs neither an admin's approval nor a
    /// confirmed address. A taken address never gets one: where no confirmation is asked for,
    /// whoever typed the password of a new account may sign in with it anyway.
    pub session: Option<String>,
}

/// Whether an account made by sign-up may be used at once: no approval is due and no confirmed
/// address is required before it can do anything.
pub fn usable_at_once(state: &Accounts) -> bool {
    state.config.accounts.signup != SignupMode::Approval && !super::verification_required(state)
}

/// Creates an account, and signs it in when it may be used at once. The answer is the same
/// whether or not the address already had one, except that only a new account is signed in.
pub async fn sign_up(
    state: &Accounts,
    form: SignUp,
    client: &ClientInfo,
    actor: &Actor,
) -> Result<SignedUp, AccountError> {
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
    let sign_in_now = usable_at_once(state);
    let state2 = state.clone();
    let (client, actor) = (client.clone(), actor.clone());
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
                return Ok(Ok(None));
            }
            repo::add_event(&tx, &id, "signed_up", &actor.ip, &actor.user_agent, "", now)?;
            let session = if sign_in_now {
                repo::add_event(
                    &tx,
                    &id,
                    "sign_in",
                    &actor.ip,
                    &actor.user_agent,
                    &actor.device(),
                    now,
                )?;
                Some(start_session(&tx, &id, &client, &actor.user_agent, false)?)
            } else {
                None
            };
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
                    &link(&state2, "/verify", &secret),
                );
                queue(&tx, &email)?;
            }
            tx.commit()?;
            Ok(Ok(Some(session)))
        })
        .await?;
    match created {
        Ok(Some(session)) => {
            state.mailer.wake();
            Ok(SignedUp { outcome, session })
        }
        Ok(None) => Ok(SignedUp {
            outcome,
            session: None,
        }),
        Err(message) => invalid(message),
    }
}

// ---------------------------------------------------------------- sign-in

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
