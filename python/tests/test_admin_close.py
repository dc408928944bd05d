"""KafkaAdminClient.close() and client_instance_id(): after close every call
raises IllegalStateError, in the Python layer and in the Rust client under
it, and closing again is fine."""

import time
import uuid

import pytest

from ferrokafka import KafkaAdminClient, errors


def test_calls_after_close_raise_illegal_state_and_close_is_idempotent(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    assert admin.list_topics() is not None
    core = admin._core
    assert not core.closed()
    admin.close()
    assert core.closed()
    for call in (admin.list_topics, admin.describe_cluster, lambda: admin.client_instance_id(100)):
        with pytest.raises(errors.IllegalStateError):
            call()
    # The Rust client refuses too, so nothing reaches the broker through a
    # reference kept to it.
    with pytest.raises(errors.IllegalStateError, match="closed"):
        core.list_topics()
    admin.close()
    admin.close(timeout_ms=0)


def test_close_checks_its_timeout(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    with pytest.raises(ValueError, match="timeout_ms"):
        admin.close(timeout_ms=-1)
    with pytest.raises(TypeError, match="timeout_ms"):
        admin.close(timeout_ms="1s")
    # A refused close left the client open.
    assert admin.list_topics() is not None
    admin.close()


def test_client_instance_id_without_metrics_push_is_none_at_once(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap, enable_metrics_push=False) as admin:
        started = time.monotonic()
        assert admin.client_instance_id(5000) is None
        assert time.monotonic() - started < 2


def test_client_instance_id_is_a_uuid_or_none(bootstrap):
    # A broker with a client-telemetry plugin gives an id; one without
    # (the test broker, usually) offers no telemetry and the answer is None.
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        found = admin.client_instance_id(1000)
        assert found is None or (isinstance(found, uuid.UUID) and found.int != 0)


def test_client_instance_id_checks_its_timeout(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap, enable_metrics_push=False) as admin:
        with pytest.raises(TypeError, match="timeout_ms"):
            admin.client_instance_id(None)
        with pytest.raises(TypeError, match="timeout_ms"):
            admin.client_instance_id("5s")
        with pytest.raises(ValueError, match="timeout_ms"):
            admin.client_instance_id(-1)
