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
        self._loop = asyncio.get_running_loop()
        self._producer = await self._loop.run_in_executor(None, functools.partial(KafkaProducer, **self._configs))

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
        self._records = collections.deque()

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
        self._records = collections.deque(r for r in self._records if (r.topic, r.partition) != tuple(partition))
        self._started().seek(partition, offset)

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

    async def getmany(self, *partitions, timeout_ms=0, max_records=None):
        """``{TopicPartition: [ConsumerRecord]}``, waiting at most ``timeout_ms``."""
        if partitions:
            raise NotImplementedError("getmany(*partitions) is not supported yet: pause the others instead")
        consumer = self._started()
        if max_records is None:
            max_records = consumer._max_poll_records
        if self._records:
            result = {}
            while self._records and max_records > 0:
                record = self._records.popleft()
                result.setdefault(_partition("record", (record.topic, record.partition)), []).append(record)
                max_records -= 1
            return result
        polled = await self._polled(timeout_ms, max_records)
        return polled.records(consumer._key_deserializer, consumer._value_deserializer, True)

    async def getone(self):
        """The next record, waiting as long as it takes."""
        consumer = self._started()
        while not self._records:
            polled = await self._polled(1000, consumer._max_poll_records)
            self._records.extend(polled.records(consumer._key_deserializer, consumer._value_deserializer, False))
        return self._records.popleft()

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
