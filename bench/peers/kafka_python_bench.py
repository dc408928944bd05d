"""kafka-python under the command-line contract of `cargo xtask bench`.

    kafka_python_bench.py produce --bootstrap B --topic T --records N
        --record-size S --acks 1|all --linger-ms L --compression C [--json-ints]
        [--rate R]
    kafka_python_bench.py consume --bootstrap B --topic T --records N
        --group G --mode batch|iter

Prints one JSON line: client, records, bytes, elapsed_s, latency_p50_ms,
latency_p99_ms. The loops are the seeds' own: `send` per record then
`flush`, and `for message in consumer` (iter) or `poll` (batch).
"""

import argparse
import json
import signal
import sys
import time

import kafka
from kafka import KafkaConsumer, KafkaProducer

MASK = (1 << 64) - 1


# The pool holds as many distinct values as fit in POOL_BYTES, between
# MIN_POOL_VALUES and MAX_POOL_VALUES, as every client of the benchmark
# (bench/peers/src/lib.rs): far more than one 16 KiB batch, so compression
# cannot feed on repeats, but not 1 GiB of 1 MiB values in the bench's RSS.
MAX_POOL_VALUES = 1024
MIN_POOL_VALUES = 8
POOL_BYTES = 8 << 20


def pool_len(size):
    return min(max(POOL_BYTES // max(size, 1), MIN_POOL_VALUES), MAX_POOL_VALUES)


def payload_pool(size):
    """pool_len(size) values of pseudo-random uppercase letters (xorshift64,
    fixed seed), the generator of every client of `cargo xtask bench`."""
    state = 0x9E3779B97F4A7C15
    pool = []
    for _ in range(pool_len(size)):
        value = bytearray(size)
        for i in range(size):
            state ^= (state << 13) & MASK
            state ^= state >> 7
            state ^= (state << 17) & MASK
            value[i] = 65 + state % 26
        pool.append(bytes(value))
    return pool


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    return sorted_values[round((len(sorted_values) - 1) * p)]


def produce(args):
    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        client_id="kafka-python-bench",
        acks=1 if args.acks == "1" else "all",
        linger_ms=args.linger_ms,
        batch_size=16384,
        compression_type=None if args.compression == "none" else args.compression,
        enable_idempotence=args.acks == "all",
    )
    producer.partitions_for(args.topic)  # metadata warm-up, not measured
    pool = payload_pool(args.record_size)
    latencies = []
    failures = []

    def on_error(error):
        failures.append(error)

    started = time.perf_counter()
    total = 0
    for i in range(args.records):
        if args.rate and i % 10 == 0:
            delay = started + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        value = str(i).encode() if args.json_ints else pool[i % len(pool)]
        total += len(value)
        sent = time.perf_counter()
        future = producer.send(args.topic, value)
        future.add_callback(lambda _m, sent=sent: latencies.append(time.perf_counter() - sent))
        future.add_errback(on_error)
    producer.flush()
    elapsed = time.perf_counter() - started
    producer.close()
    if failures:
        print(f"{len(failures)} records failed: {failures[0]}", file=sys.stderr)
        sys.exit(1)
    latencies.sort()
    return total, elapsed, percentile(latencies, 0.5), percentile(latencies, 0.99)


def consume(args):
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        client_id="kafka-python-bench",
        group_id=args.group,
        auto_offset_reset="earliest",
    )
    started = time.perf_counter()
    count = 0
    total = 0
    if args.mode == "iter":
        for message in consumer:
            total += len(message.value)
            count += 1
            if count >= args.records:
                break
    else:
        while count < args.records:
            for records in consumer.poll(timeout_ms=1000).values():
                for message in records:
                    total += len(message.value)
                    count += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return total, elapsed, None, None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["produce", "consume"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--acks", default="1")
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--compression", default="none")
    parser.add_argument("--json-ints", action="store_true")
    parser.add_argument("--rate", type=int, default=0)
    parser.add_argument("--group")
    parser.add_argument("--mode", default="batch", choices=["batch", "iter"])
    parser.add_argument("--timeout-s", type=int, default=300)
    args = parser.parse_args()

    def give_up(_signum, _frame):
        print(f"the run took longer than {args.timeout_s}s", file=sys.stderr)
        sys.exit(2)

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    run = produce if args.command == "produce" else consume
    total, elapsed, p50, p99 = run(args)
    print(json.dumps({
        "client": f"kafka-python {kafka.__version__}",
        "records": args.records,
        "bytes": total,
        "elapsed_s": elapsed,
        "latency_p50_ms": None if p50 is None else p50 * 1000,
        "latency_p99_ms": None if p99 is None else p99 * 1000,
    }))


if __name__ == "__main__":
    main()
