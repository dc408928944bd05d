//! ACLs: describe, create and delete access control entries.
//!
//! An ACL binding is a resource pattern (a resource type, a name, literal or
//! prefixed) and an entry (a principal, a host, an operation, allow or
//! deny). Describing and deleting take filters, whose fields may also be
//! "any" (and, for the pattern type, "match": every literal, prefixed or
//! wildcard pattern that applies to the name).
//!
//! Every request goes to any broker (in KRaft the broker forwards creations
//! and deletions to the active controller); retriable failures are retried
//! until the operation's timeout.
//!
//! ```no_run
//! # async fn example(admin: ferrokafka_admin::Admin) {
//! use ferrokafka_admin::AdminOptions;
//! use ferrokafka_admin::acls::{AclBinding, AclBindingFilter, AclOperation, ResourcePattern};
//!
//! let options = AdminOptions::new();
//! let read = AclBinding::allow(ResourcePattern::topic("events"), "User:alice", AclOperation::Read);
//! let created = admin.create_acls(std::slice::from_ref(&read), &options).await;
//! assert!(created[&read].is_ok());
//! let everything = admin.describe_acls(&AclBindingFilter::any(), &options).await;
//! let deleted = admin.delete_acls(&[AclBindingFilter::from(&read)], &options).await;
//! # let _ = (everything, deleted);
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use ferrokafka_protocol::messages::create_acls_request::AclCreation;
use ferrokafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use ferrokafka_protocol::messages::{CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

use crate::retry::{each_until_deadline, until_deadline};
use crate::topics::check;
use crate::{Admin, AdminError, AdminOptions};

/// Declares a fieldless enum with Kafka's `i8` codes, an `Unknown` variant
/// for codes this client does not know, and its upper-case names.
macro_rules! kafka_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            /// A code this client does not know (or Kafka's `UNKNOWN`, 0).
            Unknown,
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Kafka's code.
            pub fn code(self) -> i8 {
                match self {
                    $name::Unknown => 0,
                    $($name::$variant => $code,)*
                }
            }

            /// The value of Kafka's `code`, [`Unknown`](Self::Unknown) for
            /// codes this client does not know.
            pub fn from_code(code: i8) -> Self {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }

            /// Kafka's name (`TOPIC`, `READ`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $name::Unknown => "UNKNOWN",
                    $($name::$variant => $text,)*
                }
            }

            /// Parses Kafka's name, case and `-`/`_` insensitively
            /// (`transactional-id`, `TransactionalId` and
            /// `TRANSACTIONAL_ID` are the same).
            pub fn parse(text: &str) -> Option<Self> {
                let wanted: String = text
                    .chars()
                    .filter(|c| *c != '_' && *c != '-')
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                [$($name::$variant,)*]
                    .into_iter()
                    .find(|v| v.name().replace('_', "") == wanted)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// The type of resource an ACL applies to.
    ResourceType {
        /// Any type (filters only).
        Any = 1, "ANY";
        /// A topic.
        Topic = 2, "TOPIC";
        /// A consumer group.
        Group = 3, "GROUP";
        /// The cluster.
        Cluster = 4, "CLUSTER";
        /// A transactional id.
        TransactionalId = 5, "TRANSACTIONAL_ID";
        /// A delegation token.
        DelegationToken = 6, "DELEGATION_TOKEN";
        /// A user (for delegation tokens created on a user's behalf).
        User = 7, "USER";
    }
}

