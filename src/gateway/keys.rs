//! API keys on the hot path: looked up by hash in memory. A miss is loaded from SQLite once; a
//! watcher notices revocations, suspensions and other account changes (from this process or the
//! command line) and refreshes the cache within half a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use quick_cache::sync::Cache;

use crate::auth::token;
use crate::db::accounts as repo;
use crate::db::{Db, DbError, now_ms};

/// How often the watcher looks for changes.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How long an unknown key is remembered as unknown.
const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// Unknown keys remembered at most.
const MAX_NEGATIVE: usize = 10_000;

/// What the gateway knows about a key and its account: the database's record (which derefs
/// to it), with the rules for using it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo(repo::KeyCheck);

impl From<repo::KeyCheck> for KeyInfo {
    fn from(check: repo::KeyCheck) -> KeyInfo {
        KeyInfo(check)
    }
}

impl std::ops::Deref for KeyInfo {
    type Target = repo::KeyCheck;

    fn deref(&self) -> &repo::KeyCheck {
        &self.0
    }
}

impl KeyInfo {
    /// Why this key may not be used now, if it may not.
    pub fn refusal(&self, now: i64) -> Option<&'static str> {
        if self.revoked {
            Some("This API key has been revoked.")
        } else if self.expires_at.is_some_and(|at| at <= now) {
            Some("This API key has expired.")
        } else if self.account_status == "suspended" {
            Some("This account is suspended.")
        } else if self.account_status != "active" {
            Some("This account is waiting for approval.")
        } else {
            None
        }
    }

    pub fn allows(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|models| models.iter().any(|m| m == model))
    }
}

/// Keys in use at once, at most; beyond this the least used are loaded again when next seen.
const MAX_KNOWN: usize = 100_000;

/// Key hashes the gateway has looked up: the known ones with their record, the unknown ones with
/// when they were found unknown. Both are bounded, so a flood of made-up keys costs one database
/// lookup each at most and no memory beyond the bound.
#[derive(Clone)]
pub struct KeyCache {
    db: Db,
    known: Arc<Cache<Vec<u8>, Arc<KeyInfo>>>,
    unknown: Arc<Cache<Vec<u8>, Instant>>,
}

impl KeyCache {
    pub fn new(db: Db) -> KeyCache {
        KeyCache {
            db,
            known: Arc::new(Cache::new(MAX_KNOWN)),
            unknown: Arc::new(Cache::new(MAX_NEGATIVE)),
        }
    }

    /// The key's record if it is in memory now; nothing is looked up.
    pub fn cached(&self, secret: &str) -> Option<Arc<KeyInfo>> {
        self.known.get(&token::sha256(secret))
    }

    /// The key's record, from memory when possible; `None` for an unknown key.
    pub async fn lookup(&self, secret: &str) -> Result<Option<Arc<KeyInfo>>, DbError> {
        let hash = token::sha256(secret);
        if let Some(info) = self.known.get(&hash) {
            return Ok(Some(info));
        }
        if self
            .unknown
            .get(&hash)
            .is_some_and(|at| at.elapsed() < NEGATIVE_TTL)
        {
            return Ok(None);
        }
        let lookup = hash.clone();
        let found = self
            .db
            .run(move |conn| repo::key_check(conn, &lookup))
            .await?
            .map(|check| Arc::new(KeyInfo::from(check)));
        match &found {
            Some(info) => {
                self.unknown.remove(&hash);
                self.known.insert(hash, info.clone());
            }
            None => self.unknown.insert(hash, Instant::now()),
        }
        Ok(found)
    }

    /// Reloads every cached key from the database and forgets the unknown ones (one of them
    /// may have just been created).
    fn refresh_all(&self, conn: &rusqlite::Connection) -> Result<(), DbError> {
        let hashes: Vec<Vec<u8>> = self.known.iter().map(|(hash, _)| hash).collect();
        for hash in hashes {
            match repo::key_check(conn, &hash)? {
                Some(check) => self.known.insert(hash, Arc::new(KeyInfo::from(check))),
                None => {
                    self.known.remove(&hash);
                }
            }
        }
        self.unknown.clear();
        Ok(())
    }

    /// Watches for changes until the process ends; run it on a thread of its own.
    pub fn watch_blocking(self, stop: Arc<std::sync::atomic::AtomicBool>) {
        let mut last = None;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let result = self.db.conn().and_then(|conn| {
                let now = repo::key_marker(&conn)?;
                if last.is_some_and(|seen| seen != now) {
                    self.refresh_all(&conn)?;
                }
                last = Some(now);
                Ok(())
            });
            if let Err(e) = result {
                tracing::warn!("key cache refresh failed: {e}");
            }
            std::thread::sleep(WATCH_EVERY);
        }
    }
}

/// The secret a request presents: `Authorization: Bearer …` or `x-api-key: …`.
pub fn presented_key(headers: &actix_web::http::header::HeaderMap) -> Option<String> {
    let bearer = headers
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let x_api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    bearer
        .or(x_api_key)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// Milliseconds now, for expiry checks.
pub fn now() -> i64 {
    now_ms()
}
