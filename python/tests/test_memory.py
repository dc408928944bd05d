"""Sends in a loop keep the process's memory flat: nothing a send makes
(the future, its slot for the outcome, callbacks, the topic's reference)
outlives the record.

``FERROKAFKA_MEMORY_SENDS`` sets how many records (default 600,000, what
``cargo xtask test`` runs; the issue's ten million: ``FERROKAFKA_MEMORY_SENDS
=10000000 pytest python/tests/test_memory.py``). The records go to the
real broker in rounds, each ending with ``flush``; the resident set size
after the second round is the baseline, and it must not grow by more than
``BOUND_MIB`` up to the last: a leak of 100 bytes a record over the
500,000 records after the baseline already exceeds it.
"""

import gc
import os
import resource
import sys

import pytest

from ferrokafka import KafkaProducer

BOUND_MIB = 32
ROUNDS = 12


def rss_bytes():
    """The process's resident set size now (Linux: /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_sends_in_a_loop_keep_memory_flat(bootstrap, new_topic):
    sends = int(os.environ.get("FERROKAFKA_MEMORY_SENDS", "600000"))
    per_round = max(sends // ROUNDS, 1)
    topic = new_topic(partitions=3)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, batch_size=65536,
                             value_serializer=lambda m: str(m).encode())
    delivered = []
    failed = []
    samples = []
    objects = []
    sent = 0
    for round_ in range(ROUNDS):
        for i in range(per_round):
            future = producer.send(topic, sent + i)
            if i % 10000 == 0:
                # Some records with callbacks, as the seeds' programs have.
                future.add_callback(lambda metadata: delivered.append(metadata.offset >= 0))
                future.add_errback(failed.append)
        sent += per_round
        producer.flush()
        future.get(timeout=30)
        del future
        gc.collect()
        samples.append(rss_bytes())
        objects.append(len(gc.get_objects()))
        # The callbacks' own results are kept: drop them as a program would.
        assert not failed, failed[:1]
        assert all(delivered)
        delivered.clear()
    producer.close()

    baseline = samples[1]
    growth = max(samples[2:]) - baseline
    steps = ", ".join("%.1f" % (s / 2**20) for s in samples)
    print("%d sends in %d rounds: RSS MiB after each round: %s" % (sent, ROUNDS, steps))
    assert growth < BOUND_MIB * 2**20, (
        "RSS grew by %.1f MiB over %d sends after the second round (rounds: %s MiB)"
        % (growth / 2**20, sent - 2 * per_round, steps))
    # Python objects do not pile up either (a few hundred come and go).
    assert max(objects[2:]) - objects[1] < 5000, objects