kafka_enum! {
    /// How an ACL's resource name is matched.
    PatternType {
        /// Any pattern type (filters only).
        Any = 1, "ANY";
        /// Every pattern that applies to the filter's name: literal,
        /// wildcard (`*`) and prefixed (filters only).
        Match = 2, "MATCH";
        /// The name exactly (`*` is every resource of the type).
        Literal = 3, "LITERAL";
        /// Every resource whose name starts with the name.
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// An operation an ACL allows or denies.
    AclOperation {
        /// Any operation (filters only).
        Any = 1, "ANY";
        /// Every operation.
        All = 2, "ALL";
        /// Read.
        Read = 3, "READ";
        /// Write.
        Write = 4, "WRITE";
        /// Create.
        Create = 5, "CREATE";
        /// Delete.
        Delete = 6, "DELETE";
        /// Alter.
        Alter = 7, "ALTER";
        /// Describe.
        Describe = 8, "DESCRIBE";
        /// Cluster actions (inter-broker requests).
        ClusterAction = 9, "CLUSTER_ACTION";
        /// Describe configs.
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        /// Alter configs.
        AlterConfigs = 11, "ALTER_CONFIGS";
        /// Idempotent produce.
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        /// Create delegation tokens.
        CreateTokens = 13, "CREATE_TOKENS";
        /// Describe delegation tokens.
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        /// Two-phase commit of transactions (KIP-939).
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
}

kafka_enum! {
    /// Whether an ACL allows or denies.
    AclPermission {
        /// Either (filters only).
        Any = 1, "ANY";
        /// Denies the operation.
        Deny = 2, "DENY";
        /// Allows the operation.
        Allow = 3, "ALLOW";
    }
}

/// The resources an ACL applies to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourcePattern {
    /// The resource type.
    pub resource_type: ResourceType,
    /// The resource's name (`kafka-cluster` for the cluster, `*` for every
    /// resource of the type when literal).
    pub name: String,
    /// Literal or prefixed.
    pub pattern_type: PatternType,
}

impl ResourcePattern {
    /// A literal pattern.
    pub fn new(resource_type: ResourceType, name: impl Into<String>) -> Self {
        ResourcePattern {
            resource_type,
            name: name.into(),
            pattern_type: PatternType::Literal,
        }
    }

    /// The topic `name`, literally.
    pub fn topic(name: impl Into<String>) -> Self {
        ResourcePattern::new(ResourceType::Topic, name)
    }

    /// The group `name`, literally.
    pub fn group(name: impl Into<String>) -> Self {
        ResourcePattern::new(ResourceType::Group, name)
    }

    /// The transactional id `name`, literally.
    pub fn transactional_id(name: impl Into<String>) -> Self {
        ResourcePattern::new(ResourceType::TransactionalId, name)
    }

    /// The cluster (its resource name is always `kafka-cluster`).
    pub fn cluster() -> Self {
        ResourcePattern::new(ResourceType::Cluster, "kafka-cluster")
    }

    /// Every resource of this type whose name starts with this name.
    #[must_use]
    pub fn prefixed(mut self) -> Self {
        self.pattern_type = PatternType::Prefixed;
        self
    }
}

/// An ACL: who may (or may not) do what, from where, on which resources.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    /// The resources.
    pub pattern: ResourcePattern,
    /// The principal, `type:name` (`User:alice`, `User:*` for everyone).
    pub principal: String,
    /// The host the principal connects from, `*` for any.
    pub host: String,
    /// The operation.
    pub operation: AclOperation,
    /// Allow or deny.
    pub permission: AclPermission,
}

impl AclBinding {
    /// Allows `principal` the `operation` on `pattern` from any host.
    pub fn allow(
        pattern: ResourcePattern,
        principal: impl Into<String>,
        operation: AclOperation,
    ) -> Self {
        AclBinding {
            pattern,
            principal: principal.into(),
            host: "*".to_string(),
            operation,
            permission: AclPermission::Allow,
        }
    }

    /// Denies `principal` the `operation` on `pattern` from any host.
    pub fn deny(
        pattern: ResourcePattern,
        principal: impl Into<String>,
        operation: AclOperation,
    ) -> Self {
        AclBinding {
            permission: AclPermission::Deny,
            ..AclBinding::allow(pattern, principal, operation)
        }
    }

    /// The same binding from host `host` only.
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ACL ({} {} {}: {} {} {} from {})",
            self.pattern.pattern_type,
            self.pattern.resource_type,
            self.pattern.name,
            self.permission,
            self.principal,
            self.operation,
            self.host
        )
    }
}

