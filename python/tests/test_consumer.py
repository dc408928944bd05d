"""KafkaConsumer against a real broker, with the tutorials' usage among the
tests: broadcast consumers without a group, a group member polling with
max_records, one thread per assigned partition committing
OffsetAndMetadata(end, None)."""

import json
import threading
import time

import pytest

from ferrokafka import (
    ConsumerRebalanceListener,
    Deserializer,
    KafkaConsumer,
    KafkaProducer,
    OffsetAndMetadata,
    TopicPartition,
    errors,
)
from ferrokafka.structs import ConsumerRecord, OffsetAndTimestamp


def produce(bootstrap, topic, count, partition=None, **kwargs):
    producer = KafkaProducer(bootstrap_servers=bootstrap, **kwargs)
    for i in range(count):
        producer.send(topic, b"value-%d" % i, key=b"key-%d" % i, partition=partition)
    producer.flush()
    producer.close()


def poll_until(consumer, count, max_records=None, seconds=30):
    """Polls until ``count`` records came; ``{TopicPartition: [records]}``."""
    deadline = time.monotonic() + seconds
    found = {}
    while sum(len(v) for v in found.values()) < count and time.monotonic() < deadline:
        batch = consumer.poll(timeout_ms=1000, max_records=max_records)
        if max_records is not None:
            assert sum(len(v) for v in batch.values()) <= max_records
        for tp, records in batch.items():
            found.setdefault(tp, []).extend(records)
    return found


def test_iteration_ends_after_consumer_timeout_ms(bootstrap, topic):
    produce(bootstrap, topic, 30)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=2000)
    records = list(consumer)
    assert len(records) == 30
    assert all(isinstance(r, ConsumerRecord) for r in records)
    first = records[0]
    assert first.topic == topic and first.timestamp_type == 0 and first.headers == []
    assert first.serialized_key_size == len(first.key) and first.checksum is None
    with pytest.raises(StopIteration):
        next(consumer)
    consumer.close()


def test_broadcast_consumers_without_a_group_each_read_everything(bootstrap, topic):
    """Consumers with group_id=None are not limited by the partition count:
    each reads every record."""
    consumers = [KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                               consumer_timeout_ms=10000) for _ in range(4)]
    produce(bootstrap, topic, 40)
    for consumer in consumers:
        values = []
        for record in consumer:
            values.append(record.value)
            if len(values) == 40:
                break
        assert sorted(values) == sorted(b"value-%d" % i for i in range(40))
        assert consumer.subscription() == {topic}
        assert consumer.assignment() == {TopicPartition(topic, p) for p in range(3)}
        consumer.close()


def test_group_member_polls_with_max_records(bootstrap, topic, group):
    produce(bootstrap, topic, 50)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    found = poll_until(consumer, 50, max_records=2)
    assert sum(len(v) for v in found.values()) == 50
    for tp, records in found.items():
        assert isinstance(tp, TopicPartition)
        assert [r.offset for r in records] == list(range(len(records)))
    consumer.commit()
    for tp, records in found.items():
        assert consumer.committed(tp) == len(records)
        assert consumer.position(tp) == len(records)
    metadata = consumer.group_metadata()
    assert metadata.group_id == group and metadata.generation_id >= 1
    consumer.close()
    consumer.close()


def test_three_threads_each_assigned_one_partition(bootstrap, topic, group):
    """The tutorial's multi-threaded consumer: a consumer per partition,
    end_offsets then seek then poll, committing OffsetAndMetadata(end, None)."""
    produce(bootstrap, topic, 30)
    results, failures = {}, []
    ready = threading.Barrier(4)

    def run(partition):
        try:
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, client_id="t%d" % partition,
                                     enable_auto_commit=False, fetch_min_bytes=1, fetch_max_wait_ms=100)
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            offset = consumer.end_offsets([tp])[tp]
            consumer.seek(tp, offset)
            ready.wait(30)
            seen = []
            deadline = time.monotonic() + 30
            while len(seen) < 5 and time.monotonic() < deadline:
                msg = consumer.poll(timeout_ms=500)
                end_offset = consumer.end_offsets([tp])[tp]
                for records in msg.values():
                    seen.extend(r.value for r in records)
                if msg:
                    consumer.commit(offsets={tp: (OffsetAndMetadata(end_offset, None))})
            results[partition] = (offset, seen, consumer.committed(tp))
            consumer.close()
        except Exception as error:  # reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(3)]
    for thread in threads:
        thread.start()
    ready.wait(30)
    produce(bootstrap, topic, 5, partition=0)
    produce(bootstrap, topic, 5, partition=1)
    produce(bootstrap, topic, 5, partition=2)
    for thread in threads:
        thread.join(60)
    assert failures == []
    for partition in range(3):
        start, seen, committed = results[partition]
        assert len(seen) == 5
        assert committed == start + 5


