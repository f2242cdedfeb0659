//! `cargo xtask soak --minutes N [--slots N] [--png PATH]`: runs a release relay under a steady mixed load
//! (joins, leaves, broadcasts, whispers, purges, expiries) for N minutes and records its memory over time.
//!
//! The relay runs as its own process, so its resident set size (VmRSS in /proc) is the relay's alone.
//! Every few seconds the sampler records that size and the relay's own gauges from `/metrics` into a CSV file;
//! after the load stops, it waits for every room to end, so the last sample shows the relay with no live state.
//! The plot is drawn by python3 with matplotlib when available (`pip install matplotlib`), only for the picture.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sanctum_testkit::metrics::Metrics;

use crate::shell::{self, cargo, root, target_dir};

/// Seconds between samples.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Longest room lifetime the soak's relay grants, so that rooms left to expire end within the drain.
const MAX_LIFETIME_SECS: u64 = 120;
/// Room slots the driver keeps busy unless `--slots` says otherwise.
const DEFAULT_SLOTS: u32 = 40;

/// Entry point called by the dispatcher with the arguments after `soak`.
pub(crate) fn main(args: Vec<String>) -> Result<()> {
    let options = Options::parse(&args)?;
    shell::run(cargo().args([
        "build",
        "--release",
        "-p",
        "sanctum-relay",
        "-p",
        "sanctum-tests",
        "--bin",
        "sanctum-relay",
        "--bin",
        "sanctum-soak",
    ]))?;
    let release = target_dir().join("release");
    let out_dir = target_dir().join("soak");
    fs::create_dir_all(&out_dir).with_context(|| format!("could not create {}", out_dir.display()))?;
    let csv_path = out_dir.join(format!("soak-{}m.csv", options.minutes));

    let (mut relay, addrs) = start_relay(&release.join("sanctum-relay"))?;
    let result = soak(&options, &release, &mut relay, addrs, &csv_path);
    let _ = relay.kill();
    let _ = relay.wait();
    let report = result?;

    println!("\nsoak: {} minutes, {} room slots", options.minutes, options.slots);
    println!("soak: driver: {}", report.driver_summary.trim());
    println!("soak: RSS before load {}", kib(report.idle_rss));
    println!(
        "soak: RSS at the first sample under load {}",
        kib(report.first_loaded_rss)
    );
    println!("soak: RSS peak {}", kib(report.peak_rss));
    println!("soak: RSS at the end of the load {}", kib(report.end_loaded_rss));
    println!("soak: RSS after every room ended {}", kib(report.drained_rss));
    println!("soak: gauges after the drain: {}", report.drained_gauges);
    println!("soak: samples in {}", csv_path.display());
    let png = options
        .png
        .clone()
        .unwrap_or_else(|| out_dir.join(format!("soak-{}m.png", options.minutes)));
    match plot(&csv_path, &png, options.minutes) {
        Ok(()) => println!("soak: plot in {}", png.display()),
        Err(error) => println!("soak: no plot ({error:#}); install matplotlib with `pip install matplotlib`"),
    }
    if report.drained_gauges.connections != 0 || report.drained_gauges.rooms != 0 || report.drained_gauges.members != 0
    {
        bail!("live state did not drain after the load: {}", report.drained_gauges);
    }
    Ok(())
}

/// Command-line options of `cargo xtask soak`.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    minutes: u64,
    slots: u32,
    png: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut minutes = None;
        let mut slots = DEFAULT_SLOTS;
        let mut png = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value")).cloned();
            match arg.as_str() {
                "--minutes" => minutes = Some(value("--minutes")?.parse().context("--minutes takes a whole number")?),
                "--slots" => slots = value("--slots")?.parse().context("--slots takes a whole number")?,
                "--png" => png = Some(root().join(value("--png")?)),
                other => bail!("`cargo xtask soak` takes --minutes N, --slots N and --png PATH, not {other:?}"),
            }
        }
        let minutes = minutes.context("`cargo xtask soak` needs --minutes N")?;
        if minutes == 0 || slots == 0 {
            bail!("--minutes and --slots must be at least 1");
        }
        Ok(Options { minutes, slots, png })
    }
}

/// The relay's live-state gauges at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Gauges {
    connections: i64,
    rooms: i64,
    members: i64,
    tombstones: i64,
    queued_bytes: i64,
    rooms_created: i64,
}

impl Gauges {
    /// The gauges among the relay's samples, zero where a sample is absent.
    fn of(metrics: &Metrics) -> Self {
        let value = |name: &str| metrics.get(name) as i64;
        Self {
            connections: value("sanctum_connections"),
            rooms: value("sanctum_rooms"),
            members: value("sanctum_members"),
            tombstones: value("sanctum_tombstones"),
            queued_bytes: value("sanctum_queued_bytes"),
            rooms_created: value("sanctum_rooms_created_total"),
        }
    }
}

