//! The telemetry state machine driven through whole exchanges, each answer
//! KIP-714 names checked for what the client does next.

use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::{GetTelemetrySubscriptionsResponse, PushTelemetryResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};
use ferrokafka_telemetry::{
    DEFAULT_PUSH_INTERVAL, TelemetryMachine, TelemetryRequest, TelemetryState,
};

const INTERVAL: Duration = Duration::from_secs(10);
const ID: Uuid = Uuid([3; 16]);

fn subscription(metrics: &[&str]) -> GetTelemetrySubscriptionsResponse {
    GetTelemetrySubscriptionsResponse {
        client_instance_id: ID,
        subscription_id: 7,
        accepted_compression_types: vec![0],
        push_interval_ms: INTERVAL.as_millis() as i32,
        telemetry_max_bytes: 1 << 20,
        delta_temporality: true,
        requested_metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
        ..Default::default()
    }
}

fn push_answer(code: ErrorCode) -> PushTelemetryResponse {
    PushTelemetryResponse {
        error_code: code.code(),
        ..Default::default()
    }
}

/// A machine that fetched a producer subscription at `t0` and whose first
/// push (no jitter: half an interval) is due at `t0 + INTERVAL / 2`.
fn subscribed(t0: Instant) -> TelemetryMachine {
    let mut m = TelemetryMachine::new(true);
    assert_eq!(
        m.poll_request(t0),
        Some(TelemetryRequest::GetSubscriptions {
            client_instance_id: Uuid::ZERO
        })
    );
    m.on_subscriptions(t0, &subscription(&["org.apache.kafka.producer."]), 0.0);
    assert_eq!(m.state(), TelemetryState::PushNeeded);
    m
}

fn push_now(m: &mut TelemetryMachine, now: Instant) -> (i32, bool) {
    match m.poll_request(now) {
        Some(TelemetryRequest::Push {
            subscription,
            terminating,
        }) => (subscription.subscription_id, terminating),
        other => panic!("expected a push at {now:?}, got {other:?}"),
    }
}

#[test]
fn disabled_machine_sends_nothing() {
    let now = Instant::now();
    let mut m = TelemetryMachine::new(false);
    assert_eq!(m.poll_request(now), None);
    assert_eq!(m.next_deadline(now), None);
    assert!(!m.initiate_close());
}

#[test]
fn subscribes_then_pushes_on_the_interval() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    assert_eq!(m.client_instance_id(), Some(ID));
    // Jitter 0 puts the first push at half the interval.
    assert_eq!(m.next_deadline(t0), Some(t0 + INTERVAL / 2));
    assert_eq!(m.poll_request(t0 + INTERVAL / 4), None);
    let t1 = t0 + INTERVAL / 2;
    assert_eq!(push_now(&mut m, t1), (7, false));
    assert_eq!(
        m.next_deadline(t1),
        None,
        "nothing is due while a push is in flight"
    );
    m.on_push(t1, &push_answer(ErrorCode::None));
    assert_eq!(m.next_deadline(t1), Some(t1 + INTERVAL));
    assert_eq!(push_now(&mut m, t1 + INTERVAL), (7, false));
}

#[test]
fn jitter_spreads_the_first_push() {
    let t0 = Instant::now();
    let mut m = TelemetryMachine::new(true);
    m.poll_request(t0);
    m.on_subscriptions(t0, &subscription(&[""]), 0.9);
    assert_eq!(m.next_deadline(t0), Some(t0 + INTERVAL.mul_f64(1.4)));
}

#[test]
fn an_empty_subscription_is_asked_again_after_the_interval() {
    let t0 = Instant::now();
    let mut m = TelemetryMachine::new(true);
    m.poll_request(t0);
    m.on_subscriptions(t0, &subscription(&[]), 0.0);
    assert_eq!(m.state(), TelemetryState::SubscriptionNeeded);
    assert_eq!(m.poll_request(t0 + INTERVAL / 2), None);
    assert_eq!(
        m.poll_request(t0 + INTERVAL),
        Some(TelemetryRequest::GetSubscriptions {
            client_instance_id: ID
        }),
        "the assigned instance id is sent back"
    );
}

#[test]
fn unknown_subscription_refetches_at_once() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    let t1 = t0 + INTERVAL;
    push_now(&mut m, t1);
    m.on_push(t1, &push_answer(ErrorCode::UnknownSubscriptionId));
    assert_eq!(
        m.poll_request(t1),
        Some(TelemetryRequest::GetSubscriptions {
            client_instance_id: ID
        })
    );
}

#[test]
fn too_large_and_throttled_refetch_after_the_interval() {
    for code in [
        ErrorCode::TelemetryTooLarge,
        ErrorCode::ThrottlingQuotaExceeded,
    ] {
        let t0 = Instant::now();
        let mut m = subscribed(t0);
        let t1 = t0 + INTERVAL;
        push_now(&mut m, t1);
        m.on_push(t1, &push_answer(code));
        assert_eq!(m.state(), TelemetryState::SubscriptionNeeded, "{code:?}");
        assert_eq!(m.poll_request(t1 + INTERVAL / 2), None, "{code:?}");
        assert!(m.poll_request(t1 + INTERVAL).is_some(), "{code:?}");
    }
}

