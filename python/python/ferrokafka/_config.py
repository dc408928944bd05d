"""kafka-python's configuration keys, checked and turned into the strings the
Rust clients take.

Each client has a table: key -> converter. A converter checks the value's
type (``TypeError`` naming the key) and range (``ValueError`` naming the
key) and returns the string for the Rust config, or ``None`` when the key
is not passed on (its Python side uses it, or it is left at its default).
Keys that cannot apply to this client (``api_version``, ``selector``, ...)
are accepted and ignored with one warning per key; a key kafka-python does
not know is a ``ValueError`` naming it.
"""

import itertools
import math
import numbers
import os
import warnings

__all__ = ["producer_settings", "consumer_settings", "admin_settings"]

_IGNORED_WARNED = set()


class Ignored:
    """A key accepted for compatibility and ignored, with why."""

    def __init__(self, why):
        self.why = why


class Python:
    """A key the Python layer itself uses; ``check`` validates it."""

    def __init__(self, check=None):
        self.check = check


def _type_name(value):
    return type(value).__name__


def _int(minimum=None, maximum=None):
    def convert(key, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError("%s must be an int, not %s" % (key, _type_name(value)))
        if minimum is not None and value < minimum:
            raise ValueError("%s must be at least %d, not %d" % (key, minimum, value))
        if maximum is not None and value > maximum:
            raise ValueError("%s must be at most %d, not %d" % (key, maximum, value))
        return str(int(value))

    return convert


def _ms(key, value):
    """Milliseconds: an int (or a whole float) of at least zero."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number of milliseconds, not %s" % (key, _type_name(value)))
    if not math.isfinite(value) or value < 0:
        raise ValueError("%s must be a number of milliseconds >= 0, not %r" % (key, value))
    return str(int(value))


def _bool(key, value):
    if not isinstance(value, bool):
        raise TypeError("%s must be True or False, not %s" % (key, _type_name(value)))
    return "true" if value else "false"


def _optional_str(key, value):
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError("%s must be a str or None, not %s" % (key, _type_name(value)))
    return value


def _choice(*choices, aliases=None):
    aliases = aliases or {}

    def convert(key, value):
        if value is not None and not isinstance(value, str):
            raise TypeError("%s must be one of %s, not %s" % (key, _choices_text(choices), _type_name(value)))
        value = aliases.get(value, value)
        if value not in choices:
            raise ValueError("%s must be one of %s, not %r" % (key, _choices_text(choices), value))
        return value

    return convert


def _choices_text(choices):
    return ", ".join(repr(c) for c in choices)


def _optional(convert):
    def optional(key, value):
        return None if value is None else convert(key, value)

    return optional


def _servers(key, value):
    if isinstance(value, str):
        servers = [s.strip() for s in value.split(",")]
    elif isinstance(value, (list, tuple)):
        servers = []
        for server in value:
            if not isinstance(server, str):
                raise TypeError("%s must be a str or a list of str, not a list holding %s" % (key, _type_name(server)))
            servers.append(server.strip())
    else:
        raise TypeError("%s must be a str or a list of str, not %s" % (key, _type_name(value)))
    servers = [s for s in servers if s]
    if not servers:
        raise ValueError("%s names no server" % key)
    with_ports = []
    for server in servers:
        if server.endswith("]") or ":" not in server:
            server += ":9092"
        else:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("%s: %r is not host:port" % (key, server))
        with_ports.append(server)
    return ",".join(with_ports)


def _acks(key, value):
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Integral)):
        raise TypeError("acks must be 0, 1, -1 or 'all', not %s" % _type_name(value))
    if value in ("all", -1, "-1"):
        return "all"
    if value in (0, 1, "0", "1"):
        return str(value)
    raise ValueError("acks must be 0, 1, -1 or 'all', not %r" % (value,))


def _retries(key, value):
    if isinstance(value, float) and value == math.inf:
        return str(2**31 - 1)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("retries must be an int or float('inf'), not %s" % _type_name(value))
    if value < 0:
        raise ValueError("retries must be at least 0, not %d" % value)
    return str(min(int(value), 2**31 - 1))


def _batch_size(key, value):
    # kafka-python takes 0 as "no batching": one record per batch.
    return str(max(int(_int(0)(key, value)), 1))


def _compression(key, value):
    return _choice(None, "none", "gzip", "snappy", "lz4", "zstd")(key, value) or "none"


def _partitioner(key, value):
    if isinstance(value, str):
        return _choice("default", "murmur2", "sticky", "round_robin", "roundrobin")(key, value)
    if value is None:
        return None
    if type(value).__name__ == "DefaultPartitioner":
        return None
    raise ValueError(
        "partitioner: ferrokafka partitions with the default partitioner (murmur2 of the key, "
        "sticky without one) or 'round_robin'; custom partitioner objects are not supported"
    )


def _assignors(key, value):
    names = []
    if isinstance(value, (str, type)) or not isinstance(value, (list, tuple)):
        value = [value]
    for assignor in value:
        if isinstance(assignor, str):
            name = assignor
        else:
            name = getattr(assignor, "name", None)
            if not isinstance(name, str):
                raise TypeError("%s must list assignor names or classes with a name, not %s" % (key, _type_name(assignor)))
        names.append(name)
    if not names:
        raise ValueError("%s names no assignor" % key)
    return ",".join(names)


def _offset_reset(key, value):
    return _choice("earliest", "latest", "none", aliases={"smallest": "earliest", "largest": "latest"})(key, value)


def _sasl_mechanism(key, value):
    return _optional(_choice("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"))(key, value)


def _unsupported_unless_none(what):
    def convert(key, value):
        if value is not None:
            raise ValueError("%s: %s is not supported by ferrokafka" % (key, what))
        return None

    return convert


_JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

# The token retrievers of Kafka's Java client the built-in provider stands
# in for; a class of one's own cannot run here.
_JWT_RETRIEVERS = (
    "DefaultJwtRetriever",
    "ClientCredentialsJwtRetriever",
    "JwtBearerJwtRetriever",
    "FileJwtRetriever",
)


def _oauthbearer_method(key, value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be 'default' or 'oidc', not %s" % (key, _type_name(value)))
    if value.strip().lower() not in ("default", "oidc"):
        raise ValueError("%s must be 'default' or 'oidc', not %r" % (key, value))
    return value.strip().lower()


def _jwt_retriever_class(key, value):
    value = _optional_str(key, value)
    if value is None:
        return None
    if value.strip().rsplit(".", 1)[-1] not in _JWT_RETRIEVERS:
        raise ValueError(
            "%s must name one of Kafka's retrievers (%s), not %r; the built-in OAuth/OIDC "
            "token provider stands in for them" % (key, ", ".join(_JWT_RETRIEVERS), value)
        )
    return value.strip()


def _grant_type(key, value):
    return _optional(_choice("client_credentials", _JWT_BEARER_GRANT))(key, value)


def _assertion_algorithm(key, value):
    if value is not None and isinstance(value, str):
        value = value.strip().upper()
    return _optional(_choice("RS256", "ES256"))(key, value)


def _fraction(minimum, maximum):
    def convert(key, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError("%s must be a number, not %s" % (key, _type_name(value)))
        if not minimum <= value <= maximum:
            raise ValueError("%s must be from %s to %s, not %r" % (key, minimum, maximum, value))
        return repr(float(value))

    return convert


def _secret(key, value):
    """A str or None whose value never appears in an error message."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError("%s must be a str or None, not %s" % (key, _type_name(value)))
    return value


# The built-in OAuth/OIDC token provider of SASL OAUTHBEARER (KIP-768,
# KIP-1139), in the Java client's key names with '_' for '.': Rust checks
# them again and makes the provider.
_OAUTHBEARER = {
    "sasl_oauthbearer_method": _oauthbearer_method,
    "sasl_oauthbearer_token_endpoint_url": _optional_str,
    "sasl_oauthbearer_jwt_retriever_class": _jwt_retriever_class,
    "sasl_oauthbearer_grant_type": _grant_type,
    "sasl_oauthbearer_client_credentials_client_id": _optional_str,
    "sasl_oauthbearer_client_credentials_client_secret": _secret,
    "sasl_oauthbearer_scope": _optional_str,
    "sasl_oauthbearer_sub_claim_name": _optional_str,
    "sasl_oauthbearer_scope_claim_name": _optional_str,
    "sasl_oauthbearer_header_urlencode": _bool,
    "sasl_oauthbearer_assertion_algorithm": _assertion_algorithm,
    "sasl_oauthbearer_assertion_claim_aud": _optional_str,
    "sasl_oauthbearer_assertion_claim_iss": _optional_str,
    "sasl_oauthbearer_assertion_claim_sub": _optional_str,
    "sasl_oauthbearer_assertion_claim_exp_seconds": _int(0, 86400),
    "sasl_oauthbearer_assertion_claim_nbf_seconds": _int(0, 3600),
    "sasl_oauthbearer_assertion_claim_jti_include": _bool,
    "sasl_oauthbearer_assertion_file": _optional_str,
    "sasl_oauthbearer_assertion_private_key_file": _optional_str,
    "sasl_oauthbearer_assertion_private_key_passphrase": _secret,
    "sasl_login_refresh_window_factor": _fraction(0.5, 1.0),
    "sasl_login_refresh_window_jitter": _fraction(0.0, 0.25),
    "sasl_login_refresh_min_period_seconds": _int(0, 900),
    "sasl_login_refresh_buffer_seconds": _int(0, 3600),
    "sasl_login_connect_timeout_ms": _ms,
    "sasl_login_read_timeout_ms": _ms,
    "sasl_login_retry_backoff_ms": _ms,
    "sasl_login_retry_backoff_max_ms": _ms,
    "sasl_oauthbearer_expected_audience": Ignored("it is a broker setting"),
    "sasl_oauthbearer_expected_issuer": Ignored("it is a broker setting"),
    "sasl_oauthbearer_clock_skew_seconds": Ignored("it is a broker setting"),
    "sasl_oauthbearer_jwks_endpoint_url": Ignored("it is a broker setting"),
    "sasl_oauthbearer_jwks_endpoint_refresh_ms": Ignored("it is a broker setting"),
    "sasl_oauthbearer_jwks_endpoint_retry_backoff_ms": Ignored("it is a broker setting"),
    "sasl_oauthbearer_jwks_endpoint_retry_backoff_max_ms": Ignored("it is a broker setting"),
}


def _client_rack(key, value):
    value = _optional_str(key, value)
    return value or None


def _callable_or_none(key, value):
    if value is not None and not callable(value):
        raise TypeError("%s must be callable or None, not %s" % (key, _type_name(value)))


def _serializer(key, value):
    if value is None or callable(value) or callable(getattr(value, "serialize", None)):
        return
    raise TypeError("%s must be callable or have serialize(topic, headers, data), not %s" % (key, _type_name(value)))


def _deserializer(key, value):
    if value is None or callable(value) or callable(getattr(value, "deserialize", None)):
        return
    raise TypeError("%s must be callable or have deserialize(topic, headers, data), not %s" % (key, _type_name(value)))


def _consumer_timeout(key, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("%s must be a number of milliseconds, not %s" % (key, _type_name(value)))
    if value < 0 and value != -1:
        raise ValueError("%s must be a number of milliseconds >= 0, not %r" % (key, value))


_CLIENT = {
    "bootstrap_servers": _servers,
    "client_id": _optional_str,
    "request_timeout_ms": _ms,
    "retry_backoff_ms": _ms,
    "reconnect_backoff_ms": _ms,
    "reconnect_backoff_max_ms": _ms,
    "max_in_flight_requests_per_connection": _int(1),
    "connections_max_idle_ms": _ms,
    "metadata_max_age_ms": _ms,
    "metadata_recovery_strategy": _choice("none", "rebootstrap"),
    "metadata_recovery_rebootstrap_trigger_ms": _ms,
    "metadata_cluster_check_enable": _bool,
    "bootstrap_resolve_timeout_ms": _ms,
    "enable_metrics_push": _bool,
    "client_dns_lookup": _choice("use_all_dns_ips", "resolve_canonical_bootstrap_servers_only", "default"),
    "receive_message_max_bytes": _int(1),
    "receive_buffer_bytes": _optional(_int(-1)),
    "send_buffer_bytes": _optional(_int(-1)),
    "security_protocol": _choice("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    "ssl_check_hostname": _bool,
    "ssl_cafile": _optional_str,
    "ssl_certfile": _optional_str,
    "ssl_keyfile": _optional_str,
    "sasl_mechanism": _sasl_mechanism,
    "sasl_plain_username": _optional_str,
    "sasl_plain_password": _optional_str,
    "metrics_num_samples": _int(1),
    "metrics_sample_window_ms": _ms,
    "default_api_timeout_ms": _ms,
    "socket_connection_setup_timeout_ms": _ms,
    "api_version": Ignored("the protocol versions are negotiated with each broker"),
    "api_version_auto_timeout_ms": Ignored("the protocol versions are negotiated with each broker"),
    "bootstrap_timeout_ms": Ignored("connecting is bounded by request_timeout_ms"),
    "selector": Ignored("ferrokafka's I/O is Rust's, not a selector's"),
    "socket_options": Ignored("sockets are set up by the Rust transport (TCP_NODELAY on)"),
    "kafka_client": Ignored("the client is ferrokafka's Rust client"),
    "metric_reporters": Ignored("metrics() reports ferrokafka's metrics"),
    "metrics_enabled": Ignored("ferrokafka always keeps its metrics"),
    "ssl_context": Ignored("TLS is rustls, set up from ssl_cafile, ssl_certfile and ssl_keyfile"),
    "ssl_crlfile": Ignored("certificate revocation lists are not checked"),
    "ssl_password": Ignored("encrypted private keys are not supported"),
    "ssl_ciphers": Ignored("rustls chooses among its safe cipher suites"),
    "sasl_kerberos_name": Ignored("GSSAPI (Kerberos) is not supported"),
    "sasl_kerberos_service_name": Ignored("GSSAPI (Kerberos) is not supported"),
    "sasl_kerberos_domain_name": Ignored("GSSAPI (Kerberos) is not supported"),
    "sasl_oauth_token_provider": _unsupported_unless_none(
        "a Python OAUTHBEARER token provider (the built-in OAuth/OIDC provider takes the "
        "sasl_oauthbearer_* settings: sasl_oauthbearer_token_endpoint_url and the client "
        "credentials or assertion keys)"
    ),
    "proxy_url": _unsupported_unless_none("connecting through a proxy"),
    "socks5_proxy": _unsupported_unless_none("connecting through a proxy"),
    **_OAUTHBEARER,
}

_PRODUCER = dict(
    _CLIENT,
    key_serializer=Python(_serializer),
    value_serializer=Python(_serializer),
    enable_idempotence=_bool,
    transactional_id=_optional_str,
    transaction_timeout_ms=_ms,
    delivery_timeout_ms=_ms,
    acks=_acks,
    compression_type=_compression,
    compression_level=_optional(_int()),
    retries=_retries,
    batch_size=_batch_size,
    linger_ms=_ms,
    partitioner=_partitioner,
    buffer_memory=_int(1),
    max_block_ms=_ms,
    max_request_size=_int(1),
    allow_auto_create_topics=Ignored("topics are created with the admin client"),
)

_CONSUMER = dict(
    _CLIENT,
    group_id=_optional_str,
    group_instance_id=_optional_str,
    key_deserializer=Python(_deserializer),
    value_deserializer=Python(_deserializer),
    enable_incremental_fetch_sessions=Ignored("fetch sessions are always used where brokers have them"),
    fetch_max_wait_ms=_ms,
    fetch_min_bytes=_int(0),
    fetch_max_bytes=_int(0),
    max_partition_fetch_bytes=_int(0),
    auto_offset_reset=_offset_reset,
    enable_auto_commit=_bool,
    auto_commit_interval_ms=_ms,
    default_offset_commit_callback=Python(_callable_or_none),
    check_crcs=_bool,
    isolation_level=_choice("read_uncommitted", "read_committed"),
    allow_auto_create_topics=Ignored("topics are created with the admin client"),
    partition_assignment_strategy=_assignors,
    max_poll_records=_int(1),
    max_poll_interval_ms=_ms,
    session_timeout_ms=_ms,
    heartbeat_interval_ms=_ms,
    consumer_timeout_ms=Python(_consumer_timeout),
    metric_group_prefix=Ignored("metrics() reports ferrokafka's metrics"),
    exclude_internal_topics=_bool,
    client_rack=_client_rack,
    group_protocol=_choice("classic", "consumer"),
    group_remote_assignor=_optional_str,
)

_ADMIN = dict(_CLIENT)

_CLIENT_IDS = itertools.count(1)


def _settings(kind, table, configs, defaults):
    """``(rust_pairs, python_values)`` from the user's ``configs``."""
    unknown = sorted(key for key in configs if key not in table)
    if unknown:
        raise ValueError("Unrecognized configs for %s: %s" % (kind, ", ".join(unknown)))
    merged = dict(defaults)
    merged.update(configs)
    pairs = []
    python_values = {}
    for key, value in merged.items():
        convert = table[key]
        if isinstance(convert, Ignored):
            if key in configs and (kind, key) not in _IGNORED_WARNED:
                _IGNORED_WARNED.add((kind, key))
                warnings.warn(
                    "%s ignores %s: %s" % (kind, key, convert.why),
                    category=UserWarning,
                    stacklevel=4,
                )
            continue
        if isinstance(convert, Python):
            if convert.check is not None:
                convert.check(key, value)
            python_values[key] = value
            continue
        text = convert(key, value)
        if text is not None:
            pairs.append((key, text))
    return pairs, python_values


def producer_settings(configs):
    defaults = {
        "bootstrap_servers": "localhost",
        "client_id": "ferrokafka-python-producer-%d" % next(_CLIENT_IDS),
        "key_serializer": None,
        "value_serializer": None,
    }
    if configs.get("client_id", 0) is None:
        configs = dict(configs, client_id=defaults["client_id"])
    return _settings("KafkaProducer", _PRODUCER, configs, defaults)


def consumer_settings(configs):
    defaults = {
        "bootstrap_servers": "localhost",
        "client_id": "ferrokafka-python-consumer-%d" % next(_CLIENT_IDS),
        "key_deserializer": None,
        "value_deserializer": None,
        "consumer_timeout_ms": float("inf"),
        "default_offset_commit_callback": None,
        "max_poll_records": 500,
        "request_timeout_ms": 30000,
    }
    if configs.get("client_id", 0) is None:
        configs = dict(configs, client_id=defaults["client_id"])
    pairs, python_values = _settings("KafkaConsumer", _CONSUMER, configs, defaults)
    python_values["max_poll_records"] = int(dict(pairs)["max_poll_records"])
    python_values["request_timeout_ms"] = int(dict(pairs)["request_timeout_ms"])
    python_values["group_id"] = configs.get("group_id")
    return pairs, python_values


def admin_settings(configs):
    defaults = {
        "bootstrap_servers": "localhost",
        "client_id": "ferrokafka-python-admin-%d" % next(_CLIENT_IDS),
    }
    if configs.get("client_id", 0) is None:
        configs = dict(configs, client_id=defaults["client_id"])
    return _settings("KafkaAdminClient", _ADMIN, configs, defaults)
