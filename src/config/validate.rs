//! The checks types alone cannot make: combinations, formats, bounds, files that must exist.
//! One module because it is one list of checks in the order of the config's sections, read
//! beside `sections.rs`.

use std::collections::HashSet;

use super::{BillingMode, Config, ConfigError, SmtpSecurity};
use crate::money::Money;

impl Config {
    /// Checks what types alone cannot: combinations, formats, files that must exist.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        if let Some(url) = &server.public_url {
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::at(
                    "server.public_url",
                    format!("must start with http:// or https://, got {url}"),
                ));
            }
            if url.host().is_none() {
                return Err(ConfigError::at("server.public_url", "has no host"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(ConfigError::at(
                    "server.public_url",
                    "must not have a query string or fragment",
                ));
            }
        }
        if server.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "server.max_body_bytes",
                "must be greater than 0",
            ));
        }
        match (&server.tls.cert, &server.tls.key) {
            (Some(_), None) => {
                return Err(ConfigError::at(
                    "server.tls.key",
                    "is missing; server.tls.cert needs a private key",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    "server.tls.cert",
                    "is missing; server.tls.key needs a certificate",
                ));
            }
            (Some(cert), Some(key)) => {
                crate::tls::load_server_config(cert, key)?;
            }
            (None, None) => {
                if server.tls.redirect_http_listen.is_some() {
                    return Err(ConfigError::at(
                        "server.tls.redirect_http_listen",
                        "needs server.tls.cert and server.tls.key",
                    ));
                }
            }
        }
        self.validate_metrics()?;
        if let (Some(redirect), true) = (server.tls.redirect_http_listen, server.tls.enabled())
            && redirect == server.listen
        {
            return Err(ConfigError::at(
                "server.tls.redirect_http_listen",
                "must differ from server.listen",
            ));
        }

        if self.log.flush_ms > 1000 {
            return Err(ConfigError::at("log.flush_ms", "must be at most 1000"));
        }
        let db = &self.database;
        if db.path.as_os_str().is_empty() {
            return Err(ConfigError::at("database.path", "must not be empty"));
        }
        if db.pool_size == 0 {
            return Err(ConfigError::at("database.pool_size", "must be at least 1"));
        }
        let backup = &self.backup;
        if backup.every_hours == 0 {
            return Err(ConfigError::at("backup.every_hours", "must be at least 1"));
        }
        if backup.keep == 0 {
            return Err(ConfigError::at("backup.keep", "must be at least 1"));
        }
        if let Some(dir) = &backup.dir {
            if dir.as_os_str().is_empty() {
                return Err(ConfigError::at(
                    "backup.dir",
                    "must not be empty; leave it out for no scheduled backups",
                ));
            }
            let same = |a: &std::path::Path, b: &std::path::Path| {
                a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
            };
            if same(dir, &db.path) {
                return Err(ConfigError::at(
                    "backup.dir",
                    "is the database file itself; name a folder for the copies",
                ));
            }
        }

        if self.site.name.trim().is_empty() {
            return Err(ConfigError::at("site.name", "must not be empty"));
        }
        if let Some(email) = &self.site.contact_email
            && !looks_like_email(email)
        {
            return Err(ConfigError::at(
                "site.contact_email",
                format!("{email:?} is not an email address"),
            ));
        }

        time::Date::parse(
            &self.policy.effective_date,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| {
            ConfigError::at(
                "policy.effective_date",
                format!(
                    "{:?} is not a date in the form YYYY-MM-DD",
                    self.policy.effective_date
                ),
            )
        })?;
        for (key, path) in [
            ("policy.privacy_path", &self.policy.privacy_path),
            ("policy.terms_path", &self.policy.terms_path),
        ] {
            if let Some(path) = path {
                std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::at(key, format!("cannot read {}: {e}", path.display()))
                })?;
            }
        }

        if self.privacy.ip_retention_days == 0 {
            return Err(ConfigError::at(
                "privacy.ip_retention_days",
                "must be at least 1",
            ));
        }
        if self.privacy.ip_retention_days > self.privacy.metadata_retention_days {
            return Err(ConfigError::at(
                "privacy.ip_retention_days",
                "must not exceed privacy.metadata_retention_days",
            ));
        }

        let accounts = &self.accounts;
        if accounts.password_min_length < 8 {
            return Err(ConfigError::at(
                "accounts.password_min_length",
                "must be at least 8",
            ));
        }
        if accounts.session_idle_hours == 0 {
            return Err(ConfigError::at(
                "accounts.session_idle_hours",
                "must be at least 1",
            ));
        }
        if accounts.session_max_days == 0 {
            return Err(ConfigError::at(
                "accounts.session_max_days",
                "must be at least 1",
            ));
        }

        let smtp = &self.smtp;
        if let Some(host) = &smtp.host {
            if host.trim().is_empty() {
                return Err(ConfigError::at("smtp.host", "must not be empty"));
            }
            if smtp.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::at(
                    "smtp.from",
                    format!(
                        "{:?} is not a sender like \"Name <noreply@example.com>\"",
                        smtp.from
                    ),
                ));
            }
            match (&smtp.username, &smtp.password) {
                (Some(_), None) => {
                    return Err(ConfigError::at(
                        "smtp.password",
                        "is missing; smtp.username needs one",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::at(
                        "smtp.username",
                        "is missing; smtp.password needs one",
                    ));
                }
                _ => {}
            }
            let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
            if smtp.security == SmtpSecurity::None && smtp.password.is_some() && !local {
                return Err(ConfigError::at(
                    "smtp.security",
                    "\"none\" would send the SMTP password unencrypted; use starttls or tls",
                ));
            }
        }

        crate::logging::parse_filter(&self.log.level)
            .map_err(|e| ConfigError::at("log.level", e))?;

        let currency = &self.billing.currency;
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(ConfigError::at(
                "billing.currency",
                format!("{currency:?} is not a three-letter ISO 4217 code like \"USD\""),
            ));
        }

        self.validate_billing()?;
        self.validate_abuse()?;

        let gateway = &self.gateway;
        if gateway.max_body_bytes == 0 {
            return Err(ConfigError::at(
                "gateway.max_body_bytes",
                "must be greater than 0",
            ));
        }
        if let Some(path) = &gateway.codex_instructions_file {
            match std::fs::read_to_string(path) {
                Ok(text) if text.trim().is_empty() => {
                    return Err(ConfigError::at(
                        "gateway.codex_instructions_file",
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(ConfigError::at(
                        "gateway.codex_instructions_file",
                        format!("cannot read {}: {e}", path.display()),
                    ));
                }
            }
        }
        if gateway.max_attempts == 0 {
            return Err(ConfigError::at(
                "gateway.max_attempts",
                "must be at least 1",
            ));
        }
        within_a_day(
            "accounts.reauthenticate_after_secs",
            self.accounts.reauthenticate_after_secs,
        )?;
        within_a_day("gateway.body_idle_secs", gateway.body_idle_secs)?;
        if gateway.body_idle_secs == 0 {
            return Err(ConfigError::at(
                "gateway.body_idle_secs",
                "must be at least 1",
            ));
        }
        within_a_day(
            "gateway.breaker_cooldown_secs",
            gateway.breaker_cooldown_secs,
        )?;
        let mut names = HashSet::new();
        for (i, provider) in self.providers.iter().enumerate() {
            let key = |field: &str| format!("providers[{i}].{field}");
            for (field, secs) in [
                ("connect_timeout_secs", provider.connect_timeout_secs),
                ("first_byte_timeout_secs", provider.first_byte_timeout_secs),
                ("idle_timeout_secs", provider.idle_timeout_secs),
                ("total_timeout_secs", provider.total_timeout_secs),
            ] {
                within_a_day(&key(field), secs)?;
            }
            if provider.name.trim().is_empty() || !names.insert(provider.name.as_str()) {
                return Err(ConfigError::at(
                    key("name"),
                    "must be a unique, non-empty name",
                ));
            }
            if !matches!(provider.base_url.scheme(), "http" | "https") {
                return Err(ConfigError::at(
                    key("base_url"),
                    "must start with http:// or https://",
                ));
            }
            if let Some(var) = &provider.api_key_env
                && provider.api_key.is_none()
                && std::env::var(var).map_or(true, |v| v.trim().is_empty())
            {
                return Err(ConfigError::at(
                    key("api_key_env"),
                    format!("names {var}, which is not set"),
                ));
            }
            for (name, value) in &provider.headers {
                if actix_web::http::header::HeaderName::try_from(name.as_str()).is_err()
                    || actix_web::http::header::HeaderValue::try_from(value.as_str()).is_err()
                {
                    return Err(ConfigError::at(
                        key("headers"),
                        format!("{name:?} is not a valid header"),
                    ));
                }
            }
            if provider.weight == 0 {
                return Err(ConfigError::at(key("weight"), "must be at least 1"));
            }
            for (field, secs) in [
                ("connect_timeout_secs", provider.connect_timeout_secs),
                ("first_byte_timeout_secs", provider.first_byte_timeout_secs),
                ("idle_timeout_secs", provider.idle_timeout_secs),
                ("total_timeout_secs", provider.total_timeout_secs),
            ] {
                if secs == 0 {
                    return Err(ConfigError::at(key(field), "must be at least 1"));
                }
            }
        }

        let mut ids = HashSet::new();
        for (i, model) in self.models.iter().enumerate() {
            let key = |field: &str| format!("models[{i}].{field}");
            if model.id.trim().is_empty() || model.id.chars().any(char::is_whitespace) {
                return Err(ConfigError::at(
                    key("id"),
                    "must be a non-empty id without spaces",
                ));
            }
            if !ids.insert(model.id.as_str()) {
                return Err(ConfigError::at(
                    key("id"),
                    format!("{:?} is listed twice", model.id),
                ));
            }
            for alias in &model.aliases {
                if !ids.insert(alias.as_str()) {
                    return Err(ConfigError::at(
                        key("aliases"),
                        format!("{alias:?} is already a model id or alias"),
                    ));
                }
            }
            for (j, route) in model.routes.iter().enumerate() {
                if !self.providers.iter().any(|p| p.name == route.provider) {
                    return Err(ConfigError::at(
                        key(&format!("routes[{j}].provider")),
                        format!("no provider is named {:?}", route.provider),
                    ));
                }
            }
            let price = &model.price;
            for (field, amount) in [
                ("price.input", Some(price.input)),
                ("price.cached_input", price.cached_input),
                ("price.cache_creation", price.cache_creation),
                ("price.output", Some(price.output)),
                ("price.reasoning", price.reasoning),
                ("price.request_fee", price.request_fee),
            ] {
                if amount.is_some_and(|a| a < Money::ZERO) {
                    return Err(ConfigError::at(key(field), "must not be negative"));
                }
            }
        }
        Ok(())
    }

    fn validate_abuse(&self) -> Result<(), ConfigError> {
        let abuse = &self.abuse;
        if !(1..=86_400).contains(&abuse.scan_every_secs) {
            return Err(ConfigError::at(
                "abuse.scan_every_secs",
                "must be between 1 and 86400",
            ));
        }
        let rules = [
            ("signin_failures_network", &abuse.signin_failures_network, 1),
            ("signin_failures_account", &abuse.signin_failures_account, 1),
            ("key_networks", &abuse.key_networks, 2),
            ("rate_limited", &abuse.rate_limited, 1),
            ("signups_network", &abuse.signups_network, 1),
        ];
        for (name, rule, least) in rules {
            let key = |field: &str| format!("abuse.{name}.{field}");
            if !rule.enabled {
                continue;
            }
            if rule.threshold < least {
                return Err(ConfigError::at(
                    key("threshold"),
                    format!("must be at least {least}"),
                ));
            }
            if !(1..=7 * 1440).contains(&rule.window_mins) {
                return Err(ConfigError::at(
                    key("window_mins"),
                    "must be between 1 and 10080 (a week)",
                ));
            }
        }
        if abuse.signin_failures_network.auto_suspend {
            return Err(ConfigError::at(
                "abuse.signin_failures_network.auto_suspend",
                "cannot be set: failed sign-ins from a network are attempts on other people's \
                 accounts, so there is no account of the attacker's to suspend; block the network \
                 on /admin/flags instead",
            ));
        }
        let spend = &abuse.spend_spike;
        if spend.enabled {
            if spend.factor < 2 {
                return Err(ConfigError::at(
                    "abuse.spend_spike.factor",
                    "must be at least 2",
                ));
            }
            if !(1..=365).contains(&spend.baseline_days) {
                return Err(ConfigError::at(
                    "abuse.spend_spike.baseline_days",
                    "must be between 1 and 365",
                ));
            }
            if spend.baseline_days >= self.privacy.metadata_retention_days {
                return Err(ConfigError::at(
                    "abuse.spend_spike.baseline_days",
                    "must be less than privacy.metadata_retention_days: older usage is deleted, \
                     so the baseline would always be empty",
                ));
            }
            if spend.min_spend <= Money::ZERO {
                return Err(ConfigError::at(
                    "abuse.spend_spike.min_spend",
                    "must be greater than 0, or tiny accounts are flagged for any spend",
                ));
            }
        }
        Ok(())
    }

    fn validate_billing(&self) -> Result<(), ConfigError> {
        let billing = &self.billing;
        if billing.signup_credit < Money::ZERO {
            return Err(ConfigError::at(
                "billing.signup_credit",
                "must not be negative",
            ));
        }
        if billing.topup_min <= Money::ZERO {
            return Err(ConfigError::at(
                "billing.topup_min",
                "must be greater than 0",
            ));
        }
        if billing.topup_max < billing.topup_min {
            return Err(ConfigError::at(
                "billing.topup_max",
                "must not be less than billing.topup_min",
            ));
        }
        if let Some(bad) = billing
            .topup_presets
            .iter()
            .find(|a| **a < billing.topup_min || **a > billing.topup_max)
        {
            return Err(ConfigError::at(
                "billing.topup_presets",
                format!(
                    "{bad} is outside billing.topup_min..billing.topup_max ({}..{})",
                    billing.topup_min, billing.topup_max
                ),
            ));
        }
        let mut names = HashSet::new();
        for (i, tier) in self.tiers.iter().enumerate() {
            let key = |field: &str| format!("tiers[{i}].{field}");
            if tier.name.trim().is_empty() || !names.insert(tier.name.as_str()) {
                return Err(ConfigError::at(
                    key("name"),
                    "must be a unique, non-empty name",
                ));
            }
            for (field, value) in [
                ("requests_per_minute", tier.requests_per_minute),
                ("tokens_per_minute", tier.tokens_per_minute),
                ("concurrent_requests", tier.concurrent_requests),
            ] {
                if value == Some(0) {
                    return Err(ConfigError::at(
                        key(field),
                        "must be at least 1 (leave it out for no limit)",
                    ));
                }
            }
            if tier.monthly_spend_cap.is_some_and(|c| c < Money::ZERO) {
                return Err(ConfigError::at(
                    key("monthly_spend_cap"),
                    "must not be negative",
                ));
            }
            if tier.price_multiplier < Money::ZERO {
                return Err(ConfigError::at(
                    key("price_multiplier"),
                    "must not be negative",
                ));
            }
        }
        if !self.tiers.is_empty() && !names.contains(billing.default_tier.as_str()) {
            return Err(ConfigError::at(
                "billing.default_tier",
                format!("no tier is named {:?}", billing.default_tier),
            ));
        }
        let stripe = &self.stripe;
        if stripe.enabled() {
            if stripe.webhook_secret.is_none() {
                return Err(ConfigError::at(
                    "stripe.webhook_secret",
                    "is missing; stripe.secret_key needs the webhook signing secret",
                ));
            }
            if !matches!(stripe.api_base.scheme(), "http" | "https") {
                return Err(ConfigError::at(
                    "stripe.api_base",
                    "must start with http:// or https://",
                ));
            }
            if self.billing.mode != BillingMode::Prepaid {
                return Err(ConfigError::at(
                    "stripe.secret_key",
                    "top-ups need billing.mode = \"prepaid\"",
                ));
            }
        }
        Ok(())
    }
}

