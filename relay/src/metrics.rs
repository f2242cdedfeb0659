//! Counters and gauges of the relay, rendered as Prometheus text on `/metrics`.
//!
//! Only totals are kept: nothing here names a room, a member or an address.
//! Atomics with relaxed ordering suffice, since every value is read on its own.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use sanctum_protocol::{ErrorCode, PurgeReason};

/// The relay's counters and gauges; the metric names are a contract with the tests and the benchmark.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) connections: AtomicI64,
    pub(crate) rooms: AtomicI64,
    pub(crate) tombstones: AtomicI64,
    pub(crate) members: AtomicI64,
    pub(crate) queued_bytes: AtomicI64,
    pub(crate) frames_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) slow_readers: AtomicU64,
    pub(crate) rooms_created: AtomicU64,
    pub(crate) rooms_locked: AtomicU64,
    rooms_purged: AtomicU64,
    rooms_expired: AtomicU64,
    rejections: [AtomicU64; ErrorCode::ALL.len()],
    pub(crate) upgrades_refused_relay: AtomicU64,
    pub(crate) upgrades_refused_address: AtomicU64,
    /// 1 while the Redis backplane answers, 0 while it is lost or not configured.
    pub(crate) backplane_up: AtomicI64,
    pub(crate) backplane_published: AtomicU64,
    pub(crate) backplane_received: AtomicU64,
    pub(crate) backplane_reconnects: AtomicU64,
    pub(crate) backplane_reaped: AtomicU64,
    /// Round trips of this relay's own requests to Redis.
    pub(crate) backplane_rtt: Histogram,
}

/// The upper bounds, in seconds, of the round-trip histogram's buckets: from a Redis next door to one that stalls
/// toward the 2 s command deadline.
const RTT_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A Prometheus histogram of durations with the fixed bounds [`RTT_BOUNDS`], in atomics.
#[derive(Debug, Default)]
pub(crate) struct Histogram {
    /// Observations per bucket, not cumulative; the last one is past every bound.
    buckets: [AtomicU64; RTT_BOUNDS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Counts one observation of `elapsed`.
    pub(crate) fn observe(&self, elapsed: std::time::Duration) {
        let seconds = elapsed.as_secs_f64();
        let index = RTT_BOUNDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(RTT_BOUNDS.len());
        add(&self.buckets[index], 1);
        add(&self.sum_micros, u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        add(&self.count, 1);
    }

    /// Writes the histogram as `name` in the text exposition format.
    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, bucket) in self.buckets.iter().enumerate() {
            cumulative += bucket.load(Ordering::Relaxed);
            match RTT_BOUNDS.get(i) {
                Some(bound) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
                }
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_sum {sum}\n{name}_count {}",
            self.count.load(Ordering::Relaxed)
        );
    }
}

/// Adds `n` to a counter or gauge.
pub(crate) fn add(metric: &AtomicU64, n: u64) {
    metric.fetch_add(n, Ordering::Relaxed);
}

/// Moves a gauge by `delta`.
pub(crate) fn shift(gauge: &AtomicI64, delta: i64) {
    gauge.fetch_add(delta, Ordering::Relaxed);
}

impl Metrics {
    /// Counts one refused frame under its code.
    pub(crate) fn reject(&self, code: ErrorCode) {
        if let Some(index) = ErrorCode::ALL.iter().position(|c| *c == code) {
            add(&self.rejections[index], 1);
        }
    }

