//! Retrying a retriable failure until the operation's deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::AdminError;

/// Runs `attempt` until it succeeds, fails for good, or `deadline` passes;
/// a retriable error waits `backoff` and tries again. An attempt that is
/// still failing at the deadline ends as [`AdminError::TimedOut`] carrying
/// that error.
#[allow(dead_code, reason = "the operations that use it are being written")]
pub(crate) async fn until_deadline<T, F, Fut>(
    what: &str,
    deadline: Instant,
    backoff: Duration,
    mut attempt: F,
) -> Result<T, AdminError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AdminError>>,
{
    let started = Instant::now();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(outcome) = tokio::time::timeout(remaining, attempt()).await else {
            return Err(AdminError::TimedOut {
                what: what.to_string(),
                after: deadline.saturating_duration_since(started),
                last_error: None,
            });
        };
        match outcome {
            Err(error) if error.is_retriable() => {
                if Instant::now() + backoff >= deadline {
                    return Err(AdminError::TimedOut {
                        what: what.to_string(),
                        after: deadline.saturating_duration_since(started),
                        last_error: Some(Box::new(error)),
                    });
                }
                tracing::debug!(what, %error, "retrying");
                tokio::time::sleep(backoff).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::ErrorCode;

    #[tokio::test]
    async fn retries_a_retriable_error_then_times_out_with_it() {
        let mut calls = 0;
        let result: Result<(), _> = until_deadline(
            "topic t",
            Instant::now() + Duration::from_millis(100),
            Duration::from_millis(10),
            || {
                calls += 1;
                async {
                    Err(
                        AdminError::from_code("topic t", ErrorCode::NotLeaderOrFollower, None)
                            .unwrap(),
                    )
                }
            },
        )
        .await;
        let error = result.unwrap_err();
        assert!(calls > 2, "{calls} attempts");
        assert!(matches!(error, AdminError::TimedOut { .. }), "{error}");
        assert_eq!(error.code(), Some(ErrorCode::NotLeaderOrFollower));
    }

    #[tokio::test]
    async fn a_fatal_error_is_returned_at_once() {
        let mut calls = 0;
        let result: Result<(), _> = until_deadline(
            "topic t",
            Instant::now() + Duration::from_secs(10),
            Duration::from_millis(10),
            || {
                calls += 1;
                async {
                    Err(
                        AdminError::from_code("topic t", ErrorCode::TopicAlreadyExists, None)
                            .unwrap(),
                    )
                }
            },
        )
        .await;
        assert_eq!(
            result.unwrap_err().code(),
            Some(ErrorCode::TopicAlreadyExists)
        );
        assert_eq!(calls, 1);
    }
}
