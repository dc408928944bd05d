//! An in-memory cluster for unit tests of failure paths (feature `fake`):
//! brokers that answer Metadata from a topic table and everything else
//! through a handler the test writes, which can also leave a request
//! unanswered, drop the connection, or answer as a hostile or broken broker
//! would: bytes that are no valid frame, an answer to another request, an
//! answer trickling in ([`FakeReply::Wire`], [`FakeReply::Drip`]). Never a
//! stand-in for the real broker in integration tests.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use ferrokafka_transport::fake::{FakeCluster, FakeReply};
//! use ferrokafka_transport::config::ClientConfig;
//!
//! let cluster = FakeCluster::new(3, |_request| None);
//! cluster.add_topic("events", &[1, 2]);
//! let config = ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap())]).unwrap();
//! let client = cluster.client(config).await.unwrap();
//! assert_eq!(client.leader("events", 1).await.unwrap(), 2);
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{BufMut as _, Bytes, BytesMut};
use ferrokafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use ferrokafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use ferrokafka_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, GetTelemetrySubscriptionsResponse,
    InitProducerIdResponse, MetadataResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader,
};
use ferrokafka_protocol::{ApiKey, ErrorCode, Message, Uuid};

use crate::config::ClientConfig;
use crate::frame::SIZE_PREFIX;
use crate::link::{BrokerLink, Connector};
use crate::{Client, FinalizedFeatures, RequestFrame, TransportError};

/// A request as a fake broker received it.
#[derive(Debug, Clone)]
pub struct FakeRequest {
    /// The node it was sent to.
    pub node: i32,
    /// Its API.
    pub key: ApiKey,
    /// Its version.
    pub version: i16,
    /// Its body (after the header).
    pub body: Bytes,
    /// The correlation id the client gave it: what a [`FakeReply::Wire`]
    /// answer must carry to be taken as its answer.
    pub correlation_id: i32,
}

impl FakeRequest {
    /// The body decoded as `M`.
    ///
    /// # Panics
    /// If the body is not an `M` at this version: the client sent
    /// something malformed, which is what the test is there to catch.
    pub fn decode<M: Message>(&self) -> M {
        M::decode(self.body.clone(), self.version)
            .unwrap_or_else(|e| panic!("the client sent a malformed {}: {e}", M::NAME))
    }
}

/// What a fake broker does with a request.
#[derive(Debug, Clone)]
pub enum FakeReply {
    /// Answer with this response body.
    Respond(Bytes),
    /// Never answer: the client's request timeout fires.
    Hang,
    /// Close the connection.
    Disconnect,
    /// Do what the inner reply says after a delay: answers held back, and
    /// with delays that differ, answered in another order than asked. A
    /// delay past the request's timeout times it out.
    After(std::time::Duration, Box<FakeReply>),
    /// Answer as the cluster does when the handler has no answer (its
    /// metadata, coordinators, producer ids...): with
    /// [`FakeReply::After`], the cluster's own answer held back.
    Default,
    /// Put these bytes on the wire as they are: size prefix, response
    /// header, body. The link reads them as a connection reads its socket
    /// (the connection's own frame reader, its `receive_message_max_bytes`
    /// limit, the correlation id looked up), so every way a frame can be
    /// wrong fails as it would over TCP: a size past the limit or
    /// negative, a frame cut short (the broker closing mid-frame), a
    /// correlation id no request has, or bytes after the frame (an answer
    /// to a request never sent), each closing the link. The helpers
    /// [`FakeReply::frame`], [`FakeReply::cut`], [`FakeReply::unsolicited`],
    /// [`FakeReply::with_unsolicited`] and [`FakeReply::claiming`] build
    /// them.
    Wire(Bytes),
    /// The inner reply's bytes arriving one every given interval: a
    /// broker or network trickling its answer. An answer that would take
    /// longer than the request timeout times out, as over TCP, where the
    /// deadline covers the whole response.
    Drip(std::time::Duration, Box<FakeReply>),
}

