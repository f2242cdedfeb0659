//! `cargo xtask bench [--quick]`: the relay against a bare fan-out ceiling, point by point, back to back in one run.
//!
//! Each point starts its server as its own process on loopback, drives it with `sanctum-loadgen` processes,
//! samples the server's CPU time and memory between the load generator's phases, and stops it by its process id.
//! The `*-redis-*` points put one room on one relay and, beside it, on two relays sharing it through one
//! memory-only `redis-server`, whose CPU time and memory count with the two relays'.
//! Every sample and every summary is one JSON line in `bench-results/`; the table at the end gives medians,
//! spreads and the relay's ratios to the ceiling, and `--quick` fails when anything was lost or reordered.

mod browser;
mod crypto;
mod process;
mod summary;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use crate::shell::{cargo, human, output, root, run, target_dir};
use process::{Client, Server, ServerKind};

/// How the members of a scenario send.
#[derive(Debug, Clone, Copy)]
enum LoadSpec {
    Idle,
    Saturated { window: u64 },
    Rate { per_second: f64 },
}

/// One point of the bench.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    rooms: usize,
    members: usize,
    payload: usize,
    load: LoadSpec,
    /// Load generator processes; rooms are split between them (the open-files limit is 20,000 per process).
    clients: usize,
    /// The servers this point compares, when not the ones `--server` chose.
    servers: Option<&'static [ServerKind]>,
}

impl Scenario {
    fn connections(&self) -> usize {
        self.rooms * self.members
    }
}

/// The padded sizes the bench sends: a typical message, and the largest sealed item the protocol carries.
const KIB: usize = 1024;
const MAX_PAYLOAD: usize = 33 * 1024;

fn full_scenarios() -> Vec<Scenario> {
    let room = |name, members, payload, load| Scenario {
        name,
        rooms: 1,
        members,
        payload,
        load,
        clients: 1,
        servers: None,
    };
    // The same room on one relay and spread over two relays sharing it through Redis, members alternating.
    let shared = |name, load| Scenario {
        name,
        servers: Some(&[ServerKind::Relay, ServerKind::TwoRelays][..]),
        ..room(name, 50, KIB, load)
    };
    let saturated = LoadSpec::Saturated { window: 8 };
    let rate = LoadSpec::Rate { per_second: 1000.0 };
    vec![
        room("room10-saturated", 10, KIB, saturated),
        room("room50-saturated", 50, KIB, saturated),
        room("room200-saturated", 200, KIB, saturated),
        room("room50-saturated-33k", 50, MAX_PAYLOAD, saturated),
        room("room10-rate1000", 10, KIB, rate),
        room("room50-rate1000", 50, KIB, rate),
        room("room200-rate1000", 200, KIB, rate),
        shared("room50-redis-saturated", saturated),
        shared("room50-redis-rate1000", rate),
        Scenario {
            name: "rooms1000x4-saturated",
            rooms: 1000,
            members: 4,
            payload: KIB,
            load: LoadSpec::Saturated { window: 2 },
            clients: 1,
            servers: None,
        },
        Scenario {
            name: "idle10000",
            rooms: 2500,
            members: 4,
            payload: KIB,
            load: LoadSpec::Idle,
            clients: 2,
            servers: None,
        },
    ]
}

fn quick_scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "room10-saturated",
            rooms: 1,
            members: 10,
            payload: KIB,
            load: LoadSpec::Saturated { window: 8 },
            clients: 1,
            servers: None,
        },
        Scenario {
            name: "room10-rate100-33k",
            rooms: 1,
            members: 10,
            payload: MAX_PAYLOAD,
            load: LoadSpec::Rate { per_second: 100.0 },
            clients: 1,
            servers: None,
        },
        Scenario {
            name: "rooms50x4-saturated",
            rooms: 50,
            members: 4,
            payload: KIB,
            load: LoadSpec::Saturated { window: 2 },
            clients: 1,
            servers: None,
        },
        // Two relays sharing one room through Redis, so that the smoke run sees the backplane lose nothing.
        Scenario {
            name: "room10-redis-rate100",
            rooms: 1,
            members: 10,
            payload: KIB,
            load: LoadSpec::Rate { per_second: 100.0 },
            clients: 1,
            servers: Some(&[ServerKind::TwoRelays]),
        },
        Scenario {
            name: "idle400",
            rooms: 100,
            members: 4,
            payload: KIB,
            load: LoadSpec::Idle,
            clients: 2,
            servers: None,
        },
    ]
}

