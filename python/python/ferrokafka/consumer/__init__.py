"""``kafka.consumer``: KafkaConsumer."""

from ferrokafka.consumer.group import KafkaConsumer

__all__ = ["KafkaConsumer"]
