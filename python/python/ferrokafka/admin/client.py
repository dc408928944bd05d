"""KafkaAdminClient: kafka-python's admin client on ferrokafka's Rust admin
client (topics, partitions, configs, groups, records, ACLs, SCRAM
credentials and the cluster)."""

import enum
import logging
import numbers
import uuid

from ferrokafka import _core
from ferrokafka import errors as Errors
from ferrokafka._config import admin_settings
from ferrokafka.admin.acl import (
    ACL,
    ACLFilter,
    IllegalArgumentTypeError,
    acl_from_row,
)
from ferrokafka.admin.scram import ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion

__all__ = ["KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource", "ConfigResourceType"]

log = logging.getLogger("kafka.admin.client")


class NewTopic:
    """A topic to create: ``num_partitions`` and ``replication_factor`` (-1:
    the broker's defaults), or ``replica_assignments`` {partition: [broker]},
    and ``topic_configs`` {name: value}."""

    def __init__(self, name, num_partitions=-1, replication_factor=-1, replica_assignments=None, topic_configs=None):
        if not isinstance(name, str) or not name:
            raise TypeError("name must be a non-empty str, not %r" % (name,))
        for key, value in (("num_partitions", num_partitions), ("replication_factor", replication_factor)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError("%s must be an int, not %s" % (key, type(value).__name__))
            if value == 0 or value < -1:
                raise ValueError("%s must be positive or -1, not %d" % (key, value))
        self.name = name
        self.num_partitions = int(num_partitions)
        self.replication_factor = int(replication_factor)
        self.replica_assignments = dict(replica_assignments or {})
        self.topic_configs = {str(k): str(v) for k, v in (topic_configs or {}).items()}

    def __repr__(self):
        return "NewTopic(name=%r, num_partitions=%d, replication_factor=%d)" % (
            self.name, self.num_partitions, self.replication_factor)


class NewPartitions:
    """A topic's new partition count, with optional assignments of the new
    partitions ([[broker, ...], ...])."""

    def __init__(self, total_count, new_assignments=None):
        if isinstance(total_count, bool) or not isinstance(total_count, numbers.Integral):
            raise TypeError("total_count must be an int, not %s" % type(total_count).__name__)
        if total_count < 1:
            raise ValueError("total_count must be positive, not %d" % total_count)
        self.total_count = int(total_count)
        self.new_assignments = new_assignments


class ConfigResourceType(enum.IntEnum):
    """The kinds of config resources."""

    UNKNOWN = 0
    TOPIC = 2
    BROKER = 4
    BROKER_LOGGER = 8
    CLIENT_METRICS = 16
    GROUP = 32


class ConfigResource:
    """A resource whose configs are described or altered."""

    def __init__(self, resource_type, name, configs=None):
        if isinstance(resource_type, str):
            resource_type = ConfigResourceType[resource_type.upper()]
        self.resource_type = ConfigResourceType(resource_type)
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)
        if not isinstance(name, str):
            raise TypeError("name must be a str, not %s" % type(name).__name__)
        self.name = name
        self.configs = configs


def _error_fields(error):
    if error is None:
        return 0, None
    return getattr(error, "errno", None) or -1, str(error)


def _timeout(timeout_ms):
    if timeout_ms is None:
        return None
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, numbers.Real):
        raise TypeError("timeout_ms must be a number of milliseconds, not %s" % type(timeout_ms).__name__)
    if timeout_ms < 0:
        raise ValueError("timeout_ms must be >= 0, not %r" % (timeout_ms,))
    return float(timeout_ms)


