"""ACL types of ``kafka.admin``: what an access control entry applies to,
who it lets do what, and the filters that select entries to describe or
delete. The enum values are Kafka's wire codes."""

import enum

from ferrokafka import errors as Errors

__all__ = [
    "ACL",
    "ACLFilter",
    "ACLOperation",
    "ACLPermissionType",
    "ACLResourcePatternType",
    "ResourcePattern",
    "ResourcePatternFilter",
    "ResourceType",
]


class IllegalArgumentTypeError(Errors.IllegalArgumentError, TypeError):
    """An argument of an ACL object has the wrong type (kafka-python raises
    ``IllegalArgumentError``; this is also a ``TypeError``)."""


class IllegalArgumentValueError(Errors.IllegalArgumentError, ValueError):
    """An argument of an ACL object has a value it cannot take (also a
    ``ValueError``)."""


class ResourceType(enum.IntEnum):
    """The kind of resource an ACL protects (``ANY`` in filters only)."""

    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


class ACLOperation(enum.IntEnum):
    """What an ACL allows or denies (``ANY`` in filters only)."""

    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14


class ACLPermissionType(enum.IntEnum):
    """Whether an ACL allows or denies (``ANY`` in filters only)."""

    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


class ACLResourcePatternType(enum.IntEnum):
    """How a pattern's name matches resources (KIP-290): ``LITERAL`` the name
    itself (or ``*``, every one), ``PREFIXED`` every name starting with it;
    in filters also ``ANY`` and ``MATCH`` (every pattern that applies to the
    name)."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


def _member(enum_type, value, name):
    if isinstance(value, enum_type):
        return value
    raise IllegalArgumentTypeError("%s must be a %s, not %r" % (name, enum_type.__name__, value))


class ResourcePatternFilter:
    """Selects resource patterns: a type (or ``ANY``), a name (``None``: any)
    and a pattern type (``ANY``, ``MATCH``, ``LITERAL`` or ``PREFIXED``)."""

    def __init__(self, resource_type, resource_name, pattern_type):
        self.resource_type = _member(ResourceType, resource_type, "resource_type")
        if resource_name is not None and not isinstance(resource_name, str):
            raise IllegalArgumentTypeError("resource_name must be a str or None, not %s" % type(resource_name).__name__)
        self.resource_name = resource_name
        self.pattern_type = _member(ACLResourcePatternType, pattern_type, "pattern_type")
        self.validate()

    def validate(self):
        """Raises when a field cannot be part of this kind of pattern."""
        _member(ResourceType, self.resource_type, "resource_type")
        _member(ACLResourcePatternType, self.pattern_type, "pattern_type")

    def _key(self):
        return (self.resource_type, self.resource_name, self.pattern_type)

    def __repr__(self):
        return "<%s type=%s, name=%s, pattern=%s>" % (
            type(self).__name__, self.resource_type.name, self.resource_name, self.pattern_type.name)

    def __eq__(self, other):
        if not isinstance(other, ResourcePatternFilter):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


class ResourcePattern(ResourcePatternFilter):
    """One resource pattern an ACL applies to: a concrete type, a name, and
    ``LITERAL`` (the default) or ``PREFIXED``."""

    def __init__(self, resource_type, resource_name, pattern_type=ACLResourcePatternType.LITERAL):
        super().__init__(resource_type, resource_name, pattern_type)

    def validate(self):
        super().validate()
        if self.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
            raise IllegalArgumentValueError("resource_type of a ResourcePattern cannot be %s" % self.resource_type.name)
        if self.pattern_type not in (ACLResourcePatternType.LITERAL, ACLResourcePatternType.PREFIXED):
            raise IllegalArgumentValueError("pattern_type of a ResourcePattern must be LITERAL or PREFIXED, not %s"
                                % self.pattern_type.name)
        if not isinstance(self.resource_name, str):
            raise IllegalArgumentTypeError("resource_name of a ResourcePattern must be a str, not %s"
                               % type(self.resource_name).__name__)


class ACLFilter:
    """Selects ACLs (``describe_acls``, ``delete_acls``): a principal and a
    host (``None``: any), an operation and a permission type (or ``ANY``),
    and a ``ResourcePatternFilter``."""

    def __init__(self, principal, host, operation, permission_type, resource_pattern):
        self.principal = principal
        self.host = host
        self.operation = operation
        self.permission_type = permission_type
        self.resource_pattern = resource_pattern
        self.validate()

    def validate(self):
        """Raises when a field has the wrong type or value."""
        for name in ("principal", "host"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise IllegalArgumentTypeError("%s must be a str or None, not %s" % (name, type(value).__name__))
        _member(ACLOperation, self.operation, "operation")
        _member(ACLPermissionType, self.permission_type, "permission_type")
        if not isinstance(self.resource_pattern, ResourcePatternFilter):
            raise IllegalArgumentTypeError("resource_pattern must be a ResourcePatternFilter, not %s"
                               % type(self.resource_pattern).__name__)

    def _key(self):
        return (self.principal, self.host, self.operation, self.permission_type, self.resource_pattern)

    def _row(self):
        pattern = self.resource_pattern
        return (int(pattern.resource_type), pattern.resource_name, int(pattern.pattern_type),
                self.principal, self.host, int(self.operation), int(self.permission_type))

    def __repr__(self):
        return "<%s principal=%s, resource=%r, operation=%s, type=%s, host=%s>" % (
            type(self).__name__, self.principal, self.resource_pattern, self.operation.name,
            self.permission_type.name, self.host)

    def __eq__(self, other):
        if not isinstance(other, ACLFilter):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())


class ACL(ACLFilter):
    """One access control entry (``create_acls``): ``principal`` (as
    ``User:alice``) may or may not (``permission_type``) do ``operation``
    from ``host`` (``*``: any) on the resources of ``resource_pattern``."""

    def validate(self):
        super().validate()
        for name in ("principal", "host"):
            if not isinstance(getattr(self, name), str):
                raise IllegalArgumentTypeError("%s of an ACL must be a str, not %s" % (name, type(getattr(self, name)).__name__))
        if self.operation in (ACLOperation.ANY, ACLOperation.UNKNOWN):
            raise IllegalArgumentValueError("operation of an ACL cannot be %s" % self.operation.name)
        if self.permission_type in (ACLPermissionType.ANY, ACLPermissionType.UNKNOWN):
            raise IllegalArgumentValueError("permission_type of an ACL cannot be %s" % self.permission_type.name)
        if not isinstance(self.resource_pattern, ResourcePattern):
            raise IllegalArgumentTypeError("resource_pattern of an ACL must be a ResourcePattern, not %s"
                               % type(self.resource_pattern).__name__)


def _enum_or_unknown(enum_type, code):
    try:
        return enum_type(code)
    except ValueError:
        return enum_type.UNKNOWN


def acl_from_row(row):
    """An ``ACL`` from the Rust client's ``(resource_type, name,
    pattern_type, principal, host, operation, permission_type)``, without
    the checks (the broker may report patterns this client would refuse)."""
    resource_type, name, pattern_type, principal, host, operation, permission = row
    pattern = ResourcePattern.__new__(ResourcePattern)
    pattern.resource_type = _enum_or_unknown(ResourceType, resource_type)
    pattern.resource_name = name
    pattern.pattern_type = _enum_or_unknown(ACLResourcePatternType, pattern_type)
    acl = ACL.__new__(ACL)
    acl.principal = principal
    acl.host = host
    acl.operation = _enum_or_unknown(ACLOperation, operation)
    acl.permission_type = _enum_or_unknown(ACLPermissionType, permission)
    acl.resource_pattern = pattern
    return acl
