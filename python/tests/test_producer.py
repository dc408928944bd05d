"""KafkaProducer against a real broker."""

import ctypes
import gc
import json
import logging
import threading
import time

import pytest

from ferrokafka import KafkaConsumer, KafkaProducer, Serializer, TopicPartition, errors
from ferrokafka.producer.future import FutureRecordMetadata, RecordMetadata


def read_all(bootstrap, topic, count, **configs):
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000, **configs)
    records = []
    for record in consumer:
        records.append(record)
        if len(records) == count:
            break
    consumer.close()
    return records


def test_send_get_returns_record_metadata(bootstrap, topic):
    # A minute ago: a record older than the topic's retention (7 days by
    # default) can be deleted by the broker's next retention check.
    stamp = int(time.time() * 1000) - 60_000
    with KafkaProducer(bootstrap_servers=bootstrap) as producer:
        future = producer.send(topic, b"hello", key=b"k", headers=[("h", b"v")], partition=1,
                               timestamp_ms=stamp)
        assert isinstance(future, FutureRecordMetadata)
        metadata = future.get(timeout=30)
    assert isinstance(metadata, RecordMetadata)
    assert (metadata.topic, metadata.partition, metadata.offset) == (topic, 1, 0)
    assert metadata.topic_partition == TopicPartition(topic, 1)
    assert metadata.timestamp == stamp
    assert metadata.serialized_key_size == 1
    assert metadata.serialized_value_size == 5
    assert metadata.serialized_header_size == 2
    assert future.is_done and future.succeeded() and not future.failed()
    assert future.value == metadata and future.exception is None
    [record] = read_all(bootstrap, topic, 1)
    assert (record.key, record.value, record.headers, record.timestamp) == (
        b"k", b"hello", [("h", b"v")], stamp)


def test_seed_callbacks_with_json_serializer_and_close_right_after_send(bootstrap, topic):
    """The tutorials' producer: a JSON value_serializer, add_callback and
    add_errback chained on send, close() straight after: the callback has
    run when close returns."""
    delivered, failed = [], []
    producer = KafkaProducer(bootstrap_servers=bootstrap,
                             value_serializer=lambda m: json.dumps(m).encode("utf-8"))
    producer.send(topic, value={"test_msg": "hello world"}).add_callback(delivered.append).add_errback(failed.append)
    producer.close()
    assert failed == []
    assert [(m.topic, m.offset) for m in delivered] == [(topic, 0)]
    [record] = read_all(bootstrap, topic, 1)
    assert json.loads(record.value) == {"test_msg": "hello world"}


def test_callbacks_run_in_partition_order_before_flush_returns(bootstrap, topic):
    seen = []
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    for i in range(500):
        producer.send(topic, b"%d" % i, partition=0).add_callback(lambda m, i=i: seen.append((i, m.offset)))
    producer.flush()
    assert [i for i, _ in seen] == list(range(500))
    assert [offset for _, offset in seen] == list(range(500))
    producer.close()


def test_callback_extra_arguments_add_both_and_done_futures(bootstrap, topic):
    calls = []
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    future = producer.send(topic, b"x")
    # As kafka-python: the extra arguments come first, the outcome last.
    future.add_both(lambda tag, value, n=0: calls.append((tag, n, value.offset)), "both", n=7)
    metadata = future.get(30)
    # Added after completion: runs at once in this thread, or, while the
    # earlier callback still waits for the callback thread, after it there.
    future.add_callback(lambda value: calls.append(("late", value.offset)))
    future.add_errback(lambda error: calls.append(("never", error)))
    producer.close()
    assert calls == [("both", 7, metadata.offset), ("late", metadata.offset)]


def test_a_callback_added_to_a_done_future_runs_after_earlier_records_callbacks(bootstrap, topic):
    # The first record's callback holds the callback thread until the last
    # record is delivered; a callback added to the done last record then
    # must not overtake it.
    release = threading.Event()
    order = []
    # One batch, lingering long enough that both callbacks are added first.
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=100)
    first = producer.send(topic, b"first", partition=0)
    first.add_callback(lambda m: (release.wait(30), order.append("first")))
    last = producer.send(topic, b"last", partition=0)
    last.get(30)
    last.add_callback(lambda m: order.append("last"))
    release.set()
    producer.flush()
    assert order == ["first", "last"]
    producer.close()


def test_a_raising_callback_is_logged_and_spoils_nothing(bootstrap, topic, caplog):
    calls = []

    def bad(metadata):
        raise RuntimeError("boom")

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    with caplog.at_level(logging.ERROR, logger="kafka.future"):
        producer.send(topic, b"a").add_callback(bad).add_callback(lambda m: calls.append(m.offset))
        producer.send(topic, b"b", partition=0).add_callback(lambda m: calls.append(m.offset))
        producer.flush()
    producer.close()
    assert len(calls) == 2
    assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_serializer_objects_and_key_partitioning(bootstrap, topic):
    class Upper(Serializer):
        def serialize(self, topic_name, headers, data):
            assert topic_name == topic and headers == []
            return data.upper().encode()

    producer = KafkaProducer(bootstrap_servers=bootstrap, key_serializer=str.encode, value_serializer=Upper())
    partitions = {producer.send(topic, "v%d" % i, key="same-key").get(30).partition for i in range(20)}
    assert len(partitions) == 1
    producer.close()
    records = read_all(bootstrap, topic, 20)
    assert {r.key for r in records} == {b"same-key"}
    assert records[0].value.startswith(b"V")


