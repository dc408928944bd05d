//! The boundary between the cluster client and the bytes on a wire: a
//! [`BrokerLink`] exchanges request and response frames with one broker,
//! and a [`Connector`] opens links. The real ones run over TCP, TLS and
//! SASL ([`crate::BrokerConnection`]); a test can plug in an in-memory
//! cluster (the `fake` feature) and drive the producer, consumer or admin
//! client through every failure path without a network.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::{ApiKey, Request};

use crate::broker::{FinalizedFeatures, decode_response, encode_request, highest_common_version};
use crate::config::ClientConfig;
use crate::{BrokerConnection, RequestFrame, TransportError};

/// A negotiated, authenticated connection to one broker, as the client
/// sees it.
///
/// Its async methods are `#[async_trait]`: an implementation writes plain
/// `async fn`. The future of each exchange is boxed, as it was before by
/// hand; one allocation per request is small beside the request's own
/// buffers, and the trait must stay object-safe (`Arc<dyn BrokerLink>`).
#[async_trait]
pub trait BrokerLink: Send + Sync + std::fmt::Debug {
    /// The broker's address.
    fn broker(&self) -> &str;
    /// The broker's version range per API, from its ApiVersions answer.
    fn broker_versions(&self) -> &HashMap<ApiKey, (i16, i16)>;
    /// Whether the link was closed (and must be replaced).
    fn is_closed(&self) -> bool;
    /// The cluster's finalized features as the broker's ApiVersions answer
    /// listed them; none by default (brokers before 2.7 list none).
    fn finalized_features(&self) -> FinalizedFeatures {
        FinalizedFeatures::default()
    }
    /// When the broker ends the SASL session (KIP-368), if it said; a link
    /// still idle then is replaced, since the broker closes it.
    fn session_expires(&self) -> Option<Instant> {
        None
    }
    /// Whether the session is close enough to its end that the link
    /// re-authenticates (in place) before its next request.
    fn needs_reauthentication(&self, _now: Instant) -> bool {
        false
    }
    /// How many times the link re-authenticated in place (KIP-368).
    fn reauthentications(&self) -> u64 {
        0
    }
    /// A buffer for a request frame's own bytes, with room for `capacity`
    /// bytes after its size placeholder, as [`crate::frame::start`] makes
    /// one; the real connection lends a buffer one of its written frames
    /// left.
    fn start_frame(&self, capacity: usize) -> BytesMut {
        crate::frame::start(capacity)
    }
    /// Sends a request frame (header and body written into a buffer from
    /// [`BrokerLink::start_frame`]; the correlation id is the link's
    /// business) and returns the response frame: header and body, without
    /// the size.
    async fn exchange(&self, api: ApiKey, frame: RequestFrame) -> Result<Bytes, TransportError>;
    /// [`BrokerLink::exchange`], waiting `timeout` for the response
    /// instead of the link's `request_timeout_ms`: for a request the
    /// broker may rightly hold longer (a JoinGroup waits up to the group's
    /// rebalance timeout). By default the link's own deadline applies; the
    /// real connection and the in-memory cluster honour `timeout`.
    async fn exchange_within(
        &self,
        api: ApiKey,
        frame: RequestFrame,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        let _ = timeout;
        self.exchange(api, frame).await
    }
    /// Sends a request that gets no response (`acks=0`).
    async fn send_one_way(&self, frame: RequestFrame) -> Result<(), TransportError>;
}

impl dyn BrokerLink + '_ {
    /// The highest version of `key` both this crate and the broker support.
    pub fn version(&self, key: ApiKey) -> Result<i16, TransportError> {
        highest_common_version(self.broker(), self.broker_versions(), key)
    }

    /// Sends `request` at `version` with `client_id` in its header.
    pub async fn send_at<R: Request>(
        &self,
        client_id: &str,
        request: &R,
        version: i16,
    ) -> Result<R::Response, TransportError> {
        self.send_at_within(client_id, request, version, None).await
    }

    /// `send_at`, waiting `timeout` (when given) for the
    /// response instead of `request_timeout_ms`.
    pub async fn send_at_within<R: Request>(
        &self,
        client_id: &str,
        request: &R,
        version: i16,
        timeout: Option<Duration>,
    ) -> Result<R::Response, TransportError> {
        let frame = encode_request(self.broker(), client_id, request, version, |capacity| {
            self.start_frame(capacity)
        })?;
        let response = match timeout {
            Some(timeout) => self.exchange_within(R::KEY, frame, timeout).await?,
            None => self.exchange(R::KEY, frame).await?,
        };
        decode_response::<R>(self.broker(), response, version)
    }
}

/// Opens links to brokers (`#[async_trait]`: implement it with a plain
/// `async fn connect`).
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connects to `address` (`host:port`) with `config`'s security
    /// settings, negotiates versions and authenticates.
    async fn connect(
        &self,
        address: &str,
        config: &ClientConfig,
    ) -> Result<Arc<dyn BrokerLink>, TransportError>;
}

/// The real connector: TCP, optionally TLS, optionally SASL.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkConnector;

#[async_trait]
impl Connector for NetworkConnector {
    async fn connect(
        &self,
        address: &str,
        config: &ClientConfig,
    ) -> Result<Arc<dyn BrokerLink>, TransportError> {
        let connection = BrokerConnection::connect(address, config).await?;
        Ok(Arc::new(connection) as Arc<dyn BrokerLink>)
    }
}

#[async_trait]
impl BrokerLink for BrokerConnection {
    fn broker(&self) -> &str {
        BrokerConnection::broker(self)
    }

    fn start_frame(&self, capacity: usize) -> BytesMut {
        BrokerConnection::start_frame(self, capacity)
    }

    fn broker_versions(&self) -> &HashMap<ApiKey, (i16, i16)> {
        BrokerConnection::broker_versions(self)
    }

    fn is_closed(&self) -> bool {
        BrokerConnection::is_closed(self)
    }

    fn finalized_features(&self) -> FinalizedFeatures {
        BrokerConnection::finalized_features(self).clone()
    }

    fn session_expires(&self) -> Option<Instant> {
        BrokerConnection::session_expires(self)
    }

    fn needs_reauthentication(&self, now: Instant) -> bool {
        BrokerConnection::needs_reauthentication(self, now)
    }

    fn reauthentications(&self) -> u64 {
        BrokerConnection::reauthentications(self)
    }

    async fn exchange(&self, api: ApiKey, frame: RequestFrame) -> Result<Bytes, TransportError> {
        self.round_trip_frame(api, frame).await
    }

    async fn exchange_within(
        &self,
        api: ApiKey,
        frame: RequestFrame,
        timeout: Duration,
    ) -> Result<Bytes, TransportError> {
        self.round_trip_frame_within(api, frame, timeout).await
    }

    async fn send_one_way(&self, frame: RequestFrame) -> Result<(), TransportError> {
        self.send_frame_one_way(frame).await
    }
}
