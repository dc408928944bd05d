"""kafka-python programs unchanged: install_as_kafka(), python -m ferrokafka,
and records read across ferrokafka and kafka-python itself."""

import os
import subprocess
import sys
import textwrap
import time

import ferrokafka
from ferrokafka import KafkaConsumer, KafkaProducer

# A kafka-python program as the tutorials write it.
PROGRAM = textwrap.dedent("""
    import json, sys
    from kafka import KafkaProducer, KafkaConsumer, TopicPartition, OffsetAndMetadata
    from kafka.errors import KafkaError, KafkaTimeoutError
    from kafka.structs import TopicPartition as TP2
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.serializer import Serializer
    from kafka.producer.future import RecordMetadata
    import kafka

    bootstrap, topic = sys.argv[1], sys.argv[2]
    assert TopicPartition is TP2
    delivered = []
    producer = KafkaProducer(bootstrap_servers=bootstrap,
                             value_serializer=lambda m: json.dumps(m).encode('utf-8'))
    for i in range(5):
        producer.send(topic, value={"n": i}).add_callback(delivered.append)
    producer.close()
    assert len(delivered) == 5 and isinstance(delivered[0], RecordMetadata)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset='earliest',
                             consumer_timeout_ms=10000, value_deserializer=lambda m: json.loads(m))
    seen = []
    for msg in consumer:
        seen.append(msg.value["n"])
        if len(seen) == 5:
            break
    consumer.close()
    print(sorted(seen), kafka.__name__)
""")


def run(args, **kwargs):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, **kwargs)


def test_python_m_ferrokafka_runs_a_kafka_python_program(bootstrap, topic, tmp_path):
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    done = run(["-m", "ferrokafka", str(program), bootstrap, topic])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 2, 3, 4] ferrokafka"


def test_install_as_kafka_registers_the_module_names(bootstrap, topic):
    code = "import ferrokafka; ferrokafka.install_as_kafka()\n" + PROGRAM
    done = run(["-c", code, bootstrap, topic])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1, 2, 3, 4] ferrokafka"


def test_python_m_ferrokafka_without_a_program_says_how():
    done = run(["-m", "ferrokafka"])
    assert done.returncode == 2 and "usage" in done.stderr


# kafka-python itself, in its own process (the real `kafka` package).
KAFKA_PYTHON = textwrap.dedent("""
    import sys
    from kafka import KafkaProducer, KafkaConsumer
    action, bootstrap, topic = sys.argv[1:4]
    if action == "produce":
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for i in range(10):
            producer.send(topic, b"from-kafka-python-%d" % i, key=b"k", headers=[("h", b"v")])
        producer.close()
    else:
        consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                 consumer_timeout_ms=10000)
        seen = []
        for m in consumer:
            seen.append(m.value.decode())
            if len(seen) == 10:
                break
        print(sorted(seen))
""")


def test_kafka_python_reads_what_ferrokafka_wrote(bootstrap, topic):
    producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip")
    for i in range(10):
        producer.send(topic, b"from-ferrokafka-%d" % i)
    producer.close()
    done = run(["-c", KAFKA_PYTHON, "consume", bootstrap, topic])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(sorted("from-ferrokafka-%d" % i for i in range(10)))


def test_ferrokafka_reads_what_kafka_python_wrote(bootstrap, topic):
    done = run(["-c", KAFKA_PYTHON, "produce", bootstrap, topic])
    assert done.returncode == 0, done.stderr
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000)
    records = []
    for record in consumer:
        records.append(record)
        if len(records) == 10:
            break
    consumer.close()
    assert sorted(r.value for r in records) == sorted(b"from-kafka-python-%d" % i for i in range(10))
    assert {(r.key, tuple(r.headers)) for r in records} == {(b"k", (("h", b"v"),))}


def test_the_package_exports_kafka_pythons_names():
    for name in ["KafkaProducer", "KafkaConsumer", "KafkaAdminClient", "TopicPartition", "OffsetAndMetadata",
                 "ConsumerRebalanceListener", "Serializer", "Deserializer", "errors"]:
        assert hasattr(ferrokafka, name), name
    from ferrokafka import errors

    assert errors.for_code(3) is errors.UnknownTopicOrPartitionError
    assert errors.UnknownTopicOrPartitionError.retriable and errors.UnknownTopicOrPartitionError.invalid_metadata
    assert not errors.TopicAlreadyExistsError.retriable
    assert str(errors.KafkaTimeoutError("x")) == "KafkaTimeoutError: x"
    assert issubclass(errors.KafkaError, Exception)
    assert errors.for_code(30000).errno == 30000


KAFKA_PYTHON_MEMBER = textwrap.dedent("""
    import sys, time
    from kafka import KafkaConsumer
    bootstrap, topic, group, per_partition = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    print("joined", flush=True)
    values = []
    deadline = time.monotonic() + 60
    # Reads until it has every record of the partitions it was given.
    while time.monotonic() < deadline and not (consumer.assignment()
                                                and len(values) >= per_partition * len(consumer.assignment())):
        for records in consumer.poll(timeout_ms=500).values():
            values.extend(r.value.decode() for r in records)
        if values:
            consumer.commit()
    assignment = sorted(tp.partition for tp in consumer.assignment())
    print("assigned", assignment, "values", len(values), flush=True)
    consumer.close()
""")


def test_a_group_shared_by_ferrokafka_and_kafka_python_members(bootstrap, new_topic, group):
    """kafka-python and ferrokafka members of one group split the partitions
    and between them read every record once."""
    name = new_topic(partitions=4)
    ours = KafkaConsumer(name, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False)
    ours.poll(timeout_ms=2000)
    theirs = subprocess.Popen([sys.executable, "-c", KAFKA_PYTHON_MEMBER, bootstrap, name, group, "10"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert theirs.stdout.readline().strip() == "joined"
    # Poll until the group gave the other member some partitions (mid
    # rebalance, the eager protocol leaves this member none for a while).
    deadline = time.monotonic() + 60
    while not 0 < len(ours.assignment()) < 4 and time.monotonic() < deadline:
        ours.poll(timeout_ms=500)
    assert 0 < len(ours.assignment()) < 4
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(40):
        producer.send(name, b"%d" % i, partition=i % 4)
    producer.close()
    mine = []
    their_partitions = {0, 1, 2, 3} - {tp.partition for tp in ours.assignment()}
    wanted = 40 - 10 * len(their_partitions)
    deadline = time.monotonic() + 60
    while len(mine) < wanted and time.monotonic() < deadline:
        for records in ours.poll(timeout_ms=500).values():
            mine.extend(records)
    out, err = theirs.communicate(timeout=90)
    assert theirs.returncode == 0, err
    ours.close()
    assert len(mine) == wanted
    assert {r.partition for r in mine}.isdisjoint(their_partitions)
    assert out.splitlines()[-1] == "assigned %s values %d" % (sorted(their_partitions), 10 * len(their_partitions))
