//! Asks a broker whether it is serving: an ApiVersions request over a plain
//! TCP socket.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};

const API_VERSIONS_KEY: i16 = 18;
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
    let body = request_body(CORRELATION_ID);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
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
    let mut body = vec![0u8; len as usize];
    stream
        .read_exact(&mut body)
        .context("reading the response")?;
    parse_response(&body, CORRELATION_ID)
}

/// An ApiVersions v0 request (header v1 and empty body), without the size
/// prefix.
pub fn request_body(correlation_id: i32) -> Vec<u8> {
    let client_id = b"ferrokafka-harness";
    let mut body = Vec::with_capacity(10 + client_id.len());
    body.extend_from_slice(&API_VERSIONS_KEY.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    body
}

/// Parses an ApiVersions v0 response (size prefix removed), checking it
/// answers `correlation_id` without error.
pub fn parse_response(body: &[u8], correlation_id: i32) -> anyhow::Result<ApiVersionRanges> {
    let mut at = 0usize;
    let mut take = |n: usize| -> anyhow::Result<&[u8]> {
        let bytes = body
            .get(at..at + n)
            .context("ApiVersions response is truncated")?;
        at += n;
        Ok(bytes)
    };
    let i16_at = |b: &[u8]| i16::from_be_bytes([b[0], b[1]]);
    let correlation = i32::from_be_bytes(take(4)?.try_into()?);
    if correlation != correlation_id {
        bail!(
            "ApiVersions response carries correlation id {correlation}, expected {correlation_id}"
        );
    }
    let error = i16_at(take(2)?);
    if error != 0 {
        bail!("ApiVersions answered with error code {error}");
    }
    let count = i32::from_be_bytes(take(4)?.try_into()?);
    let count = usize::try_from(count).context("negative ApiVersions array length")?;
    let mut ranges = Vec::with_capacity(count.min(body.len() / 6));
    for _ in 0..count {
        let entry = take(6)?;
        ranges.push((
            i16_at(&entry[0..2]),
            i16_at(&entry[2..4]),
            i16_at(&entry[4..6]),
        ));
    }
    Ok(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_v0_response_and_rejects_truncation() {
        let mut body = Vec::new();
        body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
        body.extend_from_slice(&0i16.to_be_bytes());
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&[0, 18, 0, 0, 0, 4]);
        assert_eq!(
            parse_response(&body, CORRELATION_ID).unwrap(),
            vec![(18, 0, 4)]
        );
        assert!(parse_response(&body[..body.len() - 1], CORRELATION_ID).is_err());
        body[4..6].copy_from_slice(&35i16.to_be_bytes());
        assert!(parse_response(&body, CORRELATION_ID).is_err());
    }
}
