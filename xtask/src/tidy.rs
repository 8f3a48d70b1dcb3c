//! Repository hygiene checks ("tidy").
//!
//! These run as the `tidy` test at the bottom of this file, so a plain
//! `cargo test` enforces them, and through `cargo xtask tidy`, which prints
//! every finding as `file:line: message`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, Error, Result};

/// Forbidden macro calls. The needles are split with `concat!` so that this
/// file does not flag itself.
const FORBIDDEN_MACROS: [&str; 3] = [concat!("dbg", "!("), concat!("todo", "!("), concat!("unimplemented", "!(")];

/// Forbidden test attributes, split for the same reason as the macros.
const FORBIDDEN_ATTRIBUTES: [&str; 2] = [concat!("#[", "ignore"), concat!("#[", "should_panic")];

/// Directory names that are never walked, besides names starting with a dot.
const SKIPPED_DIR_NAMES: [&str; 3] = ["target", "node_modules", "venv"];

/// Directories, relative to the root, that are never walked.
const SKIPPED_DIR_PATHS: [&str; 1] = ["tests/data"];

/// One problem found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// The file, relative to the repository root when it lies inside it.
    pub(crate) path: PathBuf,
    /// The line the problem is on, counted from one.
    pub(crate) line: usize,
    /// What is wrong.
    pub(crate) message: String,
}

impl Finding {
    fn new(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), line, message: message.into() }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path.display(), self.line, self.message)
    }
}

/// Runs every tidy check on the repository at `root`.
pub(crate) fn check(root: &Path) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let mut files = Vec::new();
    collect_files(root, root, &mut files)?;
    for relative in &files {
        check_file(root, relative, &mut findings)?;
    }
    let metadata = util::cargo_metadata(root, true)?;
    findings.extend(check_manifests(root, &metadata)?);
    Ok(findings)
}

/// Collects the files under `dir`, relative to `root`, in sorted order.
fn collect_files(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let read = fs::read_dir(dir).map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?;
    let mut entries = read
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(|e| Error::new(format!("cannot list {}: {e}", dir.display())))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(|e| Error::new(format!("cannot stat {}: {e}", path.display())))?;
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if file_type.is_dir() {
            if !is_skipped_dir(&relative) {
                collect_files(root, &path, files)?;
            }
        } else if file_type.is_file() {
            files.push(relative);
        }
        // Symbolic links are not followed, so a link cannot cause a loop.
    }
    Ok(())
}

/// Tells whether a directory, given relative to the root, is left out of the walk.
fn is_skipped_dir(relative: &Path) -> bool {
    let name = relative.file_name().map(|name| name.to_string_lossy()).unwrap_or_default();
    name.starts_with('.')
        || SKIPPED_DIR_NAMES.contains(&name.as_ref())
        || SKIPPED_DIR_PATHS.iter().any(|skipped| relative == Path::new(skipped))
}

/// The kinds of file that tidy reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Rust,
    Toml,
    Markdown,
}

impl FileKind {
    fn of(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "rs" => Some(Self::Rust),
            "toml" => Some(Self::Toml),
            "md" => Some(Self::Markdown),
            _ => None,
        }
    }
}

/// Checks one file, given relative to the root, if it is of a kind tidy reads.
fn check_file(root: &Path, relative: &Path, findings: &mut Vec<Finding>) -> Result<()> {
    let Some(kind) = FileKind::of(relative) else {
        return Ok(());
    };
    let bytes =
        fs::read(root.join(relative)).map_err(|e| Error::new(format!("cannot read {}: {e}", relative.display())))?;
    match String::from_utf8(bytes) {
        Ok(text) => findings.extend(check_text(relative, kind, &text)),
        Err(_) => findings.push(Finding::new(relative, 1, "file is not valid UTF-8")),
    }
    Ok(())
}

/// Checks the contents of one file of the given kind.
fn check_text(path: &Path, kind: FileKind, text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    if kind == FileKind::Rust && !text.starts_with("//!") {
        findings.push(Finding::new(path, 1, "Rust file must start with a `//!` module doc comment"));
    }
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.ends_with(char::is_whitespace) {
            findings.push(Finding::new(path, number, "trailing whitespace"));
        }
        if line.contains('\t') {
            findings.push(Finding::new(path, number, "tab character"));
        }
        if kind == FileKind::Rust {
            for needle in FORBIDDEN_MACROS.iter().chain(&FORBIDDEN_ATTRIBUTES) {
                if line.contains(needle) {
                    findings.push(Finding::new(path, number, format!("forbidden `{needle}`")));
                }
            }
        }
    }
    if !text.is_empty() && !text.ends_with('\n') {
        findings.push(Finding::new(path, text.lines().count().max(1), "file does not end with a newline"));
    }
    findings
}

