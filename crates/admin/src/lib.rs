//! The Kafka admin client: topics, records, configs, groups, cluster, ACLs,
//! SCRAM credentials and transactions, each call routed to the right broker.
//!
//! It is deliberately only the admin API; producing and consuming live in
//! their own crates.
