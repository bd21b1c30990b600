//! The upstream providers' health as the admin console shows it. The gateway keeps it and
//! reports it through [`ProviderHealth`]; the pages read it without knowing the gateway.

use std::future::Future;
use std::pin::Pin;
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
    /// When it last answered, and last failed (unix ms).
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    /// Requests may go to it; an admin takes it out of rotation and back.
    pub in_rotation: bool,
}

/// What a test request to a provider found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub ok: bool,
    /// The status and the kind of error the provider named, or why nothing came back; never
    /// a body.
    pub summary: String,
    pub latency_ms: u64,
}

/// Something that knows the providers' health: the gateway.
pub trait ProviderHealth: Send + Sync {
    fn providers(&self) -> Vec<ProviderStatus>;

    /// Takes the provider out of rotation or back; false when there is none of that name.
    fn set_in_rotation(&self, name: &str, on: bool) -> bool;

    /// Sends the provider a minimal request (one token of answer) and says how it went; none
    /// when there is no provider of that name. A success ends a rest the breaker gave it.
    fn probe<'a>(&'a self, name: &'a str) -> Pin<Box<dyn Future<Output = Option<Probe>> + 'a>>;

    /// Secrets the secret guard found since the server started: rule and count, most first.
    fn secrets_found(&self) -> Vec<(String, u64)> {
        Vec::new()
    }
}

/// The `settings` key of the providers an admin took out of rotation: their names, as JSON.
pub const OUT_OF_ROTATION_KEY: &str = "providers.out_of_rotation";

/// The providers taken out of rotation, as stored.
pub fn out_of_rotation(conn: &rusqlite::Connection) -> Result<Vec<String>, crate::db::DbError> {
    Ok(crate::db::settings::get(conn, OUT_OF_ROTATION_KEY)?
        .and_then(|list| serde_json::from_str(&list).ok())
        .unwrap_or_default())
}

/// Takes a provider out of rotation or back, in the running gateway and for the next start;
/// false when there is no provider of that name.
pub fn set_in_rotation(
    conn: &rusqlite::Connection,
    health: &dyn ProviderHealth,
    name: &str,
    on: bool,
) -> Result<bool, crate::db::DbError> {
    if !health.set_in_rotation(name, on) {
        return Ok(false);
    }
    let mut list = out_of_rotation(conn)?;
    list.retain(|n| n != name);
    if !on {
        list.push(name.to_owned());
    }
    let stored = serde_json::to_string(&list).unwrap_or_else(|_| "[]".to_owned());
    crate::db::settings::set(conn, OUT_OF_ROTATION_KEY, &stored, crate::db::now_ms())?;
    Ok(true)
}

/// At start: the providers an admin took out of rotation stay out.
pub fn restore_rotation(
    conn: &rusqlite::Connection,
    health: &dyn ProviderHealth,
) -> Result<(), crate::db::DbError> {
    for name in out_of_rotation(conn)? {
        if !health.set_in_rotation(&name, false) {
            tracing::info!("provider {name} was out of rotation and is no longer configured");
        }
    }
    Ok(())
}