    /// Counts a room that ended, by why it ended.
    pub(crate) fn room_ended(&self, reason: PurgeReason) {
        match reason {
            PurgeReason::Purged => add(&self.rooms_purged, 1),
            PurgeReason::Expired => add(&self.rooms_expired, 1),
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let gauges = [
            ("sanctum_connections", "Open WebSocket connections.", &self.connections),
            ("sanctum_rooms", "Live rooms.", &self.rooms),
            (
                "sanctum_tombstones",
                "Purged room ids refused until their expiry.",
                &self.tombstones,
            ),
            ("sanctum_members", "Members in all rooms.", &self.members),
            (
                "sanctum_queued_bytes",
                "Bytes waiting in outgoing queues.",
                &self.queued_bytes,
            ),
            (
                "sanctum_backplane_up",
                "1 while the Redis backplane answers, 0 while it is lost or not configured.",
                &self.backplane_up,
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let counters = [
            (
                "sanctum_frames_in_total",
                "Frames received from clients.",
                &self.frames_in,
            ),
            ("sanctum_frames_out_total", "Frames sent to clients.", &self.frames_out),
            (
                "sanctum_bytes_in_total",
                "Bytes of frames received from clients.",
                &self.bytes_in,
            ),
            (
                "sanctum_bytes_out_total",
                "Bytes of frames sent to clients.",
                &self.bytes_out,
            ),
            (
                "sanctum_slow_readers_total",
                "Connections cut off because their queue overflowed.",
                &self.slow_readers,
            ),
            ("sanctum_rooms_created_total", "Rooms created.", &self.rooms_created),
            (
                "sanctum_rooms_locked_total",
                "Locks taken: a room's verifier and descriptor replaced by a member.",
                &self.rooms_locked,
            ),
            (
                "sanctum_backplane_published_total",
                "Frames published to Redis.",
                &self.backplane_published,
            ),
            (
                "sanctum_backplane_received_total",
                "Room events received from Redis.",
                &self.backplane_received,
            ),
            (
                "sanctum_backplane_reconnects_total",
                "Connections to Redis made again after it was lost.",
                &self.backplane_reconnects,
            ),
            (
                "sanctum_backplane_reaped_members_total",
                "Members of dead relays removed by this relay.",
                &self.backplane_reaped,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        self.backplane_rtt.render(
            &mut out,
            "sanctum_backplane_round_trip_seconds",
            "Round trips of this relay's heartbeats, admissions and locks to Redis.",
        );
        out.push_str("# HELP sanctum_rejections_total Frames refused, by error code.\n");
        out.push_str("# TYPE sanctum_rejections_total counter\n");
        for (code, value) in ErrorCode::ALL.iter().zip(&self.rejections) {
            let _ = writeln!(
                out,
                "sanctum_rejections_total{{code=\"{}\"}} {}",
                code.as_str(),
                value.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP sanctum_upgrades_refused_total Upgrades refused before any WebSocket, by the limit reached.\n",
        );
        out.push_str("# TYPE sanctum_upgrades_refused_total counter\n");
        for (limit, value) in [
            ("relay", &self.upgrades_refused_relay),
            ("address", &self.upgrades_refused_address),
        ] {
            let _ = writeln!(
                out,
                "sanctum_upgrades_refused_total{{limit=\"{limit}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP sanctum_rooms_purged_total Rooms ended, by reason.\n");
        out.push_str("# TYPE sanctum_rooms_purged_total counter\n");
        let _ = writeln!(
            out,
            "sanctum_rooms_purged_total{{reason=\"purged\"}} {}",
            self.rooms_purged.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "sanctum_rooms_purged_total{{reason=\"expired\"}} {}",
            self.rooms_expired.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_names_every_metric_of_the_contract() {
        let metrics = Metrics::default();
        metrics.reject(ErrorCode::RoomFull);
        metrics.room_ended(PurgeReason::Expired);
        shift(&metrics.connections, 3);
        let text = metrics.render();
        for line in [
            "sanctum_connections 3",
            "sanctum_rooms 0",
            "sanctum_tombstones 0",
            "sanctum_members 0",
            "sanctum_queued_bytes 0",
            "sanctum_frames_in_total 0",
            "sanctum_frames_out_total 0",
            "sanctum_bytes_in_total 0",
            "sanctum_bytes_out_total 0",
            "sanctum_slow_readers_total 0",
            "sanctum_rooms_created_total 0",
            "sanctum_rooms_locked_total 0",
            "sanctum_rejections_total{code=\"room_full\"} 1",
            "sanctum_rejections_total{code=\"bad_frame\"} 0",
            "sanctum_rooms_purged_total{reason=\"purged\"} 0",
            "sanctum_rooms_purged_total{reason=\"expired\"} 1",
            "sanctum_upgrades_refused_total{limit=\"relay\"} 0",
            "sanctum_upgrades_refused_total{limit=\"address\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}");
        }
    }

    #[test]
    fn round_trips_fill_a_cumulative_histogram() {
        let metrics = Metrics::default();
        for millis in [0, 3, 3, 40, 5_000] {
            metrics.backplane_rtt.observe(std::time::Duration::from_millis(millis));
        }
        let text = metrics.render();
        for line in [
            "# TYPE sanctum_backplane_round_trip_seconds histogram",
            "sanctum_backplane_round_trip_seconds_bucket{le=\"0.0005\"} 1",
            "sanctum_backplane_round_trip_seconds_bucket{le=\"0.0025\"} 1",
            "sanctum_backplane_round_trip_seconds_bucket{le=\"0.005\"} 3",
            "sanctum_backplane_round_trip_seconds_bucket{le=\"0.05\"} 4",
            "sanctum_backplane_round_trip_seconds_bucket{le=\"2.5\"} 4",
            "sanctum_backplane_round_trip_seconds_bucket{le=\"+Inf\"} 5",
            "sanctum_backplane_round_trip_seconds_sum 5.046",
            "sanctum_backplane_round_trip_seconds_count 5",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
