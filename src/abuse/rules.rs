//! The rules: each reads one window of security events or request metadata and says which
//! accounts, keys or networks crossed its threshold, with the evidence a person needs to judge
//! it (counts, networks, times, amounts; never request content).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::Connection;

use super::{Evidence, network_of};
use crate::clock::format_ms;
use crate::config::{AbuseConfig, CountRule};
use crate::db::DbError;
use crate::db::abuse as repo;
use crate::money::Money;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;
/// Networks listed by name in a flag's evidence; beyond them only the count.
const NETWORKS_LISTED: usize = 10;

/// The rules, by the name a flag stores as its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    SigninFailuresNetwork,
    SigninFailuresAccount,
    KeyNetworks,
    SpendSpike,
    RateLimited,
    SignupsNetwork,
    /// Raised by Stripe's webhook, not by the detector.
    Dispute,
}

impl Rule {
    pub const DETECTED: &[Rule] = &[
        Rule::SigninFailuresNetwork,
        Rule::SigninFailuresAccount,
        Rule::KeyNetworks,
        Rule::SpendSpike,
        Rule::RateLimited,
        Rule::SignupsNetwork,
    ];

    pub fn kind(self) -> &'static str {
        match self {
            Rule::SigninFailuresNetwork => "signin_failures_network",
            Rule::SigninFailuresAccount => "signin_failures_account",
            Rule::KeyNetworks => "key_networks",
            Rule::SpendSpike => "spend_spike",
            Rule::RateLimited => "rate_limited",
            Rule::SignupsNetwork => "signups_network",
            Rule::Dispute => "dispute",
        }
    }

    pub fn from_kind(kind: &str) -> Option<Rule> {
        Rule::DETECTED
            .iter()
            .chain(&[Rule::Dispute])
            .copied()
            .find(|r| r.kind() == kind)
    }

    /// What the rule is about, for people.
    pub fn label(self) -> &'static str {
        match self {
            Rule::SigninFailuresNetwork => "Failed sign-ins from one network",
            Rule::SigninFailuresAccount => "Failed sign-ins on one account",
            Rule::KeyNetworks => "A key used from many networks",
            Rule::SpendSpike => "Spend far above the account's baseline",
            Rule::RateLimited => "Rate-limit hammering",
            Rule::SignupsNetwork => "Many sign-ups from one network",
            Rule::Dispute => "Payment dispute",
        }
    }

    /// Whether the configuration suspends the accounts of this rule's flags.
    pub fn auto_suspend(self, config: &AbuseConfig) -> bool {
        match self {
            Rule::SigninFailuresNetwork => false,
            Rule::SigninFailuresAccount => config.signin_failures_account.auto_suspend,
            Rule::KeyNetworks => config.key_networks.auto_suspend,
            Rule::SpendSpike => config.spend_spike.auto_suspend,
            Rule::RateLimited => config.rate_limited.auto_suspend,
            Rule::SignupsNetwork => config.signups_network.auto_suspend,
            Rule::Dispute => config.disputes.auto_suspend,
        }
    }
}

/// What a rule found about one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    /// The subject: an account id, a key id or a network.
    pub reference: String,
    /// The account the flag is about, when it is about one.
    pub user_id: Option<String>,
    /// The accounts a suspension would concern (the sign-ups from a network, or the one).
    pub accounts: Vec<String>,
    pub detail: String,
    pub evidence: Evidence,
    /// From when an earlier flag, once resolved, keeps this one from being raised again.
    pub quiet_since: i64,
}

fn pair(label: &str, value: impl ToString) -> (String, String) {
    (label.to_owned(), value.to_string())
}

/// "1 minute", "15 minutes".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn window_text(mins: u32) -> String {
    match mins {
        m if m % 1440 == 0 => count(u64::from(m / 1440), "day"),
        m if m % 60 == 0 => count(u64::from(m / 60), "hour"),
        m => count(u64::from(m), "minute"),
    }
}

fn since(rule: &CountRule, now: i64) -> i64 {
    now - i64::from(rule.window_mins) * MINUTE_MS
}

fn networks_text(networks: &BTreeSet<String>) -> String {
    let listed: Vec<&str> = networks
        .iter()
        .take(NETWORKS_LISTED)
        .map(String::as_str)
        .collect();
    let more = networks.len().saturating_sub(NETWORKS_LISTED);
    if more > 0 {
        format!("{} and {more} more", listed.join(", "))
    } else {
        listed.join(", ")
    }
}

