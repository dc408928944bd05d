"""KafkaProducer: kafka-python's producer on ferrokafka's Rust producer."""

import atexit
import logging
import numbers
import weakref

from ferrokafka import _core
from ferrokafka._config import producer_settings
from ferrokafka.structs import ConsumerGroupMetadata, OffsetAndMetadata

__all__ = ["KafkaProducer"]

log = logging.getLogger("kafka.producer.kafka")


def _serializer(serializer):
    """``(function, takes_topic_and_headers)`` for a configured serializer."""
    if serializer is None:
        return None
    serialize = getattr(serializer, "serialize", None)
    if callable(serialize):
        return serialize, True
    return serializer, False


def _close_at_exit(reference):
    producer = reference()
    if producer is not None:
        try:
            producer.close()
        except Exception:  # noqa: BLE001 - at exit, a failed close is only logged
            log.exception("closing a KafkaProducer at exit failed")


class KafkaProducer:
    """A Kafka client that publishes records to the Kafka cluster.

    Takes kafka-python's keyword arguments (``bootstrap_servers``,
    ``value_serializer``, ``acks``, ``linger_ms``, ``compression_type``, ...)
    with its defaults. ``send()`` queues a record and returns a
    ``FutureRecordMetadata``; a background Rust task sends the batches.
    """

    def __init__(self, **configs):
        settings, python_values = producer_settings(configs)
        self.config = dict(configs)
        self.config.update(python_values)
        self.config.update((key, value) for key, value in settings if key not in configs)
        self._serializers = (python_values["key_serializer"], python_values["value_serializer"])
        self._transactional = bool(configs.get("transactional_id"))
        self._core = _core.Producer(settings, _serializer(python_values["key_serializer"]),
                                    _serializer(python_values["value_serializer"]))
        if type(self).send is KafkaProducer.send:
            # The Rust send checks the arguments and runs the serializers
            # itself: called straight, it saves a Python frame per record.
            self.send = self._core.send
        self._closed = False
        self._exit_hook = atexit.register(_close_at_exit, weakref.ref(self))
        log.debug("KafkaProducer started")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def __del__(self):
        # A producer dropped without close(): deliver what it holds, briefly.
        core = getattr(self, "_core", None)
        if core is not None and not core.closed:
            try:
                core.close(1.0)
            except Exception:  # noqa: BLE001 - nothing can be raised from __del__
                pass

    def bootstrap_connected(self):
        """Whether the producer reached the cluster (it did, or the
        constructor would have raised)."""
        return not self._closed

    def send(self, topic, value=None, key=None, headers=None, partition=None, timestamp_ms=None):
        """Queues a record for ``topic`` and returns its ``FutureRecordMetadata``.

        ``value`` and ``key`` are bytes, or anything the configured
        serializers turn into bytes; ``headers`` a list of ``(str, bytes)``.
        Raises ``KafkaTimeoutError`` when the topic's metadata or buffer room
        is not there within ``max_block_ms``, ``IllegalStateError`` after
        ``close()``, ``TypeError``/``ValueError`` naming a bad argument.
        """
        return self._core.send(topic, value, key, headers, partition, timestamp_ms)

    def flush(self, timeout=None):
        """Sends everything buffered and waits until every record sent so far
        is delivered or failed and its callbacks ran; ``KafkaTimeoutError``
        after ``timeout`` seconds."""
        self._core.flush(_timeout("timeout", timeout))

    def close(self, timeout=None, null_logger=False):
        """Delivers what is buffered (waiting at most ``timeout`` seconds, or
        as long as it takes with ``None``) and stops. Closing twice is fine."""
        timeout = _timeout("timeout", timeout)
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._exit_hook)
        self._core.close(timeout)
        for serializer in self._serializers:
            close = getattr(serializer, "close", None)
            if callable(close) and hasattr(serializer, "serialize"):
                close()
        log.debug("KafkaProducer closed")

    def partitions_for(self, topic):
        """The set of ``topic``'s partitions."""
        if type(topic) is not str:
            raise TypeError("topic must be a str, not %s" % type(topic).__name__)
        return set(self._core.partitions_for(topic))

    def metrics(self, raw=False):
        """The producer's metrics: ``{'producer-metrics': {name: value}}`` and
        ``{'producer-topic-metrics.TOPIC': {name: value}}`` per topic."""
        overall, topics = self._core.metrics()
        result = {"producer-metrics": overall}
        for topic, values in topics.items():
            result["producer-topic-metrics.%s" % topic] = values
        return result

    def init_transactions(self):
        """Gets a producer id for ``transactional_id``, fencing older producers
        with the same id; call once before the first transaction."""
        self._core.init_transactions()

    def begin_transaction(self):
        """Starts a transaction."""
        self._core.begin_transaction()

    def send_offsets_to_transaction(self, offsets, group_metadata):
        """Commits the consumer's ``offsets`` ({TopicPartition: OffsetAndMetadata})
        with the transaction; ``group_metadata`` is the consumer's
        ``group_metadata()`` (or a group id)."""
        if isinstance(group_metadata, str):
            group_metadata = ConsumerGroupMetadata(group_metadata)
        if not isinstance(group_metadata, ConsumerGroupMetadata) or group_metadata.group_id is None:
            raise TypeError("group_metadata must be a consumer's group_metadata() with a group_id")
        self._core.send_offsets_to_transaction(
            _offset_list(offsets),
            group_metadata.group_id,
            group_metadata.generation_id,
            group_metadata.member_id or "",
            group_metadata.group_instance_id,
        )

    def commit_transaction(self):
        """Commits the transaction (after its records are delivered)."""
        self._core.commit_transaction()

    def abort_transaction(self):
        """Aborts the transaction."""
        self._core.abort_transaction()


def _timeout(name, timeout):
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError("%s must be a number of seconds or None, not %s" % (name, type(timeout).__name__))
    if timeout < 0:
        raise ValueError("%s must be >= 0, not %r" % (name, timeout))
    return float(timeout)


def _offset_list(offsets):
    """``[(topic, partition, offset, metadata, leader_epoch)]`` from
    ``{TopicPartition: OffsetAndMetadata or int}``."""
    if not isinstance(offsets, dict):
        raise TypeError("offsets must be a dict of {TopicPartition: OffsetAndMetadata}, not %s"
                        % type(offsets).__name__)
    result = []
    for tp, offset in offsets.items():
        if not (isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[0], str)
                and isinstance(tp[1], numbers.Integral)):
            raise TypeError("offsets keys must be TopicPartition, not %r" % (tp,))
        if isinstance(offset, numbers.Integral) and not isinstance(offset, bool):
            offset = OffsetAndMetadata(offset, "", -1)
        if not isinstance(offset, tuple) or not offset or not isinstance(offset[0], numbers.Integral):
            raise TypeError("offsets values must be OffsetAndMetadata, not %r" % (offset,))
        metadata = offset[1] if len(offset) > 1 else ""
        epoch = offset[2] if len(offset) > 2 else -1
        if metadata is not None and not isinstance(metadata, str):
            raise TypeError("OffsetAndMetadata.metadata must be a str or None, not %s" % type(metadata).__name__)
        if offset[0] < 0:
            raise ValueError("offsets: the offset of %s must be >= 0, not %d" % (tp, offset[0]))
        result.append((tp[0], int(tp[1]), int(offset[0]), metadata, epoch if epoch is None else int(epoch)))
    return result
