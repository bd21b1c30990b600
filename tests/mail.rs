//! Mail: the outbox and its sender against a real SMTP server (aiosmtpd) and a real SQLite file —
//! delivery with both parts, retries through an outage, the log instead of SMTP, escaping, the
//! last pass and its bound at shutdown, and giving up.
//!
//! The tests run on a multi-threaded runtime: helpers such as `wait_for_mail` block their thread,
//! and the sender must keep running on another one meanwhile.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use codexapi::config::{DatabaseConfig, SmtpConfig, SmtpSecurity};
use codexapi::db::Db;
use codexapi::mail::{self, MAX_ATTEMPTS, MailContext, Mailer};
use common::free_port;
use common::smtp::SmtpServer;

const CTX: MailContext<'static> = MailContext {
    site_name: "Acme Gateway",
    public_url: "https://gateway.acme.test",
    contact_email: Some("help@acme.test"),
};

/// Long enough that quoted-printable has to break its line, with `=` and `&` that it must encode.
const LINK: &str = "https://gateway.acme.test/verify-email?token=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk&then=%2Fdashboard%2Fkeys";

const WAIT: Duration = Duration::from_secs(15);

fn open_db(dir: &Path) -> Db {
    let db = Db::open(
        &DatabaseConfig {
            path: dir.join("data/codexapi.db"),
            ..Default::default()
        },
        true,
    )
    .unwrap();
    db.migrate().unwrap();
    db
}

