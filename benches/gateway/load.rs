//! Load from wrk (Debian's, installed with apt when missing) with `bench/post.lua`, and what a
//! process spent meanwhile, from `/proc`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub requests: u64,
    pub seconds: f64,
    /// Non-2xx answers, refused or broken connections, timeouts.
    pub errors: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// CPU time of the measured process per request, in milliseconds.
    pub cpu_ms: f64,
}

impl Load {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Installs wrk with apt when it is missing, as `scripts/test` installs Chromium.
pub fn ensure_wrk() {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return;
    }
    println!("wrk is missing: installing it with apt");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        let status = cmd
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .expect("apt-get");
        assert!(status.success(), "apt-get {args:?} failed");
    };
    apt(&["update", "-qq"]);
    apt(&["install", "-y", "-qq", "wrk"]);
}

/// The clock ticks per second `/proc/PID/stat` counts in.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// User plus system CPU time of a process so far, in clock ticks (`self` for this one).
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: count from after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the line (utime, stime) are the 12th and 13th after the name.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// Resident and peak resident memory of a process, in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs wrk against `url` for `seconds` with `connections`, posting `body` (written to a file in
/// `dir`), and counts the CPU that process `pid` spends meanwhile.
pub fn wrk(
    dir: &Path,
    url: &str,
    key: &str,
    body: &str,
    connections: usize,
    seconds: u64,
    pid: &str,
) -> Load {
    let body_file = dir.join("wrk-body.json");
    std::fs::write(&body_file, body).expect("write the body");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/post.lua");
    let threads = connections.clamp(1, 2);
    let before = cpu_ticks(pid);
    let out = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args([
            "-d",
            &format!("{seconds}s"),
            "--timeout",
            "10s",
            "-s",
            script,
        ])
        .arg(url)
        .env("WRK_BODY", &body_file)
        .env("WRK_KEY", key)
        .output()
        .expect("run wrk");
    let ticks = cpu_ticks(pid) - before;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no result: {text}"));
    let value = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let us = |name: &str| Duration::from_micros(value(name));
    let requests = value("requests");
    let errors = ["status", "connect", "read", "write", "timeout"]
        .iter()
        .map(|n| value(n))
        .sum();
    Load {
        requests,
        seconds: value("duration_us") as f64 / 1e6,
        errors,
        p50: us("p50"),
        p90: us("p90"),
        p99: us("p99"),
        max: us("max"),
        cpu_ms: if requests > 0 {
            ticks as f64 * 1000.0 / clock_ticks() / requests as f64
        } else {
            0.0
        },
    }
}
