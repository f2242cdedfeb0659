//! The web app's figures in headless Chromium on loopback, by `bench/browser/run.mjs` against a real relay:
//! bytes downloaded as served, time to a usable Join button, click to joined, and message latency with many in view.

use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::install::{Browser, chromium_path, install};
use crate::shell::{command, output, root};

/// The budgets of `tests/browser/budget.test.mjs`, repeated in the table beside what was measured.
const JOIN_BUDGET_BYTES: f64 = 250_000.0;
const CREATE_BUDGET_BYTES: f64 = 700_000.0;

/// Builds the web app, runs the browser bench against `relay`, prints its table and returns its JSON line.
pub(crate) fn run(relay: &Path, runs: usize) -> Result<Value> {
    println!("bench: the web app in headless Chromium");
    install(Browser::Install)?;
    crate::web::build_web()?;
    let out = output(
        command("node")
            .arg("bench/browser/run.mjs")
            .env("CHROMIUM_PATH", chromium_path())
            .env("SANCTUM_RELAY_BIN", relay)
            .env("SANCTUM_WEB_DIR", root().join("web"))
            .env("BENCH_RUNS", runs.to_string()),
    )?;
    let figures: Value = serde_json::from_str(out.lines().last().unwrap_or_default())
        .with_context(|| format!("bench/browser/run.mjs printed {out:?}"))?;
    println!("{}", table(&figures));
    Ok(json!({"kind": "browser", "figures": figures}))
}

/// The table of the browser figures: medians, with the range of the runs.
fn table(figures: &Value) -> String {
    let runs = figures["runs"].as_u64().unwrap_or(0);
    let mut lines = vec![format!(
        "\n{:<44} {:>12} {:>22} {:>12}",
        format!("web app, medians of {runs} runs"),
        "median",
        "range",
        "target"
    )];
    let kb = |v: &Value| v.as_f64().map_or("-".into(), |b| format!("{:.1} KB", b / 1000.0));
    let ms = |v: &Value| v.as_f64().map_or("-".into(), |t| format!("{t:.0} ms"));
    let mut row = |what: &str, stat: &Value, unit: &dyn Fn(&Value) -> String, target: String| {
        lines.push(format!(
            "{what:<44} {:>12} {:>22} {target:>12}",
            unit(&stat["median"]),
            format!("{} to {}", unit(&stat["min"]), unit(&stat["max"])),
        ));
    };
    row(
        "join path, bytes before Join works",
        &figures["join"]["bytes"],
        &kb,
        format!("≤ {:.0} KB", JOIN_BUDGET_BYTES / 1000.0),
    );
    row(
        "create screen, bytes with the estimator",
        &figures["create"]["bytes"],
        &kb,
        format!("≤ {:.0} KB", CREATE_BUDGET_BYTES / 1000.0),
    );
    row(
        "navigation to a usable Join button",
        &figures["join"]["usableMs"],
        &ms,
        String::new(),
    );
    row(
        "click on Join to joined",
        &figures["join"]["clickToJoinedMs"],
        &ms,
        "≤ 500 ms".into(),
    );
    for point in figures["latency"].as_array().into_iter().flatten() {
        row(
            &format!(
                "Enter to in the log, {} in view (longest task {})",
                point["inView"],
                ms(&point["longestTaskMs"])
            ),
            &point["latency"],
            &ms,
            String::new(),
        );
        // The frame that paints the message: what the reader sees, and what the target is about.
        row(
            &format!("Enter to painted, {} in view", point["inView"]),
            &point["painted"],
            &ms,
            "≤ 30 ms".into(),
        );
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_figure() {
        let stat = json!({"median": 120.0, "min": 100.0, "max": 140.0, "runs": 5});
        let figures = json!({
            "runs": 5,
            "join": {"bytes": {"median": 150_000.0, "min": 149_000.0, "max": 151_000.0}, "usableMs": stat, "clickToJoinedMs": stat},
            "create": {"bytes": stat},
            "latency": [{"inView": 1000, "latency": stat, "painted": {"median": 130.0, "min": 110.0, "max": 150.0}, "longestTaskMs": 0}],
        });
        let text = table(&figures);
        for expected in [
            "150.0 KB",
            "149.0 KB to 151.0 KB",
            "1000 in view",
            "≤ 250 KB",
            "120 ms",
            "painted, 1000 in view",
            "130 ms",
        ] {
            assert!(text.contains(expected), "{expected} in\n{text}");
        }
    }
}
