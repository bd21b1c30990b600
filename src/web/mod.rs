//! HTTP: the application (routes and middleware) that `serve` and the tests both start.

pub mod account;
pub mod admin;
pub mod assets;
pub mod billing;
pub mod charts;
pub mod dashboard;
pub mod error;
pub mod middleware;
pub mod session;
pub mod site;
pub mod usage;

use std::sync::{Arc, Mutex};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, middleware::Compress, middleware::from_fn, web};

use crate::auth::password::Hasher;
use crate::auth::throttle::Throttle;
use crate::config::Config;
use crate::db::Db;
use crate::mail::Mailer;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    /// The public URL without a trailing slash.
    pub public_url: Arc<str>,
    pub pages: Arc<site::Pages>,
    pub hasher: Hasher,
    /// Failed sign-ins (and reset requests) per client address.
    pub address_throttle: Arc<Throttle>,
    /// Failed sign-ins and password checks per account.
    pub account_throttle: Arc<Throttle>,
    pub mailer: Mailer,
    pub gateway: Arc<crate::gateway::Gateway>,
    /// Hash of the one-time link that creates the first admin, while there is none.
    pub admin_setup: Arc<Mutex<Option<Vec<u8>>>>,
    /// Stripe, when `[stripe]` is configured.
    pub stripe: Option<crate::billing::stripe::StripeClient>,
}

impl AppState {
    /// `public_url` is the configured one, or the one derived from the bound address.
    pub fn new(
        config: Arc<Config>,
        db: Db,
        public_url: String,
        mailer: Mailer,
        gateway: Arc<crate::gateway::Gateway>,
    ) -> Result<AppState, crate::config::ConfigError> {
        let pages = site::Pages::render(&config, &public_url)?;
        let stripe = billing::stripe_client(&config)?;
        Ok(AppState {
            stripe,
            hasher: Hasher::new(config.accounts.max_concurrent_hashes),
            address_throttle: Arc::new(Throttle::new(crate::auth::throttle::ADDRESS_FREE_FAILURES)),
            account_throttle: Arc::new(Throttle::new(crate::auth::throttle::ACCOUNT_FREE_FAILURES)),
            admin_setup: Arc::new(Mutex::new(None)),
            config,
            db,
            public_url: public_url.into(),
            pages: Arc::new(pages),
            mailer,
            gateway,
        })
    }
}

pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limit = state.config.server.max_body_bytes;
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::FormConfig::default().limit(limit))
        .app_data(web::JsonConfig::default().limit(limit))
        .wrap(from_fn(middleware::same_origin))
        .wrap(Compress::default())
        .wrap(from_fn(middleware::envelope))
        .configure(crate::gateway::routes)
        .configure(site::routes)
        .configure(account::routes)
        .configure(dashboard::routes)
        .configure(admin::routes)
        .configure(usage::routes)
        .configure(billing::routes)
        .default_service(web::to(site::not_found))
}
