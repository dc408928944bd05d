"""``install_as_kafka()``: ferrokafka under the module names kafka-python
programs import."""

import importlib
import sys

__all__ = ["install_as_kafka"]

# kafka-python's module names and the ferrokafka modules that stand in.
_MODULES = {
    "kafka": "ferrokafka",
    "kafka.errors": "ferrokafka.errors",
    "kafka.structs": "ferrokafka.structs",
    "kafka.future": "ferrokafka.future",
    "kafka.serializer": "ferrokafka.serializer",
    "kafka.admin": "ferrokafka.admin",
    "kafka.consumer": "ferrokafka.consumer",
    "kafka.consumer.group": "ferrokafka.consumer.group",
    "kafka.consumer.fetcher": "ferrokafka.consumer.fetcher",
    "kafka.consumer.subscription_state": "ferrokafka.consumer.subscription_state",
    "kafka.producer": "ferrokafka.producer",
    "kafka.producer.kafka": "ferrokafka.producer.kafka",
    "kafka.producer.future": "ferrokafka.producer.future",
}


def install_as_kafka():
    """Registers ferrokafka as ``kafka`` (and ``kafka.errors``,
    ``kafka.admin``, ...) in ``sys.modules``, as PyMySQL's
    ``install_as_MySQLdb()`` does: later ``import kafka`` statements get
    ferrokafka, so a kafka-python program runs on it unchanged. Call it
    before the program imports kafka."""
    for name, target in _MODULES.items():
        sys.modules[name] = importlib.import_module(target)
