//! The blocklist: networks whose requests are refused on every page and API route, for a while
//! or until removed. Both faces check one in-memory snapshot, replaced whenever an admin changes
//! the list and reloaded by each run of the detector; an entry past its expiry stops blocking at
//! once, since every check compares it with the time of the request.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use ipnet::IpNet;
use rusqlite::Connection;

use super::{AbuseError, invalid};
use crate::accounts::moderation::By;
use crate::db::abuse::{self as repo, Blocked};
use crate::db::{DbError, audit, now_ms};

/// The longest reason an admin may write.
pub const REASON_MAX: usize = 200;
/// The longest expiry an entry may be given: a year (longer is "never").
pub const EXPIRY_MAX_HOURS: u32 = 24 * 366;

#[derive(Debug, Clone, Copy)]
struct Entry {
    net: IpNet,
    expires_at: Option<i64>,
}

/// The snapshot both faces check; cheap to clone (all clones share it).
#[derive(Debug, Clone, Default)]
pub struct Blocklist {
    entries: Arc<RwLock<Arc<Vec<Entry>>>>,
}

impl Blocklist {
    /// A snapshot of the database's list.
    pub fn load(conn: &Connection) -> Result<Blocklist, DbError> {
        let list = Blocklist::default();
        list.reload(conn)?;
        Ok(list)
    }

    /// Replaces the snapshot with the database's list.
    pub fn reload(&self, conn: &Connection) -> Result<(), DbError> {
        let entries: Vec<Entry> = repo::blocklist(conn)?
            .iter()
            .filter_map(|b| {
                let net = b.network.parse::<IpNet>();
                if net.is_err() {
                    tracing::warn!("blocklist entry {} is not a network: {}", b.id, b.network);
                }
                Some(Entry {
                    net: net.ok()?,
                    expires_at: b.expires_at,
                })
            })
            .collect();
        *self.entries.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(entries);
        Ok(())
    }

    /// Whether requests from `ip` are refused at `now` (unix ms).
    pub fn blocks(&self, ip: IpAddr, now: i64) -> bool {
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if entries.is_empty() {
            return false;
        }
        let ip = ip.to_canonical();
        entries
            .iter()
            .any(|e| e.expires_at.is_none_or(|at| at > now) && e.net.contains(&ip))
    }
}

/// What an admin asks to block.
#[derive(Debug, Clone)]
pub struct BlockRequest<'a> {
    /// CIDR (`203.0.113.0/24`) or one address.
    pub network: &'a str,
    /// Empty: never expires.
    pub expires_in_hours: &'a str,
    pub reason: &'a str,
    /// The admin's own address: a network holding it is refused, so no one locks themself out.
    pub own_address: Option<IpAddr>,
}

/// Reads a network as CIDR or as one address, with its host bits cleared.
pub fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => IpNet::from(text.parse::<IpAddr>().ok()?.to_canonical()),
    };
    Some(net.trunc())
}