impl FakeReply {
    /// Answers with `message`, encoded at the request's version.
    ///
    /// # Panics
    /// If `message` cannot be encoded at that version (a test bug).
    pub fn with<M: Message>(request: &FakeRequest, message: &M) -> FakeReply {
        let mut body = BytesMut::new();
        message
            .encode(&mut body, request.version)
            .unwrap_or_else(|e| {
                panic!(
                    "the test's {} does not fit v{}: {e}",
                    M::NAME,
                    request.version
                )
            });
        FakeReply::Respond(body.freeze())
    }

    /// A FindCoordinator answer naming `node` the coordinator of every key
    /// asked for (one coordinator field before v4, a list from v4).
    pub fn coordinator(request: &FakeRequest, node: i32) -> FakeReply {
        let asked: FindCoordinatorRequest = request.decode();
        let mut response = FindCoordinatorResponse::default();
        if request.version >= 4 {
            response.coordinators = asked
                .coordinator_keys
                .into_iter()
                .map(
                    |key| ferrokafka_protocol::messages::find_coordinator_response::Coordinator {
                        key,
                        node_id: node,
                        host: format!("fake-{node}"),
                        port: 9092,
                        ..Default::default()
                    },
                )
                .collect();
        } else {
            response.node_id = node;
            response.host = format!("fake-{node}");
            response.port = 9092;
        }
        FakeReply::with(request, &response)
    }

    /// The body of `answer`, a [`FakeReply::Respond`] (as
    /// [`FakeReply::with`] and [`FakeReply::produce`] make), behind a
    /// response header carrying `correlation_id`, framed with its size:
    /// the bytes a broker puts on the wire.
    ///
    /// # Panics
    /// If `answer` is not a [`FakeReply::Respond`] (a test bug).
    pub fn frame(request: &FakeRequest, correlation_id: i32, answer: FakeReply) -> Bytes {
        let FakeReply::Respond(body) = answer else {
            panic!("only a Respond answer can be framed, not {answer:?}")
        };
        let mut out = BytesMut::new();
        out.put_i32(0);
        ResponseHeader {
            correlation_id,
            ..ResponseHeader::default()
        }
        .write_body(
            &mut out,
            request.key.response_header_version(request.version),
        )
        .unwrap_or_else(|e| panic!("a response header does not encode: {e}"));
        out.put_slice(&body);
        crate::frame::finish(&mut out);
        out.freeze()
    }

    /// The right `answer` to `request`, cut after its first `keep` bytes
    /// on the wire (size prefix included), the broker then closing the
    /// connection.
    ///
    /// # Panics
    /// As [`FakeReply::frame`].
    pub fn cut(request: &FakeRequest, answer: FakeReply, keep: usize) -> FakeReply {
        let whole = FakeReply::frame(request, request.correlation_id, answer);
        FakeReply::Wire(whole.slice(..keep.min(whole.len())))
    }

    /// `answer` as the answer to a request that was never sent: a
    /// correlation id no request on the link has.
    ///
    /// # Panics
    /// As [`FakeReply::frame`].
    pub fn unsolicited(request: &FakeRequest, answer: FakeReply) -> FakeReply {
        let id = request.correlation_id.wrapping_add(1_000_000);
        FakeReply::Wire(FakeReply::frame(request, id, answer))
    }

    /// The right `answer`, then another frame answering a request never
    /// sent: the first is taken, the second closes the link.
    ///
    /// # Panics
    /// As [`FakeReply::frame`].
    pub fn with_unsolicited(request: &FakeRequest, answer: FakeReply) -> FakeReply {
        let right = FakeReply::frame(request, request.correlation_id, answer.clone());
        let extra = FakeReply::frame(request, request.correlation_id.wrapping_add(1), answer);
        let mut out = BytesMut::from(&right[..]);
        out.put_slice(&extra);
        FakeReply::Wire(out.freeze())
    }

