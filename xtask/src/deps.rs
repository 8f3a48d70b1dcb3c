//! Dependency-direction invariants between the workspace crates.
//!
//! The rules are read against the resolve graph of
//! `cargo metadata --format-version 1 --all-features`. Unless a rule says
//! otherwise, only normal and build dependencies count, not dev-dependencies.
//! A rule about a package that does not exist yet is skipped, because the
//! workspace is built up step by step; a rule about an existing package is
//! always checked. They run as the `deps` test at the bottom of this file and
//! as part of `cargo xtask tidy`.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use serde_json::Value;

use crate::util::{Error, Result};

/// Storage, transport and CLI crates that the pure layers must never reach.
const NOT_IN_PURE_LAYERS: &[&str] = &[
    "sea-orm",
    "sea-query",
    "sea-orm-migration",
    "sqlx",
    "sqlx-core",
    "hyper",
    "hyper-util",
    "rmcp",
    "clap",
    "waymark-store",
    "waymark-migration",
    "waymark-core",
];

/// The crates that speak a protocol or a command line to the outside.
const TRANSPORTS: &[&str] = &["waymark-mcp", "waymark-mcp-http", "waymark-mcp-stdio", "waymark-cli"];

/// Whether a rule looks at direct dependencies or at the whole closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Direct,
    Transitive,
}

/// A rule that `subjects` must not depend on any of `forbidden`.
#[derive(Debug)]
struct Forbidden {
    subjects: &'static [&'static str],
    forbidden: &'static [&'static str],
    reach: Reach,
    reason: &'static str,
}

const FORBIDDEN_RULES: &[Forbidden] = &[
    Forbidden {
        subjects: &["waymark-domain", "waymark-engine"],
        forbidden: NOT_IN_PURE_LAYERS,
        reach: Reach::Transitive,
        reason: "the domain and the engine know no storage, transport, CLI or core",
    },
    Forbidden {
        subjects: &["waymark-domain"],
        forbidden: &["tokio"],
        reach: Reach::Transitive,
        reason: "the domain has no async and no I/O",
    },
    Forbidden {
        subjects: TRANSPORTS,
        forbidden: &["waymark-store", "waymark-migration", "sea-orm", "sea-query", "sqlx"],
        reach: Reach::Direct,
        reason: "transports reach storage only through waymark-core",
    },
    Forbidden {
        subjects: &["waymark-core"],
        forbidden: &["rmcp", "hyper", "hyper-util", "clap"],
        reach: Reach::Direct,
        reason: "the core knows no transport and no CLI",
    },
];

/// A rule that only `allowed` may depend on `targets`, with any kind of
/// dependency, dev-dependencies included.
#[derive(Debug)]
struct Dependents {
    targets: &'static [&'static str],
    allowed: &'static [&'static str],
}

const DEPENDENT_RULES: &[Dependents] = &[
    Dependents {
        targets: &["waymark-mcp-http", "waymark-mcp-stdio", "waymark-cli"],
        allowed: &["waymark", "waymark-e2e"],
    },
    Dependents {
        targets: &["waymark-mcp"],
        allowed: &["waymark", "waymark-e2e", "waymark-mcp-http", "waymark-mcp-stdio"],
    },
];

/// Packages that may only ever be dev-dependencies.
const DEV_ONLY: &[&str] = &["waymark-testkit"];

/// The kind of one dependency edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Build,
    Dev,
}

impl Kind {
    /// Tells whether the edge is part of what a package is built with.
    fn is_normal_or_build(self) -> bool {
        matches!(self, Self::Normal | Self::Build)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "normal",
            Self::Build => "build",
            Self::Dev => "dev",
        })
    }
}

/// One edge of the resolve graph.
#[derive(Debug)]
struct Edge {
    to: usize,
    kinds: Vec<Kind>,
}

impl Edge {
    fn is_normal_or_build(&self) -> bool {
        self.kinds.iter().any(|kind| kind.is_normal_or_build())
    }

    fn kinds_label(&self) -> String {
        let kinds: Vec<String> = self.kinds.iter().map(ToString::to_string).collect();
        kinds.join("+")
    }
}

/// The resolved package graph, with packages as indices.
#[derive(Debug)]
pub(crate) struct Graph {
    names: Vec<String>,
    members: Vec<bool>,
    edges: Vec<Vec<Edge>>,
}

