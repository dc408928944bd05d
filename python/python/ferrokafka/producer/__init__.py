"""``kafka.producer``: KafkaProducer."""

from ferrokafka.producer.kafka import KafkaProducer

__all__ = ["KafkaProducer"]
