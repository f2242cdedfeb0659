//! The client crypto half of the bench: Criterion natively, the same operations in headless Chromium, side by side.
//!
//! Both sides run `client-wasm/benches/crypto/ops.rs`: natively through `cargo bench`, and in the browser through the
//! wasm build's bench exports, called from a Worker on the page in `bench/wasm/` (driven by `bench/wasm/run.mjs`).

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::install::{Browser, chromium_path, install};
use crate::shell::{cargo, command, output, run, target_dir};
use crate::web;

// The operations, in the order the table lists them: the same list the native and wasm runs use.
include!("../../../client-wasm/benches/crypto/names.rs");

/// A wasm / native ratio above this gets a profile, as the issue asks.
const RATIO_TO_PROFILE: f64 = 1.5;

/// Runs both sides and returns one JSON line per operation; prints the side-by-side table.
pub(crate) fn run_all() -> Result<Vec<Value>> {
    println!("bench: client crypto, natively with Criterion");
    run(cargo().args(["bench", "-p", "sanctum-client", "--bench", "crypto"]))?;
    let native = native_estimates(&target_dir().join("criterion/client"))?;

    println!("bench: client crypto, in headless Chromium's Worker");
    install(Browser::Install)?;
    let pkg = wasm_bindings()?;
    let out = output(
        command("node")
            .arg("bench/wasm/run.mjs")
            .env("CHROMIUM_PATH", chromium_path())
            .env("SANCTUM_PKG_DIR", &pkg),
    )?;
    let wasm: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .with_context(|| format!("bench/wasm/run.mjs printed {out:?}"))?;

    let mut lines = Vec::new();
    println!(
        "\n{:<16} {:>14} {:>14} {:>12}",
        "operation", "native", "wasm", "wasm/native"
    );
    for op in OPS {
        let native_ns = native.get(op).copied();
        let wasm_ns = wasm["ops"][op]["median_ns"].as_f64();
        let ratio = native_ns.zip(wasm_ns).map(|(native, wasm)| wasm / native);
        println!(
            "{op:<16} {:>14} {:>14} {:>11}{}",
            native_ns.map_or("-".into(), duration),
            wasm_ns.map_or("-".into(), duration),
            ratio.map_or("-".into(), |r| format!("{r:.2}x")),
            if ratio.is_some_and(|r| r > RATIO_TO_PROFILE) {
                " (profile)"
            } else {
                ""
            },
        );
        lines.push(json!({
            "kind": "crypto",
            "op": op,
            "native_ns": native_ns,
            "wasm_ns": wasm_ns,
            "wasm_over_native": ratio,
            "wasm_min_ns": wasm["ops"][op]["min_ns"],
            "wasm_samples": wasm["ops"][op]["samples"],
            "wasm_per_sample": wasm["ops"][op]["per_sample"],
        }));
    }
    lines
        .push(json!({"kind": "crypto_browser", "browser": wasm["browser"], "cross_origin_isolated": wasm["isolated"]}));
    Ok(lines)
}

/// Builds the client core for wasm32 as `build-web` does, plus the `bench` feature's exports (which the app's own module
/// never carries), with bindings generated into the target directory, so that the bench never rewrites web/pkg/ under
/// a browser test that may be serving it.
fn wasm_bindings() -> Result<PathBuf> {
    let pkg = target_dir().join("bench-pkg");
    web::remove_dir_if_present(&pkg)?;
    web::build_module(web::CORE, &["bench"], &pkg)?;
    Ok(pkg)
}

/// Criterion's median estimate of each operation, in nanoseconds, to compare with the browser's median.
fn native_estimates(dir: &Path) -> Result<std::collections::BTreeMap<&'static str, f64>> {
    let mut estimates = std::collections::BTreeMap::new();
    for op in OPS {
        let path = dir.join(op).join("new/estimates.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let value: Value = serde_json::from_str(&text)?;
        let Some(ns) = value["median"]["point_estimate"].as_f64() else {
            bail!("{} has no median estimate", path.display());
        };
        estimates.insert(op, ns);
    }
    Ok(estimates)
}

/// Nanoseconds in the unit that reads best.
fn duration(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration(1_500.0), "1.5 µs");
        assert_eq!(duration(2_340_000.0), "2.34 ms");
        assert_eq!(duration(1_200_000_000.0), "1.20 s");
    }

    #[test]
    fn estimates_are_read_from_criterion_files() {
        let dir = std::env::temp_dir().join(format!("sanctum-bench-estimates-{}", std::process::id()));
        for (i, op) in OPS.iter().enumerate() {
            let path = dir.join(op).join("new");
            std::fs::create_dir_all(&path).expect("temp dir");
            std::fs::write(
                path.join("estimates.json"),
                format!(r#"{{"median":{{"point_estimate":{i}.5}}}}"#),
            )
            .expect("write");
        }
        let estimates = native_estimates(&dir).expect("estimates");
        assert_eq!(estimates["hello"], 1.5);
        std::fs::remove_dir_all(&dir).expect("cleanup");
        assert!(native_estimates(&dir).is_err());
    }
}
