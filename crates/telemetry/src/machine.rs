//! The KIP-714 client state machine: when to ask for a subscription, when
//! to push, and what each answer means. No I/O and no clock: every call is
//! given its `now`, and the caller sends the requests this hands out.
//!
//! The transitions and the error handling follow the Java client's
//! `ClientTelemetryReporter` so that a broker operator sees the same
//! behaviour from both clients.

use std::time::{Duration, Instant};

use ferrokafka_protocol::messages::{GetTelemetrySubscriptionsResponse, PushTelemetryResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};

use crate::subscription::{DEFAULT_PUSH_INTERVAL, MetricSelector, Subscription};

/// Where the client is in the telemetry exchange (Java's
/// `ClientTelemetryState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TelemetryState {
    /// A GetTelemetrySubscriptions is due once the wait is over.
    SubscriptionNeeded,
    /// A GetTelemetrySubscriptions is in flight.
    SubscriptionInProgress,
    /// A PushTelemetry is due once the push interval is over.
    PushNeeded,
    /// A PushTelemetry is in flight.
    PushInProgress,
    /// The client is closing; one last push is due now.
    TerminatingPushNeeded,
    /// The last push is in flight.
    TerminatingPushInProgress,
    /// Nothing more will be sent.
    Terminated,
}

/// A request the caller must send to any broker.
#[derive(Debug, Clone, PartialEq)]
pub enum TelemetryRequest {
    /// GetTelemetrySubscriptions with this instance id (zero the first
    /// time, so that the broker assigns one).
    GetSubscriptions {
        /// The id to send.
        client_instance_id: Uuid,
    },
    /// PushTelemetry of the metrics `subscription` selects.
    Push {
        /// The subscription the push answers.
        subscription: Subscription,
        /// Whether this is the last push, sent while closing.
        terminating: bool,
    },
}

/// What a broker's error code tells the client to do (Java's
/// `ClientTelemetryUtils.maybeFetchErrorIntervalMs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorAction {
    /// A request that retrying cannot fix: stop sending telemetry.
    Disable,
    /// The subscription changed or the compression is refused: fetch the
    /// subscription again at once.
    RefetchNow,
    /// Too large, throttled or unexpected: fetch the subscription again
    /// after the push interval.
    RefetchAfterInterval,
}

fn error_action(code: ErrorCode) -> ErrorAction {
    match code {
        ErrorCode::InvalidRequest | ErrorCode::InvalidRecord | ErrorCode::UnsupportedVersion => {
            ErrorAction::Disable
        }
        ErrorCode::UnknownSubscriptionId | ErrorCode::UnsupportedCompressionType => {
            ErrorAction::RefetchNow
        }
        _ => ErrorAction::RefetchAfterInterval,
    }
}

/// The client's telemetry state: a subscription once one is fetched, the
/// wait before the next request, and whether telemetry is still on.
#[derive(Debug, Clone)]
pub struct TelemetryMachine {
    state: TelemetryState,
    enabled: bool,
    subscription: Option<Subscription>,
    /// The instance id the broker assigned, kept across subscriptions.
    client_instance_id: Uuid,
    /// When the last answer (or failure) arrived; `None` before any.
    last_answer: Option<Instant>,
    /// How long after `last_answer` the next request is due.
    wait: Duration,
    /// Whether the last subscription changed temporality, so the caller
    /// must forget the values it last sent.
    temporality_changed: bool,
}

impl TelemetryMachine {
    /// A machine for a client whose `enable_metrics_push` is `enabled`.
    /// When it is off the machine never hands out a request.
    pub fn new(enabled: bool) -> Self {
        Self {
            state: if enabled {
                TelemetryState::SubscriptionNeeded
            } else {
                TelemetryState::Terminated
            },
            enabled,
            subscription: None,
            client_instance_id: Uuid::ZERO,
            last_answer: None,
            wait: Duration::ZERO,
            temporality_changed: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> TelemetryState {
        self.state
    }

    /// Whether telemetry is still on: false once `enable_metrics_push` is
    /// off, the broker cannot take telemetry, or it refused a request that
    /// retrying cannot fix.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The subscription in force, if one was fetched.
    pub fn subscription(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }

    /// The instance id the broker assigned this client, once it has.
    pub fn client_instance_id(&self) -> Option<Uuid> {
        (self.client_instance_id != Uuid::ZERO).then_some(self.client_instance_id)
    }

    /// Whether the last subscription switched between delta and cumulative
    /// sums; reading it clears it. The caller then resets the values its
    /// deltas are computed from.
    pub fn take_temporality_changed(&mut self) -> bool {
        std::mem::take(&mut self.temporality_changed)
    }

    /// When the caller should next call [`poll_request`](Self::poll_request)
    /// (`now` when a request is due at once); `None` while a request is in
    /// flight or telemetry is over.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        if !self.enabled {
            return None;
        }
        let after_wait = self.last_answer.map_or(now, |last| last + self.wait);
        match self.state {
            TelemetryState::SubscriptionNeeded | TelemetryState::PushNeeded => Some(after_wait),
            TelemetryState::TerminatingPushNeeded => Some(now),
            _ => None,
        }
    }

