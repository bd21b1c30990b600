//! The background sender: one tokio task that takes due mail from the outbox a few at a time,
//! hands it to the SMTP server (or, without one, writes it to the log) and reschedules failures
//! with a wait that doubles each time.
//!
//! SQL runs on blocking threads through [`Db::run`]; no connection is held while talking SMTP.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::{Mutex, Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{SmtpConfig, SmtpSecurity};
use crate::db::outbox::{self, MAX_ATTEMPTS, NEVER, Queued};
use crate::db::{Db, DbError};

/// How often the outbox is looked at when nobody calls [`Mailer::wake`]; this catches mail
/// queued by another process, such as the command line.
const POLL: Duration = Duration::from_secs(5);
/// Mails taken per look, so that one pass cannot hold the outbox for long.
const BATCH: usize = 5;
/// The longest wait between two attempts at one mail.
const MAX_BACKOFF_SECS: u64 = 3600;
/// `last_error` is for an operator's glance, not a transcript.
const ERROR_MAX_CHARS: usize = 200;

/// Handle to the background sender; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    shared: Arc<Shared>,
}

struct Shared {
    wake: Arc<Notify>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    delivers: bool,
}

impl Mailer {
    /// Spawns the background sender on the current tokio runtime (the server runs inside
    /// `actix_web::rt::System`, which is tokio).
    pub fn start(db: Db, smtp: SmtpConfig) -> Mailer {
        let transport = match &smtp.host {
            None => {
                tracing::warn!(
                    "smtp.host is not set: mail is written to this log instead of being sent"
                );
                Transport::Log
            }
            Some(host) => match smtp_transport(&smtp, host) {
                Ok(transport) => {
                    tracing::info!(
                        "mail is sent through {host}:{} ({})",
                        smtp.port,
                        match smtp.security {
                            SmtpSecurity::Starttls => "STARTTLS",
                            SmtpSecurity::Tls => "TLS",
                            SmtpSecurity::None => "unencrypted",
                        }
                    );
                    transport
                }
                Err(why) => {
                    tracing::error!("cannot send mail: {why}; mail stays queued");
                    Transport::Unusable(why)
                }
            },
        };
        let send_timeout = Duration::from_secs(smtp.timeout_secs.max(1)).saturating_mul(4);
        let (stop, stop_rx) = watch::channel(false);
        let wake = Arc::new(Notify::new());
        let sender = Sender {
            db,
            transport,
            retry_secs: smtp.retry_secs.max(1),
            send_timeout,
            lease_ms: i64::try_from((send_timeout + Duration::from_secs(60)).as_millis())
                .unwrap_or(i64::MAX),
            wake: wake.clone(),
        };
        let task = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Some(runtime.spawn(sender.run(stop_rx))),
            Err(_) => {
                // A programming error, but not one worth a crash: the mail waits in the outbox.
                tracing::error!("the mail sender needs a tokio runtime; mail stays queued");
                None
            }
        };
        Mailer {
            shared: Arc::new(Shared {
                wake,
                stop,
                task: Mutex::new(task),
                delivers: smtp.host.is_some(),
            }),
        }
    }

    /// Tells the sender new mail is queued (call after `queue`), so it does not wait for its
    /// next poll.
    pub fn wake(&self) {
        self.shared.wake.notify_one();
    }

    /// At shutdown: one last delivery pass bounded by `deadline`, then the task stops. Mail
    /// still queued after that is sent at the next start.
    pub async fn shutdown(&self, deadline: Duration) {
        self.shared.stop.send_replace(true);
        let Some(mut task) = self.shared.task.lock().await.take() else {
            return;
        };
        match tokio::time::timeout(deadline, &mut task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!("the mail sender ended abnormally: {e}"),
            Err(_) => {
                task.abort();
                tracing::warn!(
                    "the mail sender did not finish within {} ms; unsent mail stays queued for the next start",
                    deadline.as_millis()
                );
            }
        }
    }

    /// Whether real SMTP is configured (false = mail goes to the log).
    pub fn delivers(&self) -> bool {
        self.shared.delivers
    }
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("delivers", &self.shared.delivers)
            .finish_non_exhaustive()
    }
}

enum Transport {
    /// No SMTP server configured: the operator reads mail in the log and passes links on.
    Log,
    Smtp {
        client: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    /// SMTP is configured but cannot be set up; every attempt fails with this reason, so mail
    /// stays queued and the reason shows in the outbox.
    Unusable(String),
}

fn smtp_transport(smtp: &SmtpConfig, host: &str) -> Result<Transport, String> {
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|e| format!("smtp.from {:?} is not a sender address ({e})", smtp.from))?;
    let builder = match smtp.security {
        SmtpSecurity::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(host),
        SmtpSecurity::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            host,
        )),
    }
    .map_err(|e| format!("cannot set up TLS for {host}: {e}"))?;
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(smtp.timeout_secs.max(1))));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    Ok(Transport::Smtp {
        client: builder.build(),
        from,
    })
}

