"""kafka-python's exceptions (``kafka.errors``): ``KafkaError`` and the named
errors, each with ``retriable`` (and ``invalid_metadata``); a broker's error
code is a ``BrokerResponseError`` subclass with ``errno``, ``message`` (the
Kafka name of the code) and ``description``.
"""


from ferrokafka import _core


class KafkaError(RuntimeError):
    """The root of ferrokafka's (and kafka-python's) errors."""

    retriable = False
    # whether the client should refresh its metadata before retrying
    invalid_metadata = False

    def __str__(self):
        if not self.args:
            return self.__class__.__name__
        return "{0}: {1}".format(self.__class__.__name__, super().__str__())

    def __eq__(self, other):
        return self.__class__ == other.__class__ and self.args == other.args

    __hash__ = RuntimeError.__hash__


class RetriableError(KafkaError):
    retriable = True


class InvalidMetadataError(RetriableError):
    invalid_metadata = True


class Cancelled(RetriableError):
    pass


class CommitFailedError(KafkaError):
    def __init__(self, *args):
        if not args:
            args = (
                "Commit cannot be completed since the group has already"
                " rebalanced and assigned the partitions to another member.",
            )
        super().__init__(*args)


class IllegalArgumentError(KafkaError):
    pass


class IllegalStateError(KafkaError):
    pass


class KafkaConfigurationError(KafkaError):
    pass


class KafkaConnectionError(InvalidMetadataError):
    pass


class KafkaProtocolError(KafkaError):
    pass


class CorrelationIdError(RetriableError, KafkaProtocolError):
    pass


class InvalidReceiveError(KafkaProtocolError):
    pass


class KafkaTimeoutError(RetriableError):
    pass


class MetadataEmptyBrokerList(RetriableError):
    pass


class NoOffsetForPartitionError(KafkaError):
    pass


class LogTruncationError(KafkaError):
    pass


class NodeNotReadyError(RetriableError):
    pass


class UnknownBrokerIdError(KafkaError):
    pass


class QuotaViolationError(KafkaError):
    pass


class StaleMetadata(InvalidMetadataError):
    pass


class TooManyInFlightRequests(RetriableError):
    pass


class UnrecognizedBrokerVersion(KafkaError):
    pass


class UnsupportedCodecError(KafkaError):
    pass


class TransactionAbortedError(KafkaError):
    pass


class BrokerResponseError(KafkaError):
    """An error code a broker answered."""

    errno = None
    message = None
    description = None

    def __str__(self):
        return "[Error {0}] {1}".format(self.errno, super().__str__())


class UnknownError(BrokerResponseError):
    errno = -1
    message = "UNKNOWN_SERVER_ERROR"
    description = "The server experienced an unexpected error when processing the request."


class NoError(BrokerResponseError):
    errno = 0
    message = "NONE"
    description = "No error--it worked!"


class AuthorizationError(BrokerResponseError):
    pass