impl Graph {
    /// Builds the graph from the JSON printed by `cargo metadata` with its
    /// resolve graph.
    pub(crate) fn from_metadata(metadata: &Value) -> Result<Self> {
        let bad = |what: &str| Error::new(format!("unexpected `cargo metadata` output: {what}"));
        let packages = metadata["packages"].as_array().ok_or_else(|| bad("no packages"))?;
        let members = metadata["workspace_members"].as_array().ok_or_else(|| bad("no workspace_members"))?;
        let nodes = metadata["resolve"]["nodes"].as_array().ok_or_else(|| bad("no resolve graph"))?;

        let mut index = HashMap::new();
        let mut graph = Self { names: Vec::new(), members: Vec::new(), edges: Vec::new() };
        for package in packages {
            let id = package["id"].as_str().ok_or_else(|| bad("package id"))?;
            let name = package["name"].as_str().ok_or_else(|| bad("package name"))?;
            index.insert(id, graph.names.len());
            graph.names.push(name.to_owned());
            graph.members.push(members.contains(&package["id"]));
            graph.edges.push(Vec::new());
        }
        let lookup = |id: &Value| {
            id.as_str().and_then(|id| index.get(id).copied()).ok_or_else(|| bad(&format!("unknown package {id}")))
        };
        for node in nodes {
            let from = lookup(&node["id"])?;
            for dep in node["deps"].as_array().ok_or_else(|| bad("node deps"))? {
                let to = lookup(&dep["pkg"])?;
                let kinds = dep["dep_kinds"]
                    .as_array()
                    .ok_or_else(|| bad("dep_kinds (cargo 1.41 or newer is needed)"))?
                    .iter()
                    .map(|kind| match kind["kind"].as_str() {
                        None => Ok(Kind::Normal),
                        Some("build") => Ok(Kind::Build),
                        Some("dev") => Ok(Kind::Dev),
                        Some(other) => Err(bad(&format!("dependency kind {other}"))),
                    })
                    .collect::<Result<Vec<_>>>()?;
                graph.edges[from].push(Edge { to, kinds });
            }
        }
        Ok(graph)
    }

    /// Returns the workspace members called `name`.
    fn members_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = usize> + 'a {
        (0..self.names.len()).filter(move |&i| self.members[i] && self.names[i] == name)
    }

    /// Tells whether a workspace member called `name` exists.
    fn has_member(&self, name: &str) -> bool {
        self.members_named(name).next().is_some()
    }

    /// Finds every forbidden package reached from `start` over normal and
    /// build edges, with the shortest chain to each. The search does not go
    /// past a forbidden package, so each chain ends at the first one.
    fn transitive_hits(&self, start: usize, forbidden: &[&str]) -> Vec<Vec<usize>> {
        let mut parent: Vec<Option<usize>> = vec![None; self.names.len()];
        let mut seen = vec![false; self.names.len()];
        let mut queue = VecDeque::from([start]);
        seen[start] = true;
        let mut hits = Vec::new();
        while let Some(node) = queue.pop_front() {
            if node != start && forbidden.contains(&self.names[node].as_str()) {
                let mut chain = vec![node];
                let mut at = node;
                while let Some(up) = parent[at] {
                    chain.push(up);
                    at = up;
                }
                chain.reverse();
                hits.push(chain);
                continue;
            }
            for edge in self.edges[node].iter().filter(|e| e.is_normal_or_build()) {
                if !seen[edge.to] {
                    seen[edge.to] = true;
                    parent[edge.to] = Some(node);
                    queue.push_back(edge.to);
                }
            }
        }
        hits
    }

    fn chain_label(&self, chain: &[usize]) -> String {
        let names: Vec<&str> = chain.iter().map(|&i| self.names[i].as_str()).collect();
        names.join(" -> ")
    }
}