def test_seek_position_and_offsets(bootstrap, topic):
    produce(bootstrap, topic, 10, partition=0)
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    consumer.assign([tp])
    assert consumer.assignment() == {tp}
    assert consumer.beginning_offsets([tp]) == {tp: 0}
    assert consumer.end_offsets([tp]) == {tp: 10}
    assert consumer.highwater(tp) == 10
    consumer.seek(tp, 7)
    assert consumer.position(tp) == 7
    found = poll_until(consumer, 3)
    assert [r.offset for r in found[tp]] == [7, 8, 9]
    consumer.seek_to_beginning(tp)
    assert consumer.position(tp) == 0
    consumer.seek_to_end()
    assert consumer.position(tp) == 10
    times = consumer.offsets_for_times({tp: 0})
    assert isinstance(times[tp], OffsetAndTimestamp) and times[tp].offset == 0
    assert consumer.offsets_for_times({tp: int(time.time() * 1000) + 3_600_000}) == {tp: None}
    consumer.close()


def test_update_offsets_false_leaves_the_position(bootstrap, topic):
    produce(bootstrap, topic, 5, partition=0)
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    consumer.assign([tp])
    first = {}
    deadline = time.monotonic() + 30
    while not first and time.monotonic() < deadline:
        first = consumer.poll(timeout_ms=1000, update_offsets=False)
    assert consumer.position(tp) == 0
    again = poll_until(consumer, len(first[tp]))
    assert [r.offset for r in again[tp]][: len(first[tp])] == [r.offset for r in first[tp]]
    consumer.close()


def test_pause_resume_and_cluster_views(bootstrap, new_topic):
    name = new_topic(partitions=2)
    produce(bootstrap, name, 10, partition=0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    tp0, tp1 = TopicPartition(name, 0), TopicPartition(name, 1)
    consumer.assign([tp0, tp1])
    consumer.pause(tp0)
    assert consumer.paused() == {tp0}
    assert consumer.poll(timeout_ms=500) == {}
    consumer.resume(tp0)
    assert consumer.paused() == set()
    assert len(poll_until(consumer, 10)[tp0]) == 10
    assert name in consumer.topics()
    assert consumer.partitions_for_topic(name) == {0, 1}
    assert consumer.partitions_for_topic("py-no-such-topic-%s" % name) is None
    metrics = consumer.metrics()
    assert metrics["consumer-fetch-manager-metrics"]["records-consumed-total"] >= 10
    # No group: kafka-python's coordinator names are there, nothing counted.
    assert metrics["consumer-coordinator-metrics"]["heartbeat-total"] == 0
    assert "heartbeat-rate" not in metrics["consumer-fetch-manager-metrics"]
    consumer.close()


def test_deserializers_and_headers(bootstrap, topic):
    class Json(Deserializer):
        def deserialize(self, topic_name, headers, data):
            assert headers == [("source", b"test")]
            return json.loads(data)

    producer = KafkaProducer(bootstrap_servers=bootstrap, value_serializer=lambda v: json.dumps(v).encode())
    producer.send(topic, {"n": 1}, key=b"a", headers=[("source", b"test")]).get(30)
    producer.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, key_deserializer=bytes.decode, value_deserializer=Json())
    record = next(consumer)
    assert (record.key, record.value, record.headers) == ("a", {"n": 1}, [("source", b"test")])
    assert record.serialized_header_size == len("source") + len(b"test")
    consumer.close()


def test_rebalance_listener_sees_assignments_and_can_seek(bootstrap, topic, group):
    produce(bootstrap, topic, 12)
    events = []

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            events.append(("revoked", set(revoked)))

        def on_partitions_assigned(self, assigned):
            events.append(("assigned", set(assigned)))
            for tp in assigned:
                consumer.seek(tp, 2)
                assert consumer.position(tp) == 2

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    consumer.subscribe([topic], listener=Listener())
    found = poll_until(consumer, 12 - 3 * 2)
    assert ("assigned", {TopicPartition(topic, p) for p in range(3)}) in events
    assert all(records[0].offset == 2 for records in found.values())
    consumer.close()
    assert events[-1][0] == "revoked"


def test_subscribe_pattern(bootstrap, new_topic, group):
    name = new_topic(partitions=1)
    produce(bootstrap, name, 3)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    consumer.subscribe(pattern=name.replace("-", "."))
    assert sum(len(v) for v in poll_until(consumer, 3).values()) == 3
    assert consumer.subscription() == {name}
    consumer.unsubscribe()
    assert consumer.subscription() is None
    consumer.close()


