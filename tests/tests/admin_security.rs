//! ACLs and SCRAM credentials through the admin client, against a private
//! single node with Kafka's StandardAuthorizer: what the admin client
//! changes, the broker then reports (and enforces).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferrokafka_admin::acls::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourcePattern,
    ResourceType,
};
use ferrokafka_admin::scram::{ScramAlteration, ScramCredentialInfo, ScramMechanism};
use ferrokafka_admin::topics::NewTopic;
use ferrokafka_admin::{Admin, AdminConfig, AdminError, AdminOptions};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_tests::{start_cluster_with, unique_topic};
use ferrokafka_transport::config::ClientConfig;
use ferrokafka_transport::{Client, TransportError};
use xtask::broker::{ClusterInfo, LocalCluster, StartOptions};

/// A single node with the security listeners and the StandardAuthorizer;
/// the PLAINTEXT listeners (clients, brokers and controller alike) are
/// `User:ANONYMOUS`, a super user, and so is the SASL user `admin`.
fn authorizer_cluster() -> &'static ClusterInfo {
    static CLUSTER: OnceLock<LocalCluster> = OnceLock::new();
    &CLUSTER
        .get_or_init(|| {
            start_cluster_with(&StartOptions {
                security: true,
                extra_properties: vec![
                    (
                        "authorizer.class.name".to_string(),
                        "org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
                    ),
                    (
                        "super.users".to_string(),
                        "User:ANONYMOUS;User:admin".to_string(),
                    ),
                ],
                ..StartOptions::single_node()
            })
        })
        .info
}

fn options() -> AdminOptions {
    AdminOptions::new().timeout(Duration::from_secs(30))
}

/// An admin client on the PLAINTEXT listener (a super user).
async fn super_admin() -> Admin {
    let cluster = authorizer_cluster();
    Admin::connect(
        AdminConfig::from_pairs([("bootstrap_servers", cluster.bootstrap_servers.as_str())])
            .unwrap(),
    )
    .await
    .unwrap()
}

