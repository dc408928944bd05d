//! The task that runs a [`TelemetryMachine`] over a client's cluster
//! connection: it sends what the machine asks for to any broker, feeds the
//! answers back, builds each push from the client's metrics, and sends the
//! terminating push when the client closes.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrokafka_protocol::Uuid;
use ferrokafka_protocol::messages::{GetTelemetrySubscriptionsRequest, PushTelemetryRequest};
use ferrokafka_transport::{Client, TransportError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::{MetricPoint, MetricsEncoder, Subscription, TelemetryMachine, TelemetryRequest};

/// Where a push's metrics come from: the client's current snapshot, as
/// points named for telemetry.
pub trait MetricsSource: Send + Sync + 'static {
    /// Every metric the client has now.
    fn points(&self) -> Vec<MetricPoint>;
}

impl<F> MetricsSource for F
where
    F: Fn() -> Vec<MetricPoint> + Send + Sync + 'static,
{
    fn points(&self) -> Vec<MetricPoint> {
        self()
    }
}

/// The running telemetry task of one client.
#[derive(Debug)]
pub struct TelemetryHandle {
    closing: watch::Sender<bool>,
    instance_id: watch::Receiver<Option<Uuid>>,
    task: JoinHandle<()>,
}

impl TelemetryHandle {
    /// Starts the task for `client` (on the current tokio runtime). With
    /// `enabled` false (`enable_metrics_push=false`) it sends nothing.
    pub fn spawn(client: Client, enabled: bool, source: Arc<dyn MetricsSource>) -> Self {
        let (closing, closing_rx) = watch::channel(false);
        let (instance_tx, instance_id) = watch::channel(None);
        let task = tokio::spawn(run(
            client,
            TelemetryMachine::new(enabled),
            source,
            closing_rx,
            instance_tx,
        ));
        Self {
            closing,
            instance_id,
            task,
        }
    }

    /// The id the brokers gave this client (Java's `clientInstanceId`),
    /// once a subscription was fetched.
    pub fn client_instance_id(&self) -> Option<Uuid> {
        *self.instance_id.borrow()
    }

    /// Waits at most `timeout` for the id the brokers give this client
    /// (Java's `clientInstanceId(Duration)`); `None` if none came in time
    /// or telemetry is off. The future does not borrow the handle.
    pub fn wait_client_instance_id(
        &self,
        timeout: Duration,
    ) -> impl Future<Output = Option<Uuid>> + Send + 'static {
        let mut instance_id = self.instance_id.clone();
        async move {
            let arrived =
                tokio::time::timeout(timeout, instance_id.wait_for(Option::is_some)).await;
            match arrived {
                Ok(Ok(id)) => *id,
                _ => None,
            }
        }
    }

    /// Sends the terminating push if a subscription wants one, waiting at
    /// most `timeout` for it, then stops the task.
    pub async fn close(mut self, timeout: Duration) {
        // The task may have ended already (telemetry disabled by the broker).
        let _ = self.closing.send(true);
        if tokio::time::timeout(timeout, &mut self.task).await.is_err() {
            debug!("telemetry: terminating push not done in time; abandoned");
        }
        // Drop aborts the task if it is still running.
    }
}

/// The telemetry task a client holds: shared by the client's clones, taken
/// once by its `close` for the terminating push.
#[derive(Debug, Default)]
pub struct TelemetrySlot(Mutex<Option<TelemetryHandle>>);

impl TelemetrySlot {
    /// A slot holding `handle` (`None`: a client without telemetry).
    pub fn new(handle: Option<TelemetryHandle>) -> Self {
        Self(Mutex::new(handle))
    }

    /// [`TelemetryHandle::wait_client_instance_id`]; `None` once closed.
    pub async fn client_instance_id(&self, timeout: Duration) -> Option<Uuid> {
        let waiting = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|handle| handle.wait_client_instance_id(timeout));
        match waiting {
            Some(waiting) => waiting.await,
            None => None,
        }
    }

    /// [`TelemetryHandle::close`], the first time only.
    pub async fn close(&self, timeout: Duration) {
        let handle = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(handle) = handle {
            handle.close(timeout).await;
        }
    }
}

