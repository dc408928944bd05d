//! A connection to one broker that speaks typed requests: it negotiates API
//! versions when it opens (ApiVersions, with the fallback the protocol
//! defines for brokers that do not know the client's version), then
//! authenticates with SASL if configured, and sends each request at the
//! highest version both sides support.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
    SaslAuthenticateRequest, SaslHandshakeRequest,
};
use ferrokafka_protocol::{ApiKey, ErrorCode, Message, Request};
use tracing::{debug, info_span, warn};

use crate::config::{BrokerIdentity, ClientConfig};
use crate::request_frame::OwnBytes;
use crate::sasl::Credentials;
use crate::{Connection, RequestFrame, TransportError};

/// Kafka's UNSUPPORTED_VERSION error code.
const UNSUPPORTED_VERSION: i16 = 35;
/// Kafka's UNSUPPORTED_SASL_MECHANISM error code.
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;

/// The name and version this client reports in ApiVersions (KIP-511).
const SOFTWARE_NAME: &str = "ferrokafka";
const SOFTWARE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A negotiated, authenticated connection to one broker.
///
/// When the broker gives the SASL session a lifetime (KIP-368), the
/// connection authenticates again in place before that ends: the first
/// request past 85-95 % of the lifetime waits while SaslHandshake and
/// SaslAuthenticate go out on the same socket (requests already sent keep
/// waiting for their answers), so a token refresh does not drop the
/// connection.
#[derive(Debug)]
pub struct BrokerConnection {
    connection: Connection,
    client_id: String,
    versions: HashMap<ApiKey, (i16, i16)>,
    features: FinalizedFeatures,
    credentials: Option<Credentials>,
    session: std::sync::Mutex<Session>,
    /// Requests hold it shared while they join the send queue; a
    /// re-authentication holds it alone, so nothing is sent between its
    /// handshake and its last SaslAuthenticate.
    gate: tokio::sync::RwLock<()>,
}

/// The SASL session's timing (KIP-368).
#[derive(Debug, Default, Clone, Copy)]
struct Session {
    expires: Option<Instant>,
    reauthenticate_at: Option<Instant>,
    reauthentications: u64,
}

impl BrokerConnection {
    /// Connects to `broker` (`host:port`) with `config`'s security settings,
    /// negotiates versions and authenticates.
    pub async fn connect(broker: &str, config: &ClientConfig) -> Result<Self, TransportError> {
        let span = info_span!("connect", broker);
        let _entered = span.enter();
        let tls = if config.security_protocol.uses_tls() {
            Some(config.tls.connector().map_err(|e| TransportError::Tls {
                broker: broker.to_string(),
                reason: e.to_string(),
            })?)
        } else {
            None
        };
        let connection =
            Connection::connect(broker, config.connection.clone(), tls.as_ref()).await?;
        let mut this = BrokerConnection {
            connection,
            client_id: config.client_id.clone(),
            versions: HashMap::new(),
            features: FinalizedFeatures::default(),
            credentials: None,
            session: std::sync::Mutex::new(Session::default()),
            gate: tokio::sync::RwLock::new(()),
        };
        this.negotiate(config.expected_broker.as_ref()).await?;
        this.credentials = config.credentials().map_err(|e| TransportError::Auth {
            broker: broker.to_string(),
            mechanism: String::new(),
            reason: e.to_string(),
        })?;
        if this.credentials.is_some() {
            this.authenticate().await?;
        }
        Ok(this)
    }

    /// The broker's address.
    pub fn broker(&self) -> &str {
        self.connection.broker()
    }

    /// Whether the connection was closed.
    pub fn is_closed(&self) -> bool {
        self.connection.is_closed()
    }

    /// When the broker's SASL session ends (KIP-368), if it reported one.
    /// Past it the broker closes the connection at its next request.
    pub fn session_expires(&self) -> Option<Instant> {
        self.session().expires
    }

    /// Whether the SASL session is close enough to its end (KIP-368) that
    /// the next request re-authenticates first.
    pub fn needs_reauthentication(&self, now: Instant) -> bool {
        self.session().reauthenticate_at.is_some_and(|at| now >= at)
    }

    /// How many times this connection re-authenticated in place.
    pub fn reauthentications(&self) -> u64 {
        self.session().reauthentications
    }