/// Command-line options of `cargo xtask bench`.
#[derive(Debug)]
struct Options {
    quick: bool,
    release: bool,
    reps: usize,
    only: Option<String>,
    servers: Vec<ServerKind>,
    crypto: bool,
    crypto_only: bool,
    browser: bool,
    browser_only: bool,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = Self {
            quick: false,
            release: true,
            reps: 3,
            only: None,
            servers: vec![ServerKind::Ceiling, ServerKind::Relay],
            crypto: true,
            crypto_only: false,
            browser: true,
            browser_only: false,
        };
        let mut release = None;
        let mut reps = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.quick = true,
                "--release" => release = Some(true),
                "--debug" => release = Some(false),
                "--reps" => reps = Some(args.next().context("--reps needs a number")?.parse()?),
                "--only" => options.only = Some(args.next().context("--only needs scenario names")?.clone()),
                "--server" => {
                    options.servers = match args.next().map(String::as_str) {
                        Some("relay") => vec![ServerKind::Relay],
                        Some("ceiling") => vec![ServerKind::Ceiling],
                        Some("both") => vec![ServerKind::Ceiling, ServerKind::Relay],
                        other => bail!("--server takes relay, ceiling or both, not {other:?}"),
                    }
                }
                "--skip-crypto" => options.crypto = false,
                "--crypto-only" => options.crypto_only = true,
                "--skip-browser" => options.browser = false,
                "--browser-only" => options.browser_only = true,
                other => bail!(
                    "unknown option {other:?} for `cargo xtask bench` \
                     (--quick, --release, --debug, --reps N, --only SCENARIO[,SCENARIO...], --server relay|ceiling|both, \
                     --skip-crypto, --crypto-only, --skip-browser, --browser-only)"
                ),
            }
        }
        // The quick smoke run checks that nothing is lost, not speed, so it reuses the dev build `cargo test` made
        // instead of compiling everything again with LTO.
        options.release = release.unwrap_or(!options.quick);
        options.reps = reps.unwrap_or(if options.quick { 1 } else { 3 });
        if options.quick {
            options.crypto = false;
            options.browser = false;
        }
        if options.crypto_only {
            options.browser = options.browser_only;
        }
        if options.browser_only {
            options.browser = true;
            options.crypto = options.crypto_only;
        }
        Ok(options)
    }
}

/// How long each phase of a point lasts.
#[derive(Debug, Clone, Copy)]
struct Timing {
    warmup_ms: u64,
    duration_ms: u64,
}