impl Drop for TelemetryHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    client: Client,
    mut machine: TelemetryMachine,
    source: Arc<dyn MetricsSource>,
    mut closing: watch::Receiver<bool>,
    instance_id: watch::Sender<Option<Uuid>>,
) {
    let mut encoder = MetricsEncoder::new(unix_nanos());
    loop {
        if *closing.borrow_and_update() && !machine_is_closing(&machine) {
            machine.initiate_close();
        }
        let now = Instant::now().into_std();
        if let Some(request) = machine.poll_request(now) {
            exchange(&client, &mut machine, &mut encoder, &*source, request).await;
            instance_id.send_if_modified(|id| {
                let changed = *id != machine.client_instance_id();
                *id = machine.client_instance_id();
                changed
            });
            continue;
        }
        // Requests are awaited inline, so no deadline means telemetry is
        // over: terminated, or disabled by the broker or the config.
        let Some(deadline) = machine.next_deadline(now) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(Instant::from_std(deadline)) => {}
            changed = closing.changed() => {
                if changed.is_err() {
                    // The handle is gone: nobody will wait for a last push.
                    return;
                }
            }
        }
    }
}

fn machine_is_closing(machine: &TelemetryMachine) -> bool {
    use crate::TelemetryState::{Terminated, TerminatingPushInProgress, TerminatingPushNeeded};
    matches!(
        machine.state(),
        TerminatingPushNeeded | TerminatingPushInProgress | Terminated
    )
}

async fn exchange(
    client: &Client,
    machine: &mut TelemetryMachine,
    encoder: &mut MetricsEncoder,
    source: &dyn MetricsSource,
    request: TelemetryRequest,
) {
    match request {
        TelemetryRequest::GetSubscriptions { client_instance_id } => {
            let request = GetTelemetrySubscriptionsRequest {
                client_instance_id,
                ..Default::default()
            };
            match client.send_any(&request).await {
                Ok(response) => {
                    machine.on_subscriptions(Instant::now().into_std(), &response, jitter());
                    if machine.take_temporality_changed() {
                        encoder.reset();
                    }
                }
                Err(error) => failed(machine, &error),
            }
        }
        TelemetryRequest::Push {
            subscription,
            terminating,
        } => {
            let Some(request) = build_push(encoder, source, &subscription, terminating) else {
                machine.on_push_not_sent(Instant::now().into_std());
                return;
            };
            match client.send_any(&request).await {
                Ok(response) => machine.on_push(Instant::now().into_std(), &response),
                Err(error) => failed(machine, &error),
            }
        }
    }
}

fn build_push(
    encoder: &mut MetricsEncoder,
    source: &dyn MetricsSource,
    subscription: &Subscription,
    terminating: bool,
) -> Option<PushTelemetryRequest> {
    let data = encoder.encode(
        &source.points(),
        &subscription.selector,
        subscription.delta_temporality,
        unix_nanos(),
    );
    match crate::payload(&data, subscription.compression, subscription.max_bytes) {
        Ok(metrics) => Some(PushTelemetryRequest {
            client_instance_id: subscription.client_instance_id,
            subscription_id: subscription.subscription_id,
            terminating,
            compression_type: subscription.compression.id() as i8,
            metrics,
            ..Default::default()
        }),
        Err(error) => {
            warn!(%error, "telemetry push not sent");
            None
        }
    }
}

fn failed(machine: &mut TelemetryMachine, error: &TransportError) {
    let unsupported = matches!(error, TransportError::UnsupportedApi { .. });
    debug!(%error, unsupported, "telemetry request failed");
    machine.on_request_failed(Instant::now().into_std(), unsupported);
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A number in `[0, 1)` for the first push's spread.
fn jitter() -> f64 {
    let mut bytes = [0u8; 4];
    if getrandom::fill(&mut bytes).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}