    fn session(&self) -> std::sync::MutexGuard<'_, Session> {
        self.session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until a request may join the send queue: re-authenticates
    /// first when the session is due for it. The guard is held only
    /// while the request is queued, not while it waits for its answer.
    async fn admit(&self) -> Result<tokio::sync::RwLockReadGuard<'_, ()>, TransportError> {
        loop {
            let shared = self.gate.read().await;
            if !self.needs_reauthentication(Instant::now()) {
                return Ok(shared);
            }
            drop(shared);
            let _alone = self.gate.write().await;
            // Another request may have re-authenticated while this one waited.
            if self.needs_reauthentication(Instant::now()) {
                if let Err(error) = self.authenticate().await {
                    // The broker ends a session that failed to renew; so do we,
                    // and the cluster client opens a new connection.
                    self.connection.close(&TransportError::Closed {
                        broker: self.broker().to_string(),
                        reason: format!("re-authentication failed: {error}"),
                    });
                    return Err(error);
                }
                self.session().reauthentications += 1;
            }
        }
    }

    /// The highest version of `key` both this crate and the broker support.
    pub fn version(&self, key: ApiKey) -> Result<i16, TransportError> {
        highest_common_version(self.broker(), &self.versions, key)
    }

    /// The broker's version ranges, as its ApiVersions response listed them.
    pub fn broker_versions(&self) -> &HashMap<ApiKey, (i16, i16)> {
        &self.versions
    }

    /// The cluster's finalized features (KIP-584) as the broker's
    /// ApiVersions answer listed them (empty before v3 or brokers 2.7).
    pub fn finalized_features(&self) -> &FinalizedFeatures {
        &self.features
    }

    /// Sends `request` at the highest common version.
    pub async fn send<R: Request>(&self, request: &R) -> Result<R::Response, TransportError> {
        let version = self.version(R::KEY)?;
        self.send_at(request, version).await
    }

    /// Sends `request` at `version`.
    pub async fn send_at<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, TransportError> {
        let frame = self.encode(request, version)?;
        let response = self.round_trip_frame(R::KEY, frame).await?;
        decode_response::<R>(self.broker(), response, version)
    }

    /// Sends `request` at the highest common version and returns once it is
    /// written, without waiting for a response: a Produce with `acks=0`,
    /// which the broker does not answer.
    pub async fn send_without_response<R: Request>(
        &self,
        request: &R,
    ) -> Result<(), TransportError> {
        let version = self.version(R::KEY)?;
        let frame = self.encode(request, version)?;
        self.send_frame_one_way(frame).await
    }

    fn encode<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<RequestFrame, TransportError> {
        encode_request(
            self.broker(),
            &self.client_id,
            request,
            version,
            |capacity| self.start_frame(capacity),
        )
    }

    /// A request frame with room for `capacity` bytes, in a buffer an
    /// earlier frame on this connection left when one fits.
    pub(crate) fn start_frame(&self, capacity: usize) -> BytesMut {
        self.connection.start_frame(capacity)
    }

    /// Sends an encoded request frame and returns the response frame.
    pub(crate) async fn round_trip_frame(
        &self,
        api: ApiKey,
        frame: RequestFrame,
    ) -> Result<Bytes, TransportError> {
        let pending = {
            let _admitted = self.admit().await?;
            self.connection.submit(frame).await?
        };
        self.connection.wait(api.name(), pending).await
    }

    /// [`BrokerConnection::round_trip_frame`] waiting `timeout` for the
    /// response instead of `request_timeout_ms`.
    pub(crate) async fn round_trip_frame_within(
        &self,
        api: ApiKey,
        frame: RequestFrame,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        let pending = {
            let _admitted = self.admit().await?;
            self.connection.submit(frame).await?
        };
        self.connection
            .wait_within(api.name(), pending, timeout)
            .await
    }

    /// Sends an encoded request frame that gets no response.
    pub(crate) async fn send_frame_one_way(
        &self,
        frame: RequestFrame,
    ) -> Result<(), TransportError> {
        let _admitted = self.admit().await?;
        self.connection.send_one_way(frame).await
    }

    /// Sends a request of the SASL exchange itself, past the gate (which
    /// a re-authentication holds).
    async fn send_sasl<R: Request>(&self, request: &R) -> Result<R::Response, TransportError> {
        let version = self.version(R::KEY)?;
        let frame = self.encode(request, version)?;
        let response = self.connection.round_trip(R::KEY.name(), frame).await?;
        decode_response::<R>(self.broker(), response, version)
    }

    /// ApiVersions; with `expected`, v5 also asks the broker to check it is
    /// that node of that cluster (KIP-1242; older brokers ignore it).
    async fn negotiate(&mut self, expected: Option<&BrokerIdentity>) -> Result<(), TransportError> {
        let (_, ours) = ApiKey::ApiVersions.versions();
        let request = ApiVersionsRequest {
            client_software_name: SOFTWARE_NAME.to_string(),
            client_software_version: SOFTWARE_VERSION.to_string(),
            cluster_id: expected.map(|e| e.cluster_id.clone()),
            node_id: expected.map_or(-1, |e| e.node_id),
            ..ApiVersionsRequest::default()
        };
        let mut version = ours;
        for _ in 0..2 {
            let frame = self.encode(&request, version)?;
            let raw = self.connection.round_trip("ApiVersions", frame).await?;
            let response =
                match decode_response::<ApiVersionsRequest>(self.broker(), raw.clone(), version) {
                    Ok(response) if response.error_code != UNSUPPORTED_VERSION => response,
                    // A broker that does not know our version answers in v0 and
                    // lists what it supports (KIP-511).
                    _ => {
                        let fallback =
                            decode_response::<ApiVersionsRequest>(self.broker(), raw, 0)?;
                        let theirs = fallback
                            .api_keys
                            .iter()
                            .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                            .map_or(0, |k| k.max_version);
                        debug!(
                            broker = self.broker(),
                            ours = version,
                            theirs,
                            "ApiVersions fallback"
                        );
                        version = theirs.min(ours);
                        continue;
                    }
                };
            if let Some(expected) = expected
                && response.error_code == ErrorCode::RebootstrapRequired.code()
            {
                return Err(TransportError::MisroutedConnection {
                    broker: self.broker().to_string(),
                    expected_cluster: expected.cluster_id.clone(),
                    node: expected.node_id,
                    found_cluster: None,
                });
            }
            if response.error_code != 0 {
                return Err(TransportError::Broker {
                    broker: self.broker().to_string(),
                    api: "ApiVersions".to_string(),
                    code: response.error_code,
                    message: None,
                });
            }
            self.versions = broker_ranges(&response);
            self.features = FinalizedFeatures::from_response(&response);
            debug!(
                broker = self.broker(),
                version,
                apis = self.versions.len(),
                "negotiated"
            );
            return Ok(());
        }
        Err(TransportError::UnsupportedApi {
            broker: self.broker().to_string(),
            api: "ApiVersions".to_string(),
            reason: "no common version".to_string(),
        })
    }

    /// Runs the SASL exchange with the connection's credentials: when it
    /// opens, and again in place when the session nears its end.
    async fn authenticate(&self) -> Result<(), TransportError> {
        let Some(credentials) = &self.credentials else {
            return Ok(());
        };
        let mechanism = credentials.mechanism();
        let broker = self.broker().to_string();
        let auth_error = |reason: String| TransportError::Auth {
            broker: broker.clone(),
            mechanism: mechanism.name().to_string(),
            reason,
        };
        let handshake = self
            .send_sasl(&SaslHandshakeRequest {
                mechanism: mechanism.name().to_string(),
                ..SaslHandshakeRequest::default()
            })
            .await?;
        if handshake.error_code == UNSUPPORTED_SASL_MECHANISM {
            return Err(auth_error(format!(
                "the broker offers only {}",
                handshake.mechanisms.join(", ")
            )));
        }
        if handshake.error_code != 0 {
            return Err(auth_error(format!(
                "SaslHandshake failed with error code {}",
                handshake.error_code
            )));
        }
        let (first, mut exchange) = credentials
            .start()
            .await
            .map_err(|e| auth_error(e.to_string()))?;
        let mut message = first;
        let started = Instant::now();
        let mut lifetime = None;
        loop {
            let response = self
                .send_sasl(&SaslAuthenticateRequest {
                    auth_bytes: Bytes::from(message),
                    ..SaslAuthenticateRequest::default()
                })
                .await?;
            if response.error_code != 0 {
                let reason = exchange.failure(
                    response
                        .error_message
                        .unwrap_or_else(|| format!("error code {}", response.error_code)),
                );
                warn!(
                    broker,
                    mechanism = mechanism.name(),
                    "authentication failed"
                );
                return Err(auth_error(reason));
            }
            if response.session_lifetime_ms > 0 {
                lifetime = Some(Duration::from_millis(
                    u64::try_from(response.session_lifetime_ms).unwrap_or(0),
                ));
            }
            match exchange
                .respond(&response.auth_bytes)
                .map_err(|e| auth_error(e.to_string()))?
            {
                Some(next) => message = next,
                None => break,
            }
        }
        // As the Java client: renew at 85-95 % of the lifetime, so clients
        // that connected together do not all renew together. No lifetime:
        // the session lasts as long as the connection.
        let share = 0.85 + 0.1 * crate::backoff::unit_random();
        let mut session = self.session();
        session.expires = lifetime.map(|lifetime| started + lifetime);
        session.reauthenticate_at = lifetime.map(|lifetime| started + lifetime.mul_f64(share));
        Ok(())
    }
}

