//! Architecture invariants checked from `cargo metadata`: the relay links no message cryptography or TLS stack and no
//! `log` bridge, the client core does not pull in wasm-bindgen on the host, and the password estimator and the client
//! core stay two modules, so that a joiner never downloads the estimator's dictionaries.
//!
//! The walk follows normal and build edges of the resolved graph for the host target, never dev edges,
//! because dev-dependencies are not linked into the relay binary.
//! `cargo metadata` resolves features for the whole workspace at once, so the check is conservative:
//! a denied crate enabled by another member's features on a shared dependency is reported too.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::process::Command;

use serde_json::Value;

/// Crates that implement message cryptography, password hashing, key agreement, signatures or TLS.
/// Each is a reason for the relay to be able to read or forge what it routes, or to terminate TLS itself,
/// which the design puts in a proxy in front of it.
const RELAY_DENY_LIST: &[&str] = &[
    // AEADs and stream ciphers.
    "aead",
    "aes",
    "aes-gcm",
    "aes-gcm-siv",
    "aes-siv",
    "chacha20",
    "chacha20poly1305",
    "xsalsa20poly1305",
    "crypto_secretbox",
    "crypto_box",
    "salsa20",
    "poly1305",
    "universal-hash",
    "orion",
    "sodiumoxide",
    "libsodium-sys",
    // Key agreement and signatures.
    "x25519-dalek",
    "ed25519",
    "ed25519-dalek",
    "curve25519-dalek",
    "p256",
    "k256",
    "ecdsa",
    "signature",
    "rsa",
    // Key derivation and password hashing.
    "hkdf",
    "hmac",
    "argon2",
    "scrypt",
    "pbkdf2",
    "bcrypt",
    "blake2",
    "blake3",
    "password-hash",
    // TLS stacks and general-purpose crypto libraries.
    "ring",
    "rustls",
    "tokio-rustls",
    "hyper-rustls",
    "rustls-webpki",
    "webpki",
    "openssl",
    "openssl-sys",
    "native-tls",
    "tokio-native-tls",
    "aws-lc-rs",
    "aws-lc-sys",
    "boring",
    "boring-sys",
];

/// Crates that install a `log` logger. The relay's dependencies log through `log` (tungstenite writes every message
/// it reads at trace level, content included); with none of these linked, those records go nowhere at any level.
const LOG_BRIDGE_DENY_LIST: &[&str] = &[
    "tracing-log",
    "env_logger",
    "pretty_env_logger",
    "simple_logger",
    "log4rs",
    "fern",
    "flexi_logger",
    "stderrlog",
    "syslog",
];

/// Crates that only make sense inside a browser; the client core must build for the host without them.
const CLIENT_CORE_DENY_LIST: &[&str] = &["wasm-bindgen", "js-sys", "web-sys", "wasm-bindgen-futures"];

/// The resolved dependency graph of the workspace for one target, by package name.
#[derive(Debug)]
struct Graph {
    /// Package id to package name.
    names: HashMap<String, String>,
    /// Package id to the ids it depends on through normal or build edges.
    edges: HashMap<String, Vec<String>>,
}

impl Graph {
    /// Builds the graph from the JSON of `cargo metadata --format-version 1`.
    fn from_metadata(metadata: &Value) -> Graph {
        let mut names = HashMap::new();
        for package in metadata["packages"].as_array().into_iter().flatten() {
            if let (Some(id), Some(name)) = (package["id"].as_str(), package["name"].as_str()) {
                names.insert(id.to_owned(), name.to_owned());
            }
        }
        let mut edges = HashMap::new();
        for node in metadata["resolve"]["nodes"].as_array().into_iter().flatten() {
            let Some(id) = node["id"].as_str() else { continue };
            let mut linked = Vec::new();
            for dep in node["deps"].as_array().into_iter().flatten() {
                // A dependency edge counts when at least one of its kinds is normal (null) or build.
                let kinds = dep["dep_kinds"].as_array().into_iter().flatten();
                let linked_kind = kinds
                    .clone()
                    .any(|kind| kind["kind"].is_null() || kind["kind"] == "build");
                if linked_kind && let Some(pkg) = dep["pkg"].as_str() {
                    linked.push(pkg.to_owned());
                }
            }
            edges.insert(id.to_owned(), linked);
        }
        Graph { names, edges }
    }

    /// The names of every package reachable from the package called `root` through normal or build edges,
    /// `root` included.
    fn closure(&self, root: &str) -> BTreeSet<String> {
        let start: Vec<&String> = self
            .names
            .iter()
            .filter(|(_, name)| *name == root)
            .map(|(id, _)| id)
            .collect();
        assert!(!start.is_empty(), "package {root} is not in the workspace's metadata");
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = start.iter().map(|id| id.as_str()).collect();
        while let Some(id) = queue.pop_front() {
            if !seen.insert(id) {
                continue;
            }
            for next in self.edges.get(id).into_iter().flatten() {
                queue.push_back(next);
            }
        }
        seen.iter().filter_map(|id| self.names.get(*id).cloned()).collect()
    }
}

/// The host triple, as `rustc -vV` reports it.
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let output = Command::new(rustc).arg("-vV").output().expect("rustc -vV runs");
    let text = String::from_utf8(output.stdout).expect("rustc -vV prints UTF-8");
    text.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .trim()
        .to_owned()
}

/// Runs `cargo metadata` for the workspace, filtered to the dependencies that apply on the host.
fn workspace_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let workspace_manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--filter-platform"])
        .arg(host_triple())
        .args(["--manifest-path", workspace_manifest])
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    Graph::from_metadata(&metadata)
}

/// The members of `closure` that appear in `deny`.
fn denied(closure: &BTreeSet<String>, deny: &[&str]) -> Vec<String> {
    closure
        .iter()
        .filter(|name| deny.contains(&name.as_str()))
        .cloned()
        .collect()
}

