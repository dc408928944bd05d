"""KafkaAdminClient's ACLs and SCRAM credentials against the real broker
(`cargo xtask test` starts it with the StandardAuthorizer; against a
broker without an authorizer the ACL tests skip)."""

import time
import uuid

import pytest

from ferrokafka import errors
from ferrokafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)


@pytest.fixture
def authorizer(admin):
    """The admin client, when the broker has an authorizer."""
    anything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                         ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    try:
        admin.describe_acls(anything)
    except errors.SecurityDisabledError:
        pytest.skip("the broker has no authorizer")
    return admin


def acls_when(admin, acl_filter, wanted, within_s=15):
    """The ACLs matching ``acl_filter`` once they are the set ``wanted`` (a
    broker answers describes from its copy of the metadata, which follows
    the controller shortly)."""
    deadline = time.monotonic() + within_s
    while True:
        found, error = admin.describe_acls(acl_filter)
        assert error is errors.NoError
        if set(found) == wanted or time.monotonic() >= deadline:
            return found


def test_acls_are_created_described_and_deleted(authorizer):
    topic = "acl-%s" % uuid.uuid4().hex[:8]
    alice = "User:alice-%s" % uuid.uuid4().hex[:6]
    read = ACL(alice, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
               ResourcePattern(ResourceType.TOPIC, topic))
    write = ACL(alice, "10.0.0.1", ACLOperation.WRITE, ACLPermissionType.DENY,
                ResourcePattern(ResourceType.TOPIC, topic[:6], ACLResourcePatternType.PREFIXED))
    group = ACL(alice, "*", ACLOperation.READ, ACLPermissionType.ALLOW,
                ResourcePattern(ResourceType.GROUP, "g-" + topic))

    created = authorizer.create_acls([read, write, group])
    assert created == {"succeeded": [read, write, group], "failed": []}

    of_alice = ACLFilter(alice, None, ACLOperation.ANY, ACLPermissionType.ANY,
                         ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    found = acls_when(authorizer, of_alice, {read, write, group})
    assert sorted(found, key=repr) == sorted([read, write, group], key=repr)
    described = {acl: acl for acl in found}[write]
    assert described.resource_pattern.pattern_type is ACLResourcePatternType.PREFIXED
    assert described.permission_type is ACLPermissionType.DENY and described.host == "10.0.0.1"

    # MATCH: every pattern that applies to the topic, the prefixed one too.
    on_topic = ACLFilter(alice, None, ACLOperation.ANY, ACLPermissionType.ANY,
                         ResourcePatternFilter(ResourceType.TOPIC, topic, ACLResourcePatternType.MATCH))
    assert set(acls_when(authorizer, on_topic, {read, write})) == {read, write}

    topics_only = ACLFilter(alice, None, ACLOperation.ANY, ACLPermissionType.ANY,
                            ResourcePatternFilter(ResourceType.TOPIC, None, ACLResourcePatternType.ANY))
    nothing = ACLFilter("User:nobody-%s" % uuid.uuid4().hex[:6], None, ACLOperation.ANY, ACLPermissionType.ANY,
                        ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    deleted = authorizer.delete_acls([topics_only, nothing])
    assert [(f, e) for f, _, e in deleted] == [(topics_only, errors.NoError), (nothing, errors.NoError)]
    assert set(deleted[0][1]) == {read, write}
    assert deleted[1][1] == []
    assert acls_when(authorizer, of_alice, {group}) == [group]
    authorizer.delete_acls([of_alice])
    assert acls_when(authorizer, of_alice, set()) == []


def test_a_refused_acl_fails_alone(authorizer):
    alice = "User:alice-%s" % uuid.uuid4().hex[:6]
    good = ACL(alice, "*", ACLOperation.DESCRIBE, ACLPermissionType.ALLOW,
               ResourcePattern(ResourceType.TOPIC, "t-" + uuid.uuid4().hex[:6]))
    # A cluster ACL must name the cluster resource "kafka-cluster".
    bad = ACL(alice, "*", ACLOperation.ALTER, ACLPermissionType.ALLOW, ResourcePattern(ResourceType.CLUSTER, "nope"))
    created = authorizer.create_acls([good, bad])
    assert created["succeeded"] == [good]
    assert len(created["failed"]) == 1 and issubclass(created["failed"][0], errors.KafkaError)
    authorizer.delete_acls([ACLFilter(alice, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                      ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))])


def test_acl_objects_refuse_bad_arguments_by_name():
    topic = ResourcePattern(ResourceType.TOPIC, "t")
    with pytest.raises(TypeError, match="operation"):
        ACL("User:a", "*", "READ", ACLPermissionType.ALLOW, topic)
    with pytest.raises(errors.IllegalArgumentError, match="operation"):
        ACL("User:a", "*", ACLOperation.ANY, ACLPermissionType.ALLOW, topic)
    with pytest.raises(ValueError, match="permission_type"):
        ACL("User:a", "*", ACLOperation.READ, ACLPermissionType.ANY, topic)
    with pytest.raises(TypeError, match="principal"):
        ACL(None, "*", ACLOperation.READ, ACLPermissionType.ALLOW, topic)
    with pytest.raises(ValueError, match="resource_type"):
        ResourcePattern(ResourceType.ANY, "t")
    with pytest.raises(ValueError, match="pattern_type"):
        ResourcePattern(ResourceType.TOPIC, "t", ACLResourcePatternType.MATCH)
    with pytest.raises(TypeError, match="resource_pattern"):
        ACL("User:a", "*", ACLOperation.READ, ACLPermissionType.ALLOW,
            ResourcePatternFilter(ResourceType.TOPIC, "t", ACLResourcePatternType.ANY))
    # A filter may hold what an ACL may not.
    ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
              ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))