class KafkaAdminClient:
    """Administers a Kafka cluster: topics, partitions, the cluster."""

    def __init__(self, **configs):
        settings, _ = admin_settings(configs)
        self.config = dict(configs)
        self._core = _core.Admin(settings)
        self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def close(self, timeout_ms=None):
        """Closes the client (closing twice is fine): every later call raises
        ``IllegalStateError``. If the brokers subscribed to the client's
        metrics, a last push is sent, waiting at most ``timeout_ms`` (default
        30 s) for it."""
        timeout_ms = _timeout(timeout_ms)
        self._closed = True
        self._core.close(timeout_ms)

    def client_instance_id(self, timeout_ms):
        """The ``uuid.UUID`` the brokers gave this client for its telemetry
        (KIP-714, Java's ``clientInstanceId``), waiting at most
        ``timeout_ms`` for it; ``None`` when none came in time or the
        client pushes no metrics (``enable_metrics_push=False``)."""
        self._check_open()
        if timeout_ms is None:
            raise TypeError("timeout_ms must be a number of milliseconds, not NoneType")
        found = self._core.client_instance_id(_timeout(timeout_ms))
        return None if found is None else uuid.UUID(bytes=found)

    def _check_open(self):
        if self._closed:
            raise Errors.IllegalStateError("KafkaAdminClient is closed")

    @staticmethod
    def _raise_first(outcomes, raise_errors):
        if raise_errors:
            for _, error in outcomes:
                if error is not None:
                    raise error

    def create_topics(self, new_topics, timeout_ms=None, validate_only=False, raise_errors=True,
                      wait_for_metadata=False):
        """Creates topics (``NewTopic`` objects, names, or ``{name: options}``):
        ``{'topics': [{'name', 'error_code', 'error_message', ...}]}``. Once
        created, every partition has a leader."""
        self._check_open()
        if validate_only and wait_for_metadata:
            raise ValueError("validate_only and wait_for_metadata are mutually exclusive")
        if isinstance(new_topics, dict):
            new_topics = [NewTopic(name, **(options or {})) for name, options in new_topics.items()]
        elif isinstance(new_topics, (str, NewTopic)):
            new_topics = [new_topics]
        topics = []
        for topic in new_topics:
            if isinstance(topic, str):
                topic = NewTopic(topic)
            if not isinstance(topic, NewTopic):
                raise TypeError("new_topics must hold NewTopic objects or names, not %s" % type(topic).__name__)
            topics.append(topic)
        specs = [(t.name, t.num_partitions, t.replication_factor,
                  {int(p): list(b) for p, b in t.replica_assignments.items()}, t.topic_configs) for t in topics]
        outcomes = self._core.create_topics(specs, bool(validate_only), _timeout(timeout_ms))
        self._raise_first(outcomes, raise_errors)
        by_name = {t.name: t for t in topics}
        result = []
        for name, error in outcomes:
            code, message = _error_fields(error)
            topic = by_name.get(name)
            result.append({
                "name": name,
                "error_code": code,
                "error_message": message,
                "num_partitions": topic.num_partitions if topic else -1,
                "replication_factor": topic.replication_factor if topic else -1,
            })
        return {"topics": result}

    def delete_topics(self, topics, timeout_ms=None, raise_errors=True):
        """Deletes topics by name: ``{'responses': [{'name', 'error_code',
        'error_message'}]}``."""
        self._check_open()
        if isinstance(topics, str):
            topics = [topics]
        topics = list(topics)
        for topic in topics:
            if not isinstance(topic, str):
                raise TypeError("topics must be a list of str, not holding %s" % type(topic).__name__)
        outcomes = self._core.delete_topics(topics, _timeout(timeout_ms))
        self._raise_first(outcomes, raise_errors)
        responses = []
        for name, error in outcomes:
            code, message = _error_fields(error)
            responses.append({"name": name, "error_code": code, "error_message": message})
        return {"responses": responses}

    def create_partitions(self, topic_partitions, timeout_ms=None, validate_only=False, raise_errors=True):
        """Grows topics: ``{name: total_count or NewPartitions or {'count': n,
        'assignments': [[broker]]}}``; ``{'results': [{'name', 'error_code',
        'error_message'}]}``."""
        self._check_open()
        if not isinstance(topic_partitions, dict):
            raise TypeError("topic_partitions must be a dict, not %s" % type(topic_partitions).__name__)
        increases = {}
        for name, spec in topic_partitions.items():
            if isinstance(spec, dict):
                spec = NewPartitions(spec.get("count"), spec.get("assignments"))
            elif not isinstance(spec, NewPartitions):
                spec = NewPartitions(spec)
            increases[name] = (spec.total_count, spec.new_assignments)
        outcomes = self._core.create_partitions(increases, bool(validate_only), _timeout(timeout_ms))
        self._raise_first(outcomes, raise_errors)
        results = []
        for name, error in outcomes:
            code, message = _error_fields(error)
            results.append({"name": name, "error_code": code, "error_message": message})
        return {"results": results}

    def list_topics(self):
        """The names of the cluster's topics."""
        self._check_open()
        return self._core.list_topics()

    def describe_topics(self, topics=None):
        """A dict per topic: name, is_internal, error_code and partitions
        (partition_index, leader_id, replica_nodes, isr_nodes,
        offline_replicas)."""
        self._check_open()
        if topics is None:
            topics = self._core.list_topics()
        found = self._core.describe_topics(list(topics))
        result = []
        for name, value in found.items():
            if isinstance(value, BaseException):
                code, message = _error_fields(value)
                result.append({"name": name, "error_code": code, "error_message": message,
                               "is_internal": False, "partitions": []})
                continue
            internal, partitions = value
            result.append({
                "name": name,
                "error_code": 0,
                "is_internal": internal,
                "partitions": [
                    {"error_code": 0, "partition_index": p, "leader_id": leader, "replica_nodes": replicas,
                     "isr_nodes": isr, "offline_replicas": offline}
                    for p, leader, replicas, isr, offline in partitions
                ],
            })
        return result

    def describe_cluster(self):
        """``{'cluster_id', 'controller_id', 'brokers': [{'broker_id', 'host',
        'port', 'rack'}]}``."""
        self._check_open()
        cluster_id, controller_id, brokers = self._core.describe_cluster()
        return {
            "cluster_id": cluster_id,
            "controller_id": controller_id,
            "brokers": [{"broker_id": b, "host": h, "port": p, "rack": r} for b, h, p, r in brokers],
        }

    def delete_records(self, records_to_delete, timeout_ms=None, partition_leader_id=None):
        """Deletes the records before the given offset of each partition
        (``{TopicPartition: offset}``; -1 is the partition's end):
        ``{TopicPartition: {'partition_index', 'low_watermark', 'error_code'}}``.
        Raises the first partition's error."""
        self._check_open()
        if not isinstance(records_to_delete, dict):
            raise TypeError("records_to_delete must be a dict of {TopicPartition: int}, not %s"
                            % type(records_to_delete).__name__)
        before = []
        for tp, offset in records_to_delete.items():
            if not (isinstance(tp, tuple) and len(tp) == 2 and isinstance(tp[0], str)
                    and isinstance(tp[1], numbers.Integral)):
                raise TypeError("records_to_delete keys must be TopicPartition, not %r" % (tp,))
            if isinstance(offset, bool) or not isinstance(offset, numbers.Integral):
                raise TypeError("records_to_delete values must be int offsets, not %s" % type(offset).__name__)
            if offset < -1:
                raise ValueError("records_to_delete: the offset of %s must be >= -1, not %d" % (tp, offset))
            before.append((tp[0], int(tp[1]), int(offset)))
        from ferrokafka.structs import TopicPartition

        result = {}
        for topic, partition, outcome in self._core.delete_records(before, _timeout(timeout_ms)):
            if isinstance(outcome, BaseException):
                raise outcome
            result[TopicPartition(topic, partition)] = {
                "partition_index": partition, "low_watermark": outcome, "error_code": 0}
        return result

    # -- configs ---------------------------------------------------------

    def describe_configs(self, config_resources, include_synonyms=False, config_filter="modified"):
        """The configs of ``ConfigResource`` objects: ``{resource_type:
        {resource_name: {key: {'value', 'read_only', 'config_source',
        'is_sensitive', 'config_type', 'synonyms'}}}}`` (``resource_type`` as
        ``'topic'``, ``'broker'``, ...). ``config_filter``: ``'modified'``
        (keys not at their defaults), ``'dynamic'`` (keys alter_configs can
        change) or ``'all'``; a resource's ``configs`` names the keys wanted."""
        self._check_open()
        config_filter = getattr(config_filter, "name", config_filter)
        if not isinstance(config_filter, str) or config_filter.lower() not in ("modified", "dynamic", "all"):
            raise ValueError("config_filter must be 'modified', 'dynamic' or 'all', not %r" % (config_filter,))
        config_filter = config_filter.lower()
        resources = _config_resources(config_resources)
        wanted = {(r.resource_type.value, r.name): r.configs for r in resources}
        found = self._core.describe_configs([(r.resource_type.value, r.name) for r in resources],
                                            bool(include_synonyms))
        result = {}
        for code, name, rows in found:
            if isinstance(rows, BaseException):
                raise rows
            keys = wanted.get((code, name))
            configs = {}
            for key, value, source, sensitive, read_only, config_type, synonyms, _doc in rows:
                if keys is not None and key not in keys:
                    continue
                if config_filter == "modified" and source == "DEFAULT_CONFIG":
                    continue
                if config_filter == "dynamic" and read_only:
                    continue
                entry = {"value": value, "read_only": read_only, "config_source": source,
                         "is_sensitive": sensitive, "config_type": config_type}
                if include_synonyms:
                    entry["synonyms"] = [{"name": n, "value": v, "source": src} for n, v, src in synonyms]
                configs[key] = entry
            result.setdefault(ConfigResourceType(code).name.lower(), {})[name] = configs
        return result

    def alter_configs(self, config_resources, validate_only=False, raise_on_unknown=True, incremental=None):
        """Sets the ``configs`` ({key: value}; a value of ``None`` deletes the
        key, back to its default) of ``ConfigResource`` objects, changing
        only those keys: ``{resource_type: {resource_name: NoError or the
        error class}}``."""
        self._check_open()
        resources = _config_resources(config_resources)
        changes = []
        for r in resources:
            if not isinstance(r.configs, dict) or not r.configs:
                raise ValueError("config_resources: %s %r has no configs to set" % (r.resource_type.name, r.name))
            changes.append((r.resource_type.value, r.name,
                            [(str(k), None if v is None else str(v)) for k, v in r.configs.items()]))
        outcomes = self._core.incremental_alter_configs(changes, bool(validate_only))
        result = {}
        for code, name, error in outcomes:
            result.setdefault(ConfigResourceType(code).name.lower(), {})[name] = (
                Errors.NoError if error is None else type(error))
        return result

    # -- groups ----------------------------------------------------------

    def list_groups(self, broker_ids=None, states_filter=None, types_filter=None):
        """The cluster's groups: a list of dicts with ``group_id``,
        ``protocol_type``, ``group_state`` and ``group_type``, filtered by
        state (``['Stable', 'Empty']``) and type (``['consumer', 'classic']``)."""
        self._check_open()
        states = [_filter_name("states_filter", s) for s in (states_filter or [])]
        types = [_filter_name("types_filter", t) for t in (types_filter or [])]
        return [
            {"group_id": g, "protocol_type": p, "group_state": state, "group_type": kind}
            for g, p, state, kind in self._core.list_groups(states, types)
        ]

    def list_consumer_groups(self, broker_ids=None, states_filter=None):
        """kafka-python 2's listing: ``[(group_id, protocol_type)]``."""
        return [(g["group_id"], g["protocol_type"]) for g in self.list_groups(broker_ids, states_filter)]

    def delete_groups(self, group_ids, group_coordinator_id=None):
        """Deletes groups: ``[(group_id, error class)]`` (``NoError`` when deleted)."""
        self._check_open()
        group_ids = _names("group_ids", group_ids)
        return [(group, Errors.NoError if error is None else type(error))
                for group, error in self._core.delete_groups(group_ids)]

    delete_consumer_groups = delete_groups

    def list_group_offsets(self, group_specs):
        """Committed offsets: ``group_specs`` maps group ids to a list of
        ``TopicPartition`` (or ``None`` for all), or is a group id or a list
        of them; ``{group_id: {TopicPartition: OffsetAndMetadata}}``. Raises
        the first group's error."""
        self._check_open()
        if isinstance(group_specs, str):
            group_specs = {group_specs: None}
        elif isinstance(group_specs, (list, tuple, set)):
            group_specs = {g: None for g in _names("group_specs", group_specs)}
        elif not isinstance(group_specs, dict):
            raise TypeError("group_specs must be a dict, a group id or a list of them, not %s"
                            % type(group_specs).__name__)
        result = {}
        for group, partitions in group_specs.items():
            if partitions is not None:
                partitions = [(tp[0], tp[1]) for tp in partitions]
            found = self._core.list_group_offsets([group], partitions)[group]
            if isinstance(found, BaseException):
                raise found
            result[group] = found
        return result

    def alter_group_offsets(self, group_id, offsets, group_coordinator_id=None):
        """Sets the committed offsets ({TopicPartition: OffsetAndMetadata}) of
        a group with no active members: ``{TopicPartition: NoError or the
        error class}``."""
        self._check_open()
        if not isinstance(group_id, str):
            raise TypeError("group_id must be a str, not %s" % type(group_id).__name__)
        from ferrokafka.producer.kafka import _offset_list
        from ferrokafka.structs import TopicPartition

        rows = [(t, p, o, m) for t, p, o, m, _ in _offset_list(offsets)]
        return {TopicPartition(t, p): Errors.NoError if error is None else type(error)
                for t, p, error in self._core.alter_group_offsets(group_id, rows)}

    def describe_groups(self, group_ids, group_coordinator_id=None, include_authorized_operations=False):
        """``{group_id: {'group_id', 'group_state', 'protocol_type',
        'protocol_data', 'group_type', 'coordinator_id', 'members': [{'member_id',
        'group_instance_id', 'client_id', 'client_host', 'rack',
        'subscribed_topics', 'assignment': [TopicPartition]}]}}``. Raises the
        first group's error."""
        self._check_open()
        from ferrokafka.structs import TopicPartition

        found = self._core.describe_groups(_names("group_ids", group_ids))
        for description in found.values():
            if isinstance(description, BaseException):
                raise description
            for member in description["members"]:
                member["assignment"] = [TopicPartition(t, p) for t, p in member["assignment"]]
        return found

    def describe_consumer_groups(self, group_ids, group_coordinator_id=None, include_authorized_operations=False):
        """kafka-python 2's name: a list of ``describe_groups`` dicts, in order."""
        found = self.describe_groups(group_ids)
        return [found[g] for g in _names("group_ids", group_ids)]

    def list_consumer_group_offsets(self, group_id, group_coordinator_id=None, partitions=None):
        """kafka-python 2's form: ``{TopicPartition: OffsetAndMetadata}`` of one group."""
        if not isinstance(group_id, str):
            raise TypeError("group_id must be a str, not %s" % type(group_id).__name__)
        return self.list_group_offsets({group_id: partitions})[group_id]


    # -- ACLs ------------------------------------------------------------

    def describe_acls(self, acl_filter):
        """The ACLs matching ``acl_filter`` (an ``ACLFilter``): ``([ACL],
        NoError)``; raises the broker's error (``SecurityDisabledError`` when
        the cluster has no authorizer)."""
        self._check_open()
        if not isinstance(acl_filter, ACLFilter):
            raise IllegalArgumentTypeError("acl_filter must be an ACLFilter, not %s" % type(acl_filter).__name__)
        acl_filter.validate()
        rows = self._core.describe_acls(acl_filter._row(), None)
        return [acl_from_row(row) for row in rows], Errors.NoError

    def create_acls(self, acls):
        """Creates ACLs (a list of ``ACL``): ``{'succeeded': [ACL], 'failed':
        [error class]}``."""
        self._check_open()
        acls = _objects("acls", acls, ACL)
        outcomes = self._core.create_acls([acl._row() for acl in acls], None)
        result = {"succeeded": [], "failed": []}
        for acl, error in zip(acls, outcomes):
            if error is None:
                result["succeeded"].append(acl)
            else:
                result["failed"].append(type(error))
        return result

    def delete_acls(self, acl_filters):
        """Deletes the ACLs matching each ``ACLFilter``: a list of ``(filter,
        [deleted ACL], NoError or the error class)``, in the filters'
        order."""
        self._check_open()
        acl_filters = _objects("acl_filters", acl_filters, ACLFilter)
        outcomes = self._core.delete_acls([f._row() for f in acl_filters], None)
        result = []
        for acl_filter, outcome in zip(acl_filters, outcomes):
            if isinstance(outcome, BaseException):
                result.append((acl_filter, [], type(outcome)))
            else:
                result.append((acl_filter, [acl_from_row(row) for row in outcome], Errors.NoError))
        return result

    # -- SCRAM credentials -----------------------------------------------

    def describe_user_scram_credentials(self, users=None):
        """``{user: {'error': None or a message, 'credential_infos':
        [{'mechanism': ScramMechanism, 'iterations': int}]}}`` of ``users``
        (``None``: every user with a credential)."""
        self._check_open()
        if users is not None:
            users = _names("users", users)
        found = self._core.describe_user_scram_credentials(users)
        result = {}
        for user, value in found.items():
            if isinstance(value, BaseException):
                result[user] = {"error": str(value), "credential_infos": []}
            else:
                result[user] = {
                    "error": None,
                    "credential_infos": [
                        {"mechanism": ScramMechanism(m), "iterations": i} for m, i in value
                    ],
                }
        return result

    def alter_user_scram_credentials(self, alterations):
        """Applies ``UserScramCredentialUpsertion`` and
        ``UserScramCredentialDeletion`` objects: ``{user: None or the error
        message}``."""
        self._check_open()
        changes = []
        for alteration in _objects("alterations", alterations,
                                    (UserScramCredentialDeletion, UserScramCredentialUpsertion)):
            if isinstance(alteration, UserScramCredentialDeletion):
                changes.append((alteration.user, int(alteration.mechanism), None))
            else:
                changes.append((alteration.user, int(alteration.mechanism),
                                (alteration.iterations, alteration.salt, alteration.salted_password)))
        return {user: None if error is None else str(error)
                for user, error in self._core.alter_user_scram_credentials(changes).items()}


