//! The code's layers, read from `src/`: a module imports only from layers below its own, the
//! two faces (the pages and the API) never import each other, and modules that share a layer
//! import each other without a circle. See ARCHITECTURE.md.

// Tests and benchmarks: a failed step fails the run at once, with its reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each top-level module and its layer, highest first. A module may import modules of a lower
/// layer, and modules of its own layer as long as no circle forms, except the faces.
const LAYERS: &[(&str, u8)] = &[
    ("main", 9),
    ("lib", 9),
    ("cli", 8),
    ("server", 7),
    ("app", 6),
    // The faces.
    ("web", 5),
    ("gateway", 5),
    // Services: the rules, no HTTP types.
    ("accounts", 4),
    ("billing", 4),
    ("usage", 4),
    ("mail", 4),
    ("health", 4),
    ("setup", 4),
    ("privacy", 4),
    ("abuse", 4),
    ("backup", 4),
    ("doctor", 4),
    ("db", 3),
    ("config", 2),
    // Primitives.
    ("auth", 1),
    ("client", 1),
    ("clock", 1),
    ("csv", 1),
    ("logging", 1),
    ("metrics", 1),
    ("money", 1),
    ("tls", 1),
    ("translate", 1),
    ("secrets", 1),
];
const FACES: &[&str] = &["web", "gateway"];

fn layer(module: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, layer)| *layer)
        .unwrap_or_else(|| {
            panic!("src/{module} has no layer: add it to LAYERS and ARCHITECTURE.md")
        })
}

/// The code of a file without comments and without its test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Top-level module → (imported module → the files that import it).
fn imports() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (relative, text) in sources() {
        let module = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        let code = code_of(&text);
        let modules = out.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let rest = &code[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                modules.entry(name).or_default().insert(relative.clone());
            }
        }
    }
    out
}

/// Every source file of the crate but the test-only ones, as (path under `src/`, text).
fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.ends_with(".rs") || name.contains("tests") {
                continue;
            }
            let relative = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((relative, std::fs::read_to_string(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn modules_import_only_from_below_and_the_faces_not_from_each_other() {
    let mut wrong = Vec::new();
    for (module, imported) in imports() {
        let own = layer(&module);
        for (other, files) in imported {
            let theirs = layer(&other);
            let face_to_face = FACES.contains(&module.as_str()) && FACES.contains(&other.as_str());
            if theirs > own || face_to_face {
                wrong.push(format!(
                    "{module} (layer {own}) imports {other} (layer {theirs}) in {files:?}"
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn modules_of_one_layer_import_each_other_without_a_circle() {
    let graph: BTreeMap<String, BTreeSet<String>> = imports()
        .into_iter()
        .map(|(module, imported)| {
            let own = layer(&module);
            let same: BTreeSet<String> = imported
                .into_keys()
                .filter(|other| layer(other) == own)
                .collect();
            (module, same)
        })
        .collect();
    // Depth-first search for a path back to where it started.
    fn reaches(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        graph
            .get(from)
            .into_iter()
            .flatten()
            .any(|next| next == to || (seen.insert(next.clone()) && reaches(graph, next, to, seen)))
    }
    let circles: Vec<&String> = graph
        .keys()
        .filter(|module| reaches(&graph, module, module, &mut BTreeSet::new()))
        .collect();
    assert!(
        circles.is_empty(),
        "modules in an import circle: {circles:?}\n{graph:#?}"
    );
}

#[test]
fn every_module_of_the_crate_has_a_layer() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            layer(name);
        }
    }
    // The checker itself sees what it should: the gateway uses the translation layer.
    assert!(imports()["gateway"].contains_key("translate"));
}

#[test]
fn sql_lives_in_db_only() {
    let statements = [
        "SELECT ", "INSERT ", "UPDATE ", "DELETE ", "REPLACE ", "WITH ", "PRAGMA ", "CREATE ",
    ];
    let mut found = Vec::new();
    for (path, text) in sources() {
        if path.starts_with("db/") {
            continue;
        }
        for (n, line) in code_of(&text).lines().enumerate() {
            if let Some(at) = line.find('"')
                && statements
                    .iter()
                    .any(|s| line[at + 1..].trim_start().starts_with(s))
            {
                found.push(format!("{path}:{}", n + 1));
            }
        }
    }
    assert!(found.is_empty(), "SQL outside src/db/: {found:?}");
}

/// Lines of code (its unit tests aside) beyond which a module says in its header why it is one.
const LONG_MODULE: usize = 600;

#[test]
fn long_modules_say_why_they_are_one() {
    let silent: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| code_of(text).lines().count() > LONG_MODULE)
        .filter(|(_, text)| {
            let header: String = text
                .lines()
                .take_while(|l| l.starts_with("//!"))
                .collect::<Vec<_>>()
                .join(" ");
            !header.contains("One module because")
        })
        .map(|(path, _)| path)
        .collect();
    assert!(
        silent.is_empty(),
        "over {LONG_MODULE} lines with no \"One module because\" in the header: {silent:?}"
    );
}
