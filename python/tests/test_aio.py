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
