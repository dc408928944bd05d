//! The Apache Kafka wire protocol: primitive types, request and response
//! headers, and every message of Kafka's schemas in every version, generated
//! from the JSON schemas by `cargo xtask codegen`.
//!
//! It deliberately knows nothing of sockets, tokio or record batches: it
//! turns bytes into typed messages and back, so a client, a proxy, a broker
//! or a test fake can all depend on it alone.
//!
//! Decoders are nom parsers ([`parse`]): every length is checked against
//! the bytes present before anything is allocated, bad input is a
//! [`DecodeError`] naming the message, version, innermost field and byte
//! offset (never a panic), and `bytes` and `records` fields are shared
//! slices of the input `Bytes`.
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
pub mod parse;
mod record_set;
#[cfg(any(test, feature = "sample"))]
pub mod sample;
mod topic_partition;
pub mod varint;

use bytes::{Bytes, BytesMut};

pub use codec::{
    DecodeError, DecodeErrorKind, EncodeError, EncodeErrorKind, RawTaggedField, Sink, SizeCounter,
    Uuid,
};
pub use error::{ErrorCode, KafkaError};
pub use messages::ApiKey;
use parse::{PResult, Source};
pub use record_set::RecordSet;
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
    /// Parses the body from `input`, a slice of `source` (generated: a nom
    /// parser made of [`parse`]'s).
    fn parse_body<'a>(input: &'a [u8], source: Source<'a>, version: i16) -> PResult<'a, Self>;

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

    /// Writes the body into any sink (a counter of one's own, a frame
    /// that keeps record sets by reference), after checking that this
    /// crate encodes `version`.
    fn write_checked<W: Sink>(&self, w: &mut W, version: i16) -> Result<(), EncodeError> {
        check_encode_version::<Self>(version)?;
        self.write_body(w, version)
    }

    /// Appends the encoding to `buf`, reserving the exact size first.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError> {
        let size = self.encoded_len(version)?;
        buf.reserve(size);
        self.write_body(buf, version)
    }

    /// Decodes `data`, which must hold exactly one message.
    fn decode(data: Bytes, version: i16) -> Result<Self, DecodeError> {
        let (lo, hi) = Self::VERSIONS;
        if !(lo..=hi).contains(&version) {
            return Err(DecodeError {
                message: Self::NAME,
                version,
                field: "",
                offset: 0,
                kind: DecodeErrorKind::UnsupportedVersion,
            });
        }
        parse::parse_all(&data, Self::NAME, version, |input, source| {
            Self::parse_body(input, source, version)
        })
    }

    /// Decodes one message from the start of `data` (a header, with a body
    /// after it) and says how many bytes it took.
    ///
    /// ```
    /// use bytes::{BufMut as _, BytesMut};
    /// use ferrokafka_protocol::{Message, messages::ResponseHeader};
    /// let mut frame = BytesMut::new();
    /// frame.put_i32(7); // correlation id (header v0)
    /// frame.put_slice(b"body");
    /// let frame = frame.freeze();
    /// let (header, used) = ResponseHeader::decode_prefix(&frame, 0).unwrap();
    /// assert_eq!((header.correlation_id, &frame[used..]), (7, &b"body"[..]));
    /// ```
    fn decode_prefix(data: &Bytes, version: i16) -> Result<(Self, usize), DecodeError> {
        let (lo, hi) = Self::VERSIONS;
        if !(lo..=hi).contains(&version) {
            return Err(DecodeError {
                message: Self::NAME,
                version,
                field: "",
                offset: 0,
                kind: DecodeErrorKind::UnsupportedVersion,
            });
        }
        let source = Source::new(data);
        match Self::parse_body(source.input(), source, version) {
            Ok((rest, message)) => Ok((message, data.len() - rest.len())),
            Err(e) => Err(parse::unwrap_err(e).into_decode_error(Self::NAME, version, data.len())),
        }
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
