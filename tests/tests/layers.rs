//! The core's modules form one-way layers: each top-level module uses only
//! the modules listed before it in [`LAYERS`]. So the kernel knows no
//! component, the environment knows no component, components know no
//! scenario, and views read components that never import views.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The core's top-level modules, lowest first.
const LAYERS: &[&str] = &[
    "kernel",
    "proto",
    "mvcc",
    "memory",
    "env",
    "engine_rocks",
    "raftstore",
    "in_memory_engine",
    "server",
    "storage",
    "resolved_ts",
    "lock_manager",
    "health_controller",
    "pd",
    "client",
    "store",
    "invariants",
    "world",
    "scenario",
    "input",
    "scenarios",
    "sim",
    "views",
    "summary",
];

fn core_src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../core/src")
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("readable directory")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `code` names through `crate::`.
fn uses(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            found.insert(name);
        }
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = core_src();
    let mut problems = Vec::new();
    for (rank, module) in LAYERS.iter().enumerate() {
        let dir = src.join(module);
        let mut files = Vec::new();
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        } else {
            files.push(src.join(format!("{module}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            for used in uses(&code_of(&text)) {
                if used == *module {
                    continue;
                }
                match LAYERS.iter().position(|m| *m == used) {
                    Some(r) if r < rank => {}
                    Some(_) => problems.push(format!(
                        "{} ({module}) uses crate::{used}, a layer above it",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    )),
                    None => problems.push(format!(
                        "{} uses crate::{used}, which is not in the layer list",
                        file.strip_prefix(&src).unwrap_or(&file).display()
                    )),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let lib = std::fs::read_to_string(core_src().join("lib.rs")).expect("lib.rs");
    for line in lib.lines() {
        if let Some(name) = line
            .strip_prefix("pub mod ")
            .and_then(|r| r.strip_suffix(';'))
        {
            assert!(
                LAYERS.contains(&name),
                "module {name} has no place in the layers"
            );
        }
    }
}
