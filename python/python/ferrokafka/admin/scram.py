"""SCRAM credential types of ``kafka.admin``: the mechanisms, and the
changes ``alter_user_scram_credentials`` applies."""

import enum
import numbers
import os

from ferrokafka import _core
from ferrokafka.admin.acl import IllegalArgumentTypeError, IllegalArgumentValueError

__all__ = ["ScramMechanism", "UserScramCredentialDeletion", "UserScramCredentialUpsertion"]


class ScramMechanism(enum.IntEnum):
    """A SCRAM mechanism, by its Kafka code."""

    UNKNOWN = 0
    SCRAM_SHA_256 = 1
    SCRAM_SHA_512 = 2

    @property
    def hash_name(self):
        """The ``hashlib`` name of the mechanism's hash."""
        if self is ScramMechanism.UNKNOWN:
            raise ValueError("UNKNOWN has no hash")
        return "sha256" if self is ScramMechanism.SCRAM_SHA_256 else "sha512"


def _mechanism(value):
    if isinstance(value, ScramMechanism):
        return value
    if isinstance(value, str):
        try:
            return ScramMechanism[value.upper().replace("-", "_")]
        except KeyError:
            raise IllegalArgumentValueError("mechanism must be SCRAM-SHA-256 or SCRAM-SHA-512, not %r" % value) from None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        try:
            return ScramMechanism(value)
        except ValueError:
            raise IllegalArgumentValueError("mechanism must be 1 (SCRAM-SHA-256) or 2 (SCRAM-SHA-512), not %r" % value) from None
    raise IllegalArgumentTypeError("mechanism must be a ScramMechanism, a name or a code, not %s" % type(value).__name__)


def _user(value):
    if not isinstance(value, str) or not value:
        raise IllegalArgumentTypeError("user must be a non-empty str, not %r" % (value,))
    return value


class UserScramCredentialDeletion:
    """Deletes ``user``'s credential for ``mechanism`` (a ``ScramMechanism``,
    its name such as ``'SCRAM-SHA-256'``, or its code)."""

    def __init__(self, user, mechanism):
        self.user = _user(user)
        self.mechanism = _mechanism(mechanism)

    def __repr__(self):
        return "UserScramCredentialDeletion(%s, %s)" % (self.user, self.mechanism.name)


class UserScramCredentialUpsertion:
    """Adds or replaces ``user``'s credential for ``mechanism``. The
    password (str or UTF-8 bytes) is salted here, with ``salt`` (random
    when ``None``) over ``iterations`` (default 4096); only the salted form
    is kept and sent."""

    DEFAULT_ITERATIONS = 4096

    def __init__(self, user, mechanism, password, iterations=None, salt=None):
        self.user = _user(user)
        self.mechanism = _mechanism(mechanism)
        if self.mechanism is ScramMechanism.UNKNOWN:
            raise IllegalArgumentValueError("mechanism must not be UNKNOWN")
        if iterations is None:
            iterations = self.DEFAULT_ITERATIONS
        if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral):
            raise IllegalArgumentTypeError("iterations must be an int, not %s" % type(iterations).__name__)
        if iterations < 1:
            raise IllegalArgumentValueError("iterations must be positive, not %d" % iterations)
        self.iterations = int(iterations)
        if salt is None:
            salt = os.urandom(32)
        if not isinstance(salt, (bytes, bytearray)) or not salt:
            raise IllegalArgumentTypeError("salt must be non-empty bytes or None, not %r" % (salt,))
        self.salt = bytes(salt)
        if isinstance(password, (bytes, bytearray)):
            try:
                password = bytes(password).decode("utf-8")
            except UnicodeDecodeError:
                raise IllegalArgumentValueError("password must be a str or UTF-8 bytes") from None
        if not isinstance(password, str):
            raise IllegalArgumentTypeError("password must be a str or bytes, not %s" % type(password).__name__)
        self.salted_password = bytes(_core.scram_salted_password(int(self.mechanism), password, self.salt,
                                                                 self.iterations))

    def __repr__(self):
        return "UserScramCredentialUpsertion(%s, %s, iterations=%d)" % (
            self.user, self.mechanism.name, self.iterations)