/// Everything the enabled rules find now.
pub fn findings(
    conn: &Connection,
    config: &AbuseConfig,
    currency: &str,
    now: i64,
) -> Result<Vec<Finding>, DbError> {
    let mut found = Vec::new();
    let failures = &config.signin_failures_network;
    if failures.enabled {
        let events = repo::events(conn, "sign_in_failed", since(failures, now))?;
        found.extend(per_network(
            Rule::SigninFailuresNetwork,
            failures,
            &events,
            now,
        ));
    }
    let by_account = &config.signin_failures_account;
    if by_account.enabled {
        let events = repo::events(conn, "sign_in_failed", since(by_account, now))?;
        found.extend(signin_failures_account(by_account, &events, now));
    }
    if config.key_networks.enabled {
        found.extend(key_networks(conn, &config.key_networks, now)?);
    }
    if config.spend_spike.enabled {
        found.extend(spend_spike(conn, config, currency, now)?);
    }
    if config.rate_limited.enabled {
        found.extend(rate_limited(conn, &config.rate_limited, now)?);
    }
    if config.signups_network.enabled {
        let rule = &config.signups_network;
        let events = repo::events(conn, "signed_up", since(rule, now))?;
        found.extend(per_network(Rule::SignupsNetwork, rule, &events, now));
    }
    Ok(found)
}

/// Events counted per network (failed sign-ins, sign-ups); `events` are the rule's window's.
fn per_network(
    which: Rule,
    rule: &CountRule,
    events: &[repo::EventGroup],
    now: i64,
) -> Vec<Finding> {
    struct Seen {
        count: i64,
        accounts: BTreeSet<String>,
        first: i64,
        last: i64,
    }
    let start = since(rule, now);
    let mut networks: BTreeMap<String, Seen> = BTreeMap::new();
    for e in events {
        let Some(network) = network_of(&e.ip) else {
            continue;
        };
        let seen = networks.entry(network).or_insert(Seen {
            count: 0,
            accounts: BTreeSet::new(),
            first: i64::MAX,
            last: i64::MIN,
        });
        seen.count += e.count;
        seen.accounts.insert(e.user_id.clone());
        seen.first = seen.first.min(e.first);
        seen.last = seen.last.max(e.last);
    }
    let what = match which {
        Rule::SignupsNetwork => "sign-ups",
        _ => "failed sign-ins",
    };
    networks
        .into_iter()
        .filter(|(_, seen)| seen.count >= i64::from(rule.threshold))
        .map(|(network, seen)| Finding {
            rule: which,
            detail: format!(
                "{} {what} from {network} within {} ({})",
                seen.count,
                window_text(rule.window_mins),
                count(seen.accounts.len() as u64, "account")
            ),
            evidence: vec![
                pair("network", &network),
                pair(what, seen.count),
                pair("accounts", seen.accounts.len()),
                pair("window", window_text(rule.window_mins)),
                pair("first", format_ms(seen.first)),
                pair("last", format_ms(seen.last)),
            ],
            user_id: None,
            accounts: seen.accounts.into_iter().collect(),
            reference: network,
            quiet_since: start,
        })
        .collect()
}

fn signin_failures_account(
    rule: &CountRule,
    events: &[repo::EventGroup],
    now: i64,
) -> Vec<Finding> {
    let start = since(rule, now);
    let mut accounts: BTreeMap<&str, (i64, BTreeSet<String>, i64, i64)> = BTreeMap::new();
    for e in events {
        let seen =
            accounts
                .entry(e.user_id.as_str())
                .or_insert((0, BTreeSet::new(), i64::MAX, i64::MIN));
        seen.0 += e.count;
        if let Some(network) = network_of(&e.ip) {
            seen.1.insert(network);
        }
        seen.2 = seen.2.min(e.first);
        seen.3 = seen.3.max(e.last);
    }
    accounts
        .into_iter()
        .filter(|(_, seen)| seen.0 >= i64::from(rule.threshold))
        .map(|(user_id, (failures, networks, first, last))| Finding {
            rule: Rule::SigninFailuresAccount,
            reference: user_id.to_owned(),
            user_id: Some(user_id.to_owned()),
            accounts: vec![user_id.to_owned()],
            detail: format!(
                "{failures} failed sign-ins within {} from {}",
                window_text(rule.window_mins),
                count(networks.len() as u64, "network")
            ),
            evidence: vec![
                pair("failed sign-ins", failures),
                pair("window", window_text(rule.window_mins)),
                pair("networks", networks_text(&networks)),
                pair("first", format_ms(first)),
                pair("last", format_ms(last)),
            ],
            quiet_since: start,
        })
        .collect()
}

