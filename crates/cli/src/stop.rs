//! Stopping as people stop a command: the first SIGINT (Ctrl-C) or SIGTERM
//! (a service manager) asks the command to finish cleanly — stop reading,
//! hand over what it has, commit, leave its group — and a second one cuts
//! that short with the shell's exit code for the signal (130 for SIGINT,
//! 143 for SIGTERM), as kafka-console-consumer and kcat do.

use std::sync::Arc;

use tokio::sync::watch;

/// What the command says on standard error when a second signal cuts its
/// clean stop short: how much it leaves undone.
pub(crate) type LastWords = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Whether a stop was asked for; cheap to clone and to check.
#[derive(Clone)]
pub(crate) struct Stop {
    requested: watch::Receiver<bool>,
}

impl Stop {
    /// Starts listening for SIGINT and SIGTERM (on the current runtime).
    /// From then on neither ends the process by itself: the first sets the
    /// stop, the second prints `last_words` and exits. `command` prefixes
    /// what is printed.
    pub(crate) fn install(command: &'static str, last_words: LastWords) -> anyhow::Result<Stop> {
        let (set, requested) = watch::channel(false);
        let mut signals = Signals::new()?;
        tokio::spawn(async move {
            let first = signals.next().await;
            eprintln!(
                "{command}: {} received; finishing (again to exit at once)",
                first.name()
            );
            let _ = set.send(true);
            let second = signals.next().await;
            if let Some(words) = last_words() {
                eprintln!("{command}: {words}");
            }
            eprintln!("{command}: {} received again; exiting", second.name());
            std::process::exit(second.exit_code());
        });
        Ok(Stop { requested })
    }

    /// Whether a stop was asked for.
    pub(crate) fn requested(&self) -> bool {
        *self.requested.borrow()
    }

    /// Resolves once a stop is asked for (at once if it was). Cancel-safe:
    /// for `select!` against a wait that may be abandoned.
    pub(crate) async fn wait(&self) {
        let mut requested = self.requested.clone();
        // An error means the listener is gone, which only happens as the
        // process exits: nothing left to wait for.
        let _ = requested.wait_for(|stop| *stop).await;
    }
}

#[derive(Clone, Copy)]
enum Signal {
    Interrupt,
    Terminate,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }

    /// 128 plus the signal's number, as a shell reports a process the
    /// signal ended.
    fn exit_code(self) -> i32 {
        match self {
            Signal::Interrupt => 130,
            Signal::Terminate => 143,
        }
    }
}

#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> anyhow::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) -> Signal {
        match tokio::signal::ctrl_c().await {
            Ok(()) => Signal::Interrupt,
            // No way to hear signals: never stop on one.
            Err(_) => std::future::pending().await,
        }
    }
}
