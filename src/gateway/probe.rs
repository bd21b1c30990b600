//! The admin's "test" button: one minimal request to a provider (a one-word prompt of our own,
//! one token of answer), in the provider's own format, with this server's credentials. What
//! comes back is summed up as a status and an error kind, never a body.

use std::time::{Duration, Instant};

use super::Gateway;
use super::providers::Upstream;
use crate::health::Probe;
use crate::translate::Wire;

/// How long a test may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

pub(super) async fn probe(gateway: &Gateway, name: &str) -> Option<Probe> {
    let routing = gateway.routing();
    let upstream = routing
        .providers
        .all()
        .iter()
        .find(|u| u.config.name == name)?
        .clone();
    let Some(model) = model_for(&routing.config, &upstream) else {
        return Some(Probe {
            ok: false,
            summary: "no model is routed to this provider".to_owned(),
            latency_ms: 0,
        });
    };
    let started = Instant::now();
    let outcome = send(gateway, &upstream, &model).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let probe = match outcome {
        Ok((status, _)) if (200..300).contains(&status) => Probe {
            ok: true,
            summary: format!("{status}: answered with {model}"),
            latency_ms,
        },
        Ok((status, kind)) => Probe {
            ok: false,
            summary: match kind {
                Some(kind) => format!("{status}: {kind}"),
                None => format!("{status}"),
            },
            latency_ms,
        },
        Err(what) => Probe {
            ok: false,
            summary: what.to_owned(),
            latency_ms,
        },
    };
    if probe.ok {
        routing.providers.succeeded(&upstream);
    } else {
        routing.providers.failed(&upstream, "test request failed");
    }
    Some(probe)
}

/// The provider's name for the first configured model it serves.
fn model_for(config: &crate::config::Config, upstream: &Upstream) -> Option<String> {
    config.models.iter().find_map(|model| {
        if model.routes.is_empty() {
            return Some(model.id.clone());
        }
        model
            .routes
            .iter()
            .find(|r| r.provider == upstream.config.name)
            .map(|r| r.model.clone().unwrap_or_else(|| model.id.clone()))
    })
}

/// The status, and the error's kind when the provider named one in JSON.
async fn send(
    gateway: &Gateway,
    upstream: &Upstream,
    model: &str,
) -> Result<(u16, Option<String>), &'static str> {
    let wire = match upstream.config.kind {
        crate::config::ProviderKind::Anthropic => Wire::Messages,
        _ => Wire::Chat,
    };
    // The same body is a valid request in both formats.
    let body = serde_json::json!({
        "model": model,
        "max_tokens": 1,
        "messages": [{"role": "user", "content": "ping"}],
    });
    let request = gateway
        .http
        .post(upstream.url(wire))
        .timeout(PROBE_TIMEOUT)
        .json(&body);
    let request = super::proxy::credentials(request, upstream, wire, true);
    let response = request.send().await.map_err(|e| {
        if e.is_timeout() {
            "no answer in time"
        } else if e.is_connect() {
            "connection refused or unreachable"
        } else {
            "the request failed"
        }
    })?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        return Ok((status, None));
    }
    // Only the error's kind is kept: a short token such as `authentication_error`.
    let kind = response
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| {
            let error = v.get("error")?;
            error
                .get("type")
                .or_else(|| error.get("code"))
                .and_then(|k| k.as_str())
                .map(str::to_owned)
        })
        .filter(|k| k.len() <= 64 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    Ok((status, kind))
}
