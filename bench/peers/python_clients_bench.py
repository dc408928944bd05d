"""The Python clients under the command-line contract of `cargo xtask bench python`.

    python_clients_bench.py --client C produce --bootstrap B --topic T
        --records N --record-size S --acks 1|all --linger-ms L [--json-ints]
    python_clients_bench.py --client C consume --bootstrap B --topic T
        --records N --group G --mode iter|poll

C is one of ferrokafka, kafka-python, confluent-kafka, aiokafka; only that
client's package is imported. Prints one JSON line: client, records, bytes,
elapsed_s, latency_p50_ms, latency_p99_ms (the latencies are null: this
benchmark compares the per-record cost of the Python side, so no
per-record callback is registered and no future is kept: the last record's
is awaited after `flush`, so a failing run fails).

The loops are the seeds' own: `send` per record then `flush` (with
`--json-ints`, record i's value is `i` through
`value_serializer=lambda m: json.dumps(m).encode()`; confluent-kafka has no
serializer argument on `Producer`, so the same lambda is called in the
loop), and `for message in consumer` (iter) or `poll(max_records=500)`
(poll).
"""

import argparse
import json
import signal
import sys
import time

MASK = (1 << 64) - 1
CLIENT_ID = "python-clients-bench"
POLL_RECORDS = 500


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


def seeds_serializer(m):
    return json.dumps(m).encode()


def values(args):
    """The record values (or, with --json-ints, the integers the serializer
    turns into them) and their total value bytes."""
    if args.json_ints:
        ints = range(args.records)
        return ints, sum(len(str(i)) for i in ints)
    pool = payload_pool(args.record_size)
    return [pool[i % len(pool)] for i in range(args.records)], args.records * args.record_size


# kafka-python and ferrokafka share one API: the seeds' programs run on both.

def kafka_python_api_produce(module, args, items):
    producer = module.KafkaProducer(
        bootstrap_servers=args.bootstrap,
        client_id=CLIENT_ID,
        acks=1 if args.acks == "1" else "all",
        linger_ms=args.linger_ms,
        batch_size=16384,
        enable_idempotence=args.acks == "all",
        value_serializer=seeds_serializer if args.json_ints else None,
    )
    producer.partitions_for(args.topic)  # metadata warm-up, not measured
    send = producer.send
    topic = args.topic
    started = time.perf_counter()
    future = None
    for value in items:
        future = send(topic, value)
    producer.flush()
    elapsed = time.perf_counter() - started
    future.get(timeout=60)  # raises when the last record failed
    producer.close()
    return elapsed


def kafka_python_api_consume(module, args):
    consumer = module.KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        client_id=CLIENT_ID,
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
            batches = consumer.poll(timeout_ms=1000, max_records=POLL_RECORDS)
            for records in batches.values():
                for message in records:
                    total += len(message.value)
                    count += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return count, total, elapsed


def confluent_produce(module, args, items):
    producer = module.Producer({
        "bootstrap.servers": args.bootstrap,
        "client.id": CLIENT_ID,
        "acks": args.acks,
        "linger.ms": args.linger_ms,
        "batch.size": 16384,
        "enable.idempotence": args.acks == "all",
    })
    producer.list_topics(args.topic, timeout=30)  # metadata warm-up, not measured
    failures = []

    def on_delivery(error, _message):
        if error is not None:
            failures.append(error)

    produce = producer.produce
    topic = args.topic
    serialize = seeds_serializer if args.json_ints else None
    started = time.perf_counter()
    for value in items:
        if serialize is not None:
            value = serialize(value)
        while True:
            try:
                produce(topic, value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.01)  # the local queue is full: serve callbacks
    remaining = producer.flush(60)
    elapsed = time.perf_counter() - started
    if remaining or failures:
        raise SystemExit(f"{remaining} undelivered, {len(failures)} failed: {failures[:1]}")
    return elapsed


