//! HTTP: the application (routes and middleware) that `serve` and the tests both start.

pub mod assets;
pub mod client;
pub mod middleware;
pub mod site;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{App, middleware::Compress, middleware::from_fn, web};

use crate::config::Config;
use crate::db::Db;

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    /// The public URL without a trailing slash.
    pub public_url: Arc<str>,
    pub pages: Arc<site::Pages>,
}

impl AppState {
    /// `public_url` is the configured one, or the one derived from the bound address.
    pub fn new(
        config: Arc<Config>,
        db: Db,
        public_url: String,
    ) -> Result<AppState, crate::config::ConfigError> {
        let pages = site::Pages::render(&config, &public_url)?;
        Ok(AppState {
            config,
            db,
            public_url: public_url.into(),
            pages: Arc::new(pages),
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
        .wrap(Compress::default())
        .wrap(from_fn(middleware::envelope))
        .configure(site::routes)
        .default_service(web::to(site::not_found))
}
