//! Turning the bench's samples into medians, spreads, relay-to-ceiling ratios, targets and the printed table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

/// Counters of a load generator report that add up across processes.
const SUMMED: &[&str] = &[
    "connections",
    "rooms",
    "sent",
    "window_sent",
    "expected",
    "delivered",
    "window_delivered",
    "deliveries_per_sec",
    "lost",
    "reordered",
    "misattributed",
    "wrong_size",
    "garbled",
    "disconnected",
];

/// Counters that must be zero in every sample.
const MUST_BE_ZERO: &[&str] = &[
    "lost",
    "reordered",
    "misattributed",
    "wrong_size",
    "garbled",
    "disconnected",
];

/// Merges the reports of a point's load generator processes into one.
///
/// Counters add up; each latency percentile is the worst of the processes' (only idle points use several processes).
pub(crate) fn merge_reports(reports: &[Value]) -> Value {
    let Some(first) = reports.first() else {
        return Value::Null;
    };
    let mut merged = first.clone();
    for report in &reports[1..] {
        for key in SUMMED {
            let sum = merged[*key].as_f64().unwrap_or(0.0) + report[*key].as_f64().unwrap_or(0.0);
            merged[*key] = if merged[*key].is_u64() {
                json!(sum as u64)
            } else {
                json!(sum)
            };
        }
        for key in ["p50_us", "p99_us", "p999_us", "max_us"] {
            let worst = merged["latency"][key]
                .as_f64()
                .unwrap_or(0.0)
                .max(report["latency"][key].as_f64().unwrap_or(0.0));
            merged["latency"][key] = json!(worst);
        }
        if let (Some(into), Some(from)) = (merged["events"].as_object_mut(), report["events"].as_object()) {
            for (name, count) in from {
                let total = into.get(name).and_then(Value::as_u64).unwrap_or(0) + count.as_u64().unwrap_or(0);
                into.insert(name.clone(), json!(total));
            }
        }
    }
    merged
}

/// What is wrong with the deliveries of any sample: loss, reordering, corruption, disconnections.
pub(crate) fn integrity_problems(samples: &[Value]) -> Vec<String> {
    let mut problems = Vec::new();
    for sample in samples {
        let report = &sample["report"];
        let place = format!("{} rep {} ({})", sample["scenario"], sample["rep"], sample["server"]);
        if !report.is_object() {
            problems.push(format!("{place}: no report"));
            continue;
        }
        for key in MUST_BE_ZERO {
            let count = report[*key].as_u64().unwrap_or(u64::MAX);
            if count != 0 {
                problems.push(format!("{place}: {key} = {count}"));
            }
        }
        if report["delivered"] != report["expected"] {
            problems.push(format!(
                "{place}: delivered {} of {} expected",
                report["delivered"], report["expected"]
            ));
        }
        if report["mode"] != "idle" && report["window_delivered"].as_u64().unwrap_or(0) == 0 {
            problems.push(format!("{place}: nothing delivered in the measurement window"));
        }
        if sample["connections"].as_u64()
            != sample["rooms"]
                .as_u64()
                .zip(sample["members"].as_u64())
                .map(|(r, m)| r * m)
        {
            problems.push(format!("{place}: {} connections held", sample["connections"]));
        }
        if let Some(events) = report["events"].as_object().filter(|events| !events.is_empty()) {
            problems.push(format!("{place}: unexpected events {}", Value::Object(events.clone())));
        }
    }
    problems
}

/// One sample in a few words, printed as each point finishes.
pub(crate) fn one_line(sample: &Value) -> String {
    let report = &sample["report"];
    let mib = |key: &str| sample[key].as_f64().unwrap_or(0.0) / 1048576.0;
    let mut line = String::new();
    if report["mode"] == "idle" {
        let _ = write!(
            line,
            "{} connections, {:.0} B each",
            sample["connections"],
            num(&sample["bytes_per_connection"])
        );
    } else {
        let _ = write!(
            line,
            "{:.0} deliveries/s, p50 {:.2} ms, p99 {:.2} ms, lost {}, reordered {}, {:.2} CPU s per million",
            num(&report["deliveries_per_sec"]),
            num(&report["latency"]["p50_us"]) / 1000.0,
            num(&report["latency"]["p99_us"]) / 1000.0,
            report["lost"],
            report["reordered"],
            num(&sample["cpu_per_million_deliveries"]),
        );
    }
    let _ = write!(
        line,
        ", RSS {:.1}/{:.1}/{:.1} MiB",
        mib("rss_before"),
        mib("rss_connected"),
        mib("rss_end")
    );
    line
}

