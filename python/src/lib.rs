//! `ferrokafka._core`: the extension module under the `ferrokafka` Python
//! package. It holds the Rust producer, consumer and admin client and the
//! few objects made per record (delivery futures, consumed records); the
//! Python package around it gives them kafka-python's names, arguments and
//! defaults.
//!
//! Every call that may wait releases the GIL and wakes every 100 ms to let
//! Python handle signals (Ctrl-C interrupts a blocked call).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

mod admin;
mod consumer;
mod errors;
mod logging;
mod producer;

/// The runtime every client of the process shares: its workers run the
/// producers' senders, the consumers' membership tasks and the connections.
///
/// A process forked from one that used it (multiprocessing's default on
/// Linux) has none of its threads: the child gets a runtime of its own.
/// (Clients made before the fork are of no use in the child.)
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let mut current = RUNTIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pid = std::process::id();
    match *current {
        Some((owner, runtime)) if owner == pid => runtime,
        _ => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("ferrokafka-io")
                .enable_all()
                .build()
                // Without a runtime nothing of the module can work; the
                // operating system refusing threads is not recoverable
                // here.
                .expect("cannot start ferrokafka's I/O runtime");
            // Lives as long as the process: clients hold onto its handles.
            let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
            *current = Some((pid, runtime));
            runtime
        }
    }
}

/// Work for the thread that runs Python on behalf of Rust tasks.
pub(crate) type PythonWork = Box<dyn FnOnce(Python<'_>) + Send>;

/// Runs `work` with the GIL on one thread of the module's own (the
/// asyncio flavour's completions), never on an I/O thread.
pub(crate) fn call_soon(work: PythonWork) {
    static SENDER: Mutex<Option<(u32, std::sync::mpsc::Sender<PythonWork>)>> = Mutex::new(None);
    let mut current = SENDER
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pid = std::process::id();
    if current.as_ref().is_none_or(|(owner, _)| *owner != pid) {
        let (sender, receiver) = std::sync::mpsc::channel::<PythonWork>();
        let _ = std::thread::Builder::new()
            .name("ferrokafka-python".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    Python::attach(|py| {
                        first(py);
                        while let Ok(next) = receiver.try_recv() {
                            next(py);
                        }
                    });
                }
            });
        *current = Some((pid, sender));
    }
    if let Some((_, sender)) = current.as_ref() {
        let _ = sender.send(work);
    }
}

/// How often a blocked call comes back for Python's signal handlers.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// Runs `future` to completion without the GIL, coming back every
/// [`SIGNAL_CHECK`] to run Python's signal handlers: a `KeyboardInterrupt`
/// (or any exception a handler raises) abandons the call. `None` when
/// `limit` passed first.
pub(crate) fn wait<F>(
    py: Python<'_>,
    limit: Option<Duration>,
    future: F,
) -> PyResult<Option<F::Output>>
where
    F: Future + Send,
    F::Output: Send,
{
    let deadline = limit.map(|limit| Instant::now() + limit);
    let mut future = std::pin::pin!(future);
    loop {
        let slice = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                left.min(SIGNAL_CHECK)
            }
            None => SIGNAL_CHECK,
        };
        let fut = future.as_mut();
        let outcome =
            py.detach(|| runtime().block_on(async move { tokio::time::timeout(slice, fut).await }));
        if let Ok(output) = outcome {
            return Ok(Some(output));
        }
        py.check_signals()?;
    }
}

/// [`wait`] with no limit of its own (the operation has its timeouts).
pub(crate) fn wait_done<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let output = wait(py, None, future)?;
    Ok(output.expect("a wait without a limit ends with the output"))
}

/// A `timeout` in seconds as kafka-python takes it: `None` for no limit,
/// else a number of at least zero.
pub(crate) fn seconds(name: &str, timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(Duration::from_secs_f64(t.min(1e9)))),
        Some(t) if t == f64::INFINITY => Ok(None),
        Some(t) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{name} must be a number of seconds >= 0 or None, not {t}"
        ))),
    }
}

/// A timeout in milliseconds (`timeout_ms`), at least zero.
pub(crate) fn millis(name: &str, timeout_ms: Option<f64>) -> PyResult<Option<Duration>> {
    seconds(name, timeout_ms.map(|ms| ms / 1000.0)).map_err(|_| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{name} must be a number of milliseconds >= 0 or None, not {}",
            timeout_ms.unwrap_or_default()
        ))
    })
}

/// Every Kafka error code with its name and whether retrying may help:
/// `[(code, name, retriable)]`.
#[pyfunction]
fn error_codes() -> Vec<(i16, &'static str, bool)> {
    ferrokafka_protocol::messages::error_code::ALL_CODES
        .iter()
        .map(|&code| {
            let error = ferrokafka_protocol::ErrorCode::from_code(code);
            (code, error.name(), error.is_retriable())
        })
        .collect()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logging::install();
    m.add_class::<producer::Producer>()?;
    m.add_class::<producer::FutureRecordMetadata>()?;
    m.add_class::<consumer::Consumer>()?;
    m.add_class::<consumer::Polled>()?;
    m.add_class::<consumer::Held>()?;
    m.add_class::<consumer::HeldIterator>()?;
    m.add_class::<admin::Admin>()?;
    m.add_function(wrap_pyfunction!(error_codes, m)?)?;
    m.add_function(wrap_pyfunction!(admin::scram_salted_password, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
