"""ferrokafka.aio: aiokafka's API against a real broker."""

import asyncio

import pytest

from ferrokafka import TopicPartition, errors
from ferrokafka.aio import AIOKafkaConsumer, AIOKafkaProducer


def test_produce_and_consume_without_blocking_the_loop(bootstrap, topic, group):
    async def main():
        ticks = 0

        async def tick():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        async with AIOKafkaProducer(bootstrap_servers=bootstrap, max_batch_size=16384) as producer:
            first = await producer.send_and_wait(topic, b"first", key=b"k", partition=0)
            assert (first.topic, first.partition, first.offset) == (topic, 0, 0)
            futures = [await producer.send(topic, b"%d" % i, partition=i % 3) for i in range(30)]
            await producer.flush()
            assert all(f.done() for f in futures)
            metadata = await futures[-1]
            assert metadata.partition == 29 % 3

        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                    enable_auto_commit=False)
        await consumer.start()
        seen = []
        before = ticks
        while len(seen) < 31:
            batch = await consumer.getmany(timeout_ms=500, max_records=10)
            for tp, records in batch.items():
                assert isinstance(tp, TopicPartition) and len(records) <= 10
                seen.extend(r.value for r in records)
        assert ticks > before  # the loop ran while the polls waited
        await consumer.commit()
        tp = TopicPartition(topic, 0)
        assert await consumer.committed(tp) == await consumer.position(tp)
        consumer.seek(tp, 0)
        again = await consumer.getone()
        assert (again.partition, again.offset, again.value) == (0, 0, b"first")
        await consumer.stop()
        ticker.cancel()
        return seen

    seen = asyncio.run(main())
    assert sorted(seen) == sorted([b"first"] + [b"%d" % i for i in range(30)])


def test_async_for_and_a_cancelled_getmany_loses_nothing(bootstrap, topic):
    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(5):
                await producer.send(topic, b"%d" % i, partition=0)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        consumer.assign([TopicPartition(topic, 0)])
        # Cancelled before anything came: the poll it started is picked up.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(consumer.getmany(timeout_ms=3000), timeout=0.001)
        values = []
        async for record in consumer:
            values.append(record.value)
            if len(values) == 5:
                break
        await consumer.stop()
        return values

    assert asyncio.run(main()) == [b"%d" % i for i in range(5)]


def test_not_started_and_commit_without_group(bootstrap, topic):
    async def main():
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        with pytest.raises(errors.IllegalStateError):
            await producer.send(topic, b"x")
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        with pytest.raises(errors.IllegalStateError):
            await consumer.commit()
        await consumer.stop()
        await consumer.stop()

    asyncio.run(main())


def test_getmany_of_some_partitions_keeps_the_others_for_later(bootstrap, new_topic):
    topic = new_topic(partitions=3)

    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as producer:
            for i in range(30):
                await producer.send(topic, b"%d" % i, partition=i % 3)
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        only_one = []
        while len(only_one) < 10:
            batch = await consumer.getmany(tps[1], timeout_ms=1000, max_records=4)
            assert set(batch) <= {tps[1]} and sum(map(len, batch.values())) <= 4
            only_one.extend(r.value for records in batch.values() for r in records)
        assert only_one == [b"%d" % i for i in range(1, 30, 3)]
        assert await consumer.position(tps[1]) == 10
        # Nothing more in partition 1: an empty answer, the others untouched.
        assert await consumer.getmany(tps[1], timeout_ms=200) == {}
        assert consumer.paused() == set()
        rest = {}
        while sum(map(len, rest.values())) < 20:
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                rest.setdefault(tp, []).extend(r.offset for r in records)
        assert rest == {tps[0]: list(range(10)), tps[2]: list(range(10))}
        with pytest.raises(errors.IllegalStateError):
            await consumer.getmany(TopicPartition(topic, 7), timeout_ms=10)
        await consumer.stop()

    asyncio.run(main())


def test_transactions_commit_abort_and_offsets(bootstrap, new_topic, group):
    source = new_topic(partitions=1)
    sink = new_topic(partitions=1)
    txn_id = "aio-txn-%s" % group

    async def main():
        async with AIOKafkaProducer(bootstrap_servers=bootstrap) as plain:
            for i in range(3):
                await plain.send(source, b"in-%d" % i)
            with pytest.raises(errors.IllegalStateError):
                await plain.begin_transaction()
        consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
        await producer.start()
        consumed = []
        while len(consumed) < 3:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                consumed.extend(records)
        tp = TopicPartition(source, 0)
        async with producer.transaction():
            for record in consumed:
                await producer.send(sink, record.value.replace(b"in", b"out"))
            await producer.send_offsets_to_transaction({tp: consumed[-1].offset + 1}, group)
        with pytest.raises(RuntimeError, match="on purpose"):
            async with producer.transaction():
                await producer.send(sink, b"never")
                raise RuntimeError("on purpose")
        await producer.begin_transaction()
        await producer.send(sink, b"last")
        await producer.commit_transaction()
        with pytest.raises(ValueError, match="group_id"):
            await producer.send_offsets_to_transaction({tp: 0}, None)
        await producer.stop()
        assert await consumer.committed(tp) == 3
        await consumer.stop()

        reader = AIOKafkaConsumer(sink, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                  isolation_level="read_committed")
        await reader.start()
        values = []
        while len(values) < 4:
            for records in (await reader.getmany(timeout_ms=1000)).values():
                values.extend(r.value for r in records)
        assert values == [b"out-0", b"out-1", b"out-2", b"last"]
        assert await reader.getmany(timeout_ms=300) == {}
        await reader.stop()

    asyncio.run(main())
