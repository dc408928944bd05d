"""Fixtures for the ferrokafka package's tests, which run against a real
broker: ``KAFKA_BOOTSTRAP_SERVERS`` (``cargo xtask test`` sets it; by hand,
``cargo xtask broker start`` prints the address)."""

import os
import uuid

import pytest

from ferrokafka import KafkaAdminClient
from ferrokafka.admin import NewTopic


@pytest.fixture(scope="session")
def bootstrap():
    servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        pytest.fail("KAFKA_BOOTSTRAP_SERVERS is not set: start a broker with "
                    "`cargo xtask broker start` and export its bootstrap_servers")
    return servers


@pytest.fixture(scope="session")
def admin(bootstrap):
    client = KafkaAdminClient(bootstrap_servers=bootstrap)
    yield client
    client.close()


@pytest.fixture
def new_topic(admin, request):
    """``new_topic(partitions=3)``: a topic made for this test."""

    def make(partitions=3, **configs):
        name = "py-%s-%s" % (request.node.name[:40].replace("[", "-").replace("]", ""), uuid.uuid4().hex[:8])
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        return name

    return make


@pytest.fixture
def topic(new_topic):
    return new_topic()


@pytest.fixture
def group():
    return "py-group-%s" % uuid.uuid4().hex[:10]
