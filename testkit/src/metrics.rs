//! The relay's `/metrics` in Prometheus text form, parsed once for every test that reads a counter or a gauge
//! and for the bench and the soak in `xtask`.
//!
//! The module uses the standard library alone, so that it builds without the kit's default feature `net`.

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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

    /// Reads `/metrics` from the listener at `addr` with one blocking HTTP/1.1 GET, for tools that run no async
    /// runtime; each read and write gives up after `timeout`.
    pub fn scrape(addr: SocketAddr, timeout: Duration) -> io::Result<Self> {
        let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end to the response head"))?;
        let status = head.split_whitespace().nth(1);
        if status != Some("200") {
            return Err(io::Error::other(format!(
                "/metrics answered {}",
                status.unwrap_or("nothing")
            )));
        }
        Ok(Self::parse(body))
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

    /// The sum of a metric's samples over all its labels (`sanctum_rejections_total` over every `code`),
    /// or `None` when the text has no sample of it.
    pub fn total(&self, metric: &str) -> Option<f64> {
        let samples = self.0.iter().filter(|(name, _)| {
            name.strip_prefix(metric)
                .is_some_and(|labels| labels.is_empty() || labels.starts_with('{'))
        });
        samples.fold(None, |sum, (_, value)| Some(sum.unwrap_or(0.0) + value))
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

/// The samples of several relays added sample by sample, as one relay would count them all.
impl std::iter::Sum for Metrics {
    fn sum<I: Iterator<Item = Self>>(relays: I) -> Self {
        let mut sums = HashMap::new();
        for (name, value) in relays.flat_map(|relay| relay.0) {
            *sums.entry(name).or_insert(0.0) += value;
        }
        Self(sums)
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
    fn a_total_sums_a_metric_over_its_labels_and_relays() {
        let text = "sanctum_connections 12\nsanctum_rejections_total{code=\"bad_frame\"} 2\n\
                    sanctum_rejections_total{code=\"room_full\"} 3\nsanctum_rejections_total_extra 100\n";
        let metrics = Metrics::parse(text);
        assert_eq!(metrics.total("sanctum_connections"), Some(12.0));
        assert_eq!(metrics.total("sanctum_rejections_total"), Some(5.0));
        assert_eq!(metrics.total("sanctum_rooms"), None);

        let two_relays: Metrics = [Metrics::parse(text), Metrics::parse(TEXT)].into_iter().sum();
        assert_eq!(two_relays.total("sanctum_rejections_total"), Some(7.0));
        assert_eq!(two_relays.get("sanctum_rooms"), 3.0);
    }

    /// Serves `response` to the first connection on a loopback listener and returns its address.
    fn serve_once(response: &'static str) -> SocketAddr {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            // The whole request is read before the answer, so that closing never resets the connection.
            let mut request = Vec::new();
            let mut byte = [0];
            while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).expect("read") == 1 {
                request.push(byte[0]);
            }
            stream.write_all(response.as_bytes()).expect("respond");
        });
        addr
    }

    #[test]
    fn a_scrape_reads_the_body_of_a_200() {
        let addr = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 99\r\n\r\nsanctum_rooms 3\n");
        let metrics = Metrics::scrape(addr, Duration::from_secs(20)).expect("scrape");
        assert_eq!(metrics.0.len(), 1, "the head is not read as samples: {:?}", metrics.0);
        assert_eq!(metrics.value("sanctum_rooms"), 3);
    }

    #[test]
    fn a_scrape_of_anything_but_a_200_is_an_error() {
        let addr = serve_once("HTTP/1.1 404 Not Found\r\n\r\nsanctum_rooms 3\n");
        let error = Metrics::scrape(addr, Duration::from_secs(20)).expect_err("a 404 is no metrics");
        assert!(error.to_string().contains("404"), "{error}");
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