/// Durations in seconds are bounded: a day at most, so that no clock arithmetic can overflow.
fn within_a_day(key: &str, secs: u64) -> Result<(), ConfigError> {
    if secs > 86_400 {
        return Err(ConfigError::at(key, "must be at most 86400 (a day)"));
    }
    Ok(())
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

impl Config {
    /// The metrics listener must be an address of its own; a token must be hard to guess.
    fn validate_metrics(&self) -> Result<(), ConfigError> {
        let metrics = &self.metrics;
        if let Some(listen) = metrics.listen {
            // Two listeners on port 0 each get a port of their own.
            if listen == self.server.listen && listen.port() != 0 {
                return Err(ConfigError::at(
                    "metrics.listen",
                    format!(
                        "must differ from server.listen ({listen}); leave it unset to serve /metrics on the public listener with metrics.token"
                    ),
                ));
            }
            if self.server.tls.redirect_http_listen == Some(listen) {
                return Err(ConfigError::at(
                    "metrics.listen",
                    "must differ from server.tls.redirect_http_listen",
                ));
            }
        }
        if let Some(token) = &metrics.token {
            let token = token.expose();
            if token.chars().count() < super::MetricsConfig::MIN_TOKEN_CHARS
                || token.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(ConfigError::at(
                    "metrics.token",
                    format!(
                        "must be at least {} characters without spaces (e.g. `openssl rand -hex 32`)",
                        super::MetricsConfig::MIN_TOKEN_CHARS
                    ),
                ));
            }
        }
        Ok(())
    }
}
