//! The real coding agents and SDK scripts, run against a test server: Codex CLI and Claude Code
//! as installed under tests/clients (`scripts/test` installs them), set up the way the docs page
//! tells a new user to, offline, with throwaway homes. Every run is bounded in time.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Server;

/// The longest one client run may take.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let read = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read(Box::new(child.stdout.take().unwrap()));
    let stderr = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = Output {
        success: status.is_some_and(|s| s.success()),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    assert!(
        status.is_some(),
        "{what} did not finish in {timeout:?}\nstdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    out
}

/// The version of an npm package as installed under tests/clients/`dir`.
pub fn installed_version(dir: &str, package: &str) -> String {
    let path = clients_dir()
        .join(dir)
        .join("node_modules")
        .join(package)
        .join("package.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing; run scripts/test (it installs it), or: npm ci --prefix tests/clients/{dir}",
            path.display()
        )
    });
    let manifest: Value = serde_json::from_str(&text).unwrap();
    manifest["version"].as_str().unwrap().to_owned()
}

fn bin(dir: &str, name: &str) -> PathBuf {
    let bin = clients_dir().join(dir).join("node_modules/.bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing; run scripts/test (it installs it), or: npm ci --prefix tests/clients/{dir}",
        bin.display()
    );
    bin
}

/// A code block of the server's /docs page, unescaped.
pub fn docs_block(server: &Server, id: &str) -> String {
    let html = super::client()
        .get(server.url("/docs"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let open = format!(r#"<code id="{id}">"#);
    let start = html
        .find(&open)
        .unwrap_or_else(|| panic!("the docs page has a {id} block"));
    let block = &html[start + open.len()..];
    let block = &block[..block.find("</code>").unwrap()];
    block
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Codex's config.toml: the docs page's snippet between the settings that keep Codex offline.
pub fn codex_config(server: &Server) -> String {
    codex_config_with(&docs_block(server, "codex-config"))
}

pub fn codex_config_with(snippet: &str) -> String {
    let template = std::fs::read_to_string(clients_dir().join("codex/config.toml.in")).unwrap();
    assert!(template.contains("# @SETUP_SNIPPET@"));
    template.replace("# @SETUP_SNIPPET@", snippet)
}

/// What one agent run printed, and its final answer.
pub struct Run {
    pub out: Output,
    pub answer: String,
}

/// `codex exec PROMPT` with `config` as its config.toml, the key in its environment and
/// `overrides` as `-c key=value` settings. With `tools`, Codex may run commands without asking
/// (and without its sandbox, which needs privileges a test machine may not give).
pub fn codex(config: &str, key: &str, overrides: &[&str], prompt: &str, tools: bool) -> Run {
    let codex = bin("codex", "codex");
    let tmp = tempfile::tempdir().unwrap();
    let (home, codex_home, work) = (
        tmp.path().join("home"),
        tmp.path().join("codex-home"),
        tmp.path().join("work"),
    );
    for dir in [&home, &codex_home, &work] {
        std::fs::create_dir(dir).unwrap();
    }
    std::fs::write(codex_home.join("config.toml"), config).unwrap();
    let last = tmp.path().join("last-message.txt");

    let mut cmd = Command::new(&codex);
    cmd.current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("CODEX_HOME", &codex_home)
        .env("TMPDIR", tmp.path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env(codexapi::setup::CODEX_ENV_KEY, key)
        .args([
            "exec",
            "--skip-git-repo-check",
            "--strict-config",
            "--ephemeral",
        ])
        .args(["--color", "never", "--output-last-message"])
        .arg(&last)
        // One request per turn: no retries hide a failure.
        .args(["-c", "model_providers.codexapi.request_max_retries=0"])
        .args(["-c", "model_providers.codexapi.stream_max_retries=0"]);
    for setting in overrides {
        cmd.args(["-c", setting]);
    }
    if tools {
        cmd.arg("--dangerously-bypass-approvals-and-sandbox");
    }
    cmd.arg(prompt);
    let out = run_bounded(cmd, CLIENT_TIMEOUT);
    let answer = std::fs::read_to_string(&last).unwrap_or_default();
    Run { out, answer }
}

/// `claude -p PROMPT --model MODEL --output-format json`, set up with the environment the docs
/// page gives a new user (`ANTHROPIC_BASE_URL`, `ANTHROPIC_AUTH_TOKEN` with the key filled in)
/// and the settings that keep it offline. With `tools`, its Bash tool may run without asking.
/// The answer is the JSON result's `result`.
pub fn claude(server: &Server, key: &str, model: &str, prompt: &str, tools: bool) -> Run {
    let claude = bin("claude", "claude");
    let tmp = tempfile::tempdir().unwrap();
    let (home, work) = (tmp.path().join("home"), tmp.path().join("work"));
    for dir in [&home, &work] {
        std::fs::create_dir(dir).unwrap();
    }
    let mut cmd = Command::new(&claude);
    cmd.current_dir(&work)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("TMPDIR", tmp.path())
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_AUTOUPDATER", "1");
    for line in docs_block(server, "claude-code-env").lines() {
        if let Some((name, value)) = line
            .strip_prefix("export ")
            .and_then(|assignment| assignment.split_once('='))
        {
            let value = value.trim_matches('"').replace("sk-cx-YOUR-KEY", key);
            cmd.env(name, value);
        }
    }
    cmd.args(["-p", prompt, "--model", model, "--output-format", "json"]);
    if tools {
        cmd.args(["--allowedTools", "Bash"]);
    }
    let out = run_bounded(cmd, CLIENT_TIMEOUT);
    let answer = serde_json::from_str::<Value>(out.stdout.trim())
        .ok()
        .and_then(|v| v["result"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Run { out, answer }
}

/// Runs an SDK script from tests/clients with `checks` (`check:model`) and returns the summary
/// of each check, in order; fails when any check did not get what it expects.
pub fn sdk(server: &Server, key: &str, script: &str, prompt: &str, checks: &[&str]) -> Vec<Value> {
    let mut cmd = Command::new("python3");
    cmd.arg(clients_dir().join(script))
        .args(["--prompt", prompt])
        .args(checks)
        .env("CODEXAPI_BASE_URL", &server.base)
        .env("CODEXAPI_API_KEY", key)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("OPENAI_") || name.starts_with("ANTHROPIC_") {
            cmd.env_remove(name);
        }
    }
    let out = run_bounded(cmd, CLIENT_TIMEOUT);
    let summary: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "{script} printed no summary (is tests/requirements.txt installed? scripts/test \
             installs it)\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        )
    });
    assert!(
        out.success,
        "{script}: a check failed\n{:#}\nstderr:\n{}\nserver log:\n{}",
        summary,
        out.stderr,
        server.log()
    );
    summary["checks"].as_array().unwrap().clone()
}
