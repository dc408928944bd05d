"""``ferrokafka.aio``: aiokafka's API (``AIOKafkaProducer``,
``AIOKafkaConsumer``) on the same Rust core.

Sends, flushes, polls and commits do not block the event loop and take no
thread per call: the Rust core completes them and resolves the asyncio
futures through ``loop.call_soon_threadsafe`` from one thread of its own.
``start()``/``stop()`` (connecting, closing) and the offset lookups
(``position``, ``committed``, ``end_offsets``, ...) run in the loop's
default executor.
"""

import asyncio
import collections
import functools

from ferrokafka import errors as Errors
from ferrokafka.consumer.group import KafkaConsumer, _partition
from ferrokafka.producer.kafka import KafkaProducer, _offset_list
from ferrokafka.structs import TopicPartition

__all__ = ["AIOKafkaProducer", "AIOKafkaConsumer"]

# aiokafka's names of keys kafka-python spells otherwise.
_RENAMED = {"max_batch_size": "batch_size"}
# aiokafka keys with no meaning here.
_ASYNC_ONLY = {"loop", "send_backoff_ms", "api_version"}


def _configs(configs):
    result = {}
    for key, value in configs.items():
        if key in _ASYNC_ONLY:
            continue
        result[_RENAMED.get(key, key)] = value
    return result


def _resolve(future, ok, value):
    if not future.done():
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


