//! What the receivers count, and the report a run produces from it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::payload::Delivery;

/// Largest latency the histograms hold, in nanoseconds; anything slower is clamped to it.
const MAX_LATENCY_NS: u64 = 120_000_000_000;

/// Latency histograms shared by the receivers, split in shards so that receivers rarely wait for one another.
#[derive(Debug)]
pub(crate) struct LatencyShards {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl LatencyShards {
    pub(crate) fn new(count: usize) -> Self {
        let shards = (0..count.max(1)).map(|_| Mutex::new(new_histogram())).collect();
        Self { shards }
    }

    /// Records one latency in nanoseconds in the shard of receiver `receiver`.
    pub(crate) fn record(&self, receiver: usize, latency_ns: u64) {
        let shard = &self.shards[receiver % self.shards.len()];
        let mut histogram = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        histogram.saturating_record(latency_ns.clamp(1, MAX_LATENCY_NS));
    }

    /// All shards merged into one histogram.
    pub(crate) fn merged(&self) -> Histogram<u64> {
        let mut merged = new_histogram();
        for shard in &self.shards {
            let histogram = shard.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            // Every shard has the same bounds as `merged`, so adding cannot fail.
            let _ = merged.add(&*histogram);
        }
        merged
    }
}

fn new_histogram() -> Histogram<u64> {
    // Three significant figures from 1 ns to two minutes.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("constant histogram bounds are valid")
}

/// One receiver's view of the senders in its room.
#[derive(Debug, Default)]
pub(crate) struct ReceiverStats {
    /// Per sender index: one past the highest sequence number seen.
    pub(crate) next: Vec<u64>,
    /// Per sender index: payloads received.
    pub(crate) received: Vec<u64>,
    /// Payloads that arrived after a later payload from the same sender.
    pub(crate) reordered: u64,
    /// Payloads whose relayed sender id does not match the sender named inside the payload.
    pub(crate) misattributed: u64,
    /// Payloads whose length differs from what was sent.
    pub(crate) wrong_size: u64,
    /// Text that was neither one of our payloads nor a valid relay frame.
    pub(crate) garbled: u64,
    /// Error frames, close codes and other unexpected events, by name.
    pub(crate) events: BTreeMap<String, u64>,
    /// Whether the connection ended before the run stopped reading.
    pub(crate) disconnected: bool,
}

impl ReceiverStats {
    pub(crate) fn new(members: usize) -> Self {
        Self {
            next: vec![0; members],
            received: vec![0; members],
            ..Self::default()
        }
    }

    /// Counts one delivery and returns the sender's index and the new acknowledged position, if the sender is known.
    pub(crate) fn record(
        &mut self,
        delivery: &Delivery,
        expected_from: Option<u32>,
        payload_len: usize,
    ) -> Option<(usize, u64)> {
        let sender = delivery.header.sender as usize;
        if sender >= self.next.len() {
            self.garbled += 1;
            return None;
        }
        if expected_from != Some(delivery.from) {
            self.misattributed += 1;
        }
        if delivery.payload_len != payload_len {
            self.wrong_size += 1;
        }
        self.received[sender] += 1;
        let seq = delivery.header.seq;
        if seq < self.next[sender] {
            self.reordered += 1;
        } else {
            self.next[sender] = seq + 1;
        }
        Some((sender, self.next[sender]))
    }