/// Entry point called by the dispatcher with the arguments after `bench`.
pub(crate) fn main(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    let started = Instant::now();
    let binaries = build(options.release)?;
    let timing = if options.quick {
        Timing {
            warmup_ms: 200,
            duration_ms: 1000,
        }
    } else {
        Timing {
            warmup_ms: 1000,
            duration_ms: 5000,
        }
    };
    let mut scenarios = if options.quick {
        quick_scenarios()
    } else {
        full_scenarios()
    };
    if options.crypto_only || options.browser_only {
        scenarios.clear();
    }
    if let Some(only) = &options.only {
        let names: Vec<&str> = only.split(',').collect();
        if let Some(unknown) = names.iter().find(|name| !scenarios.iter().any(|s| s.name == **name)) {
            bail!("no scenario named {unknown:?}");
        }
        scenarios.retain(|scenario| names.contains(&scenario.name));
    }

    let results_dir = root().join("bench-results");
    std::fs::create_dir_all(&results_dir)?;
    let stamp = utc_stamp();
    let mode = if options.quick { "quick" } else { "full" };
    let results_path = results_dir.join(format!("bench-{stamp}-{mode}.jsonl"));
    let log_path = results_dir.join(format!("bench-{stamp}-{mode}.log"));
    let mut results = File::create(&results_path).with_context(|| format!("creating {}", results_path.display()))?;
    let machine = machine(&options, timing);
    writeln!(results, "{machine}")?;
    println!("bench: results in {}", results_path.display());
    println!("bench: relay flags: {}", process::RELAY_FLAGS.join(" "));
    println!(
        "bench: {} build, {} repetition(s), warm-up {} ms, window {} ms, load average at start {}",
        if options.release { "release" } else { "dev" },
        options.reps,
        timing.warmup_ms,
        timing.duration_ms,
        machine["loadavg"].as_str().unwrap_or("?")
    );

    let mut samples = Vec::new();
    for scenario in &scenarios {
        for rep in 0..options.reps {
            // Servers alternate within each repetition, so that drift in the machine's load hits both alike.
            for &kind in scenario.servers.unwrap_or(&options.servers) {
                print!("bench: {} rep {} {} ... ", scenario.name, rep + 1, kind.name());
                std::io::stdout().flush()?;
                let sample = run_point(&binaries, scenario, kind, rep, timing, &log_path)
                    .with_context(|| format!("{} rep {} against the {}", scenario.name, rep + 1, kind.name()))?;
                println!("{}", summary::one_line(&sample));
                writeln!(results, "{sample}")?;
                samples.push(sample);
            }
        }
    }

    let summaries = summary::summarize(&samples);
    for line in &summaries {
        writeln!(results, "{line}")?;
    }
    println!("\n{}", summary::table(&summaries));
    let targets = summary::targets(&summaries);
    if !targets.is_empty() {
        println!("{}", summary::targets_table(&targets));
        for target in &targets {
            writeln!(results, "{target}")?;
        }
    }

    if options.crypto {
        let lines = crypto::run_all()?;
        for line in &lines {
            writeln!(results, "{line}")?;
        }
    }
    if options.browser {
        // At least five runs, whatever --reps says for the relay's points.
        let line = browser::run(&binaries.relay, options.reps.max(5))?;
        writeln!(results, "{line}")?;
    }
    writeln!(
        results,
        "{}",
        json!({"kind": "end", "loadavg": loadavg(), "elapsed_secs": started.elapsed().as_secs_f64()})
    )?;
    println!(
        "bench: done in {}; results in {}",
        human(started.elapsed()),
        results_path.display()
    );

    let problems = summary::integrity_problems(&samples);
    if !problems.is_empty() {
        bail!("the bench saw deliveries go wrong:\n  {}", problems.join("\n  "));
    }
    Ok(())
}

/// Paths of the binaries a point runs.
#[derive(Debug)]
struct Binaries {
    relay: PathBuf,
    ceiling: PathBuf,
    loadgen: PathBuf,
}

fn build(release: bool) -> Result<Binaries> {
    let bins = [
        "--bin",
        "sanctum-relay",
        "--bin",
        "sanctum-loadgen",
        "--bin",
        "sanctum-ceiling",
    ];
    let profile = if release {
        run(cargo()
            .args(["build", "--release", "-p", "sanctum-relay", "-p", "sanctum-loadgen"])
            .args(bins))?;
        "release"
    } else {
        // The same selection as the relay build for the browser tests, so that the features match what
        // `cargo test --workspace` compiled and nothing is built twice.
        run(cargo().args(["build", "--workspace", "--tests"]).args(bins))?;
        "debug"
    };
    let dir = target_dir().join(profile);
    Ok(Binaries {
        relay: dir.join("sanctum-relay"),
        ceiling: dir.join("sanctum-ceiling"),
        loadgen: dir.join("sanctum-loadgen"),
    })
}

