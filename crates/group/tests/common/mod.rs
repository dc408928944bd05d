//! The classic member the join tests drive: the Java client's session,
//! heartbeat and poll settings, and the range assignor.

use std::time::{Duration, Instant};

use ferrokafka_group::assignor::RangeAssignor;
use ferrokafka_group::member::{Member, MemberConfig};

/// `max_poll_interval_ms`, which is also the rebalance timeout a join may
/// be held for.
pub(crate) const MAX_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// A member of group `g`, not yet subscribed.
pub(crate) fn member(now: Instant) -> Member {
    let config = MemberConfig {
        group_id: "g".into(),
        group_instance_id: None,
        session_timeout: Duration::from_secs(45),
        heartbeat_interval: Duration::from_secs(3),
        max_poll_interval: MAX_POLL_INTERVAL,
        retry_backoff: Duration::from_millis(50),
        retry_backoff_max: Duration::from_secs(1),
        rack: None,
    };
    Member::new(config, vec![Box::new(RangeAssignor)], now)
}
