//! Fair-use rate limits: requests per minute (per account and per key) and tokens per minute
//! (per account), as generic cell rate algorithm buckets from `governor`. A bucket holds a
//! minute's allowance and refills continuously, so `reset` is the time until it is full again.
//!
//! Tokens are counted in two steps: a request needs its estimated input tokens free to start
//! (clamped to the whole allowance, so one large request can still run on a full bucket), and
//! its output tokens are taken from what is left when it ends.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::{StateInformationMiddleware, StateSnapshot};
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};

type Bucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type Instant = <DefaultClock as Clock>::Instant;

/// Buckets not used for this long are forgotten (they are full again by then anyway).
const IDLE: Duration = Duration::from_secs(120);

/// The state of one limit after a request was counted, for the `x-ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: u32,
    pub remaining: u32,
    /// Until the allowance is whole again.
    pub reset: Duration,
}

/// The windows a request was counted against, the tightest of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Verdict {
    pub requests: Option<Window>,
    pub tokens: Option<Window>,
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Requests,
    Tokens,
}

/// A refused request: which limit, how long to wait, and the windows for the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: Limited,
    pub retry_after: Duration,
    pub verdict: Verdict,
}

/// The limits that apply to one request; `None` for none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quotas {
    pub account_requests: Option<u32>,
    pub key_requests: Option<u32>,
    pub account_tokens: Option<u32>,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    AccountRequests,
    KeyRequests,
    AccountTokens,
}

struct Entry {
    per_minute: u32,
    bucket: Arc<Bucket>,
    last_used: std::time::Instant,
}

pub struct RateLimits {
    clock: DefaultClock,
    buckets: Mutex<HashMap<(Scope, String), Entry>>,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            clock: DefaultClock::default(),
            buckets: Mutex::new(HashMap::new()),
        }
    }
}

fn window(per_minute: u32, snapshot: &StateSnapshot) -> Window {
    let remaining = snapshot.remaining_burst_capacity();
    let per_cell = snapshot.quota().replenish_interval();
    Window {
        limit: per_minute,
        remaining,
        reset: per_cell * per_minute.saturating_sub(remaining),
    }
}

fn refused(per_minute: u32, not_until: &NotUntil<Instant>, now: Instant) -> (Window, Duration) {
    let wait = not_until.wait_time_from(now);
    let per_cell = not_until.quota().replenish_interval();
    let window = Window {
        limit: per_minute,
        remaining: 0,
        reset: wait + per_cell * per_minute.saturating_sub(1),
    };
    (window, wait)
}

/// The window with less left.
fn tighter(a: Option<Window>, b: Window) -> Window {
    match a {
        Some(a) if a.remaining <= b.remaining => a,
        _ => b,
    }
}

impl RateLimits {
    fn bucket(&self, scope: Scope, id: &str, per_minute: u32) -> Arc<Bucket> {
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > 10_000 {
            buckets.retain(|_, e| now.duration_since(e.last_used) < IDLE);
        }
        let entry = buckets
            .entry((scope, id.to_owned()))
            .or_insert_with(|| Entry {
                per_minute,
                bucket: Arc::new(new_bucket(per_minute)),
                last_used: now,
            });
        if entry.per_minute != per_minute {
            entry.per_minute = per_minute;
            entry.bucket = Arc::new(new_bucket(per_minute));
        }
        entry.last_used = now;
        entry.bucket.clone()
    }

    /// Counts a request that is about to start, with its estimated input tokens.
    pub fn admit(
        &self,
        account: &str,
        key: &str,
        quotas: Quotas,
        input_tokens: u64,
    ) -> Result<Verdict, Exceeded> {
        let mut verdict = Verdict::default();
        let checks = [
            (Scope::KeyRequests, key, quotas.key_requests),
            (Scope::AccountRequests, account, quotas.account_requests),
        ];
        for (scope, id, limit) in checks {
            let Some(per_minute) = limit else { continue };
            let bucket = self.bucket(scope, id, per_minute);
            match bucket.check() {
                Ok(snapshot) => {
                    verdict.requests =
                        Some(tighter(verdict.requests, window(per_minute, &snapshot)));
                }
                Err(not_until) => {
                    let (window, wait) = refused(per_minute, &not_until, self.clock.now());
                    verdict.requests = Some(window);
                    return Err(Exceeded {
                        limit: Limited::Requests,
                        retry_after: wait,
                        verdict,
                    });
                }
            }
        }
        if let Some(per_minute) = quotas.account_tokens {
            let bucket = self.bucket(Scope::AccountTokens, account, per_minute);
            let wanted = u32::try_from(input_tokens)
                .unwrap_or(u32::MAX)
                .clamp(1, per_minute);
            let cells = NonZeroU32::new(wanted).unwrap_or(NonZeroU32::MIN);
            match bucket.check_n(cells) {
                Ok(Ok(snapshot)) => verdict.tokens = Some(window(per_minute, &snapshot)),
                Ok(Err(not_until)) => {
                    let (window, wait) = refused(per_minute, &not_until, self.clock.now());
                    verdict.tokens = Some(window);
                    return Err(Exceeded {
                        limit: Limited::Tokens,
                        retry_after: wait,
                        verdict,
                    });
                }
                // Cannot happen: the count is clamped to the bucket's size.
                Err(_) => {}
            }
        }
        Ok(verdict)
    }