/// Adds a network to the list, with its audit row in the same transaction, and refreshes the
/// snapshot.
pub fn block(
    conn: &mut Connection,
    list: &Blocklist,
    request: &BlockRequest<'_>,
    by: By<'_>,
) -> Result<Blocked, AbuseError> {
    let Some(net) = parse_network(request.network) else {
        return invalid(
            "network",
            "Give a network such as 203.0.113.0/24 or 2001:db8::/48, or one address.",
        );
    };
    if net.prefix_len() == 0 {
        return invalid("network", "That network holds every address.");
    }
    if request
        .own_address
        .is_some_and(|own| net.contains(&own.to_canonical()))
    {
        return invalid(
            "network",
            "That network holds your own address: blocking it would lock you out.",
        );
    }
    let now = now_ms();
    let expires_at = match request.expires_in_hours.trim() {
        "" => None,
        hours => match hours.parse::<u32>() {
            Ok(h) if (1..=EXPIRY_MAX_HOURS).contains(&h) => Some(now + i64::from(h) * 3_600_000),
            _ => {
                return invalid(
                    "expires_in_hours",
                    format!(
                        "Give the hours as a whole number from 1 to {EXPIRY_MAX_HOURS}, or leave it empty for no expiry."
                    ),
                );
            }
        },
    };
    let reason = request.reason.trim();
    if reason.is_empty() {
        return invalid("reason", "Say why the network is blocked.");
    }
    if reason.chars().count() > REASON_MAX {
        return invalid(
            "reason",
            format!("Keep the reason to {REASON_MAX} characters."),
        );
    }
    let entry = Blocked {
        id: crate::auth::token::random_id(),
        network: net.to_string(),
        reason: reason.to_owned(),
        created_by: Some(by.actor.to_owned()),
        created_at: now,
        expires_at,
    };
    let tx = crate::db::write(conn)?;
    repo::insert_blocked(&tx, &entry)?;
    let detail = match expires_at {
        Some(at) => format!(
            "{} until {}: {reason}",
            entry.network,
            crate::clock::format_ms(at)
        ),
        None => format!("{}: {reason}", entry.network),
    };
    audit::record(
        &tx,
        &audit::Entry {
            at: now,
            actor: by.actor,
            action: "blocklist.add",
            target: Some(&entry.network),
            detail: Some(&detail),
            ip: by.ip,
        },
    )?;
    tx.commit()?;
    list.reload(conn)?;
    Ok(entry)
}

/// Removes an entry, with its audit row, and refreshes the snapshot.
pub fn unblock(
    conn: &mut Connection,
    list: &Blocklist,
    id: &str,
    by: By<'_>,
) -> Result<Blocked, AbuseError> {
    let tx = crate::db::write(conn)?;
    let entry = repo::delete_blocked(&tx, id)?.ok_or(AbuseError::NotFound)?;
    audit::record(
        &tx,
        &audit::Entry {
            at: now_ms(),
            actor: by.actor,
            action: "blocklist.remove",
            target: Some(&entry.network),
            detail: Some(&entry.reason),
            ip: by.ip,
        },
    )?;
    tx.commit()?;
    list.reload(conn)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_read_as_cidr_or_one_address() {
        let cases = [
            ("203.0.113.0/24", Some("203.0.113.0/24")),
            ("203.0.113.77/24", Some("203.0.113.0/24")),
            (" 198.51.100.7 ", Some("198.51.100.7/32")),
            ("::ffff:198.51.100.7", Some("198.51.100.7/32")),
            ("2001:db8:1::/48", Some("2001:db8:1::/48")),
            ("2001:db8::1", Some("2001:db8::1/128")),
            ("203.0.113.0/33", None),
            ("example.com", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_network(text).map(|n| n.to_string()).as_deref(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn an_entry_blocks_its_network_until_it_expires() {
        let conn = crate::db::test_db(&["admin"]);
        let list = Blocklist::default();
        let mut conn = conn;
        let by = By {
            actor: "admin",
            ip: None,
        };
        let request = BlockRequest {
            network: "203.0.113.0/24",
            expires_in_hours: "1",
            reason: "scan",
            own_address: Some("192.0.2.1".parse().unwrap()),
        };
        let entry = block(&mut conn, &list, &request, by).unwrap();
        let inside: IpAddr = "203.0.113.9".parse().unwrap();
        let mapped: IpAddr = "::ffff:203.0.113.9".parse().unwrap();
        let now = now_ms();
        assert!(list.blocks(inside, now));
        assert!(list.blocks(mapped, now));
        assert!(!list.blocks("203.0.114.9".parse().unwrap(), now));
        assert!(!list.blocks(inside, entry.expires_at.unwrap()));
        let own = BlockRequest {
            network: "192.0.2.0/24",
            ..request
        };
        assert!(matches!(
            block(&mut conn, &list, &own, by),
            Err(AbuseError::Invalid {
                field: "network",
                ..
            })
        ));
        unblock(&mut conn, &list, &entry.id, by).unwrap();
        assert!(!list.blocks(inside, now));
        let query = crate::db::audit::Query {
            action: Some("blocklist.".to_owned()),
            ..crate::db::audit::Query::default()
        };
        let audit = crate::db::audit::list(&conn, &query, None, 10).unwrap();
        assert_eq!(audit.len(), 2, "{audit:?}");
    }
}
