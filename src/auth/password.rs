//! Passwords: Argon2id with OWASP's parameters, computed on blocking threads with a bound on how
//! many run at once, so a flood of sign-ins cannot starve the server. Strength is judged by zxcvbn.

use std::sync::{Arc, OnceLock};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

/// OWASP's recommendation for Argon2id: 19 MiB, 2 passes, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password now, on the calling thread (command line, tests).
pub fn hash_blocking(password: &str) -> Result<String, PasswordError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|_| PasswordError::Hashing)
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    argon2().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash of a random password, verified against when an account does not exist so that the
/// answer takes as long as for an account that does.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_blocking(&crate::auth::token::random_token()).unwrap_or_default())
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password could not be hashed")]
    Hashing,
    #[error("the hashing task stopped")]
    TaskFailed,
}

/// Runs hashes off the async workers, a bounded number at once.
#[derive(Clone)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// `concurrency` 0 means one per CPU core.
    pub fn new(concurrency: usize) -> Hasher {
        let concurrency = match concurrency {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        Hasher {
            permits: Arc::new(Semaphore::new(concurrency)),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PasswordError::TaskFailed)?;
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|_| PasswordError::TaskFailed)?
    }

    /// Checks `password` against `hash`; with no hash (no such account) it spends the same time
    /// and answers false.
    pub async fn verify(&self, password: String, hash: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || match hash {
            Some(hash) => verify_blocking(&password, &hash),
            None => {
                verify_blocking(&password, decoy_hash());
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// Longest password accepted; Argon2 would take any length, but a megabyte "password" is abuse.
pub const MAX_LENGTH: usize = 256;

/// Why a new password is refused, written for the person choosing it.
pub fn check_strength(password: &str, min_length: usize, personal: &[&str]) -> Result<(), String> {
    let length = password.chars().count();
    if length < min_length {
        return Err(format!("Use at least {min_length} characters."));
    }
    if length > MAX_LENGTH {
        return Err(format!("Use at most {MAX_LENGTH} characters."));
    }
    let entropy = zxcvbn::zxcvbn(password, personal);
    if (entropy.score() as u8) < 3 {
        let advice = entropy
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "It is too easy to guess.".to_owned());
        return Err(format!(
            "This password is too weak: {advice} Add more words or characters."
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_blocking("correct horse battery staple").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_blocking("correct horse battery staple", &hash));
        assert!(!verify_blocking("correct horse battery stapler", &hash));
    }

    #[test]
    fn weak_and_short_passwords_are_refused() {
        assert!(check_strength("short", 10, &[]).is_err());
        assert!(check_strength("password123", 10, &[]).is_err());
        assert!(check_strength("alice@example.com1", 10, &["alice@example.com"]).is_err());
        assert!(check_strength("violet-harbor-tunes-92", 10, &[]).is_ok());
    }
}