class AIOKafkaProducer:
    """aiokafka's producer: ``await start()``, ``await send(...)`` (a future of
    the ``RecordMetadata``), ``await send_and_wait(...)``, ``await flush()``,
    ``await stop()``; or ``async with``."""

    def __init__(self, **configs):
        self._configs = _configs(configs)
        self._producer = None
        self._loop = None
        self._known_topics = set()

    async def start(self):
        """Connects; a producer with a ``transactional_id`` also gets its
        producer id (fencing older producers with the same id)."""
        self._loop = asyncio.get_running_loop()
        self._producer = await self._loop.run_in_executor(None, functools.partial(KafkaProducer, **self._configs))
        if self._configs.get("transactional_id"):
            await self._loop.run_in_executor(None, self._producer.init_transactions)

    async def stop(self):
        if self._producer is None:
            return
        await self.flush()
        producer, self._producer = self._producer, None
        await self._loop.run_in_executor(None, producer.close)

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        await self.stop()

    def _started(self):
        if self._producer is None:
            raise Errors.IllegalStateError("the producer is not started (or stopped)")
        return self._producer

    async def partitions_for(self, topic):
        producer = self._started()
        partitions = await self._loop.run_in_executor(None, producer.partitions_for, topic)
        self._known_topics.add(topic)
        return partitions

    async def send(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
        """Queues a record; returns a future of its ``RecordMetadata``."""
        producer = self._started()
        if topic not in self._known_topics and isinstance(topic, str):
            # The first send to a topic waits for its metadata: not on the loop.
            await self.partitions_for(topic)
        delivery = producer.send(topic, value=value, key=key, headers=headers, partition=partition,
                                 timestamp_ms=timestamp_ms)
        loop = self._loop
        future = loop.create_future()
        delivery.add_callback(lambda metadata: loop.call_soon_threadsafe(_resolve, future, True, metadata))
        delivery.add_errback(lambda error: loop.call_soon_threadsafe(_resolve, future, False, error))
        return future

    async def send_and_wait(self, topic, value=None, key=None, partition=None, timestamp_ms=None, headers=None):
        """Sends a record and waits for its ``RecordMetadata``."""
        future = await self.send(topic, value=value, key=key, partition=partition, timestamp_ms=timestamp_ms,
                                 headers=headers)
        return await future

    async def flush(self):
        """Waits until every record sent so far is delivered or failed."""
        producer = self._started()
        loop = self._loop
        future = loop.create_future()
        producer._core.flush_then(lambda: loop.call_soon_threadsafe(_resolve, future, True, None))
        await future

    # -- transactions (a producer made with a ``transactional_id``) ------

    def _transactional(self):
        producer = self._started()
        if not producer._transactional:
            raise Errors.IllegalStateError("transactions need a producer made with a transactional_id")
        return producer

    async def _transaction_call(self, function, *args):
        # Begin is immediate; the others wait for the coordinator, in the
        # executor so that the loop runs on.
        return await self._loop.run_in_executor(None, function, *args)

    async def begin_transaction(self):
        """Starts a transaction: records sent until ``commit_transaction`` or
        ``abort_transaction`` are part of it."""
        self._transactional().begin_transaction()

    async def commit_transaction(self):
        """Delivers the transaction's records and commits it."""
        producer = self._transactional()
        await self.flush()
        await self._transaction_call(producer.commit_transaction)

    async def abort_transaction(self):
        """Aborts the transaction: its records are never read by
        ``read_committed`` consumers."""
        producer = self._transactional()
        await self._transaction_call(producer.abort_transaction)

    async def send_offsets_to_transaction(self, offsets, group_id):
        """Commits ``offsets`` ({TopicPartition: offset or OffsetAndMetadata})
        of the consumer group ``group_id`` with the transaction."""
        producer = self._transactional()
        if not isinstance(group_id, str) or not group_id:
            raise ValueError("group_id must be a non-empty str, not %r" % (group_id,))
        _offset_list(offsets)  # checks the offsets before anything is sent
        await self._transaction_call(producer.send_offsets_to_transaction, offsets, group_id)

    def transaction(self):
        """``async with producer.transaction():`` begins a transaction, and
        commits it when the block ends, or aborts it when the block raises."""
        return _Transaction(self)


class _Transaction:
    """The context manager of ``AIOKafkaProducer.transaction()``."""

    def __init__(self, producer):
        self._producer = producer

    async def __aenter__(self):
        await self._producer.begin_transaction()
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        if exc_type is None:
            await self._producer.commit_transaction()
        else:
            await self._producer.abort_transaction()
        return False


class AIOKafkaConsumer:
    """aiokafka's consumer: ``await start()``, ``await getmany(timeout_ms=...,
    max_records=...)``, ``await getone()``, ``async for msg in consumer``,
    ``await commit(...)``, ``seek``, ``await stop()``."""

    def __init__(self, *topics, **configs):
        self._topics = topics
        self._configs = _configs(configs)
        self._consumer = None
        self._loop = None
        self._inflight = None

    async def start(self):
        self._loop = asyncio.get_running_loop()
        self._consumer = await self._loop.run_in_executor(
            None, functools.partial(KafkaConsumer, *self._topics, **self._configs))

    async def stop(self):
        if self._consumer is None:
            return
        consumer, self._consumer = self._consumer, None
        if self._inflight is not None:
            try:
                await self._inflight
            except Errors.KafkaError:
                pass
            self._inflight = None
        await self._loop.run_in_executor(None, consumer.close)

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, exc_type, exc_value, traceback):
        await self.stop()

    def _started(self):
        if self._consumer is None:
            raise Errors.IllegalStateError("the consumer is not started (or stopped)")
        return self._consumer

    def subscribe(self, topics=(), pattern=None, listener=None):
        self._started().subscribe(topics, pattern=pattern, listener=listener)

    def assign(self, partitions):
        self._started().assign(partitions)

    def assignment(self):
        return self._started().assignment()

    def subscription(self):
        return self._started().subscription()

    def seek(self, partition, offset):
        # The sync consumer drops what it holds of the partition.
        self._started().seek(partition, offset)

    def pause(self, *partitions):
        self._started().pause(*partitions)

    def resume(self, *partitions):
        self._started().resume(*partitions)

    def paused(self):
        return self._started().paused()

    async def _polled(self, timeout_ms, max_records):
        """The next poll's ``Polled``; a poll a cancelled call started is
        picked up, not lost."""
        consumer = self._started()
        if self._inflight is None:
            loop = self._loop
            future = loop.create_future()
            consumer._core.poll_then(float(timeout_ms), max_records,
                                     lambda polled: loop.call_soon_threadsafe(_resolve, future, True, polled))
            self._inflight = future
        polled = await asyncio.shield(self._inflight)
        self._inflight = None
        return polled

    def _wanted(self, consumer, partitions):
        """The set of ``partitions`` (``None`` when none given), each assigned."""
        if not partitions:
            return None
        wanted = {_partition("partitions", tp) for tp in partitions}
        unknown = wanted - consumer.assignment()
        if unknown:
            raise Errors.IllegalStateError("not assigned: %s" % ", ".join(map(str, sorted(unknown))))
        return wanted

    async def _fill(self, consumer, wanted, timeout_ms, max_records):
        """Polls once (up to ``max_records``, at most ``timeout_ms``) into the
        records the consumer holds; with ``wanted``, the other partitions
        are paused for the poll (what was fetched of them stays unconsumed,
        to be fetched again)."""
        others = []
        if wanted is not None and self._inflight is None:
            paused = consumer.paused()
            others = [tp for tp in consumer.assignment() - wanted if tp not in paused]
        if others:
            consumer.pause(*others)
        try:
            polled = await self._polled(timeout_ms, max_records)
        finally:
            if others and self._consumer is not None:
                consumer.resume(*others)
        # Read after the wait: a seek meanwhile replaces the deque.
        consumer._records.extend(polled.records(consumer._key_deserializer, consumer._value_deserializer, False))

    async def getmany(self, *partitions, timeout_ms=0, max_records=None):
        """``{TopicPartition: [ConsumerRecord]}``, waiting at most
        ``timeout_ms``; with ``partitions``, records of those alone (the
        others' stay for later calls)."""
        consumer = self._started()
        wanted = self._wanted(consumer, partitions)
        max_records = _max_records(consumer, max_records)
        if wanted is None and not consumer._records and self._inflight is None:
            # Nothing held: the poll's records, grouped on the Rust side.
            polled = await self._polled(timeout_ms, max_records)
            return polled.records(consumer._key_deserializer, consumer._value_deserializer, True)
        if not _holds(consumer._records, wanted):
            await self._fill(consumer, wanted, timeout_ms, max_records)
        return _take(consumer._records, wanted, max_records)

    async def getone(self, *partitions):
        """The next record (of ``partitions``, when given), waiting as long
        as it takes."""
        consumer = self._started()
        wanted = self._wanted(consumer, partitions)
        while not _holds(consumer._records, wanted):
            await self._fill(consumer, wanted, 1000, consumer._max_poll_records)
            consumer = self._started()
        for records in _take(consumer._records, wanted, 1).values():
            return records[0]
        raise AssertionError("a held record was not taken")

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._consumer is None:
            raise StopAsyncIteration
        try:
            return await self.getone()
        except Errors.IllegalStateError:
            raise StopAsyncIteration

    async def commit(self, offsets=None):
        """Commits ``offsets`` or the consumed positions, and waits for the group."""
        consumer = self._started()
        consumer._require_group()
        if offsets is None and consumer._records:
            # What was handed out, not what the consumer holds.
            offsets = await self._in_executor(consumer._consumed_offsets)
        offsets = None if offsets is None else _offset_list(offsets)
        loop = self._loop
        future = loop.create_future()

        def done(error):
            loop.call_soon_threadsafe(_resolve, future, error is None, error)

        consumer._core.commit_then(offsets, done)
        await future

    async def _in_executor(self, function, *args):
        return await self._loop.run_in_executor(None, function, *args)

    async def position(self, partition):
        return await self._in_executor(self._started().position, partition)

    async def committed(self, partition):
        return await self._in_executor(self._started().committed, partition)

    async def end_offsets(self, partitions):
        return await self._in_executor(self._started().end_offsets, partitions)

    async def beginning_offsets(self, partitions):
        return await self._in_executor(self._started().beginning_offsets, partitions)

    async def seek_to_beginning(self, *partitions):
        await self._in_executor(self._started().seek_to_beginning, *partitions)

    async def seek_to_end(self, *partitions):
        await self._in_executor(self._started().seek_to_end, *partitions)


def _max_records(consumer, max_records):
    if max_records is None:
        return consumer._max_poll_records
    if isinstance(max_records, bool) or not isinstance(max_records, int):
        raise TypeError("max_records must be an int or None, not %s" % type(max_records).__name__)
    if max_records < 1:
        raise ValueError("max_records must be at least 1, not %d" % max_records)
    return max_records


def _holds(held, wanted):
    """Whether the deque ``held`` has a record of ``wanted`` (``None``: any)."""
    if wanted is None:
        return bool(held)
    return any((r.topic, r.partition) in wanted for r in held)


def _take(held, wanted, max_records):
    """Up to ``max_records`` records of ``wanted`` (``None``: any) partitions
    out of the deque ``held``, in order, grouped by partition."""
    result = {}
    if wanted is None:
        while held and max_records > 0:
            record = held.popleft()
            result.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
            max_records -= 1
        return result
    kept = collections.deque()
    while held:
        record = held.popleft()
        tp = (record.topic, record.partition)
        if max_records > 0 and tp in wanted:
            result.setdefault(TopicPartition(*tp), []).append(record)
            max_records -= 1
        else:
            kept.append(record)
    held.extend(kept)
    return result
