//! The admin client under `ferrokafka.KafkaAdminClient`: each operation
//! answers per item, an item's failure as the exception it would raise
//! (the Python layer shapes kafka-python's result dicts and raises).

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka_admin::acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType,
    ResourcePattern as AclPattern, ResourceType as AclResourceType,
};
use ferrokafka_admin::configs::{
    AlterConfigOp, AlterOp, ConfigResource, DescribeConfigsOptions, ResourceType,
};
use ferrokafka_admin::groups::{GroupKind, ListGroupsFilter};
use ferrokafka_admin::scram::{ScramAlteration, ScramMechanism};
use ferrokafka_admin::topics::{NewPartitions, NewTopic};
use ferrokafka_admin::{Admin as RustAdmin, AdminConfig, AdminError, AdminOptions};
use ferrokafka_group::assignor::TopicPartition;
use ferrokafka_group::offsets::OffsetAndMetadata;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::errors;
use crate::{millis, wait_done};

/// A topic to create as Python passes it: `(name, num_partitions,
/// replication_factor, {partition: [broker]}, {config: value})`.
/// Partitions to add as Python passes them: `{name: (total_count,
/// assignments or None)}`.
type PartitionIncreases = BTreeMap<String, (i32, Option<Vec<Vec<i32>>>)>;

/// A group as `list_groups` answers it: `(group_id, protocol_type, state,
/// type)`.
type GroupRow = (String, String, Option<String>, Option<String>);

/// A config entry as `describe_configs` answers it: `(name, value,
/// source, is_sensitive, read_only, config_type, [(synonym, value,
/// source)], documentation)`.
type ConfigRow = (
    String,
    Option<String>,
    &'static str,
    bool,
    bool,
    String,
    Vec<(String, Option<String>, &'static str)>,
    Option<String>,
);

/// Changes to one resource's configs as Python passes them:
/// `(resource_type, name, [(key, value or None)])`.
type ConfigChanges = (i8, String, Vec<(String, Option<String>)>);

fn resource(code: i8, name: String) -> PyResult<ConfigResource> {
    let Some(resource_type) = ResourceType::from_code(code) else {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "resource_type {code} is not a config resource type"
        )));
    };
    Ok(ConfigResource::new(resource_type, name))
}

/// An ACL binding as Python passes and gets it: `(resource_type,
/// resource_name, pattern_type, principal, host, operation,
/// permission_type)`, Kafka's codes.
type AclRow = (i8, String, i8, String, String, i8, i8);

/// An ACL filter as Python passes it: [`AclRow`] with `None` for "any"
/// name, principal or host.
type AclFilterRow = (
    i8,
    Option<String>,
    i8,
    Option<String>,
    Option<String>,
    i8,
    i8,
);

/// A SCRAM credential change as Python passes it: `(user, mechanism,
/// None)` deletes, `(user, mechanism, (iterations, salt,
/// salted_password))` upserts.
type ScramChange = (String, i8, Option<(u32, Vec<u8>, Vec<u8>)>);