/// Checks the manifest of every workspace member listed by
/// `cargo metadata --no-deps`.
fn check_manifests(root: &Path, metadata: &Value) -> Result<Vec<Finding>> {
    let members = metadata["workspace_members"]
        .as_array()
        .ok_or_else(|| Error::new("`cargo metadata` printed no workspace_members"))?;
    let packages = metadata["packages"].as_array().ok_or_else(|| Error::new("`cargo metadata` printed no packages"))?;
    let mut findings = Vec::new();
    for package in packages {
        if !members.contains(&package["id"]) {
            continue;
        }
        let name = package["name"].as_str().unwrap_or("?");
        let manifest = package["manifest_path"]
            .as_str()
            .ok_or_else(|| Error::new(format!("package {name} has no manifest_path")))?;
        let manifest = Path::new(manifest);
        let text =
            fs::read_to_string(manifest).map_err(|e| Error::new(format!("cannot read {}: {e}", manifest.display())))?;
        let shown = manifest.strip_prefix(root).unwrap_or(manifest);
        findings.extend(check_manifest(shown, name, package, &text));
    }
    Ok(findings)
}

/// Checks one member manifest: the `[lints]` table, the version and `publish`.
fn check_manifest(path: &Path, name: &str, package: &Value, text: &str) -> Vec<Finding> {
    let toml = TomlLines::parse(text);
    let mut findings = Vec::new();

    let lints_inherited = toml.entries.iter().any(|entry| {
        (entry.key == "lints.workspace" && entry.value == "true")
            || (entry.key == "lints" && squeeze(&entry.value) == "{workspace=true}")
    });
    if !lints_inherited {
        let line = toml.table_line("lints").unwrap_or(1);
        findings.push(Finding::new(
            path,
            line,
            format!("package {name} must have a `[lints]` table with `workspace = true`"),
        ));
    }

    let package_line = toml.table_line("package").unwrap_or(1);
    let version = package["version"].as_str().unwrap_or("?");
    if version != "0.0.0" {
        let line = toml.key_line("package.version").unwrap_or(package_line);
        findings.push(Finding::new(
            path,
            line,
            format!("package {name} has version {version}; use `version.workspace = true` (0.0.0)"),
        ));
    }

    let unpublishable = package["publish"].as_array().is_some_and(|registries| registries.is_empty());
    if !unpublishable {
        let line = toml.key_line("package.publish").unwrap_or(package_line);
        findings.push(Finding::new(
            path,
            line,
            format!("package {name} must not be publishable; use `publish.workspace = true`"),
        ));
    }
    findings
}

/// Removes every whitespace character.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A key and value on one line of a TOML file, with the key prefixed by its table.
#[derive(Debug)]
struct TomlEntry {
    line: usize,
    key: String,
    value: String,
}

/// Just enough of a line-based TOML reader for Cargo manifests: table headers
/// and `key = value` lines. Multi-line values are not understood, which is
/// fine for the keys this file looks at.
#[derive(Debug, Default)]
struct TomlLines {
    tables: Vec<(usize, String)>,
    entries: Vec<TomlEntry>,
}

impl TomlLines {
    fn parse(text: &str) -> Self {
        let mut parsed = Self::default();
        let mut table = String::new();
        for (index, raw) in text.lines().enumerate() {
            let line = strip_comment(raw).trim();
            if line.starts_with('[') {
                table = squeeze(line.trim_matches(|c| c == '[' || c == ']'));
                parsed.tables.push((index + 1, table.clone()));
            } else if let Some((key, value)) = line.split_once('=') {
                let key = squeeze(key);
                let key = if table.is_empty() { key } else { format!("{table}.{key}") };
                parsed.entries.push(TomlEntry { line: index + 1, key, value: value.trim().to_owned() });
            }
        }
        parsed
    }

    /// Returns the line of the header of `table`.
    fn table_line(&self, table: &str) -> Option<usize> {
        self.tables.iter().find(|(_, name)| name == table).map(|(line, _)| *line)
    }

    /// Returns the line of `key` or of a dotted key below it.
    fn key_line(&self, key: &str) -> Option<usize> {
        self.entries
            .iter()
            .find(|entry| entry.key == key || entry.key.strip_prefix(key).is_some_and(|rest| rest.starts_with('.')))
            .map(|entry| entry.line)
    }
}

