//! The manifest of the web app: every file the relay serves from web/, with its SHA-256, in web/manifest.json.
//!
//! `sanctum verify` compares what a running relay serves with this file built from the checked-out source, and the
//! operator publishes it for each release (`docs/operating.md`). Its format is in `docs/terminal.md`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// The manifest's file name inside web/; it does not list itself.
pub(crate) const MANIFEST: &str = "manifest.json";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, String>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &path, files)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
            // The gzip and brotli variants are encodings of the files listed here, and their bytes depend on the
            // compressor's version, which would make the manifest differ between two builds of the same source.
            if relative == MANIFEST || relative.ends_with(".gz") || relative.ends_with(".br") {
                continue;
            }
            let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            files.insert(relative, hex(&Sha256::digest(&bytes)));
        }
    }
    Ok(())
}

/// The manifest's text for the files under `web`, built by `rustc` (as `rustc --version` names it): sorted, one entry
/// a line, no timestamps, so the same files from the same compiler always give the same bytes.
pub(crate) fn render(web: &Path, rustc: &str) -> Result<String> {
    let mut files = BTreeMap::new();
    walk(web, web, &mut files)?;
    let lines: Vec<String> = files
        .iter()
        .map(|(path, digest)| {
            format!(
                "    {}: {}",
                serde_json::Value::from(path.as_str()),
                serde_json::Value::from(digest.as_str())
            )
        })
        .collect();
    Ok(format!(
        "{{\n  \"version\": 1,\n  \"algorithm\": \"sha256\",\n  \"rustc\": {},\n  \"files\": {{\n{}\n  }}\n}}\n",
        serde_json::Value::from(rustc),
        lines.join(",\n")
    ))
}

/// Writes web/manifest.json and returns the short digest the page shows: the first 16 hex digits of its SHA-256.
pub(crate) fn write(web: &Path, rustc: &str) -> Result<String> {
    let text = render(web, rustc)?;
    let path = web.join(MANIFEST);
    fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(hex(&Sha256::digest(text.as_bytes()))[..16].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_file_but_itself_sorted_and_stable() {
        let dir = std::env::temp_dir().join(format!("sanctum-manifest-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("pkg")).unwrap();
        fs::write(dir.join("index.html"), "<!doctype html>").unwrap();
        fs::write(dir.join("pkg/a.wasm"), b"\0asm").unwrap();
        fs::write(dir.join(MANIFEST), "old").unwrap();
        // Compressed variants are not listed: they are encodings of listed files.
        fs::write(dir.join("index.html.br"), b"br").unwrap();
        fs::write(dir.join("pkg/a.wasm.gz"), b"gz").unwrap();
        let rustc = "rustc 1.91.0 (f8297e351 2025-10-28)";
        let first = render(&dir, rustc).unwrap();
        let digest = write(&dir, rustc).unwrap();
        assert_eq!(render(&dir, rustc).unwrap(), first, "the manifest does not list itself");
        assert_eq!(digest.len(), 16);
        let value: serde_json::Value = serde_json::from_str(&first).unwrap();
        assert_eq!(
            value["rustc"], rustc,
            "the compiler is recorded, so that another one is seen"
        );
        let files = value["files"].as_object().unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["index.html", "pkg/a.wasm"]);
        assert_eq!(files["pkg/a.wasm"], hex(&Sha256::digest(b"\0asm")));
        fs::remove_dir_all(&dir).unwrap();
    }
}