#[test]
fn relay_links_no_message_cryptography_or_tls() {
    let graph = workspace_graph();
    let relay = graph.closure("sanctum-relay");
    // The walk must actually reach the relay's dependencies, or the check below would pass on an empty set.
    for expected in ["sanctum-protocol", "serde", "serde_json"] {
        assert!(relay.contains(expected), "the walk did not reach {expected}: {relay:?}");
    }
    let found = denied(&relay, RELAY_DENY_LIST);
    assert!(
        found.is_empty(),
        "the relay's dependency graph holds cryptography or TLS crates: {found:?}"
    );
}

#[test]
fn relay_links_no_log_bridge() {
    let graph = workspace_graph();
    let relay = graph.closure("sanctum-relay");
    for expected in ["tracing-subscriber", "log"] {
        assert!(relay.contains(expected), "the walk did not reach {expected}: {relay:?}");
    }
    let found = denied(&relay, LOG_BRIDGE_DENY_LIST);
    assert!(
        found.is_empty(),
        "the relay links a logger that would let dependencies' log records through: {found:?}"
    );
}

#[test]
fn client_core_builds_for_the_host_without_wasm_bindgen() {
    let graph = workspace_graph();
    let client = graph.closure("sanctum-client");
    assert!(
        client.contains("sanctum-protocol"),
        "the walk did not reach the protocol crate: {client:?}"
    );
    let found = denied(&client, CLIENT_CORE_DENY_LIST);
    assert!(
        found.is_empty(),
        "the client core pulls in browser bindings on the host: {found:?}"
    );
}

/// The password estimator's dictionaries are most of its module; only the create screen loads them, so the client core,
/// which every joiner loads, must not link the estimator, and the estimator must not link the core's cryptography.
#[test]
fn client_core_and_password_estimator_are_separate_modules() {
    let graph = workspace_graph();
    let client = graph.closure("sanctum-client");
    assert!(
        client.contains("argon2"),
        "the walk did not reach the core's dependencies: {client:?}"
    );
    let found = denied(&client, &["zxcvbn", "sanctum-strength"]);
    assert!(
        found.is_empty(),
        "the client core links the password estimator: {found:?}"
    );
    let strength = graph.closure("sanctum-strength");
    assert!(
        strength.contains("zxcvbn"),
        "the walk did not reach the estimator: {strength:?}"
    );
    let found = denied(
        &strength,
        &["sanctum-client", "argon2", "curve25519-dalek", "chacha20poly1305"],
    );
    assert!(
        found.is_empty(),
        "the password estimator links the client core: {found:?}"
    );
}

/// The confusables and normalisation tables are larger than the whole join path's budget: the client core, which every
/// joiner loads before the Join button works, must not link them; the look-alike module holds them and no core.
#[test]
fn client_core_and_lookalike_tables_are_separate_modules() {
    let graph = workspace_graph();
    let client = graph.closure("sanctum-client");
    assert!(
        client.contains("argon2"),
        "the walk did not reach the core's dependencies: {client:?}"
    );
    let found = denied(
        &client,
        &["unicode-security", "unicode-normalization", "sanctum-lookalike"],
    );
    assert!(
        found.is_empty(),
        "the client core links the look-alike tables: {found:?}"
    );
    let lookalike = graph.closure("sanctum-lookalike");
    assert!(
        lookalike.contains("unicode-security"),
        "the walk did not reach the look-alike tables: {lookalike:?}"
    );
    let found = denied(&lookalike, &["sanctum-client", "argon2", "curve25519-dalek", "zxcvbn"]);
    assert!(
        found.is_empty(),
        "the look-alike module links the client core or the estimator: {found:?}"
    );
}

/// A hand-written metadata document: the walker must follow normal and build edges, transitively,
/// and must skip dev edges, so that a denied crate behind a normal edge is always caught.
#[test]
fn walker_follows_normal_and_build_edges_and_skips_dev_edges() {
    let metadata = serde_json::json!({
        "packages": [
            {"id": "relay 0.1.0", "name": "sanctum-relay"},
            {"id": "ws 1.0.0", "name": "tungstenite"},
            {"id": "rustls 0.23.0", "name": "rustls"},
            {"id": "cc 1.0.0", "name": "cc"},
            {"id": "ring 0.17.0", "name": "ring"},
            {"id": "argon2 0.5.0", "name": "argon2"}
        ],
        "resolve": {"nodes": [
            {"id": "relay 0.1.0", "deps": [
                {"pkg": "ws 1.0.0", "dep_kinds": [{"kind": null, "target": null}]},
                {"pkg": "cc 1.0.0", "dep_kinds": [{"kind": "build", "target": null}]},
                {"pkg": "argon2 0.5.0", "dep_kinds": [{"kind": "dev", "target": null}]}
            ]},
            {"id": "ws 1.0.0", "deps": [
                {"pkg": "rustls 0.23.0", "dep_kinds": [{"kind": null, "target": null}]}
            ]},
            {"id": "cc 1.0.0", "deps": [
                {"pkg": "ring 0.17.0", "dep_kinds": [{"kind": null, "target": null}]}
            ]},
            {"id": "rustls 0.23.0", "deps": []},
            {"id": "ring 0.17.0", "deps": []},
            {"id": "argon2 0.5.0", "deps": []}
        ]}
    });
    let graph = Graph::from_metadata(&metadata);
    let closure = graph.closure("sanctum-relay");
    assert_eq!(
        denied(&closure, RELAY_DENY_LIST),
        vec!["ring".to_owned(), "rustls".to_owned()]
    );
    assert!(!closure.contains("argon2"), "a dev edge must not count");
}
