//! The producer: `send` queues a record on the Rust producer and hands back
//! a [`FutureRecordMetadata`]; the outcome lands from the producer's I/O
//! task without the GIL. Python callbacks added to a future run on one
//! thread per producer (as kafka-python runs them on its sender thread),
//! many per GIL acquisition; `flush` and `close` return once every callback
//! of the records they waited for has run.
//!
//! What one `send` costs past the serializers, on the Python side: the
//! future object (which holds the topic, and made on demand the
//! `RecordMetadata`), one slot in a [`Chunk`] shared by up to [`CHUNK`]
//! consecutive sends, and the record queued with the GIL held: no GIL
//! release, no channel message, no allocation of its own for the outcome.
//! On the I/O side, one short lock of the chunk per record; a thread is
//! woken only when one waits in `get`, and the callback thread only for
//! records with callbacks.

use std::collections::BTreeMap;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_producer::transaction::{GroupIdentity, OffsetAndMetadata};
use ferrokafka_producer::{ProduceError, ProducerConfig, ProducerRecord, RecordMetadata};
use ferrokafka_records::Header;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyList, PyMemoryView, PyString, PyTuple,
};

use crate::errors::{self, Kind};
use crate::{runtime, seconds, wait, wait_done};

/// The producer's metrics, and each topic's.
type Metrics<'py> = (Bound<'py, PyDict>, BTreeMap<String, Bound<'py, PyDict>>);

/// Longest a `close(None)` waits ("forever", within what timers take).
const FOREVER: Duration = Duration::from_secs(30 * 24 * 3600);

/// Consecutive sends sharing one [`Chunk`].
const CHUNK: usize = 512;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks mid-update.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Waits on `condvar` until `done` holds, without the GIL and in slices
/// that let Python run its signal handlers; `false` when `limit` passed.
pub(crate) fn wait_until<T: Send>(
    py: Python<'_>,
    mutex: &Mutex<T>,
    condvar: &Condvar,
    limit: Option<Duration>,
    done: impl Fn(&T) -> bool + Sync,
) -> PyResult<bool> {
    let deadline = limit.map(|limit| Instant::now() + limit);
    loop {
        let slice = match deadline {
            Some(deadline) => deadline
                .saturating_duration_since(Instant::now())
                .min(crate::SIGNAL_CHECK),
            None => crate::SIGNAL_CHECK,
        };
        let finished = py.detach(|| {
            let guard = lock(mutex);
            let (guard, _) = condvar
                .wait_timeout_while(guard, slice, |state| !done(state))
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            done(&guard)
        });
        if finished {
            return Ok(true);
        }
        if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Ok(false);
        }
        py.check_signals()?;
    }
}

/// What the producer's chunks and callbacks share.
struct Shared {
    /// Records whose callbacks are handed to the callback thread and did
    /// not run yet.
    pending: AtomicU64,
    /// Held to wait for `pending` to drop to zero, and to signal it.
    idle_lock: Mutex<()>,
    /// Signalled when `pending` drops to zero.
    idle: Condvar,
    /// To the callback thread.
    callbacks: mpsc::Sender<Work>,
    /// The callback thread (a `flush` there must not wait for itself).
    callback_thread: std::thread::ThreadId,
}

impl Shared {
    /// Queues `callbacks` for the callback thread, counted in `pending`
    /// until they ran (so that a flush waits for them too).
    fn dispatch(self: &Arc<Self>, outcome: Outcome, callbacks: Vec<Callback>) {
        self.pending.fetch_add(1, Ordering::AcqRel);
        // When the callback thread is gone (never, while the producer
        // lives) the ticket drops with the message.
        let _ = self.callbacks.send(Work::Callbacks(Dispatch {
            outcome,
            callbacks,
            _ticket: Ticket(Arc::clone(self)),
        }));
    }

    /// Whether callbacks queued earlier have not run yet.
    fn behind(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    fn finish_one(&self) {
        if self.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Under the lock: a waiter checks the count and sleeps under it.
            let _idle = lock(&self.idle_lock);
            self.idle.notify_all();
        }
    }
}

/// One record's callbacks counted in [`Shared::pending`] until this is
/// dropped: after they ran.
struct Ticket(Arc<Shared>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.finish_one();
    }
}

/// A completed record's callbacks, for the callback thread.
struct Dispatch {
    outcome: Outcome,
    callbacks: Vec<Callback>,
    _ticket: Ticket,
}

/// What the callback thread runs, in the order it was queued.
enum Work {
    /// A completed record's callbacks.
    Callbacks(Dispatch),
    /// A Python callable, called with no arguments (`flush_then`).
    Call(Py<PyAny>),
}