/// Checks every rule and returns one message per violation.
pub(crate) fn check(graph: &Graph) -> Vec<String> {
    let mut violations = Vec::new();

    for rule in FORBIDDEN_RULES {
        for subject in rule.subjects {
            for start in graph.members_named(subject) {
                match rule.reach {
                    Reach::Transitive => {
                        for chain in graph.transitive_hits(start, rule.forbidden) {
                            violations.push(format!(
                                "{} (forbidden transitive dependency: {})",
                                graph.chain_label(&chain),
                                rule.reason
                            ));
                        }
                    }
                    Reach::Direct => {
                        for edge in &graph.edges[start] {
                            let to = graph.names[edge.to].as_str();
                            if edge.is_normal_or_build() && rule.forbidden.contains(&to) {
                                violations.push(format!(
                                    "{subject} -> {to} (forbidden direct {} dependency: {})",
                                    edge.kinds_label(),
                                    rule.reason
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    for rule in DEPENDENT_RULES {
        for (from, edges) in graph.edges.iter().enumerate() {
            let from_name = graph.names[from].as_str();
            for edge in edges {
                let to = graph.names[edge.to].as_str();
                if graph.members[edge.to] && rule.targets.contains(&to) && !rule.allowed.contains(&from_name) {
                    violations.push(format!(
                        "{from_name} -> {to} ({} dependency; only {} may depend on {to})",
                        edge.kinds_label(),
                        rule.allowed.join(", ")
                    ));
                }
            }
        }
    }

    for (from, edges) in graph.edges.iter().enumerate() {
        for edge in edges {
            let to = graph.names[edge.to].as_str();
            if graph.members[edge.to] && DEV_ONLY.contains(&to) && edge.is_normal_or_build() {
                violations.push(format!(
                    "{} -> {to} ({} dependency; {to} may only be a dev-dependency)",
                    graph.names[from],
                    edge.kinds_label()
                ));
            }
        }
    }

    violations
}

/// Returns the packages named by some rule that are not in the workspace yet,
/// so that their rules are skipped.
pub(crate) fn missing_packages(graph: &Graph) -> Vec<&'static str> {
    let mut named: Vec<&'static str> = FORBIDDEN_RULES
        .iter()
        .flat_map(|rule| rule.subjects.iter().copied())
        .chain(DEPENDENT_RULES.iter().flat_map(|rule| rule.targets.iter().copied()))
        .chain(DEV_ONLY.iter().copied())
        .collect();
    named.sort_unstable();
    named.dedup();
    named.retain(|name| !graph.has_member(name));
    named
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Builds `cargo metadata` JSON by hand. Packages whose name starts with
    /// `waymark` are workspace members; each edge is `(from, to, kind)` with
    /// kind `None` for a normal dependency.
    fn metadata(packages: &[&str], edges: &[(&str, &str, Option<&str>)]) -> Value {
        let id = |name: &str| format!("id:{name}");
        let package_list: Vec<Value> =
            packages.iter().map(|name| json!({ "id": id(name), "name": name, "version": "0.0.0" })).collect();
        let members: Vec<Value> =
            packages.iter().filter(|name| name.starts_with("waymark")).map(|name| json!(id(name))).collect();
        let nodes: Vec<Value> = packages
            .iter()
            .map(|name| {
                let deps: Vec<Value> = edges
                    .iter()
                    .filter(|(from, _, _)| from == name)
                    .map(|(_, to, kind)| {
                        json!({
                            "name": to.replace('-', "_"),
                            "pkg": id(to),
                            "dep_kinds": [{ "kind": kind, "target": null }],
                        })
                    })
                    .collect();
                json!({ "id": id(name), "deps": deps, "dependencies": [], "features": [] })
            })
            .collect();
        json!({
            "packages": package_list,
            "workspace_members": members,
            "resolve": { "nodes": nodes, "root": null },
        })
    }

    fn violations(packages: &[&str], edges: &[(&str, &str, Option<&str>)]) -> Vec<String> {
        let graph = Graph::from_metadata(&metadata(packages, edges)).unwrap();
        check(&graph)
    }

    /// The intended layering: every edge here is allowed.
    const CLEAN_PACKAGES: &[&str] = &[
        "waymark",
        "waymark-domain",
        "waymark-engine",
        "waymark-store",
        "waymark-migration",
        "waymark-core",
        "waymark-mcp",
        "waymark-mcp-http",
        "waymark-mcp-stdio",
        "waymark-cli",
        "waymark-testkit",
        "waymark-e2e",
        "sea-orm",
        "sqlx",
        "rmcp",
        "hyper",
        "clap",
        "tokio",
        "serde",
    ];

    const CLEAN_EDGES: &[(&str, &str, Option<&str>)] = &[
        ("waymark-domain", "serde", None),
        ("waymark-engine", "waymark-domain", None),
        ("waymark-engine", "tokio", None),
        ("waymark-store", "waymark-engine", None),
        ("waymark-store", "waymark-migration", None),
        ("waymark-store", "sea-orm", None),
        ("sea-orm", "sqlx", None),
        ("waymark-core", "waymark-store", None),
        ("waymark-core", "waymark-testkit", Some("dev")),
        ("waymark-testkit", "waymark-core", None),
        ("waymark-mcp", "waymark-core", None),
        ("waymark-mcp", "rmcp", None),
        ("waymark-mcp-http", "waymark-mcp", None),
        ("waymark-mcp-http", "hyper", None),
        ("waymark-mcp-stdio", "waymark-mcp", None),
        ("waymark-cli", "waymark-core", None),
        ("waymark-cli", "clap", None),
        ("waymark", "waymark-cli", None),
        ("waymark", "waymark-mcp-http", None),
        ("waymark", "waymark-mcp-stdio", None),
        ("waymark-e2e", "waymark-mcp", Some("dev")),
        ("waymark-e2e", "waymark-testkit", Some("dev")),
    ];

    fn with_extra(extra: &[(&'static str, &'static str, Option<&'static str>)]) -> Vec<String> {
        let mut edges = CLEAN_EDGES.to_vec();
        edges.extend_from_slice(extra);
        violations(CLEAN_PACKAGES, &edges)
    }

    #[test]
    fn clean_layering_passes() {
        assert_eq!(violations(CLEAN_PACKAGES, CLEAN_EDGES), Vec::<String>::new());
    }

    #[test]
    fn transitive_storage_dependency_is_reported_with_its_chain() {
        let found = violations(
            &["waymark-domain", "foo", "sea-orm", "sqlx"],
            &[("waymark-domain", "foo", None), ("foo", "sea-orm", None), ("sea-orm", "sqlx", None)],
        );
        assert_eq!(
            found,
            ["waymark-domain -> foo -> sea-orm (forbidden transitive dependency: \
              the domain and the engine know no storage, transport, CLI or core)"]
        );
    }

    #[test]
    fn engine_reaching_the_core_is_reported() {
        let found = with_extra(&[("waymark-engine", "waymark-store", Some("build"))]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("waymark-engine -> waymark-store (forbidden transitive"), "{found:?}");
    }

    #[test]
    fn domain_reaching_tokio_is_reported() {
        let found = with_extra(&[("waymark-domain", "serde", None), ("serde", "tokio", None)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("waymark-domain -> serde -> tokio "), "{found:?}");
    }

    #[test]
    fn dev_dependencies_of_pure_layers_are_allowed() {
        let found = with_extra(&[("waymark-domain", "tokio", Some("dev")), ("waymark-engine", "sqlx", Some("dev"))]);
        assert_eq!(found, Vec::<String>::new());
    }

    #[test]
    fn transport_reaching_storage_directly_is_reported() {
        let found = with_extra(&[("waymark-cli", "waymark-store", None), ("waymark-mcp-http", "sqlx", None)]);
        assert_eq!(
            found,
            [
                "waymark-mcp-http -> sqlx (forbidden direct normal dependency: \
                 transports reach storage only through waymark-core)",
                "waymark-cli -> waymark-store (forbidden direct normal dependency: \
                 transports reach storage only through waymark-core)",
            ]
        );
    }

    #[test]
    fn core_with_a_transport_dependency_is_reported() {
        let found = with_extra(&[("waymark-core", "clap", None)]);
        assert_eq!(
            found,
            ["waymark-core -> clap (forbidden direct normal dependency: \
              the core knows no transport and no CLI)"]
        );
    }

    #[test]
    fn unexpected_dependents_are_reported_even_as_dev_dependencies() {
        let found = with_extra(&[("waymark-core", "waymark-cli", Some("dev")), ("waymark-cli", "waymark-mcp", None)]);
        assert_eq!(
            found,
            [
                "waymark-core -> waymark-cli (dev dependency; \
                 only waymark, waymark-e2e may depend on waymark-cli)",
                "waymark-cli -> waymark-mcp (normal dependency; only waymark, \
                 waymark-e2e, waymark-mcp-http, waymark-mcp-stdio may depend on waymark-mcp)",
            ]
        );
    }

    #[test]
    fn testkit_as_a_normal_dependency_is_reported() {
        let found = with_extra(&[("waymark-e2e", "waymark-testkit", None)]);
        assert_eq!(
            found,
            ["waymark-e2e -> waymark-testkit (normal dependency; \
              waymark-testkit may only be a dev-dependency)"]
        );
    }

    #[test]
    fn missing_packages_are_skipped() {
        let graph = Graph::from_metadata(&metadata(&["waymark-domain", "serde"], &[("waymark-domain", "serde", None)]))
            .unwrap();
        assert_eq!(check(&graph), Vec::<String>::new());
        let missing = missing_packages(&graph);
        assert!(missing.contains(&"waymark-engine"), "{missing:?}");
        assert!(!missing.contains(&"waymark-domain"), "{missing:?}");
    }

    #[test]
    fn metadata_without_resolve_is_an_error() {
        let mut value = metadata(&["waymark-domain"], &[]);
        value["resolve"] = Value::Null;
        assert!(Graph::from_metadata(&value).is_err());
    }

    /// Checks the rules on this repository's real dependency graph.
    #[test]
    fn deps() {
        let root = crate::util::repo_root();
        let metadata =
            crate::util::cargo_metadata(&root, false).unwrap_or_else(|e| panic!("cargo metadata failed: {e}"));
        let graph = Graph::from_metadata(&metadata).unwrap_or_else(|e| panic!("cannot read the dependency graph: {e}"));
        let found = check(&graph);
        assert!(found.is_empty(), "{} dependency rule violation(s):\n{}", found.len(), found.join("\n"));
    }
}
