//! The envelope around every request: request id, client address, body-size guard, security
//! headers and one access-log line. The log line holds the route pattern, never the raw path or
//! query string (either can carry tokens), and never a body.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};

use super::AppState;
use crate::client::{ClientInfo, client_https, client_ip};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
     report-uri /csp-report";

const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    (
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
];

pub async fn envelope(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let config = state.as_ref().map(|s| s.config());
    let trusted = config
        .as_ref()
        .map(|c| c.server.trusted_proxies.as_slice())
        .unwrap_or_default();
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::Ipv6Addr::LOCALHOST.into());
    // The listener's own TLS flag; `connection_info()` would believe anyone's forwarded headers.
    let direct_https = req.app_config().secure();
    let info = ClientInfo {
        ip: client_ip(peer, req.headers(), trusted),
        https: client_https(peer, direct_https, req.headers(), trusted),
        request_id: request_id(),
    };
    req.extensions_mut().insert(info.clone());
    let method = req.method().clone();

    let limit = config.as_ref().map(|c| c.server.max_body_bytes);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // The API has its own, larger limit and answers in the client's error format.
    let api = req.path().starts_with("/v1/");
    // A blocked network sees the site's own refusal page; the API answers it in the client's
    // format (the gateway checks the same list), the assets still load for the page, and
    // Stripe's webhook is Stripe's.
    let blocked = !api
        && !req.path().starts_with("/assets/")
        && req.path() != super::billing::WEBHOOK_PATH
        && state
            .as_ref()
            .is_some_and(|s| s.blocklist.blocks(info.ip, crate::db::now_ms()));
    let mut res = match (declared, limit) {
        _ if blocked => {
            let refusal = super::error::WebError::Forbidden(
                "Requests from your network are not accepted by this server.".to_owned(),
            );
            req.into_response(actix_web::ResponseError::error_response(&refusal))
                .map_into_right_body()
        }
        (Some(len), Some(limit)) if len > limit as u64 && !api => {
            let body =
                format!("The request body is larger than the {limit} bytes this server accepts.\n");
            req.into_response(
                HttpResponse::PayloadTooLarge()
                    .content_type("text/plain; charset=utf-8")
                    .body(body),
            )
            .map_into_right_body()
        }
        // Handler errors arrive here already rendered as responses; an `Err` could only come from
        // the middleware below, and actix renders that itself.
        _ => next.call(req).await?.map_into_left_body(),
    };

    // Signed-in pages hold one person's data: no shared or back-button cache may keep them.
    let private = {
        let path = res.request().path();
        path.starts_with("/dashboard") || path.starts_with("/admin")
    };
    let headers = res.headers_mut();
    if private && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    for (name, value) in SECURITY_HEADERS {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if let Some(max_age) = config.as_ref().map(|c| c.server.hsts_max_age_secs)
        && info.https
        && max_age > 0
        && let Ok(value) = HeaderValue::from_str(&format!("max-age={max_age}"))
    {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, value);
    }
    if let Ok(value) = HeaderValue::from_str(&info.request_id) {
        headers.insert(REQUEST_ID, value);
    }

    let route = res.request().match_pattern();
    if let (Some(state), Some(route)) = (&state, &route)
        && counts_as_page_view(&res, route)
    {
        let request = res.request();
        let header = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let session = request
            .cookie(super::session::cookie_name(info.https))
            .map(|c| crate::auth::token::sha256(c.value()));
        state.analytics.count(crate::privacy::analytics::Visit {
            route: route.clone(),
            referer: header(header::REFERER),
            user_agent: header(header::USER_AGENT).unwrap_or_default(),
            ip: info.ip,
            session,
        });
    }
    tracing::info!(
        target: "codexapi::access",
        "{method} {route} {status} {latency_ms}ms ip={ip} id={id}",
        route = route.as_deref().unwrap_or("<unmatched>"),
        status = res.status().as_u16(),
        latency_ms = started.elapsed().as_millis(),
        ip = info.ip,
        id = info.request_id,
    );
    Ok(res)
}

/// A page of the site shown to a person who did not opt out: a successful GET of an HTML page
/// outside the API and the admin console, without Do Not Track or Global Privacy Control.
fn counts_as_page_view<B>(res: &ServiceResponse<B>, route: &str) -> bool {
    let request = res.request();
    let opted_out = |name: &str| {
        request
            .headers()
            .get(name)
            .is_some_and(|v| v.as_bytes() == b"1")
    };
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    request.method() == actix_web::http::Method::GET
        && res.status() == actix_web::http::StatusCode::OK
        && html
        && !route.starts_with("/v1/")
        && !route.starts_with("/admin")
        && !opted_out("dnt")
        && !opted_out("sec-gpc")
}

/// 96 random bits, hex-encoded.
fn request_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode(bytes)
}

/// Refuses state-changing requests sent from other sites: the `Origin` (or, without it, the
/// `Referer`) must be this site's public origin or the origin the request itself was made to.
/// The API and the CSP report endpoint are called by programs and browsers on their own and are
/// exempt; API calls authenticate with keys, not cookies.
pub async fn same_origin(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let method = req.method();
    // The Stripe webhook is called by Stripe's servers and authenticated by its signature.
    let exempt = method.is_safe()
        || req.path().starts_with("/v1/")
        || req.path() == "/csp-report"
        || req.path() == super::billing::WEBHOOK_PATH;
    if exempt || origin_allowed(&req) {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let response = HttpResponse::Forbidden()
        .content_type("text/plain; charset=utf-8")
        .body("This form was sent from another site, so it was refused. Open the page on this site and try again.\n");
    Ok(req.into_response(response).map_into_right_body())
}

fn origin_allowed(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let sent = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(|r| url::Url::parse(r).ok())
                .map(|u| u.origin().ascii_serialization())
        });
    let Some(sent) = sent else {
        return false;
    };
    let public = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| url::Url::parse(&s.public_url).ok())
        .map(|u| u.origin().ascii_serialization());
    let https = req
        .extensions()
        .get::<ClientInfo>()
        .is_some_and(|c| c.https);
    let requested = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|host| format!("{}://{host}", if https { "https" } else { "http" }));
    public.as_deref() == Some(sent.as_str()) || requested.as_deref() == Some(sent.as_str())
}