/// A callback (`errback: false`) or errback added to a future, with the
/// record's topic (for the `RecordMetadata` it is given).
struct Callback {
    errback: bool,
    function: Py<PyAny>,
    topic: Py<PyString>,
}

/// A delivered record's metadata, but its topic.
#[derive(Clone, Copy)]
struct Delivered {
    partition: i32,
    offset: i64,
    timestamp: i64,
    key_size: i32,
    value_size: i32,
    header_size: i32,
}

impl Delivered {
    fn of(metadata: &RecordMetadata) -> Self {
        Delivered {
            partition: metadata.partition,
            offset: metadata.offset,
            timestamp: metadata.timestamp,
            key_size: metadata.serialized_key_size,
            value_size: metadata.serialized_value_size,
            header_size: metadata.serialized_header_size,
        }
    }
}

/// A record's outcome as its chunk holds it.
#[derive(Clone)]
enum Outcome {
    Pending,
    Delivered(Delivered),
    Failed(Box<ProduceError>),
}

impl Outcome {
    fn of(outcome: Result<&RecordMetadata, &ProduceError>) -> Self {
        match outcome {
            Ok(metadata) => Outcome::Delivered(Delivered::of(metadata)),
            Err(error) => Outcome::Failed(Box::new(error.clone())),
        }
    }

    fn is_done(&self) -> bool {
        !matches!(self, Outcome::Pending)
    }

    /// The outcome as Python sees it: `(true, RecordMetadata)` or `(false,
    /// exception)`; `None` while pending.
    fn python(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyString>,
    ) -> PyResult<Option<(bool, Py<PyAny>)>> {
        Ok(Some(match self {
            Outcome::Pending => return Ok(None),
            Outcome::Delivered(metadata) => (
                true,
                python_struct(py, "RecordMetadata")?
                    .bind(py)
                    .call1((
                        topic,
                        metadata.partition,
                        python_struct(py, "TopicPartition")?
                            .bind(py)
                            .call1((topic, metadata.partition))?,
                        metadata.offset,
                        metadata.timestamp,
                        py.None(),
                        metadata.key_size,
                        metadata.value_size,
                        // kafka-python: -1 without headers.
                        if metadata.header_size == 0 {
                            -1
                        } else {
                            metadata.header_size
                        },
                    ))?
                    .unbind(),
            ),
            Outcome::Failed(error) => (
                false,
                errors::produce_error(py, error).into_value(py).into_any(),
            ),
        }))
    }
}

/// The outcomes of up to [`CHUNK`] consecutive sends. Each record's
/// delivery callback (on the I/O task) holds the chunk and its index in
/// it; so does the record's future.
struct Chunk {
    state: Mutex<ChunkState>,
    /// Signalled when an outcome lands while a thread waits in `get`.
    done: Condvar,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct ChunkState {
    outcomes: Vec<Outcome>,
    /// Callbacks of records not done yet, by index.
    callbacks: Vec<(u32, Callback)>,
    /// Threads waiting in `get` for a record of this chunk.
    waiters: u32,
}

impl Chunk {
    fn new(shared: Arc<Shared>) -> Self {
        Chunk {
            state: Mutex::new(ChunkState {
                outcomes: Vec::with_capacity(CHUNK),
                ..ChunkState::default()
            }),
            done: Condvar::new(),
            shared,
        }
    }

    /// The I/O task's delivery of record `index`.
    fn deliver(&self, index: u32, outcome: Result<&RecordMetadata, &ProduceError>) {
        let outcome = Outcome::of(outcome);
        let mut state = lock(&self.state);
        let callbacks = if state.callbacks.is_empty() {
            Vec::new()
        } else {
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut state.callbacks)
                .into_iter()
                .partition(|(i, _)| *i == index);
            state.callbacks = others;
            mine.into_iter().map(|(_, callback)| callback).collect()
        };
        if !callbacks.is_empty() {
            // Queued before the outcome shows (and before the producer
            // calls this record settled): a callback added to this done
            // record then queues behind these, and a flush waits for them.
            // The callbacks' copy: a copy of 40 bytes, or of the boxed error.
            self.shared.dispatch(outcome.clone(), callbacks);
        }
        if let Some(slot) = state.outcomes.get_mut(index as usize) {
            *slot = outcome;
        }
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.done.notify_all();
        }
    }

    fn outcome(&self, index: u32) -> Outcome {
        lock(&self.state)
            .outcomes
            .get(index as usize)
            .cloned()
            .unwrap_or(Outcome::Pending)
    }
}

fn python_struct(py: Python<'_>, name: &'static str) -> PyResult<&'static Py<PyAny>> {
    static RECORD_METADATA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    static TOPIC_PARTITION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let cell = match name {
        "RecordMetadata" => &RECORD_METADATA,
        _ => &TOPIC_PARTITION,
    };
    cell.get_or_try_init(py, || {
        py.import("ferrokafka.structs")?
            .getattr(name)
            .map(Bound::unbind)
    })
}