    /// A size prefix claiming `size` bytes (negative, or past any limit),
    /// and nothing after it.
    pub fn claiming(size: i32) -> FakeReply {
        FakeReply::Wire(Bytes::copy_from_slice(&size.to_be_bytes()))
    }

    /// Answers a Produce request with `error` for every partition in it,
    /// the first record of each at `base_offset` (the default answer to a
    /// Produce is this with no error and offset 0).
    ///
    /// # Panics
    /// If `request` is not a well-formed Produce request.
    pub fn produce(request: &FakeRequest, error: ErrorCode, base_offset: i64) -> FakeReply {
        FakeReply::produce_per_partition(request, |_| (error, base_offset))
    }

    /// Answers each partition of a Produce request with what `answer` gives
    /// for its index: an error and the offset of its first record.
    ///
    /// # Panics
    /// If `request` is not a well-formed Produce request.
    pub fn produce_per_partition(
        request: &FakeRequest,
        answer: impl Fn(i32) -> (ErrorCode, i64),
    ) -> FakeReply {
        let produce: ProduceRequest = request.decode();
        let response = ProduceResponse {
            responses: produce
                .topic_data
                .iter()
                .map(|topic| TopicProduceResponse {
                    name: topic.name.clone(),
                    topic_id: topic.topic_id,
                    partition_responses: topic
                        .partition_data
                        .iter()
                        .map(|p| {
                            let (error, base_offset) = answer(p.index);
                            PartitionProduceResponse {
                                index: p.index,
                                error_code: error.code(),
                                base_offset,
                                log_append_time_ms: -1,
                                ..PartitionProduceResponse::default()
                            }
                        })
                        .collect(),
                    ..TopicProduceResponse::default()
                })
                .collect(),
            ..ProduceResponse::default()
        };
        FakeReply::with(request, &response)
    }
}

type Handler = dyn Fn(&FakeRequest) -> Option<FakeReply> + Send + Sync;

struct State {
    /// The nodes the cluster has now ([`FakeCluster::replace_nodes`]
    /// swaps them).
    nodes: Vec<i32>,
    /// What Metadata answers name the cluster, and what a connection
    /// claiming another cluster is refused for (KIP-1242).
    cluster_id: String,
    topics: BTreeMap<String, (Uuid, Vec<i32>)>,
    down: HashSet<i32>,
    received: Vec<(i32, ApiKey)>,
    features: FinalizedFeatures,
}

struct Shared {
    handler: Box<Handler>,
    state: Mutex<State>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared
        .state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The address [`FakeCluster::bootstrap_alias`] gives.
const BOOTSTRAP_ALIAS: &str = "fake-bootstrap:9092";

/// A distinct, non-zero topic id per topic of a fake cluster.
fn topic_id(n: usize) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[8..].copy_from_slice(&(n as u64).to_be_bytes());
    Uuid(bytes)
}

/// Brokers `1..=n` at `fake-<id>:9092`.
#[derive(Clone)]
pub struct FakeCluster {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for FakeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCluster")
            .field("nodes", &lock(&self.shared).nodes)
            .finish_non_exhaustive()
    }
}

impl FakeCluster {
    /// `brokers` nodes; `handler` answers each request first, and `None`
    /// leaves it to the defaults (Metadata from the topic table,
    /// FindCoordinator naming the node with the lowest id, InitProducerId with id 1000,
    /// GetTelemetrySubscriptions with no metrics wanted; any
    /// other request panics, naming itself, so a test answers it).
    pub fn new(
        brokers: i32,
        handler: impl Fn(&FakeRequest) -> Option<FakeReply> + Send + Sync + 'static,
    ) -> Self {
        FakeCluster {
            shared: Arc::new(Shared {
                handler: Box::new(handler),
                state: Mutex::new(State {
                    nodes: (1..=brokers).collect(),
                    cluster_id: "fake".to_string(),
                    topics: BTreeMap::new(),
                    down: HashSet::new(),
                    received: Vec::new(),
                    features: FinalizedFeatures::default(),
                }),
            }),
        }
    }