impl std::fmt::Display for Gauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections {}, rooms {}, members {}, tombstones {}, queued bytes {}, rooms created {}",
            self.connections, self.rooms, self.members, self.tombstones, self.queued_bytes, self.rooms_created
        )
    }
}

/// What the soak measured.
#[derive(Debug)]
struct Report {
    idle_rss: u64,
    first_loaded_rss: u64,
    peak_rss: u64,
    end_loaded_rss: u64,
    drained_rss: u64,
    drained_gauges: Gauges,
    driver_summary: String,
}

/// The relay's public address and its metrics address.
#[derive(Debug, Clone, Copy)]
struct Addrs {
    public: SocketAddr,
    metrics: SocketAddr,
}

/// Starts the relay on a free loopback port with limits that let one address drive the whole load,
/// its metrics on another.
fn start_relay(binary: &Path) -> Result<(Child, Addrs)> {
    let mut relay = Command::new(binary)
        .args(["--listen", "127.0.0.1:0"])
        .args(["--max-lifetime", &MAX_LIFETIME_SECS.to_string()])
        .args(["--expiry-warnings", "10,5"])
        .args(["--creates-per-minute", "100000"])
        .args(["--max-connections-per-address", "100000"])
        .args(["--max-rooms-per-address", "100000"])
        .args(["--max-membership-events", "100000"])
        .args(["--log", "warn"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))?;
    let stdout = relay.stdout.take().context("the relay's stdout")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    stdout.read_line(&mut line).context("reading the relay's first line")?;
    let public = line
        .trim()
        .strip_prefix("sanctum-relay listening on http://")
        .and_then(|addr| addr.parse().ok())
        .with_context(|| format!("unexpected first line from the relay: {line:?}"))?;
    line.clear();
    stdout
        .read_line(&mut line)
        .context("reading the relay's metrics line")?;
    let metrics = line
        .trim()
        .strip_prefix("sanctum-relay metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .and_then(|addr| addr.parse().ok())
        .with_context(|| format!("unexpected metrics line from the relay: {line:?}"))?;
    Ok((relay, Addrs { public, metrics }))
}

/// Runs the driver while sampling, then samples until the relay holds no room.
fn soak(options: &Options, release: &Path, relay: &mut Child, addrs: Addrs, csv_path: &Path) -> Result<Report> {
    let mut csv = fs::File::create(csv_path).with_context(|| format!("could not create {}", csv_path.display()))?;
    writeln!(
        csv,
        "seconds,phase,rss_kib,connections,rooms,members,tombstones,queued_bytes,rooms_created"
    )?;
    let pid = relay.id();
    let started = Instant::now();
    let mut sample = |phase: &str| -> Result<(u64, Gauges)> {
        let rss = rss_kib(pid)?;
        let gauges = gauges(addrs.metrics)?;
        writeln!(
            csv,
            "{:.1},{phase},{rss},{},{},{},{},{},{}",
            started.elapsed().as_secs_f64(),
            gauges.connections,
            gauges.rooms,
            gauges.members,
            gauges.tombstones,
            gauges.queued_bytes,
            gauges.rooms_created
        )?;
        Ok((rss, gauges))
    };
    let (idle_rss, _) = sample("idle")?;

    let mut driver = Command::new(release.join("sanctum-soak"))
        .arg(addrs.public.to_string())
        .arg(options.minutes.to_string())
        .arg(options.slots.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("could not start the soak driver")?;
    let mut first_loaded_rss = None;
    let mut peak_rss = idle_rss;
    let mut end_loaded_rss = idle_rss;
    let mut next = Instant::now() + SAMPLE_EVERY;
    let status = loop {
        if let Some(status) = driver.try_wait()? {
            break status;
        }
        if let Some(status) = relay.try_wait()? {
            bail!("the relay exited during the soak ({status})");
        }
        if Instant::now() >= next {
            let (rss, _) = sample("load")?;
            first_loaded_rss.get_or_insert(rss);
            peak_rss = peak_rss.max(rss);
            end_loaded_rss = rss;
            next += SAMPLE_EVERY;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let mut driver_summary = String::new();
    if let Some(mut out) = driver.stdout.take() {
        out.read_to_string(&mut driver_summary)?;
    }
    if !status.success() {
        bail!("the soak driver failed ({status})");
    }

    // Rooms left to expire end within their lifetime; tombstones of purged rooms within theirs.
    let drain_until = Instant::now() + Duration::from_secs(MAX_LIFETIME_SECS + 30);
    let (mut drained_rss, mut drained_gauges) = sample("drain")?;
    while (drained_gauges.rooms > 0 || drained_gauges.connections > 0 || drained_gauges.tombstones > 0)
        && Instant::now() < drain_until
    {
        thread::sleep(SAMPLE_EVERY);
        (drained_rss, drained_gauges) = sample("drain")?;
    }
    Ok(Report {
        idle_rss,
        first_loaded_rss: first_loaded_rss.unwrap_or(idle_rss),
        peak_rss,
        end_loaded_rss,
        drained_rss,
        drained_gauges,
        driver_summary,
    })
}

/// The resident set size of process `pid`, in KiB, from /proc.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).context("reading the relay's /proc status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .context("no VmRSS line in /proc status")
}

/// The relay's gauges from `/metrics`.
fn gauges(addr: SocketAddr) -> Result<Gauges> {
    let metrics = Metrics::scrape(addr, Duration::from_secs(5)).context("reading /metrics")?;
    Ok(Gauges::of(&metrics))
}

fn kib(value: u64) -> String {
    format!("{:.1} MiB ({value} KiB)", value as f64 / 1024.0)
}

/// Draws RSS and live members over time with matplotlib.
fn plot(csv: &Path, png: &Path, minutes: u64) -> Result<()> {
    if let Some(dir) = png.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut python = Command::new("python3")
        .arg("-")
        .arg(csv)
        .arg(png)
        .arg(minutes.to_string())
        .stdin(Stdio::piped())
        .spawn()
        .context("python3 is not available")?;
    python
        .stdin
        .take()
        .context("python3's stdin")?
        .write_all(PLOT_SCRIPT.as_bytes())?;
    let status = python.wait()?;
    if !status.success() {
        bail!("the plot script failed ({status})");
    }
    Ok(())
}

/// The plot, as a python3 script reading the CSV that [`soak`] writes.
const PLOT_SCRIPT: &str = r#"
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

csv_path, png_path, minutes = sys.argv[1], sys.argv[2], sys.argv[3]
rows = list(csv.DictReader(open(csv_path)))
t = [float(r["seconds"]) / 60 for r in rows]
rss = [int(r["rss_kib"]) / 1024 for r in rows]
members = [int(r["members"]) for r in rows]
rooms = [int(r["rooms"]) for r in rows]
load_end = max((float(r["seconds"]) / 60 for r in rows if r["phase"] == "load"), default=0)

fig, left = plt.subplots(figsize=(9, 4.5), dpi=110)
left.plot(t, rss, color="tab:red", label="relay RSS (MiB)")
left.set_xlabel("minutes")
left.set_ylabel("resident set size (MiB)")
left.set_ylim(bottom=0, top=max(rss) * 1.25)
right = left.twinx()
right.plot(t, members, color="tab:blue", alpha=0.6, label="members")
right.plot(t, rooms, color="tab:green", alpha=0.6, label="rooms")
right.set_ylabel("live members and rooms")
right.set_ylim(bottom=0, top=max(members + [1]) * 1.25)
left.axvline(load_end, color="grey", linestyle="--", linewidth=1)
left.text(load_end, max(rss) * 1.18, " load stops", color="grey", fontsize=8)
lines = left.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
labels = left.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
left.legend(lines, labels, loc="lower right", fontsize=8)
plt.title(f"Sanctum relay soak: {minutes} minutes of joins, leaves, broadcasts, purges and expiries")
fig.tight_layout()
fig.savefig(png_path)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_options() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let options = Options::parse(&args(&["--minutes", "30"])).expect("valid");
        assert_eq!((options.minutes, options.slots, options.png), (30, DEFAULT_SLOTS, None));
        assert!(Options::parse(&args(&[])).is_err());
        assert!(Options::parse(&args(&["--minutes", "0"])).is_err());
        assert!(Options::parse(&args(&["--seconds", "5"])).is_err());
    }

    #[test]
    fn reads_the_gauges_of_the_metrics_contract() {
        let text = "# TYPE sanctum_connections gauge\nsanctum_connections 7\nsanctum_rooms 2\n\
                    sanctum_members 5\nsanctum_tombstones 1\nsanctum_queued_bytes 0\nsanctum_rooms_created_total 9\n";
        assert_eq!(
            Gauges::of(&Metrics::parse(text)),
            Gauges {
                connections: 7,
                rooms: 2,
                members: 5,
                tombstones: 1,
                queued_bytes: 0,
                rooms_created: 9
            }
        );
    }
}
