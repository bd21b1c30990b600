//! The privacy policy and its proof: `assets/legal/clauses.toml` says, clause by clause, what
//! the policy promises and which tests prove it. Every section of the policy has a clause, every
//! clause a test, and every test named exists. The map is printed, and written to
//! `target/policy-map.md` (`scripts/policy-map` shows it).

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::path::Path;

use serde::Deserialize;

#[derive(Deserialize)]
struct Map {
    clause: Vec<Clause>,
}

#[derive(Deserialize)]
struct Clause {
    id: String,
    sections: Vec<String>,
    says: String,
    tests: Vec<String>,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The section ids of the policy (`## Heading {#id}`), in order.
fn sections() -> Vec<String> {
    let policy = std::fs::read_to_string(root().join("assets/legal/privacy.md")).unwrap();
    policy
        .lines()
        .filter(|l| l.starts_with('#'))
        .filter_map(|l| {
            let start = l.rfind("{#")? + 2;
            let end = l[start..].find('}')? + start;
            Some(l[start..end].to_owned())
        })
        .collect()
}

fn map() -> Map {
    let text = std::fs::read_to_string(root().join("assets/legal/clauses.toml")).unwrap();
    toml::from_str(&text).unwrap()
}

/// Whether `file` holds a test function `name`.
fn test_exists(file: &str, name: &str) -> bool {
    let Ok(source) = std::fs::read_to_string(root().join(file)) else {
        return false;
    };
    let lines: Vec<&str> = source.lines().collect();
    lines.iter().enumerate().any(|(i, line)| {
        let line = line.trim_start();
        (line.starts_with(&format!("fn {name}(")) || line.starts_with(&format!("async fn {name}(")))
            && lines[i.saturating_sub(4)..i]
                .iter()
                .any(|l| l.trim_start().starts_with("#[test]") || l.contains("#[tokio::test"))
    })
}

#[test]
fn every_clause_of_the_policy_has_a_test_that_exists() {
    let sections = sections();
    let map = map();
    let mut gaps = Vec::new();
    for section in &sections {
        if !map.clause.iter().any(|c| c.sections.contains(section)) {
            gaps.push(format!("section #{section} has no clause"));
        }
    }
    let mut out = String::from(
        "| clause | sections | what the policy promises | tests |\n|---|---|---|---|\n",
    );
    for clause in &map.clause {
        for section in &clause.sections {
            if !sections.contains(section) {
                gaps.push(format!(
                    "{}: no section #{section} in the policy",
                    clause.id
                ));
            }
        }
        if clause.tests.is_empty() {
            gaps.push(format!("{}: no test", clause.id));
        }
        for test in &clause.tests {
            let (file, name) = test.split_once("::").unwrap_or((test, ""));
            if !test_exists(file, name) {
                gaps.push(format!("{}: {test} is not a test", clause.id));
            }
        }
        let sections: Vec<String> = clause.sections.iter().map(|s| format!("#{s}")).collect();
        let tests: Vec<String> = clause.tests.iter().map(|t| format!("`{t}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            clause.id,
            sections.join(", "),
            clause.says,
            tests.join("<br>")
        ));
    }
    let target = root().join("target");
    let _ = std::fs::create_dir_all(&target);
    std::fs::write(target.join("policy-map.md"), &out).unwrap();
    println!("{out}");
    assert!(
        gaps.is_empty(),
        "the policy map has gaps:\n{}",
        gaps.join("\n")
    );
}

/// What users read is the whole policy: every section is on the page, under its own anchor.
#[test]
fn every_section_of_the_policy_is_on_the_page() {
    let server = common::Server::start("");
    let page = common::text(common::client().get(server.url("/privacy")).send().unwrap());
    for section in sections() {
        assert!(
            page.contains(&format!("id=\"{section}\"")),
            "#{section} is not on the page"
        );
    }
}
