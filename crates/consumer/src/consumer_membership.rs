//! Group membership over the wire with KIP-848's consumer protocol
//! (`group_protocol=consumer`): the group crate's [`ConsumerMember`] runs
//! in a task of its own, which sends its ConsumerGroupHeartbeats on the
//! coordinator's connection (the coordination lane), resolves assigned
//! topic ids to names through metadata and applies assignment changes as
//! the classic driver does (see `membership.rs`), so the consumer sees one
//! interface for both protocols.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{BuildHasher as _, Hasher as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_group::consumer_member::{
    Action, ConsumerMember, ConsumerMemberConfig, Event, HeartbeatFailure, TopicSubscription,
};
use ferrokafka_protocol::messages::{
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};
use ferrokafka_transport::{Client, CoordinatorKind, Lane, TransportError};
use tracing::debug;

use crate::coordinator_metrics::MembershipMetrics;
use crate::membership::{Effects, Membership, Protocol, Request, drive};
use crate::positions::Positions;

/// How long a revocation waits for `poll` to run the rebalance listener: the
/// member sends no heartbeat meanwhile, and the broker's session timeout
/// (`group.consumer.session.timeout.ms`) is at least 45 s by default.
const LISTENER_WAIT: Duration = Duration::from_secs(20);

/// Starts the KIP-848 membership task; the consumer drives it through the
/// same [`Membership`] handle as the classic one. Its heartbeats are timed
/// in `heartbeats`.
pub(crate) fn start(
    client: Client,
    mut member: ConsumerMemberConfig,
    auto_commit: bool,
    positions: Arc<Mutex<Positions<TopicPartition>>>,
    heartbeats: Arc<MembershipMetrics>,
) -> Membership {
    if member.member_id.is_empty() {
        member.member_id = generate_member_id();
    }
    let (handle, receiver, shared) =
        Membership::create(&member.group_id, member.group_instance_id.clone());
    let driver = Driver {
        fx: Effects {
            client,
            group_id: member.group_id.clone(),
            auto_commit,
            listener_wait: member.max_poll_interval.min(LISTENER_WAIT),
            positions,
            shared,
            heartbeats,
        },
        member: ConsumerMember::new(member, Instant::now()),
    };
    tokio::spawn(drive(driver, receiver));
    handle
}

/// A random member id (KIP-1082: the client names itself, once per
/// consumer): 128 random bits written as Kafka writes a UUID, URL-safe
/// base64 without padding.
pub(crate) fn generate_member_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(8).enumerate() {
        // RandomState's SipHash keys come from the OS once per thread and
        // differ for every instance, so each half is keyed differently.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(nanos);
        hasher.write_usize(i);
        hasher.write_u32(std::process::id());
        chunk.copy_from_slice(&hasher.finish().to_be_bytes());
    }
    base64_url(&bytes)
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

struct Driver {
    fx: Effects,
    member: ConsumerMember,
}

impl Protocol for Driver {
    type Action = Action;

    fn next_deadline(&self) -> Option<Instant> {
        self.member.next_deadline()
    }

    fn tick(&mut self, now: Instant) -> Vec<Action> {
        self.member.tick(now)
    }

    fn request(&mut self, now: Instant, request: Request) -> Vec<Action> {
        let event = match request {
            Request::Polled => Event::Polled,
            Request::Subscribe(topics) => Event::Subscribed(TopicSubscription::Topics(topics)),
            Request::SubscribeRegex(pattern) => {
                Event::Subscribed(TopicSubscription::Pattern(pattern))
            }
            Request::Close => Event::Close,
        };
        self.member.handle(now, event)
    }

    async fn perform(&mut self, actions: Vec<Action>) {
        let mut queue: VecDeque<Action> = actions.into();
        while let Some(action) = queue.pop_front() {
            let event = match action {
                Action::FindCoordinator => Some(
                    match self
                        .fx
                        .client
                        .coordinator(CoordinatorKind::Group, &self.fx.group_id)
                        .await
                    {
                        Ok(node) => Event::CoordinatorFound(node),
                        Err(error) => {
                            debug!(%error, "group coordinator not found");
                            Event::CoordinatorNotFound
                        }
                    },
                ),
                Action::Heartbeat(request) => {
                    Some(Event::HeartbeatResponse(self.heartbeat(request).await))
                }
                Action::ResolveTopics(ids) => Some(Event::TopicsResolved(
                    resolve_topic_ids(&self.fx.client, &ids).await,
                )),
                Action::Revoke(partitions) => {
                    self.fx.revoke(partitions).await;
                    None
                }
                Action::Assign(partitions) => {
                    self.fx.assign(partitions);
                    None
                }
                Action::Lose(partitions) => {
                    self.fx.lose(partitions);
                    None
                }
                Action::Fatal(error) => {
                    self.fx.fail(error);
                    None
                }
            };
            if let Some(event) = event {
                queue.extend(self.member.handle(Instant::now(), event));
            }
            // Offsets are committed with the member epoch as the generation.
            self.fx
                .set_identity(self.member.member_epoch(), self.member.member_id());
        }
    }
}

