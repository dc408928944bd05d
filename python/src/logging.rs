//! The Rust crates' warnings and errors (`tracing` events) as records of
//! Python's `logging`, under kafka-python's logger names
//! (`kafka.producer.sender`, `kafka.consumer.fetcher`, `kafka.coordinator`,
//! `kafka.conn`, ...). Events are handed to one thread that takes the GIL
//! for them, so the I/O threads never wait for Python; when Python falls
//! behind, events beyond a bounded queue are dropped.

use std::fmt::Write as _;
use std::sync::mpsc;

use pyo3::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Events waiting for the logging thread, at most.
const QUEUE: usize = 1024;

/// One event for Python: `(logger name, logging level, message)`.
type Entry = (&'static str, i32, String);

struct Forward {
    sender: mpsc::SyncSender<Entry>,
}

/// kafka-python's logger for a Rust module path.
fn logger_name(target: &str) -> &'static str {
    let rules: [(&str, &'static str); 10] = [
        ("ferrokafka_producer::sender", "kafka.producer.sender"),
        (
            "ferrokafka_producer::transaction",
            "kafka.producer.transaction_manager",
        ),
        (
            "ferrokafka_producer::accumulator",
            "kafka.producer.record_accumulator",
        ),
        ("ferrokafka_producer", "kafka.producer.kafka"),
        ("ferrokafka_consumer::fetch", "kafka.consumer.fetcher"),
        ("ferrokafka_consumer::membership", "kafka.coordinator"),
        (
            "ferrokafka_consumer::consumer_membership",
            "kafka.coordinator",
        ),
        ("ferrokafka_consumer", "kafka.consumer.group"),
        ("ferrokafka_admin", "kafka.admin.client"),
        ("ferrokafka_transport::connection", "kafka.conn"),
    ];
    rules
        .iter()
        .find(|(prefix, _)| target.starts_with(prefix))
        .map_or("kafka.client", |(_, name)| name)
}

fn python_level(level: Level) -> i32 {
    match level {
        Level::ERROR => 40,
        Level::WARN => 30,
        Level::INFO => 20,
        _ => 10,
    }
}

/// The message field first, then `name=value` for the others.
#[derive(Default)]
struct Message {
    text: String,
    fields: String,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.text.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Forward {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::WARN && metadata.target().starts_with("ferrokafka")
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message::default();
        event.record(&mut message);
        message.text.push_str(&message.fields);
        let metadata = event.metadata();
        // A full queue drops the event: logging must not hold up I/O.
        let _ = self.sender.try_send((
            logger_name(metadata.target()),
            python_level(*metadata.level()),
            message.text,
        ));
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

fn run_logging_thread(receiver: &mpsc::Receiver<Entry>) {
    while let Ok(first) = receiver.recv() {
        Python::attach(|py| {
            let Ok(logging) = py.import("logging") else {
                return;
            };
            let mut next = Some(first);
            while let Some((name, level, message)) = next.take() {
                if let Ok(logger) = logging.call_method1("getLogger", (name,)) {
                    let _ = logger.call_method1("log", (level, message));
                }
                next = receiver.try_recv().ok();
            }
        });
    }
}

/// Installs the forwarding subscriber as the process's default (unless
/// another one is installed already).
pub(crate) fn install() {
    let (sender, receiver) = mpsc::sync_channel(QUEUE);
    if tracing::subscriber::set_global_default(Forward { sender }).is_ok() {
        let _ = std::thread::Builder::new()
            .name("ferrokafka-logging".into())
            .spawn(move || run_logging_thread(&receiver));
    }
}
