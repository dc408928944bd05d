//! Consumer-group membership as a state machine with no I/O: the classic
//! protocol (join, sync, heartbeat, leave, commit) and KIP-848, and the
//! partition assignors (range, round-robin, sticky, cooperative-sticky),
//! and the committed-offset requests and responses ([`offsets`]: OffsetCommit
//! and OffsetFetch at every version) the consumer and the admin client share;
//! for share groups (KIP-932), membership over ShareGroupHeartbeat
//! ([`share_member`]) and the acquired records and their acknowledgements
//! ([`share_acks`]).
//!
//! It deliberately does no I/O and knows no tokio: it takes `(now, event)`
//! and returns the requests to send and the timers to set, so a simulation
//! can drive thousands of rebalances deterministically.

pub mod assignor;
pub mod consumer_member;
mod heartbeat_core;
pub mod member;
pub mod offsets;
pub mod share_acks;
pub mod share_member;