/// `TopicPartition(topic, partition)`.
pub(crate) fn topic_partition<'py>(
    py: Python<'py>,
    topic: &str,
    partition: i32,
) -> PyResult<Bound<'py, PyAny>> {
    python_struct(py, "TopicPartition")?
        .bind(py)
        .call1((topic, partition))
}

/// Runs `callbacks` with the outcome; one that raises is logged (on
/// kafka-python's `kafka.future` logger) and the others still run.
fn run_callbacks(py: Python<'_>, outcome: &Outcome, callbacks: Vec<Callback>) {
    for callback in callbacks {
        let value = match outcome.python(py, callback.topic.bind(py)) {
            Ok(Some(value)) => value,
            Ok(None) => return,
            Err(error) => {
                log_error(py, "Error making the delivery outcome", &error);
                return;
            }
        };
        let (ok, value) = value;
        if callback.errback == ok {
            continue;
        }
        if let Err(error) = callback.function.bind(py).call1((value.bind(py),)) {
            let what = if ok {
                "Error processing callback"
            } else {
                "Error processing errback"
            };
            log_error(py, what, &error);
        }
    }
}

/// Logs `error` with its traceback on the `kafka.future` logger.
fn log_error(py: Python<'_>, message: &str, error: &PyErr) {
    let logged = (|| -> PyResult<()> {
        let logger = py
            .import("logging")?
            .call_method1("getLogger", ("kafka.future",))?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("exc_info", error.value(py))?;
        logger.call_method("error", (message,), Some(&kwargs))?;
        Ok(())
    })();
    if logged.is_err() {
        error.print(py);
    }
}

/// The callback thread: runs the callbacks of completed records, with the
/// GIL taken once for all that are waiting.
fn run_callback_thread(receiver: &mpsc::Receiver<Work>) {
    while let Ok(first) = receiver.recv() {
        Python::attach(|py| {
            let mut next = Some(first);
            let mut ran = 0;
            while let Some(work) = next.take() {
                match work {
                    Work::Callbacks(dispatch) => {
                        run_callbacks(py, &dispatch.outcome, dispatch.callbacks);
                    }
                    Work::Call(function) => {
                        if let Err(error) = function.bind(py).call0() {
                            log_error(py, "Error processing callback", &error);
                        }
                    }
                }
                ran += 1;
                // Let other threads have the GIL now and then.
                if ran < 1000 {
                    next = receiver.try_recv().ok();
                }
            }
        });
    }
}

/// The outcome of one sent record (kafka-python's
/// `kafka.producer.future.FutureRecordMetadata`): `get(timeout)` waits for
/// its `RecordMetadata`; callbacks and errbacks run when it completes.
#[pyclass(module = "ferrokafka._core", frozen)]
pub(crate) struct FutureRecordMetadata {
    chunk: Arc<Chunk>,
    index: u32,
    topic: Py<PyString>,
    /// The outcome as Python sees it, made once, on demand.
    value: OnceLock<(bool, Py<PyAny>)>,
}

impl FutureRecordMetadata {
    fn add(
        slf: &Bound<'_, Self>,
        errback: bool,
        function: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let py = slf.py();
        if !function.is_callable() {
            let name = if errback { "errback" } else { "callback" };
            return Err(PyTypeError::new_err(format!(
                "the {name} must be callable, not {}",
                function.get_type().name()?
            )));
        }
        let function = if args.is_empty() && kwargs.is_none_or(PyDictMethods::is_empty) {
            function.clone().unbind()
        } else {
            let all: Vec<Bound<'_, PyAny>> = std::iter::once(function.clone())
                .chain(args.iter())
                .collect();
            let all = PyTuple::new(py, all)?;
            py.import("functools")?
                .getattr("partial")?
                .call(all, kwargs)?
                .unbind()
        };
        let this = slf.get();
        let callback = Callback {
            errback,
            function,
            topic: this.topic.clone_ref(py),
        };
        let outcome = {
            let mut state = lock(&this.chunk.state);
            let outcome = state
                .outcomes
                .get(this.index as usize)
                .cloned()
                .unwrap_or(Outcome::Pending);
            if !outcome.is_done() {
                state.callbacks.push((this.index, callback));
                return Ok(());
            }
            outcome
        };
        // Already done. While earlier records' callbacks wait for the
        // callback thread, this one queues behind them: callbacks run in
        // the order the records completed, as in kafka-python, where a
        // record is done only once the records before it ran theirs.
        // Otherwise it runs now, in this thread, as kafka-python does.
        let shared = &this.chunk.shared;
        if shared.behind() {
            shared.dispatch(outcome, vec![callback]);
        } else {
            run_callbacks(py, &outcome, vec![callback]);
        }
        Ok(())
    }

