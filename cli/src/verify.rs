//! `sanctum verify URL`: checks what a running relay serves against the manifest built from the checked-out source.
//!
//! It fetches the served `manifest.json` and every file, each in every coding, recomputes each SHA-256, compares both
//! with the local manifest, and checks the security headers of every response, the Content-Security-Policy exactly. Every
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

/// The compiler a manifest says its wasm modules were built with, if it says.
fn rustc_of(manifest: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    value["rustc"].as_str().map(str::to_owned)
}

/// A line naming the compilers when two manifests were built with different ones: the toolchain is `stable`, not one
/// pinned version, so this is the likeliest reason for wasm modules that differ.
fn toolchain_difference(served: &[u8], local: &[u8]) -> Option<String> {
    let (served, local) = (rustc_of(served), rustc_of(local));
    (served != local).then(|| {
        let name = |r: Option<String>| r.map_or_else(|| "an unrecorded compiler".to_owned(), |r| format!("{r:?}"));
        format!(
            "the served manifest was built with {}, the local one with {}: build with the same compiler to compare the wasm modules",
            name(served),
            name(local)
        )
    })
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

fn fetch(agent: &ureq::Agent, url: &str, encoding: Encoding) -> anyhow::Result<Fetched> {
    let mut response = agent
        .get(url)
        .header("accept-encoding", encoding.name())
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

/// A content coding asked for in `Accept-Encoding`: the file itself, and each variant the relay serves when a browser
/// asks for it (`relay/src/web.rs`), so that a stale or altered variant cannot hide behind an honest file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity,
    Brotli,
    Gzip,
}

impl Encoding {
    /// Every coding checked, in the order they are fetched.
    const ALL: [Self; 3] = [Self::Identity, Self::Brotli, Self::Gzip];

    /// Its token in `Accept-Encoding` and `Content-Encoding` (RFC 9110, section 8.4.1).
    fn name(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        }
    }
}

/// Reads a decoder to its end, refusing more than [`MAX_BODY`] bytes so that a compression bomb stays bounded.
fn read_bounded(decoder: impl std::io::Read) -> Result<Vec<u8>, String> {
    use std::io::Read as _;
    let mut out = Vec::new();
    decoder
        .take(MAX_BODY + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("could not be decoded: {e}"))?;
    if out.len() as u64 > MAX_BODY {
        return Err(format!("decodes to more than {MAX_BODY} bytes"));
    }
    Ok(out)
}

/// The bytes a browser that asked for `asked` would run: the body decoded by its `Content-Encoding`, or a problem.
///
/// A relay may answer any request with the file itself (a file with no variant, such as an image), but never with a
/// coding that was not asked for, and never with bytes after the end of the compressed stream, which one decoder might
/// ignore and another might not.
fn decode(asked: Encoding, fetched: &Fetched) -> Result<Vec<u8>, String> {
    let coding = fetched
        .headers
        .get("content-encoding")
        .map(|v| v.join(", ").trim().to_ascii_lowercase());
    let body = fetched.body.as_slice();
    match coding.as_deref() {
        None | Some("identity") => Ok(body.to_vec()),
        Some(coding) if coding != asked.name() => Err(format!(
            "was answered with Content-Encoding {coding:?} to a request for {}",
            asked.name()
        )),
        Some("br") => {
            let mut rest = body;
            let decoded = read_bounded(brotli_decompressor::Decompressor::new(&mut rest, 4096))?;
            if !rest.is_empty() {
                return Err(format!("has {} bytes after the end of its brotli stream", rest.len()));
            }
            Ok(decoded)
        }
        Some("gzip") => {
            let mut decoder = flate2::bufread::GzDecoder::new(body);
            let decoded = read_bounded(&mut decoder)?;
            let rest = decoder.into_inner();
            if !rest.is_empty() {
                return Err(format!("has {} bytes after the end of its gzip member", rest.len()));
            }
            Ok(decoded)
        }
        Some(other) => Err(format!("has an unknown Content-Encoding {other:?}")),
    }
}