def test_a_serializer_that_raises_fails_that_send_alone(bootstrap, topic):
    def serializer(value):
        if value == "bad":
            raise ValueError("cannot serialize")
        return value.encode()

    producer = KafkaProducer(bootstrap_servers=bootstrap, value_serializer=serializer)
    good = producer.send(topic, "ok-1", partition=0)
    with pytest.raises(ValueError, match="cannot serialize"):
        producer.send(topic, "bad", partition=0)
    also_good = producer.send(topic, "ok-2", partition=0)
    assert good.get(30).offset == 0
    assert also_good.get(30).offset == 1
    producer.close()


def test_flush_close_twice_and_send_after_close(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=60000)
    futures = [producer.send(topic, b"%d" % i) for i in range(10)]
    assert not any(f.is_done for f in futures)
    producer.flush(timeout=30)
    assert all(f.succeeded() for f in futures)
    producer.close()
    producer.close()
    with pytest.raises(errors.IllegalStateError):
        producer.send(topic, b"late")


def test_bad_send_arguments_name_the_argument(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    with pytest.raises(TypeError, match="topic"):
        producer.send(b"topic", b"v")
    with pytest.raises(ValueError, match="key or value"):
        producer.send(topic)
    with pytest.raises(TypeError, match="value"):
        producer.send(topic, "a str without a serializer")
    with pytest.raises(TypeError, match="key"):
        producer.send(topic, b"v", key=42)
    with pytest.raises(TypeError, match="headers"):
        producer.send(topic, b"v", headers=[("h", "not bytes")])
    with pytest.raises(TypeError, match="headers"):
        producer.send(topic, b"v", headers={"h": b"v"})
    with pytest.raises(TypeError, match="partition"):
        producer.send(topic, b"v", partition="0")
    with pytest.raises(ValueError, match="partition"):
        producer.send(topic, b"v", partition=-1)
    with pytest.raises(ValueError, match="partition"):
        producer.send(topic, b"v", partition=99)
    with pytest.raises(TypeError, match="timestamp_ms"):
        producer.send(topic, b"v", timestamp_ms="now")
    with pytest.raises(ValueError, match="timestamp_ms"):
        producer.send(topic, b"v", timestamp_ms=-5)
    with pytest.raises(TypeError, match="callback"):
        producer.send(topic, b"v").add_callback("not callable")
    with pytest.raises(ValueError, match="timeout"):
        producer.flush(timeout=-1)
    # bytearray and memoryview are bytes enough.
    assert producer.send(topic, bytearray(b"ba"), key=memoryview(b"mv")).get(30).serialized_key_size == 2
    producer.close()


def test_a_record_larger_than_max_request_size(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=1000)
    with pytest.raises(errors.MessageSizeTooLargeError):
        producer.send(topic, b"x" * 5000)
    producer.close()


def test_get_timeout_raises_kafka_timeout_error(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=60000)
    future = producer.send(topic, b"waiting")
    with pytest.raises(errors.KafkaTimeoutError):
        future.get(timeout=0.2)
    producer.flush()
    assert future.get(0).offset == 0
    producer.close()


def test_partitions_for_and_metrics(bootstrap, new_topic):
    name = new_topic(partitions=4)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    assert producer.partitions_for(name) == {0, 1, 2, 3}
    producer.send(name, b"m").get(30)
    metrics = producer.metrics()
    assert metrics["producer-metrics"]["record-send-total"] >= 1
    assert "producer-topic-metrics.%s" % name in metrics
    producer.close()


def test_transactions_commit_and_abort(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id="py-txn-%s" % topic)
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, b"aborted", partition=0)
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, b"committed", partition=0)
    producer.commit_transaction()
    producer.close()
    records = read_all(bootstrap, topic, 1, isolation_level="read_committed")
    assert [r.value for r in records] == [b"committed"]


def test_transaction_calls_without_transactional_id_are_illegal_state(bootstrap):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    with pytest.raises(errors.IllegalStateError):
        producer.begin_transaction()
    producer.close()


def _rss_kb():
    # Freed memory the allocator keeps in its arenas is not a leak; how much
    # it keeps depends on the peak in flight, which a loaded machine varies.
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_sending_keeps_memory_flat(bootstrap, topic):
    """Nothing per record outlives its delivery: rounds of sends after the
    first ones leave the process's memory where it was."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    value = b"x" * 100
    sizes = []
    for _ in range(5):
        for i in range(40000):
            producer.send(topic, value, key=b"%d" % (i % 100))
        producer.flush()
        sizes.append(_rss_kb())
    producer.close()
    # A leak of even 50 bytes a record would add 6 MB over the last three rounds.
    assert sizes[-1] - sizes[1] < 4 * 1024, sizes


def test_a_serializer_may_add_headers(bootstrap, topic):
    class Tagged(Serializer):
        def serialize(self, topic_name, headers, data):
            headers.append(("schema", b"v1"))
            return json.dumps(data).encode()

    producer = KafkaProducer(bootstrap_servers=bootstrap, value_serializer=Tagged())
    assert producer.send(topic, {"a": 1}).get(30).serialized_header_size == len("schema") + 2
    producer.send(topic, {"b": 2}, headers=[("h", b"x")]).get(30)
    producer.close()
    records = read_all(bootstrap, topic, 2)
    assert sorted(r.headers for r in records) == sorted([[("schema", b"v1")], [("h", b"x"), ("schema", b"v1")]])
