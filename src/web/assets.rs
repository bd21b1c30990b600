//! Static files embedded in the binary, served with a content hash as ETag. Pages link them as
//! `/assets/NAME?v=HASH`; such URLs are cached for a year, others revalidate every time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/static/"]
struct Static;

/// The files the policy and terms pages are rendered from; not served as they are.
#[derive(RustEmbed)]
#[folder = "assets/legal/"]
pub struct Legal;

struct Entry {
    body: web::Bytes,
    mime: String,
    hash: String,
}

fn table() -> &'static HashMap<String, Entry> {
    static TABLE: OnceLock<HashMap<String, Entry>> = OnceLock::new();
    TABLE.get_or_init(|| {
        Static::iter()
            .filter_map(|name| {
                let file = Static::get(&name)?;
                let hash = hex::encode(&file.metadata.sha256_hash()[..8]);
                let mime = file.metadata.mimetype().to_owned();
                Some((
                    name.into_owned(),
                    Entry {
                        body: match file.data {
                            Cow::Borrowed(bytes) => web::Bytes::from_static(bytes),
                            Cow::Owned(bytes) => web::Bytes::from(bytes),
                        },
                        mime,
                        hash,
                    },
                ))
            })
            .collect()
    })
}

/// The versioned URL of an embedded file, for templates.
pub fn url(name: &str) -> String {
    match table().get(name) {
        Some(entry) => format!("/assets/{name}?v={}", entry.hash),
        None => format!("/assets/{name}"),
    }
}

pub async fn serve(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(entry) = table().get(name.as_str()) else {
        return crate::web::site::not_found_response(&req);
    };
    let etag = format!("\"{}\"", entry.hash);
    let versioned = req
        .query_string()
        .split('&')
        .any(|pair| pair.strip_prefix("v=") == Some(entry.hash.as_str()));
    let cache = if versioned {
        "public, max-age=31536000, immutable"
    } else {
        "public, no-cache"
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let mut res = if matches {
        HttpResponse::NotModified().finish()
    } else {
        HttpResponse::Ok()
            .content_type(entry.mime.as_str())
            .body(entry.body.clone())
    };
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}
