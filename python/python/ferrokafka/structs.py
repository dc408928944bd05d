"""kafka-python's small structs (``kafka.structs`` and the records' tuples)."""

from collections import namedtuple

__all__ = [
    "TopicPartition",
    "TopicPartitionReplica",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "MemberState",
    "ConsumerGroupMetadata",
    "RecordMetadata",
    "ConsumerRecord",
]

TopicPartition = namedtuple("TopicPartition", ["topic", "partition"])
TopicPartition.__doc__ = "A topic and a partition of it."

TopicPartitionReplica = namedtuple("TopicPartitionReplica", ["topic", "partition", "broker_id"])
TopicPartitionReplica.__doc__ = "A replica of a partition on one broker."

OffsetAndMetadata = namedtuple("OffsetAndMetadata", ["offset", "metadata", "leader_epoch"], defaults=[None, "", -1])
OffsetAndMetadata.__doc__ = """An offset to commit (the next record to read), with free-text
metadata and the leader epoch of the last record read (-1: unknown).
``OffsetAndMetadata(offset, None)``, as older programs write it, works."""

OffsetAndTimestamp = namedtuple("OffsetAndTimestamp", ["offset", "timestamp", "leader_epoch"], defaults=[-1])
OffsetAndTimestamp.__doc__ = "The first offset at or after a timestamp, and that record's timestamp."


class MemberState:
    """A consumer's place in its group."""

    UNJOINED = "<unjoined>"
    REBALANCING = "<rebalancing>"
    STABLE = "<stable>"


ConsumerGroupMetadata = namedtuple(
    "ConsumerGroupMetadata",
    ["group_id", "generation_id", "member_id", "group_instance_id", "state"],
    defaults=[None, -1, "", None, MemberState.UNJOINED],
)
ConsumerGroupMetadata.__doc__ = """A consumer's group membership, for
KafkaProducer.send_offsets_to_transaction()."""

RecordMetadata = namedtuple(
    "RecordMetadata",
    [
        "topic",
        "partition",
        "topic_partition",
        "offset",
        "timestamp",
        "checksum",
        "serialized_key_size",
        "serialized_value_size",
        "serialized_header_size",
    ],
)
RecordMetadata.__doc__ = "Where a delivered record was written (FutureRecordMetadata.get())."

ConsumerRecord = namedtuple(
    "ConsumerRecord",
    [
        "topic",
        "partition",
        "leader_epoch",
        "offset",
        "timestamp",
        "timestamp_type",
        "key",
        "value",
        "headers",
        "checksum",
        "serialized_key_size",
        "serialized_value_size",
        "serialized_header_size",
    ],
)
ConsumerRecord.__doc__ = """One consumed record. ``timestamp_type`` is 0 for CreateTime, 1 for
LogAppendTime; ``headers`` is a list of ``(str, bytes)``; sizes are -1 for
a null key or value and for no headers."""
