//! The composition root: one actix application with the API and the pages, their shared
//! middleware and the limits on bodies. `serve` and the tests both build it here.

pub mod metrics;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Compress, ErrorHandlers, from_fn};
use actix_web::{App, web};

use crate::gateway::Gateway;
use crate::web::{AppState, middleware, site};

pub fn build_app(
    state: AppState,
    gateway: Arc<Gateway>,
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
        .app_data(web::Data::from(gateway))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::FormConfig::default().limit(limit))
        .app_data(web::JsonConfig::default().limit(limit))
        // Innermost, so that the envelope's headers reach the styled page too.
        .wrap(
            ErrorHandlers::new()
                .handler(StatusCode::NOT_FOUND, crate::web::error::styled_not_found),
        )
        .wrap(from_fn(middleware::same_origin))
        .wrap(Compress::default())
        .wrap(from_fn(middleware::envelope))
        .configure(metrics::public_routes(state.config.metrics.token.is_some()))
        .configure(crate::gateway::routes)
        .configure(crate::web::routes(state))
        .default_service(web::to(site::not_found))
}