    fn done_value(&self, py: Python<'_>) -> PyResult<Option<(bool, Py<PyAny>)>> {
        if let Some((ok, value)) = self.value.get() {
            return Ok(Some((*ok, value.clone_ref(py))));
        }
        let Some((ok, value)) = self
            .chunk
            .outcome(self.index)
            .python(py, self.topic.bind(py))?
        else {
            return Ok(None);
        };
        // Two threads may both make it: the first one made is kept.
        let (ok, value) = self.value.get_or_init(|| (ok, value));
        Ok(Some((*ok, value.clone_ref(py))))
    }

    /// Waits without the GIL (in slices, for signals) until the record is
    /// done; `false` when `limit` passed first.
    fn wait(&self, py: Python<'_>, limit: Option<Duration>) -> PyResult<bool> {
        let index = self.index as usize;
        let done = |state: &ChunkState| state.outcomes.get(index).is_some_and(Outcome::is_done);
        let deadline = limit.map(|limit| Instant::now() + limit);
        loop {
            let slice = match deadline {
                Some(deadline) => deadline
                    .saturating_duration_since(Instant::now())
                    .min(crate::SIGNAL_CHECK),
                None => crate::SIGNAL_CHECK,
            };
            let finished = py.detach(|| {
                let mut state = lock(&self.chunk.state);
                if done(&state) {
                    return true;
                }
                state.waiters += 1;
                let (mut state, _) = self
                    .chunk
                    .done
                    .wait_timeout_while(state, slice, |state| !done(state))
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                state.waiters -= 1;
                done(&state)
            });
            if finished {
                return Ok(true);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(false);
            }
            py.check_signals()?;
        }
    }
}

#[pymethods]
impl FutureRecordMetadata {
    /// Waits for the record's `RecordMetadata` (at most `timeout` seconds)
    /// and returns it, or raises why the record was not delivered.
    #[pyo3(signature = (timeout=None))]
    fn get(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        let limit = seconds("timeout", timeout)?;
        if !self.wait(py, limit)? {
            return Err(errors::exception(
                py,
                Kind::Timeout,
                format!(
                    "Timeout after waiting for {} secs.",
                    timeout.unwrap_or_default()
                ),
            ));
        }
        match self.done_value(py)? {
            Some((true, value)) => Ok(value),
            Some((false, exception)) => Err(PyErr::from_value(exception.into_bound(py))),
            None => Err(errors::other(py, "the future is not done".into())),
        }
    }

    /// Calls `f(record_metadata, *args, **kwargs)` when the record is
    /// delivered; returns this future.
    #[pyo3(signature = (f, *args, **kwargs))]
    fn add_callback<'py>(
        slf: &Bound<'py, Self>,
        f: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::add(slf, false, f, args, kwargs)?;
        Ok(slf.clone())
    }

    /// Calls `f(exception, *args, **kwargs)` when the record fails;
    /// returns this future.
    #[pyo3(signature = (f, *args, **kwargs))]
    fn add_errback<'py>(
        slf: &Bound<'py, Self>,
        f: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::add(slf, true, f, args, kwargs)?;
        Ok(slf.clone())
    }

    /// `add_callback` and `add_errback` with the same function.
    #[pyo3(signature = (f, *args, **kwargs))]
    fn add_both<'py>(
        slf: &Bound<'py, Self>,
        f: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, Self>> {
        Self::add(slf, false, f, args, kwargs)?;
        Self::add(slf, true, f, args, kwargs)?;
        Ok(slf.clone())
    }

    /// Whether the record's outcome is known.
    #[getter]
    fn is_done(&self) -> bool {
        self.chunk.outcome(self.index).is_done()
    }

    /// Whether the record was delivered.
    fn succeeded(&self) -> bool {
        matches!(self.chunk.outcome(self.index), Outcome::Delivered(_))
    }

    /// Whether the record failed.
    fn failed(&self) -> bool {
        matches!(self.chunk.outcome(self.index), Outcome::Failed(_))
    }

    /// Whether the record failed with an error retrying may get past.
    fn retriable(&self, py: Python<'_>) -> PyResult<bool> {
        match self.done_value(py)? {
            Some((false, exception)) => exception.bind(py).getattr("retriable")?.is_truthy(),
            _ => Ok(false),
        }
    }

    /// The `RecordMetadata` once delivered, else `None`.
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.done_value(py)? {
            Some((true, value)) => value,
            _ => py.None(),
        })
    }

    /// The exception once failed, else `None`.
    #[getter]
    fn exception(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.done_value(py)? {
            Some((false, exception)) => exception,
            _ => py.None(),
        })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let topic = self.topic.bind(py).to_string();
        let state = match self.chunk.outcome(self.index) {
            Outcome::Pending => format!("{topic} pending"),
            Outcome::Delivered(m) => format!("{topic}-{}@{}", m.partition, m.offset),
            Outcome::Failed(e) => format!("failed: {e}"),
        };
        format!("<FutureRecordMetadata {state}>")
    }
}