/// What one path gave under each coding: the SHA-256 of the decoded bytes, or what was wrong.
type Outcomes = Vec<(Encoding, Result<String, String>)>;

/// Fetches `url` once per coding, checks each response's headers under `path`, and decodes and hashes each body.
fn fetch_all(
    agent: &ureq::Agent,
    url: &str,
    path: &str,
    headers: &mut HeaderFindings,
    checked: &mut usize,
) -> anyhow::Result<Outcomes> {
    let mut outcomes = Vec::new();
    for encoding in Encoding::ALL {
        let fetched = fetch(agent, url, encoding)?;
        *checked += 1;
        headers.check(path, &fetched.headers);
        let outcome = if fetched.status == 200 {
            decode(encoding, &fetched).map(|bytes| hex(&Sha256::digest(&bytes)))
        } else {
            Err(format!("answered HTTP {}", fetched.status))
        };
        outcomes.push((encoding, outcome));
    }
    Ok(outcomes)
}

/// The outcomes to report, each with the name it is reported under: one under `path` when every coding gave the same,
/// and one per coding, as `path (br)`, when they differ.
fn labelled(path: &str, outcomes: Outcomes) -> Vec<(String, Result<String, String>)> {
    let first = outcomes.first().map(|(_, o)| o.clone());
    if outcomes.iter().all(|(_, o)| Some(o) == first.as_ref()) {
        return first.map(|o| vec![(path.to_owned(), o)]).unwrap_or_default();
    }
    outcomes
        .into_iter()
        .map(|(encoding, outcome)| {
            let label = match encoding {
                Encoding::Identity => format!("{path} (uncompressed)"),
                other => format!("{path} ({})", other.name()),
            };
            (label, outcome)
        })
        .collect()
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
    found: BTreeMap<(String, String), BTreeSet<String>>,
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
                    .insert(path.to_owned());
            }
        }
    }

    fn report(self, differences: &mut Vec<String>) {
        for ((name, got), paths) in self.found {
            let paths: Vec<String> = paths.into_iter().collect();
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

    let served_manifest = fetch(&agent, &format!("{base}{MANIFEST}"), Encoding::Identity)?;
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
                    if let Some(line) = toolchain_difference(&served_manifest.body, local_manifest) {
                        differences.push(line);
                    }
                }
                files
            }
            Err(e) => {
                differences.push(format!("the served {MANIFEST} is unusable: {e:#}"));
                BTreeMap::new()
            }
        }
    };

    // A browser asks for the manifest compressed, and its footer shows the digest of what it got: every coding the
    // relay serves must decode to the bytes read above.
    if served_manifest.status == 200 {
        let uncompressed = hex(&Sha256::digest(&served_manifest.body));
        let url = format!("{base}{MANIFEST}");
        let outcomes = fetch_all(&agent, &url, MANIFEST, &mut headers, &mut findings.checked)?;
        for (label, outcome) in labelled(MANIFEST, outcomes) {
            match outcome {
                Err(problem) => differences.push(format!("{label} {problem}")),
                Ok(digest) if digest != uncompressed => differences.push(format!(
                    "{label}: the relay served bytes with SHA-256 {digest}, its uncompressed {MANIFEST} has {uncompressed}"
                )),
                Ok(_) => {}
            }
        }
    }

    let paths: BTreeSet<&String> = local.keys().chain(served.keys()).collect();
    for path in paths {
        let url = format!("{base}{}", encode_path(path));
        let outcomes = fetch_all(&agent, &url, path, &mut headers, &mut findings.checked)?;
        for (label, outcome) in labelled(path, outcomes) {
            let digest = match outcome {
                Ok(digest) => digest,
                Err(problem) => {
                    differences.push(format!("{label} {problem}"));
                    continue;
                }
            };
            match local.get(path.as_str()) {
                None => differences.push(format!(
                    "{label} is served and listed by the served manifest, but is not in the local build"
                )),
                Some(want) if *want != digest => differences.push(format!(
                    "{label}: the relay served bytes with SHA-256 {digest}, the local build has {want}"
                )),
                Some(_) => {}
            }
            match served.get(path.as_str()) {
                None if !served.is_empty() => differences.push(format!("{label} is missing from the served manifest")),
                Some(claimed) if *claimed != digest => differences.push(format!(
                    "{label}: the served manifest claims SHA-256 {claimed}, but the relay served {digest}"
                )),
                _ => {}
            }
        }
    }

    // The page a browser loads first is `/`, not `/index.html`: it must be the same bytes, in every coding.
    let outcomes = fetch_all(&agent, &base, "/", &mut headers, &mut findings.checked)?;
    for (label, outcome) in labelled("/", outcomes) {
        match (outcome, local.get("index.html")) {
            (Err(problem), _) => differences.push(format!("{label} {problem}")),
            (Ok(digest), Some(want)) if *want != digest => differences.push(format!(
                "{label}: the relay served bytes with SHA-256 {digest}, the local index.html has {want}"
            )),
            _ => {}
        }
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
    fn a_different_compiler_is_named() {
        let a = br#"{"version":1,"algorithm":"sha256","rustc":"rustc 1.91.0 (f8297e351 2025-10-28)","files":{}}"#;
        let b = br#"{"version":1,"algorithm":"sha256","rustc":"rustc 1.92.0 (ded5c06cf 2025-12-08)","files":{}}"#;
        let line = toolchain_difference(a, b).unwrap();
        assert!(line.contains("rustc 1.91.0") && line.contains("rustc 1.92.0"), "{line}");
        assert_eq!(toolchain_difference(a, a), None);
        let none = br#"{"version":1,"algorithm":"sha256","files":{}}"#;
        assert!(
            toolchain_difference(none, a)
                .unwrap()
                .contains("an unrecorded compiler")
        );
    }

    fn fetched(coding: Option<&str>, body: Vec<u8>) -> Fetched {
        let mut headers = BTreeMap::new();
        if let Some(coding) = coding {
            headers.insert("content-encoding".to_owned(), vec![coding.to_owned()]);
        }
        Fetched {
            status: 200,
            headers,
            body,
        }
    }

    #[test]
    fn bodies_are_decoded_by_their_coding_and_trailing_bytes_refused() {
        use std::io::Write as _;
        let text = b"export const answer = 42;\n".repeat(20);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&text).unwrap();
        let mut gz = gz.finish().unwrap();
        assert_eq!(
            decode(Encoding::Gzip, &fetched(Some("gzip"), gz.clone())).unwrap(),
            text
        );
        assert_eq!(decode(Encoding::Gzip, &fetched(None, text.clone())).unwrap(), text);
        assert!(
            decode(Encoding::Identity, &fetched(Some("gzip"), gz.clone()))
                .unwrap_err()
                .contains("to a request for identity")
        );
        gz.extend_from_slice(b"more");
        assert!(
            decode(Encoding::Gzip, &fetched(Some("gzip"), gz))
                .unwrap_err()
                .contains("4 bytes after")
        );
        assert!(decode(Encoding::Brotli, &fetched(Some("br"), b"not brotli".to_vec())).is_err());
        assert!(decode(Encoding::Brotli, &fetched(Some("compress"), Vec::new())).is_err());
    }

    #[test]
    fn one_line_per_path_unless_the_codings_disagree() {
        let same = vec![
            (Encoding::Identity, Ok("aa".to_owned())),
            (Encoding::Brotli, Ok("aa".to_owned())),
            (Encoding::Gzip, Ok("aa".to_owned())),
        ];
        assert_eq!(labelled("app.js", same), [("app.js".to_owned(), Ok("aa".to_owned()))]);
        let differ = vec![
            (Encoding::Identity, Ok("aa".to_owned())),
            (Encoding::Brotli, Ok("bb".to_owned())),
            (Encoding::Gzip, Ok("aa".to_owned())),
        ];
        let labels: Vec<String> = labelled("app.js", differ).into_iter().map(|(l, _)| l).collect();
        assert_eq!(labels, ["app.js (uncompressed)", "app.js (br)", "app.js (gzip)"]);
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
