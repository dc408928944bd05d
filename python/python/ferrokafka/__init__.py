"""ferrokafka: kafka-python's API on a pure-Rust Kafka client.

``from ferrokafka import KafkaProducer, KafkaConsumer`` works as
``from kafka import ...`` does; ``ferrokafka.install_as_kafka()`` (or
``python -m ferrokafka PROGRAM.py``) makes ``import kafka`` give this
package, so a kafka-python program runs unchanged.
"""

from ferrokafka import _core
from ferrokafka import errors
from ferrokafka.admin import KafkaAdminClient
from ferrokafka.consumer import KafkaConsumer
from ferrokafka.consumer.group import ConsumerRebalanceListener
from ferrokafka.producer import KafkaProducer
from ferrokafka.serializer import DefaultSerializer, Deserializer, JsonSerializer, Serializer
from ferrokafka.structs import (
    ConsumerGroupMetadata,
    OffsetAndMetadata,
    OffsetAndTimestamp,
    TopicPartition,
    TopicPartitionReplica,
)
from ferrokafka._compat import install_as_kafka

__version__ = _core.__version__

__all__ = [
    "KafkaAdminClient",
    "KafkaConsumer",
    "KafkaProducer",
    "ConsumerRebalanceListener",
    "Serializer",
    "Deserializer",
    "DefaultSerializer",
    "JsonSerializer",
    "ConsumerGroupMetadata",
    "OffsetAndMetadata",
    "OffsetAndTimestamp",
    "TopicPartition",
    "TopicPartitionReplica",
    "errors",
    "install_as_kafka",
]