fn num(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

/// Median, smallest and largest of the finite values.
fn stats(values: &[f64]) -> Value {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return Value::Null;
    }
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    };
    json!({"median": median, "min": sorted[0], "max": sorted[n - 1]})
}

/// The measured quantities a summary gives the median and spread of, with where each lives in a sample.
const MEASURES: &[(&str, &[&str])] = &[
    ("deliveries_per_sec", &["report", "deliveries_per_sec"]),
    ("p50_us", &["report", "latency", "p50_us"]),
    ("p99_us", &["report", "latency", "p99_us"]),
    ("p999_us", &["report", "latency", "p999_us"]),
    ("cpu_per_million_deliveries", &["cpu_per_million_deliveries"]),
    ("rss_before", &["rss_before"]),
    ("rss_connected", &["rss_connected"]),
    ("rss_end", &["rss_end"]),
    ("bytes_per_connection", &["bytes_per_connection"]),
];

fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |value, key| &value[*key])
}

/// One summary per scenario and server, then one ratio line per scenario measured on both servers.
pub(crate) fn summarize(samples: &[Value]) -> Vec<Value> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut groups: BTreeMap<(String, String), Vec<&Value>> = BTreeMap::new();
    for sample in samples {
        let key = (
            sample["scenario"].as_str().unwrap_or("?").to_owned(),
            sample["server"].as_str().unwrap_or("?").to_owned(),
        );
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(sample);
    }
    let mut summaries = Vec::new();
    let mut by_key = BTreeMap::new();
    for key in &order {
        let group = &groups[key];
        let mut summary = Map::new();
        summary.insert("kind".into(), json!("summary"));
        summary.insert("scenario".into(), json!(key.0));
        summary.insert("server".into(), json!(key.1));
        summary.insert("reps".into(), json!(group.len()));
        summary.insert("connections".into(), group[0]["connections"].clone());
        summary.insert("mode".into(), group[0]["report"]["mode"].clone());
        for (name, path) in MEASURES {
            let values: Vec<f64> = group.iter().map(|sample| num(at(sample, path))).collect();
            summary.insert((*name).into(), stats(&values));
        }
        for counter in MUST_BE_ZERO.iter().chain(["delivered", "expected"].iter()) {
            let total: u64 = group
                .iter()
                .map(|sample| sample["report"][*counter].as_u64().unwrap_or(0))
                .sum();
            summary.insert((*counter).into(), json!(total));
        }
        let summary = Value::Object(summary);
        by_key.insert(key.clone(), summary.clone());
        summaries.push(summary);
    }
    // Each scenario's lines stay together: its summaries, then the relay's ratios to the ceiling.
    let mut lines = Vec::new();
    let mut scenarios: Vec<&String> = order.iter().map(|(scenario, _)| scenario).collect();
    scenarios.dedup();
    for scenario in scenarios {
        lines.extend(summaries.iter().filter(|line| line["scenario"] == **scenario).cloned());
        // The relay against the ceiling, and two relays sharing the room through Redis against one relay.
        for (kind, over, under) in [("ratio", "relay", "ceiling"), ("overhead", "two-relays", "relay")] {
            let (Some(over), Some(under)) = (
                by_key.get(&(scenario.clone(), over.to_owned())),
                by_key.get(&(scenario.clone(), under.to_owned())),
            ) else {
                continue;
            };
            let mut ratio = Map::new();
            ratio.insert("kind".into(), json!(kind));
            ratio.insert("scenario".into(), json!(scenario));
            for (name, _) in MEASURES {
                let r = num(&over[*name]["median"]) / num(&under[*name]["median"]);
                ratio.insert((*name).into(), if r.is_finite() { json!(r) } else { Value::Null });
            }
            lines.push(Value::Object(ratio));
        }
    }
    lines
}

/// The targets, checked against whatever scenarios this run measured.
pub(crate) fn targets(summaries: &[Value]) -> Vec<Value> {
    let find = |kind: &str, scenario: &str, server: Option<&str>| {
        summaries.iter().find(|line| {
            line["kind"] == kind && line["scenario"] == scenario && server.is_none_or(|server| line["server"] == server)
        })
    };
    let mut targets = Vec::new();
    if let Some(ratio) = find("ratio", "room50-saturated", None) {
        let value = num(&ratio["deliveries_per_sec"]);
        targets.push(target(
            "relay deliveries/s at 50 members saturated, as a share of the ceiling's",
            value,
            ">=",
            0.8,
        ));
    }
    if let Some(ratio) = find("ratio", "room200-rate1000", None) {
        let value = num(&ratio["p99_us"]);
        targets.push(target(
            "relay p99 at 200 members and 1,000 msg/s, relative to the ceiling's",
            value,
            "<=",
            1.5,
        ));
    }
    if let Some(idle) = find("summary", "idle10000", Some("relay")) {
        let value = num(&idle["bytes_per_connection"]["median"]);
        targets.push(target("relay memory per idle connection, bytes", value, "<=", 8192.0));
    }
    let relay: Vec<&Value> = summaries
        .iter()
        .filter(|line| line["kind"] == "summary" && (line["server"] == "relay" || line["server"] == "two-relays"))
        .collect();
    if !relay.is_empty() {
        let broken: u64 = relay
            .iter()
            .map(|line| {
                MUST_BE_ZERO
                    .iter()
                    .map(|key| line[*key].as_u64().unwrap_or(0))
                    .sum::<u64>()
            })
            .sum();
        targets.push(target(
            "relay deliveries lost, reordered, corrupted or cut off",
            broken as f64,
            "<=",
            0.0,
        ));
    }
    targets
}

