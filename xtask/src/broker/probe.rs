//! Asks a broker whether it is serving: an ApiVersions request over a plain
//! TCP socket, with the protocol crate's types.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::messages::{ApiVersionsRequest, RequestHeader};
use ferrokafka_protocol::{ApiKey, Message};

const CORRELATION_ID: i32 = 0x0f0f_0f0f;

/// The API keys and version ranges a broker reports: `(key, min, max)`.
pub type ApiVersionRanges = Vec<(i16, i16, i16)>;

/// Sends ApiVersions v0 to `addr` and returns the ranges the broker answers
/// with. v0 is understood by every broker that speaks ApiVersions at all, so
/// the probe works against any version the harness can start.
pub fn api_versions(addr: SocketAddr, timeout: Duration) -> anyhow::Result<ApiVersionRanges> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let body = request_body(CORRELATION_ID)?;
    let mut frame = i32::try_from(body.len())?.to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame)?;

    let mut len = [0u8; 4];
    stream
        .read_exact(&mut len)
        .context("reading the response length")?;
    let len = i32::from_be_bytes(len);
    if !(10..=1 << 20).contains(&len) {
        bail!("ApiVersions response length {len} is not plausible");
    }
    let mut body = vec![0u8; usize::try_from(len)?];
    stream
        .read_exact(&mut body)
        .context("reading the response")?;
    parse_response(&body, CORRELATION_ID)
}

/// An ApiVersions v0 request (header v1, empty body), without the size prefix.
pub fn request_body(correlation_id: i32) -> anyhow::Result<Vec<u8>> {
    let header = RequestHeader {
        request_api_key: ApiKey::ApiVersions as i16,
        request_api_version: 0,
        correlation_id,
        client_id: Some("ferrokafka-harness".to_string()),
        ..RequestHeader::default()
    };
    let mut buf = BytesMut::new();
    header.encode(&mut buf, ApiKey::ApiVersions.request_header_version(0))?;
    ApiVersionsRequest::default().encode(&mut buf, 0)?;
    Ok(buf.to_vec())
}

/// Parses an ApiVersions v0 response (size prefix removed), checking it
/// answers `correlation_id` without error.
pub fn parse_response(body: &[u8], correlation_id: i32) -> anyhow::Result<ApiVersionRanges> {
    let answered = body
        .get(..4)
        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if answered != Some(correlation_id) {
        bail!(
            "ApiVersions response carries correlation id {answered:?}, expected {correlation_id}"
        );
    }
    let response = ferrokafka_transport::decode_response::<ApiVersionsRequest>(
        "the probed broker",
        Bytes::copy_from_slice(body),
        0,
    )?;
    if response.error_code != 0 {
        bail!(
            "ApiVersions answered with error code {}",
            response.error_code
        );
    }
    Ok(response
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::messages::ApiVersionsResponse;
    use ferrokafka_protocol::messages::api_versions_response::ApiVersion;

    #[test]
    fn parses_a_v0_response_and_rejects_truncation() {
        let response = ApiVersionsResponse {
            api_keys: vec![ApiVersion {
                api_key: 18,
                min_version: 0,
                max_version: 4,
                ..ApiVersion::default()
            }],
            ..ApiVersionsResponse::default()
        };
        let mut body = BytesMut::new();
        body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
        response.encode(&mut body, 0).unwrap();
        assert_eq!(
            parse_response(&body, CORRELATION_ID).unwrap(),
            vec![(18, 0, 4)]
        );
        assert!(parse_response(&body[..body.len() - 1], CORRELATION_ID).is_err());
        assert!(parse_response(&body, 7).is_err());
    }
}
