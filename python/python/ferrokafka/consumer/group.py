"""KafkaConsumer: kafka-python's consumer on ferrokafka's Rust consumer."""

import collections
import logging
import numbers
import re
import time
import weakref

from ferrokafka import _core
from ferrokafka import errors as Errors
from ferrokafka._config import consumer_settings
from ferrokafka.future import Future
from ferrokafka.producer.kafka import _offset_list
from ferrokafka.structs import ConsumerGroupMetadata, MemberState, OffsetAndMetadata, TopicPartition

__all__ = ["KafkaConsumer"]

log = logging.getLogger("kafka.consumer.group")


def _deserializer(deserializer):
    """``(function, takes_topic_and_headers)`` or ``None``."""
    if deserializer is None:
        return None
    deserialize = getattr(deserializer, "deserialize", None)
    if callable(deserialize):
        return deserialize, True
    return deserializer, False


def _partition(name, tp):
    if not (isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[0], str)
            and isinstance(tp[1], numbers.Integral) and not isinstance(tp[1], bool)):
        raise TypeError("%s must be a TopicPartition, not %r" % (name, tp))
    if tp[1] < 0:
        raise ValueError("%s: the partition must be >= 0, not %d" % (name, tp[1]))
    return TopicPartition(tp[0], int(tp[1]))


def _partitions(name, partitions):
    if isinstance(partitions, (str, bytes)) or not isinstance(partitions, collections.abc.Iterable):
        raise TypeError("%s must be a list of TopicPartition, not %s" % (name, type(partitions).__name__))
    return [_partition(name, tp) for tp in partitions]


def _millis(name, value, default=None):
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number of milliseconds, not %s" % (name, type(value).__name__))
    if value < 0:
        raise ValueError("%s must be >= 0, not %r" % (name, value))
    return float(value)


class ConsumerRebalanceListener:
    """Told when the group moves partitions: override
    ``on_partitions_revoked(revoked)`` and ``on_partitions_assigned(assigned)``
    (and ``on_partitions_lost(lost)``). They run inside ``poll()``, where the
    consumer's ``seek``, ``position``, ``commit`` and ``committed`` may be
    called."""

    def on_partitions_revoked(self, revoked):
        pass

    def on_partitions_assigned(self, assigned):
        pass

    def on_partitions_lost(self, lost):
        self.on_partitions_revoked(lost)


class _ListenerCall:
    """What a listener asks of the consumer while it runs."""

    def __init__(self, positions):
        self.positions = positions
        self.seeks = []
        self.commits = []
        self.commit_positions = False