/// Runs one scenario once against one server and returns the sample as a JSON object.
fn run_point(
    binaries: &Binaries,
    scenario: &Scenario,
    kind: ServerKind,
    rep: usize,
    timing: Timing,
    log: &Path,
) -> Result<Value> {
    let binary = match kind {
        ServerKind::Relay | ServerKind::TwoRelays => &binaries.relay,
        ServerKind::Ceiling => &binaries.ceiling,
    };
    let loadavg_before = loadavg();
    let server = Server::start(kind, binary, log)?;
    let rss_before = server.rss_bytes()?;

    let mut clients = Vec::with_capacity(scenario.clients);
    for share in split(scenario.rooms, scenario.clients) {
        clients.push(Client::start(
            &binaries.loadgen,
            &loadgen_args(scenario, share, &server, timing),
            log,
        )?);
    }
    let mut connections = 0;
    for client in &mut clients {
        connections += client.expect("connected")?["connections"].as_u64().unwrap_or(0);
    }
    if connections != scenario.connections() as u64 {
        bail!(
            "the load generators hold {connections} connections, not {}",
            scenario.connections()
        );
    }
    let rss_connected = server.rss_bytes()?;
    let metrics_connected = server.metrics();
    let cpu_connected = server.cpu_seconds()?;

    for client in &mut clients {
        client.say("start")?;
    }
    // The first client's window stands for all of them: they start within microseconds of one another.
    clients[0].expect("window_start")?;
    let cpu_window_start = server.cpu_seconds()?;
    let metrics_window_start = server.metrics();
    clients[0].expect("window_end")?;
    let cpu_window_end = server.cpu_seconds()?;
    let metrics_window_end = server.metrics();
    let mut reports = Vec::with_capacity(clients.len());
    for (index, client) in clients.iter_mut().enumerate() {
        if index > 0 {
            client.expect("window_start")?;
            client.expect("window_end")?;
        }
        reports.push(client.expect("report")?["report"].clone());
    }
    let rss_after_traffic = server.rss_bytes()?;
    let cpu_after_traffic = server.cpu_seconds()?;
    for client in clients {
        client.finish()?;
    }
    server.settle();
    let rss_end = server.rss_bytes()?;
    let metrics_end = server.metrics();
    let pid = server.pids();
    server.stop()?;

    let report = summary::merge_reports(&reports);
    let window_delivered = report["window_delivered"].as_f64().unwrap_or(0.0);
    let cpu_window = cpu_window_end - cpu_window_start;
    let delta = |name: &str| {
        let end = metrics_window_end.total(name);
        let start = metrics_window_start.total(name);
        end.zip(start).map(|(end, start)| end - start)
    };
    Ok(json!({
        "kind": "sample",
        "scenario": scenario.name,
        "server": kind.name(),
        "rep": rep + 1,
        "pid": pid,
        "rooms": scenario.rooms,
        "members": scenario.members,
        "payload_bytes": scenario.payload,
        "clients": scenario.clients,
        "loadavg_before": loadavg_before,
        "connections": connections,
        "rss_before": rss_before,
        "rss_connected": rss_connected,
        "rss_after_traffic": rss_after_traffic,
        "rss_end": rss_end,
        "bytes_per_connection": (rss_connected.saturating_sub(rss_before)) as f64 / (connections.max(1) as f64),
        "cpu_setup_secs": cpu_connected,
        "cpu_window_secs": cpu_window,
        "cpu_traffic_secs": cpu_after_traffic - cpu_connected,
        "cpu_per_million_deliveries": (window_delivered > 0.0).then(|| cpu_window / window_delivered * 1e6),
        "relay_metrics": (kind != ServerKind::Ceiling).then(|| json!({
            "connections_when_connected": metrics_connected.total("sanctum_connections"),
            "members_when_connected": metrics_connected.total("sanctum_members"),
            "frames_out_in_window": delta("sanctum_frames_out_total"),
            "frames_in_in_window": delta("sanctum_frames_in_total"),
            "slow_readers_total": metrics_end.total("sanctum_slow_readers_total"),
            "rejections_total": metrics_end.total("sanctum_rejections_total"),
            "connections_at_end": metrics_end.total("sanctum_connections"),
        })),
        "report": report,
    }))
}

/// Splits `rooms` into `parts` nearly equal shares.
fn split(rooms: usize, parts: usize) -> Vec<usize> {
    let parts = parts.clamp(1, rooms.max(1));
    (0..parts)
        .map(|i| rooms / parts + usize::from(i < rooms % parts))
        .collect()
}

