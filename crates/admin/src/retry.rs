//! Retrying a retriable failure until the operation's deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::AdminError;

/// Runs `attempt` until it succeeds, fails for good, or `deadline` passes;
/// a retriable error waits `backoff` and tries again. An attempt that is
/// still failing at the deadline ends as [`AdminError::TimedOut`] carrying
/// that error.
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

/// The outcome of one round of a per-item operation: an answer for each
/// item it was asked about, or a failure of the whole round (a broker that
/// could not be reached), which counts for every item.
pub(crate) type Round<K, T> = Result<BTreeMap<K, Result<T, AdminError>>, AdminError>;

/// Runs rounds of a per-item operation until every item has a final answer
/// or `deadline` passes. Each round is given the items still pending; an
/// item whose answer `retriable` accepts stays pending (after `backoff`),
/// any other answer is final. An item the round did not answer is an
/// [`AdminError::UnexpectedResponse`]. Items still failing at the deadline
/// end as [`AdminError::TimedOut`] carrying their last error.
pub(crate) async fn each_until_deadline<K, T, F, Fut>(
    what: &str,
    items: Vec<K>,
    deadline: Instant,
    backoff: Duration,
    retriable: impl Fn(&AdminError) -> bool,
    mut round: F,
) -> BTreeMap<K, Result<T, AdminError>>
where
    K: Ord + Clone + std::fmt::Display,
    F: FnMut(Vec<K>) -> Fut,
    Fut: Future<Output = Round<K, T>>,
{
    let started = Instant::now();
    let mut done = BTreeMap::new();
    let mut pending: Vec<K> = items;
    pending.sort();
    pending.dedup();
    let mut last_errors: BTreeMap<K, AdminError> = BTreeMap::new();
    while !pending.is_empty() {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let Ok(outcome) = tokio::time::timeout(remaining, round(pending.clone())).await else {
            break;
        };
        let mut answers = match outcome {
            Ok(answers) => answers,
            Err(error) => pending
                .iter()
                .map(|k| (k.clone(), Err(error.clone())))
                .collect(),
        };
        let mut still = Vec::new();
        for key in pending {
            match answers.remove(&key) {
                Some(Err(error)) if retriable(&error) => {
                    tracing::debug!(what, item = %key, %error, "retrying");
                    last_errors.insert(key.clone(), error);
                    still.push(key);
                }
                Some(answer) => {
                    done.insert(key, answer);
                }
                None => {
                    let error = AdminError::UnexpectedResponse(format!(
                        "{what}: the broker did not answer for {key}"
                    ));
                    done.insert(key, Err(error));
                }
            }
        }
        pending = still;
        if pending.is_empty() || Instant::now() + backoff >= deadline {
            break;
        }
        tokio::time::sleep(backoff).await;
    }
    for key in pending {
        let last_error = last_errors.remove(&key).map(Box::new);
        done.insert(
            key.clone(),
            Err(AdminError::TimedOut {
                what: format!("{what} {key}"),
                after: deadline.saturating_duration_since(started),
                last_error,
            }),
        );
    }
    done
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

#[cfg(test)]
mod each_tests {
    use super::*;
    use ferrokafka_protocol::ErrorCode;

    fn broker(code: ErrorCode) -> AdminError {
        AdminError::from_code("item", code, None).unwrap()
    }

    #[tokio::test]
    async fn only_retriable_items_are_asked_again_and_unanswered_ones_are_named() {
        let mut rounds: Vec<Vec<u32>> = Vec::new();
        let results = each_until_deadline(
            "item",
            vec![3, 1, 2, 4, 1],
            Instant::now() + Duration::from_secs(5),
            Duration::from_millis(1),
            AdminError::is_retriable,
            |pending: Vec<u32>| {
                let round = rounds.len();
                rounds.push(pending.clone());
                async move {
                    let mut answers = BTreeMap::new();
                    for item in pending {
                        let answer = match (item, round) {
                            (1, _) => Ok(item * 10),
                            (2, 0) => Err(broker(ErrorCode::NotController)),
                            (2, _) => Ok(20),
                            (3, _) => Err(broker(ErrorCode::TopicAlreadyExists)),
                            _ => continue,
                        };
                        answers.insert(item, answer);
                    }
                    Ok(answers)
                }
            },
        )
        .await;
        assert_eq!(rounds, [vec![1, 2, 3, 4], vec![2]]);
        assert_eq!(results[&1].as_ref().unwrap(), &10);
        assert_eq!(results[&2].as_ref().unwrap(), &20);
        assert_eq!(
            results[&3].as_ref().unwrap_err().code(),
            Some(ErrorCode::TopicAlreadyExists)
        );
        assert!(matches!(
            results[&4],
            Err(AdminError::UnexpectedResponse(_))
        ));
    }

    #[tokio::test]
    async fn a_failed_round_counts_for_every_item_until_the_deadline() {
        let results: BTreeMap<u32, Result<(), AdminError>> = each_until_deadline(
            "item",
            vec![1, 2],
            Instant::now() + Duration::from_millis(100),
            Duration::from_millis(10),
            AdminError::is_retriable,
            |_pending| async { Err(broker(ErrorCode::NotController)) },
        )
        .await;
        for result in results.values() {
            let error = result.as_ref().unwrap_err();
            assert!(matches!(error, AdminError::TimedOut { .. }), "{error}");
            assert_eq!(error.code(), Some(ErrorCode::NotController));
        }
        assert_eq!(results.len(), 2);
    }
}
