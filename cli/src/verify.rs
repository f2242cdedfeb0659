//! `sanctum verify URL`: checks what a running relay serves against the manifest built from the checked-out source.
//!
//! It fetches the served `manifest.json` and every file, recomputes each SHA-256, compares both with the local
//! manifest, and checks the security headers of every response, the Content-Security-Policy exactly. Every
//! difference is listed; any difference makes the exit status non-zero. What this does and does not prove is in
//! `docs/threat-model.md`: it checks what the relay served to this client, now.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

/// The manifest's path under the app's origin.
pub(crate) const MANIFEST: &str = "manifest.json";
/// The longest any one response may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest file fetched; the wasm module is the largest by far, at a few MiB.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// The web app's Content-Security-Policy exactly as the relay sends it with no extra `connect-src`; a test keeps it
/// equal to the relay's own.
pub(crate) const EXPECTED_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; \
     connect-src 'self'; img-src 'self' blob:; media-src blob:; style-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types sanctum dompurify";

/// The policy with `extra` sources beside `'self'` in `connect-src`, for an app whose relay is elsewhere.
pub(crate) fn expected_csp(extra: &[String]) -> String {
    let mut connect = String::from("connect-src 'self'");
    for source in extra {
        connect.push(' ');
        connect.push_str(source.trim_end_matches('/'));
    }
    EXPECTED_CSP.replacen("connect-src 'self'", &connect, 1)
}

/// The other headers every response carries, and their values.
pub(crate) const EXPECTED_HEADERS: [(&str, &str); 4] = [
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// What verification found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Every difference, in words.
    pub(crate) differences: Vec<String>,
    /// How many files were fetched and hashed.
    pub(crate) checked: usize,
    /// The short digest of the served manifest, as the page's footer shows it.
    pub(crate) served_digest: Option<String>,
    /// The short digest of the local manifest.
    pub(crate) local_digest: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The short digest of a manifest's bytes: the first 16 hex digits of their SHA-256, as the page's footer shows it.
pub(crate) fn short_digest(manifest: &[u8]) -> String {
    hex(&Sha256::digest(manifest))[..16].to_owned()
}

/// The `files` of a manifest: path to lowercase hex SHA-256.
pub(crate) fn parse_manifest(text: &[u8]) -> anyhow::Result<BTreeMap<String, String>> {
    let value: serde_json::Value = serde_json::from_slice(text).context("the manifest is not JSON")?;
    if value["version"] != 1 || value["algorithm"] != "sha256" {
        bail!("the manifest is not a version 1 SHA-256 manifest");
    }
    let files = value["files"].as_object().context("the manifest has no files")?;
    files
        .iter()
        .map(|(path, digest)| {
            let digest = digest
                .as_str()
                .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()));
            let digest = digest.with_context(|| format!("the manifest's digest for {path} is not SHA-256 hex"))?;
            let plain = !path.is_empty()
                && !path.starts_with('/')
                && path.split('/').all(|p| !p.is_empty() && p != "." && p != "..");
            anyhow::ensure!(plain, "the manifest names {path:?}, which is not a plain relative path");
            Ok((path.clone(), digest.to_ascii_lowercase()))
        })
        .collect()
}

/// The app's base URL with a trailing slash: `https://host/` or `https://host/app/`.
fn base_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        bail!("give the app's address as https://host/ (or http:// for a local relay)");
    }
    let url = url.split(['#', '?']).next().unwrap_or(url);
    Ok(if url.ends_with('/') {
        url.to_owned()
    } else {
        format!("{url}/")
    })
}

/// Percent-encodes a manifest path for a URL, keeping `/` and the unreserved characters.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One response: status, the headers verification looks at, and the body.
struct Fetched {
    status: u16,
    headers: BTreeMap<String, Vec<String>>,
    body: Vec<u8>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        // A redirect would fetch from wherever the relay says; it is reported instead.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(TIMEOUT))
        .build()
        .into()
}

