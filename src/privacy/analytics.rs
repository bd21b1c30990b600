//! First-party site analytics, as the privacy policy describes them: which pages are viewed,
//! when, from which referring site, with which browser, OS and kind of device, and how many
//! different visitors. No address is stored and no cookie is set: a visitor is a hash of the
//! address and browser under a salt that changes every UTC day and lives in memory only, so
//! visits cannot be linked across days. Do Not Track and Global Privacy Control are honoured
//! (by the caller), crawlers are left out, and so is anyone whose account restricted
//! processing.
//!
//! Counting happens off the request path: the page hands a [`Visit`] to a bounded queue (a full
//! queue drops it) and a thread of its own writes them in batches.

use std::net::IpAddr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::db::analytics::{self as repo, PageView};
use crate::db::{Db, now_ms};

/// What a page view stores, as the privacy policy lists it: each field and what it holds.
pub const STORED: &[(&str, &str)] = &[
    (
        "the page",
        "its route, such as `/docs` or `/dashboard/keys`, never the address with its query",
    ),
    ("the time", "to the millisecond"),
    (
        "the referring site",
        "its host name only, such as `news.example.org`; nothing for this site's own pages",
    ),
    (
        "the browser family",
        "such as Firefox or Chrome, without its version",
    ),
    ("the operating system family", "such as Linux or iOS"),
    ("the kind of device", "desktop, mobile or other"),
    (
        "a visitor hash",
        "of your IP address and browser under a salt that changes every day and is never stored, so visits can be counted per day but not linked across days or back to you",
    ),
];

/// Visits waiting to be written, at most; beyond this they are not counted.
const QUEUE: usize = 4_096;
/// Visits written in one transaction, at most.
const BATCH: usize = 256;
/// How long a visit may wait for its batch.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
const DAY_MS: i64 = 86_400_000;

/// One page view, as the request saw it; held in memory until it is counted.
pub struct Visit {
    /// The route pattern (`/dashboard/keys/{id}/revoke`), never the path as sent.
    pub route: String,
    /// The `Referer` header, of which only another site's host is kept.
    pub referer: Option<String>,
    pub user_agent: String,
    pub ip: IpAddr,
    /// The SHA-256 hash of the session cookie's token, when one was sent.
    pub session: Option<Vec<u8>>,
}

/// The counter's handle; cheap to clone.
#[derive(Clone)]
pub struct Analytics {
    queue: SyncSender<Visit>,
    /// This site's host, which is not a referrer.
    own_host: std::sync::Arc<str>,
}

impl Analytics {
    /// Starts the thread that writes page views into `db`.
    pub fn start(db: Db, public_url: &str) -> std::io::Result<Analytics> {
        let (queue, visits) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("analytics".to_owned())
            .spawn(move || write_loop(&db, &visits))?;
        let own_host = url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(Analytics {
            queue,
            own_host: own_host.into(),
        })
    }

    /// Counts a page view, unless the queue is full.
    pub fn count(&self, mut visit: Visit) {
        visit.referer = visit
            .referer
            .as_deref()
            .and_then(|r| referring_host(r, &self.own_host));
        match self.queue.try_send(visit) {
            Ok(()) | Err(TrySendError::Full(_)) => {}
            Err(TrySendError::Disconnected(_)) => {
                tracing::debug!("the analytics writer has stopped; a page view is not counted");
            }
        }
    }
}

/// The host of another site that linked here; none for this site's own pages or a value that
/// is not a URL.
fn referring_host(referer: &str, own_host: &str) -> Option<String> {
    let url = url::Url::parse(referer).ok()?;
    let host = url.host_str()?.to_ascii_lowercase();
    (host != own_host && matches!(url.scheme(), "http" | "https")).then_some(host)
}