def test_admin_acl_calls_refuse_bad_arguments(admin):
    with pytest.raises(TypeError, match="acl_filter"):
        admin.describe_acls("everything")
    with pytest.raises(TypeError, match="acls"):
        admin.create_acls([ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                                     ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))])
    with pytest.raises(TypeError, match="acl_filters"):
        admin.delete_acls("x")


def described_when(admin, user, wanted, within_s=15):
    """``user``'s credential infos (sorted by mechanism) once they are
    ``wanted``: a change goes through the controller, and a broker answers
    describes from its own copy of the metadata, which follows shortly."""
    deadline = time.monotonic() + within_s
    while True:
        found = admin.describe_user_scram_credentials([user])[user]
        infos = sorted(found["credential_infos"], key=lambda i: i["mechanism"])
        if infos == wanted or time.monotonic() >= deadline:
            return found["error"], infos


def test_scram_credentials_are_upserted_described_and_deleted(admin):
    user = "scram-%s" % uuid.uuid4().hex[:8]
    other = "scram-none-%s" % uuid.uuid4().hex[:8]
    upsert = UserScramCredentialUpsertion(user, "SCRAM-SHA-256", "secret", iterations=8192, salt=b"fixed-salt")
    assert len(upsert.salted_password) == 32
    assert upsert.salted_password == UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_256, b"secret",
                                                                  iterations=8192, salt=b"fixed-salt").salted_password
    assert admin.alter_user_scram_credentials([
        upsert,
        UserScramCredentialUpsertion(user, ScramMechanism.SCRAM_SHA_512, "secret"),
    ]) == {user: None}

    both = [
        {"mechanism": ScramMechanism.SCRAM_SHA_256, "iterations": 8192},
        {"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 4096},
    ]
    assert described_when(admin, user, both) == (None, both)
    described = admin.describe_user_scram_credentials([user, other])
    assert described[other]["error"] and described[other]["credential_infos"] == []
    assert user in admin.describe_user_scram_credentials()

    outcome = admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, 1),
                                                  UserScramCredentialDeletion(other, "SCRAM-SHA-512")])
    assert outcome[user] is None and outcome[other]  # nothing to delete for the other user
    left = [{"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 4096}]
    assert described_when(admin, user, left) == (None, left)
    admin.alter_user_scram_credentials([UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)])


def test_scram_objects_refuse_bad_arguments_by_name(admin):
    with pytest.raises(ValueError, match="mechanism"):
        UserScramCredentialUpsertion("u", "SCRAM-MD5", "p")
    with pytest.raises(ValueError, match="mechanism"):
        UserScramCredentialUpsertion("u", ScramMechanism.UNKNOWN, "p")
    with pytest.raises(TypeError, match="password"):
        UserScramCredentialUpsertion("u", 1, 1234)
    with pytest.raises(TypeError, match="iterations"):
        UserScramCredentialUpsertion("u", 1, "p", iterations="many")
    with pytest.raises(TypeError, match="user"):
        UserScramCredentialDeletion(None, 1)
    with pytest.raises(TypeError, match="alterations"):
        admin.alter_user_scram_credentials(["u"])
