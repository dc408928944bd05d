"""Configuration keys: kafka-python's names, type and value checks naming
the key, ignored keys warned about once, unknown keys refused."""

import logging
import threading
import warnings

import pytest

from ferrokafka import KafkaAdminClient, KafkaConsumer, KafkaProducer


def test_unknown_keys_are_value_errors_naming_them(bootstrap):
    with pytest.raises(ValueError, match="lingr_ms"):
        KafkaProducer(bootstrap_servers=bootstrap, lingr_ms=5)
    with pytest.raises(ValueError, match="group"):
        KafkaConsumer(bootstrap_servers=bootstrap, group="g")
    with pytest.raises(ValueError, match="acks"):
        KafkaAdminClient(bootstrap_servers=bootstrap, acks=1)


@pytest.mark.parametrize(
    "key, value",
    [
        ("linger_ms", "5"),
        ("batch_size", 1.5),
        ("acks", 1.0),
        ("enable_idempotence", "yes"),
        ("retries", "3"),
        ("bootstrap_servers", 9092),
        ("client_id", 7),
        ("value_serializer", "json"),
        ("compression_type", 1),
        ("max_block_ms", None),
        ("request_timeout_ms", True),
    ],
)
def test_producer_wrong_types_are_type_errors_naming_the_key(bootstrap, key, value):
    configs = {"bootstrap_servers": bootstrap, key: value}
    with pytest.raises(TypeError, match=key):
        KafkaProducer(**configs)


@pytest.mark.parametrize(
    "key, value",
    [
        ("linger_ms", -1),
        ("acks", 2),
        ("compression_type", "brotli"),
        ("retries", -1),
        ("max_in_flight_requests_per_connection", 0),
        ("bootstrap_servers", "host:notaport"),
        ("bootstrap_servers", ""),
        ("security_protocol", "TLS"),
        ("sasl_mechanism", "GSSAPI"),
        ("partitioner", "random"),
        ("linger_ms", float("nan")),
    ],
)
def test_producer_bad_values_are_value_errors_naming_the_key(bootstrap, key, value):
    configs = {"bootstrap_servers": bootstrap, key: value}
    with pytest.raises(ValueError, match=key):
        KafkaProducer(**configs)


def test_conflicting_settings_name_the_key(bootstrap):
    with pytest.raises(ValueError, match="acks"):
        KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks=1)


@pytest.mark.parametrize(
    "key, value, error",
    [
        ("auto_offset_reset", "soon", ValueError),
        ("auto_offset_reset", 0, TypeError),
        ("max_poll_records", 0, ValueError),
        ("max_poll_records", "500", TypeError),
        ("enable_auto_commit", 1, TypeError),
        ("isolation_level", "serializable", ValueError),
        ("value_deserializer", 42, TypeError),
        ("consumer_timeout_ms", "1000", TypeError),
        ("partition_assignment_strategy", [42], TypeError),
        ("partition_assignment_strategy", ["alphabetical"], ValueError),
        ("session_timeout_ms", -3, ValueError),
        ("group_id", 12, TypeError),
    ],
)
def test_consumer_bad_settings_name_the_key(bootstrap, key, value, error):
    configs = {"bootstrap_servers": bootstrap, key: value}
    with pytest.raises(error, match=key):
        KafkaConsumer(**configs)


def test_ignored_keys_are_accepted_with_one_warning(bootstrap):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = KafkaProducer(bootstrap_servers=bootstrap, api_version=(0, 10, 1), socket_options=[])
        second = KafkaProducer(bootstrap_servers=bootstrap, api_version=(2, 0))
    messages = [str(w.message) for w in caught]
    assert sum("api_version" in m for m in messages) == 1
    assert sum("socket_options" in m for m in messages) == 1
    first.close()
    second.close()


def test_kafka_python_spellings_of_values(bootstrap, group):
    # A list of servers, acks='all', retries=inf, compression None,
    # the old auto_offset_reset names, assignor classes with a name.
    class RangePartitionAssignor:
        name = "range"

    producer = KafkaProducer(bootstrap_servers=[bootstrap], acks="all", retries=float("inf"),
                             compression_type=None, batch_size=0, client_id=None)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), group_id=group, auto_offset_reset="smallest",
                             partition_assignment_strategy=(RangePartitionAssignor, "roundrobin"),
                             consumer_timeout_ms=float("inf"))
    consumer.close()


def test_unreachable_bootstrap_is_a_kafka_error_logged_on_kafka_loggers():
    from ferrokafka import errors

    logged = threading.Event()
    records = []

    class Catch(logging.Handler):
        def emit(self, record):
            records.append(record)
            logged.set()

    handler = Catch(level=logging.WARNING)
    logger = logging.getLogger("kafka")
    logger.addHandler(handler)
    try:
        with pytest.raises(errors.KafkaError):
            KafkaProducer(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1000, default_api_timeout_ms=1000,
                          max_block_ms=1000)
        assert logged.wait(10)
    finally:
        logger.removeHandler(handler)
    assert records[0].name.startswith("kafka.") and records[0].levelno >= logging.WARNING
