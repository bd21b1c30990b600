//! `codexapi doctor`: checks that what the server needs is in order — config, database, disk,
//! providers, SMTP, Stripe keys, backups — and says in one line each what is wrong and what to do.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::config::Config;

/// How long a network check waits for an answer.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);
/// Below this much free space where the database lives, the check warns.
const LOW_DISK_BYTES: u64 = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One check's verdict: what was checked, and what is wrong and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub level: Level,
    pub what: String,
    pub detail: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        // One line whatever the parts say.
        let detail = self.detail.replace(['\n', '\r'], " ");
        write!(f, "{level} {}: {detail}", self.what)
    }
}

fn check(level: Level, what: impl Into<String>, detail: impl Into<String>) -> Check {
    Check {
        level,
        what: what.into(),
        detail: detail.into(),
    }
}

/// Runs every check; with a config that does not load, that is the only one.
pub async fn run(
    config_path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<Check> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let config = match Config::load_from(config_path, env.iter().cloned()) {
        Ok(config) => config,
        Err(e) => {
            return vec![check(
                Level::Fail,
                "config",
                format!("{e}; fix it, then run `codexapi check-config`"),
            )];
        }
    };
    let mut out = vec![check(
        Level::Ok,
        "config",
        match config_path {
            Some(path) => format!("{} is valid", path.display()),
            None => "no file; built-in defaults and CODEXAPI_* variables are valid".to_owned(),
        },
    )];
    let db_config = config.database.clone();
    let backup = config.backup.clone();
    let local = tokio::task::spawn_blocking(move || {
        let mut out = database(&db_config.path);
        out.push(disk(&db_config.path));
        out.extend(backups(&backup));
        out
    })
    .await
    .unwrap_or_else(|_| {
        vec![check(
            Level::Fail,
            "database",
            "the check stopped unexpectedly",
        )]
    });
    out.extend(local);
    let lookup = |var: &str| {
        env.iter()
            .find(|(k, _)| k == var)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    out.extend(providers(&config, &lookup).await);
    if let Some(smtp) = smtp(&config).await {
        out.push(smtp);
    }
    out.extend(stripe(&config).await);
    out
}

fn database(path: &Path) -> Vec<Check> {
    use crate::db::files;
    let mut out = Vec::new();
    if !path.exists() {
        out.push(check(
            Level::Warn,
            "database",
            format!(
                "{} does not exist yet; `codexapi serve` or `codexapi migrate` creates it",
                path.display()
            ),
        ));
    } else {
        out.push(match files::inspect_quick(path) {
            Ok(seen) if seen.schema_version == crate::db::LATEST_VERSION => check(
                Level::Ok,
                "database",
                format!(
                    "{}: quick_check ok, schema version {} (current), {} accounts",
                    path.display(),
                    seen.schema_version,
                    seen.accounts
                ),
            ),
            Ok(seen) => check(
                Level::Warn,
                "database",
                format!(
                    "{}: quick_check ok, schema version {}; it is migrated to {} at the next start (back it up first)",
                    path.display(),
                    seen.schema_version,
                    crate::db::LATEST_VERSION
                ),
            ),
            Err(e) => check(
                Level::Fail,
                "database",
                format!("{e}; restore a backup with `codexapi restore FILE`"),
            ),
        });
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    out.push(writable("database folder", dir));
    out
}

/// Whether a file can be created in `dir` (or `dir` created, when it is missing).
fn writable(what: &str, dir: &Path) -> Check {
    let mut existing = dir;
    while !existing.exists() {
        match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => existing = p,
            _ => {
                existing = Path::new(".");
                break;
            }
        }
    }
    let probe = existing.join(format!(".codexapi-doctor-{}", std::process::id()));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    match result {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            let note = if existing == dir {
                String::new()
            } else {
                format!(" (created at start under {})", existing.display())
            };
            check(
                Level::Ok,
                what,
                format!("{} is writable{note}", dir.display()),
            )
        }
        Err(e) => check(
            Level::Fail,
            what,
            format!(
                "cannot write in {} ({e}); give the service user write access to it",
                existing.display()
            ),
        ),
    }
}

fn disk(db: &Path) -> Check {
    let mut at = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    while !at.exists() {
        match at.parent() {
            Some(p) if !p.as_os_str().is_empty() => at = p,
            _ => {
                at = Path::new(".");
                break;
            }
        }
    }
    match free_bytes(at) {
        Ok(free) if free < LOW_DISK_BYTES => check(
            Level::Warn,
            "disk",
            format!(
                "{} MiB free under {}; SQLite refuses writes when the disk is full",
                free >> 20,
                at.display()
            ),
        ),
        Ok(free) => check(
            Level::Ok,
            "disk",
            format!("{} MiB free under {}", free >> 20, at.display()),
        ),
        Err(e) => check(
            Level::Warn,
            "disk",
            format!("cannot tell the free space under {}: {e}", at.display()),
        ),
    }
}

#[cfg(unix)]
fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_: &Path) -> std::io::Result<u64> {
    Err(std::io::Error::other("not supported on this system"))
}

