"""kafka-python programs unchanged: install_as_kafka(), python -m ferrokafka,
and records read across ferrokafka and kafka-python itself."""

import os
import subprocess
import sys
import textwrap

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
