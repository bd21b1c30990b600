//! The configuration a running server reloads: on SIGHUP and from the admin console, the file
//! (and the environment) is read again; a file that does not load changes nothing.
//!
//! What the server set up at start from the rest — the listeners, the database, mail, sessions —
//! keeps its first value until a restart; a reload says which of those keys changed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use serde_json::Value;

use super::{Config, ConfigError};

/// The sections and keys a reload applies. Everything else is read once, at start.
pub const LIVE_KEYS: &[&str] = &[
    "providers",
    "models",
    "tiers",
    "gateway",
    "billing.default_tier",
    "billing.reserve_output_tokens",
    "billing.topup_presets",
    "billing.topup_min",
    "billing.topup_max",
    "abuse",
];

/// Something derived from the configuration that a reload must rebuild (the gateway's providers
/// and model index). It checks the new configuration and takes it, or fails changing nothing.
pub type Hook = Box<dyn Fn(&Arc<Config>) -> Result<(), String> + Send + Sync>;

/// The current configuration, shared by everything that reads it while the server runs.
pub struct Live {
    current: ArcSwap<Config>,
    /// The file it came from; None when it came from defaults and the environment alone.
    path: Option<PathBuf>,
    hooks: Mutex<Vec<Hook>>,
    /// One reload at a time.
    reloading: Mutex<()>,
}

/// What a successful reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub providers: usize,
    pub models: usize,
    pub tiers: usize,
    /// Keys whose value in the file differs from the running one but apply only at a restart.
    pub needs_restart: Vec<String>,
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "configuration reloaded: {} providers, {} models, {} tiers",
            self.providers, self.models, self.tiers
        )?;
        if !self.needs_restart.is_empty() {
            write!(
                f,
                "; changed but applied only at the next restart: {}",
                self.needs_restart.join(", ")
            )?;
        }
        Ok(())
    }
}

impl Live {
    pub fn new(config: Config, path: Option<&Path>) -> Live {
        Live {
            current: ArcSwap::from_pointee(config),
            path: path.map(Path::to_path_buf),
            hooks: Mutex::new(Vec::new()),
            reloading: Mutex::new(()),
        }
    }

    /// The configuration now. Hold the returned value for the length of one request or page,
    /// so that it sees one configuration throughout.
    pub fn get(&self) -> Arc<Config> {
        self.current.load_full()
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Adds something a reload rebuilds; hooks run in the order they were added.
    pub fn on_reload(&self, hook: Hook) {
        self.hooks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hook);
    }

    /// Reads the file and the environment again and applies what may change while running.
    /// Blocking (it reads files); on any error the running configuration stays as it was.
    pub fn reload(&self) -> Result<Reloaded, ConfigError> {
        let _one = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let read = Config::load(self.path.as_deref())?;
        let running = self.get();
        let (next, needs_restart) = merge(&running, &read)?;
        let next = Arc::new(next);
        for hook in self.hooks.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            hook(&next).map_err(ConfigError::general)?;
        }
        self.current.store(next.clone());
        Ok(Reloaded {
            providers: next.providers.len(),
            models: next.models.len(),
            tiers: next.tiers.len(),
            needs_restart,
        })
    }
}

/// The running configuration with the live keys taken from `read`, and the other keys whose
/// value differs in `read`, dotted (`server.listen`).
fn merge(running: &Config, read: &Config) -> Result<(Config, Vec<String>), ConfigError> {
    let as_value = |config: &Config| {
        serde_json::to_value(config)
            .map_err(|e| ConfigError::general(format!("cannot compare configurations: {e}")))
    };
    let mut next = as_value(running)?;
    let read = as_value(read)?;
    let mut needs_restart = Vec::new();
    differences(&next, &read, "", &mut needs_restart);
    needs_restart.retain(|key| !is_live(key));
    for key in LIVE_KEYS {
        let path: Vec<&str> = key.split('.').collect();
        if let (Some(slot), Some(value)) = (lookup_mut(&mut next, &path), lookup(&read, &path)) {
            *slot = value.clone();
        }
    }
    let next: Config = serde_json::from_value(next)
        .map_err(|e| ConfigError::general(format!("cannot apply the configuration: {e}")))?;
    // The combination is new: check it as a whole, as a start would.
    next.validate()?;
    Ok((next, needs_restart))
}

fn is_live(key: &str) -> bool {
    LIVE_KEYS.iter().any(|live| {
        key == *live
            || key
                .strip_prefix(live)
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    })
}

/// The dotted keys (down to the first array) where `a` and `b` differ.
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => differences(x, y, &here, out),
                    _ => out.push(here),
                }
            }
        }
        (a, b) if a != b => out.push(at.to_owned()),
        _ => {}
    }
}

fn lookup<'v>(value: &'v Value, path: &[&str]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

fn lookup_mut<'v>(value: &'v mut Value, path: &[&str]) -> Option<&'v mut Value> {
    path.iter().try_fold(value, |v, key| v.get_mut(*key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        let dir = std::env::temp_dir().join(format!(
            "codexapi-live-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.toml");
        std::fs::write(&file, toml).unwrap();
        let config = Config::load_from(Some(&file), std::iter::empty()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        config
    }

    #[test]
    fn live_keys_apply_and_the_rest_is_named() {
        let running = config(
            "[server]\nlisten = \"127.0.0.1:8080\"\n[billing]\ndefault_tier = \"a\"\n[[tiers]]\nname = \"a\"\n",
        );
        let read = config(
            "[server]\nlisten = \"127.0.0.1:9090\"\n[database]\npath = \"other.db\"\n\
             [billing]\ndefault_tier = \"b\"\n[[tiers]]\nname = \"b\"\nrequests_per_minute = 5\n",
        );
        let (next, restart) = merge(&running, &read).unwrap();
        assert_eq!(next.server.listen, running.server.listen);
        assert_eq!(next.database.path, running.database.path);
        assert_eq!(next.billing.default_tier, "b");
        assert_eq!(next.tiers[0].requests_per_minute, Some(5));
        assert_eq!(restart, vec!["database.path", "server.listen"]);
    }

    #[test]
    fn an_unchanged_file_needs_no_restart() {
        let text = "[[providers]]\nname = \"p\"\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key = \"k\"\n";
        let (next, restart) = merge(&config(text), &config(text)).unwrap();
        assert!(restart.is_empty(), "{restart:?}");
        assert_eq!(next.providers.len(), 1);
    }

    #[test]
    fn prefixes_match_whole_keys_only() {
        assert!(is_live("gateway.max_attempts"));
        assert!(is_live("providers"));
        assert!(!is_live("billing.mode"));
        assert!(!is_live("billing.default_tier_x"));
    }
}