/// The highest version of `key` both this crate and a broker with
/// `versions` support, or an error naming what each side offers.
pub(crate) fn highest_common_version(
    broker: &str,
    versions: &HashMap<ApiKey, (i16, i16)>,
    key: ApiKey,
) -> Result<i16, TransportError> {
    let (ours_lo, ours_hi) = key.versions();
    let Some(&(theirs_lo, theirs_hi)) = versions.get(&key) else {
        return Err(TransportError::UnsupportedApi {
            broker: broker.to_string(),
            api: key.name().to_string(),
            reason: "the broker does not offer it".to_string(),
        });
    };
    let (lo, hi) = (ours_lo.max(theirs_lo), ours_hi.min(theirs_hi));
    if lo > hi {
        return Err(TransportError::UnsupportedApi {
            broker: broker.to_string(),
            api: key.name().to_string(),
            reason: format!(
                "the broker offers versions {theirs_lo}-{theirs_hi}, this client {ours_lo}-{ours_hi}"
            ),
        });
    }
    Ok(hi)
}

/// Encodes `request` at `version` behind its header, in a frame whose own
/// buffer `start` makes ([`frame::start`], or a link's recycled buffer)
/// with its size placeholder and room for the frame's own bytes, counted
/// first: all of them but the large record sets the frame refers to.
pub(crate) fn encode_request<R: Request>(
    broker: &str,
    client_id: &str,
    request: &R,
    version: i16,
    start: impl FnOnce(usize) -> BytesMut,
) -> Result<RequestFrame, TransportError> {
    let header = RequestHeader {
        request_api_key: R::KEY as i16,
        request_api_version: version,
        correlation_id: 0,
        client_id: Some(client_id.to_string()),
        ..RequestHeader::default()
    };
    let header_version = R::KEY.request_header_version(version);
    let encoding_error = |e: ferrokafka_protocol::EncodeError| TransportError::Encode {
        broker: broker.to_string(),
        reason: e.to_string(),
    };
    // The frame's own buffer holds all but the record sets it refers to.
    let mut own = OwnBytes::default();
    header
        .write_checked(&mut own, header_version)
        .map_err(encoding_error)?;
    request
        .write_checked(&mut own, version)
        .map_err(encoding_error)?;
    let mut frame = RequestFrame::new(start(own.0));
    // The size pass above checked both versions; write without a second one.
    header
        .write_body(&mut frame, header_version)
        .map_err(encoding_error)?;
    request
        .write_body(&mut frame, version)
        .map_err(encoding_error)?;
    Ok(frame)
}