    /// The request due at `now`, if any; the state moves to in-progress
    /// and the caller must report the answer or the failure.
    pub fn poll_request(&mut self, now: Instant) -> Option<TelemetryRequest> {
        if !self.enabled {
            return None;
        }
        let due = self.last_answer.is_none_or(|last| now >= last + self.wait);
        match self.state {
            TelemetryState::SubscriptionNeeded if due => {
                self.state = TelemetryState::SubscriptionInProgress;
                Some(TelemetryRequest::GetSubscriptions {
                    client_instance_id: self.client_instance_id,
                })
            }
            TelemetryState::PushNeeded if due => {
                let subscription = self.subscription.clone()?;
                self.state = TelemetryState::PushInProgress;
                Some(TelemetryRequest::Push {
                    subscription,
                    terminating: false,
                })
            }
            TelemetryState::TerminatingPushNeeded => {
                let subscription = self.subscription.clone()?;
                self.state = TelemetryState::TerminatingPushInProgress;
                Some(TelemetryRequest::Push {
                    subscription,
                    terminating: true,
                })
            }
            _ => None,
        }
    }

    /// Takes a GetTelemetrySubscriptions answer. `jitter` in `[0, 1)`
    /// spreads the first push between half and one and a half intervals,
    /// as Java does, so that clients started together do not push together.
    pub fn on_subscriptions(
        &mut self,
        now: Instant,
        response: &GetTelemetrySubscriptionsResponse,
        jitter: f64,
    ) {
        if self.state != TelemetryState::SubscriptionInProgress {
            // Closing began while the request was in flight: ignore it.
            return;
        }
        let code = ErrorCode::from_code(response.error_code);
        if !code.is_ok() {
            self.on_error(now, code, response.throttle_time_ms);
            return;
        }
        let subscription = Subscription::from_response(response, self.client_instance_id);
        if let Some(old) = &self.subscription {
            self.temporality_changed |= old.delta_temporality != subscription.delta_temporality;
        }
        self.client_instance_id = subscription.client_instance_id;
        self.last_answer = Some(now);
        if subscription.selector == MetricSelector::Nothing {
            // Nothing wanted now: ask again after the interval.
            self.state = TelemetryState::SubscriptionNeeded;
            self.wait = subscription.push_interval;
        } else {
            self.state = TelemetryState::PushNeeded;
            self.wait = subscription
                .push_interval
                .mul_f64(0.5 + jitter.clamp(0.0, 1.0));
        }
        self.wait = self.wait.max(throttle(response.throttle_time_ms));
        self.subscription = Some(subscription);
    }

    /// Takes a PushTelemetry answer.
    pub fn on_push(&mut self, now: Instant, response: &PushTelemetryResponse) {
        match self.state {
            TelemetryState::TerminatingPushInProgress => {
                self.state = TelemetryState::Terminated;
                return;
            }
            TelemetryState::PushInProgress => {}
            // An answer to a push sent before closing began.
            _ => return,
        }
        let code = ErrorCode::from_code(response.error_code);
        if !code.is_ok() {
            self.on_error(now, code, response.throttle_time_ms);
            return;
        }
        self.last_answer = Some(now);
        self.state = TelemetryState::PushNeeded;
        self.wait = self
            .current_interval()
            .max(throttle(response.throttle_time_ms));
    }

    /// A request got no answer: the connection failed, or (`unsupported`)
    /// the broker has no telemetry API. An unsupported broker ends
    /// telemetry; anything else waits the default interval and fetches the
    /// subscription again, perhaps from another broker.
    pub fn on_request_failed(&mut self, now: Instant, unsupported: bool) {
        match self.state {
            TelemetryState::TerminatingPushInProgress => {
                self.state = TelemetryState::Terminated;
            }
            TelemetryState::SubscriptionInProgress | TelemetryState::PushInProgress => {
                self.last_answer = Some(now);
                self.state = TelemetryState::SubscriptionNeeded;
                if unsupported {
                    self.enabled = false;
                } else {
                    self.wait = DEFAULT_PUSH_INTERVAL;
                }
            }
            _ => {}
        }
    }

    /// The caller could not build the push (its metrics do not fit the
    /// subscription's size limit, or encoding failed): nothing was sent,
    /// and the next push is tried after the interval.
    pub fn on_push_not_sent(&mut self, now: Instant) {
        match self.state {
            TelemetryState::PushInProgress => {
                self.last_answer = Some(now);
                self.state = TelemetryState::PushNeeded;
                self.wait = self.current_interval();
            }
            TelemetryState::TerminatingPushInProgress => self.state = TelemetryState::Terminated,
            _ => {}
        }
    }

    /// The client is closing. Returns whether a terminating push is now
    /// due (there is a subscription that wants metrics); if not, the
    /// machine is terminated.
    pub fn initiate_close(&mut self) -> bool {
        let wants_push = self.enabled
            && self
                .subscription
                .as_ref()
                .is_some_and(|s| s.selector != MetricSelector::Nothing)
            && matches!(
                self.state,
                TelemetryState::PushNeeded | TelemetryState::PushInProgress
            );
        self.state = if wants_push {
            TelemetryState::TerminatingPushNeeded
        } else {
            TelemetryState::Terminated
        };
        wants_push
    }

    /// Ends telemetry whatever its state (the close timeout passed).
    pub fn close(&mut self) {
        self.state = TelemetryState::Terminated;
    }

    fn current_interval(&self) -> Duration {
        self.subscription
            .as_ref()
            .map_or(DEFAULT_PUSH_INTERVAL, |s| s.push_interval)
    }

    fn on_error(&mut self, now: Instant, code: ErrorCode, throttle_time_ms: i32) {
        self.last_answer = Some(now);
        self.state = TelemetryState::SubscriptionNeeded;
        match error_action(code) {
            ErrorAction::Disable => self.enabled = false,
            ErrorAction::RefetchNow => self.wait = throttle(throttle_time_ms),
            ErrorAction::RefetchAfterInterval => {
                self.wait = self.current_interval().max(throttle(throttle_time_ms));
            }
        }
    }
}

fn throttle(throttle_time_ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(throttle_time_ms).unwrap_or(0))
}
