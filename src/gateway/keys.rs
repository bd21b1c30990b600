//! API keys on the hot path: looked up by hash in memory. A miss is loaded from SQLite once; a
//! watcher notices revocations, suspensions and other account changes (from this process or the
//! command line) and refreshes the cache within half a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Counts refreshes begun: a lookup that read the database before a refresh began may
    /// hold a record the refresh was about to correct, and does not keep it.
    refreshes: Arc<AtomicU64>,
}

impl KeyCache {
    pub fn new(db: Db) -> KeyCache {
        KeyCache {
            db,
            known: Arc::new(Cache::new(MAX_KNOWN)),
            unknown: Arc::new(Cache::new(MAX_NEGATIVE)),
            refreshes: Arc::new(AtomicU64::new(0)),
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
        let before = self.refreshes.load(Ordering::SeqCst);
        let lookup = hash.clone();
        let found = self
            .db
            .run(move |conn| repo::key_check(conn, &lookup))
            .await?
            .map(|check| Arc::new(KeyInfo::from(check)));
        self.keep(hash, found.clone(), before);
        Ok(found)
    }

    /// Remembers what a lookup read, `before` being the refresh count when it began reading.
    fn keep(&self, hash: Vec<u8>, found: Option<Arc<KeyInfo>>, before: u64) {
        match found {
            Some(info) => {
                self.unknown.remove(&hash);
                self.known.insert(hash.clone(), info);
                // A refresh that began after the read may have missed this entry (a key
                // revoked a moment ago): the entry is dropped and the next use reads again.
                if self.refreshes.load(Ordering::SeqCst) != before {
                    self.known.remove(&hash);
                }
            }
            None => self.unknown.insert(hash, Instant::now()),
        }
    }

    /// Reloads every cached key from the database and forgets the unknown ones (one of them
    /// may have just been created).
    fn refresh_all(&self, conn: &rusqlite::Connection) -> Result<(), DbError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with_a_key(dir: &std::path::Path) -> Db {
        let config = crate::config::DatabaseConfig {
            path: dir.join("keys.db"),
            ..crate::config::DatabaseConfig::default()
        };
        let db = Db::open(&config, true).unwrap();
        db.migrate().unwrap();
        let conn = db.conn().unwrap();
        let user = repo::NewUser {
            id: "u1",
            email: "a@example.test",
            name: "A",
            password_hash: "x",
            role: repo::Role::User,
            status: repo::Status::Active,
            verified: true,
            credit: 0,
        };
        assert!(repo::insert_user(&conn, &user, 0).unwrap());
        let hash = token::sha256("sk-cx-secret");
        let key = repo::NewKey {
            id: "k1",
            user_id: "u1",
            name: "k",
            prefix: "sk-cx-",
            hash: &hash,
            models: None,
            spend_limit: None,
            requests_per_minute: None,
            expires_at: None,
        };
        repo::insert_key(&conn, &key, 0).unwrap();
        db
    }

    #[test]
    fn a_flood_of_made_up_keys_is_remembered_within_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = KeyCache::new(db_with_a_key(dir.path()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for i in 0..3 * MAX_NEGATIVE {
                let found = cache.lookup(&format!("sk-cx-made-up-{i}")).await.unwrap();
                assert!(found.is_none());
            }
            assert!(cache.lookup("sk-cx-secret").await.unwrap().is_some());
        });
        assert!(
            cache.unknown.len() <= MAX_NEGATIVE,
            "{}",
            cache.unknown.len()
        );
        assert_eq!(cache.known.len(), 1);
    }

    #[test]
    fn a_lookup_overtaken_by_a_refresh_keeps_nothing_stale() {
        let dir = tempfile::tempdir().unwrap();
        let db = db_with_a_key(dir.path());
        let cache = KeyCache::new(db.clone());
        let hash = token::sha256("sk-cx-secret");

        // A lookup reads the key while it is still good...
        let before = cache.refreshes.load(Ordering::SeqCst);
        let read = repo::key_check(&db.conn().unwrap(), &hash)
            .unwrap()
            .map(|c| Arc::new(KeyInfo::from(c)));
        assert!(read.as_ref().is_some_and(|k| !k.revoked));
        // ...the key is revoked and the watcher's refresh runs before the lookup keeps it...
        assert!(repo::revoke_key(&db.conn().unwrap(), "u1", "k1", 1).unwrap());
        cache.refresh_all(&db.conn().unwrap()).unwrap();
        cache.keep(hash.clone(), read, before);
        // ...so the stale record is not kept, and the next use reads the revocation.
        assert!(cache.cached("sk-cx-secret").is_none());

        // Without a refresh in between, a lookup's record is kept.
        let before = cache.refreshes.load(Ordering::SeqCst);
        let read = repo::key_check(&db.conn().unwrap(), &hash)
            .unwrap()
            .map(|c| Arc::new(KeyInfo::from(c)));
        cache.keep(hash, read, before);
        assert!(cache.cached("sk-cx-secret").is_some_and(|k| k.revoked));
    }
}
