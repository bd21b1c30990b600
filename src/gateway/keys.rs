//! API keys on the hot path: looked up by hash in memory. A miss is loaded from SQLite once; a
//! watcher notices revocations, suspensions and other account changes (from this process or the
//! command line) and refreshes the cache within half a second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::auth::token;
use crate::db::accounts as repo;
use crate::db::{Db, DbError, now_ms};

/// How often the watcher looks for changes.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How long an unknown key is remembered as unknown.
const NEGATIVE_TTL: Duration = Duration::from_secs(1);
/// Unknown keys remembered at most; beyond this they are forgotten all at once.
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

#[derive(Clone)]
enum Entry {
    Known(Arc<KeyInfo>),
    Unknown(Instant),
}

#[derive(Clone)]
pub struct KeyCache {
    db: Db,
    entries: Arc<RwLock<HashMap<Vec<u8>, Entry>>>,
}

impl KeyCache {
    pub fn new(db: Db) -> KeyCache {
        KeyCache {
            db,
            entries: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The key's record, from memory when possible; `None` for an unknown key.
    pub async fn lookup(&self, secret: &str) -> Result<Option<Arc<KeyInfo>>, DbError> {
        let hash = token::sha256(secret);
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
            .cloned();
        match cached {
            Some(Entry::Known(info)) => return Ok(Some(info)),
            Some(Entry::Unknown(at)) if at.elapsed() < NEGATIVE_TTL => return Ok(None),
            _ => {}
        }
        let lookup = hash.clone();
        let found = self
            .db
            .run(move |conn| repo::key_check(conn, &lookup))
            .await?
            .map(|check| Arc::new(KeyInfo::from(check)));
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        match &found {
            Some(info) => {
                entries.insert(hash, Entry::Known(info.clone()));
            }
            None => {
                let unknown = entries
                    .values()
                    .filter(|e| matches!(e, Entry::Unknown(_)))
                    .count();
                if unknown >= MAX_NEGATIVE {
                    entries.retain(|_, e| matches!(e, Entry::Known(_)));
                }
                entries.insert(hash, Entry::Unknown(Instant::now()));
            }
        }
        Ok(found)
    }

    /// Reloads every cached key from the database.
    fn refresh_all(&self, conn: &rusqlite::Connection) -> Result<(), DbError> {
        let hashes: Vec<Vec<u8>> = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        let mut fresh = HashMap::with_capacity(hashes.len());
        for hash in hashes {
            let entry = match repo::key_check(conn, &hash)? {
                Some(check) => Entry::Known(Arc::new(KeyInfo::from(check))),
                None => Entry::Unknown(Instant::now()),
            };
            fresh.insert(hash, entry);
        }
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = fresh;
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
