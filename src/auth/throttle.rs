//! Sign-in throttling, per client address and per account: a few free failures, then a lockout
//! that doubles with every further failure, up to a ceiling. Counters live in memory; a restart
//! forgets them, which only ever helps the person who forgot their password.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed within [`WINDOW`] before lockouts start, per account.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Per client address: higher, since an office or a phone carrier puts many people behind one.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(15 * 60);
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Entries kept before old ones are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

pub struct Throttle {
    free_failures: u32,
    entries: Mutex<HashMap<String, Entry>>,
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub failures: u32,
    /// Exactly at the free-failure limit: the moment to alert the account owner, once.
    pub burst: bool,
}

impl Throttle {
    pub fn new(free_failures: u32) -> Throttle {
        Throttle {
            free_failures,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while `key` is locked out.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) -> Failure {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, e| now.duration_since(e.last_failure) < WINDOW);
        }
        let entry = entries.entry(key.to_owned()).or_insert(Entry {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(entry.last_failure) >= WINDOW {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last_failure = now;
        if entry.failures > self.free_failures {
            let doublings = (entry.failures - self.free_failures - 1).min(10);
            let lockout = (FIRST_LOCKOUT * 2u32.pow(doublings)).min(MAX_LOCKOUT);
            entry.locked_until = Some(now + lockout);
        }
        Failure {
            failures: entry.failures,
            burst: entry.failures == self.free_failures,
        }
    }

    pub fn succeed(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_free_failures_and_clears_on_success() {
        let t = Throttle::new(ACCOUNT_FREE_FAILURES);
        for i in 1..=ACCOUNT_FREE_FAILURES {
            assert!(t.check("k").is_ok());
            assert_eq!(t.fail("k").burst, i == ACCOUNT_FREE_FAILURES);
        }
        assert!(t.check("k").is_ok());
        t.fail("k");
        let wait = t.check("k").unwrap_err();
        assert!(
            wait > Duration::from_secs(25) && wait <= FIRST_LOCKOUT,
            "{wait:?}"
        );
        t.fail("k");
        assert!(t.check("k").unwrap_err() > FIRST_LOCKOUT);
        t.succeed("k");
        assert!(t.check("k").is_ok());
        assert!(t.check("other").is_ok());
    }
}