fn loadgen_args(scenario: &Scenario, rooms: usize, server: &Server, timing: Timing) -> Vec<String> {
    let mut args = vec![
        "--url".to_owned(),
        server.ws_url(),
        "--rooms".to_owned(),
        rooms.to_string(),
        "--members".to_owned(),
        scenario.members.to_string(),
        "--payload".to_owned(),
        scenario.payload.to_string(),
        "--warmup-ms".to_owned(),
        timing.warmup_ms.to_string(),
        "--duration-ms".to_owned(),
        timing.duration_ms.to_string(),
    ];
    // Each load generator process sends its share of the aggregate rate.
    let share = rooms as f64 / scenario.rooms.max(1) as f64;
    match scenario.load {
        LoadSpec::Idle => args.extend(["--mode".to_owned(), "idle".to_owned()]),
        LoadSpec::Saturated { window } => {
            args.extend([
                "--mode".to_owned(),
                "saturated".to_owned(),
                "--window".to_owned(),
                window.to_string(),
            ]);
        }
        LoadSpec::Rate { per_second } => {
            args.extend([
                "--mode".to_owned(),
                "rate".to_owned(),
                "--rate".to_owned(),
                (per_second * share).to_string(),
            ]);
        }
    }
    args
}

/// The machine and the conditions of this run, as the first JSON line.
fn machine(options: &Options, timing: Timing) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total = meminfo
        .lines()
        .find(|line| line.starts_with("MemTotal:"))
        .map(str::to_owned);
    let git = output(crate::shell::command("git").args(["rev-parse", "--short", "HEAD"])).unwrap_or_default();
    let rustc = output(std::process::Command::new("rustc").arg("-V")).unwrap_or_default();
    json!({
        "kind": "machine",
        "utc": utc_stamp(),
        "mode": if options.quick { "quick" } else { "full" },
        "profile": if options.release { "release" } else { "dev" },
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "cpu_model": model,
        "mem_total": mem_total,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "loadavg": loadavg(),
        "rustc": rustc.trim(),
        "git": git.trim(),
        "reps": options.reps,
        "warmup_ms": timing.warmup_ms,
        "window_ms": timing.duration_ms,
        "relay_flags": process::RELAY_FLAGS.join(" "),
    })
}

/// The 1, 5 and 15 minute load averages: the machine is shared, so each sample notes how busy it was.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The current UTC time as `YYYYMMDDTHHMMSSZ`, for file names.
fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm, for the proleptic Gregorian calendar.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn quick_defaults_to_one_dev_repetition_without_crypto() {
        let quick = Options::parse(&args(&["--quick"])).expect("valid");
        assert!(quick.quick && !quick.release && !quick.crypto && !quick.browser);
        let browser = Options::parse(&args(&["--browser-only"])).expect("valid");
        assert!(browser.browser && !browser.crypto);
        let crypto = Options::parse(&args(&["--crypto-only"])).expect("valid");
        assert!(crypto.crypto && !crypto.browser);
        assert_eq!(quick.reps, 1);
        let full = Options::parse(&args(&[])).expect("valid");
        assert!(!full.quick && full.release && full.crypto && full.browser);
        assert_eq!(full.reps, 3);
        let mixed =
            Options::parse(&args(&["--quick", "--release", "--reps", "2", "--server", "relay"])).expect("valid");
        assert!(mixed.release);
        assert_eq!((mixed.reps, mixed.servers.as_slice()), (2, &[ServerKind::Relay][..]));
        assert!(Options::parse(&args(&["--fast"])).is_err());
        assert!(Options::parse(&args(&["--server", "nginx"])).is_err());
    }

    #[test]
    fn rooms_split_evenly_between_clients() {
        assert_eq!(split(2500, 2), vec![1250, 1250]);
        assert_eq!(split(7, 3), vec![3, 2, 2]);
        assert_eq!(split(1, 4), vec![1]);
    }

    #[test]
    fn idle_scenario_fits_the_open_files_limit_per_client() {
        for scenario in full_scenarios().iter().chain(quick_scenarios().iter()) {
            let per_client = scenario.connections().div_ceil(scenario.clients);
            assert!(
                per_client <= 9000,
                "{} puts {per_client} connections in one process",
                scenario.name
            );
        }
    }

    #[test]
    fn utc_stamp_has_the_expected_shape() {
        let stamp = utc_stamp();
        assert_eq!(stamp.len(), 16);
        assert!(stamp.starts_with("20") && stamp.ends_with('Z') && stamp.as_bytes()[8] == b'T');
    }
}
