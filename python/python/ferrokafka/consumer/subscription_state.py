"""``kafka.consumer.subscription_state``: the rebalance listener."""

from ferrokafka.consumer.group import ConsumerRebalanceListener

__all__ = ["ConsumerRebalanceListener"]
