//! Records the git commit the binary is built from, for `codexapi version`: `git rev-parse
//! --short HEAD`, or `GIT_COMMIT` from the build environment (a Docker build without `.git`),
//! or "unknown".

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=GIT_COMMIT");
    let from_env = std::env::var("GIT_COMMIT")
        .ok()
        .map(|c| c.trim().chars().take(40).collect::<String>())
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric()));
    let commit = from_env
        .or_else(|| git(&["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // Rebuild when HEAD moves: the HEAD file, the branch it names, and packed refs. Only files
    // that exist are named (cargo reruns every time for a missing one).
    let mut watch: Vec<PathBuf> = Vec::new();
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        watch.push(head.into());
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(reference) = git(&["rev-parse", "--git-path", &branch])
    {
        watch.push(reference.into());
    }
    if let Some(packed) = git(&["rev-parse", "--git-path", "packed-refs"]) {
        watch.push(packed.into());
    }
    for path in watch.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    // Not under the CODEXAPI_ prefix: cargo also sets this variable for `cargo run` and the test
    // binaries, where the config would read it as a key.
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
}
