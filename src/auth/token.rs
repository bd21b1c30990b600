//! Random secrets and what is stored of them: only SHA-256 hashes ever reach the database.

use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Prefix of every API key, so scanners and people can tell what it is.
pub const API_KEY_PREFIX: &str = "sk-cx-";
/// Characters of the key shown in lists after the prefix.
const DISPLAY_CHARS: usize = 6;

/// 256 random bits, hex-encoded: session cookies, email links, setup links.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// A random public id (96 bits), for rows whose id users see.
pub fn random_id() -> String {
    let bytes: [u8; 12] = rand::random();
    hex::encode(bytes)
}

pub fn sha256(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// A new API key: the full key (shown once), its display prefix and its hash.
pub struct NewApiKey {
    pub key: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

/// `sk-cx-` followed by 43 base62 characters (256 bits of randomness).
pub fn new_api_key() -> NewApiKey {
    let body = Alphanumeric.sample_string(&mut rand::rng(), 43);
    let key = format!("{API_KEY_PREFIX}{body}");
    NewApiKey {
        prefix: format!("{API_KEY_PREFIX}{}", &body[..DISPLAY_CHARS]),
        hash: sha256(&key),
        key,
    }
}

/// A short human-typable code (recovery and invite codes): `xxxxx-xxxxx`, lower-case base32-ish.
pub fn short_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes: [u8; 10] = rand::random();
    let chars: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_long_random_and_hashed() {
        let a = new_api_key();
        let b = new_api_key();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with("sk-cx-"));
        assert_eq!(a.key.len(), 6 + 43);
        assert!(a.key[6..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(a.key.starts_with(&a.prefix));
        assert_eq!(a.hash, sha256(&a.key));
        assert_eq!(a.hash.len(), 32);
    }
}