fn key_networks(conn: &Connection, rule: &CountRule, now: i64) -> Result<Vec<Finding>, DbError> {
    let start = since(rule, now);
    let mut keys: BTreeMap<String, (BTreeSet<String>, i64, i64, i64)> = BTreeMap::new();
    for row in repo::key_addresses(conn, start)? {
        let Some(network) = network_of(&row.ip) else {
            continue;
        };
        let seen = keys
            .entry(row.key_id)
            .or_insert((BTreeSet::new(), 0, i64::MAX, i64::MIN));
        seen.0.insert(network);
        seen.1 += row.requests;
        seen.2 = seen.2.min(row.first);
        seen.3 = seen.3.max(row.last);
    }
    let mut found = Vec::new();
    for (key_id, (networks, requests, first, last)) in keys {
        if networks.len() < rule.threshold as usize {
            continue;
        }
        let Some(owner) = repo::key_owner(conn, &key_id)? else {
            continue;
        };
        found.push(Finding {
            rule: Rule::KeyNetworks,
            detail: format!(
                "key {}… ({}) used from {} networks within {}",
                owner.prefix,
                owner.name,
                networks.len(),
                window_text(rule.window_mins)
            ),
            evidence: vec![
                pair("key", format!("{}…", owner.prefix)),
                pair("networks", networks.len()),
                pair("seen from", networks_text(&networks)),
                pair("requests", requests),
                pair("window", window_text(rule.window_mins)),
                pair("first", format_ms(first)),
                pair("last", format_ms(last)),
            ],
            user_id: Some(owner.user_id.clone()),
            accounts: vec![owner.user_id],
            reference: key_id,
            quiet_since: start,
        });
    }
    Ok(found)
}

fn spend_spike(
    conn: &Connection,
    config: &AbuseConfig,
    currency: &str,
    now: i64,
) -> Result<Vec<Finding>, DbError> {
    let rule = &config.spend_spike;
    let day_start = now - DAY_MS;
    let days = i64::from(rule.baseline_days);
    let baseline_start = day_start - days * DAY_MS;
    let money = |micros: i64| Money::from_micros(micros).display_in(currency);
    let mut found = Vec::new();
    for (user_id, today) in repo::spend_since(conn, day_start, rule.min_spend.micros())? {
        let before = repo::spend_between(conn, &user_id, baseline_start, day_start)?;
        // today > factor × (before / days), in integers.
        if i128::from(today) * i128::from(days) <= i128::from(before) * i128::from(rule.factor) {
            continue;
        }
        let average = before / days;
        found.push(Finding {
            rule: Rule::SpendSpike,
            reference: user_id.clone(),
            user_id: Some(user_id.clone()),
            accounts: vec![user_id],
            detail: format!(
                "{} spent in the last 24 hours against {} on an average day of the {days} before",
                money(today),
                money(average)
            ),
            evidence: vec![
                pair("last 24 hours", money(today)),
                pair("average day", money(average)),
                pair("baseline", count(u64::from(rule.baseline_days), "day")),
                pair("factor", format!("more than {}×", rule.factor)),
                pair("floor", money(rule.min_spend.micros())),
            ],
            quiet_since: day_start,
        });
    }
    Ok(found)
}

fn rate_limited(conn: &Connection, rule: &CountRule, now: i64) -> Result<Vec<Finding>, DbError> {
    let start = since(rule, now);
    Ok(repo::rate_limited(conn, start)?
        .into_iter()
        .filter(|r| r.count >= i64::from(rule.threshold))
        .map(|r| Finding {
            rule: Rule::RateLimited,
            detail: format!(
                "{} requests refused by the rate limits within {}",
                r.count,
                window_text(rule.window_mins)
            ),
            evidence: vec![
                pair("refused requests", r.count),
                pair("window", window_text(rule.window_mins)),
                pair("first", format_ms(r.first)),
                pair("last", format_ms(r.last)),
            ],
            reference: r.user_id.clone(),
            user_id: Some(r.user_id.clone()),
            accounts: vec![r.user_id],
            quiet_since: start,
        })
        .collect())
}
