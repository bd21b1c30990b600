//! The secret guard's cost: how long scanning takes per MiB of request text, for code without
//! secrets (what nearly every request is) and for code with a few. Prints a Markdown table.
//!
//! `cargo bench --bench secret_guard`

// Benchmarks: a failed step fails the run at once, with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use codexapi::secrets::Rules;

/// About 1 MiB of source code, as a coding agent sends it (files, diffs, tool output).
fn code_mib() -> String {
    let chunk = r#"
impl Server {
    /// Starts the listener and returns once it accepts connections.
    pub async fn start(config: &Config) -> Result<Server, Error> {
        let api_key = std::env::var("PROVIDER_API_KEY").map_err(|_| Error::Missing("PROVIDER_API_KEY"))?;
        let password = prompt_password("Database password: ")?;
        let url = format!("postgres://{user}@{host}:{port}/{db}", user = config.user, host = config.host);
        for (i, token) in tokens.iter().enumerate() { println!("{i}: {} bytes", token.len()); }
        Ok(Server { url, api_key, password })
    }
}
"#;
    chunk.repeat((1 << 20) / chunk.len() + 1)
}

fn per_mib(rules: &Rules, text: &str, rounds: u32) -> (Duration, usize) {
    let mut found = 0;
    let started = Instant::now();
    for _ in 0..rounds {
        found = rules.scan(text).len();
    }
    let per_round = started.elapsed() / rounds;
    let mib = text.len() as f64 / f64::from(1 << 20);
    (per_round.div_f64(mib), found)
}

fn main() {
    let started = Instant::now();
    let rules = Rules::built_in().unwrap();
    let compile = started.elapsed();
    let clean = code_mib();
    let mut dirty = clean.clone();
    // Each at the start of a line, a third and a half of the way in.
    for (part, secret) in [
        (3, format!("AWS_ACCESS_KEY_ID=AKIA{}\n", "Z7VRSQ5TJN2XOL4P")),
        (
            2,
            format!(
                "token = \"ghp_{}\"\n",
                "4hT8kP2mQ9xZ7vB3nL6wR1sD5fG0jY8cA2eK"
            ),
        ),
    ] {
        let line = dirty[..dirty.len() / part].rfind('\n').map_or(0, |i| i + 1);
        dirty.insert_str(line, &secret);
    }
    let ids: Vec<&str> = rules
        .scan(&dirty)
        .iter()
        .map(|f| rules.id(f.rule))
        .collect();
    assert_eq!(ids.len(), 2, "both secrets are found: {ids:?}");
    let (clean_time, clean_found) = per_mib(rules, &clean, 10);
    let (dirty_time, dirty_found) = per_mib(rules, &dirty, 10);
    let small = &clean[..4096];
    let (small_time, _) = per_mib(rules, small, 2000);
    println!(
        "| secret guard ({} rules, compiled in {:.0} ms) | per MiB | found |",
        rules.len(),
        compile.as_secs_f64() * 1e3
    );
    println!("|---|---|---|");
    println!(
        "| code without secrets, 1 MiB | {:.2} ms | {clean_found} |",
        clean_time.as_secs_f64() * 1e3
    );
    println!(
        "| code with two secrets, 1 MiB | {:.2} ms | {dirty_found} |",
        dirty_time.as_secs_f64() * 1e3
    );
    println!(
        "| a 4 KiB message | {:.1} µs per message | 0 |",
        small_time.as_secs_f64() * 1e6 * (4096.0 / f64::from(1 << 20))
    );
}
