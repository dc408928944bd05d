//! The Kafka admin client: topics, records, configs, groups, cluster, ACLs,
//! SCRAM credentials and transactions, each call routed to the right broker.
//!
//! Every operation takes [`AdminOptions`] (a timeout) and answers one result
//! per item it was given, so a topic that fails does not hide the others.
//!
//! It is deliberately only the admin API; producing and consuming live in
//! their own crates, and the operator commands built on it live in the CLI.
//!
//! ```no_run
//! # async fn example() -> Result<(), ferrokafka_admin::AdminError> {
//! use ferrokafka_admin::{Admin, AdminConfig};
//!
//! let admin = Admin::connect(AdminConfig::from_pairs([("bootstrap_servers", "127.0.0.1:9092")])?).await?;
//! let cluster_id = admin.client().view(|view| view.cluster_id().map(str::to_owned));
//! # let _ = cluster_id;
//! # Ok(()) }
//! ```

mod admin;
mod error;
mod options;
mod retry;
mod telemetry;

pub mod acls;
pub mod cluster;
pub mod configs;
pub mod groups;
pub mod records;
pub mod scram;
pub mod share_groups;
pub mod topics;
pub mod transactions;

pub use admin::{Admin, AdminConfig};
pub use error::AdminError;
pub use ferrokafka_transport::{NetworkMetrics, NodeMetrics};
pub use options::AdminOptions;
