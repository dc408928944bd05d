//! Options every admin operation takes.

use std::time::Duration;

/// Options of one admin operation.
///
/// ```
/// use std::time::Duration;
/// use ferrokafka_admin::AdminOptions;
/// let options = AdminOptions::new().timeout(Duration::from_secs(5));
/// assert_eq!(options.timeout_or(Duration::from_secs(60)), Duration::from_secs(5));
/// assert_eq!(AdminOptions::new().timeout_or(Duration::from_secs(60)), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminOptions {
    /// How long the operation may take, retries included; `None` means the
    /// client's `default_api_timeout_ms`.
    pub timeout: Option<Duration>,
}

impl AdminOptions {
    /// The defaults: the client's `default_api_timeout_ms`.
    pub fn new() -> Self {
        AdminOptions::default()
    }

    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The timeout, or `default` when none is set.
    pub fn timeout_or(&self, default: Duration) -> Duration {
        self.timeout.unwrap_or(default)
    }
}
