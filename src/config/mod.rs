//! Operator settings: defaults, then the TOML file, then `CODEXAPI_<SECTION>__<KEY>` environment
//! variables (and `…_FILE` variables that name a file holding the value), validated before start.
//!
//! Every key is declared once below with its default; `config.example.toml` documents each one.
//! A bad setting stops the program with one line that names the key.

mod env;
mod error;
mod live;
mod sections;
#[cfg(test)]
mod tests;
mod validate;

use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Provider};
use serde::{Deserialize, Serialize};

pub use env::ENV_PREFIX;
pub use error::ConfigError;
use error::{describe_figment_error, one_line_toml_error};
pub use live::{Hook, LIVE_KEYS, Live, Reloaded};
pub use sections::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub backup: BackupConfig,
    pub site: SiteConfig,
    pub policy: PolicyConfig,
    pub privacy: PrivacyConfig,
    pub abuse: AbuseConfig,
    pub log: LogConfig,
    pub billing: BillingConfig,
    pub accounts: AccountsConfig,
    pub smtp: SmtpConfig,
    pub stripe: StripeConfig,
    pub gateway: GatewayConfig,
    pub metrics: MetricsConfig,
    pub tiers: Vec<TierConfig>,
    pub providers: Vec<ProviderConfig>,
    pub models: Vec<ModelConfig>,
}

impl Config {
    /// Loads defaults, then `path` (which must exist when given), then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(path, std::env::vars())
    }

    /// Like [`Config::load`], with the environment given explicitly.
    pub fn load_from(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));

        if let Some(path) = path {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::general(format!("cannot read {}: {e}", path.display()))
            })?;
            // Parse here first: figment's own message for a syntax error spans several lines.
            if let Err(e) = Toml::string(&text).data() {
                return Err(ConfigError::general(format!(
                    "{}: {}",
                    path.display(),
                    one_line_toml_error(&e.to_string())
                )));
            }
            figment = figment.merge(Toml::string(&text));
        }

        let (figment, from_env) = env::overlay(figment, env)?;

        let config: Config = figment
            .extract_lossy()
            .map_err(|e| describe_figment_error(e, &from_env))?;
        let mut config = config;
        if config.providers.is_empty() {
            config.providers = [
                ProviderConfig::implicit(
                    "openai",
                    ProviderKind::Openai,
                    "https://api.openai.com/v1",
                    "OPENAI_API_KEY",
                ),
                ProviderConfig::implicit(
                    "anthropic",
                    ProviderKind::Anthropic,
                    "https://api.anthropic.com/v1",
                    "ANTHROPIC_API_KEY",
                ),
            ]
            .into_iter()
            .flatten()
            .collect();
        }
        config.validate()?;
        Ok(config)
    }

    /// The configured tier of an account whose tier is `name`: that one when it exists, else
    /// the default; None when no tiers are configured.
    pub fn find_tier(&self, name: Option<&str>) -> Option<&TierConfig> {
        name.and_then(|n| self.tiers.iter().find(|t| t.name == n))
            .or_else(|| {
                self.tiers
                    .iter()
                    .find(|t| t.name == self.billing.default_tier)
            })
    }

    /// [`Config::find_tier`], or a tier without limits when none is configured.
    pub fn tier(&self, name: Option<&str>) -> TierConfig {
        self.find_tier(name)
            .cloned()
            .unwrap_or_else(|| TierConfig::unlimited(&self.billing.default_tier))
    }

    /// The public URL without a trailing slash, derived from the listen address when unset.
    pub fn public_base(&self, bound: SocketAddr) -> String {
        match &self.server.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => {
                let scheme = if self.server.tls.enabled() {
                    "https"
                } else {
                    "http"
                };
                let host = match bound.ip() {
                    ip if ip.is_unspecified() => "localhost".to_owned(),
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                format!("{scheme}://{host}:{}", bound.port())
            }
        }
    }
}
