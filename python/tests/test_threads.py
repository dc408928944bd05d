"""Blocking calls release the GIL; a signal interrupts a blocked call."""

import os
import signal
import threading
import time

import pytest

from ferrokafka import KafkaConsumer, KafkaProducer, TopicPartition


def test_a_blocked_poll_lets_other_threads_run(bootstrap, topic):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    consumer.assign([TopicPartition(topic, 0)])
    counted = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counted[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.05)
    before = counted[0]
    started = time.monotonic()
    consumer.poll(timeout_ms=1500)
    waited = time.monotonic() - started
    during = counted[0] - before
    stop.set()
    counter.join()
    consumer.close()
    assert waited >= 1.4
    # With the GIL held for 1.5 s the counter would barely move.
    assert during > 100_000


def test_threads_poll_in_parallel(bootstrap, new_topic):
    name = new_topic(partitions=3)
    done = []

    def run(partition):
        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
        consumer.assign([TopicPartition(name, partition)])
        consumer.poll(timeout_ms=1500)
        consumer.close()
        done.append(partition)

    threads = [threading.Thread(target=run, args=(p,)) for p in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(done) == [0, 1, 2]
    # One after another would take 4.5 s.
    assert time.monotonic() - started < 4.0


@pytest.fixture
def ctrl_c():
    """Python's own SIGINT handler, whatever the runner inherited: a shell
    without job control starts background commands with SIGINT ignored, and
    Python then never turns Ctrl-C into KeyboardInterrupt."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_interrupts_a_blocked_poll(bootstrap, topic, ctrl_c):
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.poll(timeout_ms=0)
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        consumer.poll(timeout_ms=20000)
    assert time.monotonic() - started < 3
    consumer.close()


def test_ctrl_c_interrupts_a_blocked_get(bootstrap, topic, ctrl_c):
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=60000)
    future = producer.send(topic, b"held back by linger_ms")
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        future.get()
    assert time.monotonic() - started < 3
    producer.flush()
    assert future.succeeded()
    producer.close()


def _send_in_child(bootstrap, topic, queue):
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    metadata = producer.send(topic, b"from the child", partition=0).get(30)
    producer.close()
    queue.put(metadata.offset)


def test_a_forked_child_makes_clients_of_its_own(bootstrap, topic):
    import multiprocessing

    parent = KafkaProducer(bootstrap_servers=bootstrap)
    assert parent.send(topic, b"from the parent", partition=0).get(30).offset == 0
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_send_in_child, args=(bootstrap, topic, queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) == 1
    parent.close()