/// The browser, OS and device class of a user agent; `None` for crawlers.
pub fn families(user_agent: &str) -> Option<(String, String, &'static str)> {
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let Some(r) = parsed else {
        return Some(("Other".to_owned(), "Other".to_owned(), "other"));
    };
    let device = match r.category {
        "crawler" => return None,
        "pc" => "desktop",
        "smartphone" | "mobilephone" => "mobile",
        _ => "other",
    };
    let known = |s: &str| {
        if s == "UNKNOWN" || s.is_empty() {
            "Other".to_owned()
        } else {
            s.to_owned()
        }
    };
    Some((known(r.name), known(r.os), device))
}

/// The salt of one UTC day, random and never stored.
struct DailySalt {
    day: i64,
    salt: [u8; 32],
}

impl DailySalt {
    fn for_day(&mut self, day: i64) -> &[u8; 32] {
        if self.day != day {
            *self = DailySalt {
                day,
                salt: rand::random(),
            };
        }
        &self.salt
    }
}

/// A visitor of one day: the same address and browser give the same hash until the salt changes.
fn visitor(salt: &[u8; 32], ip: IpAddr, user_agent: &str) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(salt);
    hash.update(ip.to_string().as_bytes());
    hash.update([0]);
    hash.update(user_agent.as_bytes());
    hash.finalize()[..16].to_vec()
}

fn write_loop(db: &Db, visits: &Receiver<Visit>) {
    let mut salt = DailySalt {
        day: -1,
        salt: [0; 32],
    };
    let mut batch: Vec<Visit> = Vec::with_capacity(BATCH);
    loop {
        match visits.recv_timeout(FLUSH_EVERY) {
            Ok(visit) => {
                batch.push(visit);
                if batch.len() < BATCH {
                    continue;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                write(db, &mut salt, std::mem::take(&mut batch));
                return;
            }
        }
        if !batch.is_empty() {
            write(db, &mut salt, std::mem::take(&mut batch));
        }
    }
}

fn write(db: &Db, salt: &mut DailySalt, visits: Vec<Visit>) {
    if visits.is_empty() {
        return;
    }
    let result = db.conn().and_then(|mut conn| {
        let now = now_ms();
        let mut views = Vec::with_capacity(visits.len());
        for visit in visits {
            if let Some(session) = &visit.session
                && repo::session_restricted(&conn, session)?
            {
                continue;
            }
            let Some((browser, os, device)) = families(&visit.user_agent) else {
                continue;
            };
            views.push(PageView {
                at: now,
                path: visit.route,
                referrer: visit.referer,
                browser,
                os,
                device: device.to_owned(),
                visitor: visitor(salt.for_day(now / DAY_MS), visit.ip, &visit.user_agent),
            });
        }
        if !views.is_empty() {
            repo::insert(&mut conn, &views)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::warn!("page views could not be counted: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_sites_host_is_a_referrer() {
        let own = "gateway.example";
        assert_eq!(
            referring_host("https://News.Example.org/item?id=1#top", own).as_deref(),
            Some("news.example.org")
        );
        assert_eq!(referring_host("https://gateway.example/docs", own), None);
        assert_eq!(referring_host("android-app://com.x", own), None);
        assert_eq!(referring_host("not a url", own), None);
    }

    #[test]
    fn user_agents_become_families_and_crawlers_are_left_out() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(
            families(firefox),
            Some(("Firefox".to_owned(), "Linux".to_owned(), "desktop"))
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(families(iphone).map(|f| f.2), Some("mobile"));
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(families(bot), None);
        assert_eq!(
            families("curl/8.5.0").map(|f| f.2),
            Some("other"),
            "an unknown program still counts, as other"
        );
    }

    #[test]
    fn a_visitor_is_the_same_within_a_day_and_not_across_days() {
        let mut salt = DailySalt {
            day: -1,
            salt: [0; 32],
        };
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let first = visitor(salt.for_day(100), ip, "ua");
        assert_eq!(first, visitor(salt.for_day(100), ip, "ua"));
        assert_ne!(first, visitor(salt.for_day(100), ip, "other ua"));
        assert_ne!(first, visitor(salt.for_day(101), ip, "ua"));
    }
}
