//! The composition root: one actix application with the API and the pages, their shared
//! middleware and the limits on bodies. `serve` and the tests both build it here.

pub mod metrics;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{Compress, ErrorHandlers, from_fn};
use actix_web::{App, HttpResponse, web};

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
    let limit = state.config().server.max_body_bytes;
    let openapi = web::Data::new(OpenApiJson(openapi_json(&state.config().site.name)));
    App::new()
        .app_data(web::Data::from(gateway))
        .app_data(openapi)
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
        .configure(metrics::public_routes(
            state.config().metrics.token.is_some(),
        ))
        .configure(crate::gateway::routes)
        .route("/openapi.json", web::get().to(serve_openapi))
        .configure(crate::web::routes(state))
        .default_service(web::to(site::not_found))
}

/// The OpenAPI description of the API and of the Stripe webhook, named after the site.
pub fn openapi(site_name: &str) -> utoipa::openapi::OpenApi {
    let mut doc = crate::gateway::openapi::document();
    doc.merge(<crate::web::billing::WebhookApi as utoipa::OpenApi>::openapi());
    site_name.clone_into(&mut doc.info.title);
    doc
}

/// The description as served, made once per worker.
struct OpenApiJson(web::Bytes);

fn openapi_json(site_name: &str) -> web::Bytes {
    match openapi(site_name).to_pretty_json() {
        Ok(json) => web::Bytes::from(json),
        Err(e) => {
            tracing::error!("the OpenAPI description could not be written: {e}");
            web::Bytes::new()
        }
    }
}

/// `GET /openapi.json`: public, like the docs page it is linked from.
async fn serve_openapi(doc: web::Data<OpenApiJson>) -> HttpResponse {
    if doc.0.is_empty() {
        return HttpResponse::InternalServerError().finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}
