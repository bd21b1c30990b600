//! The one error a config can have: a line naming the key, from figment's, toml's or our own.

use std::fmt;

/// A config that cannot be used, described in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, as written in the TOML file (`server.tls.key`), when one is to blame.
    pub key: Option<String>,
    pub message: String,
}

impl ConfigError {
    pub(super) fn at(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: Some(key.into()),
            message: message.into(),
        }
    }

    pub(super) fn general(message: impl Into<String>) -> ConfigError {
        ConfigError {
            key: None,
            message: message.into(),
        }
    }
}

impl From<crate::tls::TlsError> for ConfigError {
    fn from(e: crate::tls::TlsError) -> ConfigError {
        ConfigError::at(format!("server.tls.{}", e.file), e.message)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Keep it on one line whatever the parts say.
        let message = self.message.replace(['\n', '\r'], " ");
        match &self.key {
            Some(key) => write!(f, "config error: {key}: {message}"),
            None => write!(f, "config error: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// toml's message spans several lines (location, source excerpt, caret, reason); keep the
/// location and the reason.
pub(super) fn one_line_toml_error(message: &str) -> String {
    let mut parts = message.lines().map(str::trim).filter(|line| {
        !line.is_empty()
            && !line.starts_with('|')
            && !line
                .split_once(" |")
                .is_some_and(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
    });
    let head = parts.next().unwrap_or("invalid TOML").to_owned();
    let rest: Vec<&str> = parts.collect();
    if rest.is_empty() {
        head
    } else {
        format!("{head}: {}", rest.join("; "))
    }
}

/// One line naming the key; `from_env` maps keys set from the environment to their variable.
pub(super) fn describe_figment_error(
    error: figment::Error,
    from_env: &[(String, String)],
) -> ConfigError {
    use figment::error::Kind;

    let mut path = error.path.clone();
    let message = match &error.kind {
        Kind::UnknownField(field, _) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            "unknown key".to_owned()
        }
        Kind::MissingField(field) => {
            path.push(field.to_string());
            "is required".to_owned()
        }
        Kind::InvalidType(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::InvalidValue(actual, expected) => format!("expected {expected}, found {actual}"),
        Kind::UnknownVariant(variant, expected) => {
            format!(
                "unknown value {variant:?}, expected one of {}",
                expected.join(", ")
            )
        }
        Kind::InvalidLength(len, expected) => format!("expected {expected}, found length {len}"),
        Kind::DuplicateField(field) => format!("{field} is given twice"),
        _ => error.kind.to_string(),
    };
    let key = path.iter().fold(String::new(), |mut key, part| {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            key.push_str(&format!("[{part}]"));
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(part);
        }
        key
    });
    let related = |env_key: &str| {
        let within = |outer: &str, inner: &str| {
            inner == outer
                || inner.starts_with(&format!("{outer}."))
                || inner.starts_with(&format!("{outer}["))
        };
        within(env_key, &key) || within(&key, env_key)
    };
    let message = match from_env.iter().find(|(k, _)| related(k)) {
        Some((_, var)) => format!("{message} (from {var})"),
        None => message,
    };
    if path.is_empty() {
        ConfigError::general(message)
    } else {
        ConfigError::at(key, message)
    }
}
