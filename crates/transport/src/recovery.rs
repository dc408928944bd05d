//! When the cluster client gives up on the brokers it knows and starts over
//! from its bootstrap servers (KIP-899, KIP-1102): the decision alone, with
//! no I/O, driven by what the client saw and when.
//!
//! The client rebootstraps when every broker the metadata names is
//! unreachable (the cluster was replaced behind the same bootstrap
//! address), when a broker answers a Metadata request with
//! REBOOTSTRAP_REQUIRED, or when no metadata could be had for
//! `metadata_recovery_rebootstrap_trigger_ms` since the first attempt that
//! failed. With `metadata_recovery_strategy=none` it never does, as the
//! Java client before 4.0: the brokers once learned are the only ones.

use std::time::{Duration, Instant};

/// `metadata_recovery_strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryStrategy {
    /// Never go back to the bootstrap servers once the metadata named brokers.
    None,
    /// Resolve the bootstrap servers again and start over from them
    /// (the Java client's default since 4.0).
    #[default]
    Rebootstrap,
}

/// What went wrong, as the recovery decision needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFailure {
    /// No broker the metadata names could be reached.
    AllBrokersUnreachable,
    /// A broker answered REBOOTSTRAP_REQUIRED.
    RebootstrapRequired,
    /// Any other failure to get metadata.
    Other,
}

/// Why the client rebootstraps, for the log and for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootstrapReason {
    /// Every known broker was unreachable.
    AllBrokersUnreachable,
    /// A broker asked for it.
    RebootstrapRequired,
    /// No metadata for `metadata_recovery_rebootstrap_trigger_ms`.
    NoMetadataFor(Duration),
}

/// What the client does after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Keep trying the brokers it knows.
    CarryOn,
    /// Resolve the bootstrap servers again and fetch metadata from them.
    Rebootstrap(RebootstrapReason),
}

/// The recovery state of one client.
#[derive(Debug, Clone)]
pub struct Recovery {
    strategy: RecoveryStrategy,
    trigger: Duration,
    /// When the first attempt of the current run of failures started.
    failing_since: Option<Instant>,
    rebootstraps: u64,
}

impl Recovery {
    /// A client with no failure yet.
    pub fn new(strategy: RecoveryStrategy, trigger: Duration) -> Self {
        Recovery {
            strategy,
            trigger,
            failing_since: None,
            rebootstraps: 0,
        }
    }

    /// Metadata arrived: the failures, if any, are over.
    pub fn on_metadata(&mut self) {
        self.failing_since = None;
    }

    /// An attempt to get metadata failed `now` because of `failure`.
    pub fn on_failure(&mut self, now: Instant, failure: MetadataFailure) -> Decision {
        let since = *self.failing_since.get_or_insert(now);
        if self.strategy == RecoveryStrategy::None {
            return Decision::CarryOn;
        }
        let reason = match failure {
            MetadataFailure::AllBrokersUnreachable => RebootstrapReason::AllBrokersUnreachable,
            MetadataFailure::RebootstrapRequired => RebootstrapReason::RebootstrapRequired,
            MetadataFailure::Other if now.saturating_duration_since(since) >= self.trigger => {
                RebootstrapReason::NoMetadataFor(self.trigger)
            }
            MetadataFailure::Other => return Decision::CarryOn,
        };
        // The trigger counts afresh from the rebootstrap: the bootstrap
        // servers get their own full period.
        self.failing_since = Some(now);
        self.rebootstraps += 1;
        Decision::Rebootstrap(reason)
    }

    /// How many times the client rebootstrapped.
    pub fn rebootstraps(&self) -> u64 {
        self.rebootstraps
    }

    /// Whether the bootstrap servers may be used again once the metadata
    /// named brokers.
    pub fn may_rebootstrap(&self) -> bool {
        self.strategy == RecoveryStrategy::Rebootstrap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRIGGER: Duration = Duration::from_secs(300);

    #[test]
    fn every_broker_unreachable_rebootstraps_at_once() {
        let mut recovery = Recovery::new(RecoveryStrategy::Rebootstrap, TRIGGER);
        let now = Instant::now();
        assert_eq!(
            recovery.on_failure(now, MetadataFailure::AllBrokersUnreachable),
            Decision::Rebootstrap(RebootstrapReason::AllBrokersUnreachable)
        );
        assert_eq!(recovery.rebootstraps(), 1);
    }

    #[test]
    fn a_broker_asking_for_it_rebootstraps_at_once() {
        let mut recovery = Recovery::new(RecoveryStrategy::Rebootstrap, TRIGGER);
        assert_eq!(
            recovery.on_failure(Instant::now(), MetadataFailure::RebootstrapRequired),
            Decision::Rebootstrap(RebootstrapReason::RebootstrapRequired)
        );
    }

    #[test]
    fn other_failures_rebootstrap_only_after_the_trigger_time() {
        let mut recovery = Recovery::new(RecoveryStrategy::Rebootstrap, TRIGGER);
        let start = Instant::now();
        assert_eq!(
            recovery.on_failure(start, MetadataFailure::Other),
            Decision::CarryOn
        );
        let almost = start + Duration::from_millis(299_999);
        assert_eq!(
            recovery.on_failure(almost, MetadataFailure::Other),
            Decision::CarryOn
        );
        assert_eq!(
            recovery.on_failure(start + TRIGGER, MetadataFailure::Other),
            Decision::Rebootstrap(RebootstrapReason::NoMetadataFor(TRIGGER))
        );
        // The bootstrap servers get a full period of their own.
        assert_eq!(
            recovery.on_failure(start + TRIGGER + TRIGGER / 2, MetadataFailure::Other),
            Decision::CarryOn
        );
    }

    #[test]
    fn metadata_ends_the_run_of_failures() {
        let mut recovery = Recovery::new(RecoveryStrategy::Rebootstrap, TRIGGER);
        let start = Instant::now();
        recovery.on_failure(start, MetadataFailure::Other);
        recovery.on_metadata();
        assert_eq!(
            recovery.on_failure(start + TRIGGER, MetadataFailure::Other),
            Decision::CarryOn
        );
        assert_eq!(recovery.rebootstraps(), 0);
    }

    #[test]
    fn strategy_none_never_rebootstraps() {
        let mut recovery = Recovery::new(RecoveryStrategy::None, TRIGGER);
        let start = Instant::now();
        for failure in [
            MetadataFailure::AllBrokersUnreachable,
            MetadataFailure::RebootstrapRequired,
            MetadataFailure::Other,
        ] {
            assert_eq!(
                recovery.on_failure(start + TRIGGER * 2, failure),
                Decision::CarryOn
            );
        }
        assert!(!recovery.may_rebootstrap());
        assert_eq!(recovery.rebootstraps(), 0);
    }
}
