//! `/admin/users`: find accounts, see one whole, and act on it — approve or reject a sign-up,
//! suspend, change role, tier or cap, book credit, revoke a key, reset the second factor, sign
//! out everywhere, export, delete — and create accounts. Every action goes through the same
//! service functions as the owner's own (`accounts`), and leaves an audit row.
//! One module because the list, the account's page and its actions share one view of the
//! account: a refused action shows that page again with the refusal beside its form.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

use super::{AppState, Console, DAY_MS, Posted, day_param, posted};
use crate::accounts::moderation::{self, By};
use crate::accounts::{self, ErasedBy};
use crate::clock::format_ms;
use crate::db::accounts::{self as repo, ListedUser, Role, Status, User, UserQuery};
use crate::db::ledger::Kind;
use crate::money::Money;
use crate::web::account::form_error;
use crate::web::dashboard::{render_with, see_other};
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/users", web::get().to(list))
        .route("/admin/users", web::post().to(create))
        .route("/admin/users/{id}", web::get().to(detail))
        .route("/admin/users/{id}/export", web::get().to(export))
        .route("/admin/users/{id}/{action}", web::post().to(act));
}

/// Accounts on one page of the list.
const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    tier: String,
    /// Signed up on or after this day (YYYY-MM-DD).
    #[serde(default)]
    from: String,
    /// Signed up on or before this day (YYYY-MM-DD).
    #[serde(default)]
    to: String,
    page: Option<i64>,
    notice: Option<String>,
}

impl ListQuery {
    /// The filter the query asks for; a value that is not one of the choices is a 400 naming
    /// the field.
    fn filter(&self) -> Result<UserQuery, WebError> {
        let bad = |field: &str, value: &str| {
            WebError::BadRequest(format!("{field}: {value:?} is not one of the choices"))
        };
        Ok(UserQuery {
            text: Some(self.q.clone()).filter(|q| !q.trim().is_empty()),
            status: match self.status.as_str() {
                "" => None,
                other => Some(parse_status(other).ok_or_else(|| bad("status", other))?),
            },
            role: match self.role.as_str() {
                "" => None,
                other => Some(parse_role(other).ok_or_else(|| bad("role", other))?),
            },
            tier: Some(self.tier.clone()).filter(|t| !t.is_empty()),
            joined_from: day_param("from", &self.from)?,
            joined_to: day_param("to", &self.to)?.map(|d| d + DAY_MS),
        })
    }

    /// The list's address with the same filters on another page.
    fn page_link(&self, page: i64) -> String {
        let pairs = [
            ("q", self.q.as_str()),
            ("status", &self.status),
            ("role", &self.role),
            ("tier", &self.tier),
            ("from", &self.from),
            ("to", &self.to),
        ];
        let mut link = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
            link.append_pair(name, value);
        }
        link.append_pair("page", &page.to_string());
        format!("/admin/users?{}", link.finish())
    }
}

fn parse_status(text: &str) -> Option<Status> {
    [Status::Active, Status::Pending, Status::Suspended]
        .into_iter()
        .find(|s| s.as_str() == text)
}

fn parse_role(text: &str) -> Option<Role> {
    [Role::User, Role::Admin]
        .into_iter()
        .find(|r| r.as_str() == text)
}

/// One account in the list, written for people.
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub status: &'static str,
    pub tier: String,
    pub balance: String,
    pub joined: String,
    pub last_seen: String,
}