fn target(name: &str, value: f64, op: &str, limit: f64) -> Value {
    let met = match op {
        ">=" => value >= limit,
        _ => value <= limit,
    };
    json!({"kind": "target", "target": name, "value": value, "op": op, "limit": limit, "met": met})
}

/// The targets as printed lines.
pub(crate) fn targets_table(targets: &[Value]) -> String {
    let mut out = String::from("targets:\n");
    for target in targets {
        let _ = writeln!(
            out,
            "  [{}] {}: {:.3} (target {} {})",
            if target["met"] == true { "met" } else { "MISSED" },
            target["target"].as_str().unwrap_or("?"),
            num(&target["value"]),
            target["op"].as_str().unwrap_or("?"),
            target["limit"],
        );
    }
    out
}

/// The summaries as a fixed-width table: medians with their spread, and a ratio row under each pair.
pub(crate) fn table(summaries: &[Value]) -> String {
    let mut out = String::new();
    let header = [
        "deliv/s",
        "±%",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "lost",
        "reord",
        "CPU s/M",
        "RSS MiB bef/con/end",
        "B/conn",
    ];
    row(&mut out, "scenario", "server", &header.map(str::to_owned));
    for line in summaries {
        let median = |name: &str| num(&line[name]["median"]);
        if line["kind"] == "summary" {
            let (min, max) = (
                num(&line["deliveries_per_sec"]["min"]),
                num(&line["deliveries_per_sec"]["max"]),
            );
            let idle = line["mode"] == "idle";
            let traffic = |text: String| if idle { "-".to_owned() } else { text };
            let cells = [
                traffic(fixed(median("deliveries_per_sec"), 0)),
                traffic(fixed((max - min) / 2.0 / median("deliveries_per_sec") * 100.0, 1)),
                traffic(fixed(median("p50_us") / 1000.0, 2)),
                traffic(fixed(median("p99_us") / 1000.0, 2)),
                traffic(fixed(median("p999_us") / 1000.0, 2)),
                line["lost"].as_u64().unwrap_or(0).to_string(),
                line["reordered"].as_u64().unwrap_or(0).to_string(),
                traffic(fixed(median("cpu_per_million_deliveries"), 2)),
                format!(
                    "{}/{}/{}",
                    fixed(median("rss_before") / 1048576.0, 1),
                    fixed(median("rss_connected") / 1048576.0, 1),
                    fixed(median("rss_end") / 1048576.0, 1)
                ),
                fixed(median("bytes_per_connection"), 0),
            ];
            row(
                &mut out,
                line["scenario"].as_str().unwrap_or("?"),
                line["server"].as_str().unwrap_or("?"),
                &cells,
            );
        } else if line["kind"] == "ratio" || line["kind"] == "overhead" {
            let ratio = |name: &str| {
                let r = num(&line[name]);
                if r.is_finite() {
                    format!("{r:.2}x")
                } else {
                    "-".to_owned()
                }
            };
            let cells = [
                ratio("deliveries_per_sec"),
                String::new(),
                ratio("p50_us"),
                ratio("p99_us"),
                ratio("p999_us"),
                String::new(),
                String::new(),
                ratio("cpu_per_million_deliveries"),
                format!("{} conn", ratio("rss_connected")),
                ratio("bytes_per_connection"),
            ];
            let label = if line["kind"] == "ratio" {
                "relay/ceiling"
            } else {
                "two/one relay"
            };
            row(&mut out, "", label, &cells);
        }
    }
    out
}

fn row(out: &mut String, scenario: &str, server: &str, cells: &[String; 10]) {
    let widths = [10, 6, 9, 9, 9, 6, 6, 8, 20, 8];
    let _ = write!(out, "{scenario:<22} {server:<13}");
    for (cell, width) in cells.iter().zip(widths) {
        let _ = write!(out, " {cell:>width$}");
    }
    out.push('\n');
}