def _objects(what, items, kinds):
    if isinstance(items, (str, bytes)) or not hasattr(items, "__iter__"):
        raise IllegalArgumentTypeError("%s must be a list, not %s" % (what, type(items).__name__))
    items = list(items)
    names = kinds.__name__ if isinstance(kinds, type) else " or ".join(k.__name__ for k in kinds)
    for item in items:
        if not isinstance(item, kinds):
            raise IllegalArgumentTypeError("%s must hold %s objects, not %s" % (what, names, type(item).__name__))
        validate = getattr(item, "validate", None)
        if validate is not None:
            validate()
    return items

def _names(what, names):
    if isinstance(names, str):
        return [names]
    names = list(names)
    for name in names:
        if not isinstance(name, str):
            raise TypeError("%s must be a list of str, not holding %s" % (what, type(name).__name__))
    return names


def _filter_name(what, value):
    name = getattr(value, "name", value)
    if not isinstance(name, str):
        raise TypeError("%s must hold str, not %s" % (what, type(value).__name__))
    return name


def _config_resources(config_resources):
    if isinstance(config_resources, ConfigResource):
        config_resources = [config_resources]
    resources = list(config_resources)
    for resource in resources:
        if not isinstance(resource, ConfigResource):
            raise TypeError("config_resources must hold ConfigResource objects, not %s" % type(resource).__name__)
    return resources
