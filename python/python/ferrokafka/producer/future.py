"""``kafka.producer.future``: the outcome of one sent record."""

from ferrokafka._core import FutureRecordMetadata
from ferrokafka.structs import RecordMetadata

__all__ = ["FutureRecordMetadata", "RecordMetadata"]
