"""Joins a consumer group with kafka-python and reads for a while.

Used by the integration tests to put a kafka-python member in the same group
as ferrokafka members. Reads until --seconds pass, then prints one JSON line:
the partitions it was assigned last and the values (as text) it read.
"""

import argparse
import json
import time

from kafka import KafkaConsumer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()

    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        heartbeat_interval_ms=500,
        session_timeout_ms=10000,
    )
    values = []
    deadline = time.time() + args.seconds
    while time.time() < deadline:
        for records in consumer.poll(timeout_ms=300).values():
            for record in records:
                values.append(record.value.decode())
        consumer.commit()
    assigned = sorted(tp.partition for tp in consumer.assignment())
    consumer.close()
    print(json.dumps({"assigned": assigned, "values": values}))


if __name__ == "__main__":
    main()