impl UserRow {
    pub fn status_class(&self) -> &'static str {
        status_class(self.status)
    }

    pub(super) fn new(listed: ListedUser, currency: &str) -> UserRow {
        let user = listed.user;
        UserRow {
            role: user.role.as_str(),
            status: user.status.as_str(),
            tier: listed.tier.unwrap_or_else(|| "default".to_owned()),
            balance: Money::from_micros(listed.balance).amount_in(currency),
            joined: format_ms(user.created_at),
            last_seen: listed.last_seen.map(format_ms).unwrap_or_default(),
            id: user.id,
            name: user.name,
            email: user.email,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/users.html")]
struct UsersPage {
    layout: Layout,
    console: Console,
    query: ListQuery,
    rows: Vec<UserRow>,
    total: i64,
    page: i64,
    pages: i64,
    previous: Option<String>,
    next: Option<String>,
    tiers: Vec<String>,
    notice: Option<String>,
    error: Option<String>,
    min_length: usize,
}

async fn users_page(
    state: &AppState,
    admin: &Admin,
    query: ListQuery,
    notice: Option<String>,
    error: Option<String>,
) -> Result<UsersPage, WebError> {
    let filter = query.filter()?;
    let page = query.page.unwrap_or(1).max(1);
    let offset = (page - 1).saturating_mul(PAGE_SIZE);
    let (found, total) = state
        .db
        .run(move |conn| repo::find_users(conn, &filter, offset, PAGE_SIZE))
        .await?;
    let currency = &state.config().billing.currency;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    Ok(UsersPage {
        layout: super::layout(state, "Users"),
        console: Console::new(state, &admin.0, "users"),
        rows: found
            .into_iter()
            .map(|u| UserRow::new(u, currency))
            .collect(),
        total,
        page,
        pages,
        previous: (page > 1).then(|| query.page_link(page - 1)),
        next: (page < pages).then(|| query.page_link(page + 1)),
        query,
        tiers: tier_names(state),
        notice,
        error,
        min_length: state.config().accounts.password_min_length,
    })
}

/// `GET /admin/users`: search by name or address, filter by status, role, tier and sign-up
/// date, fifty to a page.
async fn list(
    state: web::Data<AppState>,
    admin: Admin,
    query: web::Query<ListQuery>,
) -> Result<UsersPage, WebError> {
    let mut query = query.into_inner();
    let notice = query.notice.take().and_then(|n| list_notice(&n));
    users_page(&state, &admin, query, notice, None).await
}

fn list_notice(code: &str) -> Option<String> {
    Some(
        match code {
            "deleted" => "The account is deleted; its ledger rows are kept, detached from it.",
            "rejected" => "The sign-up is rejected and the account deleted.",
            _ => return None,
        }
        .to_owned(),
    )
}

#[derive(Deserialize)]
pub(super) struct NewUserForm {
    csrf: String,
    name: String,
    email: String,
    password: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/users`: creates a confirmed, active account with a password the admin gives
/// its owner.
async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    form: Posted<NewUserForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let admin_role = match form.role.as_str() {
        "" | "user" => false,
        "admin" => true,
        other => {
            return Err(WebError::BadRequest(format!(
                "role: {other:?} is not one of the choices"
            )));
        }
    };
    let config = state.config().clone();
    let by_id = admin.0.user.id.clone();
    let ip = admin.0.client.ip.to_string();
    let created = state
        .db
        .run(move |conn| {
            let user = accounts::ScriptedUser {
                name: &form.name,
                email: &form.email,
                password: &form.password,
                admin: admin_role,
                min_length: config.accounts.password_min_length,
                credit: config.billing.welcome_credit(),
            };
            let by = By {
                actor: &by_id,
                ip: Some(&ip),
            };
            let role = if admin_role { "admin" } else { "user" };
            Ok(accounts::create_user_blocking(conn, &user).and_then(|id| {
                moderation::note(conn, &id, "user.create", &format!("created as {role}"), by)?;
                Ok(id)
            }))
        })
        .await?;
    match created {
        Ok(id) => Ok(see_other(&format!("/admin/users/{id}?notice=created"))),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page =
                users_page(&state, &admin, ListQuery::default(), None, Some(message)).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

// ---------------------------------------------------------------- one account

pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub state: &'static str,
    pub spent: String,
    pub last_used: String,
}

pub struct LedgerView {
    pub at: String,
    pub kind: String,
    pub amount: String,
    pub balance_after: String,
    pub note: String,
}

pub struct UsageView {
    pub at: String,
    pub endpoint: &'static str,
    pub model: String,
    pub provider: String,
    pub status: u16,
    pub tokens: i64,
    pub cost: String,
}

pub struct SessionView {
    pub device: String,
    pub ip: String,
    pub last_seen: String,
}

pub struct EventView {
    pub at: String,
    pub kind: String,
    pub ip: String,
    pub detail: String,
}

pub struct FlagView {
    pub at: String,
    pub kind: String,
    pub detail: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/user.html")]
struct UserPage {
    layout: Layout,
    console: Console,
    user: User,
    is_self: bool,
    status: &'static str,
    role: &'static str,
    joined: String,
    restricted_since: Option<String>,
    tier: String,
    tiers: Vec<String>,
    cap: String,
    balance: String,
    month_spent: String,
    usage_30d: (i64, i64, String),
    ledger: Vec<LedgerView>,
    keys: Vec<KeyView>,
    usage: Vec<UsageView>,
    sessions: Vec<SessionView>,
    events: Vec<EventView>,
    flags: Vec<FlagView>,
    currency: String,
    notice: Option<&'static str>,
    /// The form that was refused, and why: shown beside that form.
    error: Option<(Action, String)>,
}

impl UserPage {
    pub fn status_class(&self) -> &'static str {
        status_class(self.status)
    }

    fn error_for(&self, action: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(a, _)| a.name() == action)
            .map(|(_, message)| message.as_str())
    }
}

/// Rows of each kind the page shows.
const SHOWN: i64 = 20;

async fn user_page(
    state: &AppState,
    admin: &Admin,
    id: String,
    notice: Option<&'static str>,
    error: Option<(Action, String)>,
) -> Result<UserPage, WebError> {
    use crate::db::{billing, ledger, usage};
    let since = crate::db::now_ms() - 30 * DAY_MS;
    let (user, wallet, ledger, keys, recent, totals, sessions, events, flags) = state
        .db
        .run(move |conn| {
            let user = repo::user_by_id(conn, &id)?.ok_or(crate::db::DbError::NotFound)?;
            Ok((
                billing::wallet(conn, &id)?,
                ledger::for_user(conn, &id, None, SHOWN)?,
                repo::list_keys(conn, &id)?,
                usage::recent_for_user(conn, &id, SHOWN)?,
                usage::totals_since(conn, &id, since)?,
                repo::list_sessions(conn, &id)?,
                repo::list_events(conn, &id, SHOWN)?,
                billing::open_flags(conn, 200)?
                    .into_iter()
                    .filter(|f| f.email.as_deref() == Some(user.email.as_str()))
                    .collect::<Vec<_>>(),
                user,
            ))
        })
        .await
        .map(|(w, l, k, r, t, s, e, f, u)| (u, w, l, k, r, t, s, e, f))
        .map_err(|e| match e {
            crate::db::DbError::NotFound => WebError::NotFound,
            other => other.into(),
        })?;
    let currency = state.config().billing.currency.clone();
    let amount = |micros: i64| Money::from_micros(micros).amount_in(&currency);
    let cost = |micros: i64| Money::from_micros(micros).cost_in(&currency);
    let month = crate::billing::wallet::month_of(crate::db::now_ms());
    Ok(UserPage {
        layout: super::layout(state, &user.name),
        console: Console::new(state, &admin.0, "users"),
        is_self: user.id == admin.0.user.id,
        status: user.status.as_str(),
        role: user.role.as_str(),
        joined: format_ms(user.created_at),
        restricted_since: user.restricted_at.map(format_ms),
        tier: wallet.tier.clone().unwrap_or_else(|| "default".to_owned()),
        tiers: tier_names(state),
        cap: wallet
            .monthly_cap
            .map(|c| Money::from_micros(c).to_decimal_string())
            .unwrap_or_default(),
        balance: amount(wallet.balance),
        month_spent: cost(wallet.spent_in(month)),
        usage_30d: (totals.requests, totals.tokens(), cost(totals.cost)),
        ledger: ledger
            .into_iter()
            .map(|r| LedgerView {
                at: format_ms(r.at),
                // A request's debit is a cost, often below a cent; the rest are amounts.
                amount: if r.kind == "usage" {
                    cost(r.amount)
                } else {
                    amount(r.amount)
                },
                kind: r.kind,
                balance_after: amount(r.balance_after),
                note: r.note.unwrap_or_default(),
            })
            .collect(),
        keys: keys
            .into_iter()
            .map(|k| KeyView {
                state: if k.revoked_at.is_some() {
                    "revoked"
                } else if k.expires_at.is_some_and(|e| e <= crate::db::now_ms()) {
                    "expired"
                } else {
                    "in force"
                },
                spent: cost(k.spent),
                last_used: k.last_used_at.map(format_ms).unwrap_or_default(),
                id: k.id,
                name: k.name,
                prefix: k.prefix,
            })
            .collect(),
        usage: recent
            .into_iter()
            .map(|u| UsageView {
                at: format_ms(u.at),
                endpoint: u.endpoint.as_str(),
                model: u.model.unwrap_or_default(),
                provider: u.provider.unwrap_or_default(),
                status: u.status,
                tokens: u.input_tokens + u.output_tokens,
                cost: cost(u.cost),
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionView {
                device: accounts::describe_user_agent(&s.user_agent),
                ip: s.ip,
                last_seen: format_ms(s.last_seen_at),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventView {
                at: format_ms(e.at),
                kind: e.kind.replace('_', " "),
                ip: e.ip,
                detail: e.detail,
            })
            .collect(),
        flags: flags
            .into_iter()
            .map(|f| FlagView {
                at: format_ms(f.at),
                kind: f.kind.replace('_', " "),
                detail: f.detail,
            })
            .collect(),
        user,
        currency,
        notice,
        error,
    })
}

#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /admin/users/{id}`: the account whole — profile, status, tier, wallet and ledger, keys,
/// usage, sessions, security events and flags — with its actions.
async fn detail(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<UserPage, WebError> {
    let notice = query
        .notice
        .as_deref()
        .and_then(Action::parse)
        .map(Action::done);
    user_page(&state, &admin, id.into_inner(), notice, None).await
}

/// `GET /admin/users/{id}/export`: the same copy of the account's data the owner downloads.
async fn export(
    state: web::Data<AppState>,
    admin: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let id = id.into_inner();
    let lookup = id.clone();
    let user = state
        .db
        .run(move |conn| repo::user_by_id(conn, &lookup))
        .await?
        .ok_or(WebError::NotFound)?;
    let export = accounts::export(&state.accounts, &user).await?;
    let (actor, ip) = (admin.0.user.id.clone(), admin.0.client.ip.to_string());
    state
        .db
        .run(move |conn| {
            let by = By {
                actor: &actor,
                ip: Some(&ip),
            };
            Ok(moderation::note(
                conn,
                &id,
                "user.export",
                "a copy of the account's data",
                by,
            ))
        })
        .await??;
    crate::web::dashboard::export_download(&state, &export, &format!("account-{}", user.id))
}

/// What can be done to an account from its page, each a form posting to
/// `/admin/users/{id}/{name}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Approve,
    Reject,
    Suspend,
    Unsuspend,
    Role,
    Tier,
    Cap,
    Wallet,
    RevokeKey,
    ResetTwoFactor,
    SignOut,
    Delete,
    /// Only as a notice: the account was just created.
    Created,
}

impl Action {
    const ALL: [Action; 13] = [
        Action::Approve,
        Action::Reject,
        Action::Suspend,
        Action::Unsuspend,
        Action::Role,
        Action::Tier,
        Action::Cap,
        Action::Wallet,
        Action::RevokeKey,
        Action::ResetTwoFactor,
        Action::SignOut,
        Action::Delete,
        Action::Created,
    ];

    fn name(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Suspend => "suspend",
            Action::Unsuspend => "unsuspend",
            Action::Role => "role",
            Action::Tier => "tier",
            Action::Cap => "cap",
            Action::Wallet => "wallet",
            Action::RevokeKey => "revoke-key",
            Action::ResetTwoFactor => "reset-2fa",
            Action::SignOut => "sign-out",
            Action::Delete => "delete",
            Action::Created => "created",
        }
    }

    fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == text)
    }

    /// What the page says once the action went through.
    fn done(self) -> &'static str {
        match self {
            Action::Approve => "The sign-up is approved: the account can sign in and use the API.",
            Action::Reject => "The sign-up is rejected.",
            Action::Suspend => {
                "The account is suspended: its sessions are ended and its keys refused."
            }
            Action::Unsuspend => "The account is active again.",
            Action::Role => "The role is changed.",
            Action::Tier => "The tier is changed.",
            Action::Cap => "The monthly cap is changed.",
            Action::Wallet => "The wallet is booked.",
            Action::RevokeKey => "The key is revoked; the API refuses it from now on.",
            Action::ResetTwoFactor => "Two-factor sign-in is off; the owner can set it up again.",
            Action::SignOut => "Every session of the account is ended.",
            Action::Delete => "The account is deleted.",
            Action::Created => "The account is created. Give its owner the password you chose.",
        }
    }

    /// Actions that ask for the admin's password again when the sign-in is not recent.
    fn is_dangerous(self) -> bool {
        matches!(
            self,
            Action::Delete | Action::Reject | Action::Wallet | Action::Role
        )
    }
}