fn acl_binding(row: AclRow) -> AclBinding {
    let (resource_type, name, pattern_type, principal, host, operation, permission) = row;
    AclBinding {
        pattern: AclPattern {
            resource_type: AclResourceType::from_code(resource_type),
            name,
            pattern_type: PatternType::from_code(pattern_type),
        },
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

fn acl_row(binding: AclBinding) -> AclRow {
    (
        binding.pattern.resource_type.code(),
        binding.pattern.name,
        binding.pattern.pattern_type.code(),
        binding.principal,
        binding.host,
        binding.operation.code(),
        binding.permission.code(),
    )
}

fn acl_filter(row: AclFilterRow) -> AclBindingFilter {
    let (resource_type, name, pattern_type, principal, host, operation, permission) = row;
    AclBindingFilter {
        resource_type: AclResourceType::from_code(resource_type),
        name,
        pattern_type: PatternType::from_code(pattern_type),
        principal,
        host,
        operation: AclOperation::from_code(operation),
        permission: AclPermission::from_code(permission),
    }
}

/// `None` or the exception of an item's outcome.
fn error_or_none<T>(py: Python<'_>, result: Result<&T, &AdminError>) -> Py<PyAny> {
    match result {
        Ok(_) => py.None(),
        Err(error) => errors::admin_error(py, error).into_value(py).into_any(),
    }
}

/// A broker as `describe_cluster` answers it: `(node_id, host, port, rack)`.
type Broker = (i32, String, i32, Option<String>);

type TopicSpec = (
    String,
    i32,
    i16,
    BTreeMap<i32, Vec<i32>>,
    BTreeMap<String, String>,
);

/// How long `close` waits for the last telemetry push when Python gives
/// no `timeout_ms`.
const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The Rust admin client.
#[pyclass(module = "ferrokafka._core", frozen)]
pub(crate) struct Admin {
    admin: RustAdmin,
}

fn options(timeout_ms: Option<f64>) -> PyResult<AdminOptions> {
    let mut options = AdminOptions::new();
    if let Some(timeout) = millis("timeout_ms", timeout_ms)? {
        options = options.timeout(timeout.max(Duration::from_millis(1)));
    }
    Ok(options)
}

/// Per item: `(name, None)` or `(name, exception)`.
fn outcomes<T>(
    py: Python<'_>,
    results: BTreeMap<String, Result<T, AdminError>>,
) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for (name, result) in results {
        let error = match result {
            Ok(_) => py.None(),
            Err(error) => errors::admin_error(py, &error).into_value(py).into_any(),
        };
        list.append((name, error))?;
    }
    Ok(list)
}

#[pymethods]
impl Admin {
    /// Connects with these settings.
    #[new]
    fn new(py: Python<'_>, settings: Vec<(String, String)>) -> PyResult<Self> {
        let config = AdminConfig::from_pairs(settings).map_err(|error| match &error {
            AdminError::Config(config) => errors::config_error(config),
            _ => errors::admin_error(py, &error),
        })?;
        let admin = wait_done(py, RustAdmin::connect(config))?
            .map_err(|error| errors::admin_error(py, &error))?;
        Ok(Admin { admin })
    }

    /// Closes the client: every later operation fails (`IllegalStateError`)
    /// and the telemetry ends with a last push if the brokers subscribed to
    /// it, waiting at most `timeout_ms` (default 30 s) for it. Closing again
    /// does nothing.
    #[pyo3(signature = (timeout_ms=None))]
    fn close(&self, py: Python<'_>, timeout_ms: Option<f64>) -> PyResult<()> {
        let timeout = millis("timeout_ms", timeout_ms)?.unwrap_or(DEFAULT_CLOSE_TIMEOUT);
        wait_done(py, self.admin.close(timeout))
    }

    /// Whether `close` was called.
    fn closed(&self) -> bool {
        self.admin.is_closed()
    }

    /// The 16 bytes of the id the brokers gave this client for its
    /// telemetry (KIP-714), waiting at most `timeout_ms` for it; `None`
    /// when none came in time, the client pushes no metrics, or it is closed.
    fn client_instance_id<'py>(
        &self,
        py: Python<'py>,
        timeout_ms: f64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        // An infinite timeout, capped where adding it to now cannot overflow.
        let timeout =
            millis("timeout_ms", Some(timeout_ms))?.unwrap_or(Duration::from_secs(30 * 24 * 3600));
        let id = wait_done(py, self.admin.client_instance_id(timeout))?;
        Ok(id.map(|id| PyBytes::new(py, &id.0)))
    }

    /// Creates topics; `[(name, None or exception)]`.
    #[pyo3(signature = (topics, validate_only, timeout_ms))]
    fn create_topics<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<TopicSpec>,
        validate_only: bool,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let topics: Vec<NewTopic> = topics
            .into_iter()
            .map(|(name, partitions, replication, assignments, configs)| {
                let mut topic = NewTopic::with_defaults(name);
                if assignments.is_empty() {
                    topic.partitions = Some(partitions);
                    topic.replication_factor = Some(replication);
                }
                topic.assignments = assignments;
                topic.configs = configs;
                topic
            })
            .collect();
        let options = options(timeout_ms)?;
        let results = wait_done(
            py,
            self.admin.create_topics(&topics, validate_only, &options),
        )?;
        outcomes(py, results)
    }

    /// Deletes topics; `[(name, None or exception)]`.
    #[pyo3(signature = (topics, timeout_ms))]
    #[allow(clippy::needless_pass_by_value)]
    fn delete_topics<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<String>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let options = options(timeout_ms)?;
        let results = wait_done(py, self.admin.delete_topics(&topics, &options))?;
        outcomes(py, results)
    }

    /// Grows topics to `{name: (total_count, assignments or None)}`;
    /// `[(name, None or exception)]`.
    #[pyo3(signature = (increases, validate_only, timeout_ms))]
    fn create_partitions<'py>(
        &self,
        py: Python<'py>,
        increases: PartitionIncreases,
        validate_only: bool,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let increases: BTreeMap<String, NewPartitions> = increases
            .into_iter()
            .map(|(name, (total_count, assignments))| {
                (
                    name,
                    NewPartitions {
                        total_count,
                        assignments,
                    },
                )
            })
            .collect();
        let options = options(timeout_ms)?;
        let results = wait_done(
            py,
            self.admin
                .create_partitions(&increases, validate_only, &options),
        )?;
        outcomes(py, results)
    }

    /// The names of the cluster's topics (internal ones included).
    fn list_topics(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        let listed = wait_done(py, self.admin.list_topics(true, &AdminOptions::new()))?
            .map_err(|error| errors::admin_error(py, &error))?;
        Ok(listed.into_iter().map(|t| t.name).collect())
    }

    /// `{topic: [(partition, leader, replicas, isr, offline), ...]}` or the
    /// topic's exception.
    #[allow(clippy::needless_pass_by_value)]
    fn describe_topics<'py>(
        &self,
        py: Python<'py>,
        topics: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let found = wait_done(
            py,
            self.admin.describe_topics(&topics, &AdminOptions::new()),
        )?;
        let dict = PyDict::new(py);
        for (name, result) in found {
            match result {
                Ok(description) => {
                    let partitions = PyList::empty(py);
                    for p in description.partitions {
                        partitions.append((
                            p.partition,
                            p.leader.unwrap_or(-1),
                            p.replicas,
                            p.isr,
                            p.offline_replicas,
                        ))?;
                    }
                    dict.set_item(name, (description.internal, partitions))?;
                }
                Err(error) => {
                    dict.set_item(name, errors::admin_error(py, &error).into_value(py))?;
                }
            }
        }
        Ok(dict)
    }

    /// The groups of the cluster, `[(group_id, protocol_type, state,
    /// type)]`, filtered by states and types (empty: all).
    fn list_groups(
        &self,
        py: Python<'_>,
        states: Vec<String>,
        types: Vec<String>,
    ) -> PyResult<Vec<GroupRow>> {
        let filter = ListGroupsFilter { states, types };
        let listed = wait_done(py, self.admin.list_groups(&filter, &AdminOptions::new()))?
            .map_err(|error| errors::admin_error(py, &error))?;
        if let Some(error) = listed.errors.values().next() {
            return Err(errors::admin_error(py, error));
        }
        Ok(listed
            .groups
            .into_iter()
            .map(|g| (g.group_id, g.protocol_type, g.state, g.group_type))
            .collect())
    }

    /// Deletes groups; `[(group_id, None or exception)]`.
    #[allow(clippy::needless_pass_by_value)]
    fn delete_groups<'py>(
        &self,
        py: Python<'py>,
        groups: Vec<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let results = wait_done(py, self.admin.delete_groups(&names, &AdminOptions::new()))?;
        outcomes(py, results)
    }

    /// The committed offsets of groups (of these partitions, or all):
    /// `{group: {TopicPartition: OffsetAndMetadata} or exception}`.
    #[allow(clippy::needless_pass_by_value)]
    fn list_group_offsets<'py>(
        &self,
        py: Python<'py>,
        groups: Vec<String>,
        partitions: Option<Vec<(String, i32)>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let partitions: Option<Vec<TopicPartition>> = partitions.map(|list| {
            list.into_iter()
                .map(|(topic, partition)| TopicPartition::new(topic, partition))
                .collect()
        });
        let results = wait_done(
            py,
            self.admin
                .list_group_offsets(&names, partitions.as_deref(), &AdminOptions::new()),
        )?;
        let structs = py.import("ferrokafka.structs")?;
        let offset_and_metadata = structs.getattr("OffsetAndMetadata")?;
        let dict = PyDict::new(py);
        for (group, result) in results {
            match result {
                Ok(offsets) => {
                    let found = PyDict::new(py);
                    for (tp, offset) in offsets {
                        found.set_item(
                            crate::producer::topic_partition(py, &tp.topic, tp.partition)?,
                            offset_and_metadata.call1((
                                offset.offset,
                                offset.metadata,
                                offset.leader_epoch.unwrap_or(-1),
                            ))?,
                        )?;
                    }
                    dict.set_item(group, found)?;
                }
                Err(error) => {
                    dict.set_item(group, errors::admin_error(py, &error).into_value(py))?;
                }
            }
        }
        Ok(dict)
    }

    /// The configs of `[(resource_type, name)]`: `[(resource_type, name,
    /// [ConfigRow] or exception)]`.
    #[allow(clippy::needless_pass_by_value)]
    fn describe_configs<'py>(
        &self,
        py: Python<'py>,
        resources: Vec<(i8, String)>,
        include_synonyms: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let resources = resources
            .into_iter()
            .map(|(code, name)| resource(code, name))
            .collect::<PyResult<Vec<_>>>()?;
        let what = DescribeConfigsOptions {
            include_synonyms,
            include_documentation: false,
        };
        let found = wait_done(
            py,
            self.admin
                .describe_configs(&resources, what, &AdminOptions::new()),
        )?;
        let list = PyList::empty(py);
        for (resource, result) in found {
            let code = resource.resource_type.code();
            match result {
                Ok(entries) => {
                    let rows: Vec<ConfigRow> = entries
                        .into_iter()
                        .map(|e| {
                            (
                                e.name,
                                e.value,
                                e.source.name(),
                                e.sensitive,
                                e.read_only,
                                format!("{:?}", e.config_type).to_uppercase(),
                                e.synonyms
                                    .into_iter()
                                    .map(|s| (s.name, s.value, s.source.name()))
                                    .collect(),
                                e.documentation,
                            )
                        })
                        .collect();
                    list.append((code, resource.name, rows))?;
                }
                Err(error) => {
                    let error = errors::admin_error(py, &error).into_value(py);
                    list.append((code, resource.name, error))?;
                }
            }
        }
        Ok(list)
    }

    /// Sets (a value) or deletes (`None`) config keys of `[(resource_type,
    /// name, [(key, value)])]`; `[(resource_type, name, None or
    /// exception)]`.
    fn incremental_alter_configs<'py>(
        &self,
        py: Python<'py>,
        changes: Vec<ConfigChanges>,
        validate_only: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut by_resource = BTreeMap::new();
        for (code, name, ops) in changes {
            let ops = ops
                .into_iter()
                .map(|(key, value)| AlterConfigOp {
                    op: if value.is_some() {
                        AlterOp::Set
                    } else {
                        AlterOp::Delete
                    },
                    name: key,
                    value,
                })
                .collect();
            by_resource.insert(resource(code, name)?, ops);
        }
        let results = wait_done(
            py,
            self.admin
                .incremental_alter_configs(&by_resource, validate_only, &AdminOptions::new()),
        )?;
        let list = PyList::empty(py);
        for (resource, result) in results {
            let error = match result {
                Ok(()) => py.None(),
                Err(error) => errors::admin_error(py, &error).into_value(py).into_any(),
            };
            list.append((resource.resource_type.code(), resource.name, error))?;
        }
        Ok(list)
    }

    /// Deletes the records before the given offsets of `[(topic,
    /// partition, offset)]`: `[(topic, partition, low watermark or
    /// exception)]`.
    fn delete_records<'py>(
        &self,
        py: Python<'py>,
        before: Vec<(String, i32, i64)>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let before: BTreeMap<TopicPartition, i64> = before
            .into_iter()
            .map(|(topic, partition, offset)| (TopicPartition::new(topic, partition), offset))
            .collect();
        let options = options(timeout_ms)?;
        let results = wait_done(py, self.admin.delete_records(&before, &options))?;
        let list = PyList::empty(py);
        for (tp, result) in results {
            match result {
                Ok(low_watermark) => list.append((tp.topic(), tp.partition, low_watermark))?,
                Err(error) => list.append((
                    tp.topic(),
                    tp.partition,
                    errors::admin_error(py, &error).into_value(py),
                ))?,
            }
        }
        Ok(list)
    }

    /// Sets a group's committed offsets `[(topic, partition, offset,
    /// metadata)]` (the group must have no active members): `[(topic,
    /// partition, None or exception)]`.
    #[allow(clippy::needless_pass_by_value)]
    fn alter_group_offsets<'py>(
        &self,
        py: Python<'py>,
        group: &str,
        offsets: Vec<(String, i32, i64, Option<String>)>,
    ) -> PyResult<Bound<'py, PyList>> {
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = offsets
            .into_iter()
            .map(|(topic, partition, offset, metadata)| {
                (
                    TopicPartition::new(topic, partition),
                    OffsetAndMetadata {
                        offset,
                        leader_epoch: None,
                        metadata: metadata.unwrap_or_default(),
                    },
                )
            })
            .collect();
        let results = wait_done(
            py,
            self.admin
                .alter_group_offsets(group, &offsets, &AdminOptions::new()),
        )?;
        let list = PyList::empty(py);
        for (tp, result) in results {
            let error = match result {
                Ok(()) => py.None(),
                Err(error) => errors::admin_error(py, &error).into_value(py).into_any(),
            };
            list.append((tp.topic(), tp.partition, error))?;
        }
        Ok(list)
    }

    /// `{group_id: dict or exception}`: state, protocol, type, coordinator
    /// and members (ids, client, host, rack, subscribed topics and
    /// assigned `(topic, partition)` pairs).
    #[allow(clippy::needless_pass_by_value)]
    fn describe_groups<'py>(
        &self,
        py: Python<'py>,
        groups: Vec<String>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        let found = wait_done(py, self.admin.describe_groups(&names, &AdminOptions::new()))?;
        let dict = PyDict::new(py);
        for (group, result) in found {
            match result {
                Ok(g) => {
                    let d = PyDict::new(py);
                    d.set_item("group_id", &g.group_id)?;
                    d.set_item("group_state", &g.state)?;
                    d.set_item("protocol_type", &g.protocol_type)?;
                    d.set_item("protocol_data", &g.protocol)?;
                    d.set_item(
                        "group_type",
                        match g.kind {
                            GroupKind::Classic => "classic",
                            GroupKind::Consumer => "consumer",
                            GroupKind::Share => "share",
                        },
                    )?;
                    d.set_item("coordinator_id", g.coordinator)?;
                    let members = PyList::empty(py);
                    for m in g.members {
                        let md = PyDict::new(py);
                        md.set_item("member_id", m.member_id)?;
                        md.set_item("group_instance_id", m.group_instance_id)?;
                        md.set_item("client_id", m.client_id)?;
                        md.set_item("client_host", m.host)?;
                        md.set_item("rack", m.rack)?;
                        md.set_item("subscribed_topics", m.subscribed_topics)?;
                        let assignment: Vec<(String, i32)> = m
                            .assignment
                            .into_iter()
                            .map(|tp| (tp.topic.to_string(), tp.partition))
                            .collect();
                        md.set_item("assignment", assignment)?;
                        members.append(md)?;
                    }
                    d.set_item("members", members)?;
                    d.set_item("error_code", 0)?;
                    dict.set_item(group, d)?;
                }
                Err(error) => {
                    dict.set_item(group, errors::admin_error(py, &error).into_value(py))?;
                }
            }
        }
        Ok(dict)
    }

    /// `(cluster_id, controller_id, [(node_id, host, port, rack)])`.
    fn describe_cluster(&self, py: Python<'_>) -> PyResult<(String, i32, Vec<Broker>)> {
        let cluster = wait_done(py, self.admin.describe_cluster(&AdminOptions::new()))?
            .map_err(|error| errors::admin_error(py, &error))?;
        Ok((
            cluster.cluster_id,
            cluster.controller.unwrap_or(-1),
            cluster
                .brokers
                .into_iter()
                .map(|b| (b.id, b.host, b.port, b.rack))
                .collect(),
        ))
    }

    /// The ACLs matching `filter`, as rows; raises the broker's error
    /// (`SecurityDisabledError` without an authorizer).
    fn describe_acls(
        &self,
        py: Python<'_>,
        filter: AclFilterRow,
        timeout_ms: Option<f64>,
    ) -> PyResult<Vec<AclRow>> {
        let options = options(timeout_ms)?;
        let found = wait_done(py, self.admin.describe_acls(&acl_filter(filter), &options))?
            .map_err(|error| errors::admin_error(py, &error))?;
        Ok(found.into_iter().map(acl_row).collect())
    }

    /// Creates ACLs: per binding, in order, `None` or its exception.
    fn create_acls(
        &self,
        py: Python<'_>,
        bindings: Vec<AclRow>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let bindings: Vec<AclBinding> = bindings.into_iter().map(acl_binding).collect();
        let options = options(timeout_ms)?;
        let results = wait_done(py, self.admin.create_acls(&bindings, &options))?;
        Ok(bindings
            .iter()
            .map(|binding| match results.get(binding) {
                Some(result) => error_or_none(py, result.as_ref()),
                None => errors::other(py, format!("no answer for {binding}"))
                    .into_value(py)
                    .into_any(),
            })
            .collect())
    }

    /// Deletes the ACLs matching each filter: per filter, in order, the
    /// deleted ACLs' rows or the filter's exception.
    fn delete_acls(
        &self,
        py: Python<'_>,
        filters: Vec<AclFilterRow>,
        timeout_ms: Option<f64>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let filters: Vec<AclBindingFilter> = filters.into_iter().map(acl_filter).collect();
        let options = options(timeout_ms)?;
        let results = wait_done(py, self.admin.delete_acls(&filters, &options))?;
        filters
            .iter()
            .map(|filter| match results.get(filter) {
                Some(Ok(deleted)) => {
                    let rows: Vec<AclRow> = deleted.iter().cloned().map(acl_row).collect();
                    Ok(rows.into_pyobject(py)?.into_any().unbind())
                }
                Some(Err(error)) => Ok(errors::admin_error(py, error).into_value(py).into_any()),
                None => Ok(errors::other(py, format!("no answer for {filter}"))
                    .into_value(py)
                    .into_any()),
            })
            .collect()
    }

    /// The SCRAM credentials of `users` (`None`: every user that has
    /// some): `{user: [(mechanism, iterations)] or exception}`.
    #[allow(clippy::needless_pass_by_value)]
    fn describe_user_scram_credentials<'py>(
        &self,
        py: Python<'py>,
        users: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let found = wait_done(
            py,
            self.admin
                .describe_user_scram_credentials(users.as_deref(), &AdminOptions::new()),
        )?
        .map_err(|error| errors::admin_error(py, &error))?;
        let dict = PyDict::new(py);
        for (user, result) in found {
            match result {
                Ok(infos) => {
                    let infos: Vec<(i8, i32)> = infos
                        .into_iter()
                        .map(|info| (info.mechanism.code(), info.iterations))
                        .collect();
                    dict.set_item(user, infos)?;
                }
                Err(error) => {
                    dict.set_item(user, errors::admin_error(py, &error).into_value(py))?;
                }
            }
        }
        Ok(dict)
    }

    /// Applies SCRAM credential changes: `{user: None or exception}`.
    fn alter_user_scram_credentials<'py>(
        &self,
        py: Python<'py>,
        changes: Vec<ScramChange>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let alterations: Vec<ScramAlteration> = changes
            .into_iter()
            .map(|(user, mechanism, upsert)| {
                let mechanism = ScramMechanism::from_code(mechanism);
                match upsert {
                    None => ScramAlteration::delete(user, mechanism),
                    Some((iterations, salt, salted_password)) => ScramAlteration::UpsertSalted {
                        user,
                        mechanism,
                        iterations,
                        salt,
                        salted_password,
                    },
                }
            })
            .collect();
        let results = wait_done(
            py,
            self.admin
                .alter_user_scram_credentials(&alterations, &AdminOptions::new()),
        )?;
        let dict = PyDict::new(py);
        for (user, result) in results {
            dict.set_item(user, error_or_none(py, result.as_ref()))?;
        }
        Ok(dict)
    }
}

/// `password` salted for a SCRAM mechanism (1: SHA-256, 2: SHA-512) with
/// `salt` over `iterations`, as the broker stores it.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn scram_salted_password(
    mechanism: i8,
    password: &str,
    salt: Vec<u8>,
    iterations: u32,
) -> PyResult<Vec<u8>> {
    use ferrokafka_transport::sasl::ScramHash;
    let hash = match mechanism {
        1 => ScramHash::Sha256,
        2 => ScramHash::Sha512,
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "mechanism must be SCRAM_SHA_256 or SCRAM_SHA_512, not {mechanism}"
            )));
        }
    };
    if iterations == 0 {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "iterations must be at least 1",
        ));
    }
    Ok(hash.salted_password(password, &salt, iterations))
}
