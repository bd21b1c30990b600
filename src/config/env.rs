//! The environment overlay: `CODEXAPI_<SECTION>__<KEY>` variables over the file, and
//! `CODEXAPI_<…>_FILE` variables that name a file holding the value (for container secrets).
//!
//! The values stay text: `extract_lossy` turns "8080" into a number only where a number is
//! expected, so a numeric-looking name or password stays a string. figment's own `Env` provider
//! parses every value it reads ("8080" becomes a number, which then fails a string key) and reads
//! the process environment itself, which tests could only change through `unsafe`; the overlay
//! below does neither.

use figment::Figment;
use figment::value::Value;

use super::ConfigError;

/// Prefix of every environment variable the config reads.
pub const ENV_PREFIX: &str = "CODEXAPI_";
/// Environment variables with the prefix that are not config keys.
const ENV_NOT_KEYS: &[&str] = &["CONFIG"];
/// Suffix of an environment variable whose value is a path to a file holding the setting.
const FILE_SUFFIX: &str = "_FILE";

/// Merges the config variables of `env` over `figment`; returns it with each key set and the
/// variable it came from, so that an error can name the variable.
pub(super) fn overlay(
    mut figment: Figment,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(Figment, Vec<(String, String)>), ConfigError> {
    let mut from_env: Vec<(String, String)> = Vec::new();
    for (var, value) in env {
        let Some(name) = var.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        if ENV_NOT_KEYS.contains(&name) {
            continue;
        }
        let value = match name.strip_suffix(FILE_SUFFIX) {
            Some(_) => std::fs::read_to_string(&value)
                .map_err(|e| ConfigError::general(format!("{var}: cannot read {value}: {e}")))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            None => value,
        };
        let name = name.strip_suffix(FILE_SUFFIX).unwrap_or(name);
        let key = env_name_to_key(name);
        let parsed = match value
            .trim()
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
        {
            // A list: `[10.0.0.0/8, "192.168.1.1"]`.
            Some(items) => Value::from(
                items
                    .split(',')
                    .map(|item| item.trim().trim_matches('"').to_owned())
                    .filter(|item| !item.is_empty())
                    .collect::<Vec<String>>(),
            ),
            None => Value::from(value),
        };
        figment = figment.merge((key.as_str(), parsed));
        from_env.push((key, var));
    }

    Ok((figment, from_env))
}

/// `SERVER__TLS__CERT` → `server.tls.cert`.
fn env_name_to_key(name: &str) -> String {
    name.to_ascii_lowercase().replace("__", ".")
}