/// A serializer: `(function, takes_topic_and_headers)`.
type PySerializer = Option<(Py<PyAny>, bool)>;

/// `data` through `serializer` (kafka-python calls it for `None` too), as
/// bytes; a result other than bytes is a `TypeError` naming `what`.
fn serialize(
    serializer: &PySerializer,
    topic: &Bound<'_, PyString>,
    headers: Option<&Bound<'_, PyList>>,
    data: Option<Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Bytes>> {
    let py = topic.py();
    let data = match serializer {
        None => data,
        Some((function, full)) => {
            let data = data.unwrap_or_else(|| py.None().into_bound(py));
            let out = if *full {
                let headers = headers.cloned().unwrap_or_else(|| PyList::empty(py));
                function.bind(py).call1((topic, headers, data))?
            } else {
                function.bind(py).call1((data,))?
            };
            Some(out).filter(|o| !o.is_none())
        }
    };
    let Some(data) = data else {
        return Ok(None);
    };
    if let Ok(bytes) = data.cast::<PyBytes>() {
        return Ok(Some(Bytes::copy_from_slice(bytes.as_bytes())));
    }
    if let Ok(array) = data.cast::<PyByteArray>() {
        return Ok(Some(Bytes::from(array.to_vec())));
    }
    if data.is_instance_of::<PyMemoryView>() {
        let bytes = py.get_type::<PyBytes>().call1((&data,))?;
        let bytes = bytes.cast::<PyBytes>()?;
        return Ok(Some(Bytes::copy_from_slice(bytes.as_bytes())));
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes (or made bytes by {what}_serializer), not {}",
        data.get_type().name()?
    )))
}

/// One `(str, bytes)` header.
fn header(item: &Bound<'_, PyAny>) -> PyResult<Header> {
    let bad = || {
        PyTypeError::new_err(format!(
            "headers must be a list of (str, bytes) tuples, not holding {}",
            item.repr().map(|r| r.to_string()).unwrap_or_default()
        ))
    };
    let tuple = item.cast::<PyTuple>().map_err(|_| bad())?;
    if tuple.len() != 2 {
        return Err(bad());
    }
    let name = tuple.get_item(0)?;
    let name = name.cast::<PyString>().map_err(|_| bad())?;
    let value = tuple.get_item(1)?;
    let value = if let Ok(bytes) = value.cast::<PyBytes>() {
        Bytes::copy_from_slice(bytes.as_bytes())
    } else if let Ok(array) = value.cast::<PyByteArray>() {
        Bytes::from(array.to_vec())
    } else {
        return Err(bad());
    };
    Ok(Header {
        key: Bytes::copy_from_slice(name.to_cow()?.as_bytes()),
        value: Some(value),
    })
}

/// An `int` argument (not a bool; a whole float is taken), as kafka-python
/// takes `partition` and `timestamp_ms`.
fn whole_number(value: &Bound<'_, PyAny>, name: &str) -> PyResult<i64> {
    let wrong = || {
        PyTypeError::new_err(format!(
            "{name} must be an int or None, not {}",
            value
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default()
        ))
    };
    if value.is_instance_of::<PyBool>() {
        return Err(wrong());
    }
    if let Ok(number) = value.extract::<i64>() {
        return Ok(number);
    }
    match value.extract::<f64>() {
        #[allow(clippy::cast_possible_truncation)]
        Ok(number) if value.is_instance_of::<PyFloat>() && number.is_finite() => Ok(number as i64),
        _ => Err(wrong()),
    }
}

/// The Rust producer under `ferrokafka.KafkaProducer`.
#[pyclass(module = "ferrokafka._core", frozen)]
pub(crate) struct Producer {
    inner: ferrokafka_producer::Producer,
    key_serializer: PySerializer,
    value_serializer: PySerializer,
    shared: Arc<Shared>,
    /// The chunk the next sends go into.
    current: Mutex<Arc<Chunk>>,
    /// The runtime the producer's tasks run on (entered for a send's
    /// first poll: its timers belong there).
    runtime: tokio::runtime::Handle,
    max_block: Duration,
    closed: AtomicBool,
}