/// A number with `decimals` decimals, or `-` when there is none.
fn fixed(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        "-".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(server: &str, rep: u64, deliveries: f64, p99: f64, lost: u64) -> Value {
        json!({
            "kind": "sample", "scenario": "room50-saturated", "server": server, "rep": rep,
            "rooms": 1, "members": 50, "connections": 50,
            "rss_before": 1_000_000, "rss_connected": 2_000_000, "rss_end": 1_500_000,
            "bytes_per_connection": 20_000.0, "cpu_per_million_deliveries": 3.0,
            "report": {
                "mode": "saturated", "deliveries_per_sec": deliveries, "window_delivered": 10,
                "latency": {"p50_us": 100.0, "p99_us": p99, "p999_us": 900.0},
                "lost": lost, "reordered": 0, "misattributed": 0, "wrong_size": 0, "garbled": 0, "disconnected": 0,
                "delivered": 10, "expected": 10 + lost, "events": {}
            }
        })
    }

    #[test]
    fn medians_spreads_and_ratios() {
        let samples = vec![
            sample("ceiling", 1, 100.0, 1000.0, 0),
            sample("relay", 1, 70.0, 1200.0, 0),
            sample("ceiling", 2, 120.0, 1000.0, 0),
            sample("relay", 2, 90.0, 1200.0, 0),
            sample("ceiling", 3, 110.0, 1000.0, 0),
            sample("relay", 3, 99.0, 1200.0, 0),
        ];
        let lines = summarize(&samples);
        assert_eq!(lines.len(), 3);
        assert_eq!(
            lines[0]["deliveries_per_sec"],
            json!({"median": 110.0, "min": 100.0, "max": 120.0})
        );
        assert_eq!(lines[1]["deliveries_per_sec"]["median"], json!(90.0));
        assert_eq!(lines[2]["kind"], "ratio");
        let ratio = num(&lines[2]["deliveries_per_sec"]);
        assert!((ratio - 90.0 / 110.0).abs() < 1e-9);
        let targets = targets(&lines);
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0]["met"], true);
        assert_eq!(targets[1]["met"], true, "nothing lost");
        assert!(table(&lines).contains("relay/ceiling"));
        assert!(integrity_problems(&samples).is_empty());
    }

    #[test]
    fn two_relays_are_compared_with_one_and_their_losses_count() {
        let samples = vec![
            sample("relay", 1, 100.0, 1000.0, 0),
            sample("two-relays", 1, 80.0, 2000.0, 2),
        ];
        let lines = summarize(&samples);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2]["kind"], "overhead");
        assert!((num(&lines[2]["deliveries_per_sec"]) - 0.8).abs() < 1e-9);
        assert!((num(&lines[2]["p99_us"]) - 2.0).abs() < 1e-9);
        assert!(table(&lines).contains("two/one relay"));
        let targets = targets(&lines);
        assert_eq!(targets.last().map(|t| t["met"].clone()), Some(json!(false)));
    }

    #[test]
    fn loss_is_a_problem_and_a_missed_target() {
        let samples = vec![sample("ceiling", 1, 100.0, 1.0, 0), sample("relay", 1, 50.0, 1.0, 3)];
        let problems = integrity_problems(&samples);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("lost = 3"));
        let targets = targets(&summarize(&samples));
        assert!(targets.iter().all(|target| target["met"] == false), "{targets:?}");
    }

    #[test]
    fn reports_of_several_processes_add_up() {
        let a = json!({"connections": 5000, "delivered": 0, "deliveries_per_sec": 1.5,
                       "latency": {"p50_us": 1.0, "p99_us": 9.0}, "events": {"eof": 1}});
        let b = json!({"connections": 5000, "delivered": 0, "deliveries_per_sec": 2.0,
                       "latency": {"p50_us": 2.0, "p99_us": 3.0}, "events": {"eof": 2, "close_1000": 1}});
        let merged = merge_reports(&[a, b]);
        assert_eq!(merged["connections"], json!(10000));
        assert_eq!(merged["deliveries_per_sec"], json!(3.5));
        assert_eq!(merged["latency"]["p50_us"], json!(2.0));
        assert_eq!(merged["latency"]["p99_us"], json!(9.0));
        assert_eq!(merged["events"], json!({"eof": 3, "close_1000": 1}));
    }

    #[test]
    fn stats_of_an_even_count_average_the_middle() {
        assert_eq!(
            stats(&[4.0, 1.0, 3.0, 2.0]),
            json!({"median": 2.5, "min": 1.0, "max": 4.0})
        );
        assert_eq!(stats(&[f64::NAN]), Value::Null);
    }
}
