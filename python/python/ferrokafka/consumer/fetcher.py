"""``kafka.consumer.fetcher``: the consumed record's tuple."""

from ferrokafka.structs import ConsumerRecord

__all__ = ["ConsumerRecord"]
