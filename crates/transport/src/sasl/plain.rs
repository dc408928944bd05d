//! PLAIN (RFC 4616): `authzid NUL authcid NUL password`, authzid empty.

pub(super) fn initial_response(username: &str, password: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(2 + username.len() + password.len());
    message.push(0);
    message.extend_from_slice(username.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    message
}

#[cfg(test)]
mod tests {
    #[test]
    fn layout() {
        assert_eq!(
            super::initial_response("alice", "s3cret"),
            b"\0alice\0s3cret"
        );
    }
}
