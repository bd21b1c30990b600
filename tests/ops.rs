#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]
//! Operating the server: scheduled backups and their rotation, restore (refused while the server
//! runs), the upgrade from the previous release's schema, `version`, every command's help, and
//! `doctor` against real neighbours.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::CommandFactory;
use common::smtp::SmtpServer;
use common::upstream::FakeUpstream;
use common::{PASSWORD, Server, run};
use rusqlite::{Connection, OpenFlags};

/// The schema version of the release before this one; its database is what an upgrade starts
/// from.
const PREVIOUS_RELEASE_SCHEMA: u32 = 8;

fn scheduled_copies(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| codexapi::backup::parse_name(n).is_some())
        .collect();
    names.sort();
    names
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap()
}

fn schema_version(path: &Path) -> u32 {
    read_only(path)
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn the_server_makes_a_checked_copy_soon_after_start_and_keeps_the_newest() {
    let backups = tempfile::tempdir().unwrap();
    let day = 86_400_000;
    let long_ago = 1_700_000_000_000; // 2023: older than every_hours
    for n in 0..3 {
        std::fs::write(
            backups
                .path()
                .join(codexapi::backup::file_name(long_ago - n * day)),
            "an old copy",
        )
        .unwrap();
    }
    std::fs::write(backups.path().join("README.txt"), "the operator's own file").unwrap();
    let config = format!(
        "[backup]\ndir = {:?}\nevery_hours = 24\nkeep = 2\n",
        backups.path()
    );
    let server = Server::start(&config);
    assert!(
        server.wait_for_log("backup: wrote", Duration::from_secs(30)),
        "no backup was logged:\n{}",
        server.log()
    );
    let line = server
        .log()
        .lines()
        .find(|l| l.contains("backup: wrote"))
        .unwrap()
        .to_owned();
    assert!(
        line.contains("integrity ok")
            && line.contains(&format!("schema version {}", codexapi::db::LATEST_VERSION))
            && line.contains("2 older copies removed"),
        "{line}"
    );

    let names = scheduled_copies(backups.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[0], codexapi::backup::file_name(long_ago));
    let copy = backups.path().join(&names[1]);
    let conn = read_only(&copy);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    assert_eq!(schema_version(&copy), codexapi::db::LATEST_VERSION);
    assert!(backups.path().join("README.txt").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Only one copy per period: a restart with a fresh copy makes none.
    let server = server.restart();
    std::thread::sleep(Duration::from_secs(2));
    assert!(!server.log().contains("backup: wrote"), "{}", server.log());
    assert_eq!(scheduled_copies(backups.path()).len(), 2);
}

#[test]
fn a_failed_scheduled_backup_is_logged_and_the_older_copies_stay() {
    let parent = tempfile::tempdir().unwrap();
    // A file where the folder should be: the folder cannot be made.
    let blocked = parent.path().join("not-a-folder");
    std::fs::write(&blocked, "x").unwrap();
    let server = Server::start(&format!("[backup]\ndir = {:?}\n", blocked.join("backups")));
    assert!(
        server.wait_for_log("backup failed", Duration::from_secs(30)),
        "{}",
        server.log()
    );
    assert!(server.log().contains("the older copies are kept"));
    // The server keeps serving.
    let res = common::client().get(server.url("/healthz")).send().unwrap();
    assert_eq!(res.status(), 200);
}

fn cli(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let config = dir.join("config.toml");
    let mut all = vec!["--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let (status, stdout, stderr) = run(dir, &all, &[]);
    (status.code(), stdout, stderr)
}

#[test]
fn restore_is_refused_while_the_server_runs_and_puts_a_checked_copy_back() {
    let server = Server::start("");
    let dir = server.dir.path().to_path_buf();
    let kept_key = common::user_with_key(&server, "kept@example.test");
    let copy = dir.join("copy.db");
    let (code, _, stderr) = cli(&dir, &["backup", copy.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    common::user_and_key(&server, "later@example.test");

    let (code, _, stderr) = cli(&dir, &["restore", copy.to_str().unwrap()]);
    assert_eq!(
        code,
        Some(75),
        "EX_TEMPFAIL while the server runs: {stderr}"
    );
    assert!(stderr.contains("stop it first"), "{stderr}");
    let (code, _, stderr) = cli(&dir, &["migrate"]);
    assert_eq!(code, Some(75), "{stderr}");

    server.stop_keeping_files();
    let _cleanup = Cleanup(dir.clone());

    let junk = dir.join("junk.db");
    std::fs::write(&junk, "SQLite format 3\0 but nothing after it").unwrap();
    let foreign = dir.join("foreign.db");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (t TEXT)")
        .unwrap();
    let before = std::fs::read(dir.join("data/codexapi.db")).unwrap();
    for (file, code) in [
        (junk.as_path(), 65),
        (foreign.as_path(), 65),
        (dir.join("missing.db").as_path(), 66),
    ] {
        let (got, stdout, stderr) = cli(&dir, &["restore", file.to_str().unwrap()]);
        assert_eq!(got, Some(code), "{}: {stdout}{stderr}", file.display());
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    assert_eq!(std::fs::read(dir.join("data/codexapi.db")).unwrap(), before);

    let (code, stdout, stderr) = cli(&dir, &["restore", copy.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("integrity ok"), "{stdout}");
    assert!(stdout.contains("kept the replaced database as"), "{stdout}");
    let aside: Vec<PathBuf> = std::fs::read_dir(dir.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("codexapi.db.before-restore-")
        })
        .collect();
    assert!(!aside.is_empty(), "{stdout}");
    // The replaced database is whole: it still has the later account.
    let replaced = aside
        .iter()
        .find(|p| !p.to_string_lossy().ends_with("-wal") && !p.to_string_lossy().ends_with("-shm"))
        .unwrap();
    let later: i64 = Connection::open(replaced)
        .unwrap()
        .query_row(
            "SELECT count(*) FROM users WHERE email = 'later@example.test'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(later, 1);

    let server = Server::serve_in(keep_dir(&dir));
    let res = common::client()
        .get(server.url("/v1/account"))
        .bearer_auth(&kept_key)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200, "the restored key authenticates");
    common::signed_in(&server, "kept@example.test");
    let (code, _, _) = cli(
        server.dir.path(),
        &["wallet", "show", "--user", "later@example.test"],
    );
    assert_eq!(code, Some(65), "the account made after the copy is gone");
}

/// Removes a directory a stopped server left behind.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `TempDir` for an existing directory: moved under a new temporary directory, which is
/// removed when the server is done with it.
fn keep_dir(dir: &Path) -> tempfile::TempDir {
    let fresh = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), fresh.path().join(entry.file_name())).unwrap();
    }
    fresh
}

/// A database exactly as the previous release left it: migrations 1 to 8, each applied as the
/// program applies them (one transaction with its version bump).
fn previous_release_database(path: &Path) -> Connection {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert!(files.len() as u32 > PREVIOUS_RELEASE_SCHEMA);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    for (n, file) in files
        .iter()
        .take(PREVIOUS_RELEASE_SCHEMA as usize)
        .enumerate()
    {
        let tx = conn.transaction().unwrap();
        tx.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
        tx.pragma_update(None, "user_version", n as u32 + 1)
            .unwrap();
        tx.commit().unwrap();
    }
    conn
}

#[test]
fn a_database_of_the_previous_release_is_migrated_at_start_with_its_data_intact() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("data/codexapi.db");
    let upstream = FakeUpstream::start();
    std::fs::write(
        dir.path().join("config.toml"),
        format!(
            "{}\n[[models]]\nid = \"gpt-test\"\nroutes = [{{ provider = \"openai\" }}]\nprice = {{ input = 1, output = 2 }}\n",
            upstream.providers_toml()
        ),
    )
    .unwrap();

    let conn = previous_release_database(&db);
    assert_eq!(schema_version(&db), PREVIOUS_RELEASE_SCHEMA);
    let hash = codexapi::auth::password::hash_blocking(PASSWORD).unwrap();
    let key = codexapi::auth::token::new_api_key();
    let day = 86_400_000;
    let now = codexapi::clock::now_ms();
    conn.execute(
        "INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, updated_at, balance)
         VALUES ('u-old', 'old@example.test', 'Old', ?1, ?2, ?2, ?2, 24500000)",
        rusqlite::params![hash, now - 30 * day],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at)
         VALUES ('k-old', 'u-old', 'laptop', ?1, ?2, ?3)",
        rusqlite::params![key.prefix, key.hash, now - 30 * day],
    )
    .unwrap();
    conn.execute_batch(&format!(
        "INSERT INTO ledger (at, user_id, kind, amount, balance_after, actor, note)
           VALUES ({a}, 'u-old', 'grant', 25000000, 25000000, 'cli', 'welcome');
         INSERT INTO ledger (at, user_id, kind, amount, balance_after, reference, actor)
           VALUES ({b}, 'u-old', 'usage', -500000, 24500000, 'k-old', 'gateway');
         INSERT INTO usage (at, user_id, key_id, endpoint, model, provider, status, latency_ms,
                            input_tokens, output_tokens, outcome, cost)
           VALUES ({b}, 'u-old', 'k-old', 'chat', 'gpt-test', 'openai', 200, 420, 1000, 200, 'ok', 300000),
                  ({c}, 'u-old', 'k-old', 'responses', 'gpt-test', 'openai', 200, 380, 800, 100, 'ok', 200000);
         INSERT INTO flags (at, user_id, kind, detail) VALUES ({c}, 'u-old', 'spend_spike', 'spend far above baseline');",
        a = now - 20 * day,
        b = now - 2 * day,
        c = now - day,
    ))
    .unwrap();
    drop(conn);

    let server = Server::serve_in(dir);
    assert!(
        server.log().contains(&format!(
            "migrated from schema version {PREVIOUS_RELEASE_SCHEMA} to {}",
            codexapi::db::LATEST_VERSION
        )),
        "{}",
        server.log()
    );
    assert_eq!(
        schema_version(&server.db_path()),
        codexapi::db::LATEST_VERSION
    );

    let account: serde_json::Value = common::client()
        .get(server.url("/v1/account"))
        .bearer_auth(&key.key)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(account["balance"], "24.50", "{account}");
    assert_eq!(account["usage"]["last_7_days"]["requests"], 2, "{account}");
    common::signed_in(&server, "old@example.test");
    // The key still works for a request, billed against the old balance.
    let res = common::client()
        .post(server.url("/v1/chat/completions"))
        .bearer_auth(&key.key)
        .json(&serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    // The console's daily sums were built from the old usage rows.
    let summed: i64 = read_only(&server.db_path())
        .query_row(
            "SELECT coalesce(sum(requests), 0) FROM usage_daily WHERE user_id = 'u-old' AND day <= ?1",
            [(now - day) / day],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(summed, 2);
    let flags: i64 = read_only(&server.db_path())
        .query_row("SELECT count(*) FROM flags", [], |r| r.get(0))
        .unwrap();
    assert_eq!(flags, 1);
    let (code, stdout, stderr) = cli(server.dir.path(), &["check-db"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("database ok: 1 accounts"), "{stdout}");
}

#[test]
fn version_names_the_release_the_commit_and_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    // Works with a config that would not load: it reads none.
    let (status, stdout, stderr) = run(
        dir.path(),
        &["version"],
        &[("CODEXAPI_SERVER__LISTEN", "not an address")],
    );
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("codexapi {}", env!("CARGO_PKG_VERSION")));
    let commit = lines[1].strip_prefix("commit ").unwrap();
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{commit}"
    );
    assert_eq!(
        lines[2],
        format!("schema version {}", codexapi::db::LATEST_VERSION)
    );
}

/// Every command, however deep, as the words that name it.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_owned());
        out.push(path.clone());
        command_paths(sub, &path, out);
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let mut paths = vec![Vec::new()];
    command_paths(&codexapi::cli::Cli::command(), &[], &mut paths);
    assert!(paths.len() > 30, "{paths:?}");
    let dir = tempfile::tempdir().unwrap();
    for path in &paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let (status, stdout, stderr) = run(dir.path(), &args, &[]);
        assert!(status.success(), "{args:?}: {stderr}");
        let example = stdout
            .lines()
            .skip_while(|l| !l.starts_with("Example"))
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?} --help has no Example:\n{stdout}"));
        assert!(
            example.trim_start().starts_with("codexapi")
                || example.trim_start().starts_with("systemctl"),
            "{args:?}: {example}"
        );
        // The example names the command it is for.
        let named = path.iter().all(|word| stdout.contains(&format!(" {word}")));
        assert!(named, "{args:?}: {stdout}");
    }
}

