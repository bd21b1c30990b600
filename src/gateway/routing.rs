//! What a configuration reload replaces in the gateway, whole: the configuration, and the
//! providers, model index and tiers built from it.

use std::collections::HashMap;
use std::sync::Arc;

use super::providers::Providers;
use crate::config::{Config, ModelConfig, TierConfig};

/// One configuration and what the gateway builds from it: the providers with their health, the
/// model index, the tiers. A request takes one at its start and keeps it to its end, so a reload
/// never changes the rules under a running request.
pub struct Routing {
    pub config: Arc<Config>,
    pub providers: Providers,
    /// Model id or alias → index into `config.models`.
    index: HashMap<String, usize>,
    /// The tier of accounts when no tiers are configured.
    unlimited: TierConfig,
    /// What Codex CLI is told to use as its instructions for these models.
    pub(super) codex_instructions: String,
}

impl Routing {
    pub(super) fn build(
        config: Arc<Config>,
        previous: Option<&Routing>,
    ) -> Result<Routing, String> {
        let mut index = HashMap::new();
        for (i, model) in config.models.iter().enumerate() {
            index.insert(model.id.clone(), i);
            for alias in &model.aliases {
                index.insert(alias.clone(), i);
            }
        }
        let codex_instructions = match &config.gateway.codex_instructions_file {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "gateway.codex_instructions_file: cannot read {}: {e}",
                    path.display()
                )
            })?,
            None => include_str!("../../assets/codex/instructions.md").to_owned(),
        };
        Ok(Routing {
            providers: Providers::new(&config, previous.map(|r| &r.providers)),
            index,
            unlimited: TierConfig::unlimited(&config.billing.default_tier),
            codex_instructions,
            config,
        })
    }

    pub fn model(&self, id: &str) -> Option<&ModelConfig> {
        self.index.get(id).and_then(|&i| self.config.models.get(i))
    }

    /// The tier of an account: the configured one it names, else the default.
    pub fn tier(&self, name: Option<&str>) -> &TierConfig {
        self.config.find_tier(name).unwrap_or(&self.unlimited)
    }
}
