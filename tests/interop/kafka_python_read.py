"""Reads a topic from the beginning with kafka-python and prints its records.

One JSON object per line: partition, offset, timestamp, key, value (base64,
or null), headers as [key, base64 value or null]. Stops after --count
records or --timeout seconds; exits non-zero when fewer arrived.
"""

import argparse
import base64
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def b64(data):
    return None if data is None else base64.b64encode(data).decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    partitions = consumer.partitions_for_topic(args.topic) or {0}
    consumer.assign([TopicPartition(args.topic, p) for p in sorted(partitions)])
    consumer.seek_to_beginning()
    seen = 0
    deadline = time.time() + args.timeout
    while seen < args.count and time.time() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for r in records:
                print(
                    json.dumps(
                        {
                            "partition": r.partition,
                            "offset": r.offset,
                            "timestamp": r.timestamp,
                            "key": b64(r.key),
                            "value": b64(r.value),
                            "headers": [[k, b64(v)] for k, v in r.headers],
                        }
                    )
                )
                seen += 1
    consumer.close()
    sys.exit(0 if seen >= args.count else 1)


if __name__ == "__main__":
    main()