def test_errors_as_kafka_python_raises_them(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    tp = TopicPartition(topic, 0)
    with pytest.raises(errors.IllegalStateError):
        consumer.commit()
    with pytest.raises(errors.IllegalStateError):
        consumer.commit(offsets={tp: OffsetAndMetadata(1, None)})
    with pytest.raises(errors.IllegalStateError):
        consumer.committed(tp)
    with pytest.raises(errors.IllegalStateError):
        consumer.position(tp)
    with pytest.raises(errors.IllegalStateError):
        consumer.subscribe([topic], pattern="x")
    consumer.assign([tp])
    with pytest.raises(errors.IllegalStateError):
        consumer.subscribe([topic])
    consumer.close()
    consumer.close()
    with pytest.raises(errors.IllegalStateError):
        consumer.poll()


def test_bad_consumer_arguments_name_the_argument(bootstrap, topic, group):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    tp = TopicPartition(topic, 0)
    with pytest.raises(TypeError, match="partitions"):
        consumer.assign(topic)
    with pytest.raises(TypeError, match="partitions"):
        consumer.assign([(topic, "0")])
    with pytest.raises(ValueError, match="partition"):
        consumer.assign([TopicPartition(topic, -1)])
    consumer.assign([tp])
    with pytest.raises(TypeError, match="offset"):
        consumer.seek(tp, "5")
    with pytest.raises(ValueError, match="offset"):
        consumer.seek(tp, -5)
    with pytest.raises(TypeError, match="timeout_ms"):
        consumer.poll(timeout_ms="1000")
    with pytest.raises(ValueError, match="timeout_ms"):
        consumer.poll(timeout_ms=-1)
    with pytest.raises(ValueError, match="max_records"):
        consumer.poll(max_records=0)
    with pytest.raises(TypeError, match="offsets"):
        consumer.commit(offsets=[(tp, 5)])
    with pytest.raises(TypeError, match="offsets"):
        consumer.commit(offsets={tp: "5"})
    with pytest.raises(TypeError, match="TopicPartition"):
        consumer.committed((topic, 0, 1))
    with pytest.raises(TypeError, match="listener"):
        consumer.unsubscribe() or consumer.subscribe([topic], listener=object())
    with pytest.raises(TypeError, match="topics"):
        consumer.subscribe([b"bytes-topic"])
    with pytest.raises(TypeError, match="timestamps"):
        consumer.offsets_for_times([tp])
    with pytest.raises(ValueError, match="target time"):
        consumer.offsets_for_times({tp: -7})
    consumer.close()


def test_commit_async_calls_back(bootstrap, topic, group):
    produce(bootstrap, topic, 3, partition=0)
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest")
    consumer.assign([tp])
    poll_until(consumer, 3)
    calls = []
    future = consumer.commit_async(callback=lambda offsets, response: calls.append((offsets, response)))
    assert future.succeeded()
    assert calls == [({tp: OffsetAndMetadata(3, "", -1)}, None)]
    assert consumer.committed(tp, metadata=True).offset == 3
    consumer.close()


def test_iteration_hands_out_held_records_as_namedtuples_in_order(bootstrap, topic, group):
    # Iteration keeps a poll's records as Rust records and makes each
    # ConsumerRecord when handed out: position, poll, seek and commit must
    # still see the held ones as not handed out, and the records must be the
    # namedtuples kafka-python gives.
    import pickle

    produce(bootstrap, topic, 10, partition=0)
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             consumer_timeout_ms=5000, enable_auto_commit=False)
    consumer.assign([tp])
    it = iter(consumer)
    first = next(it)
    assert first.offset == 0 and first.value == b"value-0" and first.key == b"key-0"
    assert consumer.position(tp) == 1
    consumer.commit()
    assert consumer.committed(tp) == 1
    second = next(it)
    assert isinstance(second, tuple) and isinstance(second, ConsumerRecord)
    topic_name, partition, leader_epoch, offset = second[:4]
    assert (topic_name, partition, offset) == (topic, 0, 1) and second[7] == b"value-1"
    assert second == ConsumerRecord(*second) and pickle.loads(pickle.dumps(second)) == second
    assert second._asdict()["offset"] == 1 and second.headers == [] and second.topic is first.topic
    held = consumer.poll(timeout_ms=1000, max_records=3)
    assert [r.offset for r in held[tp]] == [2, 3, 4]
    assert next(it).offset == 5
    consumer.seek(tp, 8)
    assert consumer.position(tp) == 8
    assert [r.offset for r in it] == [8, 9]
    consumer.close()
