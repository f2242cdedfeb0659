//! `sanctum verify` against a real relay serving a web directory: an honest relay passes, a relay serving one
//! tampered file with one changed header fails, with both differences listed, and so does a relay whose brotli variant
//! of a file, or of the manifest, differs from the file.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Output;

use sanctum_relay::Config;
use sanctum_testkit::relay::TestRelay;
use sha2::{Digest, Sha256};

/// Writes `web/manifest.json` in the format `cargo xtask build-web` writes (see xtask/src/manifest.rs).
fn write_manifest(web: &Path) -> anyhow::Result<()> {
    let mut files = BTreeMap::new();
    for relative in ["app.js", "index.html", "pkg/sanctum_bg.wasm", "style.css"] {
        let digest: String = Sha256::digest(std::fs::read(web.join(relative))?)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        files.insert(relative, digest);
    }
    let lines: Vec<String> = files.iter().map(|(p, d)| format!("    \"{p}\": \"{d}\"")).collect();
    let text = format!(
        "{{\n  \"version\": 1,\n  \"algorithm\": \"sha256\",\n  \"files\": {{\n{}\n  }}\n}}\n",
        lines.join(",\n")
    );
    std::fs::write(web.join("manifest.json"), text)?;
    // build-web compresses the manifest last, since it lists no variant.
    write_variants(web, "manifest.json")
}

/// Writes the variants `cargo xtask build-web` writes beside a file, which the relay serves by Accept-Encoding.
fn write_variants(web: &Path, relative: &str) -> anyhow::Result<()> {
    let bytes = std::fs::read(web.join(relative))?;
    std::fs::write(web.join(format!("{relative}.br")), brotli(&bytes)?)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&bytes)?;
    std::fs::write(web.join(format!("{relative}.gz")), gz.finish()?)?;
    Ok(())
}

fn fixture(web: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(web.join("pkg"))?;
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><script type=\"module\" src=\"app.js\"></script>",
    )?;
    std::fs::write(web.join("app.js"), "export const answer = 42;\n")?;
    std::fs::write(web.join("style.css"), "body { margin: 0 }\n")?;
    std::fs::write(web.join("pkg/sanctum_bg.wasm"), b"\0asm\x01\0\0\0")?;
    for relative in ["app.js", "index.html", "pkg/sanctum_bg.wasm", "style.css"] {
        write_variants(web, relative)?;
    }
    write_manifest(web)
}

fn brotli(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    brotli::BrotliCompress(&mut &bytes[..], &mut out, &brotli::enc::BrotliEncoderParams::default())?;
    Ok(out)
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()))?;
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

async fn verify(relay: &TestRelay, manifest: &Path) -> anyhow::Result<Output> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sanctum"));
    command
        .arg("verify")
        .arg(format!("http://{}/", relay.addr))
        .arg("--manifest")
        .arg(manifest);
    Ok(command.output().await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_an_honest_relay_and_lists_a_tampered_file_and_a_changed_header() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let local = dir.path().join("local");
    let served = dir.path().join("served");
    fixture(&local)?;
    copy_dir(&local, &served)?;
    let manifest = local.join("manifest.json");

    let honest = TestRelay::start(Config {
        web_dir: Some(served.clone()),
        ..Config::default()
    })
    .await;
    let out = verify(&honest, &manifest).await?;
    let stdout = String::from_utf8(out.stdout)?;
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("OK: every file matches"), "{stdout}");
    assert!(
        stdout.contains("checked 18 responses"),
        "each file, the manifest and / uncompressed, as brotli and as gzip: {stdout}"
    );

    // One byte of one file changes in every coding, and the relay widens its policy to another origin.
    std::fs::write(served.join("app.js"), "export const answer = 43;\n")?;
    std::fs::write(served.join("app.js.br"), brotli(b"export const answer = 43;\n")?)?;
    std::fs::remove_file(served.join("app.js.gz"))?;
    let hostile = TestRelay::start(Config {
        web_dir: Some(served.clone()),
        connect_src: vec!["https://evil.example".into()],
        ..Config::default()
    })
    .await;
    let out = verify(&hostile, &manifest).await?;
    let stdout = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let tampered = format!(
        "- app.js: the relay served bytes with SHA-256 {}",
        Sha256::digest(b"export const answer = 43;\n")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert!(stdout.contains(&tampered), "{stdout}");
    assert!(
        stdout.contains("- app.js: the served manifest claims SHA-256"),
        "{stdout}"
    );
    assert!(
        stdout.contains("- header content-security-policy is ")
            && stdout.contains("it allows other origins: connect-src https://evil.example"),
        "{stdout}"
    );
    assert!(
        stdout.contains("on 6 files"),
        "every response's policy is reported: {stdout}"
    );
    assert!(stdout.contains("3 difference(s)"), "{stdout}");
    assert!(!stdout.contains("index.html:"), "untouched files pass: {stdout}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_decodes_every_variant_and_catches_a_tampered_brotli_one() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let local = dir.path().join("local");
    let served = dir.path().join("served");
    fixture(&local)?;
    copy_dir(&local, &served)?;

    // The file itself stays honest: only a browser that accepts brotli, which every current one does, gets the altered
    // script. An uncompressed fetch alone would see nothing wrong.
    let altered = b"export const answer = 666;\n";
    std::fs::write(served.join("app.js.br"), brotli(altered)?)?;
    // A gzip variant with bytes after its end, which one decoder might run and another drop.
    let mut trailing = std::fs::read(served.join("style.css.gz"))?;
    trailing.extend_from_slice(b"body{}");
    std::fs::write(served.join("style.css.gz"), trailing)?;
    // And a manifest for browsers, which ask for brotli, that vouches for the altered script: the footer would show
    // its digest, so it must be the uncompressed manifest's.
    let honest_manifest = std::fs::read(served.join("manifest.json"))?;
    let local_app = hex_sha256(&std::fs::read(local.join("app.js"))?);
    let vouching = String::from_utf8(honest_manifest.clone())?.replace(&local_app, &hex_sha256(altered));
    std::fs::write(served.join("manifest.json.br"), brotli(vouching.as_bytes())?)?;

    let relay = TestRelay::start(Config {
        web_dir: Some(served.clone()),
        ..Config::default()
    })
    .await;
    let out = verify(&relay, &local.join("manifest.json")).await?;
    let stdout = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let honest = hex_sha256(&std::fs::read(local.join("app.js"))?);
    assert!(
        stdout.contains(&format!(
            "- app.js (br): the relay served bytes with SHA-256 {}, the local build has {honest}",
            hex_sha256(altered)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "- app.js (br): the served manifest claims SHA-256 {honest}, but the relay served {}",
            hex_sha256(altered)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("- style.css (gzip) has 6 bytes after the end of its gzip member"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("app.js (uncompressed)"),
        "the honest codings pass: {stdout}"
    );
    assert!(!stdout.contains("app.js (gzip)"), "the honest codings pass: {stdout}");
    assert!(
        stdout.contains(&format!(
            "- manifest.json (br): the relay served bytes with SHA-256 {}, its uncompressed manifest.json has {}",
            hex_sha256(vouching.as_bytes()),
            hex_sha256(&honest_manifest)
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains("manifest.json (gzip)"),
        "the honest codings pass: {stdout}"
    );
    assert!(stdout.contains("4 difference(s)"), "{stdout}");
    Ok(())
}