impl Producer {
    fn check_open(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(errors::exception(
                py,
                Kind::IllegalState,
                "KafkaProducer already closed!".into(),
            ));
        }
        Ok(())
    }

    /// Waits until every sent record's callbacks ran, at most `limit`.
    fn wait_callbacks(&self, py: Python<'_>, limit: Option<Duration>) -> PyResult<bool> {
        if std::thread::current().id() == self.shared.callback_thread {
            // A callback flushing: its own record cannot be through yet.
            return Ok(true);
        }
        let pending = &self.shared.pending;
        wait_until(py, &self.shared.idle_lock, &self.shared.idle, limit, |()| {
            pending.load(Ordering::Acquire) == 0
        })
    }
}

#[pymethods]
impl Producer {
    /// Connects with these settings (kafka-python key names, values as
    /// strings).
    #[new]
    #[pyo3(signature = (settings, key_serializer=None, value_serializer=None))]
    fn new(
        py: Python<'_>,
        settings: Vec<(String, String)>,
        key_serializer: PySerializer,
        value_serializer: PySerializer,
    ) -> PyResult<Self> {
        let config =
            ProducerConfig::from_pairs(settings).map_err(|error| errors::config_error(&error))?;
        let max_block = config.max_block;
        let producer = wait_done(py, ferrokafka_producer::Producer::new(config))?
            .map_err(|error| errors::produce_error(py, &error))?;
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ferrokafka-callbacks".into())
            .spawn(move || run_callback_thread(&receiver))
            .map_err(|e| errors::other(py, format!("cannot start the callback thread: {e}")))?;
        let shared = Arc::new(Shared {
            pending: AtomicU64::new(0),
            idle_lock: Mutex::new(()),
            idle: Condvar::new(),
            callbacks: sender,
            callback_thread: thread.thread().id(),
        });
        Ok(Producer {
            inner: producer,
            key_serializer,
            value_serializer,
            current: Mutex::new(Arc::new(Chunk::new(Arc::clone(&shared)))),
            shared,
            runtime: runtime().handle().clone(),
            max_block,
            closed: AtomicBool::new(false),
        })
    }

    /// kafka-python's `send(topic, value=None, key=None, headers=None,
    /// partition=None, timestamp_ms=None)`: checks the arguments (a
    /// `TypeError` or `ValueError` naming the bad one), runs the serializers
    /// in this thread, and queues the record; waits only for the topic's
    /// metadata or for buffer room, up to `max_block_ms`.
    #[pyo3(signature = (topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None))]
    // kafka-python's signature.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        py: Python<'_>,
        topic: &Bound<'_, PyAny>,
        value: Option<Bound<'_, PyAny>>,
        key: Option<Bound<'_, PyAny>>,
        headers: Option<Bound<'_, PyAny>>,
        partition: Option<&Bound<'_, PyAny>>,
        timestamp_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<FutureRecordMetadata> {
        self.check_open(py)?;
        let Ok(topic) = topic.cast::<PyString>() else {
            return Err(PyTypeError::new_err(format!(
                "topic must be a str, not {}",
                topic.get_type().name()?
            )));
        };
        let topic_name = topic.to_cow()?;
        if topic_name.is_empty() {
            return Err(PyValueError::new_err("topic must not be empty"));
        }
        if value.is_none() && key.is_none() {
            return Err(PyValueError::new_err("Need at least one: key or value"));
        }
        let full_serializer = self.key_serializer.as_ref().is_some_and(|(_, full)| *full)
            || self
                .value_serializer
                .as_ref()
                .is_some_and(|(_, full)| *full);
        // kafka-python gives serializers the record's header list (one may
        // add to it); without headers or such serializers, none is made.
        let headers = match headers {
            None if full_serializer => Some(PyList::empty(py)),
            None => None,
            Some(headers) => Some(headers.cast_into::<PyList>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "headers must be a list of (str, bytes) tuples, not {}",
                    e.into_inner()
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?),
        };
        let mut record_headers = Vec::new();
        if let Some(list) = &headers {
            for item in list.iter() {
                record_headers.push(header(&item)?);
            }
        }
        let partition =
            match partition {
                None => None,
                Some(p) if p.is_none() => None,
                Some(p) => {
                    let p = whole_number(p, "partition")?;
                    if p < 0 {
                        return Err(PyValueError::new_err(format!(
                            "partition must be >= 0, not {p}"
                        )));
                    }
                    Some(i32::try_from(p).map_err(|_| {
                        PyValueError::new_err(format!("partition {p} does not exist"))
                    })?)
                }
            };
        let timestamp = match timestamp_ms {
            None => None,
            Some(t) if t.is_none() => None,
            Some(t) => {
                let t = whole_number(t, "timestamp_ms")?;
                if t < 0 {
                    return Err(PyValueError::new_err(format!(
                        "timestamp_ms must be >= 0, not {t}"
                    )));
                }
                Some(t)
            }
        };
        let key = serialize(&self.key_serializer, topic, headers.as_ref(), key, "key")?;
        let value = serialize(
            &self.value_serializer,
            topic,
            headers.as_ref(),
            value,
            "value",
        )?;
        if full_serializer && let Some(list) = &headers {
            // What the serializers left in the list.
            record_headers = list
                .iter()
                .map(|item| header(&item))
                .collect::<PyResult<_>>()?;
        }
        let record = ProducerRecord {
            topic: topic_name.to_string(),
            partition,
            key,
            value,
            headers: record_headers,
            timestamp,
        };
        // A slot in the current chunk (a new chunk when it is full).
        let (chunk, index) = {
            let mut current = lock(&self.current);
            let (index, full) = {
                let mut state = lock(&current.state);
                state.outcomes.push(Outcome::Pending);
                (state.outcomes.len() - 1, state.outcomes.len() >= CHUNK)
            };
            let chunk = if full {
                std::mem::replace(
                    &mut *current,
                    Arc::new(Chunk::new(Arc::clone(&self.shared))),
                )
            } else {
                Arc::clone(&current)
            };
            (chunk, u32::try_from(index).unwrap_or(u32::MAX))
        };
        let delivered = {
            let chunk = Arc::clone(&chunk);
            move |outcome: Result<&RecordMetadata, &ProduceError>| chunk.deliver(index, outcome)
        };
        // Most sends queue at once, as the call appends: poll once with the
        // GIL held, and only wait without it when the send must wait.
        let runtime = self.runtime.enter();
        let mut queued = pin!(self.inner.send_with_callback(record, delivered));
        let first = queued
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        drop(runtime);
        let result = match first {
            Poll::Ready(result) => result,
            Poll::Pending => wait_done(py, queued)?,
        };
        // A record not queued leaves its slot pending: no future points
        // at it.
        result.map_err(|error| errors::produce_error(py, &error))?;
        Ok(FutureRecordMetadata {
            chunk,
            index,
            topic: topic.clone().unbind(),
            value: OnceLock::new(),
        })
    }

