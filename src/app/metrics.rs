//! `/metrics`: what the gateway recorded and what is read now (providers' states, the outbox, the
//! database's size, the retention job's last run, the process), in the Prometheus text format.
//! On the public listener only with `metrics.token`, to that bearer token; on `metrics.listen`
//! to whoever reaches that address.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use subtle::ConstantTimeEq;

use crate::gateway::Gateway;
use crate::health::ProviderHealth;
use crate::metrics::{Process, ProviderState, Scrape};

pub const PATH: &str = "/metrics";

/// The public listener's route, when a token is configured; without one there is none (the
/// site's 404 answers).
pub fn public_routes(token: bool) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        if token {
            cfg.route(PATH, web::get().to(public));
        }
    }
}

/// The metrics listener's only route.
pub fn listener_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(PATH, web::get().to(open));
}

async fn public(req: HttpRequest, gateway: web::Data<Gateway>) -> HttpResponse {
    let config = gateway.routing().config.clone();
    let Some(token) = &config.metrics.token else {
        return crate::web::site::not_found_response(&req);
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    // Compared as digests, in constant time: neither the token's bytes nor its length leak.
    let matches: bool = crate::auth::token::sha256(presented)
        .ct_eq(&crate::auth::token::sha256(token.expose()))
        .into();
    if presented.is_empty() || !matches {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .content_type("text/plain; charset=utf-8")
            .body("A bearer token is needed for /metrics.\n");
    }
    scrape(&gateway).await
}

async fn open(gateway: web::Data<Gateway>) -> HttpResponse {
    scrape(&gateway).await
}

async fn scrape(gateway: &Gateway) -> HttpResponse {
    let mut reading = Scrape {
        providers: gateway
            .providers()
            .into_iter()
            .map(|p| {
                let state = if !p.in_rotation {
                    ProviderState::OutOfRotation
                } else if p.resting_for.is_some() {
                    ProviderState::Open
                } else {
                    ProviderState::Closed
                };
                (p.name, state)
            })
            .collect(),
        ..Scrape::default()
    };
    let path = gateway.db.path().to_path_buf();
    let read = gateway
        .db
        .run(move |conn| {
            let outbox = crate::db::outbox::standing(conn)?;
            let retention = crate::privacy::retention::last_run(conn)?;
            let mut wal = path.clone().into_os_string();
            wal.push("-wal");
            let bytes = [path.into_os_string(), wal]
                .iter()
                .filter_map(|p| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum::<u64>();
            Ok((outbox, retention, bytes, Process::read()))
        })
        .await;
    match read {
        Ok((outbox, retention, bytes, process)) => {
            reading.outbox = Some((outbox.waiting, outbox.retrying, outbox.given_up));
            reading.retention = retention.map(|r| (r.at, r.duration_ms));
            reading.database_bytes = Some(bytes);
            reading.process = process;
        }
        // The figures recorded in memory are still worth a scrape.
        Err(e) => tracing::warn!("metrics: cannot read the database's figures: {e}"),
    }
    match gateway.metrics.encode(&reading) {
        Ok(text) => HttpResponse::Ok()
            .content_type(crate::metrics::CONTENT_TYPE)
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(text),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