impl Driver {
    async fn heartbeat(
        &self,
        request: ConsumerGroupHeartbeatRequest,
    ) -> Result<ConsumerGroupHeartbeatResponse, HeartbeatFailure> {
        let Some(coordinator) = self.member.coordinator() else {
            return Err(HeartbeatFailure::Network);
        };
        let mut unsupported_regex = false;
        let build = |version: i16| {
            let mut request = request.clone();
            if version == 0 {
                // Version 0 has no regex and the coordinator names a joining
                // member itself.
                unsupported_regex = request
                    .subscribed_topic_regex
                    .take()
                    .is_some_and(|r| !r.is_empty());
                if request.member_epoch == 0 {
                    request.member_id.clear();
                }
            }
            request
        };
        let result = self
            .fx
            .heartbeats
            .time_heartbeat(
                self.fx
                    .client
                    .send_built(coordinator, Lane::Coordination, build),
            )
            .await;
        if unsupported_regex && result.is_ok() {
            return Err(HeartbeatFailure::Unsupported);
        }
        heartbeat_outcome(
            &self.fx.client,
            &self.fx.group_id,
            "consumer",
            result,
            |r| (r.error_code, r.error_message.as_deref()),
        )
    }
}

/// Reads a group heartbeat's outcome as both membership drivers
/// (`consumer` and `share`) do: a coordinator that moved is forgotten, an
/// error answered is logged, and a request that got no answer (or an API
/// the broker lacks) is a [`HeartbeatFailure`].
pub(crate) fn heartbeat_outcome<R>(
    client: &Client,
    group_id: &str,
    kind: &str,
    result: Result<R, TransportError>,
    error_of: impl Fn(&R) -> (i16, Option<&str>),
) -> Result<R, HeartbeatFailure> {
    match result {
        Ok(response) => {
            let (code, message) = error_of(&response);
            let error = ErrorCode::from_code(code);
            if matches!(
                error,
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
            ) {
                client.forget_coordinator(CoordinatorKind::Group, group_id);
            }
            if error != ErrorCode::None {
                debug!(
                    group = group_id,
                    %error,
                    message = message.unwrap_or(""),
                    "{kind} group heartbeat failed"
                );
            }
            Ok(response)
        }
        Err(TransportError::UnsupportedApi { .. }) => Err(HeartbeatFailure::Unsupported),
        Err(error) => {
            debug!(%error, "{kind} group heartbeat not answered");
            client.forget_coordinator(CoordinatorKind::Group, group_id);
            Err(HeartbeatFailure::Network)
        }
    }
}

/// The names metadata knows for `ids`, refreshing it once when some are
/// missing (a topic created after the last refresh).
pub(crate) async fn resolve_topic_ids(client: &Client, ids: &[Uuid]) -> BTreeMap<Uuid, String> {
    let mut names = known_topic_ids(client, ids);
    if names.len() < ids.len() {
        if let Err(error) = client.refresh_metadata().await {
            debug!(%error, "metadata refresh for assigned topics failed");
        }
        names = known_topic_ids(client, ids);
    }
    names
}

fn known_topic_ids(client: &Client, ids: &[Uuid]) -> BTreeMap<Uuid, String> {
    client.view(|view| {
        view.topic_names()
            .filter_map(|name| {
                let id = view.topic(name)?.id;
                ids.contains(&id).then(|| (id, name.to_string()))
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_22_url_safe_characters_and_differ() {
        let a = generate_member_id();
        let b = generate_member_id();
        assert_eq!(a.len(), 22, "{a}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{a}"
        );
        assert_ne!(a, b);
        assert_eq!(base64_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64_url(b"Man"), "TWFu");
    }
}