    /// Sends everything buffered and waits until every record sent so far
    /// is delivered or failed and its callbacks ran; raises
    /// `KafkaTimeoutError` after `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn flush(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let limit = seconds("timeout", timeout)?;
        let started = Instant::now();
        let flushed = wait(py, limit, self.inner.flush())?.is_some();
        let left = limit.map(|limit| limit.saturating_sub(started.elapsed()));
        if !flushed || !self.wait_callbacks(py, left)? {
            return Err(errors::exception(
                py,
                Kind::Timeout,
                format!(
                    "Failed to flush buffered records within {} secs",
                    timeout.unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }

    /// Flushes without blocking: `callback()` runs on the callback thread
    /// once every record sent so far is delivered or failed and its
    /// callbacks ran (the asyncio producer's `flush`).
    fn flush_then(&self, callback: Py<PyAny>) {
        let producer = self.inner.clone();
        let sender = self.shared.callbacks.clone();
        runtime().spawn(async move {
            producer.flush().await;
            let _ = sender.send(Work::Call(callback));
        });
    }

    /// Delivers what is buffered (waiting at most `timeout` seconds, or
    /// for good with `None`) and stops; records still undelivered then
    /// fail. Later sends raise `IllegalStateError`. Closing twice is fine.
    #[pyo3(signature = (timeout=None))]
    fn close(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<()> {
        let limit = seconds("timeout", timeout)?;
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let started = Instant::now();
        // As kafka-python's close: flush first (retrying what the brokers
        // refuse for now), then stop with what time is left.
        wait(py, limit, self.inner.flush())?;
        let left = limit.map(|limit| limit.saturating_sub(started.elapsed()));
        let closed = wait_done(py, self.inner.close(left.unwrap_or(FOREVER)))?;
        let left = limit.map(|limit| limit.saturating_sub(started.elapsed()));
        // Records the close gave up on fail with their callbacks; those
        // run now, whatever the time left.
        self.wait_callbacks(py, left.map(|left| left.max(Duration::from_secs(5))))?;
        match closed {
            Ok(()) | Err(ProduceError::Blocked { .. }) => Ok(()),
            Err(error) => Err(errors::produce_error(py, &error)),
        }
    }

    /// Whether `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The partitions of `topic` (fetching its metadata if needed).
    fn partitions_for(&self, py: Python<'_>, topic: &str) -> PyResult<Vec<i32>> {
        let found = wait(py, Some(self.max_block), self.inner.partitions_for(topic))?;
        match found {
            Some(Ok(partitions)) => Ok(partitions),
            Some(Err(error)) => Err(errors::produce_error(py, &error)),
            None => Err(errors::exception(
                py,
                Kind::Timeout,
                format!(
                    "Failed to update metadata after {:.1} secs.",
                    self.max_block.as_secs_f64()
                ),
            )),
        }
    }

    /// The producer's metrics as `{name: value}` (kafka-python's names),
    /// and per topic `{topic: {name: value}}`.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Metrics<'py>> {
        let m = self.inner.metrics();
        let all = PyDict::new(py);
        #[allow(clippy::cast_precision_loss)]
        let counts = [
            ("record-send-total", m.record_send_total as f64),
            ("record-send-rate", m.record_send_rate),
            ("record-error-total", m.record_error_total as f64),
            ("record-error-rate", m.record_error_rate),
            ("record-retry-total", m.record_retry_total as f64),
            ("record-retry-rate", m.record_retry_rate),
            ("byte-total", m.byte_total as f64),
            ("byte-rate", m.byte_rate),
            ("request-total", m.request_total as f64),
            ("request-rate", m.request_rate),
            ("requests-in-flight", m.requests_in_flight as f64),
            ("batch-size-avg", m.batch_size_avg),
            ("batch-size-max", m.batch_size_max as f64),
            ("records-per-request-avg", m.records_per_request_avg),
            ("request-latency-avg", m.request_latency_avg_ms),
            ("request-latency-max", m.request_latency_max_ms),
            ("compression-rate-avg", m.compression_rate_avg),
            ("buffer-available-bytes", m.buffer_available_bytes as f64),
            ("record-size-avg", m.record_size_avg),
            ("record-size-max", m.record_size_max as f64),
            ("record-queue-time-avg", m.record_queue_time_avg_ms),
            ("record-queue-time-max", m.record_queue_time_max_ms),
        ];
        for (name, value) in counts {
            all.set_item(name, value)?;
        }
        let mut topics = BTreeMap::new();
        for (topic, t) in &m.topics {
            let d = PyDict::new(py);
            #[allow(clippy::cast_precision_loss)]
            let values = [
                ("record-send-total", t.record_send_total as f64),
                ("record-send-rate", t.record_send_rate),
                ("byte-total", t.byte_total as f64),
                ("byte-rate", t.byte_rate),
                ("compression-rate", t.compression_rate),
            ];
            for (name, value) in values {
                d.set_item(name, value)?;
            }
            topics.insert(topic.clone(), d);
        }
        Ok((all, topics))
    }

    /// Gets a producer id for `transactional_id`, fencing older producers.
    fn init_transactions(&self, py: Python<'_>) -> PyResult<()> {
        self.check_open(py)?;
        wait_done(py, self.inner.init_transactions(self.max_block))?
            .map_err(|error| errors::transaction_error(py, &error))
    }

    /// Starts a transaction.
    fn begin_transaction(&self, py: Python<'_>) -> PyResult<()> {
        self.check_open(py)?;
        self.inner
            .begin_transaction()
            .map_err(|error| errors::transaction_error(py, &error))
    }

    /// Adds consumed offsets `[(topic, partition, offset, metadata,
    /// leader_epoch)]` of the group to the transaction.
    #[pyo3(signature = (offsets, group_id, generation_id, member_id, group_instance_id))]
    #[allow(clippy::needless_pass_by_value)]
    fn send_offsets_to_transaction(
        &self,
        py: Python<'_>,
        offsets: Vec<crate::consumer::Commit>,
        group_id: String,
        generation_id: i32,
        member_id: String,
        group_instance_id: Option<String>,
    ) -> PyResult<()> {
        self.check_open(py)?;
        let offsets: Vec<_> = offsets
            .into_iter()
            .map(|(topic, partition, offset, metadata, epoch)| {
                (
                    ferrokafka_producer::TopicPartition::new(topic, partition),
                    OffsetAndMetadata {
                        offset,
                        leader_epoch: epoch.filter(|e| *e >= 0),
                        metadata: metadata.unwrap_or_default(),
                    },
                )
            })
            .collect();
        let group = GroupIdentity {
            group_id,
            generation: generation_id,
            member_id,
            group_instance_id,
        };
        wait_done(py, self.inner.send_offsets_to_transaction(offsets, group))?
            .map_err(|error| errors::transaction_error(py, &error))
    }

    /// Commits the transaction (flushing its records first).
    fn commit_transaction(&self, py: Python<'_>) -> PyResult<()> {
        self.check_open(py)?;
        wait_done(py, self.inner.commit_transaction(self.max_block))?
            .map_err(|error| errors::transaction_error(py, &error))
    }

    /// Aborts the transaction.
    fn abort_transaction(&self, py: Python<'_>) -> PyResult<()> {
        self.check_open(py)?;
        wait_done(py, self.inner.abort_transaction(self.max_block))?
            .map_err(|error| errors::transaction_error(py, &error))
    }
}
