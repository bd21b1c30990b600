//! The upstream providers' health as the admin console shows it. The gateway keeps it and
//! reports it through [`ProviderHealth`]; the pages read it without knowing the gateway.

use std::time::Duration;

use crate::config::ProviderKind;

/// One provider's state since the server started.
#[derive(Debug, Clone)]
pub struct ProviderStatus {
    pub name: String,
    pub kind: ProviderKind,
    /// The host of its base URL.
    pub host: String,
    /// How much longer the circuit breaker rests it, when it does.
    pub resting_for: Option<Duration>,
    pub consecutive_failures: u32,
    pub successes: u64,
    pub failures: u64,
    /// What went wrong last (a kind, never a body).
    pub last_failure: Option<&'static str>,
}

/// Something that knows the providers' health: the gateway.
pub trait ProviderHealth: Send + Sync {
    fn providers(&self) -> Vec<ProviderStatus>;

    /// Secrets the secret guard found since the server started: rule and count, most first.
    fn secrets_found(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}
