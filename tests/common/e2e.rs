//! Running the browser scripts of `tests/e2e/` (Debian's Chromium through playwright-core):
//! one phase at a time, bounded, its output shown, failing with what the script said.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Each phase bounds its own steps (30 s) and itself (90 s); this is the backstop.
const PHASE_TIMEOUT: Duration = Duration::from_secs(100);

pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

pub fn e2e_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e")
}

/// `target/<name>`, emptied for this run.
pub fn screenshot_dir(name: &str) -> PathBuf {
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .to_path_buf();
    let dir = target.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create screenshot dir");
    dir
}

/// Fails, not skips, when the browser tooling is missing.
pub fn require_tooling() {
    let fix = "run scripts/test (it installs everything), or: apt-get install -y chromium && npm ci --prefix tests/e2e";
    assert!(
        chromium().exists(),
        "{} is missing; {fix}",
        chromium().display()
    );
    assert!(
        e2e_dir()
            .join("node_modules/playwright-core/package.json")
            .exists(),
        "tests/e2e/node_modules is missing playwright-core; {fix}"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|o| o.status.success()),
        "node does not run ({node:?}); install Node.js 20 or newer, then {fix}"
    );
}

/// Runs one phase of `tests/e2e/<script>`; returns its stdout, panics with its output if it
/// fails or does not finish.
pub fn run_phase(script: &str, phase: &str, env: &[(&str, &str)]) -> String {
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(e2e_dir().join(script))
        .arg(phase)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > PHASE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    eprint!("{stderr}");
    eprintln!(
        "[browser] {script} {phase} took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    match status {
        Some(status) if status.success() => stdout,
        Some(status) => panic!("browser phase {phase} failed ({status}):\n{stderr}{stdout}"),
        None => {
            panic!("browser phase {phase} did not finish in {PHASE_TIMEOUT:?}:\n{stderr}{stdout}")
        }
    }
}