/// Which ACLs to describe or delete: `None` fields and `Any` values match
/// every ACL.
///
/// ```
/// use ferrokafka_admin::acls::{AclBindingFilter, PatternType, ResourceType};
/// let filter = AclBindingFilter {
///     resource_type: ResourceType::Topic,
///     name: Some("events".to_string()),
///     pattern_type: PatternType::Match,
///     ..AclBindingFilter::any()
/// };
/// assert_eq!(filter.principal, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBindingFilter {
    /// The resource type, or `Any`.
    pub resource_type: ResourceType,
    /// The resource name, or `None` for any.
    pub name: Option<String>,
    /// The pattern type: `Literal`, `Prefixed`, `Any` or `Match`.
    pub pattern_type: PatternType,
    /// The principal, or `None` for any.
    pub principal: Option<String>,
    /// The host, or `None` for any.
    pub host: Option<String>,
    /// The operation, or `Any`.
    pub operation: AclOperation,
    /// The permission, or `Any`.
    pub permission: AclPermission,
}

impl AclBindingFilter {
    /// Matches every ACL.
    pub fn any() -> Self {
        AclBindingFilter {
            resource_type: ResourceType::Any,
            name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }
}

impl From<&AclBinding> for AclBindingFilter {
    /// The filter that matches exactly this binding.
    fn from(binding: &AclBinding) -> Self {
        AclBindingFilter {
            resource_type: binding.pattern.resource_type,
            name: Some(binding.pattern.name.clone()),
            pattern_type: binding.pattern.pattern_type,
            principal: Some(binding.principal.clone()),
            host: Some(binding.host.clone()),
            operation: binding.operation,
            permission: binding.permission,
        }
    }
}

impl fmt::Display for AclBindingFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_any = |v: &Option<String>| v.clone().unwrap_or_else(|| "ANY".to_string());
        write!(
            f,
            "ACL filter ({} {} {}: {} {} {} from {})",
            self.pattern_type,
            self.resource_type,
            or_any(&self.name),
            self.permission,
            or_any(&self.principal),
            self.operation,
            or_any(&self.host)
        )
    }
}