    /// The bootstrap servers, all nodes.
    pub fn bootstrap(&self) -> String {
        lock(&self.shared)
            .nodes
            .iter()
            .map(|n| format!("fake-{n}:9092"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One bootstrap address that reaches whichever node of the cluster is
    /// up with the lowest id, as a DNS name or load balancer in front of a
    /// cluster would: it still leads somewhere after
    /// [`FakeCluster::replace_nodes`].
    pub fn bootstrap_alias(&self) -> String {
        BOOTSTRAP_ALIAS.to_string()
    }

    /// Replaces every node by `nodes` (new ids, so new addresses): the old
    /// ones refuse connections and close those they had, as when a cluster
    /// is replaced behind the same bootstrap address. Topics stay, their
    /// partitions led by the new node at the same place in the list.
    pub fn replace_nodes(&self, nodes: impl IntoIterator<Item = i32>) {
        let mut state = lock(&self.shared);
        let new: Vec<i32> = nodes.into_iter().collect();
        let old = std::mem::replace(&mut state.nodes, new.clone());
        for (_, leaders) in state.topics.values_mut() {
            for leader in leaders.iter_mut() {
                if let Some(index) = old.iter().position(|n| n == leader)
                    && let Some(&replacement) = new.get(index % new.len().max(1))
                {
                    *leader = replacement;
                }
            }
        }
    }

    /// Gives the cluster another id (it starts as `fake`): as if another
    /// cluster now answered at the same addresses. A connection meant for
    /// the old id is refused as a 4.4 broker refuses it (KIP-1242).
    pub fn set_cluster_id(&self, id: &str) {
        id.clone_into(&mut lock(&self.shared).cluster_id);
    }

    /// Adds (or replaces) a topic whose partition `i` is led by `leaders[i]`.
    pub fn add_topic(&self, topic: &str, leaders: &[i32]) {
        let mut state = lock(&self.shared);
        let id = state
            .topics
            .get(topic)
            .map_or_else(|| topic_id(state.topics.len() + 1), |t| t.0);
        state
            .topics
            .insert(topic.to_string(), (id, leaders.to_vec()));
    }

    /// Takes a node down (connections refused and dropped) or brings it back.
    pub fn set_down(&self, node: i32, down: bool) {
        let mut state = lock(&self.shared);
        if down {
            state.down.insert(node);
        } else {
            state.down.remove(&node);
        }
    }

    /// Finalizes feature `name` at `level` (KIP-584), as every broker's
    /// ApiVersions answer then lists it; `None` takes it away. Each call
    /// raises the features' epoch, as a real feature update does.
    pub fn set_finalized_feature(&self, name: &str, level: Option<i16>) {
        let mut state = lock(&self.shared);
        let features = &mut state.features;
        features.epoch = Some(features.epoch.map_or(1, |epoch| epoch + 1));
        match level {
            Some(level) => features.levels.insert(name.to_string(), level),
            None => features.levels.remove(name),
        };
    }

    /// Every request received so far: node and API, in order.
    pub fn received(&self) -> Vec<(i32, ApiKey)> {
        lock(&self.shared).received.clone()
    }

    /// A client of this cluster.
    pub async fn client(&self, config: ClientConfig) -> Result<Client, TransportError> {
        Client::connect_with(config, Arc::new(self.clone())).await
    }

    fn default_reply(&self, request: &FakeRequest) -> FakeReply {
        match request.key {
            ApiKey::Metadata => FakeReply::with(request, &self.metadata()),
            ApiKey::FindCoordinator => {
                let node = lock(&self.shared).nodes.iter().min().copied().unwrap_or(1);
                FakeReply::coordinator(request, node)
            }
            ApiKey::InitProducerId => FakeReply::with(
                request,
                &InitProducerIdResponse {
                    producer_id: 1000,
                    producer_epoch: 0,
                    ..InitProducerIdResponse::default()
                },
            ),
            ApiKey::Produce => FakeReply::produce(request, ErrorCode::None, 0),
            // As a broker with no client metrics subscription answers
            // (KIP-714): nothing wanted, ask again in five minutes.
            ApiKey::GetTelemetrySubscriptions => FakeReply::with(
                request,
                &GetTelemetrySubscriptionsResponse {
                    client_instance_id: Uuid([1; 16]),
                    push_interval_ms: 300_000,
                    ..GetTelemetrySubscriptionsResponse::default()
                },
            ),
            other => panic!(
                "the fake cluster has no default answer for {}: answer it in the test's handler",
                other.name()
            ),
        }
    }

    /// The Metadata response the topic table gives.
    pub fn metadata(&self) -> MetadataResponse {
        let state = lock(&self.shared);
        MetadataResponse {
            brokers: state
                .nodes
                .iter()
                .map(|&n| MetadataResponseBroker {
                    node_id: n,
                    host: format!("fake-{n}"),
                    port: 9092,
                    ..MetadataResponseBroker::default()
                })
                .collect(),
            cluster_id: Some(state.cluster_id.clone()),
            controller_id: 1,
            topics: state
                .topics
                .iter()
                .map(|(name, (id, leaders))| MetadataResponseTopic {
                    name: Some(name.clone()),
                    topic_id: *id,
                    partitions: (0..)
                        .zip(leaders)
                        .map(|(index, &leader)| MetadataResponsePartition {
                            partition_index: index,
                            leader_id: leader,
                            leader_epoch: 0,
                            replica_nodes: vec![leader],
                            isr_nodes: vec![leader],
                            ..MetadataResponsePartition::default()
                        })
                        .collect(),
                    ..MetadataResponseTopic::default()
                })
                .collect(),
            ..MetadataResponse::default()
        }
    }
}

#[async_trait::async_trait]
impl Connector for FakeCluster {
    async fn connect(
        &self,
        address: &str,
        config: &ClientConfig,
    ) -> Result<Arc<dyn BrokerLink>, TransportError> {
        let state = lock(&self.shared);
        let node = if address == BOOTSTRAP_ALIAS {
            state
                .nodes
                .iter()
                .filter(|n| !state.down.contains(n))
                .min()
                .copied()
        } else {
            address
                .strip_prefix("fake-")
                .and_then(|rest| rest.split(':').next())
                .and_then(|id| id.parse::<i32>().ok())
                .filter(|id| state.nodes.contains(id) && !state.down.contains(id))
        };
        if let (Some(expected), Some(_)) = (&config.expected_broker, node)
            && expected.cluster_id != state.cluster_id
        {
            return Err(TransportError::MisroutedConnection {
                broker: address.to_string(),
                expected_cluster: expected.cluster_id.clone(),
                node: expected.node_id,
                found_cluster: None,
            });
        }
        drop(state);
        let node = node.ok_or_else(|| TransportError::Io {
            broker: address.to_string(),
            message: "connection refused (fake)".into(),
            kind: std::io::ErrorKind::ConnectionRefused,
        })?;
        let versions = ApiKey::ALL
            .iter()
            .map(|&key| (key, key.versions()))
            .collect();
        Ok(Arc::new(FakeLink {
            cluster: self.clone(),
            node,
            address: address.to_string(),
            versions,
            request_timeout: config.connection.request_timeout,
            max_frame: config.connection.receive_message_max_bytes,
            closed: AtomicBool::new(false),
        }) as Arc<dyn BrokerLink>)
    }
}

#[derive(Debug)]
struct FakeLink {
    cluster: FakeCluster,
    node: i32,
    address: String,
    versions: HashMap<ApiKey, (i16, i16)>,
    request_timeout: std::time::Duration,
    /// `receive_message_max_bytes`: the largest answer frame taken.
    max_frame: usize,
    closed: AtomicBool,
}

impl FakeLink {
    fn closed_error(&self, reason: &str) -> TransportError {
        TransportError::Closed {
            broker: self.address.clone(),
            reason: reason.to_string(),
        }
    }

    fn parse(&self, frame: &BytesMut) -> Result<(FakeRequest, i32), TransportError> {
        let data = Bytes::copy_from_slice(&frame[SIZE_PREFIX..]);
        let malformed = |reason: String| TransportError::Encode {
            broker: self.address.clone(),
            reason,
        };
        let key = i16::from_be_bytes([data[0], data[1]]);
        let version = i16::from_be_bytes([data[2], data[3]]);
        let key = ApiKey::from_i16(key).ok_or_else(|| malformed(format!("unknown API {key}")))?;
        let header_version = key.request_header_version(version);
        let (header, header_len) = RequestHeader::decode_prefix(&data, header_version)
            .map_err(|e| malformed(e.to_string()))?;
        let request = FakeRequest {
            node: self.node,
            key,
            version,
            body: data.slice(header_len..),
            correlation_id: header.correlation_id,
        };
        Ok((request, header.correlation_id))
    }

    /// The reply the test's handler (or the default) gives `frame`, and the
    /// request it answers.
    fn decide(&self, frame: &BytesMut) -> Result<(FakeReply, FakeRequest, i32), TransportError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(self.closed_error("closed earlier"));
        }
        let gone = {
            let state = lock(&self.cluster.shared);
            state.down.contains(&self.node) || !state.nodes.contains(&self.node)
        };
        if gone {
            self.closed.store(true, Ordering::Release);
            return Err(self.closed_error("the fake broker is down"));
        }
        let (request, correlation_id) = self.parse(frame)?;
        lock(&self.cluster.shared)
            .received
            .push((self.node, request.key));
        let reply = (self.cluster.shared.handler)(&request)
            .unwrap_or_else(|| self.cluster.default_reply(&request));
        Ok((reply, request, correlation_id))
    }

    /// Answers the request in `frame` as the handler says: `None` for one
    /// never answered.
    async fn reply(&self, frame: &BytesMut) -> Result<Option<Bytes>, TransportError> {
        let (mut reply, request, correlation_id) = self.decide(frame)?;
        // The interval between bytes of a dripping answer.
        let mut drip = None;
        loop {
            let wire = match reply {
                FakeReply::After(delay, then) => {
                    tokio::time::sleep(delay).await;
                    reply = *then;
                    continue;
                }
                FakeReply::Drip(interval, then) => {
                    drip = Some(interval);
                    reply = *then;
                    continue;
                }
                FakeReply::Default => {
                    reply = self.cluster.default_reply(&request);
                    continue;
                }
                FakeReply::Hang => return Ok(None),
                FakeReply::Disconnect => {
                    self.closed.store(true, Ordering::Release);
                    return Err(self.closed_error("the fake broker closed the connection"));
                }
                FakeReply::Respond(body) => {
                    let header_version = request.key.response_header_version(request.version);
                    let mut out = BytesMut::new();
                    out.put_i32(0);
                    let header = ResponseHeader {
                        correlation_id,
                        ..ResponseHeader::default()
                    };
                    header
                        .write_body(&mut out, header_version)
                        .map_err(|e| self.closed_error(&e.to_string()))?;
                    out.put_slice(&body);
                    crate::frame::finish(&mut out);
                    out.freeze()
                }
                FakeReply::Wire(bytes) => bytes,
            };
            if let Some(interval) = drip {
                // Past the deadline, the exchange's timeout cuts it short.
                let bytes = u32::try_from(wire.len()).unwrap_or(u32::MAX);
                tokio::time::sleep(interval.saturating_mul(bytes)).await;
            }
            return self.read_wire(wire, correlation_id).await.map(Some);
        }
    }

    /// Reads the answer to the request with `correlation_id` out of the
    /// bytes the broker wrote, as a connection reads them from its socket;
    /// anything a connection would close on closes the link.
    async fn read_wire(&self, wire: Bytes, correlation_id: i32) -> Result<Bytes, TransportError> {
        let mut rest: &[u8] = &wire;
        let read = crate::frame::read(
            &mut rest,
            &self.address,
            self.max_frame,
            &mut crate::frame::ReadBuffers::default(),
            None,
        )
        .await;
        let result = match read {
            Ok(Some(frame)) => {
                let carried = frame
                    .get(..4)
                    .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                match carried {
                    Some(id) if id == correlation_id => {
                        if !rest.is_empty() {
                            // More bytes: an answer to nothing asked, which
                            // a connection reads next and closes on. This
                            // answer got through first.
                            self.closed.store(true, Ordering::Release);
                        }
                        Ok(frame)
                    }
                    Some(id) => Err(TransportError::Protocol {
                        broker: self.address.clone(),
                        reason: format!(
                            "a response carries correlation id {id}, which no request waiting here has"
                        ),
                    }),
                    None => Err(TransportError::Protocol {
                        broker: self.address.clone(),
                        reason: format!(
                            "a {}-byte response frame has no correlation id",
                            frame.len()
                        ),
                    }),
                }
            }
            Ok(None) => Err(self.closed_error("the broker closed the connection")),
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.closed.store(true, Ordering::Release);
        }
        result
    }
}

#[async_trait::async_trait]
impl BrokerLink for FakeLink {
    fn broker(&self) -> &str {
        &self.address
    }

