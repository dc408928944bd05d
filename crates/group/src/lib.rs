//! Consumer-group membership as a state machine with no I/O: the classic
//! protocol (join, sync, heartbeat, leave, commit) and KIP-848, and the
//! partition assignors (range, round-robin, sticky, cooperative-sticky).
//!
//! It deliberately does no I/O and knows no tokio: it takes `(now, event)`
//! and returns the requests to send and the timers to set, so a simulation
//! can drive thousands of rebalances deterministically.

pub mod assignor;
pub mod consumer_member;
pub mod member;