    /// Takes a finished request's output tokens from the account's allowance, as far as it goes.
    pub fn spend_tokens(&self, account: &str, per_minute: Option<u32>, tokens: u64) {
        let Some(per_minute) = per_minute else { return };
        let bucket = self.bucket(Scope::AccountTokens, account, per_minute);
        let mut left = tokens;
        while left > 0 {
            let step = u32::try_from(left).unwrap_or(u32::MAX).min(per_minute);
            let Some(cells) = NonZeroU32::new(step) else {
                return;
            };
            match bucket.check_n(cells) {
                Ok(Ok(_)) => left -= u64::from(step),
                _ => {
                    // Less is left than this step: take what there is, one cell at a time.
                    while bucket.check().is_ok() {}
                    return;
                }
            }
        }
    }
}

fn new_bucket(per_minute: u32) -> Bucket {
    let size = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_minute(size)).with_middleware::<StateInformationMiddleware>()
}

/// A duration the way OpenAI's `x-ratelimit-reset-*` headers write it: `1s`, `6m0s`, `20ms`.
pub fn reset_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (minutes, rest) = (ms / 60_000, ms % 60_000);
    let (secs, frac) = (rest / 1000, rest % 1000);
    let secs = if frac == 0 {
        secs.to_string()
    } else {
        let frac = format!("{frac:03}");
        format!("{secs}.{}", frac.trim_end_matches('0'))
    };
    if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_requests_and_refuses_past_the_limit() {
        let limits = RateLimits::default();
        let quotas = Quotas {
            account_requests: Some(3),
            ..Quotas::default()
        };
        for left in (0..3).rev() {
            let verdict = limits.admit("a", "k", quotas, 10).unwrap();
            let window = verdict.requests.unwrap();
            assert_eq!((window.limit, window.remaining), (3, left));
            assert!(verdict.tokens.is_none());
        }
        let refused = limits.admit("a", "k", quotas, 10).unwrap_err();
        assert_eq!(refused.limit, Limited::Requests);
        assert!(refused.retry_after > Duration::from_secs(15));
        assert!(refused.retry_after <= Duration::from_secs(20));
        assert_eq!(refused.verdict.requests.unwrap().remaining, 0);
        // Another account is not affected.
        assert!(limits.admit("b", "k2", quotas, 10).is_ok());
    }

    #[test]
    fn a_key_limit_below_the_account_limit_wins() {
        let limits = RateLimits::default();
        let quotas = Quotas {
            account_requests: Some(100),
            key_requests: Some(1),
            ..Quotas::default()
        };
        let verdict = limits.admit("a", "k", quotas, 0).unwrap();
        assert_eq!(verdict.requests.unwrap().remaining, 0);
        assert_eq!(
            limits.admit("a", "k", quotas, 0).unwrap_err().limit,
            Limited::Requests
        );
        assert!(limits.admit("a", "other", quotas, 0).is_ok());
    }

    #[test]
    fn counts_tokens_in_and_out() {
        let limits = RateLimits::default();
        let quotas = Quotas {
            account_tokens: Some(1000),
            ..Quotas::default()
        };
        let verdict = limits.admit("a", "k", quotas, 300).unwrap();
        assert_eq!(verdict.tokens.unwrap().remaining, 700);
        limits.spend_tokens("a", Some(1000), 650);
        let refused = limits.admit("a", "k", quotas, 100).unwrap_err();
        assert_eq!(refused.limit, Limited::Tokens);
        // Output beyond what is left drains the bucket, nothing more.
        limits.spend_tokens("a", Some(1000), 5000);
        assert!(limits.admit("a", "k", quotas, 1).is_err());
        // A request larger than the whole allowance still runs on a full bucket.
        assert!(limits.admit("b", "k", quotas, 50_000).is_ok());
    }

    #[test]
    fn reset_reads_like_openai_headers() {
        assert_eq!(reset_text(Duration::from_millis(20)), "20ms");
        assert_eq!(reset_text(Duration::from_secs(1)), "1s");
        assert_eq!(reset_text(Duration::from_millis(1500)), "1.5s");
        assert_eq!(reset_text(Duration::from_secs(360)), "6m0s");
        assert_eq!(reset_text(Duration::from_millis(61_250)), "1m1.25s");
    }
}