def confluent_consume(module, args):
    consumer = module.Consumer({
        "bootstrap.servers": args.bootstrap,
        "client.id": CLIENT_ID,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
    })
    consumer.subscribe([args.topic])
    started = time.perf_counter()
    count = 0
    total = 0
    while count < args.records:
        if args.mode == "iter":
            message = consumer.poll(1.0)
            messages = () if message is None else (message,)
        else:
            messages = consumer.consume(num_messages=POLL_RECORDS, timeout=1.0)
        for message in messages:
            if message.error() is not None:
                continue  # end-of-partition events and the like, not records
            total += len(message.value())
            count += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return count, total, elapsed


async def aiokafka_produce(module, args, items):
    producer = module.AIOKafkaProducer(
        bootstrap_servers=args.bootstrap,
        client_id=CLIENT_ID,
        acks=1 if args.acks == "1" else "all",
        linger_ms=args.linger_ms,
        max_batch_size=16384,
        enable_idempotence=args.acks == "all",
        value_serializer=seeds_serializer if args.json_ints else None,
    )
    await producer.start()
    await producer.partitions_for(args.topic)  # metadata warm-up, not measured
    send = producer.send
    topic = args.topic
    started = time.perf_counter()
    future = None
    for value in items:
        future = await send(topic, value)
    await producer.flush()
    elapsed = time.perf_counter() - started
    await future  # raises when the last record failed
    await producer.stop()
    return elapsed


async def aiokafka_consume(module, args):
    consumer = module.AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        client_id=CLIENT_ID,
        group_id=args.group,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    started = time.perf_counter()
    count = 0
    total = 0
    if args.mode == "iter":
        async for message in consumer:
            total += len(message.value)
            count += 1
            if count >= args.records:
                break
    else:
        while count < args.records:
            batches = await consumer.getmany(timeout_ms=1000, max_records=POLL_RECORDS)
            for records in batches.values():
                for message in records:
                    total += len(message.value)
                    count += 1
    elapsed = time.perf_counter() - started
    await consumer.stop()
    return count, total, elapsed


def run(args):
    """Runs the workload; returns (client label, records, bytes, elapsed)."""
    if args.client in ("ferrokafka", "kafka-python"):
        module = __import__("ferrokafka" if args.client == "ferrokafka" else "kafka")
        label = f"{args.client} {module.__version__}"
        if args.command == "produce":
            items, total = values(args)
            return label, args.records, total, kafka_python_api_produce(module, args, items)
        return (label, *kafka_python_api_consume(module, args))
    if args.client == "confluent-kafka":
        from importlib.metadata import version

        import confluent_kafka as module

        label = f"confluent-kafka {version('confluent-kafka')} (librdkafka {module.libversion()[0]})"
        if args.command == "produce":
            items, total = values(args)
            return label, args.records, total, confluent_produce(module, args, items)
        return (label, *confluent_consume(module, args))
    import asyncio

    import aiokafka as module

    label = f"aiokafka {module.__version__}"
    if args.command == "produce":
        items, total = values(args)
        return label, args.records, total, asyncio.run(aiokafka_produce(module, args, items))
    return (label, *asyncio.run(aiokafka_consume(module, args)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--client", required=True,
        choices=["ferrokafka", "kafka-python", "confluent-kafka", "aiokafka"],
    )
    parser.add_argument("command", choices=["produce", "consume"])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--record-size", type=int, default=100)
    parser.add_argument("--acks", default="1", choices=["1", "all"])
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--json-ints", action="store_true")
    parser.add_argument("--group")
    parser.add_argument("--mode", default="poll", choices=["iter", "poll"])
    parser.add_argument("--timeout-s", type=int, default=300)
    args = parser.parse_args()

    def give_up(_signum, _frame):
        print(f"the run took longer than {args.timeout_s}s", file=sys.stderr)
        sys.exit(2)

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(args.timeout_s)
    label, records, total, elapsed = run(args)
    print(json.dumps({
        "client": label,
        "records": records,
        "bytes": total,
        "elapsed_s": elapsed,
        "latency_p50_ms": None,
        "latency_p99_ms": None,
    }))


if __name__ == "__main__":
    main()
