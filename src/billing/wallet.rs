//! Wallets on the hot path: what each account and key may still spend, kept in memory.
//!
//! A request reserves its worst-case cost before it is forwarded ([`Wallets::reserve`]) and
//! holds a [`Hold`] while it runs. When its usage row commits, the usage writer settles the
//! hold to the real cost ([`Wallets::settle`]); a hold dropped unsettled (the row could not be
//! written, or the request never got that far) only gives its reservation back.
//!
//! The figures here follow the database: the usage writer is the only code that changes them
//! after loading, and it reloads them all whenever something else (a top-up, a grant, the
//! command line) has written to the ledger. Reservations and in-flight counts live only here.
//!
//! The bound on overdraft: a request is admitted only if the account's balance minus what other
//! requests hold covers its worst case. The worst case counts the request's own output limit,
//! or the model's, or `billing.reserve_output_tokens`; a request that sets no limit and writes
//! more than that can take the balance below zero by the excess, and by nothing more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::config::BillingMode;
use crate::db::DbError;

/// What an account may spend at most, beside its wallet.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caps {
    /// Monthly spend cap of the account (its own or its tier's).
    pub monthly: Option<i64>,
    /// Lifetime spend limit of the key.
    pub key: Option<i64>,
    /// Requests of the account that may run at once.
    pub concurrent: Option<u32>,
}

/// Why a request may not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The wallet does not cover the worst case.
    Funds { available: i64, needed: i64 },
    /// The account's monthly cap would be passed.
    MonthlyCap { cap: i64, spent: i64 },
    /// The key's spend limit would be passed.
    KeyLimit { limit: i64, spent: i64 },
    /// Too many requests of the account are running.
    Concurrency { limit: u32 },
}

/// An account's figures as the gateway sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub balance: i64,
    /// Held by requests that are running.
    pub reserved: i64,
    /// Spent this month (UTC).
    pub month_spent: i64,
    pub in_flight: u32,
}

#[derive(Debug, Default)]
struct Account {
    balance: i64,
    /// YYYYMM of `month_spent`.
    spend_month: u32,
    month_spent: i64,
    reserved: i64,
    in_flight: u32,
}

impl Account {
    fn spent_in(&self, month: u32) -> i64 {
        if self.spend_month == month {
            self.month_spent
        } else {
            0
        }
    }
}

#[derive(Debug, Default)]
struct KeySpend {
    spent: i64,
    reserved: i64,
}

#[derive(Default)]
struct State {
    users: HashMap<String, Account>,
    keys: HashMap<String, KeySpend>,
}

pub struct Wallets {
    mode: BillingMode,
    state: Mutex<State>,
}

/// A running request's reservation and concurrency slot; given back when dropped.
pub struct Hold {
    wallets: Arc<Wallets>,
    user_id: String,
    key_id: String,
    amount: i64,
    settled: bool,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("user_id", &self.user_id)
            .field("amount", &self.amount)
            .finish()
    }
}

impl Hold {
    pub fn amount(&self) -> i64 {
        self.amount
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.settled {
            self.wallets.release(self, None);
        }
    }
}

