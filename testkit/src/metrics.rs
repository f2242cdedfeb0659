//! The relay's `/metrics` in Prometheus text form, parsed once for every test that reads a counter or a gauge.

use std::collections::HashMap;

/// Samples of the relay's `/metrics`, by sample name with labels (`sanctum_rejections_total{code="bad_frame"}`).
#[derive(Debug, Clone, Default)]
pub struct Metrics(pub HashMap<String, f64>);

/// The gauges that hold the relay's live state; each must come back to its baseline after a hostile input.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    /// `sanctum_connections`.
    pub connections: f64,
    /// `sanctum_rooms`.
    pub rooms: f64,
    /// `sanctum_members`.
    pub members: f64,
    /// `sanctum_queued_bytes`.
    pub queued_bytes: f64,
    /// `sanctum_tombstones`.
    pub tombstones: f64,
}

impl Metrics {
    /// Parses Prometheus text: one `name value` sample per line, comments skipped.
    pub fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Self(samples)
    }

    /// One sample, or zero when absent (a counter the relay has not labelled yet).
    pub fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// One sample that must be present and a whole number, or a panic naming it.
    pub fn value(&self, name: &str) -> i64 {
        match self.0.get(name) {
            Some(value) if value.fract() == 0.0 => *value as i64,
            Some(value) => panic!("sample {name} is {value}, not a whole number"),
            None => panic!("no sample {name} in /metrics"),
        }
    }

    /// The count of refusals with wire code `code`.
    pub fn rejections(&self, code: &str) -> f64 {
        self.get(&format!("sanctum_rejections_total{{code=\"{code}\"}}"))
    }

    /// The live-state gauges.
    pub fn gauges(&self) -> Gauges {
        Gauges {
            connections: self.get("sanctum_connections"),
            rooms: self.get("sanctum_rooms"),
            members: self.get("sanctum_members"),
            queued_bytes: self.get("sanctum_queued_bytes"),
            tombstones: self.get("sanctum_tombstones"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP sanctum_rooms Live rooms.\n# TYPE sanctum_rooms gauge\nsanctum_rooms 3\n\
                        sanctum_rejections_total{code=\"bad_frame\"} 2\nsanctum_round_trip_seconds 0.25\n";

    #[test]
    fn samples_are_read_by_name_with_labels() {
        let metrics = Metrics::parse(TEXT);
        assert_eq!(metrics.value("sanctum_rooms"), 3);
        assert_eq!(metrics.rejections("bad_frame"), 2.0);
        assert_eq!(metrics.get("sanctum_members"), 0.0);
        assert_eq!(metrics.gauges().rooms, 3.0);
    }

    #[test]
    #[should_panic(expected = "no sample sanctum_members")]
    fn a_missing_sample_fails_a_test_that_needs_it() {
        Metrics::parse(TEXT).value("sanctum_members");
    }

    #[test]
    #[should_panic(expected = "not a whole number")]
    fn a_fraction_is_not_read_as_a_count() {
        Metrics::parse(TEXT).value("sanctum_round_trip_seconds");
    }
}