/// Cuts a `#` comment off a TOML line, leaving `#` inside strings alone.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (index, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return &line[..index],
            None => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(findings: &[Finding]) -> Vec<String> {
        findings.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn clean_rust_file_passes() {
        let text = "//! A module.\n\nfn main() {}\n";
        assert!(check_text(Path::new("a.rs"), FileKind::Rust, text).is_empty());
    }

    #[test]
    fn rust_file_without_module_doc_is_reported() {
        let text = "// Not a module doc.\nfn main() {}\n";
        let found = messages(&check_text(Path::new("a.rs"), FileKind::Rust, text));
        assert_eq!(found, ["a.rs:1: Rust file must start with a `//!` module doc comment"]);
    }

    #[test]
    fn forbidden_macros_and_attributes_are_reported() {
        let text = format!(
            "//! A module.\nfn f() {{\n    {}1);\n}}\n{}]\nfn g() {{}}\n",
            FORBIDDEN_MACROS[0], FORBIDDEN_ATTRIBUTES[0]
        );
        let found = check_text(Path::new("a.rs"), FileKind::Rust, &text);
        let lines: Vec<usize> = found.iter().map(|finding| finding.line).collect();
        assert_eq!(lines, [3, 5], "{found:?}");
    }

    #[test]
    fn whitespace_tabs_and_final_newline_are_reported() {
        let text = "a = 1 \n\tb = 2\nc = 3";
        let found = messages(&check_text(Path::new("x.toml"), FileKind::Toml, text));
        assert_eq!(
            found,
            ["x.toml:1: trailing whitespace", "x.toml:2: tab character", "x.toml:3: file does not end with a newline",]
        );
    }

    #[test]
    fn markdown_is_not_checked_for_rust_rules() {
        let text = format!("# Title\n\nNever call `{}`.\n", FORBIDDEN_MACROS[1]);
        assert!(check_text(Path::new("a.md"), FileKind::Markdown, &text).is_empty());
    }

    #[test]
    fn skipped_directories() {
        for dir in ["target", ".git", "node_modules", "a/venv", "tests/data", ".cargo"] {
            assert!(is_skipped_dir(Path::new(dir)), "{dir}");
        }
        for dir in ["crates", "tests", "tests/python", "xtask/src"] {
            assert!(!is_skipped_dir(Path::new(dir)), "{dir}");
        }
    }

    #[test]
    fn comments_are_cut_outside_strings_only() {
        assert_eq!(strip_comment("a = 1 # note"), "a = 1 ");
        assert_eq!(strip_comment(r##"a = "x#y" # note"##), r#"a = "x#y" "#);
        assert_eq!(strip_comment(r##"a = "q\"#" # x"##), r##"a = "q\"#" "##);
    }

    fn member(version: &str, publish: Value) -> Value {
        json!({ "name": "demo", "version": version, "publish": publish })
    }

    #[test]
    fn good_manifest_passes() {
        let text = "[package]\nname = \"demo\"\nversion.workspace = true\n\n[lints]\nworkspace = true\n";
        let found = check_manifest(Path::new("Cargo.toml"), "demo", &member("0.0.0", json!([])), text);
        assert!(found.is_empty(), "{found:?}");
        let inline = "lints = { workspace = true }\n\n[package]\nname = \"demo\"\n";
        let found = check_manifest(Path::new("Cargo.toml"), "demo", &member("0.0.0", json!([])), inline);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn bad_manifest_is_reported() {
        let text = "[package]\nname = \"demo\"\nversion = \"1.0.0\"\n\n[lints]\nworkspace = false\n";
        let found = messages(&check_manifest(Path::new("Cargo.toml"), "demo", &member("1.0.0", Value::Null), text));
        assert_eq!(
            found,
            [
                "Cargo.toml:5: package demo must have a `[lints]` table with `workspace = true`",
                "Cargo.toml:3: package demo has version 1.0.0; use `version.workspace = true` (0.0.0)",
                "Cargo.toml:1: package demo must not be publishable; use `publish.workspace = true`",
            ]
        );
    }

    /// Runs every tidy check on this repository.
    #[test]
    fn tidy() {
        let root = util::repo_root();
        let findings = check(&root).unwrap_or_else(|e| panic!("tidy could not run: {e}"));
        assert!(findings.is_empty(), "tidy found {} problem(s):\n{}", findings.len(), messages(&findings).join("\n"));
    }
}
