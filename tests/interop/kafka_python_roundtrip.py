"""Creates a topic, produces records and reads them back with kafka-python.

Used by the integration tests as an independent client: it proves a broker
started by the harness serves real clients. Prints one JSON line with what it
did; exits non-zero when a record does not come back as sent.
"""

import argparse
import base64
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from kafka.net.sasl.oauth import AbstractTokenProvider


def security_config(args):
    """kafka-python settings for the listener the arguments name."""
    config = {"security_protocol": args.security_protocol}
    if args.sasl_mechanism:
        config["sasl_mechanism"] = args.sasl_mechanism
        if args.sasl_mechanism == "OAUTHBEARER":
            config["sasl_oauth_token_provider"] = UnsecuredToken(args.username)
        else:
            config["sasl_plain_username"] = args.username
            config["sasl_plain_password"] = args.password
    if args.cafile:
        config["ssl_cafile"] = args.cafile
        config["ssl_check_hostname"] = True
    if args.certfile:
        config["ssl_certfile"] = args.certfile
        config["ssl_keyfile"] = args.keyfile
    return config


class UnsecuredToken(AbstractTokenProvider):
    """An unsigned JWT, which the broker's default OAUTHBEARER validator takes."""

    def __init__(self, subject):
        super().__init__()
        self.subject = subject

    def token(self):
        def b64(obj):
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

        now = int(time.time())
        claims = {"sub": self.subject, "iat": now, "exp": now + 3600}
        return f"{b64({'alg': 'none'})}.{b64(claims)}."

    def extensions(self):
        return {}


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
    parser.add_argument("--security-protocol", default="PLAINTEXT")
    parser.add_argument("--sasl-mechanism")
    parser.add_argument("--username")
    parser.add_argument("--password")
    parser.add_argument("--cafile")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args()
    bootstrap = args.bootstrap.split(",")
    security = security_config(args)

    if args.create:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, request_timeout_ms=30000, **security
        )
        try:
            admin.create_topics(
                [NewTopic(args.topic, args.partitions, args.replication_factor)]
            )
        except TopicAlreadyExistsError:
            pass
        admin.close()

    acks = "all" if args.acks == "all" else int(args.acks)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks=acks, request_timeout_ms=30000, **security
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
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **security
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
