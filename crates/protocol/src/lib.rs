//! The Apache Kafka wire protocol: primitive types, request and response
//! headers, and every message of Kafka's schemas in every version, generated
//! from the JSON schemas by `cargo xtask codegen`.
//!
//! It deliberately knows nothing of sockets, tokio or record batches: it
//! turns bytes into typed messages and back, so a client, a proxy, a broker
//! or a test fake can all depend on it alone.
//!
//! ```
//! use bytes::BytesMut;
//! use ferrokafka_protocol::{Message, messages::ApiVersionsRequest};
//!
//! let request = ApiVersionsRequest {
//!     client_software_name: "ferrokafka".into(),
//!     client_software_version: "0.1.0".into(),
//!     ..ApiVersionsRequest::default()
//! };
//! let mut frame = BytesMut::new();
//! request.encode(&mut frame, 3).unwrap();
//! assert_eq!(frame.len(), request.encoded_len(3).unwrap());
//! assert_eq!(ApiVersionsRequest::decode(frame.freeze(), 3).unwrap(), request);
//! ```

pub mod codec;
mod error;
#[cfg(test)]
mod golden_tests;
pub mod header;
pub mod messages;
#[cfg(any(test, feature = "sample"))]
pub mod sample;
mod topic_partition;
pub mod varint;

use bytes::{Bytes, BytesMut};

pub use codec::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, RawTaggedField, Reader, Sink,
    SizeCounter, Uuid,
};
pub use error::{ErrorCode, KafkaError};
pub use messages::ApiKey;
pub use topic_partition::{TopicName, TopicPartition};

/// A message of Kafka's schemas: a request, a response, a header or a data
/// structure (such as `ConsumerProtocolSubscription`).
pub trait Message: Sized + Default + Clone + std::fmt::Debug + PartialEq {
    /// The schema's name.
    const NAME: &'static str;
    /// The versions this crate encodes and decodes, `(min, max)`.
    const VERSIONS: (i16, i16);
    /// The first flexible version, if any.
    const FIRST_FLEXIBLE_VERSION: Option<i16>;

    /// Writes the body (generated).
    fn write_body<W: Sink>(&self, w: &mut W, version: i16) -> Result<(), EncodeError>;
    /// Reads the body (generated).
    fn read_body(r: &mut Reader, version: i16) -> Result<Self, DecodeError>;

    /// Whether `version` uses compact encodings and tagged fields.
    fn is_flexible(version: i16) -> bool {
        Self::FIRST_FLEXIBLE_VERSION.is_some_and(|first| version >= first)
    }

    /// The exact encoded size in `version`.
    fn encoded_len(&self, version: i16) -> Result<usize, EncodeError> {
        check_encode_version::<Self>(version)?;
        let mut size = SizeCounter::default();
        self.write_body(&mut size, version)?;
        Ok(size.0)
    }

    /// Appends the encoding to `buf`, reserving the exact size first.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        let size = self.encoded_len(version)?;
        buf.reserve(size);
        self.write_body(buf, version)
    }

    /// Decodes `data`, which must hold exactly one message.
    fn decode(data: Bytes, version: i16) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(data, Self::NAME, version);
        let (lo, hi) = Self::VERSIONS;
        if !(lo..=hi).contains(&version) {
            return Err(reader.error(DecodeErrorKind::UnsupportedVersion));
        }
        let message = Self::read_body(&mut reader, version)?;
        reader.field = "";
        reader.expect_end()?;
        Ok(message)
    }
}

fn check_encode_version<M: Message>(version: i16) -> Result<(), EncodeError> {
    let (lo, hi) = M::VERSIONS;
    if (lo..=hi).contains(&version) {
        Ok(())
    } else {
        Err(EncodeError::new(
            M::NAME,
            version,
            "",
            EncodeErrorKind::UnsupportedVersion,
        ))
    }
}

/// A request, paired with its API key and response type.
pub trait Request: Message {
    /// The API key.
    const KEY: ApiKey;
    /// The response message.
    type Response: Message;
}
