//! A broker's error: its code and the message it may send with it.

use std::fmt;

pub use crate::messages::error_code::ErrorCode;

impl ErrorCode {
    /// Whether the code means success.
    pub fn is_ok(self) -> bool {
        self == ErrorCode::None
    }

    /// `Ok(())` for `NONE`, else the error with the broker's message.
    ///
    /// ```
    /// use ferrokafka_protocol::{ErrorCode, KafkaError};
    /// assert!(ErrorCode::from_code(0).into_result(None).is_ok());
    /// let error = ErrorCode::from_code(6).into_result(Some("moved".into())).unwrap_err();
    /// assert!(error.is_retriable());
    /// assert_eq!(error.to_string(), "NOT_LEADER_OR_FOLLOWER (6): moved");
    /// ```
    pub fn into_result(self, message: Option<String>) -> Result<(), KafkaError> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(KafkaError {
                code: self,
                message,
            })
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// An error a broker returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct KafkaError {
    /// The code.
    pub code: ErrorCode,
    /// The broker's message, when it sent one.
    pub message: Option<String>,
}

impl KafkaError {
    /// Whether retrying may succeed.
    pub fn is_retriable(&self) -> bool {
        self.code.is_retriable()
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(message) => write!(f, "{}: {message}", self.code),
            None => write!(f, "{}", self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::error_code::ALL_CODES;

    #[test]
    fn every_code_round_trips_and_the_java_classification_holds() {
        for &code in ALL_CODES {
            assert_eq!(ErrorCode::from_code(code).code(), code);
            assert_ne!(ErrorCode::from_code(code).name(), "UNKNOWN");
        }
        assert_eq!(ErrorCode::from_code(9999), ErrorCode::Unknown(9999));
        assert!(ErrorCode::NotLeaderOrFollower.is_retriable());
        assert!(ErrorCode::CoordinatorLoadInProgress.is_retriable());
        assert!(!ErrorCode::TopicAuthorizationFailed.is_retriable());
        assert!(!ErrorCode::SaslAuthenticationFailed.is_retriable());
        assert_eq!(ErrorCode::from_code(3).name(), "UNKNOWN_TOPIC_OR_PARTITION");
    }
}
