"""kafka-python or librdkafka (through confluent-kafka) as a golden-fixture
writer for `cargo xtask golden records`.

Reads a record plan (JSON, written by the xtask), creates a one-partition
topic, and sends the plan's records with the plan's keys, values, headers and
timestamps, group by group: a group ends with a flush (which closes the
batch), or with a commit or an abort when a transactional id is given. Prints
one JSON line: the client, its version, and the offset and timestamp the
broker acknowledged for every record, in plan order.
"""

import argparse
import base64
import json

WAIT_SECONDS = 60


def decode(value):
    """Base64 text of the plan, or None, to bytes or None."""
    return None if value is None else base64.b64decode(value)


def create_topic(bootstrap, topic, timestamp_type):
    """A one-partition topic; an existing one fails the run, as its segment
    would hold other records."""
    from kafka.admin import KafkaAdminClient, NewTopic

    # The plan's timestamps are years old: without these configs retention
    # would delete the segment, and a marker (stamped now) would roll a new one.
    configs = {
        "retention.ms": "-1",
        "segment.ms": str(10 * 365 * 24 * 3600 * 1000),
        "message.timestamp.type": timestamp_type,
    }
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        admin.create_topics([NewTopic(topic, 1, 1, topic_configs=configs)], timeout_ms=WAIT_SECONDS * 1000)
    finally:
        admin.close()


def write_with_kafka_python(args, plan):
    import kafka
    from kafka import KafkaProducer

    config = {
        "bootstrap_servers": args.bootstrap.split(","),
        "acks": "all",
        "compression_type": None if args.codec == "none" else args.codec,
        # Long enough that a group's records share a batch; the flush at the
        # end of each group sends it without waiting for the linger.
        "linger_ms": 5000,
    }
    if args.transactional_id:
        config["transactional_id"] = args.transactional_id
    producer = KafkaProducer(**config)
    if args.transactional_id:
        producer.init_transactions()
    offsets = []
    timestamps = []
    records = plan["records"]
    start = 0
    for group in plan["groups"]:
        end = start + group["records"]
        if group["end"] != "flush":
            producer.begin_transaction()
        futures = []
        for record in records[start:end]:
            futures.append(
                producer.send(
                    args.topic,
                    key=decode(record["key"]),
                    value=decode(record["value"]),
                    headers=[(h["key"], decode(h["value"])) for h in record["headers"]],
                    partition=0,
                    timestamp_ms=record["timestamp"],
                )
            )
        # Flushed before an abort too, so the aborted records reach the log.
        producer.flush(timeout=WAIT_SECONDS)
        for future in futures:
            metadata = future.get(timeout=WAIT_SECONDS)
            offsets.append(metadata.offset)
            timestamps.append(metadata.timestamp)
        if group["end"] == "commit":
            producer.commit_transaction()
        elif group["end"] == "abort":
            producer.abort_transaction()
        start = end
    producer.close(timeout=WAIT_SECONDS)
    return {
        "client": "kafka-python",
        "client_version": kafka.__version__,
        "offsets": offsets,
        "timestamps": timestamps,
    }


def write_with_librdkafka(args, plan):
    import confluent_kafka

    config = {
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "compression.type": args.codec,
        "linger.ms": 5000,
        "enable.idempotence": True,
    }
    if args.transactional_id:
        config["transactional.id"] = args.transactional_id
    producer = confluent_kafka.Producer(config)
    if args.transactional_id:
        producer.init_transactions(WAIT_SECONDS)
    records = plan["records"]
    offsets = [None] * len(records)
    timestamps = [None] * len(records)
    failures = []

    def delivered(index):
        def report(error, message):
            if error is not None:
                failures.append(f"record {index}: {error}")
            else:
                offsets[index] = message.offset()
                # (type, milliseconds): the append time for a LogAppendTime topic.
                timestamps[index] = message.timestamp()[1]

        return report

    start = 0
    for group in plan["groups"]:
        end = start + group["records"]
        if group["end"] != "flush":
            producer.begin_transaction()
        for index in range(start, end):
            record = records[index]
            producer.produce(
                args.topic,
                key=decode(record["key"]),
                value=decode(record["value"]),
                headers=[(h["key"], decode(h["value"])) for h in record["headers"]],
                partition=0,
                timestamp=record["timestamp"],
                on_delivery=delivered(index),
            )
        # Flushed before an abort too, so the aborted records reach the log
        # (an abort purges what is still unsent).
        unsent = producer.flush(WAIT_SECONDS)
        if unsent or failures:
            raise SystemExit(f"{unsent} records unsent after {WAIT_SECONDS}s; failures: {failures}")
        if group["end"] == "commit":
            producer.commit_transaction(WAIT_SECONDS)
        elif group["end"] == "abort":
            producer.abort_transaction(WAIT_SECONDS)
        start = end
    # libversion() is a (text, number) pair; version() is the text.
    return {
        "client": "librdkafka (confluent-kafka)",
        "client_version": f"librdkafka {confluent_kafka.libversion()[0]}, confluent-kafka {confluent_kafka.version()}",
        "offsets": offsets,
        "timestamps": timestamps,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True, choices=["kafka-python", "librdkafka"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--codec", required=True, choices=["none", "gzip", "snappy", "lz4", "zstd"])
    parser.add_argument("--plan", required=True)
    parser.add_argument("--transactional-id")
    parser.add_argument("--timestamp-type", default="CreateTime", choices=["CreateTime", "LogAppendTime"])
    args = parser.parse_args()
    with open(args.plan, encoding="utf-8") as f:
        plan = json.load(f)
    create_topic(args.bootstrap, args.topic, args.timestamp_type)
    if args.client == "kafka-python":
        result = write_with_kafka_python(args, plan)
    else:
        result = write_with_librdkafka(args, plan)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