# kafka-python's class name of each error code, and its base: M for
# InvalidMetadataError, R for RetriableError, A for AuthorizationError.
_NAMES = [
    (1, "OffsetOutOfRangeError", ""),
    (2, "CorruptRecordError", ""),
    (3, "UnknownTopicOrPartitionError", "M"),
    (4, "InvalidFetchRequestError", ""),
    (5, "LeaderNotAvailableError", "M"),
    (6, "NotLeaderForPartitionError", "M"),
    (7, "RequestTimedOutError", "R"),
    (8, "BrokerNotAvailableError", ""),
    (9, "ReplicaNotAvailableError", "M"),
    (10, "MessageSizeTooLargeError", ""),
    (11, "StaleControllerEpochError", ""),
    (12, "OffsetMetadataTooLargeError", ""),
    (13, "NetworkExceptionError", "M"),
    (14, "CoordinatorLoadInProgressError", "R"),
    (15, "CoordinatorNotAvailableError", "R"),
    (16, "NotCoordinatorError", "R"),
    (17, "InvalidTopicError", ""),
    (18, "RecordListTooLargeError", ""),
    (19, "NotEnoughReplicasError", "R"),
    (20, "NotEnoughReplicasAfterAppendError", "R"),
    (21, "InvalidRequiredAcksError", ""),
    (22, "IllegalGenerationError", ""),
    (23, "InconsistentGroupProtocolError", ""),
    (24, "InvalidGroupIdError", ""),
    (25, "UnknownMemberIdError", ""),
    (26, "InvalidSessionTimeoutError", ""),
    (27, "RebalanceInProgressError", ""),
    (28, "InvalidCommitOffsetSizeError", ""),
    (29, "TopicAuthorizationFailedError", "A"),
    (30, "GroupAuthorizationFailedError", "A"),
    (31, "ClusterAuthorizationFailedError", "A"),
    (32, "InvalidTimestampError", ""),
    (33, "UnsupportedSaslMechanismError", ""),
    (34, "IllegalSaslStateError", ""),
    (35, "UnsupportedVersionError", ""),
    (36, "TopicAlreadyExistsError", ""),
    (37, "InvalidPartitionsError", ""),
    (38, "InvalidReplicationFactorError", ""),
    (39, "InvalidReplicationAssignmentError", ""),
    (40, "InvalidConfigurationError", ""),
    (41, "NotControllerError", "R"),
    (42, "InvalidRequestError", ""),
    (43, "UnsupportedForMessageFormatError", ""),
    (44, "PolicyViolationError", ""),
    (45, "OutOfOrderSequenceNumberError", ""),
    (46, "DuplicateSequenceNumberError", ""),
    (47, "InvalidProducerEpochError", ""),
    (48, "InvalidTxnStateError", ""),
    (49, "InvalidProducerIdMappingError", ""),
    (50, "InvalidTransactionTimeoutError", ""),
    (51, "ConcurrentTransactionsError", "R"),
    (52, "TransactionCoordinatorFencedError", ""),
    (53, "TransactionalIdAuthorizationFailedError", "A"),
    (54, "SecurityDisabledError", ""),
    (55, "OperationNotAttemptedError", ""),
    (56, "KafkaStorageError", "M"),
    (57, "LogDirNotFoundError", ""),
    (58, "SaslAuthenticationFailedError", ""),
    (59, "UnknownProducerIdError", ""),
    (60, "ReassignmentInProgressError", ""),
    (61, "DelegationTokenAuthDisabledError", ""),
    (62, "DelegationTokenNotFoundError", ""),
    (63, "DelegationTokenOwnerMismatchError", ""),
    (64, "DelegationTokenRequestNotAllowedError", ""),
    (65, "DelegationTokenAuthorizationFailedError", "A"),
    (66, "DelegationTokenExpiredError", ""),
    (67, "InvalidPrincipalTypeError", ""),
    (68, "NonEmptyGroupError", ""),
    (69, "GroupIdNotFoundError", ""),
    (70, "FetchSessionIdNotFoundError", "R"),
    (71, "InvalidFetchSessionEpochError", "R"),
    (72, "ListenerNotFoundError", "M"),
    (73, "TopicDeletionDisabledError", ""),
    (74, "FencedLeaderEpochError", "M"),
    (75, "UnknownLeaderEpochError", "M"),
    (76, "UnsupportedCompressionTypeError", ""),
    (77, "StaleBrokerEpochError", ""),
    (78, "OffsetNotAvailableError", "R"),
    (79, "MemberIdRequiredError", ""),
    (80, "PreferredLeaderNotAvailableError", "M"),
    (81, "GroupMaxSizeReachedError", ""),
    (82, "FencedInstanceIdError", ""),
    (83, "EligibleLeadersNotAvailableError", "M"),
    (84, "ElectionNotNeededError", "M"),
    (85, "NoReassignmentInProgressError", ""),
    (86, "GroupSubscribedToTopicError", ""),
    (87, "InvalidRecordError", ""),
    (88, "UnstableOffsetCommitError", "R"),
    (89, "ThrottlingQuotaExceededError", "R"),
    (90, "ProducerFencedError", ""),
    (91, "ResourceNotFoundError", ""),
    (92, "DuplicateResourceError", ""),
    (93, "UnacceptableCredentialError", ""),
    (94, "InconsistentVoterSetError", ""),
    (95, "InvalidUpdateVersionError", ""),
    (96, "FeatureUpdateFailedError", ""),
    (97, "PrincipalDeserializationFailureError", ""),
    (98, "SnapshotNotFoundError", ""),
    (99, "PositionOutOfRangeError", ""),
    (100, "UnknownTopicIdError", "M"),
    (101, "DuplicateBrokerRegistrationError", ""),
    (102, "BrokerIdNotRegisteredError", ""),
    (103, "InconsistentTopicIdError", "M"),
    (104, "InconsistentClusterIdError", ""),
    (105, "TransactionalIdNotFoundError", ""),
    (106, "FetchSessionTopicIdError", "R"),
    (107, "IneligibleReplicaError", ""),
    (108, "NewLeaderElectedError", ""),
    (109, "OffsetMovedToTieredStorageError", ""),
    (110, "FencedMemberEpochError", ""),
    (111, "UnreleasedInstanceIdError", ""),
    (112, "UnsupportedAssignorError", ""),
    (113, "StaleMemberEpochError", ""),
    (114, "MismatchedEndpointTypeError", ""),
    (115, "UnsupportedEndpointTypeError", ""),
    (116, "UnknownControllerIdError", ""),
    (117, "UnknownSubscriptionIdError", ""),
    (118, "TelemetryTooLargeError", ""),
    (119, "InvalidRegistrationError", ""),
    (120, "TransactionAbortableError", ""),
    (121, "InvalidRecordStateError", ""),
    (122, "ShareSessionNotFoundError", "R"),
    (123, "InvalidShareSessionEpochError", "R"),
    (124, "FencedStateEpochError", ""),
    (125, "InvalidVoterKeyError", ""),
    (126, "DuplicateVoterError", ""),
    (127, "VoterNotFoundError", ""),
]