/// Connects to the configured SMTP server as the sender would (TLS, credentials) and says
/// whether it answers EHLO and NOOP; for `codexapi doctor`.
pub async fn test_connection(smtp: &SmtpConfig) -> Result<(), String> {
    let host = smtp.host.as_deref().ok_or("smtp.host is not set")?;
    match smtp_transport(smtp, host)? {
        Transport::Smtp { client, .. } => match client.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the server did not accept NOOP".to_owned()),
            Err(e) => Err(e.to_string()),
        },
        Transport::Log => Err("smtp.host is not set".to_owned()),
        Transport::Unusable(reason) => Err(reason),
    }
}

/// Why one delivery failed.
enum Failure {
    /// May work later (server down, mailbox full, timeout).
    Retry(String),
    /// Can never work (the address does not parse); given up at once.
    Permanent(String),
}

struct Sender {
    db: Db,
    transport: Transport,
    retry_secs: u64,
    /// Bound on one SMTP delivery as a whole; lettre's timeout covers each step only.
    send_timeout: Duration,
    lease_ms: i64,
    wake: Arc<Notify>,
}

/// What to do after a pass.
enum Next {
    /// The batch was full: look again at once.
    Now,
    /// Nothing is due before this time (unix ms).
    At(i64),
    /// Nothing is waiting at all.
    Idle,
}

impl Sender {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow_and_update() {
                break;
            }
            let pause = match self.pass().await {
                Next::Now => continue,
                Next::At(due) => {
                    let wait = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
                    Duration::from_millis(wait).min(POLL)
                }
                Next::Idle => POLL,
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = self.wake.notified() => {}
                changed = stop.changed() => {
                    // Every Mailer is gone without a shutdown: nobody can wake or stop us.
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
        while let Next::Now = self.pass().await {}
    }

    /// Delivers what is due now, a batch at most.
    async fn pass(&self) -> Next {
        let now = now_ms();
        let lease_ms = self.lease_ms;
        let claimed = match self
            .db
            .run(move |conn| Ok(outbox::claim_due(conn, now, BATCH, lease_ms)?))
            .await
        {
            Ok(claimed) => claimed,
            Err(e) => {
                tracing::warn!("cannot read the mail outbox: {e}");
                return Next::Idle;
            }
        };
        let full = claimed.due.len() == BATCH;
        let mut next_due = claimed.next_due;
        for mail in &claimed.due {
            let outcome = self.deliver(mail).await;
            if let Some(retry_at) = self.record(mail, outcome).await {
                next_due = Some(next_due.map_or(retry_at, |due| due.min(retry_at)));
            }
        }
        match (full, next_due) {
            (true, _) => Next::Now,
            (false, Some(due)) => Next::At(due),
            (false, None) => Next::Idle,
        }
    }

    async fn deliver(&self, mail: &Queued) -> Result<(), Failure> {
        match &self.transport {
            Transport::Log => {
                log_mail(mail);
                Ok(())
            }
            Transport::Unusable(why) => Err(Failure::Retry(why.clone())),
            Transport::Smtp { client, from } => {
                let message = build_message(from, mail)?;
                match tokio::time::timeout(self.send_timeout, client.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(Failure::Retry(e.to_string())),
                    Err(_) => Err(Failure::Retry(format!(
                        "the SMTP server did not finish within {} s",
                        self.send_timeout.as_secs()
                    ))),
                }
            }
        }
    }

    /// Writes the outcome to the outbox; returns when a failed mail is due again.
    async fn record(&self, mail: &Queued, outcome: Result<(), Failure>) -> Option<i64> {
        let id = mail.id;
        let now = now_ms();
        let (result, retry_at) = match outcome {
            Ok(()) => (
                self.db
                    .run(move |conn| Ok(outbox::mark_sent(conn, id, now)?))
                    .await,
                None,
            ),
            Err(failure) => {
                let (attempts, next, error) = match failure {
                    Failure::Permanent(error) => (MAX_ATTEMPTS, NEVER, error),
                    Failure::Retry(error) => {
                        let attempts = mail.attempts.saturating_add(1).min(MAX_ATTEMPTS);
                        let next = if attempts >= MAX_ATTEMPTS {
                            NEVER
                        } else {
                            let wait = backoff_secs(self.retry_secs, attempts);
                            now.saturating_add(i64::try_from(wait).unwrap_or(0) * 1000)
                        };
                        (attempts, next, error)
                    }
                };
                let error = one_line(&error, ERROR_MAX_CHARS);
                let domain = recipient_domain(&mail.to);
                // The server's reply may quote the recipient; the log keeps only its domain.
                let logged = error.replace(mail.to.trim(), "<recipient>");
                if next == NEVER {
                    tracing::warn!(
                        "giving up on mail {id} to a recipient at {domain} after {attempts} attempts: {logged}"
                    );
                } else {
                    tracing::warn!(
                        "mail {id} to a recipient at {domain} not delivered (attempt {attempts} of {MAX_ATTEMPTS}), trying again in {} s: {logged}",
                        (next - now) / 1000
                    );
                }
                (
                    self.db
                        .run(move |conn| Ok(outbox::mark_failed(conn, id, attempts, next, &error)?))
                        .await,
                    (next != NEVER).then_some(next),
                )
            }
        };
        if let Err(e) = result {
            report_db_error(id, &e);
        }
        retry_at
    }
}

fn report_db_error(id: i64, e: &DbError) {
    // The mail stays leased; it is tried again, and perhaps sent twice, once the lease ends.
    tracing::warn!("cannot record the delivery of mail {id}: {e}");
}

fn build_message(from: &Mailbox, mail: &Queued) -> Result<Message, Failure> {
    let to: Mailbox = mail
        .to
        .trim()
        .parse()
        .map_err(|e| Failure::Permanent(format!("the recipient address is not valid ({e})")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.as_str())
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(|e| Failure::Permanent(format!("cannot build the message ({e})")))
}

/// Without SMTP the log is the mail: recipient, subject and text, so an operator can pass a link
/// on. Body lines are indented behind a bar so a line a user typed (a name) cannot pass for a
/// log line of its own.
fn log_mail(mail: &Queued) {
    // The signature is the same in every mail; the log can do without it.
    let text = mail.text.split("\n-- \n").next().unwrap_or_default();
    let body: String = text
        .lines()
        .map(|line| format!("\n    | {}", strip_controls(line)))
        .collect();
    tracing::info!(
        "mail {} not sent (smtp.host is not set); to: {}; subject: {}{body}",
        mail.id,
        one_line(&mail.to, ERROR_MAX_CHARS),
        one_line(&mail.subject, ERROR_MAX_CHARS),
    );
}

/// Wait before the attempt after attempt number `attempts` (1-based): `retry_secs`, doubling
/// each time, never more than an hour.
fn backoff_secs(retry_secs: u64, attempts: i64) -> u64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 63)).unwrap_or(63);
    retry_secs
        .max(1)
        .saturating_mul(1u64.checked_shl(doublings).unwrap_or(u64::MAX))
        .min(MAX_BACKOFF_SECS)
}