fn backups(config: &crate::config::BackupConfig) -> Vec<Check> {
    let Some(dir) = &config.dir else {
        return vec![check(
            Level::Warn,
            "backups",
            "backup.dir is not set: no scheduled backups; set it (or run `codexapi backup FILE` from cron)",
        )];
    };
    let mut out = vec![writable("backup folder", dir)];
    out.push(match crate::backup::copies(dir) {
        Ok(copies) => match copies.first() {
            None => check(
                Level::Warn,
                "backups",
                format!(
                    "no copy in {} yet; the server makes one shortly after it starts",
                    dir.display()
                ),
            ),
            Some(newest) => {
                let age_hours = (crate::clock::now_ms() - newest.at).max(0) / 3_600_000;
                let level = if age_hours >= 2 * i64::from(config.every_hours) {
                    Level::Warn
                } else {
                    Level::Ok
                };
                let advice = if level == Level::Warn {
                    format!(
                        "; expected every {} h: is the server running? see its log for `backup failed`",
                        config.every_hours
                    )
                } else {
                    String::new()
                };
                check(
                    level,
                    "backups",
                    format!(
                        "last copy {} is {age_hours} h old, {} kept{advice}",
                        newest.path.display(),
                        copies.len()
                    ),
                )
            }
        },
        Err(e) => check(
            Level::Fail,
            "backups",
            format!("cannot list {}: {e}", dir.display()),
        ),
    });
    out
}

fn http_client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(NETWORK_TIMEOUT)
        .timeout(NETWORK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot set up an HTTP client: {e}"))
}

/// Any HTTP answer means reachable; the status is reported.
async fn reach(client: &reqwest::Client, url: &str) -> Result<u16, String> {
    match client.get(url).send().await {
        Ok(res) => Ok(res.status().as_u16()),
        Err(e) => {
            let kind = if e.is_timeout() {
                "no answer within the timeout"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            let mut cause = String::new();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                cause = s.to_string();
                source = s.source();
            }
            Err(if cause.is_empty() {
                kind.to_owned()
            } else {
                format!("{kind} ({cause})")
            })
        }
    }
}

async fn providers(config: &Config, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Check> {
    if config.providers.is_empty() {
        return vec![check(
            Level::Warn,
            "providers",
            "none configured: the API answers 503; add [[providers]] (or set OPENAI_API_KEY / ANTHROPIC_API_KEY)",
        )];
    }
    let client = match http_client() {
        Ok(client) => client,
        Err(e) => return vec![check(Level::Fail, "providers", e)],
    };
    let mut out = Vec::new();
    for provider in &config.providers {
        let what = format!("provider {}", provider.name);
        let key = match (&provider.api_key, &provider.api_key_env) {
            (Some(_), _) => Ok("API key set".to_owned()),
            (None, Some(var)) if lookup(var).is_some() => Ok(format!("API key from {var}")),
            (None, Some(var)) => Err(format!("{var} is not set; export it to the service")),
            (None, None) => Ok("no API key (none configured)".to_owned()),
        };
        let url = provider.base_url.as_str();
        let reached = reach(&client, url).await;
        out.push(match (reached, key) {
            (Ok(status), Ok(key)) => check(
                Level::Ok,
                what,
                format!("{url} reachable (HTTP {status}); {key}"),
            ),
            (Ok(status), Err(key)) => check(
                Level::Fail,
                what,
                format!("{url} reachable (HTTP {status}); {key}"),
            ),
            (Err(e), key) => check(
                Level::Fail,
                what,
                format!(
                    "{url} unreachable: {e}; check base_url and that this host may connect to it{}",
                    key.err().map(|k| format!("; {k}")).unwrap_or_default()
                ),
            ),
        });
    }
    out
}

async fn smtp(config: &Config) -> Option<Check> {
    let smtp = &config.smtp;
    let host = smtp.host.as_deref()?;
    let what = "smtp";
    Some(match crate::mail::test_connection(smtp).await {
        Ok(()) => check(
            Level::Ok,
            what,
            format!("{host}:{} answers (EHLO and NOOP)", smtp.port),
        ),
        Err(e) => check(
            Level::Fail,
            what,
            format!(
                "{host}:{} does not answer ({e}); check smtp.host, smtp.port and smtp.security",
                smtp.port
            ),
        ),
    })
}

async fn stripe(config: &Config) -> Vec<Check> {
    let stripe = &config.stripe;
    let Some(secret) = &stripe.secret_key else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let key = secret.expose();
    out.push(if key.starts_with("sk_live_") || key.starts_with("rk_live_") {
        check(Level::Ok, "stripe key", "a live key")
    } else if key.starts_with("sk_test_") || key.starts_with("rk_test_") {
        check(
            Level::Warn,
            "stripe key",
            "a test key: no real payments are taken",
        )
    } else {
        check(
            Level::Fail,
            "stripe key",
            "stripe.secret_key does not start with sk_live_, sk_test_ or rk_; copy the secret key from the Stripe dashboard",
        )
    });
    out.push(match &stripe.webhook_secret {
        Some(w) if w.expose().starts_with("whsec_") => {
            check(Level::Ok, "stripe webhook", "signing secret set")
        }
        Some(_) => check(
            Level::Fail,
            "stripe webhook",
            "stripe.webhook_secret does not start with whsec_; copy the endpoint's signing secret",
        ),
        None => check(
            Level::Fail,
            "stripe webhook",
            "stripe.webhook_secret is not set: payments are never credited; add the endpoint's signing secret",
        ),
    });
    let url = stripe.api_base.as_str();
    out.push(match http_client() {
        Ok(client) => match reach(&client, url).await {
            Ok(status) => check(
                Level::Ok,
                "stripe api",
                format!("{url} reachable (HTTP {status})"),
            ),
            Err(e) => check(
                Level::Fail,
                "stripe api",
                format!("{url} unreachable: {e}; top-ups fail until it is"),
            ),
        },
        Err(e) => check(Level::Fail, "stripe api", e),
    });
    out
}
