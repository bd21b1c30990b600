//! Upstream providers: which can serve a request in which wire format, in what order they are
//! tried (priority, then weighted at random), and a circuit breaker that rests a provider that
//! keeps failing. Health is kept for the admin view.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::{Config, ModelConfig, ProviderConfig, ProviderKind, Secret};
use crate::translate::Wire;

#[derive(Debug, Default, Clone)]
pub struct Health {
    pub consecutive_failures: u32,
    pub open_until: Option<Instant>,
    pub successes: u64,
    pub failures: u64,
    /// What went wrong last (a kind, never a body).
    pub last_failure: Option<&'static str>,
    /// When it last answered, and last failed (unix ms).
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
}

pub struct Upstream {
    pub config: ProviderConfig,
    pub key: Option<Secret>,
    /// Made once, not per request: where each format's requests go, and the headers each
    /// request carries (the credential, marked sensitive, and the configured ones).
    urls: Urls,
    pub(super) sent_headers: SentHeaders,
    health: Mutex<Health>,
    /// Whether requests may go to it; an admin takes it out of rotation and back.
    in_rotation: AtomicBool,
}

impl Upstream {
    /// The wire format this provider answers a client's request in, if it can.
    /// OpenAI takes Responses clients as they are and Messages clients (Claude Code) through
    /// Responses too, which keeps reasoning across turns and serves the models only Responses
    /// has; Chat and legacy clients go to Chat. Other OpenAI-format servers speak Chat.
    /// Anthropic takes every format through Messages.
    pub fn wire_for(&self, client: Wire) -> Option<Wire> {
        let wire = match (self.config.kind, client) {
            (ProviderKind::Openai, Wire::Responses | Wire::Messages) => Wire::Responses,
            (ProviderKind::Openai | ProviderKind::OpenaiCompatible, _) => Wire::Chat,
            (ProviderKind::Anthropic, _) => Wire::Messages,
        };
        crate::translate::supported(client, wire).then_some(wire)
    }

    /// Where a request in `wire` format goes.
    pub fn url(&self, wire: Wire) -> url::Url {
        match wire {
            Wire::Chat | Wire::Completions => self.urls.chat.clone(),
            Wire::Responses => self.urls.responses.clone(),
            Wire::Messages => self.urls.messages.clone(),
        }
    }

    /// Where a request to one of the provider's other endpoints goes (`path` below its base).
    pub fn url_at(&self, path: &str) -> url::Url {
        below(&self.config.base_url, path)
    }

    fn new(config: &ProviderConfig, health: Health, in_rotation: bool) -> Upstream {
        let key = config.resolve_key();
        Upstream {
            urls: Urls::of(&config.base_url),
            sent_headers: SentHeaders::of(config, key.as_ref()),
            key,
            config: config.clone(),
            health: Mutex::new(health),
            in_rotation: AtomicBool::new(in_rotation),
        }
    }

    pub fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn in_rotation(&self) -> bool {
        self.in_rotation.load(Ordering::Relaxed)
    }

    pub fn set_in_rotation(&self, on: bool) {
        self.in_rotation.store(on, Ordering::Relaxed);
    }

    fn resting(&self, now: Instant) -> bool {
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .open_until
            .is_some_and(|until| until > now)
    }
}

/// A provider's endpoint for each wire format.
struct Urls {
    chat: url::Url,
    responses: url::Url,
    messages: url::Url,
}

/// `path` below `base`'s own path.
fn below(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url
}

impl Urls {
    fn of(base: &url::Url) -> Urls {
        let at = |path: &str| below(base, path);
        Urls {
            chat: at("chat/completions"),
            responses: at("responses"),
            messages: at("messages"),
        }
    }
}

/// The headers every request to a provider carries: its credential as each format sends it,
/// and the operator's extra headers (checked when the configuration was read).
pub(super) struct SentHeaders {
    /// `Authorization: Bearer …` for the OpenAI formats.
    pub bearer: Option<reqwest::header::HeaderValue>,
    /// `x-api-key` for Messages.
    pub api_key: Option<reqwest::header::HeaderValue>,
    pub extra: Vec<(reqwest::header::HeaderName, reqwest::header::HeaderValue)>,
}

impl SentHeaders {
    fn of(config: &ProviderConfig, key: Option<&Secret>) -> SentHeaders {
        let secret = |text: String| {
            let mut value = reqwest::header::HeaderValue::try_from(text).ok()?;
            value.set_sensitive(true);
            Some(value)
        };
        SentHeaders {
            bearer: key.and_then(|k| secret(format!("Bearer {}", k.expose()))),
            api_key: key.and_then(|k| secret(k.expose().to_owned())),
            extra: config
                .headers
                .iter()
                .filter_map(|(name, value)| {
                    Some((
                        reqwest::header::HeaderName::try_from(name.as_str()).ok()?,
                        reqwest::header::HeaderValue::try_from(value.as_str()).ok()?,
                    ))
                })
                .collect(),
        }
    }
}

/// One provider to try for a request, with the model's name there.
#[derive(Clone)]
pub struct Candidate {
    pub upstream: Arc<Upstream>,
    pub model: String,
    pub wire: Wire,
}

pub struct Providers {
    list: Vec<Arc<Upstream>>,
    breaker_failures: u32,
    cooldown: Duration,
}