    fn broker_versions(&self) -> &HashMap<ApiKey, (i16, i16)> {
        &self.versions
    }

    fn is_closed(&self) -> bool {
        // A node replaced away has dropped its connections.
        self.closed.load(Ordering::Acquire)
            || !lock(&self.cluster.shared).nodes.contains(&self.node)
    }

    fn finalized_features(&self) -> FinalizedFeatures {
        lock(&self.cluster.shared).features.clone()
    }

    async fn exchange(&self, api: ApiKey, frame: RequestFrame) -> Result<Bytes, TransportError> {
        self.exchange_within(api, frame, self.request_timeout).await
    }

    async fn exchange_within(
        &self,
        api: ApiKey,
        frame: RequestFrame,
        timeout: std::time::Duration,
    ) -> Result<Bytes, TransportError> {
        // As over TCP, the deadline covers the whole answer: one held back
        // (`After`), trickling (`Drip`) or never coming (`Hang`) past it
        // times out and closes the link.
        let answer = async {
            match self.reply(&frame.into_contiguous()).await? {
                Some(response) => Ok(response),
                None => std::future::pending().await,
            }
        };
        tokio::time::timeout(timeout, answer)
            .await
            .unwrap_or_else(|_| {
                self.closed.store(true, Ordering::Release);
                Err(TransportError::Timeout {
                    broker: self.address.clone(),
                    api: api.name().to_string(),
                    after: timeout,
                })
            })
    }

    async fn send_one_way(&self, frame: RequestFrame) -> Result<(), TransportError> {
        self.reply(&frame.into_contiguous()).await.map(|_| ())
    }
}

/// Polls `future` at most `polls` times, a millisecond of the runtime's
/// clock apart (virtual with paused time), then drops it if it has not
/// finished; returns whether it finished. Cancellation tests call it for
/// every `polls` from 0 up, so the future is dropped at each of its await
/// points in turn.
pub async fn poll_then_drop<F: std::future::Future>(polls: usize, future: F) -> bool {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        let finished = std::future::poll_fn(|context| {
            std::task::Poll::Ready(future.as_mut().poll(context).is_ready())
        })
        .await;
        if finished {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    false
}