fn fetch(agent: &ureq::Agent, url: &str) -> anyhow::Result<Fetched> {
    let mut response = agent
        .get(url)
        .call()
        .with_context(|| format!("could not fetch {url}"))?;
    let status = response.status().as_u16();
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in response.headers() {
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .with_context(|| format!("could not read {url}"))?;
    Ok(Fetched { status, headers, body })
}

/// The sources in a policy that name another origin: anything but keywords, `'self'`, and the `blob:` scheme.
fn external_sources(policy: &str) -> Vec<String> {
    let mut found = Vec::new();
    for directive in policy.split(';') {
        let mut words = directive.split_whitespace();
        let Some(name) = words.next() else { continue };
        if matches!(name, "require-trusted-types-for" | "trusted-types") {
            continue;
        }
        for source in words {
            let keyword = source.starts_with('\'') && source.ends_with('\'');
            if !keyword && source != "blob:" {
                found.push(format!("{name} {source}"));
            }
        }
    }
    found
}

/// Header differences, gathered so that one wrong header on every file reads as one line.
struct HeaderFindings {
    csp: String,
    found: BTreeMap<(String, String), Vec<String>>,
}

impl HeaderFindings {
    fn check(&mut self, path: &str, headers: &BTreeMap<String, Vec<String>>) {
        let mut expected = vec![("content-security-policy", self.csp.as_str())];
        expected.extend(EXPECTED_HEADERS);
        for (name, want) in expected {
            let got = headers.get(name).map(|v| v.join(", "));
            if got.as_deref() != Some(want) {
                let shown = got.map_or_else(|| "missing".to_owned(), |g| format!("{g:?}"));
                self.found
                    .entry((name.to_owned(), shown))
                    .or_default()
                    .push(path.to_owned());
            }
        }
    }

    fn report(self, differences: &mut Vec<String>) {
        for ((name, got), paths) in self.found {
            let mut line = format!("header {name} is {got} on {}", list(&paths));
            if name == "content-security-policy" {
                line.push_str(&format!("; expected exactly {:?}", self.csp));
                let allowed: Vec<String> = external_sources(&self.csp);
                let external: Vec<String> = external_sources(got.trim_matches('"'))
                    .into_iter()
                    .filter(|s| !allowed.contains(s))
                    .collect();
                if !external.is_empty() {
                    line.push_str(&format!("; it allows other origins: {}", external.join(", ")));
                }
            }
            differences.push(line);
        }
    }
}

fn list(paths: &[String]) -> String {
    match paths {
        [one] => one.clone(),
        many if many.len() <= 4 => many.join(", "),
        many => format!("{} files ({}, …)", many.len(), many[..3].join(", ")),
    }
}

/// Verifies the app at `url` against the local manifest's bytes; `connect_src` are the relay origins the operator
/// says the policy adds (for an app served apart from its relay).
pub(crate) fn verify(url: &str, local_manifest: &[u8], connect_src: &[String]) -> anyhow::Result<Findings> {
    let base = base_url(url)?;
    let local = parse_manifest(local_manifest).context("the local manifest")?;
    let agent = agent();
    let mut findings = Findings {
        local_digest: short_digest(local_manifest),
        ..Findings::default()
    };
    let mut headers = HeaderFindings {
        csp: expected_csp(connect_src),
        found: BTreeMap::new(),
    };
    let differences = &mut findings.differences;

    let served_manifest = fetch(&agent, &format!("{base}{MANIFEST}"))?;
    headers.check(MANIFEST, &served_manifest.headers);
    let served = if served_manifest.status != 200 {
        differences.push(format!("{MANIFEST} answered HTTP {}", served_manifest.status));
        BTreeMap::new()
    } else {
        findings.served_digest = Some(short_digest(&served_manifest.body));
        match parse_manifest(&served_manifest.body) {
            Ok(files) => {
                if served_manifest.body != local_manifest {
                    differences.push(format!(
                        "the served manifest (digest {}) differs from the local one (digest {})",
                        short_digest(&served_manifest.body),
                        findings.local_digest
                    ));
                }
                files
            }
            Err(e) => {
                differences.push(format!("the served {MANIFEST} is unusable: {e:#}"));
                BTreeMap::new()
            }
        }
    };

    let paths: BTreeSet<&String> = local.keys().chain(served.keys()).collect();
    for path in paths {
        let fetched = fetch(&agent, &format!("{base}{}", encode_path(path)))?;
        findings.checked += 1;
        headers.check(path, &fetched.headers);
        if fetched.status != 200 {
            differences.push(format!("{path} answered HTTP {}", fetched.status));
            continue;
        }
        let digest = hex(&Sha256::digest(&fetched.body));
        match local.get(path.as_str()) {
            None => differences.push(format!(
                "{path} is served and listed by the served manifest, but is not in the local build"
            )),
            Some(want) if *want != digest => differences.push(format!(
                "{path}: the relay served bytes with SHA-256 {digest}, the local build has {want}"
            )),
            Some(_) => {}
        }
        match served.get(path.as_str()) {
            None if !served.is_empty() => differences.push(format!("{path} is missing from the served manifest")),
            Some(claimed) if *claimed != digest => differences.push(format!(
                "{path}: the served manifest claims SHA-256 {claimed}, but the relay served {digest}"
            )),
            _ => {}
        }
    }

    // The page a browser loads first is `/`, not `/index.html`: it must be the same bytes.
    let index = fetch(&agent, &base)?;
    findings.checked += 1;
    headers.check("/", &index.headers);
    let index_digest = hex(&Sha256::digest(&index.body));
    match local.get("index.html") {
        _ if index.status != 200 => differences.push(format!("/ answered HTTP {}", index.status)),
        Some(want) if *want != index_digest => differences.push(format!(
            "/: the relay served bytes with SHA-256 {index_digest}, the local index.html has {want}"
        )),
        _ => {}
    }
    headers.report(differences);
    Ok(findings)
}

/// Reads the local manifest: `--manifest FILE`, or `web/manifest.json` in the checkout.
pub(crate) fn local_manifest(given: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    let path = given.unwrap_or_else(|| Path::new("web/manifest.json"));
    std::fs::read(path).with_context(|| {
        format!(
            "could not read the local manifest {}: run `cargo xtask build-web` in a checkout of the release, or give --manifest FILE",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_policy_is_the_relays_own() {
        assert_eq!(EXPECTED_CSP, sanctum_relay::content_security_policy(&[]));
        assert!(external_sources(EXPECTED_CSP).is_empty());
        let extra = vec!["https://evil.example".to_owned()];
        let widened = sanctum_relay::content_security_policy(&extra);
        assert_eq!(expected_csp(&extra), widened);
        assert_eq!(external_sources(&widened), ["connect-src https://evil.example"]);
    }

    #[test]
    fn manifests_must_hold_plain_paths_and_sha256() {
        let good = br#"{"version":1,"algorithm":"sha256","files":{"a/b.js":"00000000000000000000000000000000000000000000000000000000000000aa"}}"#;
        assert_eq!(parse_manifest(good).unwrap().len(), 1);
        for bad in [
            r#"{"version":1,"algorithm":"sha256","files":{"../x":"00000000000000000000000000000000000000000000000000000000000000aa"}}"#,
            r#"{"version":1,"algorithm":"sha256","files":{"x":"zz"}}"#,
            r#"{"version":2,"algorithm":"sha256","files":{}}"#,
        ] {
            assert!(parse_manifest(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_and_paths() {
        assert_eq!(base_url("https://h.example").unwrap(), "https://h.example/");
        assert_eq!(
            base_url("https://h.example/app/#v1.x").unwrap(),
            "https://h.example/app/"
        );
        assert!(base_url("ftp://h").is_err());
        assert_eq!(encode_path("pkg/a b.js"), "pkg/a%20b.js");
    }
}