impl Providers {
    /// The configured providers. Those `previous` also had (by name) keep their health and
    /// whether they are in rotation, so that a configuration reload forgets neither.
    pub fn new(config: &Config, previous: Option<&Providers>) -> Providers {
        let earlier =
            |name: &str| previous.and_then(|p| p.list.iter().find(|u| u.config.name == name));
        Providers {
            list: config
                .providers
                .iter()
                .map(|p| {
                    let before = earlier(&p.name);
                    Arc::new(Upstream::new(
                        p,
                        before.map(|u| u.health()).unwrap_or_default(),
                        before.is_none_or(|u| u.in_rotation()),
                    ))
                })
                .collect(),
            breaker_failures: config.gateway.breaker_failures.max(1),
            cooldown: Duration::from_secs(config.gateway.breaker_cooldown_secs),
        }
    }

    pub fn all(&self) -> &[Arc<Upstream>] {
        &self.list
    }

    /// The providers to try for `model` from a `client`-format request, best first. Resting
    /// providers come last, so that a request still has a chance when every provider rests;
    /// providers out of rotation are not tried at all.
    pub fn candidates(&self, model: &ModelConfig, client: Wire) -> Vec<Candidate> {
        let routes: Vec<(Arc<Upstream>, String)> = if model.routes.is_empty() {
            self.list
                .iter()
                .map(|u| (u.clone(), model.id.clone()))
                .collect()
        } else {
            model
                .routes
                .iter()
                .filter_map(|route| {
                    let upstream = self.list.iter().find(|u| u.config.name == route.provider)?;
                    Some((
                        upstream.clone(),
                        route.model.clone().unwrap_or_else(|| model.id.clone()),
                    ))
                })
                .collect()
        };
        let now = Instant::now();
        let mut scored: Vec<(bool, u32, f64, Candidate)> = routes
            .into_iter()
            .filter(|(upstream, _)| upstream.in_rotation())
            .filter_map(|(upstream, model)| {
                let wire = upstream.wire_for(client)?;
                // Weighted shuffle: a smaller key sorts first; weight w wins proportionally.
                let draw: f64 = rand::random::<f64>().max(f64::MIN_POSITIVE);
                let order = draw.powf(1.0 / f64::from(upstream.config.weight.max(1)));
                Some((
                    upstream.resting(now),
                    upstream.config.priority,
                    -order,
                    Candidate {
                        upstream,
                        model,
                        wire,
                    },
                ))
            })
            .collect();
        scored.sort_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then(a.2.partial_cmp(&b.2).unwrap_or(std::cmp::Ordering::Equal))
        });
        scored.into_iter().map(|(_, _, _, c)| c).collect()
    }

    pub fn succeeded(&self, upstream: &Upstream) {
        let mut health = upstream.health.lock().unwrap_or_else(|e| e.into_inner());
        health.successes += 1;
        health.last_success_at = Some(crate::clock::now_ms());
        health.consecutive_failures = 0;
        health.open_until = None;
    }

    pub fn failed(&self, upstream: &Upstream, what: &'static str) {
        let mut health = upstream.health.lock().unwrap_or_else(|e| e.into_inner());
        health.failures += 1;
        health.consecutive_failures += 1;
        health.last_failure = Some(what);
        health.last_failure_at = Some(crate::clock::now_ms());
        if health.consecutive_failures >= self.breaker_failures {
            // A cooldown too long for the clock rests the provider for as long as it can.
            let now = Instant::now();
            health.open_until = Some(
                now.checked_add(self.cooldown)
                    .unwrap_or(now + Duration::from_secs(365 * 86_400)),
            );
            if health.consecutive_failures == self.breaker_failures {
                tracing::warn!(
                    "provider {} failed {} times in a row ({what}); resting it for {}s",
                    upstream.config.name,
                    health.consecutive_failures,
                    self.cooldown.as_secs()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(base: &str) -> Upstream {
        let config: ProviderConfig = toml::from_str(&format!(
            "name = \"p\"\nkind = \"openai\"\nbase_url = \"{base}\"\napi_key = \"sk-up\"\n\
             headers = {{ OpenAI-Organization = \"org-1\" }}\n"
        ))
        .expect("a provider");
        Upstream::new(&config, Health::default(), true)
    }

    #[test]
    fn each_format_goes_below_the_base_path_with_or_without_its_slash() {
        for base in ["http://127.0.0.1:9/v1", "http://127.0.0.1:9/v1/"] {
            let up = upstream(base);
            assert_eq!(
                up.url(Wire::Chat).as_str(),
                "http://127.0.0.1:9/v1/chat/completions"
            );
            assert_eq!(
                up.url(Wire::Completions).as_str(),
                "http://127.0.0.1:9/v1/chat/completions"
            );
            assert_eq!(
                up.url(Wire::Responses).as_str(),
                "http://127.0.0.1:9/v1/responses"
            );
            assert_eq!(
                up.url(Wire::Messages).as_str(),
                "http://127.0.0.1:9/v1/messages"
            );
            assert_eq!(
                up.url_at("messages/count_tokens").as_str(),
                "http://127.0.0.1:9/v1/messages/count_tokens"
            );
        }
    }

    #[test]
    fn the_credential_is_made_once_and_marked_sensitive() {
        let up = upstream("http://127.0.0.1:9/v1");
        let bearer = up.sent_headers.bearer.as_ref().expect("a bearer header");
        assert_eq!(bearer.to_str().ok(), Some("Bearer sk-up"));
        assert!(bearer.is_sensitive());
        let key = up
            .sent_headers
            .api_key
            .as_ref()
            .expect("an x-api-key header");
        assert_eq!(key.to_str().ok(), Some("sk-up"));
        assert!(key.is_sensitive());
        assert_eq!(up.sent_headers.extra.len(), 1);
        assert_eq!(up.sent_headers.extra[0].0.as_str(), "openai-organization");
    }
}
