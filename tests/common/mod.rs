//! Test support: start the real `codexapi` binary on a free loopback port with its own temporary
//! data directory, read its log, and stop it on drop.

#![allow(dead_code)]
// Test support: a failed setup step is a failed test, said at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod agents;
pub mod e2e;
pub mod smtp;
pub mod stripe;
pub mod upstream;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_codexapi");

/// How long a server gets to print its listening line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub dir: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

/// A command for the binary with a clean environment: no inherited `CODEXAPI_*` variables.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("CODEXAPI_") || key == "RUST_LOG" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs the binary to completion and returns (status, stdout, stderr).
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (ExitStatus, String, String) {
    let mut cmd = command(dir);
    cmd.args(args).envs(env.iter().copied());
    let out = cmd.output().expect("run codexapi");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl Server {
    /// Starts `codexapi serve` with `config` (TOML) written to `config.toml` in a new temp dir.
    /// The listen address and database path are set by the harness unless the config sets them.
    pub fn start(config: &str) -> Server {
        Server::start_with(config, &[])
    }

    pub fn start_with(config: &str, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).expect("write config");
        let mut cmd = command(dir.path());
        cmd.arg("--config")
            .arg(&config_path)
            .arg("serve")
            .env("CODEXAPI_SERVER__WORKERS", "2")
            .env("CODEXAPI_LOG__LEVEL", "info")
            // Tests read the log while the server runs: each line as it happens.
            .env("CODEXAPI_LOG__FLUSH_MS", "0");
        if !config.contains("listen =") {
            cmd.env("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0");
        }
        cmd.envs(env.iter().copied());
        Server::spawn(cmd, dir)
    }

    /// Starts an already prepared `serve` command.
    pub fn spawn(mut cmd: Command, dir: tempfile::TempDir) -> Server {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn codexapi");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split(" listening on ").nth(1) {
                    let url = url.split_whitespace().next().unwrap_or_default().to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let base = match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not start; log:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child: Some(child),
            base,
            dir,
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data/codexapi.db")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal named `name` (`HUP`, `TERM`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit on its own.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("server did not exit in {timeout:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops with SIGTERM and waits for a clean exit.
    fn stop_gracefully(&mut self) {
        self.terminate();
        let status = self.wait(Duration::from_secs(30));
        assert!(
            status.success(),
            "exit status {status:?}; log:\n{}",
            self.log()
        );
    }

    /// Stops with SIGTERM and waits; returns the log.
    pub fn stop(mut self) -> String {
        self.stop_gracefully();
        self.log()
    }
}

impl Server {
    /// Stops with SIGTERM, keeps the data directory on disk (the caller removes it) and returns
    /// the log.
    pub fn stop_keeping_files(mut self) -> String {
        self.stop_gracefully();
        let log = self.log();
        // Leave the directory for the caller to inspect.
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        let _ = dir.keep();
        log
    }
}

impl Server {
    /// Kills the process with SIGKILL (no shutdown of any kind) and starts a new one on the same
    /// data directory and config.
    pub fn kill_and_restart(mut self) -> Server {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.start_again()
    }

    /// Stops with SIGTERM, as an operator does, and starts a new process on the same data
    /// directory and config.
    pub fn restart(mut self) -> Server {
        self.stop_gracefully();
        self.child = None;
        self.start_again()
    }

    fn start_again(mut self) -> Server {
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        Server::serve_in(dir)
    }

    /// Starts `codexapi serve` on a directory prepared by the test (its `config.toml`, and the
    /// database under `data/` if the test made one with the command line).
    pub fn serve_in(dir: tempfile::TempDir) -> Server {
        let mut cmd = command(dir.path());
        cmd.arg("--config")
            .arg(dir.path().join("config.toml"))
            .arg("serve")
            .env("CODEXAPI_SERVER__WORKERS", "2")
            .env("CODEXAPI_LOG__LEVEL", "info")
            .env("CODEXAPI_LOG__FLUSH_MS", "0")
            .env("CODEXAPI_SERVER__LISTEN", "127.0.0.1:0");
        Server::spawn(cmd, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.try_wait().ok().flatten().is_none()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Every scenario ends with the ledger invariant: each balance is the sum of its ledger.
        if !std::thread::panicking() && self.db_path().exists() {
            let config = self.config_path();
            let db = self.db_path();
            let (status, stdout, stderr) = if config.exists() {
                let config = config.to_str().unwrap_or_default();
                run(self.dir.path(), &["--config", config, "check-db"], &[])
            } else {
                let db = db.to_str().unwrap_or_default();
                run(
                    self.dir.path(),
                    &["check-db"],
                    &[("CODEXAPI_DATABASE__PATH", db)],
                )
            };
            assert!(status.success(), "check-db failed:\n{stdout}{stderr}");
        }
    }
}

/// The password of the accounts `user_with_key` creates.
pub const PASSWORD: &str = "violet-harbor-tunes-92";

/// A browser-like client: keeps cookies, sends this site's Origin, follows no redirects.
pub fn browser(server: &Server) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "origin",
        reqwest::header::HeaderValue::from_str(&server.base).unwrap(),
    );
    reqwest::blocking::Client::builder()
        .cookie_store(true)
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A browser signed in to the dashboard as `email` (an account made by `user_with_key`).
pub fn signed_in(server: &Server, email: &str) -> reqwest::blocking::Client {
    let http = browser(server);
    let res = http
        .post(server.url("/login"))
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("next", "/dashboard"),
        ])
        .send()
        .unwrap();
    assert_eq!(res.status(), 303, "sign-in of {email} failed");
    http
}

