//! Ready-to-paste setup for the coding agents and SDKs, with this server's address.

use actix_web::web;
use askama::Template;
use askama_web::WebTemplate;

use crate::setup::{ExampleModels, Naming, PLACEHOLDER_KEY, Snippets, snippets};
use crate::web::AppState;
use crate::web::session::SignedIn;
use crate::web::site::Layout;

use super::{Dash, layout};

#[derive(Template, WebTemplate)]
#[template(path = "dashboard/setup.html")]
pub(super) struct SetupPage {
    pub(super) layout: Layout,
    pub(super) dash: Dash,
    pub(super) base: String,
    pub(super) setup: Snippets,
}

pub(super) async fn setup(state: web::Data<AppState>, signed_in: SignedIn) -> SetupPage {
    SetupPage {
        layout: layout(&state, "Set up your tools"),
        dash: Dash::new(&state, &signed_in, "setup"),
        base: state.public_url.to_string(),
        setup: snippets(
            &state.public_url,
            PLACEHOLDER_KEY,
            &Naming::for_site(&state.config().site.name),
            &ExampleModels::from_config(&state.config()),
        ),
    }
}