fn binding(
    resource_type: i8,
    name: String,
    pattern_type: i8,
    principal: String,
    host: String,
    operation: i8,
    permission: i8,
) -> AclBinding {
    AclBinding {
        pattern: ResourcePattern {
            resource_type: ResourceType::from_code(resource_type),
            name,
            pattern_type: PatternType::from_code(pattern_type),
        },
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

impl Admin {
    /// The ACLs that `filter` matches. A broker without an authorizer
    /// answers `SECURITY_DISABLED`.
    pub async fn describe_acls(
        &self,
        filter: &AclBindingFilter,
        options: &AdminOptions,
    ) -> Result<Vec<AclBinding>, AdminError> {
        let request = DescribeAclsRequest {
            resource_type_filter: filter.resource_type.code(),
            resource_name_filter: filter.name.clone(),
            pattern_type_filter: filter.pattern_type.code(),
            principal_filter: filter.principal.clone(),
            host_filter: filter.host.clone(),
            operation: filter.operation.code(),
            permission_type: filter.permission.code(),
            ..DescribeAclsRequest::default()
        };
        let what = filter.to_string();
        let response = until_deadline(
            "describing ACLs",
            self.deadline(options),
            self.retry_backoff(),
            || async {
                let response = self.live()?.send_any(&request).await?;
                check(&what, response.error_code, response.error_message.clone())?;
                Ok(response)
            },
        )
        .await?;
        let mut found: Vec<AclBinding> = response
            .resources
            .into_iter()
            .flat_map(|resource| {
                resource.acls.into_iter().map(move |acl| {
                    binding(
                        resource.resource_type,
                        resource.resource_name.clone(),
                        resource.pattern_type,
                        acl.principal,
                        acl.host,
                        acl.operation,
                        acl.permission_type,
                    )
                })
            })
            .collect();
        found.sort();
        Ok(found)
    }

    /// Creates `bindings`, one result each: a binding the broker refuses
    /// (an unknown principal type, an `Any` field...) fails alone.
    pub async fn create_acls(
        &self,
        bindings: &[AclBinding],
        options: &AdminOptions,
    ) -> BTreeMap<AclBinding, Result<(), AdminError>> {
        each_until_deadline(
            "creating",
            bindings.to_vec(),
            self.deadline(options),
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| async move {
                let request = CreateAclsRequest {
                    creations: pending
                        .iter()
                        .map(|b| AclCreation {
                            resource_type: b.pattern.resource_type.code(),
                            resource_name: b.pattern.name.clone(),
                            resource_pattern_type: b.pattern.pattern_type.code(),
                            principal: b.principal.clone(),
                            host: b.host.clone(),
                            operation: b.operation.code(),
                            permission_type: b.permission.code(),
                            ..AclCreation::default()
                        })
                        .collect(),
                    ..CreateAclsRequest::default()
                };
                let response = self.live()?.send_any(&request).await?;
                if response.results.len() != pending.len() {
                    return Err(AdminError::UnexpectedResponse(format!(
                        "CreateAcls answered {} results for {} ACLs",
                        response.results.len(),
                        pending.len()
                    )));
                }
                Ok(pending
                    .into_iter()
                    .zip(response.results)
                    .map(|(b, r)| {
                        let result = check(b.to_string(), r.error_code, r.error_message);
                        (b, result)
                    })
                    .collect())
            },
        )
        .await
    }

    /// Deletes the ACLs each filter matches, answering per filter the
    /// bindings it deleted. A filter whose deletion failed (entirely, or
    /// for one of its bindings) is that filter's error.
    pub async fn delete_acls(
        &self,
        filters: &[AclBindingFilter],
        options: &AdminOptions,
    ) -> BTreeMap<AclBindingFilter, Result<Vec<AclBinding>, AdminError>> {
        each_until_deadline(
            "deleting ACLs of",
            filters.to_vec(),
            self.deadline(options),
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| async move {
                let request = DeleteAclsRequest {
                    filters: pending
                        .iter()
                        .map(|f| DeleteAclsFilter {
                            resource_type_filter: f.resource_type.code(),
                            resource_name_filter: f.name.clone(),
                            pattern_type_filter: f.pattern_type.code(),
                            principal_filter: f.principal.clone(),
                            host_filter: f.host.clone(),
                            operation: f.operation.code(),
                            permission_type: f.permission.code(),
                            ..DeleteAclsFilter::default()
                        })
                        .collect(),
                    ..DeleteAclsRequest::default()
                };
                let response = self.live()?.send_any(&request).await?;
                if response.filter_results.len() != pending.len() {
                    return Err(AdminError::UnexpectedResponse(format!(
                        "DeleteAcls answered {} results for {} filters",
                        response.filter_results.len(),
                        pending.len()
                    )));
                }
                Ok(pending
                    .into_iter()
                    .zip(response.filter_results)
                    .map(|(filter, r)| {
                        let result = check(filter.to_string(), r.error_code, r.error_message)
                            .and_then(|()| {
                                r.matching_acls
                                    .into_iter()
                                    .map(|m| {
                                        let deleted = binding(
                                            m.resource_type,
                                            m.resource_name,
                                            m.pattern_type,
                                            m.principal,
                                            m.host,
                                            m.operation,
                                            m.permission_type,
                                        );
                                        check(deleted.to_string(), m.error_code, m.error_message)
                                            .map(|()| deleted)
                                    })
                                    .collect::<Result<Vec<_>, _>>()
                            })
                            .map(|mut deleted| {
                                deleted.sort();
                                deleted
                            });
                        (filter, result)
                    })
                    .collect())
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use ferrokafka_protocol::ApiKey;
    use ferrokafka_protocol::ErrorCode;
    use ferrokafka_protocol::messages::create_acls_response::AclCreationResult;
    use ferrokafka_protocol::messages::delete_acls_response::{
        DeleteAclsFilterResult, DeleteAclsMatchingAcl,
    };
    use ferrokafka_protocol::messages::{CreateAclsResponse, DeleteAclsResponse};
    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::{FakeCluster, FakeReply};

    use super::*;

    #[tokio::test]
    async fn short_answers_and_failed_matches_are_errors_of_their_items() {
        let cluster = FakeCluster::new(1, |request| match request.key {
            // One result for however many creations were asked.
            ApiKey::CreateAcls => Some(FakeReply::with(
                request,
                &CreateAclsResponse {
                    results: vec![AclCreationResult::default()],
                    ..CreateAclsResponse::default()
                },
            )),
            ApiKey::DeleteAcls => {
                let asked: DeleteAclsRequest = request.decode();
                let results = asked
                    .filters
                    .iter()
                    .map(|f| {
                        let matched = |error_code: i16| DeleteAclsMatchingAcl {
                            error_code,
                            resource_type: f.resource_type_filter,
                            resource_name: f.resource_name_filter.clone().unwrap_or_default(),
                            pattern_type: 3,
                            principal: "User:x".to_string(),
                            host: "*".to_string(),
                            operation: 3,
                            permission_type: 3,
                            ..DeleteAclsMatchingAcl::default()
                        };
                        let failed = f.resource_name_filter.as_deref() == Some("bad");
                        DeleteAclsFilterResult {
                            matching_acls: vec![
                                matched(0),
                                matched(if failed {
                                    ErrorCode::ClusterAuthorizationFailed.code()
                                } else {
                                    0
                                }),
                            ],
                            ..DeleteAclsFilterResult::default()
                        }
                    })
                    .collect();
                Some(FakeReply::with(
                    request,
                    &DeleteAclsResponse {
                        filter_results: results,
                        ..DeleteAclsResponse::default()
                    },
                ))
            }
            _ => None,
        });
        let config =
            ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap().as_str())])
                .unwrap();
        let admin = Admin::with_client(cluster.client(config).await.unwrap());
        let one = AclBinding::allow(ResourcePattern::topic("a"), "User:x", AclOperation::Read);
        let two = AclBinding::allow(ResourcePattern::topic("b"), "User:x", AclOperation::Read);
        let created = admin
            .create_acls(&[one.clone(), two.clone()], &AdminOptions::new())
            .await;
        for binding in [&one, &two] {
            assert!(
                matches!(created[binding], Err(AdminError::UnexpectedResponse(_))),
                "{:?}",
                created[binding]
            );
        }
        let good = AclBindingFilter {
            resource_type: ResourceType::Topic,
            name: Some("good".to_string()),
            ..AclBindingFilter::any()
        };
        let bad = AclBindingFilter {
            name: Some("bad".to_string()),
            ..good.clone()
        };
        let deleted = admin
            .delete_acls(&[good.clone(), bad.clone()], &AdminOptions::new())
            .await;
        assert_eq!(deleted[&good].as_ref().unwrap().len(), 2);
        assert_eq!(
            deleted[&good].as_ref().unwrap()[0].pattern.resource_type,
            ResourceType::Topic
        );
        assert_eq!(
            deleted[&bad].as_ref().unwrap_err().code(),
            Some(ErrorCode::ClusterAuthorizationFailed)
        );
    }

    #[test]
    fn codes_and_names_round_trip() {
        for code in 0..=16 {
            let op = AclOperation::from_code(code);
            assert_eq!(op.code(), if code <= 15 { code } else { 0 });
        }
        assert_eq!(
            ResourceType::parse("transactional-id"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(
            ResourceType::parse("TransactionalId"),
            Some(ResourceType::TransactionalId)
        );
        assert_eq!(
            AclOperation::parse("describe_configs"),
            Some(AclOperation::DescribeConfigs)
        );
        assert_eq!(AclOperation::parse("Read").map(AclOperation::code), Some(3));
        assert_eq!(AclPermission::Allow.code(), 3);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(PatternType::parse("bogus"), None);
        assert_eq!(ResourceType::from_code(-7), ResourceType::Unknown);
    }

    #[test]
    fn a_filter_from_a_binding_names_every_field() {
        let b = AclBinding::deny(
            ResourcePattern::group("g").prefixed(),
            "User:bob",
            AclOperation::Read,
        )
        .host("10.0.0.1");
        let f = AclBindingFilter::from(&b);
        assert_eq!(f.pattern_type, PatternType::Prefixed);
        assert_eq!(f.permission, AclPermission::Deny);
        assert_eq!(f.host.as_deref(), Some("10.0.0.1"));
        assert_eq!(
            b.to_string(),
            "ACL (PREFIXED GROUP g: DENY User:bob READ from 10.0.0.1)"
        );
    }
}