class KafkaConsumer:
    """Consumes records from a Kafka cluster.

    ``KafkaConsumer(*topics, **configs)`` takes kafka-python's keyword
    arguments (``bootstrap_servers``, ``group_id``, ``auto_offset_reset``,
    ``value_deserializer``, ``max_poll_records``, ...). With a ``group_id``
    the topics are shared among the group's members; without one (the
    default) the consumer reads every partition of its topics itself.
    """

    def __init__(self, *topics, **configs):
        settings, python_values = consumer_settings(configs)
        self.config = dict(configs)
        self.config.update(python_values)
        self._key_deserializer = _deserializer(python_values["key_deserializer"])
        self._value_deserializer = _deserializer(python_values["value_deserializer"])
        self._deserializers = (python_values["key_deserializer"], python_values["value_deserializer"])
        self._consumer_timeout_ms = python_values["consumer_timeout_ms"]
        self._max_poll_records = python_values["max_poll_records"]
        self._request_timeout_ms = python_values["request_timeout_ms"]
        self._commit_callback = python_values["default_offset_commit_callback"]
        self._group_id = python_values["group_id"]
        self._core = _core.Consumer(settings)
        self._closed = False
        # Fetched, not handed out yet (iteration pops it in Rust).
        self._records = _core.Held()
        self._listener = None
        self._listener_call = None
        # Without a group: the topics (or pattern) whose partitions this
        # consumer assigns itself, and those not known yet.
        self._broadcast = None
        self._broadcast_pending = set()
        self._broadcast_checked = 0.0
        # Partitions given to assign() (not a subscription's).
        self._assigned = False
        if topics:
            self.subscribe(topics)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def bootstrap_connected(self):
        """Whether the consumer reached the cluster."""
        return not self._closed

    # -- subscriptions ---------------------------------------------------

    def subscribe(self, topics=(), pattern=None, listener=None):
        """Subscribes to ``topics`` (or every topic matching ``pattern``).

        With a ``group_id`` the group assigns the partitions and ``listener``
        (a ``ConsumerRebalanceListener``) is told of each change; without one
        the consumer reads every partition of the topics.
        """
        if isinstance(topics, str):
            topics = [topics]
        if isinstance(topics, (bytes, bytearray)) or not isinstance(topics, collections.abc.Iterable):
            raise TypeError("topics must be a list of str, not %s" % type(topics).__name__)
        topics = list(topics)
        for topic in topics:
            if not isinstance(topic, str):
                raise TypeError("topics must be a list of str, not holding %s" % type(topic).__name__)
        if pattern is not None and not isinstance(pattern, str):
            raise TypeError("pattern must be a str, not %s" % type(pattern).__name__)
        if bool(topics) == (pattern is not None):
            raise Errors.IllegalStateError("You must choose topics or pattern, but not both")
        if listener is not None and not all(
            callable(getattr(listener, name, None)) for name in ("on_partitions_revoked", "on_partitions_assigned")
        ):
            raise TypeError("listener must be a ConsumerRebalanceListener")
        if self._assigned:
            raise Errors.IllegalStateError("Subscription to topics, partitions and pattern are mutually exclusive")
        if self._group_id is None:
            self._broadcast = re.compile(pattern) if pattern is not None else set(topics)
            self._broadcast_pending = set(topics)
            self._broadcast_checked = 0.0
            self._core.assign([])
            self._assign_broadcast()
            return
        self._listener = listener
        run = weakref.WeakMethod(self._run_listener) if listener is not None else None
        if pattern is not None:
            self._core.subscribe_pattern(pattern, run)
        else:
            self._core.subscribe(topics, run)

    def _assign_broadcast(self):
        """Assigns every known partition of the subscribed topics (a
        consumer without a group)."""
        self._broadcast_checked = time.monotonic()
        if isinstance(self._broadcast, set):
            names = self._broadcast
        else:
            names = {t for t in self._core.topics() if self._broadcast.fullmatch(t)}
        known = self._core.topics()
        wanted = [TopicPartition(t, p) for t in sorted(names) for p in known.get(t, [])]
        self._broadcast_pending = {t for t in names if t not in known}
        if set(wanted) != set(self.assignment()):
            self._core.assign(wanted)

    def unsubscribe(self):
        """Leaves the group (or drops the partitions)."""
        self._broadcast = None
        self._assigned = False
        self._records.clear()
        self._core.unsubscribe()

    def subscription(self):
        """The subscribed topics, or ``None``."""
        if self._broadcast is not None:
            if isinstance(self._broadcast, set):
                return set(self._broadcast)
            return {tp.topic for tp in self.assignment()}
        topics = self._core.subscription()
        return set(topics) if topics else None

    def assign(self, partitions):
        """Reads exactly these partitions (no group assignment)."""
        partitions = _partitions("partitions", partitions)
        if self._broadcast is not None or self._core.subscription():
            raise Errors.IllegalStateError("Subscription to topics, partitions and pattern are mutually exclusive")
        self._records.clear()
        self._core.assign(partitions)
        self._assigned = bool(partitions)

    def assignment(self):
        """The partitions this consumer reads now."""
        return {TopicPartition(t, p) for t, p in self._core.assignment()}

    # -- reading ---------------------------------------------------------

    def _poll_checks(self):
        if self._closed:
            raise Errors.IllegalStateError("KafkaConsumer is closed")
        if self._broadcast is not None and (self._broadcast_pending or not isinstance(self._broadcast, set)):
            if time.monotonic() - self._broadcast_checked >= 1.0:
                self._assign_broadcast()

    def _poll(self, timeout_ms, max_records, grouped):
        self._poll_checks()
        return self._core.poll(timeout_ms, max_records, self._key_deserializer, self._value_deserializer, grouped)

    def _poll_into(self, timeout_ms):
        """Polls up to ``max_poll_records`` records into the held ones (as
        Rust records, made ``ConsumerRecord``s when handed out): whether any
        came."""
        self._poll_checks()
        return self._core.poll_into(self._records, timeout_ms, self._max_poll_records,
                                    self._key_deserializer, self._value_deserializer)

    def poll(self, timeout_ms=0, max_records=None, update_offsets=True):
        """Up to ``max_records`` records (default ``max_poll_records``),
        waiting at most ``timeout_ms`` for some: ``{TopicPartition:
        [ConsumerRecord]}``, empty when none came."""
        timeout_ms = _millis("timeout_ms", timeout_ms, 0.0)
        if max_records is None:
            max_records = self._max_poll_records
        elif isinstance(max_records, bool) or not isinstance(max_records, numbers.Integral):
            raise TypeError("max_records must be an int, not %s" % type(max_records).__name__)
        elif max_records < 1:
            raise ValueError("max_records must be at least 1, not %d" % max_records)
        records = {}
        if self._records:
            # Records the iterator fetched but did not hand out yet.
            while self._records and max_records > 0:
                record = self._records.popleft()
                records.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
                max_records -= 1
            return records
        records = self._poll(timeout_ms, max_records, True)
        if not update_offsets:
            for tp, batch in records.items():
                self._core.seek(tp.topic, tp.partition, batch[0].offset)
        return records

    def __iter__(self):
        if type(self).__next__ is not KafkaConsumer.__next__:
            return self  # a subclass's own __next__
        # Pops the held records in Rust, calling _refill when there are none.
        return _core.HeldIterator(self._records, self._refill)

    def __next__(self):
        if self._records or self._refill():
            return self._records.popleft()
        raise StopIteration

    def _refill(self):
        """Polls until records come (held for the iteration): ``False`` when
        ``consumer_timeout_ms`` passed first."""
        timeout = self._consumer_timeout_ms
        deadline = None if timeout == float("inf") or timeout < 0 else time.monotonic() + timeout / 1000
        while True:
            wait_ms = 1000.0
            if deadline is not None:
                wait_ms = min(wait_ms, max(0.0, (deadline - time.monotonic()) * 1000))
            if self._poll_into(wait_ms):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False

    # -- positions -------------------------------------------------------

    def seek(self, partition, offset):
        """Reads ``partition`` from ``offset`` next."""
        partition = _partition("partition", partition)
        if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
            raise TypeError("offset must be an int, not %s" % type(offset).__name__)
        if offset < 0:
            raise ValueError("offset must be >= 0, not %d" % offset)
        if self._listener_call is not None:
            self._listener_call.seeks.append((partition.topic, partition.partition, int(offset)))
            return
        self._drop_buffered({partition})
        self._core.seek(partition.topic, partition.partition, int(offset))

    def _drop_buffered(self, partitions):
        if self._records:
            # In place: an iteration under way holds this object.
            self._records.drop_partitions([(tp.topic, tp.partition) for tp in partitions])

    def _partitions_or_assignment(self, partitions):
        if not partitions:
            return list(self.assignment())
        return [_partition("partitions", tp) for tp in partitions]

    def seek_to_beginning(self, *partitions):
        """Reads these partitions (default: all assigned) from their first offsets next."""
        partitions = self._partitions_or_assignment(partitions)
        self._not_in_listener("seek_to_beginning")
        self._drop_buffered(set(partitions))
        self._core.seek_to_beginning(partitions)

    def seek_to_end(self, *partitions):
        """Reads these partitions (default: all assigned) from their ends next."""
        partitions = self._partitions_or_assignment(partitions)
        self._not_in_listener("seek_to_end")
        self._drop_buffered(set(partitions))
        self._core.seek_to_end(partitions)

    def position(self, partition, timeout_ms=None):
        """The offset of the next record ``poll`` hands out of ``partition``."""
        partition = _partition("partition", partition)
        if self._listener_call is not None:
            for topic, index, offset in reversed(self._listener_call.seeks):
                if (topic, index) == partition:
                    return offset
            return self._listener_call.positions.get(partition)
        position = self._core.position(partition.topic, partition.partition)
        # Records the iterator holds were not handed out yet.
        held = self._records.first_offset(partition.topic, partition.partition)
        return position if held is None else held

    def highwater(self, partition):
        """The partition's end offset."""
        partition = _partition("partition", partition)
        return self.end_offsets([partition]).get(partition)

    def pause(self, *partitions):
        """Stops fetching these partitions until ``resume``."""
        self._core.pause([_partition("partitions", tp) for tp in partitions])

    def resume(self, *partitions):
        """Fetches these partitions again."""
        self._core.resume([_partition("partitions", tp) for tp in partitions])

    def paused(self):
        """The paused partitions."""
        return {TopicPartition(t, p) for t, p in self._core.paused()}

    def beginning_offsets(self, partitions, timeout_ms=None):
        """``{TopicPartition: first offset}``."""
        return self._core.beginning_offsets(_partitions("partitions", partitions))

    def end_offsets(self, partitions, timeout_ms=None):
        """``{TopicPartition: end offset}`` (the offset the next record gets)."""
        return self._core.end_offsets(_partitions("partitions", partitions))

    def offsets_for_times(self, timestamps, timeout_ms=None):
        """``{TopicPartition: OffsetAndTimestamp or None}``: the first record at
        or after each timestamp (milliseconds)."""
        if not isinstance(timestamps, dict):
            raise TypeError("timestamps must be a dict of {TopicPartition: int}, not %s"
                            % type(timestamps).__name__)
        queries = []
        for tp, ts in timestamps.items():
            tp = _partition("timestamps", tp)
            if isinstance(ts, bool) or not isinstance(ts, numbers.Integral):
                raise TypeError("timestamps values must be int, not %s" % type(ts).__name__)
            if ts < 0:
                raise ValueError("The target time for partition %s is %d. The target time cannot be negative."
                                 % (tp, ts))
            queries.append((tp.topic, tp.partition, int(ts)))
        return self._core.offsets_for_times(queries)

    # -- offsets ---------------------------------------------------------

    def _require_group(self):
        if self._group_id is None:
            raise Errors.IllegalStateError("Requires group_id")

    def _not_in_listener(self, what):
        if self._listener_call is not None:
            raise Errors.IllegalStateError("%s cannot be called from a rebalance listener" % what)

    def commit(self, offsets=None, timeout_ms=None):
        """Commits ``offsets`` ({TopicPartition: OffsetAndMetadata}), or the
        positions of every assigned partition, and waits for the group."""
        self._require_group()
        offsets = None if offsets is None else _offset_list(offsets)
        if self._listener_call is not None:
            if offsets is None:
                self._listener_call.commit_positions = True
            else:
                self._listener_call.commits.extend(offsets)
            return
        if offsets is None and self._records:
            # Commit what was handed out, not what the iterator holds.
            offsets = _offset_list(self._consumed_offsets())
        self._core.commit(offsets)

    def _consumed_offsets(self):
        offsets = {}
        for tp in self.assignment():
            offsets[tp] = OffsetAndMetadata(self.position(tp), "", -1)
        return offsets

    def commit_async(self, offsets=None, callback=None):
        """Commits as ``commit`` does and calls ``callback(offsets, response)``
        (``response`` is ``None`` or the exception); returns a done
        ``Future``. (ferrokafka commits before returning.)"""
        self._require_group()
        if callback is None:
            callback = self._commit_callback
        committed = offsets if offsets is not None else self._consumed_offsets()
        future = Future()
        try:
            self.commit(offsets)
        except Errors.KafkaError as error:
            future.failure(error)
            if callback is not None:
                callback(committed, error)
        else:
            future.success(None)
            if callback is not None:
                callback(committed, None)
        return future

    def committed(self, partition, metadata=False, timeout_ms=None):
        """The group's committed offset of ``partition`` (an int, or the
        ``OffsetAndMetadata`` with ``metadata=True``), or ``None``."""
        self._require_group()
        if not isinstance(partition, TopicPartition):
            raise TypeError("partition must be a TopicPartition namedtuple")
        found = self._core.committed([partition]).get(partition)
        if found is None:
            return None
        return found if metadata else found.offset

    def group_metadata(self):
        """The group membership, for ``KafkaProducer.send_offsets_to_transaction``."""
        if self._group_id is None:
            return ConsumerGroupMetadata(group_id=None)
        found = self._core.group_metadata()
        if found is None:
            return ConsumerGroupMetadata(group_id=self._group_id)
        group_id, generation, member_id, instance_id = found
        state = MemberState.STABLE if generation >= 0 else MemberState.UNJOINED
        return ConsumerGroupMetadata(group_id, generation, member_id, instance_id, state)

    # -- cluster ---------------------------------------------------------

    def topics(self):
        """The names of the cluster's topics."""
        return set(self._core.topics())

    def partitions_for_topic(self, topic):
        """The set of ``topic``'s partitions, or ``None`` if it does not exist."""
        if not isinstance(topic, str):
            raise TypeError("topic must be a str, not %s" % type(topic).__name__)
        partitions = self._core.topics().get(topic)
        return None if partitions is None else set(partitions)

    def metrics(self, raw=False):
        """``{'consumer-fetch-manager-metrics': {...}, 'consumer-coordinator-metrics': {...}}``."""
        values = self._core.metrics()
        coordinator = {k: v for k, v in values.items() if k.startswith(("commit-", "rebalance-", "heartbeat-", "last-heartbeat-"))}
        fetch = {k: v for k, v in values.items() if k not in coordinator}
        return {"consumer-fetch-manager-metrics": fetch, "consumer-coordinator-metrics": coordinator}

    # -- the listener ----------------------------------------------------

    def _run_listener(self, kind, partitions, positions):
        """Runs the listener for the Rust consumer: ``(seeks, commits,
        commit_positions)`` it asked for."""
        listener = self._listener
        if listener is None:
            return [], [], False
        call = _ListenerCall(positions)
        self._listener_call = call
        try:
            if kind == "assigned":
                self._drop_buffered(set(partitions))
                listener.on_partitions_assigned(set(partitions))
            elif kind == "lost" and callable(getattr(listener, "on_partitions_lost", None)):
                listener.on_partitions_lost(set(partitions))
            else:
                self._drop_buffered(set(partitions))
                listener.on_partitions_revoked(set(partitions))
        except Exception:
            log.exception("User provided listener %s failed on partitions %s", listener, kind)
        finally:
            self._listener_call = None
        return call.seeks, call.commits, call.commit_positions

    # -- closing ---------------------------------------------------------

    def close(self, autocommit=True, timeout_ms=None):
        """Commits (with auto-commit), leaves the group and stops, waiting at
        most ``timeout_ms`` (default ``request_timeout_ms``). Closing twice is
        fine."""
        timeout_ms = _millis("timeout_ms", timeout_ms, float(self._request_timeout_ms))
        if self._closed:
            return
        self._closed = True
        self._records.clear()
        self._core.close(timeout_ms)
        for deserializer in self._deserializers:
            close = getattr(deserializer, "close", None)
            if callable(close) and hasattr(deserializer, "deserialize"):
                close()
        log.debug("KafkaConsumer closed")
