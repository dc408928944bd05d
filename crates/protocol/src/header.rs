//! Request and response headers, and which header version each API version
//! uses: flexible versions use request header v2 and response header v1,
//! except that an ApiVersions response always uses response header v0 (a
//! client must read it before it knows what the broker supports).

use crate::ApiKey;

pub use crate::messages::{RequestHeader, ResponseHeader};

impl ApiKey {
    /// The request header version for `version` of this API.
    pub fn request_header_version(self, version: i16) -> i16 {
        if self
            .first_flexible_version()
            .is_some_and(|first| version >= first)
        {
            2
        } else {
            1
        }
    }

    /// The response header version for `version` of this API.
    pub fn response_header_version(self, version: i16) -> i16 {
        if self == ApiKey::ApiVersions {
            return 0;
        }
        i16::from(
            self.first_flexible_version()
                .is_some_and(|first| version >= first),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_versions_follow_flexibility_except_api_versions_responses() {
        assert_eq!(ApiKey::Fetch.request_header_version(11), 1);
        assert_eq!(ApiKey::Fetch.request_header_version(12), 2);
        assert_eq!(ApiKey::Fetch.response_header_version(12), 1);
        assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
        assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
    }
}

#[cfg(test)]
mod java_vectors {
    use bytes::BytesMut;

    use crate::Message;
    use crate::messages::ApiVersionsRequest;

    /// Bytes Kafka's own `ApiVersionsRequestData` writes for this instance
    /// (kafka-clients 4.4.0, through `cargo xtask golden protocol`).
    #[test]
    fn api_versions_request_v3_matches_kafka() {
        let request = ApiVersionsRequest {
            client_software_name: "a".into(),
            client_software_version: "1".into(),
            ..ApiVersionsRequest::default()
        };
        let mut buf = BytesMut::new();
        request.encode(&mut buf, 3).unwrap();
        assert_eq!(&buf[..], [0x02, 0x61, 0x02, 0x31, 0x00]);
    }
}