/// The finalized feature levels (KIP-584) one broker reported, with the
/// epoch that orders them against other brokers' reports: a broker may lag
/// behind a feature update, and the report with the highest epoch is the
/// newest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinalizedFeatures {
    /// The epoch of the finalized features; `None` when the broker gave none.
    pub epoch: Option<i64>,
    /// The finalized (in force) maximum level of each feature, by name.
    pub levels: HashMap<String, i16>,
}

impl FinalizedFeatures {
    /// What an ApiVersions response says is finalized.
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        FinalizedFeatures {
            epoch: (response.finalized_features_epoch >= 0)
                .then_some(response.finalized_features_epoch),
            levels: response
                .finalized_features
                .iter()
                .map(|f| (f.name.clone(), f.max_version_level))
                .collect(),
        }
    }

    /// The finalized level of feature `name` (`transaction.version`,
    /// `metadata.version`, ...), if the cluster finalized it.
    pub fn level(&self, name: &str) -> Option<i16> {
        self.levels.get(name).copied()
    }
}

fn broker_ranges(response: &ApiVersionsResponse) -> HashMap<ApiKey, (i16, i16)> {
    response
        .api_keys
        .iter()
        .filter_map(|k| {
            ApiKey::from_i16(k.api_key).map(|key| (key, (k.min_version, k.max_version)))
        })
        .collect()
}

/// Decodes a response frame (header and body) for `R` at `version`.
pub fn decode_response<R: Request>(
    broker: &str,
    frame: Bytes,
    version: i16,
) -> Result<R::Response, TransportError> {
    let header_version = R::KEY.response_header_version(version);
    let decode_error = |e: ferrokafka_protocol::DecodeError| TransportError::Decode {
        broker: broker.to_string(),
        reason: e.to_string(),
    };
    let mut frame = frame;
    let (_, header_len) =
        ResponseHeader::decode_prefix(&frame, header_version).map_err(decode_error)?;
    // The body shares the frame's buffer: no copy.
    bytes::Buf::advance(&mut frame, header_len);
    let response = <R::Response as Message>::decode(frame, version).map_err(decode_error)?;
    Ok(response)
}
