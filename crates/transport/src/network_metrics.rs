//! What the cluster client counts of its own traffic: requests, responses,
//! connections, and each broker's request latency. These are the metrics
//! the Java client's network layer (its `Selector`) keeps for every client
//! (`<client>-metrics` and, per broker, `<client>-node-metrics`); the admin
//! client, which has no other metrics, reports them as its own.
//!
//! The recorder reads no clock: the cluster client passes `now` in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::metrics::{Meter, SampledStat, WindowConfig, millis};

/// A snapshot of the cluster client's traffic (see
/// [`crate::Client::network_metrics`]). Totals count since the client was
/// made; rates are per second over the last `metrics_num_samples` windows
/// of `metrics_sample_window_ms` (Java's defaults: two of 30 s).
///
/// ```
/// use ferrokafka_transport::NetworkMetrics;
/// let nothing_yet = NetworkMetrics::default();
/// assert_eq!(nothing_yet.request_total, 0);
/// assert!(nothing_yet.nodes.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkMetrics {
    /// Connections open now (`connection-count`).
    pub connection_count: u64,
    /// Connections opened (`connection-creation-total`).
    pub connection_creation_total: u64,
    /// Connections opened per second (`connection-creation-rate`).
    pub connection_creation_rate: f64,
    /// Connections the client closed: idle, replaced, or found closed
    /// (`connection-close-total`).
    pub connection_close_total: u64,
    /// Connections closed per second (`connection-close-rate`).
    pub connection_close_rate: f64,
    /// Requests sent (`request-total`).
    pub request_total: u64,
    /// Requests sent per second (`request-rate`).
    pub request_rate: f64,
    /// Responses received (`response-total`).
    pub response_total: u64,
    /// Responses received per second (`response-rate`).
    pub response_rate: f64,
    /// The same, per broker by node id (`<client>-node-metrics`, tagged
    /// `node-id=node-<id>`). Requests to a bootstrap server before the
    /// metadata named its node count only in the totals above.
    pub nodes: BTreeMap<i32, NodeMetrics>,
}

/// One broker's share of [`NetworkMetrics`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMetrics {
    /// Requests sent to it (`request-total`).
    pub request_total: u64,
    /// Requests sent to it per second (`request-rate`).
    pub request_rate: f64,
    /// Responses it gave (`response-total`).
    pub response_total: u64,
    /// Responses it gave per second (`response-rate`).
    pub response_rate: f64,
    /// Mean time from sending a request to its response, in ms
    /// (`request-latency-avg`).
    pub request_latency_avg_ms: f64,
    /// Longest such time, in ms (`request-latency-max`).
    pub request_latency_max_ms: f64,
}

#[derive(Debug, Default)]
struct NodeRecorder {
    requests: Meter,
    responses: Meter,
    latency: SampledStat,
}

/// Records the traffic; held by the cluster client behind a lock.
#[derive(Debug, Default)]
pub(crate) struct NetworkRecorder {
    window: WindowConfig,
    created: Meter,
    closed: Meter,
    requests: Meter,
    responses: Meter,
    nodes: BTreeMap<i32, NodeRecorder>,
}

impl NetworkRecorder {
    pub(crate) fn connection_created(&mut self, now: Instant) {
        self.created.record(&self.window, 1, now);
    }

    pub(crate) fn connection_closed(&mut self, now: Instant) {
        self.closed.record(&self.window, 1, now);
    }

    pub(crate) fn request_sent(&mut self, node: Option<i32>, now: Instant) {
        self.requests.record(&self.window, 1, now);
        if let Some(node) = node {
            let window = self.window;
            self.nodes
                .entry(node)
                .or_default()
                .requests
                .record(&window, 1, now);
        }
    }

    /// A response to a request sent `waited` ago.
    pub(crate) fn response_received(&mut self, node: Option<i32>, waited: Duration, now: Instant) {
        self.responses.record(&self.window, 1, now);
        if let Some(node) = node {
            let window = self.window;
            let recorder = self.nodes.entry(node).or_default();
            recorder.responses.record(&window, 1, now);
            recorder.latency.record(&window, millis(waited), now);
        }
    }

    pub(crate) fn snapshot(&mut self, connection_count: usize, now: Instant) -> NetworkMetrics {
        let window = self.window;
        let (connection_creation_total, connection_creation_rate) = self.created.read(&window, now);
        let (connection_close_total, connection_close_rate) = self.closed.read(&window, now);
        let (request_total, request_rate) = self.requests.read(&window, now);
        let (response_total, response_rate) = self.responses.read(&window, now);
        let nodes = self
            .nodes
            .iter_mut()
            .map(|(&node, recorder)| {
                let (request_total, request_rate) = recorder.requests.read(&window, now);
                let (response_total, response_rate) = recorder.responses.read(&window, now);
                let metrics = NodeMetrics {
                    request_total,
                    request_rate,
                    response_total,
                    response_rate,
                    request_latency_avg_ms: recorder.latency.avg(&window, now),
                    request_latency_max_ms: recorder.latency.max(&window, now),
                };
                (node, metrics)
            })
            .collect();
        NetworkMetrics {
            connection_count: connection_count as u64,
            connection_creation_total,
            connection_creation_rate,
            connection_close_total,
            connection_close_rate,
            request_total,
            request_rate,
            response_total,
            response_rate,
            nodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_count_in_the_totals_and_under_their_node() {
        let start = Instant::now();
        let mut recorder = NetworkRecorder::default();
        recorder.connection_created(start);
        recorder.request_sent(None, start);
        recorder.response_received(None, Duration::from_millis(1), start);
        recorder.request_sent(Some(2), start);
        recorder.request_sent(Some(2), start);
        recorder.response_received(Some(2), Duration::from_millis(4), start);
        recorder.response_received(Some(2), Duration::from_millis(8), start);
        recorder.connection_closed(start);
        let metrics = recorder.snapshot(1, start + Duration::from_secs(1));
        assert_eq!(metrics.connection_count, 1);
        assert_eq!(metrics.connection_creation_total, 1);
        assert_eq!(metrics.connection_close_total, 1);
        assert_eq!((metrics.request_total, metrics.response_total), (3, 3));
        // Three requests over the 30 s a first window counts as (Java's
        // missing samples make the span one window at least).
        assert!(
            (metrics.request_rate - 3.0 / 31.0).abs() < 1e-9,
            "{metrics:?}"
        );
        let node = &metrics.nodes[&2];
        assert_eq!((node.request_total, node.response_total), (2, 2));
        assert!((node.request_latency_avg_ms - 6.0).abs() < 1e-9);
        assert!((node.request_latency_max_ms - 8.0).abs() < 1e-9);
        assert_eq!(metrics.nodes.len(), 1, "a bootstrap server is no node");
    }
}