#[test]
fn doctor_says_what_is_reachable_and_what_is_not_one_line_each() {
    let upstream = FakeUpstream::start();
    let smtp = SmtpServer::start();
    let dead = common::free_port();
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    let config = format!(
        r#"
[backup]
dir = {backups:?}

[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "Gateway <noreply@gateway.test>"

[stripe]
secret_key = "sk_test_123"
webhook_secret = "not-a-signing-secret"
api_base = "{upstream}"

[[providers]]
name = "near"
kind = "openai"
base_url = "{upstream}"
api_key = "upstream-secret"

[[providers]]
name = "gone"
kind = "anthropic"
base_url = "http://127.0.0.1:{dead}/v1"
api_key = "upstream-secret"
"#,
        smtp_port = smtp.port,
        upstream = upstream.base,
    );
    std::fs::write(dir.path().join("config.toml"), &config).unwrap();
    let (code, _, _) = cli(dir.path(), &["migrate"]);
    assert_eq!(code, Some(0));

    let (code, stdout, stderr) = cli(dir.path(), &["doctor"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let line = |what: &str| {
        stdout
            .lines()
            .find(|l| l[5..].starts_with(&format!("{what}:")))
            .unwrap_or_else(|| panic!("no {what} line:\n{stdout}"))
            .to_owned()
    };
    assert!(line("config").starts_with("ok "), "{stdout}");
    assert!(
        line("database").starts_with("ok ") && line("database").contains("schema version"),
        "{stdout}"
    );
    assert!(
        line("disk").starts_with("ok ") || line("disk").starts_with("warn"),
        "{stdout}"
    );
    let near = line("provider near");
    assert!(
        near.starts_with("ok ") && near.contains("reachable (HTTP"),
        "{near}"
    );
    let gone = line("provider gone");
    assert!(
        gone.starts_with("FAIL") && gone.contains("unreachable"),
        "{gone}"
    );
    assert!(line("smtp").starts_with("ok "), "{stdout}");
    assert!(
        line("stripe key").starts_with("warn") && line("stripe key").contains("test key"),
        "{stdout}"
    );
    assert!(
        line("stripe webhook").starts_with("FAIL") && line("stripe webhook").contains("whsec_"),
        "{stdout}"
    );
    assert!(
        line("backups").starts_with("warn") && line("backups").contains("no copy"),
        "{stdout}"
    );
    assert!(stderr.contains("check(s) failed"), "{stderr}");
    for l in stdout.lines() {
        assert!(
            l.starts_with("ok ") || l.starts_with("warn ") || l.starts_with("FAIL "),
            "{l}"
        );
    }

    // SMTP down: the line says so; an unloadable config is the one line there is.
    drop(smtp);
    let (_, stdout, _) = cli(dir.path(), &["doctor"]);
    assert!(
        stdout.lines().any(|l| l.starts_with("FAIL smtp:")),
        "{stdout}"
    );
    std::fs::write(dir.path().join("config.toml"), "[backup]\nkeep = 0\n").unwrap();
    let (code, stdout, _) = cli(dir.path(), &["doctor"]);
    assert_eq!(code, Some(1));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("FAIL config:") && stdout.contains("backup.keep"),
        "{stdout}"
    );
}
