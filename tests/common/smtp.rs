//! A real SMTP server for tests: Python's aiosmtpd (see tests/requirements.txt) on a loopback
//! port, keeping every message it accepts in a maildir, and a reader that decodes those messages
//! with Python's own `email` package, so tests see what a mail client would show.

use std::fs::File;
use std::io::BufRead;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long aiosmtpd gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Reads every message in a maildir (argv[1]) and prints them as one JSON list.
const DECODE: &str = r#"
import email, email.policy, json, os, sys

root = sys.argv[1]
found = []
for sub in ("cur", "new"):
    folder = os.path.join(root, sub)
    if not os.path.isdir(folder):
        continue
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        found.append({
            "envelope_to": str(msg.get("X-RcptTo", "")),
            "to": str(msg.get("To", "")),
            "from": str(msg.get("From", "")),
            "subject": str(msg.get("Subject", "")),
            "content_type": msg.get_content_type(),
            "parts": [part.get_content_type() for part in msg.walk()],
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else "",
        })
print(json.dumps(found))
"#;

/// One message as a mail client would show it: headers decoded, bodies decoded from
/// quoted-printable or base64 into text.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReceivedMail {
    /// Recipients given in the SMTP envelope (`RCPT TO`), comma-separated.
    pub envelope_to: String,
    pub to: String,
    pub from: String,
    pub subject: String,
    /// Top-level type, e.g. `multipart/alternative`.
    pub content_type: String,
    /// Types of every part, the top level first.
    pub parts: Vec<String>,
    pub text: String,
    pub html: String,
}

pub struct SmtpServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Starts a server on a free loopback port. The port is free when chosen, but another
    /// process may take it before aiosmtpd binds it; then a fresh port is tried.
    pub fn start() -> SmtpServer {
        let mut failures = Vec::new();
        for _ in 0..5 {
            match SmtpServer::spawn(super::free_port()) {
                Ok(server) => return server,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("aiosmtpd did not start:\n{}", failures.join("\n"));
    }

    /// Starts a server on `port` (for a test that first needs nothing listening there).
    pub fn start_on(port: u16) -> SmtpServer {
        SmtpServer::spawn(port).unwrap_or_else(|failure| panic!("{failure}"))
    }

    fn spawn(port: u16) -> Result<SmtpServer, String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = File::create(dir.path().join("aiosmtpd.log")).expect("aiosmtpd log");
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.path().join("maildir"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("aiosmtpd log"))
            .stderr(log)
            .spawn()
            .expect("start python3 -m aiosmtpd (pip install -r tests/requirements.txt)");
        let mut server = SmtpServer {
            child: Some(child),
            port,
            dir,
        };
        server.wait_until_listening()?;
        Ok(server)
    }

    /// Waits for aiosmtpd's own greeting on the port: a connection alone might reach another
    /// process that took the port first.
    fn wait_until_listening(&mut self) -> Result<(), String> {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("aiosmtpd exited with {status}:\n{}", self.log()));
            }
            if let Ok(stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut greeting = String::new();
                let _ = std::io::BufReader::new(stream).read_line(&mut greeting);
                if greeting.starts_with("220") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "aiosmtpd did not greet on {addr} within {START_TIMEOUT:?}:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("maildir")
    }

    /// What aiosmtpd printed, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
    }

    /// Every message received so far, oldest first by file name.
    pub fn received(&self) -> Vec<ReceivedMail> {
        if !self.maildir().join("new").exists() && !self.maildir().join("cur").exists() {
            return Vec::new();
        }
        let out = Command::new("python3")
            .arg("-c")
            .arg(DECODE)
            .arg(self.maildir())
            .output()
            .expect("run python3 to decode mail");
        assert!(
            out.status.success(),
            "decoding mail failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("decoder output")
    }

    /// Messages received so far for `to` (envelope or `To:` header).
    pub fn received_for(&self, to: &str) -> Vec<ReceivedMail> {
        self.received()
            .into_iter()
            .filter(|m| m.envelope_to.contains(to) || m.to.contains(to))
            .collect()
    }

    /// Waits for the first message to `to`; panics after `timeout`.
    pub fn wait_for_mail(&self, to: &str, timeout: Duration) -> ReceivedMail {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(mail) = self.received_for(to).into_iter().next() {
                return mail;
            }
            if Instant::now() > deadline {
                panic!(
                    "no mail to {to} within {timeout:?}; server log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
