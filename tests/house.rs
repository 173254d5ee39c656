//! The shape of the code, checked rather than kept by habit: no source file much over 600
//! lines, and no module circle (two modules of a crate that use each other, directly or
//! through others; a module and its own submodules may). The lints the house keeps
//! (`unsafe` with SAFETY notes, no `unwrap` outside tests) are the workspace lints in the root
//! `Cargo.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest source file, in lines.
const MAX_LINES: usize = 650;

/// The source folders of the workspace's crates (a library or program each).
const CRATE_SOURCES: [&str; 7] = [
    "crates/custom-kernels/src",
    "crates/data/src",
    "crates/infer/src",
    "crates/io/src",
    "crates/model/src",
    "crates/training/src",
    "xtask/src",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `folder`.
fn rust_files(folder: &Path) -> Vec<PathBuf> {
    files_under(folder, "rs")
}

/// Every file under `folder` whose extension is `extension`, sorted.
pub fn files_under(folder: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![folder.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn no_source_file_is_much_over_600_lines() {
    let mut long = Vec::new();
    for folder in ["crates", "xtask", "tests"] {
        for file in rust_files(&root().join(folder)) {
            let lines = std::fs::read_to_string(&file).unwrap().lines().count();
            if lines > MAX_LINES {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these along what they do:\n{}",
        long.join("\n")
    );
}

/// A module's path in its crate (`cpu::direct`), from its file's path under `src`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let mut parts: Vec<String> = file
        .strip_prefix(src)
        .unwrap()
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The paths a module's code names through `crate::`, `super::` or `self::` (comments and
/// its test module left out), resolved to absolute paths in the crate.
fn named_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let code = code.split("#[cfg(test)]").next().unwrap_or("");
    let mut paths = Vec::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = ["crate::", "super::", "self::"]
            .iter()
            .filter_map(|start| rest.find(start))
            .min()
        {
            let word_start = at == 0 || {
                let before = rest.as_bytes()[at - 1];
                !(before.is_ascii_alphanumeric() || before == b'_')
            };
            let path: String = rest[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            rest = &rest[at + path.len().max(1)..];
            if !word_start {
                continue;
            }
            let mut absolute = module.to_vec();
            for (i, segment) in path.split("::").filter(|s| !s.is_empty()).enumerate() {
                match segment {
                    "crate" if i == 0 => absolute.clear(),
                    "self" if i == 0 => {}
                    "super" => {
                        absolute.pop();
                    }
                    name => absolute.push(name.to_owned()),
                }
            }
            paths.push(absolute);
        }
    }
    paths
}

/// The modules of a crate and which others each uses (not counting its ancestors and its
/// own submodules).
fn module_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let files = rust_files(src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_path(src, file);
        let code = std::fs::read_to_string(file).unwrap();
        let mut uses = BTreeSet::new();
        for path in named_paths(&module, &code) {
            let Some(target) = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|prefix| modules.contains(prefix))
            else {
                continue;
            };
            if !target.starts_with(&module) && !module.starts_with(&target) {
                uses.insert(target);
            }
        }
        graph.insert(module, uses);
    }
    graph
}

/// A circle of modules in `graph`, if there is one.
fn find_circle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(
                path[at..]
                    .iter()
                    .chain([node])
                    .map(|m| m.join("::"))
                    .collect(),
            );
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_two_modules_of_a_crate_use_each_other() {
    for src in CRATE_SOURCES {
        let graph = module_graph(&root().join(src));
        assert!(graph.len() > 1, "{src}: no modules found");
        if let Some(circle) = find_circle(&graph) {
            panic!("{src}: a module circle: {}", circle.join(" -> "));
        }
    }
}

/// The check finds a circle where there is one, and none between a module and its parent.
#[test]
fn the_circle_check_sees_circles_and_allows_parents() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Vec<_>>();
    assert_eq!(
        named_paths(
            &m("cpu::conv"),
            "use super::direct::{self, Isa};\n// crate::ops"
        ),
        [m("cpu::direct")]
    );
    assert_eq!(
        named_paths(
            &m("cpu::conv::path"),
            "use super::super::geometry::G; crate::ops::x"
        ),
        [m("cpu::geometry::G"), m("ops::x")]
    );
    let mut graph = BTreeMap::new();
    graph.insert(m("a"), BTreeSet::from([m("b")]));
    graph.insert(m("b"), BTreeSet::from([m("c")]));
    graph.insert(m("c"), BTreeSet::new());
    assert_eq!(find_circle(&graph), None);
    graph.insert(m("c"), BTreeSet::from([m("a")]));
    assert_eq!(
        find_circle(&graph),
        Some(["a", "b", "c", "a"].map(String::from).to_vec())
    );
}
