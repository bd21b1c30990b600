//! `/admin`: the service at a glance — today and the last 30 days, sign-ups waiting, open
//! flags, the providers, the outbox, and the housekeeping jobs.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use super::analytics::TotalsView;
use super::users::UserRow;
use super::{AppState, Console, DAY_MS};
use crate::clock::format_ms;
use crate::db::accounts::{self as repo, Status, UserQuery};
use crate::db::outbox::Standing;
use crate::web::error::WebError;
use crate::web::session::Admin;
use crate::web::site::Layout;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(home));
}

/// Sign-ups the home page lists; the users page has them all.
const PENDING_SHOWN: i64 = 5;

pub struct ProviderGlance {
    pub name: String,
    pub serving: bool,
    pub state: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "admin/home.html")]
struct HomePage {
    layout: Layout,
    console: Console,
    today: TotalsView,
    month: TotalsView,
    accounts: (i64, i64, i64),
    pending: Vec<UserRow>,
    open_flags: usize,
    providers: Vec<ProviderGlance>,
    outbox: Standing,
    retention: String,
    backup: String,
}

/// `GET /admin`: what needs a look first.
async fn home(state: web::Data<AppState>, admin: Admin) -> Result<HomePage, WebError> {
    use crate::db::{billing, outbox, rollup, settings};
    let today = crate::db::now_ms() / DAY_MS;
    let (day, month, accounts, pending, flags, outbox, retention, backup) = state
        .db
        .run(move |conn| {
            let pending = UserQuery {
                status: Some(Status::Pending),
                ..UserQuery::default()
            };
            Ok((
                rollup::totals(conn, today, today + 1)?,
                rollup::totals(conn, today - 29, today + 1)?,
                repo::count_by_status(conn)?,
                repo::find_users(conn, &pending, 0, PENDING_SHOWN)?.0,
                billing::open_flags(conn, 1000)?.len(),
                outbox::standing(conn)?,
                crate::privacy::retention::last_run(conn)?,
                settings::get_dated(conn, crate::db::LAST_BACKUP_KEY)?,
            ))
        })
        .await?;
    let currency = &state.config().billing.currency;
    let providers = state
        .health
        .providers()
        .into_iter()
        .map(|p| ProviderGlance {
            serving: p.resting_for.is_none() && p.in_rotation,
            state: if !p.in_rotation {
                "out of rotation".to_owned()
            } else if let Some(rest) = p.resting_for {
                format!("resting for {} s", rest.as_secs() + 1)
            } else {
                "serving".to_owned()
            },
            name: p.name,
        })
        .collect();
    Ok(HomePage {
        layout: super::layout(&state, "Admin console"),
        console: Console::new(&state, &admin.0, "home"),
        today: TotalsView::new(String::new(), &day, currency),
        month: TotalsView::new(String::new(), &month, currency),
        accounts,
        pending: pending
            .into_iter()
            .map(|u| UserRow::new(u, currency))
            .collect(),
        open_flags: flags,
        providers,
        outbox,
        retention: retention
            .map(|r| format_ms(r.at))
            .unwrap_or_else(|| "not yet".to_owned()),
        backup: backup
            .map(|(path, at)| format!("{} ({path})", format_ms(at)))
            .unwrap_or_else(|| "none recorded".to_owned()),
    })
}
