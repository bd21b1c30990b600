//! The admin console: for accounts with the admin role only; anyone else gets the site's 404,
//! as if the pages did not exist. A module per page; this one holds the routes and the frame
//! the console's pages share.

mod analytics;
mod audit;
mod codes;
mod flags;
mod home;
mod notices;
mod outbox;
mod providers;
mod site;
mod system;
mod users;

use actix_web::web;

use super::AppState;
use super::dashboard::Dash;
use super::session::{Admin, SignedIn};
use super::site::Layout;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(home::routes)
        .configure(analytics::routes)
        .configure(audit::routes)
        .configure(codes::routes)
        .configure(notices::routes)
        .configure(outbox::routes)
        .configure(providers::routes)
        .configure(flags::routes)
        .configure(site::routes)
        .configure(system::routes)
        .configure(users::routes);
}

/// What the console's frame shows around every page: its own navigation, with the signed-in
/// admin's name and the form token.
pub struct Console {
    /// The page the navigation marks as current.
    pub section: &'static str,
    pub dash: Dash,
}

impl Console {
    pub fn new(state: &AppState, signed_in: &SignedIn, section: &'static str) -> Console {
        Console {
            section,
            dash: Dash::new(state, signed_in, "admin"),
        }
    }

    /// The console's pages in the navigation's order: section, address, label.
    pub fn nav(&self) -> &'static [(&'static str, &'static str, &'static str)] {
        NAV
    }

    pub fn csrf(&self) -> &str {
        &self.dash.csrf
    }
}

const NAV: &[(&str, &str, &str)] = &[
    ("home", "/admin", "Overview"),
    ("users", "/admin/users", "Users"),
    ("codes", "/admin/codes", "Codes and invites"),
    ("analytics", "/admin/analytics", "Analytics"),
    ("site", "/admin/site", "Site analytics"),
    ("providers", "/admin/providers", "Providers"),
    ("flags", "/admin/flags", "Flags"),
    ("notices", "/admin/notices", "Notices"),
    ("outbox", "/admin/outbox", "Outbox"),
    ("audit", "/admin/audit", "Audit log"),
    ("system", "/admin/system", "System"),
];

/// A form posted to the console. Taken as a `Result` so that a malformed form from someone who
/// is not an admin still gets the 404 of the admin check, never a 400 that admits the page
/// exists; an admin's malformed form is a 400 naming what is wrong.
/// Writes the audit row of something an admin did that changes no account.
pub(super) async fn record(
    state: &AppState,
    admin: &Admin,
    action: &'static str,
    detail: String,
) -> Result<(), super::error::WebError> {
    let (actor, ip) = (admin.0.user.id.clone(), admin.0.client.ip.to_string());
    state
        .db
        .run(move |conn| {
            crate::db::audit::record(
                conn,
                &crate::db::audit::Entry {
                    at: crate::db::now_ms(),
                    actor: &actor,
                    action,
                    target: None,
                    detail: Some(&detail),
                    ip: Some(&ip),
                },
            )
        })
        .await?;
    Ok(())
}

pub(super) type Posted<T> = Result<web::Form<T>, actix_web::Error>;

pub(super) fn posted<T>(form: Posted<T>) -> Result<T, super::error::WebError> {
    form.map(web::Form::into_inner)
        .map_err(|e| super::error::WebError::BadRequest(e.to_string()))
}

/// A day in a filter (`YYYY-MM-DD`, UTC) as the unix ms it starts at; empty for none, and
/// anything else a 400 naming the field.
pub(super) fn day_param(field: &str, value: &str) -> Result<Option<i64>, super::error::WebError> {
    if value.is_empty() {
        return Ok(None);
    }
    crate::usage::parse_day(value)
        .map(|day| Some(day * DAY_MS))
        .ok_or_else(|| {
            super::error::WebError::BadRequest(format!("{field}: expected a date as YYYY-MM-DD"))
        })
}

/// Milliseconds in a day.
pub(super) const DAY_MS: i64 = 86_400_000;

pub fn layout(state: &AppState, title: &str) -> Layout {
    Layout::new(state, "admin", title).signed_in()
}
