//! Control records: the transaction markers (commit, abort) a transaction
//! coordinator writes, and the other control types a reader must skip.

use nom::Parser as _;
use nom::number::complete::{be_i16, be_i32};

use crate::RecordsError;
use crate::parse::Failure;

/// The type in a control record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// Type 0: the transaction was aborted.
    Abort,
    /// Type 1: the transaction was committed.
    Commit,
    /// Any other type (leader change, snapshot markers, ...).
    Other(i16),
}

impl ControlRecordType {
    /// The wire value.
    pub fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::Other(id) => id,
        }
    }

    /// From the wire value.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => Self::Abort,
            1 => Self::Commit,
            other => Self::Other(other),
        }
    }
}

/// A parsed control record.
///
/// ```
/// use ferrokafka_records::{ControlRecord, ControlRecordType};
/// let marker = ControlRecord::commit(7);
/// let (key, value) = (marker.key_bytes(), marker.value_bytes());
/// assert_eq!(key, [0, 0, 0, 1]);
/// assert_eq!(value, Some(vec![0, 0, 0, 0, 0, 7]));
/// let parsed = ControlRecord::parse(Some(&key), value.as_deref()).unwrap();
/// assert_eq!(parsed.kind, ControlRecordType::Commit);
/// assert_eq!(parsed.coordinator_epoch, Some(7));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecord {
    /// Version of the key schema.
    pub key_version: i16,
    /// Commit, abort or another control type.
    pub kind: ControlRecordType,
    /// Version of the transaction-marker value (commit and abort only).
    pub value_version: Option<i16>,
    /// Epoch of the coordinator that wrote the marker (commit and abort only).
    pub coordinator_epoch: Option<i32>,
}

impl ControlRecord {
    /// A commit marker (key and value version 0).
    pub fn commit(coordinator_epoch: i32) -> Self {
        Self::marker(ControlRecordType::Commit, coordinator_epoch)
    }

    /// An abort marker (key and value version 0).
    pub fn abort(coordinator_epoch: i32) -> Self {
        Self::marker(ControlRecordType::Abort, coordinator_epoch)
    }

    fn marker(kind: ControlRecordType, coordinator_epoch: i32) -> Self {
        Self {
            key_version: 0,
            kind,
            value_version: Some(0),
            coordinator_epoch: Some(coordinator_epoch),
        }
    }

    /// Whether this is a commit or abort marker.
    pub fn is_transaction_marker(&self) -> bool {
        matches!(
            self.kind,
            ControlRecordType::Commit | ControlRecordType::Abort
        )
    }

    /// Parses a control record's key and value. The value is only parsed
    /// for commit and abort markers; newer versions may append fields.
    pub fn parse(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Self, RecordsError> {
        let key = key.ok_or(RecordsError::InvalidControlRecord("null key"))?;
        let Ok((_, (key_version, kind))) = (be_i16::<_, Failure>, be_i16).parse(key) else {
            return Err(RecordsError::InvalidControlRecord(
                "key shorter than 4 bytes",
            ));
        };
        if key_version < 0 {
            return Err(RecordsError::InvalidControlRecord("negative key version"));
        }
        let mut record = Self {
            key_version,
            kind: ControlRecordType::from_id(kind),
            value_version: None,
            coordinator_epoch: None,
        };
        if record.is_transaction_marker() {
            let value = value.ok_or(RecordsError::InvalidControlRecord(
                "marker has a null value",
            ))?;
            let Ok((_, (value_version, coordinator_epoch))) =
                (be_i16::<_, Failure>, be_i32).parse(value)
            else {
                return Err(RecordsError::InvalidControlRecord(
                    "marker value shorter than 6 bytes",
                ));
            };
            record.value_version = Some(value_version);
            record.coordinator_epoch = Some(coordinator_epoch);
        }
        Ok(record)
    }

    /// The record key: version, type.
    pub fn key_bytes(&self) -> [u8; 4] {
        let [v0, v1] = self.key_version.to_be_bytes();
        let [t0, t1] = self.kind.id().to_be_bytes();
        [v0, v1, t0, t1]
    }

    /// The record value: version, coordinator epoch (markers only).
    pub fn value_bytes(&self) -> Option<Vec<u8>> {
        let epoch = self.coordinator_epoch?;
        let mut value = self.value_version.unwrap_or(0).to_be_bytes().to_vec();
        value.extend_from_slice(&epoch.to_be_bytes());
        Some(value)
    }
}
