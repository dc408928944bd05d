"""Reads a topic from the beginning with kafka-python at an isolation level.

Prints one JSON object per record: partition, offset and value (UTF-8 text,
or null). Reads until --count records arrived, then polls once more so that
records beyond the count (ones that should have been filtered out) show up
too. Exits non-zero when fewer than --count arrived within --timeout seconds.
"""

import argparse
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument(
        "--isolation-level",
        choices=["read_committed", "read_uncommitted"],
        default="read_uncommitted",
    )
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()

    consumer = KafkaConsumer(
        bootstrap_servers=args.bootstrap.split(","),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level=args.isolation_level,
    )
    partitions = consumer.partitions_for_topic(args.topic) or {0}
    consumer.assign([TopicPartition(args.topic, p) for p in sorted(partitions)])
    consumer.seek_to_beginning()

    def emit(batch):
        count = 0
        for records in batch.values():
            for r in records:
                value = None if r.value is None else r.value.decode("utf-8")
                print(json.dumps({"partition": r.partition, "offset": r.offset, "value": value}))
                count += 1
        return count

    seen = 0
    deadline = time.time() + args.timeout
    while seen < args.count and time.time() < deadline:
        seen += emit(consumer.poll(timeout_ms=500))
    seen += emit(consumer.poll(timeout_ms=500))
    consumer.close()
    sys.exit(0 if seen >= args.count else 1)


if __name__ == "__main__":
    main()
