//! Abuse and fraud: the rules that raise flags for the admins (`rules`), the detector that runs
//! them off the request path and acts on what they find (`detector`), the admins' resolution
//! of a flag, and the blocklist of networks both faces refuse (`blocklist`).
//!
//! What a flag keeps as evidence is metadata only: counts, networks (never a whole address),
//! times and amounts; never anything a request carried.

pub mod blocklist;
pub mod detector;
pub mod rules;

use std::net::IpAddr;

use crate::accounts::AccountError;
use crate::accounts::moderation::By;
use crate::db::{DbError, abuse as repo, audit, now_ms};

pub use blocklist::Blocklist;

/// Failures of the abuse service.
#[derive(Debug, thiserror::Error)]
pub enum AbuseError {
    /// Shown beside the form field it names.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<rusqlite::Error> for AbuseError {
    fn from(e: rusqlite::Error) -> AbuseError {
        AbuseError::Db(e.into())
    }
}

fn invalid<T>(field: &'static str, message: impl Into<String>) -> Result<T, AbuseError> {
    Err(AbuseError::Invalid {
        field,
        message: message.into(),
    })
}

/// What a flag shows as its evidence: labelled values, in order.
pub type Evidence = Vec<(String, String)>;

/// Reads a flag's stored evidence; a row written before evidence existed shows none.
pub fn evidence_of(stored: Option<&str>) -> Evidence {
    stored
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_default()
}

/// The network an address belongs to in CIDR form: IPv4 `/24`, IPv6 `/48`.
pub fn network_of(ip: &str) -> Option<String> {
    let short = crate::privacy::address::truncate(ip)?;
    let bits = match short.parse::<IpAddr>().ok()? {
        IpAddr::V4(_) => 24,
        IpAddr::V6(_) => 48,
    };
    Some(format!("{short}/{bits}"))
}

/// The longest resolution note an admin may write.
pub const NOTE_MAX: usize = 500;

/// Resolves an open flag with a note, and records who did it in the audit log, in one
/// transaction.
pub fn resolve(
    conn: &mut rusqlite::Connection,
    flag_id: i64,
    note: &str,
    by: By<'_>,
) -> Result<(), AbuseError> {
    let note = note.trim();
    if note.is_empty() {
        return invalid("note", "Say how the flag was resolved.");
    }
    if note.chars().count() > NOTE_MAX {
        return invalid("note", format!("Keep the note to {NOTE_MAX} characters."));
    }
    let tx = crate::db::write(conn)?;
    let flag = repo::flag(&tx, flag_id)?.ok_or(AbuseError::NotFound)?;
    let now = now_ms();
    if !repo::resolve(&tx, flag_id, by.actor, note, now)? {
        return invalid("note", "This flag was resolved already.");
    }
    let target = flag.user_id.clone().unwrap_or_else(|| flag_id.to_string());
    let detail = format!("flag {flag_id} ({}): {note}", flag.kind);
    audit::record(
        &tx,
        &audit::Entry {
            at: now,
            actor: by.actor,
            action: "flag.resolve",
            target: Some(&target),
            detail: Some(&detail),
            ip: by.ip,
        },
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_named_with_their_prefix_and_never_hold_the_host() {
        let cases = [
            ("203.0.113.77", Some("203.0.113.0/24")),
            ("::ffff:198.51.100.9", Some("198.51.100.0/24")),
            ("2001:db8:1:2::5", Some("2001:db8:1::/48")),
            ("", None),
            ("unknown", None),
        ];
        for (ip, expected) in cases {
            assert_eq!(network_of(ip).as_deref(), expected, "{ip}");
        }
        assert!(evidence_of(Some("not json")).is_empty());
        assert_eq!(
            evidence_of(Some(r#"[["networks","3"]]"#)),
            vec![("networks".to_owned(), "3".to_owned())]
        );
    }
}
