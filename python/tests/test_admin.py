"""KafkaAdminClient basics against a real broker."""

import time
import uuid

import pytest

from ferrokafka import KafkaAdminClient, errors
from ferrokafka.admin import NewPartitions, NewTopic


def test_create_describe_grow_and_delete_topics(bootstrap):
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    name = "py-admin-%s" % uuid.uuid4().hex[:8]
    result = admin.create_topics([NewTopic(name, 2, 1, topic_configs={"retention.ms": "3600000"})])
    assert result["topics"] == [{"name": name, "error_code": 0, "error_message": None,
                                 "num_partitions": 2, "replication_factor": 1}]
    assert name in admin.list_topics()
    [description] = admin.describe_topics([name])
    assert description["name"] == name and not description["is_internal"]
    assert [p["partition_index"] for p in description["partitions"]] == [0, 1]
    assert all(p["leader_id"] >= 0 for p in description["partitions"])

    with pytest.raises(errors.TopicAlreadyExistsError):
        admin.create_topics([NewTopic(name, 2, 1)])
    again = admin.create_topics([NewTopic(name, 2, 1)], raise_errors=False)
    assert again["topics"][0]["error_code"] == errors.TopicAlreadyExistsError.errno

    assert admin.create_partitions({name: NewPartitions(4)})["results"][0]["error_code"] == 0
    # The brokers learn of the new partitions from the metadata log: ask until they show.
    deadline = time.monotonic() + 15
    while len(admin.describe_topics([name])[0]["partitions"]) != 4 and time.monotonic() < deadline:
        pass
    assert len(admin.describe_topics([name])[0]["partitions"]) == 4
    with pytest.raises(errors.InvalidPartitionsError):
        admin.create_partitions({name: 2})

    assert admin.delete_topics([name])["responses"] == [{"name": name, "error_code": 0, "error_message": None}]
    with pytest.raises(errors.UnknownTopicOrPartitionError):
        admin.delete_topics([name], timeout_ms=5000)
    admin.close()
    with pytest.raises(errors.IllegalStateError):
        admin.list_topics()


def test_describe_cluster(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        cluster = admin.describe_cluster()
    assert cluster["cluster_id"]
    assert cluster["brokers"] and all(b["port"] > 0 for b in cluster["brokers"])
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    assert int(port) in {b["port"] for b in cluster["brokers"]}


def test_bad_admin_arguments(bootstrap):
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        with pytest.raises(TypeError, match="num_partitions"):
            NewTopic("t", "3", 1)
        with pytest.raises(ValueError, match="replication_factor"):
            NewTopic("t", 3, 0)
        with pytest.raises(TypeError, match="new_topics"):
            admin.create_topics([42])
        with pytest.raises(TypeError, match="topic_partitions"):
            admin.create_partitions(["t"])
        with pytest.raises(ValueError, match="timeout_ms"):
            admin.delete_topics(["t"], timeout_ms=-1)


def test_groups_list_offsets_and_delete(bootstrap, topic, group):
    from ferrokafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, b"v", partition=0).get(30)
    producer.close()
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    consumer.assign([tp])
    consumer.commit(offsets={tp: OffsetAndMetadata(1, "note")})
    consumer.close()
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        listed = admin.list_groups()
        assert group in {g["group_id"] for g in listed}
        assert (group, "consumer") in admin.list_consumer_groups() or group in dict(admin.list_consumer_groups())
        offsets = admin.list_group_offsets({group: None})
        assert offsets == {group: {tp: OffsetAndMetadata(1, "note", -1)}}
        assert admin.list_consumer_group_offsets(group, partitions=[tp]) == {tp: OffsetAndMetadata(1, "note", -1)}
        assert admin.delete_groups([group]) == [(group, errors.NoError)]
        [(name, error)] = admin.delete_consumer_groups(group)
        assert name == group and issubclass(error, errors.GroupIdNotFoundError)
        with pytest.raises(TypeError, match="group_ids"):
            admin.delete_groups([1])


def describe_until(admin, topic, shows, seconds=15):
    """``describe_configs`` of ``topic`` until ``shows(its configs)``."""
    from ferrokafka.admin import ConfigResource

    deadline = time.monotonic() + seconds
    while True:
        described = admin.describe_configs([ConfigResource("topic", topic)])
        if shows(described["topic"][topic]) or time.monotonic() > deadline:
            assert shows(described["topic"][topic]), described
            return described


def test_describe_and_alter_configs(bootstrap, topic):
    from ferrokafka.admin import ConfigResource, ConfigResourceType

    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": "7200000"})
        assert admin.alter_configs([resource]) == {"topic": {topic: errors.NoError}}
        # The broker applies the change from the metadata log: ask until it shows.
        described = describe_until(admin, topic, lambda configs: "retention.ms" in configs)
        entry = described["topic"][topic]["retention.ms"]
        assert entry["value"] == "7200000" and entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert "segment.bytes" not in described["topic"][topic]  # at its default
        everything = admin.describe_configs([ConfigResource("topic", topic, ["segment.bytes"])], config_filter="all")
        assert list(everything["topic"][topic]) == ["segment.bytes"]
        admin.alter_configs([ConfigResource("topic", topic, {"retention.ms": None})])
        describe_until(admin, topic, lambda configs: "retention.ms" not in configs)
        broker = admin.describe_cluster()["brokers"][0]
        brokers = admin.describe_configs([ConfigResource("broker", broker["broker_id"])], config_filter="all")
        assert "log.retention.hours" in brokers["broker"][str(broker["broker_id"])]
        with pytest.raises(TypeError, match="config_resources"):
            admin.describe_configs(["topic"])
        with pytest.raises(ValueError, match="config_filter"):
            admin.describe_configs([resource], config_filter="some")
        failed = admin.alter_configs([ConfigResource("topic", topic, {"no.such.config": "1"})])
        assert failed["topic"][topic] is errors.InvalidConfigurationError


def test_delete_records(bootstrap, topic):
    from ferrokafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(10):
        producer.send(topic, b"%d" % i, partition=0)
    producer.close()
    tp = TopicPartition(topic, 0)
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        assert admin.delete_records({tp: 4}) == {tp: {"partition_index": 0, "low_watermark": 4, "error_code": 0}}
        with pytest.raises(TypeError, match="records_to_delete"):
            admin.delete_records({tp: "4"})
        with pytest.raises(errors.OffsetOutOfRangeError):
            admin.delete_records({tp: 99})
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    assert consumer.beginning_offsets([tp]) == {tp: 4}
    consumer.close()


def test_describe_groups_and_alter_group_offsets(bootstrap, topic, group):
    from ferrokafka import KafkaConsumer, OffsetAndMetadata, TopicPartition

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, client_id="describer")
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200)
    with KafkaAdminClient(bootstrap_servers=bootstrap) as admin:
        description = admin.describe_groups([group])[group]
        assert description["group_state"] == "Stable"
        [member] = description["members"]
        assert member["client_id"] == "describer"
        assert set(member["assignment"]) == {TopicPartition(topic, p) for p in range(3)}
        assert admin.describe_consumer_groups(group)[0]["group_id"] == group
        consumer.close()
        tp = TopicPartition(topic, 1)
        assert admin.alter_group_offsets(group, {tp: OffsetAndMetadata(0, "reset")}) == {tp: errors.NoError}
        assert admin.list_consumer_group_offsets(group, partitions=[tp]) == {tp: OffsetAndMetadata(0, "reset", -1)}