    pub(crate) fn event(&mut self, name: String) {
        *self.events.entry(name).or_default() += 1;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    /// Payloads whose latency was recorded (those sent inside the measurement window).
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Slowest.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

impl Latency {
    pub(crate) fn from_histogram(histogram: &Histogram<u64>) -> Self {
        let us = |ns: u64| ns as f64 / 1000.0;
        if histogram.is_empty() {
            return Self::default();
        }
        Self {
            count: histogram.len(),
            p50_us: us(histogram.value_at_quantile(0.5)),
            p99_us: us(histogram.value_at_quantile(0.99)),
            p999_us: us(histogram.value_at_quantile(0.999)),
            max_us: us(histogram.max()),
            mean_us: histogram.mean() / 1000.0,
        }
    }
}

/// Everything one load generator process measured in one run; printed as one JSON line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// `idle`, `saturated` or `rate`.
    pub mode: String,
    /// Rooms this process made.
    pub rooms: usize,
    /// Members in each room.
    pub members: usize,
    /// Connections this process held.
    pub connections: usize,
    /// Payload size in bytes.
    pub payload_bytes: usize,
    /// Messages each sender may have in flight (saturated runs).
    pub window: Option<u64>,
    /// Aggregate broadcasts per second across this process (rate runs).
    pub rate: Option<f64>,
    /// Seconds spent connecting, creating and joining.
    pub setup_secs: f64,
    /// Length of the measurement window in seconds.
    pub window_secs: f64,
    /// Broadcasts sent in the whole run.
    pub sent: u64,
    /// Broadcasts sent inside the measurement window.
    pub window_sent: u64,
    /// Deliveries the run expected: every broadcast, once to every other member of its room.
    pub expected: u64,
    /// Deliveries received in the whole run.
    pub delivered: u64,
    /// Deliveries received inside the measurement window.
    pub window_delivered: u64,
    /// Deliveries per second inside the measurement window.
    pub deliveries_per_sec: f64,
    /// Expected deliveries that never arrived, counted per sender and receiver.
    pub lost: u64,
    /// Deliveries that arrived after a later one from the same sender.
    pub reordered: u64,
    /// Deliveries attributed by the server to the wrong sender.
    pub misattributed: u64,
    /// Deliveries whose payload length changed on the way.
    pub wrong_size: u64,
    /// Messages that were neither our payloads nor valid relay frames.
    pub garbled: u64,
    /// Connections that ended before the run stopped reading.
    pub disconnected: u64,
    /// Error frames, close codes and other unexpected events, by name.
    pub events: BTreeMap<String, u64>,
    /// Latency of payloads sent inside the measurement window.
    pub latency: Latency,
    /// CPU seconds this load generator process used inside the measurement window, when the system says.
    pub loadgen_cpu_secs: Option<f64>,
}

impl Report {
    /// Whether every expected delivery arrived once, in order, intact and from the right sender.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.reordered == 0
            && self.misattributed == 0
            && self.wrong_size == 0
            && self.garbled == 0
            && self.disconnected == 0
            && self.delivered == self.expected
    }
}

/// CPU seconds (user plus system) this process has used, from `/proc/self/stat`; `None` where there is no procfs.
pub(crate) fn own_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields are counted after the command name's closing parenthesis: utime and stime are the 12th and 13th after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // Linux reports these in USER_HZ, which is 100 on every architecture it exports to user space.
    Some(ticks / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Header;

    fn delivery(sender: u32, seq: u64, from: u32) -> Delivery {
        Delivery {
            from,
            header: Header {
                sender,
                seq,
                sent_ns: 0,
            },
            payload_len: 1024,
        }
    }

    #[test]
    fn late_arrivals_count_as_reordered_and_gaps_as_not_received() {
        let mut stats = ReceiverStats::new(3);
        for seq in [0, 1, 3, 2, 4] {
            stats.record(&delivery(1, seq, 2), Some(2), 1024);
        }
        assert_eq!(stats.reordered, 1);
        assert_eq!(stats.received[1], 5);
        assert_eq!(stats.next[1], 5);
        stats.record(&delivery(2, 0, 1), Some(3), 1000);
        assert_eq!((stats.misattributed, stats.wrong_size), (1, 1));
        assert!(stats.record(&delivery(9, 0, 1), None, 1024).is_none());
        assert_eq!(stats.garbled, 1);
    }

    #[test]
    fn own_cpu_time_is_read() {
        assert!(own_cpu_seconds().is_some_and(|secs| secs >= 0.0));
    }

    #[test]
    fn latency_shards_merge() {
        let shards = LatencyShards::new(4);
        for (receiver, ns) in [(0, 1_000), (1, 2_000), (2, 3_000), (7, 4_000_000)] {
            shards.record(receiver, ns);
        }
        let latency = Latency::from_histogram(&shards.merged());
        assert_eq!(latency.count, 4);
        assert!((1.9..2.1).contains(&latency.p50_us), "{latency:?}");
        assert!((3990.0..4010.0).contains(&latency.max_us), "{latency:?}");
    }
}