/// The month (YYYYMM, UTC) of a unix time in milliseconds.
pub fn month_of(at_ms: i64) -> u32 {
    let at = time::OffsetDateTime::from_unix_timestamp(at_ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    at.year().max(0) as u32 * 100 + u32::from(u8::from(at.month()))
}

impl Wallets {
    pub fn new(mode: BillingMode) -> Arc<Wallets> {
        Arc::new(Wallets {
            mode,
            state: Mutex::new(State::default()),
        })
    }

    pub fn mode(&self) -> BillingMode {
        self.mode
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `amount` for a request of `user_id` with `key_id`, or says why it may not run.
    pub fn reserve(
        self: &Arc<Self>,
        user_id: &str,
        key_id: &str,
        amount: i64,
        caps: Caps,
        now_ms: i64,
    ) -> Result<Hold, Refusal> {
        let amount = amount.max(0);
        let month = month_of(now_ms);
        let mut state = self.lock();
        let key_spend = state
            .keys
            .get(key_id)
            .map_or((0, 0), |k| (k.spent, k.reserved));
        let account = state.users.entry(user_id.to_owned()).or_default();
        if let Some(limit) = caps.concurrent
            && account.in_flight >= limit
        {
            return Err(Refusal::Concurrency { limit });
        }
        // A request that cannot cost anything (a free model) needs no credit.
        if self.mode == BillingMode::Prepaid && amount > 0 {
            let available = account.balance - account.reserved;
            if available < amount {
                return Err(Refusal::Funds {
                    available,
                    needed: amount,
                });
            }
        }
        if let Some(cap) = caps.monthly {
            let spent = account.spent_in(month);
            if amount > 0 && spent + account.reserved + amount > cap {
                return Err(Refusal::MonthlyCap { cap, spent });
            }
        }
        if let Some(limit) = caps.key {
            let (spent, reserved) = key_spend;
            if amount > 0 && spent + reserved + amount > limit {
                return Err(Refusal::KeyLimit { limit, spent });
            }
        }
        account.reserved += amount;
        account.in_flight += 1;
        state.keys.entry(key_id.to_owned()).or_default().reserved += amount;
        Ok(Hold {
            wallets: self.clone(),
            user_id: user_id.to_owned(),
            key_id: key_id.to_owned(),
            amount,
            settled: false,
        })
    }

    /// Gives back a hold and, once its usage row is committed, applies the real cost.
    pub fn settle(&self, mut hold: Hold, cost: i64, at_ms: i64) {
        hold.settled = true;
        self.release(&hold, Some((cost, month_of(at_ms))));
    }

    /// Applies a committed cost that had no hold (a request refused before it reserved).
    pub fn apply_cost(&self, user_id: &str, key_id: Option<&str>, cost: i64, at_ms: i64) {
        if cost == 0 {
            return;
        }
        let mut state = self.lock();
        Self::charge(
            &mut state,
            self.mode,
            user_id,
            key_id,
            cost,
            month_of(at_ms),
        );
    }

    fn charge(
        state: &mut State,
        mode: BillingMode,
        user_id: &str,
        key_id: Option<&str>,
        cost: i64,
        month: u32,
    ) {
        let account = state.users.entry(user_id.to_owned()).or_default();
        if mode == BillingMode::Prepaid {
            account.balance -= cost;
        }
        if account.spend_month != month {
            account.spend_month = month;
            account.month_spent = 0;
        }
        account.month_spent += cost;
        if let Some(key_id) = key_id {
            state.keys.entry(key_id.to_owned()).or_default().spent += cost;
        }
    }

    fn release(&self, hold: &Hold, cost: Option<(i64, u32)>) {
        let mut state = self.lock();
        if let Some(account) = state.users.get_mut(&hold.user_id) {
            account.reserved -= hold.amount;
            account.in_flight = account.in_flight.saturating_sub(1);
        }
        if let Some(key) = state.keys.get_mut(&hold.key_id) {
            key.reserved -= hold.amount;
        }
        if let Some((cost, month)) = cost
            && cost != 0
        {
            Self::charge(
                &mut state,
                self.mode,
                &hold.user_id,
                Some(&hold.key_id),
                cost,
                month,
            );
        }
    }

    /// The account's figures now.
    pub fn snapshot(&self, user_id: &str, now_ms: i64) -> Snapshot {
        let month = month_of(now_ms);
        self.lock()
            .users
            .get(user_id)
            .map_or_else(Snapshot::default, |a| Snapshot {
                balance: a.balance,
                reserved: a.reserved,
                month_spent: a.spent_in(month),
                in_flight: a.in_flight,
            })
    }

    /// Replaces every balance and spend figure with the database's, keeping reservations.
    pub fn load(&self, conn: &Connection) -> Result<(), DbError> {
        let users: HashMap<String, (i64, u32, i64)> = crate::db::billing::all_wallets(conn)?
            .into_iter()
            .map(|(id, balance, month, spent)| (id, (balance, month, spent)))
            .collect();
        let keys: HashMap<String, i64> = crate::db::billing::all_key_spends(conn)?
            .into_iter()
            .collect();

        let mut state = self.lock();
        state
            .users
            .retain(|id, a| users.contains_key(id) || a.in_flight > 0);
        for (id, (balance, month, spent)) in users {
            let account = state.users.entry(id).or_default();
            account.balance = balance;
            account.spend_month = month;
            account.month_spent = spent;
        }
        state
            .keys
            .retain(|id, k| keys.contains_key(id) || k.reserved > 0);
        for (id, spent) in keys {
            state.keys.entry(id).or_default().spent = spent;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    fn funded(mode: BillingMode, balance: i64) -> Arc<Wallets> {
        let wallets = Wallets::new(mode);
        wallets.lock().users.insert(
            "u".into(),
            Account {
                balance,
                ..Account::default()
            },
        );
        wallets
    }

    #[test]
    fn reservations_never_exceed_the_balance() {
        let wallets = funded(BillingMode::Prepaid, 100);
        let a = wallets.reserve("u", "k", 60, Caps::default(), NOW).unwrap();
        assert_eq!(
            wallets
                .reserve("u", "k", 60, Caps::default(), NOW)
                .unwrap_err(),
            Refusal::Funds {
                available: 40,
                needed: 60
            }
        );
        let b = wallets.reserve("u", "k", 40, Caps::default(), NOW).unwrap();
        assert_eq!(wallets.snapshot("u", NOW).reserved, 100);
        // A request that cost less than its worst case gives the rest back.
        wallets.settle(a, 25, NOW);
        drop(b);
        let snap = wallets.snapshot("u", NOW);
        assert_eq!((snap.balance, snap.reserved, snap.in_flight), (75, 0, 0));
        assert_eq!(snap.month_spent, 25);
    }

    #[test]
    fn an_empty_wallet_refuses_paid_requests_only() {
        let wallets = funded(BillingMode::Prepaid, 0);
        assert!(wallets.reserve("u", "k", 1, Caps::default(), NOW).is_err());
        assert!(wallets.reserve("u", "k", 0, Caps::default(), NOW).is_ok());
        let overdrawn = funded(BillingMode::Prepaid, -5);
        assert!(
            overdrawn
                .reserve("u", "k", 1, Caps::default(), NOW)
                .is_err()
        );
        let off = funded(BillingMode::Off, 0);
        assert!(off.reserve("u", "k", 500, Caps::default(), NOW).is_ok());
    }

    #[test]
    fn caps_and_concurrency_are_enforced() {
        let wallets = funded(BillingMode::Budget, 0);
        let caps = Caps {
            monthly: Some(100),
            key: Some(50),
            concurrent: Some(2),
        };
        let a = wallets.reserve("u", "k", 30, caps, NOW).unwrap();
        assert_eq!(
            wallets.reserve("u", "k", 30, caps, NOW).unwrap_err(),
            Refusal::KeyLimit {
                limit: 50,
                spent: 0
            }
        );
        let b = wallets.reserve("u", "k2", 30, caps, NOW).unwrap();
        assert_eq!(
            wallets.reserve("u", "k3", 1, caps, NOW).unwrap_err(),
            Refusal::Concurrency { limit: 2 }
        );
        wallets.settle(a, 30, NOW);
        wallets.settle(b, 30, NOW);
        assert_eq!(
            wallets.reserve("u", "k3", 41, caps, NOW).unwrap_err(),
            Refusal::MonthlyCap {
                cap: 100,
                spent: 60
            }
        );
        // A new month starts from nothing.
        let next_month = NOW + 40 * 86_400_000;
        assert!(wallets.reserve("u", "k3", 41, caps, next_month).is_ok());
    }

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(0), 197001);
        // 2026-11-30T23:59:59Z and a second later.
        assert_eq!(month_of(1_796_083_199_000), 202611);
        assert_eq!(month_of(1_796_083_200_000), 202612);
    }
}