/// A page's text with the HTML escapes the templates use undone.
pub fn text(res: reqwest::blocking::Response) -> String {
    res.text()
        .unwrap()
        .replace("&#39;", "'")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
}

/// The `Location` of a redirect, or "" for none.
pub fn location(res: &reqwest::blocking::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// The value of the first hidden `csrf` input in a page.
pub fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\"").expect("page has a csrf field");
    let rest = &html[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}

/// An administrator made with the command line, signed in to the dashboard.
pub fn admin(server: &Server, email: &str) -> reqwest::blocking::Client {
    use std::io::Write;
    let config = server.config_path();
    let mut child = command(server.dir.path())
        .args(["--config", config.to_str().unwrap(), "admin", "create"])
        .args(["--email", email, "--name", "Op", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    signed_in(server, email)
}

/// A confirmed user with 100 of credit and an API key, made with the command line; returns the
/// key.
pub fn user_with_key(server: &Server, email: &str) -> String {
    let key = user_and_key(server, email);
    grant(server, email, "100");
    key
}

/// A confirmed user with an empty wallet and an API key; returns the key.
pub fn user_and_key(server: &Server, email: &str) -> String {
    user_and_key_in(server.dir.path(), &server.config_path(), email)
}

/// Like [`user_and_key`], for the database of `config`, with or without a server running.
pub fn user_and_key_in(dir: &Path, config: &Path, email: &str) -> String {
    use std::io::Write;
    let config = config.to_str().unwrap();
    let mut child = command(dir)
        .args(["--config", config, "user", "create", "--email", email])
        .args(["--name", "Dev", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    let args = [
        "--config", config, "key", "create", "--user", email, "--name", "k",
    ];
    let (status, stdout, stderr) = run(dir, &args, &[]);
    assert!(status.success(), "{stderr}");
    stdout.trim().to_owned()
}

/// Credits `amount` to the account with the command line.
pub fn grant(server: &Server, email: &str, amount: &str) {
    grant_in(server.dir.path(), &server.config_path(), email, amount);
}

/// Like [`grant`], for the database of `config`.
pub fn grant_in(dir: &Path, config: &Path, email: &str, amount: &str) {
    let args = [
        "--config",
        config.to_str().unwrap(),
        "wallet",
        "grant",
        "--user",
        email,
        "--amount",
        amount,
    ];
    let (status, _, stderr) = run(dir, &args, &[]);
    assert!(status.success(), "{stderr}");
}

pub fn client() -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A usage row as the tests look at it.
#[derive(Debug)]
pub struct Row {
    pub endpoint: String,
    pub provider: String,
    pub status: i64,
    pub outcome: String,
    pub input: i64,
    pub cached: i64,
    pub output: i64,
    pub cost: i64,
    pub streamed: bool,
}

pub fn usage_rows(server: &Server) -> Vec<Row> {
    // Rows are committed before the response ends, so no waiting is needed.
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT endpoint, coalesce(provider, ''), status, outcome, input_tokens, cached_input_tokens,
                    output_tokens, cost, streamed FROM usage ORDER BY id",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(Row {
            endpoint: r.get(0)?,
            provider: r.get(1)?,
            status: r.get(2)?,
            outcome: r.get(3)?,
            input: r.get(4)?,
            cached: r.get(5)?,
            output: r.get(6)?,
            cost: r.get(7)?,
            streamed: r.get(8)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Sends a streamed chat request for `model` on a raw socket and returns the socket once the
/// first event has arrived, so that a test can hang up mid-stream.
pub fn open_stream(
    server: &Server,
    key: &str,
    model: &str,
) -> (std::net::TcpStream, BufReader<std::net::TcpStream>) {
    use std::io::Write;
    let body = serde_json::json!({"model": model, "stream": true, "messages": [{"role": "user", "content": "go on"}]}).to_string();
    let mut socket = std::net::TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    write!(
        socket,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(socket.try_clone().unwrap());
    let mut line = String::new();
    while !line.starts_with("data: ") {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    (socket, reader)
}

/// A small RFC 4180 reader, independent of the writer under test.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        field.is_empty() && record.is_empty(),
        "CSV ends in a line break"
    );
    records
}
