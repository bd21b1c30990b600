//! Sign-in throttling, per client address and per account: a few free failures, then a lockout
//! that doubles with every further failure, up to a ceiling. Counters live in memory; a restart
//! forgets them, which only ever helps the person who forgot their password.
//!
//! An attempt is counted as a failure the moment it is let through ([`Throttle::attempt`]), before
//! the slow check it guards, and taken back only if it succeeds: a thousand parallel guesses see
//! each other's counts, so no more than the free failures ever get past a lockout. Keys are
//! hashed and IPv6 addresses grouped by /64, so attacker-chosen keys cost a fixed size each, and
//! the table is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Failures allowed within [`WINDOW`] before lockouts start, per account.
pub const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Per client address: higher, since an office or a phone carrier puts many people behind one.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// Failures older than this are forgotten.
const WINDOW: Duration = Duration::from_secs(15 * 60);
const FIRST_LOCKOUT: Duration = Duration::from_secs(30);
const MAX_LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most. Past it, forgotten first: those outside the window, then those not
/// locked out, then the oldest.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }
}

/// A key's digest: every key costs the same few bytes, however long the text it came from.
type Key = [u8; 32];

fn key_of(text: &str) -> Key {
    Sha256::digest(text.as_bytes()).into()
}

/// The throttle key of a client address for `purpose`: IPv6 addresses by their /64, the block
/// one subscriber usually gets whole.
pub fn address_key(purpose: &str, ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("{purpose}:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("{purpose}:{v4}"),
            None => {
                let s = v6.segments();
                format!("{purpose}:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

pub struct Throttle {
    free_failures: u32,
    entries: Mutex<HashMap<Key, Entry>>,
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub failures: u32,
    /// Exactly at the free-failure limit: the moment to alert the account owner, once.
    pub burst: bool,
}

/// An attempt let through, already counted as a failure. Dropped, it stays one; it is undone by
/// [`Attempt::succeeded`] or [`Attempt::refund`].
#[must_use = "an attempt is a failure unless it is marked as a success"]
pub struct Attempt<'a> {
    throttle: &'a Throttle,
    key: Key,
    failure: Failure,
}

impl Attempt<'_> {
    /// What this attempt counts as, having failed.
    pub fn failure(&self) -> Failure {
        self.failure
    }

    /// The attempt succeeded: the key's failures are forgotten.
    pub fn succeeded(self) {
        self.throttle.lock().remove(&self.key);
    }

    /// The attempt was no failure (a correct sign-in from a shared address): it alone is taken
    /// back, and the key's other failures stay.
    pub fn refund(self) {
        let mut entries = self.throttle.lock();
        if let Some(entry) = entries.get_mut(&self.key) {
            entry.failures = entry.failures.saturating_sub(1);
            if entry.failures <= self.throttle.free_failures {
                entry.locked_until = None;
            }
        }
    }
}

impl Throttle {
    pub fn new(free_failures: u32) -> Throttle {
        Throttle {
            free_failures,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(wait)` while `key` is locked out; otherwise the attempt, counted as a failure now.
    pub fn attempt(&self, key: &str) -> Result<Attempt<'_>, Duration> {
        let now = Instant::now();
        let key = key_of(key);
        let mut entries = self.lock();
        if let Some(until) = entries.get(&key).and_then(|e| e.locked_until)
            && until > now
        {
            return Err(until - now);
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            sweep(&mut entries, now);
        }
        let entry = entries.entry(key).or_insert(Entry {
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
        let failure = Failure {
            failures: entry.failures,
            burst: entry.failures == self.free_failures,
        };
        Ok(Attempt {
            throttle: self,
            key,
            failure,
        })
    }

    /// How long `key` is still locked out, without counting anything: for callers that only
    /// need to know (to spare work for a caller already refused). A guess at a secret goes
    /// through [`Throttle::attempt`] instead.
    pub fn locked(&self, key: &str) -> Option<Duration> {
        let now = Instant::now();
        let entries = self.lock();
        let until = entries.get(&key_of(key))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room below [`MAX_ENTRIES`]: entries outside the window go first, then those not locked
/// out, then the oldest half of the rest.
fn sweep(entries: &mut HashMap<Key, Entry>, now: Instant) {
    entries.retain(|_, e| now.duration_since(e.last_failure) < WINDOW);
    if entries.len() >= MAX_ENTRIES {
        entries.retain(|_, e| e.locked(now));
    }
    if entries.len() >= MAX_ENTRIES {
        let mut ages: Vec<Instant> = entries.values().map(|e| e.last_failure).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 2];
        entries.retain(|_, e| e.last_failure > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_the_free_failures_and_clears_on_success() {
        let t = Throttle::new(ACCOUNT_FREE_FAILURES);
        for i in 1..=ACCOUNT_FREE_FAILURES {
            let attempt = t.attempt("k").unwrap();
            assert_eq!(attempt.failure().burst, i == ACCOUNT_FREE_FAILURES);
        }
        // The one after the free failures is let through, and locks the key.
        drop(t.attempt("k").unwrap());
        let wait = t.attempt("k").err().unwrap();
        assert!(
            wait > Duration::from_secs(25) && wait <= FIRST_LOCKOUT,
            "{wait:?}"
        );
        assert!(t.attempt("other").is_ok());
    }

    #[test]
    fn attempts_in_flight_count_before_they_finish() {
        let t = Throttle::new(ACCOUNT_FREE_FAILURES);
        // Every attempt is still running (none has failed or succeeded yet).
        let running: Vec<Attempt<'_>> = (0..1000).filter_map(|_| t.attempt("k").ok()).collect();
        assert_eq!(running.len(), ACCOUNT_FREE_FAILURES as usize + 1);
        // One of them succeeds: the key is free again.
        let mut running = running.into_iter();
        running.next().unwrap().succeeded();
        assert!(t.attempt("k").is_ok());
    }

    #[test]
    fn a_refund_takes_back_one_attempt_only() {
        let t = Throttle::new(2);
        drop(t.attempt("ip").unwrap());
        t.attempt("ip").unwrap().refund();
        assert_eq!(t.attempt("ip").unwrap().failure().failures, 2);
    }

    #[test]
    fn keys_are_bounded_in_size_and_number() {
        let t = Throttle::new(1);
        let long = "x".repeat(1 << 20);
        drop(t.attempt(&format!("account:{long}")).unwrap());
        for i in 0..MAX_ENTRIES + 10 {
            drop(t.attempt(&format!("account:{i}@example.test")).unwrap());
        }
        assert!(t.len() <= MAX_ENTRIES, "{}", t.len());
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key("ip", a), address_key("ip", b));
        assert_ne!(address_key("ip", a), address_key("ip", c));
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().unwrap();
        assert_eq!(address_key("ip", mapped), "ip:203.0.113.7");
    }
}