fn strip_controls(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// One line of at most `max` characters.
fn one_line(s: &str, max: usize) -> String {
    let flat = strip_controls(s);
    let words: Vec<&str> = flat.split_whitespace().collect();
    let joined = words.join(" ");
    match joined.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

fn recipient_domain(to: &str) -> String {
    match to.trim().trim_end_matches('>').rsplit_once('@') {
        Some((_, domain)) if !domain.is_empty() => one_line(domain, 100),
        _ => "an unreadable address".to_owned(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_retry_secs_up_to_an_hour() {
        let waits: Vec<u64> = (1..=10).map(|n| backoff_secs(30, n)).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(backoff_secs(1, 1), 1);
        assert_eq!(backoff_secs(1, 3), 4);
        // A zero in the config must not turn retries into a busy loop.
        assert_eq!(backoff_secs(0, 1), 1);
        assert_eq!(backoff_secs(u64::MAX, 1_000), 3600);
        assert_eq!(backoff_secs(30, 0), 30);
    }

    #[test]
    fn errors_are_short_single_lines() {
        let long = format!("550 no\r\nsuch\tuser {}", "x".repeat(500));
        let line = one_line(&long, ERROR_MAX_CHARS);
        assert!(line.starts_with("550 no such user x"));
        assert!(!line.contains(['\r', '\n', '\t']));
        assert_eq!(line.chars().count(), ERROR_MAX_CHARS + 1);
        assert_eq!(one_line("ünïcödé", 3), "ünï…");
    }

    #[test]
    fn only_the_domain_of_a_recipient_is_logged() {
        assert_eq!(recipient_domain("ada@example.test"), "example.test");
        assert_eq!(recipient_domain("Ada <ada@example.test>"), "example.test");
        assert_eq!(recipient_domain("nonsense"), "an unreadable address");
    }

    #[test]
    fn unparsable_recipients_fail_for_good() {
        let from: Mailbox = "Site <noreply@site.test>".parse().unwrap();
        let mail = Queued {
            id: 1,
            to: "not an address\r\nBcc: x@y.test".to_owned(),
            subject: "s".to_owned(),
            text: "t".to_owned(),
            html: "<p>h</p>".to_owned(),
            attempts: 0,
        };
        assert!(matches!(
            build_message(&from, &mail),
            Err(Failure::Permanent(_))
        ));
        let ok = Queued {
            to: "ada@example.test".to_owned(),
            ..mail
        };
        let message = build_message(&from, &ok).ok().unwrap();
        let raw = String::from_utf8(message.formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain"));
        assert!(raw.contains("text/html"));
    }
}
