"""Creates a topic, produces records and reads them back with kafka-python.

Used by the integration tests as an independent client: it proves a broker
started by the harness serves real clients. Prints one JSON line with what it
did; exits non-zero when a record does not come back as sent.
"""

import argparse
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--acks", default="all")
    parser.add_argument("--records", type=int, default=1)
    parser.add_argument("--create", action="store_true")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    bootstrap = args.bootstrap.split(",")

    if args.create:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
        try:
            admin.create_topics(
                [NewTopic(args.topic, args.partitions, args.replication_factor)]
            )
        except TopicAlreadyExistsError:
            pass
        admin.close()

    acks = "all" if args.acks == "all" else int(args.acks)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=acks, request_timeout_ms=30000
    )
    sent = []
    for i in range(args.records):
        key = f"key-{args.tag}-{i}".encode()
        value = f"value-{args.tag}-{i}".encode()
        metadata = producer.send(
            args.topic, key=key, value=value, headers=[("h", b"1")]
        ).get(timeout=60)
        sent.append((metadata.partition, metadata.offset, key, value))
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    expected = {(p, o): (k, v) for p, o, k, v in sent}
    partitions = {p for p, _, _, _ in sent}
    consumer.assign([TopicPartition(args.topic, p) for p in partitions])
    for p in partitions:
        first = min(o for q, o, _, _ in sent if q == p)
        consumer.seek(TopicPartition(args.topic, p), first)
    received = {}
    deadline = time.time() + 60
    while len(received) < len(expected) and time.time() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            for r in records:
                if (r.partition, r.offset) in expected and list(r.headers) == [
                    ("h", b"1")
                ]:
                    received[(r.partition, r.offset)] = (r.key, r.value)
    consumer.close()
    ok = received == expected
    print(
        json.dumps(
            {
                "topic": args.topic,
                "produced": len(sent),
                "consumed": len(received),
                "matches": ok,
                "offsets": sorted([list(k) for k in expected]),
            }
        )
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