_BASES = {"": (BrokerResponseError,), "M": (InvalidMetadataError, BrokerResponseError),
          "R": (RetriableError, BrokerResponseError), "A": (AuthorizationError,)}

kafka_errors = {-1: UnknownError, 0: NoError}


def _description(kafka_name):
    return kafka_name.replace("_", " ").capitalize() + "."


def _make_classes():
    kafka_names = {code: (name, retriable) for code, name, retriable in _core.error_codes()}
    for errno, class_name, base in _NAMES:
        kafka_name = kafka_names.get(errno, (class_name, False))[0]
        cls = type(class_name, _BASES[base], {
            "errno": errno,
            "message": kafka_name,
            "description": _description(kafka_name),
            "__module__": __name__,
        })
        globals()[class_name] = cls
        kafka_errors[errno] = cls
    # Codes newer than kafka-python's table: named after Kafka's names.
    for errno, (kafka_name, retriable) in kafka_names.items():
        if errno in kafka_errors:
            continue
        class_name = "".join(part.capitalize() for part in kafka_name.split("_"))
        if not class_name.endswith(("Error", "Exception")):
            class_name += "Error"
        cls = type(class_name, _BASES["R" if retriable else ""], {
            "errno": errno,
            "message": kafka_name,
            "description": _description(kafka_name),
            "__module__": __name__,
        })
        globals().setdefault(class_name, cls)
        kafka_errors[errno] = cls


_make_classes()
CorruptRecordException = globals()["CorruptRecordError"]
# kafka-python 2's name of NotLeaderForPartitionError, and the Java name.
NotLeaderOrFollowerError = globals()["NotLeaderForPartitionError"]


def for_code(error_code):
    """The ``BrokerResponseError`` subclass of a Kafka error code."""
    if error_code in kafka_errors:
        return kafka_errors[error_code]
    return type("UnrecognizedBrokerError", (UnknownError,), {"errno": error_code})


_KINDS = {
    "timeout": KafkaTimeoutError,
    "connection": KafkaConnectionError,
    "illegal_state": IllegalStateError,
    "commit_failed": CommitFailedError,
    "no_offset": NoOffsetForPartitionError,
    "log_truncation": LogTruncationError,
    "protocol": KafkaProtocolError,
    "configuration": KafkaConfigurationError,
    "transaction_aborted": TransactionAbortedError,
    "illegal_argument": IllegalArgumentError,
    "other": KafkaError,
}


def _from_core(kind, errno, message):
    """The exception the Rust core reports (``_core`` calls this)."""
    if kind == "broker":
        return for_code(errno)(message)
    return _KINDS.get(kind, KafkaError)(message)


__all__ = [name for name, value in list(globals().items())
           if isinstance(value, type) and issubclass(value, BaseException)] + ["for_code", "kafka_errors"]
