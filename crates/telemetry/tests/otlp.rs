//! The push payload: the client's points as OTLP, decoded back with the
//! same generated messages, for both temporalities and every codec.

use ferrokafka_records::Compression;
use ferrokafka_telemetry::otlp_metrics::{
    AggregationTemporality, MetricsData, metric::Data, number_data_point::Value,
};
use ferrokafka_telemetry::{
    MetricPoint, MetricSelector, MetricValue, MetricsEncoder, PayloadError, payload, telemetry_name,
};
use prost::Message;

const SEC: u64 = 1_000_000_000;

fn points(sent: u64, rate: f64) -> Vec<MetricPoint> {
    vec![
        MetricPoint::new(
            telemetry_name("producer-metrics", "record-send-total"),
            MetricValue::Counter(sent),
        )
        .with_attribute("client_id", "p1"),
        MetricPoint::new(
            telemetry_name("producer-metrics", "record-send-rate"),
            MetricValue::Gauge(rate),
        ),
        MetricPoint::new(
            telemetry_name("consumer-fetch-manager-metrics", "fetch-total"),
            MetricValue::Counter(5),
        ),
    ]
}

fn producer_only() -> MetricSelector {
    MetricSelector::from_requested(&["org.apache.kafka.producer.".into()])
}

/// The one metric named `name`: its value, start time and temporality.
fn find(data: &MetricsData, name: &str) -> (Value, u64, Option<AggregationTemporality>) {
    let metric = data.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} missing"));
    match metric.data.as_ref().unwrap() {
        Data::Sum(sum) => {
            assert!(sum.is_monotonic);
            let p = &sum.data_points[0];
            (
                p.value.unwrap(),
                p.start_time_unix_nano,
                AggregationTemporality::try_from(sum.aggregation_temporality).ok(),
            )
        }
        Data::Gauge(gauge) => (gauge.data_points[0].value.unwrap(), 0, None),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn selector_keeps_only_the_subscribed_prefix() {
    let mut encoder = MetricsEncoder::new(SEC);
    let data = encoder.encode(&points(10, 2.5), &producer_only(), false, 2 * SEC);
    let names: Vec<_> = data.resource_metrics[0].scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "org.apache.kafka.producer.record.send.total",
            "org.apache.kafka.producer.record.send.rate"
        ]
    );
    let attrs = &data.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(Data::Sum(sum)) = &attrs.data else {
        panic!("a counter is a sum")
    };
    assert_eq!(sum.data_points[0].attributes[0].key, "client_id");
}

#[test]
fn cumulative_counters_count_from_the_start() {
    let mut encoder = MetricsEncoder::new(SEC);
    encoder.encode(&points(10, 1.0), &producer_only(), false, 2 * SEC);
    let data = encoder.encode(&points(25, 1.5), &producer_only(), false, 3 * SEC);
    assert_eq!(
        find(&data, "org.apache.kafka.producer.record.send.total"),
        (
            Value::AsInt(25),
            SEC,
            Some(AggregationTemporality::Cumulative)
        )
    );
    assert_eq!(
        find(&data, "org.apache.kafka.producer.record.send.rate").0,
        Value::AsDouble(1.5)
    );
}

#[test]
fn delta_counters_count_since_the_last_push() {
    let mut encoder = MetricsEncoder::new(SEC);
    let first = encoder.encode(&points(10, 1.0), &producer_only(), true, 2 * SEC);
    assert_eq!(
        find(&first, "org.apache.kafka.producer.record.send.total"),
        (Value::AsInt(10), SEC, Some(AggregationTemporality::Delta))
    );
    let second = encoder.encode(&points(25, 1.0), &producer_only(), true, 3 * SEC);
    assert_eq!(
        find(&second, "org.apache.kafka.producer.record.send.total"),
        (
            Value::AsInt(15),
            2 * SEC,
            Some(AggregationTemporality::Delta)
        )
    );
    encoder.reset();
    let after_reset = encoder.encode(&points(30, 1.0), &producer_only(), true, 4 * SEC);
    assert_eq!(
        find(&after_reset, "org.apache.kafka.producer.record.send.total"),
        (Value::AsInt(30), SEC, Some(AggregationTemporality::Delta))
    );
}

#[test]
fn payload_round_trips_through_every_codec() {
    let mut encoder = MetricsEncoder::new(SEC);
    let data = encoder.encode(
        &points(10, 1.0),
        &MetricSelector::Everything,
        false,
        2 * SEC,
    );
    for compression in Compression::ALL {
        let bytes = payload(&data, compression, 1 << 20).unwrap();
        let raw = ferrokafka_records::decompress(compression, &bytes, 1 << 20).unwrap();
        assert_eq!(
            MetricsData::decode(raw.as_slice()).unwrap(),
            data,
            "{compression}"
        );
    }
}

#[test]
fn payload_over_the_limit_is_refused() {
    let mut encoder = MetricsEncoder::new(SEC);
    let data = encoder.encode(
        &points(10, 1.0),
        &MetricSelector::Everything,
        false,
        2 * SEC,
    );
    let err = payload(&data, Compression::None, 16).unwrap_err();
    assert!(
        matches!(err, PayloadError::TooLarge { max: 16, .. }),
        "{err}"
    );
}
