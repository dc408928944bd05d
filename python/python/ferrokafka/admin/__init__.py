"""``kafka.admin``: KafkaAdminClient and the objects it takes."""

from ferrokafka.admin.acl import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from ferrokafka.admin.client import (
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    NewPartitions,
    NewTopic,
)
from ferrokafka.admin.scram import ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion

__all__ = [
    "KafkaAdminClient", "NewTopic", "NewPartitions", "ConfigResource", "ConfigResourceType",
    "ACL", "ACLFilter", "ACLOperation", "ACLPermissionType", "ACLResourcePatternType",
    "ResourcePattern", "ResourcePatternFilter", "ResourceType",
    "ScramMechanism", "UserScramCredentialDeletion", "UserScramCredentialUpsertion",
]
