//! The site, the dashboard and the admin console: their handlers, their state ([`AppState`]),
//! their middleware and their routes ([`routes`]). `crate::app` puts them together with the API.

pub mod account;
pub mod admin;
pub mod assets;
pub mod billing;
pub mod charts;
pub mod dashboard;
pub mod error;
pub mod legal;
pub mod middleware;
pub mod notices;
pub mod session;
pub mod site;
pub mod usage;

use std::sync::{Arc, Mutex};

use actix_web::web;

use crate::auth::password::Hasher;
use crate::auth::throttle::Throttle;
use crate::config::{Config, Live};
use crate::db::Db;
use crate::mail::Mailer;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The configuration, reloaded while the server runs; read it through [`AppState::config`].
    pub live: Arc<Live>,
    pub db: Db,
    /// The public URL without a trailing slash.
    pub public_url: Arc<str>,
    pub pages: Arc<legal::Pages>,
    pub hasher: Hasher,
    /// Failed sign-ins (and reset requests) per client address.
    pub address_throttle: Arc<Throttle>,
    /// Failed sign-ins and password checks per account.
    pub account_throttle: Arc<Throttle>,
    pub mailer: Mailer,
    /// The upstream providers' health, for the admin console.
    pub health: Arc<dyn crate::health::ProviderHealth>,
    /// Hash of the one-time link that creates the first admin, while there is none.
    pub admin_setup: Arc<Mutex<Option<Vec<u8>>>>,
    /// Stripe, when `[stripe]` is configured.
    pub stripe: Option<crate::billing::stripe::StripeClient>,
    /// The account flows, sharing this state's database, mailer, hasher and throttles.
    pub accounts: crate::accounts::Accounts,
    /// First-party page-view counting.
    pub analytics: crate::privacy::analytics::Analytics,
    /// The policy version in force and the earlier ones; the server sets it once the database
    /// has recorded the version.
    pub policy: Arc<crate::privacy::policy::Current>,
    /// Networks refused on every page; the server shares it with the gateway.
    pub blocklist: crate::abuse::Blocklist,
    /// New API keys waiting for the page that shows each once.
    pub fresh_keys: Arc<dashboard::FreshKeys>,
}

impl AppState {
    /// `public_url` is the configured one, or the one derived from the bound address.
    pub fn new(
        live: Arc<Live>,
        db: Db,
        public_url: String,
        mailer: Mailer,
        health: Arc<dyn crate::health::ProviderHealth>,
        analytics: crate::privacy::analytics::Analytics,
    ) -> Result<AppState, crate::config::ConfigError> {
        let config = live.get();
        let pages = legal::Pages::render(&config, &public_url)?;
        let config_date = config.policy.effective_date.clone();
        let stripe = billing::stripe_client(&config)?;
        let public_url: Arc<str> = public_url.into();
        let accounts = crate::accounts::Accounts::new(
            config.clone(),
            db.clone(),
            public_url.clone(),
            mailer.clone(),
        );
        Ok(AppState {
            stripe,
            hasher: accounts.hasher.clone(),
            address_throttle: accounts.address_throttle.clone(),
            account_throttle: accounts.account_throttle.clone(),
            admin_setup: Arc::new(Mutex::new(None)),
            live,
            db,
            public_url,
            pages: Arc::new(pages),
            mailer,
            health,
            accounts,
            analytics,
            policy: Arc::new(crate::privacy::policy::Current::configured(&config_date)),
            blocklist: crate::abuse::Blocklist::default(),
            fresh_keys: Arc::new(dashboard::FreshKeys::default()),
        })
    }

    /// The configuration now; a handler takes it once and reads it to its end.
    pub fn config(&self) -> Arc<Config> {
        self.live.get()
    }
}

/// The pages' routes, and their state for every handler.
pub fn routes(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state))
            .configure(site::routes)
            .configure(legal::routes)
            .configure(account::routes)
            .configure(dashboard::routes)
            .configure(admin::routes)
            .configure(notices::routes)
            .configure(usage::routes)
            .configure(billing::routes);
    }
}