/// The client settings of `user` on the SASL_PLAINTEXT listener.
fn sasl_pairs(user: &str, password: &str, mechanism: &str) -> Vec<(String, String)> {
    let security = authorizer_cluster()
        .security
        .as_ref()
        .expect("security listeners");
    [
        ("bootstrap_servers", security.sasl_plaintext.as_str()),
        ("security_protocol", "SASL_PLAINTEXT"),
        ("sasl_mechanism", mechanism),
        ("sasl_plain_username", user),
        ("sasl_plain_password", password),
        ("reconnect_backoff_ms", "50"),
        ("default_api_timeout_ms", "10000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The ACLs `filter` matches, polled until `done` accepts them (a change
/// reaches the broker's authorizer a moment after the controller accepts
/// it), within 20 s.
async fn acls_until(
    admin: &Admin,
    filter: &AclBindingFilter,
    done: impl Fn(&[AclBinding]) -> bool,
) -> Vec<AclBinding> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = admin.describe_acls(filter, &options()).await.unwrap();
        if done(&found) {
            return found;
        }
        assert!(Instant::now() < deadline, "{filter}: still {found:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn topic_filter(topic: &str, pattern_type: PatternType) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::Topic,
        name: Some(topic.to_string()),
        pattern_type,
        ..AclBindingFilter::any()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_created_described_enforced_and_deleted() {
    let admin = super_admin().await;
    let topic = unique_topic("acl-topic");
    let created = admin
        .create_topics(&[NewTopic::new(&topic, 1, 1)], false, &options())
        .await;
    created[&topic].as_ref().unwrap();

    let alice = "User:alice";
    let read = AclBinding::allow(ResourcePattern::topic(&topic), alice, AclOperation::Read);
    let describe = AclBinding::allow(
        ResourcePattern::topic(&topic),
        alice,
        AclOperation::Describe,
    );
    let prefixed = AclBinding::deny(
        ResourcePattern::topic(format!("{topic}-")).prefixed(),
        alice,
        AclOperation::Write,
    )
    .host("10.1.2.3");
    let group = AclBinding::allow(ResourcePattern::group(&topic), alice, AclOperation::Read);
    // No principal type: the broker refuses this one binding.
    let invalid = AclBinding::allow(ResourcePattern::topic(&topic), "alice", AclOperation::Read);
    let bindings = [
        read.clone(),
        describe.clone(),
        prefixed.clone(),
        group.clone(),
        invalid.clone(),
    ];
    let created = admin.create_acls(&bindings, &options()).await;
    assert_eq!(created.len(), 5);
    for binding in [&read, &describe, &prefixed, &group] {
        assert!(
            created[binding].is_ok(),
            "{binding}: {:?}",
            created[binding]
        );
    }
    let error = created[&invalid].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::InvalidRequest), "{error}");

    // The topic's literal ACLs, and with MATCH the prefixed one that
    // applies to `<topic>-x` too.
    let literal = acls_until(
        &admin,
        &topic_filter(&topic, PatternType::Literal),
        |found| found.len() == 2,
    )
    .await;
    let mut expected = vec![read.clone(), describe.clone()];
    expected.sort();
    assert_eq!(literal, expected);
    let matching = acls_until(
        &admin,
        &topic_filter(&format!("{topic}-x"), PatternType::Match),
        |found| !found.is_empty(),
    )
    .await;
    assert_eq!(matching, std::slice::from_ref(&prefixed));
    let by_principal = acls_until(
        &admin,
        &AclBindingFilter {
            principal: Some(alice.to_string()),
            permission: AclPermission::Allow,
            resource_type: ResourceType::Group,
            ..AclBindingFilter::any()
        },
        |found| !found.is_empty(),
    )
    .await;
    assert_eq!(by_principal, std::slice::from_ref(&group));

    // The broker enforces them: alice may describe this topic, not another.
    let other = unique_topic("acl-other");
    admin
        .create_topics(&[NewTopic::new(&other, 1, 1)], false, &options())
        .await[&other]
        .as_ref()
        .unwrap();
    let as_alice = Admin::connect(
        AdminConfig::from_pairs(sasl_pairs("alice", "alice-secret", "SCRAM-SHA-256")).unwrap(),
    )
    .await
    .unwrap();
    let seen = as_alice
        .describe_topics(
            &[&topic, &other],
            &AdminOptions::new().timeout(Duration::from_secs(5)),
        )
        .await;
    assert!(seen[&topic].is_ok(), "{:?}", seen[&topic]);
    let refused = seen[&other].as_ref().unwrap_err();
    assert_eq!(
        refused.code(),
        Some(ErrorCode::TopicAuthorizationFailed),
        "{refused}"
    );

    // Deleting with filters answers what each deleted; then it is gone.
    let by_operation = AclBindingFilter {
        operation: AclOperation::Read,
        ..topic_filter(&topic, PatternType::Any)
    };
    let prefixed_filter = topic_filter(&format!("{topic}-"), PatternType::Prefixed);
    let deleted = admin
        .delete_acls(&[by_operation.clone(), prefixed_filter.clone()], &options())
        .await;
    assert_eq!(
        deleted[&by_operation].as_ref().unwrap(),
        std::slice::from_ref(&read)
    );
    assert_eq!(
        deleted[&prefixed_filter].as_ref().unwrap(),
        std::slice::from_ref(&prefixed)
    );
    let left = acls_until(&admin, &topic_filter(&topic, PatternType::Any), |found| {
        found.len() == 1
    })
    .await;
    assert_eq!(left, std::slice::from_ref(&describe));
    acls_until(
        &admin,
        &topic_filter(&format!("{topic}-x"), PatternType::Match),
        <[AclBinding]>::is_empty,
    )
    .await;

    // A filter matching nothing deletes nothing, successfully.
    let nothing = topic_filter(&unique_topic("no-acls"), PatternType::Literal);
    let deleted = admin
        .delete_acls(std::slice::from_ref(&nothing), &options())
        .await;
    assert_eq!(deleted[&nothing].as_ref().unwrap(), &[]);
}

/// Connects a transport client to the SASL_PLAINTEXT listener as `user`
/// (which authenticates, then reads the metadata).
async fn authenticate(user: &str, password: &str, mechanism: &str) -> Result<(), TransportError> {
    let config = ClientConfig::from_pairs(sasl_pairs(user, password, mechanism)).unwrap();
    Client::connect(config).await.map(drop)
}

/// Whether `error` is (or, for a client that tried every bootstrap server,
/// names) a failed SCRAM-SHA-256 authentication: not a refused connection
/// or a timeout.
fn is_auth_failure(error: &TransportError) -> bool {
    matches!(error, TransportError::Auth { .. })
        || error
            .to_string()
            .contains("SASL SCRAM-SHA-256 authentication with")
}

/// Authenticates as `user` until `done` accepts the outcome (a credential
/// reaches the SASL listener a moment after the controller stores it),
/// within 20 s.
async fn authenticate_until(
    user: &str,
    password: &str,
    mechanism: &str,
    done: impl Fn(&Result<(), TransportError>) -> bool,
) -> Result<(), TransportError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = authenticate(user, password, mechanism).await;
        if done(&outcome) {
            return outcome;
        }
        assert!(
            Instant::now() < deadline,
            "{user} with {mechanism}: still {outcome:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Describes `user`'s SCRAM credentials, sorted by mechanism, until they
/// are `expected`, within 20 s: the answering broker learns an alteration
/// from the metadata log a moment after the controller commits it.
async fn credentials_until(admin: &Admin, user: &str, expected: &[ScramCredentialInfo]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let described = admin
            .describe_user_scram_credentials(Some(&[user]), &options())
            .await
            .unwrap();
        let mut credentials = described[user].clone().unwrap_or_default();
        credentials.sort_by_key(|c| c.mechanism);
        if credentials == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{user}: still {credentials:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_credentials_are_created_described_used_and_deleted() {
    let admin = super_admin().await;
    let user = unique_topic("carol");
    let password = "carol-secret";

    // Unknown to the broker at first, and unable to log in.
    let described = admin
        .describe_user_scram_credentials(Some(&[&user]), &options())
        .await
        .unwrap();
    let error = described[&user].as_ref().unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::ResourceNotFound), "{error}");
    let refused = authenticate(&user, password, "SCRAM-SHA-256")
        .await
        .unwrap_err();
    assert!(is_auth_failure(&refused), "{refused}");

    // Two credentials for the new user; a second user's too-few iterations
    // (refused by the client) and a third's too many (by the broker) fail
    // alone.
    let few = unique_topic("few");
    let many = unique_topic("many");
    let altered = admin
        .alter_user_scram_credentials(
            &[
                ScramAlteration::upsert(&user, ScramMechanism::Sha256, 8192, password),
                ScramAlteration::upsert(&user, ScramMechanism::Sha512, 4096, "other-secret"),
                ScramAlteration::upsert(&few, ScramMechanism::Sha256, 1000, "x"),
                ScramAlteration::upsert(&many, ScramMechanism::Sha256, 100_000, "x"),
            ],
            &options(),
        )
        .await;
    assert_eq!(altered.len(), 3, "{altered:?}");
    altered[&user].as_ref().unwrap();
    assert!(
        matches!(altered[&few], Err(AdminError::InvalidArgument(_))),
        "{:?}",
        altered[&few]
    );
    let error = altered[&many].as_ref().unwrap_err();
    assert_eq!(
        error.code(),
        Some(ErrorCode::UnacceptableCredential),
        "{error}"
    );

    credentials_until(
        &admin,
        &user,
        &[
            ScramCredentialInfo {
                mechanism: ScramMechanism::Sha256,
                iterations: 8192,
            },
            ScramCredentialInfo {
                mechanism: ScramMechanism::Sha512,
                iterations: 4096,
            },
        ],
    )
    .await;
    let described = admin
        .describe_user_scram_credentials(Some(&[&user, &many]), &options())
        .await
        .unwrap();
    assert_eq!(
        described[&many].as_ref().unwrap_err().code(),
        Some(ErrorCode::ResourceNotFound)
    );
    let everyone = admin
        .describe_user_scram_credentials(None::<&[&str]>, &options())
        .await
        .unwrap();
    assert!(everyone.contains_key(&user), "{everyone:?}");
    assert!(everyone.contains_key("alice"), "{everyone:?}");

    // The broker salts and checks as the client computed: the user logs in
    // with each mechanism's own password, and not with a wrong one.
    authenticate_until(&user, password, "SCRAM-SHA-256", Result::is_ok)
        .await
        .unwrap();
    authenticate(&user, "other-secret", "SCRAM-SHA-512")
        .await
        .unwrap();
    let wrong = authenticate(&user, "wrong", "SCRAM-SHA-256")
        .await
        .unwrap_err();
    assert!(is_auth_failure(&wrong), "{wrong}");

    // Deleting the SHA-256 credential: it is gone from the description and
    // from the listener; SHA-512 still works. Deleting it again fails.
    let deleted = admin
        .alter_user_scram_credentials(
            &[ScramAlteration::delete(&user, ScramMechanism::Sha256)],
            &options(),
        )
        .await;
    deleted[&user].as_ref().unwrap();
    credentials_until(
        &admin,
        &user,
        &[ScramCredentialInfo {
            mechanism: ScramMechanism::Sha512,
            iterations: 4096,
        }],
    )
    .await;
    let gone = authenticate_until(&user, password, "SCRAM-SHA-256", Result::is_err)
        .await
        .unwrap_err();
    assert!(is_auth_failure(&gone), "{gone}");
    authenticate(&user, "other-secret", "SCRAM-SHA-512")
        .await
        .unwrap();
    let again = admin
        .alter_user_scram_credentials(
            &[ScramAlteration::delete(&user, ScramMechanism::Sha256)],
            &options(),
        )
        .await;
    assert_eq!(
        again[&user].as_ref().unwrap_err().code(),
        Some(ErrorCode::ResourceNotFound)
    );
}