#[test]
fn throttle_time_delays_the_next_push() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    let t1 = t0 + INTERVAL;
    push_now(&mut m, t1);
    let mut answer = push_answer(ErrorCode::None);
    answer.throttle_time_ms = 30_000;
    m.on_push(t1, &answer);
    assert_eq!(m.next_deadline(t1), Some(t1 + Duration::from_secs(30)));
}

#[test]
fn unfixable_errors_stop_telemetry() {
    for code in [
        ErrorCode::InvalidRecord,
        ErrorCode::InvalidRequest,
        ErrorCode::UnsupportedVersion,
    ] {
        let t0 = Instant::now();
        let mut m = subscribed(t0);
        push_now(&mut m, t0 + INTERVAL);
        m.on_push(t0 + INTERVAL, &push_answer(code));
        assert!(!m.is_enabled(), "{code:?}");
        assert_eq!(m.poll_request(t0 + INTERVAL * 100), None, "{code:?}");
        assert_eq!(m.next_deadline(t0), None, "{code:?}");
    }
}

#[test]
fn subscription_errors_are_handled_as_push_errors() {
    let t0 = Instant::now();
    let mut m = TelemetryMachine::new(true);
    m.poll_request(t0);
    let mut refused = subscription(&[""]);
    refused.error_code = ErrorCode::InvalidRequest.code();
    m.on_subscriptions(t0, &refused, 0.0);
    assert!(!m.is_enabled());
    assert_eq!(m.subscription(), None);
}

#[test]
fn a_broker_without_the_api_stops_telemetry() {
    let t0 = Instant::now();
    let mut m = TelemetryMachine::new(true);
    m.poll_request(t0);
    m.on_request_failed(t0, true);
    assert!(!m.is_enabled());
    assert_eq!(m.poll_request(t0 + DEFAULT_PUSH_INTERVAL * 2), None);
}

#[test]
fn a_lost_connection_retries_after_the_default_interval() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    push_now(&mut m, t0 + INTERVAL);
    m.on_request_failed(t0 + INTERVAL, false);
    assert!(m.is_enabled());
    assert_eq!(
        m.next_deadline(t0),
        Some(t0 + INTERVAL + DEFAULT_PUSH_INTERVAL)
    );
    assert!(matches!(
        m.poll_request(t0 + INTERVAL + DEFAULT_PUSH_INTERVAL),
        Some(TelemetryRequest::GetSubscriptions { .. })
    ));
}

#[test]
fn close_sends_one_terminating_push_at_once() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    assert!(m.initiate_close());
    // Due now, not at the end of the interval.
    assert_eq!(m.next_deadline(t0), Some(t0));
    assert_eq!(push_now(&mut m, t0), (7, true));
    m.on_push(t0, &push_answer(ErrorCode::None));
    assert_eq!(m.state(), TelemetryState::Terminated);
    assert_eq!(m.poll_request(t0 + INTERVAL * 10), None);
}

#[test]
fn close_while_a_push_is_in_flight_still_terminates_with_a_push() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    push_now(&mut m, t0 + INTERVAL);
    assert!(m.initiate_close());
    // The answer to the earlier push does not undo the close.
    m.on_push(t0 + INTERVAL, &push_answer(ErrorCode::None));
    assert_eq!(m.state(), TelemetryState::TerminatingPushNeeded);
    assert_eq!(push_now(&mut m, t0 + INTERVAL), (7, true));
    m.on_request_failed(t0 + INTERVAL, false);
    assert_eq!(m.state(), TelemetryState::Terminated);
}

#[test]
fn close_before_any_subscription_sends_nothing() {
    let t0 = Instant::now();
    let mut m = TelemetryMachine::new(true);
    m.poll_request(t0);
    assert!(!m.initiate_close());
    // The subscription that arrives afterwards is ignored.
    m.on_subscriptions(t0, &subscription(&[""]), 0.0);
    assert_eq!(m.state(), TelemetryState::Terminated);
    assert_eq!(m.poll_request(t0), None);
}

#[test]
fn a_push_that_cannot_be_built_waits_for_the_next_interval() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    let t1 = t0 + INTERVAL;
    push_now(&mut m, t1);
    m.on_push_not_sent(t1);
    assert_eq!(m.state(), TelemetryState::PushNeeded);
    assert_eq!(m.next_deadline(t1), Some(t1 + INTERVAL));
}

#[test]
fn a_temporality_switch_is_reported_once() {
    let t0 = Instant::now();
    let mut m = subscribed(t0);
    assert!(!m.take_temporality_changed());
    push_now(&mut m, t0 + INTERVAL);
    m.on_push(
        t0 + INTERVAL,
        &push_answer(ErrorCode::UnknownSubscriptionId),
    );
    m.poll_request(t0 + INTERVAL);
    let mut cumulative = subscription(&[""]);
    cumulative.delta_temporality = false;
    m.on_subscriptions(t0 + INTERVAL, &cumulative, 0.0);
    assert!(m.take_temporality_changed());
    assert!(!m.take_temporality_changed());
}