#[derive(Deserialize)]
pub(super) struct ActionForm {
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    cap: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    password: String,
    /// The account's address, typed again to delete it.
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/users/{id}/{action}`: one action on the account. It goes through, and the
/// browser returns to the account's page with a notice; or the page is shown again with the
/// refusal beside the form.
async fn act(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: Admin,
    path: web::Path<(String, String)>,
    form: Posted<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let form = posted(form)?;
    admin.0.check_csrf(&form.csrf)?;
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)
        .filter(|a| *a != Action::Created)
        .ok_or(WebError::NotFound)?;
    let lookup = id.clone();
    let target = state
        .db
        .run(move |conn| repo::user_by_id(conn, &lookup))
        .await?
        .ok_or(WebError::NotFound)?;
    match perform(&state, &admin, &target, action, form).await {
        Ok(()) if matches!(action, Action::Delete | Action::Reject) => Ok(see_other(&format!(
            "/admin/users?notice={}",
            if action == Action::Delete {
                "deleted"
            } else {
                "rejected"
            }
        ))),
        Ok(()) => Ok(see_other(&format!(
            "/admin/users/{id}?notice={}",
            action.name()
        ))),
        Err(e) => {
            let (message, status) = form_error(e)?;
            let page = user_page(&state, &admin, id, None, Some((action, message))).await?;
            Ok(render_with(page, &req, status))
        }
    }
}

async fn perform(
    state: &AppState,
    admin: &Admin,
    target: &User,
    action: Action,
    form: ActionForm,
) -> Result<(), accounts::AccountError> {
    use accounts::AccountError;
    let signed_in = &admin.0;
    if action.is_dangerous() {
        moderation::confirm_admin(
            &state.accounts,
            &signed_in.user,
            &signed_in.proof(&form.password),
        )
        .await?;
    }
    let is_self = target.id == signed_in.user.id;
    if is_self
        && matches!(
            action,
            Action::Suspend | Action::Delete | Action::Reject | Action::Role
        )
    {
        return Err(AccountError::Invalid(
            "Not on your own account: ask another admin.".to_owned(),
        ));
    }
    let ip = signed_in.client.ip.to_string();
    if matches!(action, Action::Delete | Action::Reject) {
        if action == Action::Reject && target.status != Status::Pending {
            return Err(AccountError::Invalid(
                "Only a sign-up waiting for approval can be rejected.".to_owned(),
            ));
        }
        if action == Action::Delete && !form.confirm.trim().eq_ignore_ascii_case(&target.email) {
            return Err(AccountError::Invalid(
                "Type the account's email address to confirm the deletion.".to_owned(),
            ));
        }
        accounts::erase(
            &state.accounts,
            target,
            ErasedBy::Admin(&signed_in.user.id),
            Some(&ip),
        )
        .await?;
        return Ok(());
    }
    let (accounts_state, target, actor) = (
        state.accounts.clone(),
        target.clone(),
        signed_in.user.id.clone(),
    );
    state
        .db
        .run(move |conn| {
            let by = By {
                actor: &actor,
                ip: Some(&ip),
            };
            Ok(apply(&accounts_state, conn, &target, action, &form, by))
        })
        .await??;
    Ok(())
}

/// The actions that are one change in the database, on the blocking pool.
fn apply(
    state: &accounts::Accounts,
    conn: &mut rusqlite::Connection,
    target: &User,
    action: Action,
    form: &ActionForm,
    by: By<'_>,
) -> Result<(), accounts::AccountError> {
    use accounts::AccountError;
    let invalid = |m: String| Err(AccountError::Invalid(m));
    let id = target.id.as_str();
    match action {
        Action::Approve => {
            if target.status != Status::Pending {
                return invalid("This account is not waiting for approval.".to_owned());
            }
            moderation::set_status(conn, id, Status::Active, "sign-up approved", by)?;
        }
        Action::Suspend => {
            moderation::set_status(conn, id, Status::Suspended, &form.reason, by)?;
        }
        Action::Unsuspend => {
            moderation::set_status(conn, id, Status::Active, &form.reason, by)?;
        }
        Action::Role => {
            let Some(role) = parse_role(&form.role) else {
                return invalid(format!("role: {:?} is not one of the choices", form.role));
            };
            moderation::set_role(conn, id, role, by)?;
        }
        Action::Tier => {
            let tier = Some(form.tier.as_str()).filter(|t| !t.is_empty() && *t != "default");
            moderation::set_tier(state, conn, id, tier, by)?;
        }
        Action::Cap => {
            let cap = match form.cap.trim() {
                "" => None,
                text => match text.parse::<Money>() {
                    Ok(cap) => Some(cap),
                    Err(_) => return invalid("cap: expected an amount such as 25.00".to_owned()),
                },
            };
            moderation::set_cap(state, conn, id, cap, by)?;
        }
        Action::Wallet => {
            let kind = match form.kind.as_str() {
                "grant" => Kind::Grant,
                "adjustment" => Kind::Adjustment,
                other => return invalid(format!("kind: {other:?} is not one of the choices")),
            };
            let Ok(amount) = form.amount.trim().parse::<Money>() else {
                return invalid("amount: expected an amount such as 10.00 or -2.50".to_owned());
            };
            moderation::book(state, conn, id, kind, amount, &form.reason, by)?;
        }
        Action::RevokeKey => moderation::revoke_key(conn, id, &form.key, by)?,
        Action::ResetTwoFactor => {
            moderation::reset_second_factor(conn, id, by)?;
        }
        Action::SignOut => {
            moderation::sign_out_everywhere(conn, id, by)?;
        }
        Action::Delete | Action::Reject | Action::Created => {
            return Err(AccountError::Internal(format!(
                "{} is not a database change",
                action.name()
            )));
        }
    }
    Ok(())
}

/// A status as the pages' badge shows it.
/// The configured tiers' names, for the tier choices.
fn tier_names(state: &AppState) -> Vec<String> {
    state
        .config()
        .tiers
        .iter()
        .map(|t| t.name.clone())
        .collect()
}

fn status_class(status: &str) -> &'static str {
    match status {
        "active" => "badge-ok",
        "pending" => "badge-warn",
        _ => "badge-error",
    }
}

#[cfg(test)]
mod tests {
    use super::{Action, ListQuery};

    #[test]
    fn every_action_name_reads_back() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(action));
        }
        assert_eq!(Action::parse("drop-table"), None);
    }

    #[test]
    fn a_filter_outside_its_choices_names_the_field() {
        let query = ListQuery {
            status: "gone".to_owned(),
            ..ListQuery::default()
        };
        let Err(e) = query.filter() else {
            panic!("accepted an unknown status")
        };
        assert!(e.to_string().starts_with("status:"), "{e}");
        let query = ListQuery {
            from: "yesterday".to_owned(),
            ..ListQuery::default()
        };
        assert!(query.filter().is_err());
    }
}