fn smtp_on(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: Some("127.0.0.1".to_owned()),
        port,
        security: SmtpSecurity::None,
        from: "Acme Gateway <noreply@acme.test>".to_owned(),
        timeout_secs: 5,
        retry_secs: 1,
        ..Default::default()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Queues `email` and returns its row id.
fn queue(db: &Db, email: &mail::Email) -> i64 {
    let conn = db.conn().unwrap();
    mail::queue(&conn, email, now_ms()).unwrap();
    conn.last_insert_rowid()
}

#[derive(Debug)]
struct Row {
    attempts: i64,
    next_attempt_at: i64,
    sent_at: Option<i64>,
    text_body: String,
    html_body: String,
    last_error: Option<String>,
}

fn row(db: &Db, id: i64) -> Row {
    db.conn()
        .unwrap()
        .query_row(
            "SELECT attempts, next_attempt_at, sent_at, text_body, html_body, last_error
             FROM email_outbox WHERE id = ?1",
            [id],
            |r| {
                Ok(Row {
                    attempts: r.get(0)?,
                    next_attempt_at: r.get(1)?,
                    sent_at: r.get(2)?,
                    text_body: r.get(3)?,
                    html_body: r.get(4)?,
                    last_error: r.get(5)?,
                })
            },
        )
        .unwrap()
}

/// Polls the row until `done` holds; panics with the row after `timeout`.
async fn wait_for_row(db: &Db, id: i64, timeout: Duration, done: impl Fn(&Row) -> bool) -> Row {
    let deadline = Instant::now() + timeout;
    loop {
        let current = row(db, id);
        if done(&current) {
            return current;
        }
        assert!(
            Instant::now() < deadline,
            "outbox row {id} did not get there in {timeout:?}: {current:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything logged by this test binary (all tests share it; each looks for its own values).
fn log() -> String {
    let buf = log_buffer();
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl Write for LogSink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_mail_arrives_with_both_parts_and_leaves_no_body_behind() {
    log_buffer();
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mailer = Mailer::start(db.clone(), smtp_on(server.port));
    assert!(mailer.delivers());

    let id = queue(
        &db,
        &mail::password_reset(&CTX, "ada@example.test", "Ada Lovelace", LINK),
    );
    mailer.wake();

    let got = server.wait_for_mail("ada@example.test", WAIT);
    assert_eq!(got.subject, "Reset your password");
    assert!(got.from.contains("noreply@acme.test"), "{got:?}");
    assert_eq!(got.content_type, "multipart/alternative", "{got:?}");
    assert!(got.parts.contains(&"text/plain".to_owned()), "{got:?}");
    assert!(got.parts.contains(&"text/html".to_owned()), "{got:?}");

    // The link survives transfer encoding whole, on a line of its own, so a test (or a person)
    // can follow it.
    assert!(got.text.contains("Hello Ada Lovelace,"), "{}", got.text);
    let link_line = got
        .text
        .lines()
        .find(|l| l.starts_with("https://"))
        .unwrap_or_default();
    assert_eq!(link_line, LINK, "{}", got.text);
    assert!(
        got.text
            .contains("Acme Gateway · https://gateway.acme.test")
    );
    let html_link = LINK.replace('&', "&#38;");
    assert!(
        got.html.contains(&format!("href=\"{html_link}\"")),
        "{}",
        got.html
    );

    let sent = wait_for_row(&db, id, WAIT, |r| r.sent_at.is_some()).await;
    assert_eq!(sent.text_body, "");
    assert_eq!(sent.html_body, "");
    assert_eq!(sent.attempts, 0);
    assert_eq!(sent.last_error, None);
    assert_eq!(server.received_for("ada@example.test").len(), 1);

    mailer.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_waits_out_an_smtp_outage_and_arrives_on_a_retry() {
    log_buffer();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mailer = Mailer::start(db.clone(), smtp_on(port));

    let id = queue(
        &db,
        &mail::password_reset(&CTX, "grace@outage.test", "Grace", LINK),
    );
    mailer.wake();

    // Nothing listens yet: every attempt fails, and the mail stays queued.
    let failing = wait_for_row(&db, id, WAIT, |r| r.attempts >= 2 && r.last_error.is_some()).await;
    assert_eq!(failing.sent_at, None);
    assert!(failing.next_attempt_at > now_ms() - 1000);
    let error = failing.last_error.unwrap();
    assert!(!error.is_empty() && !error.contains('\n'), "{error:?}");
    assert!(error.chars().count() <= 201, "{error:?}");
    assert!(!error.contains("token="), "{error:?}");
    assert!(!failing.text_body.is_empty(), "the mail must not be lost");
    // The log names the domain, never the whole address.
    assert!(log().contains("to a recipient at outage.test"), "{}", log());
    assert!(!log().contains("grace@outage.test"));

    let server = SmtpServer::start_on(port);
    let got = server.wait_for_mail("grace@outage.test", WAIT);
    assert_eq!(got.subject, "Reset your password");
    assert!(got.text.contains(LINK), "{}", got.text);

    let sent = wait_for_row(&db, id, WAIT, |r| r.sent_at.is_some()).await;
    assert!(sent.attempts >= 2);
    assert_eq!(sent.text_body, "");
    assert_eq!(sent.last_error, None);

    mailer.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_mail_is_written_to_the_log_and_marked_sent() {
    log_buffer();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mailer = Mailer::start(db.clone(), SmtpConfig::default());
    assert!(!mailer.delivers());
    assert!(
        log().contains("smtp.host is not set: mail is written to this log instead of being sent")
    );

    let link = "https://gateway.acme.test/reset?token=only-in-the-log-4711";
    let id = queue(
        &db,
        &mail::password_reset(&CTX, "log-only@example.test", "Linus", link),
    );
    mailer.wake();

    let sent = wait_for_row(&db, id, WAIT, |r| r.sent_at.is_some()).await;
    assert_eq!((sent.text_body.as_str(), sent.html_body.as_str()), ("", ""));
    assert_eq!(sent.attempts, 0);
    let log = log();
    assert!(log.contains("log-only@example.test"), "{log}");
    assert!(log.contains("Reset your password"), "{log}");
    assert!(log.contains(link), "{log}");

    mailer.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_escaped_in_html_and_kept_in_text() {
    log_buffer();
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mailer = Mailer::start(db.clone(), smtp_on(server.port));

    let name = "<script>alert(1)</script>";
    queue(
        &db,
        &mail::security_alert(
            &CTX,
            "mallory@example.test",
            name,
            "Your password was changed",
            "203.0.113.7",
            "2026-11-27 09:30 UTC",
        ),
    );
    mailer.wake();

    let got = server.wait_for_mail("mallory@example.test", WAIT);
    assert_eq!(got.subject, "Security alert: Your password was changed");
    assert!(!got.html.contains("<script>"), "{}", got.html);
    assert!(
        got.html
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        got.html
    );
    assert!(
        got.text.contains("Hello <script>alert(1)</script>,"),
        "{}",
        got.text
    );
    assert!(got.text.contains("203.0.113.7"));
    assert!(got.text.contains("Forgot your password?"));

    mailer.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_makes_a_last_pass() {
    log_buffer();
    let server = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mailer = Mailer::start(db.clone(), smtp_on(server.port));
    // Let the first pass find an empty outbox, so the sender is asleep until its next poll.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Queued without a wake: only the last pass at shutdown can send it before the next poll.
    let id = queue(
        &db,
        &mail::email_change(&CTX, "new-address@example.test", LINK),
    );
    let started = Instant::now();
    mailer.shutdown(Duration::from_secs(10)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(row(&db, id).sent_at.is_some());
    let got = server.wait_for_mail("new-address@example.test", WAIT);
    assert_eq!(got.subject, "Confirm your new email address");

    // Stopped means stopped: a later mail stays queued for the next start.
    let later = queue(&db, &mail::email_change(&CTX, "later@example.test", LINK));
    mailer.wake();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(row(&db, later).sent_at, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_when_the_smtp_server_hangs() {
    log_buffer();
    // Accepts connections (the kernel does) but never says a word.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());
    let mailer = Mailer::start(
        db.clone(),
        SmtpConfig {
            timeout_secs: 60,
            ..smtp_on(port)
        },
    );
    let id = queue(&db, &mail::verify_email(&CTX, "patient@example.test", LINK));
    mailer.wake();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    mailer.shutdown(Duration::from_millis(500)).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let left = row(&db, id);
    assert_eq!(left.sent_at, None);
    assert!(!left.text_body.is_empty(), "the mail must not be lost");
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_last_attempt_and_on_unusable_addresses() {
    log_buffer();
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let db = open_db(dir.path());

    let tired = queue(&db, &mail::verify_email(&CTX, "tired@giveup.test", LINK));
    db.conn()
        .unwrap()
        .execute(
            "UPDATE email_outbox SET attempts = ?1 WHERE id = ?2",
            (MAX_ATTEMPTS - 1, tired),
        )
        .unwrap();
    let broken = queue(&db, &mail::verify_email(&CTX, "not an address", LINK));

    let mailer = Mailer::start(db.clone(), smtp_on(port));
    mailer.wake();

    for id in [tired, broken] {
        let given_up = wait_for_row(&db, id, WAIT, |r| r.attempts == MAX_ATTEMPTS).await;
        assert_eq!(given_up.sent_at, None);
        assert_eq!(given_up.next_attempt_at, i64::MAX);
        assert!(given_up.last_error.is_some());
    }
    let log = log();
    assert!(
        log.contains(&format!(
            "giving up on mail {tired} to a recipient at giveup.test"
        )),
        "{log}"
    );
    assert!(!log.contains("tired@giveup.test"), "{log}");

    mailer.shutdown(Duration::from_secs(5)).await;
}
