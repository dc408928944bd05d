//! SCRAM credentials (KIP-554): describe which mechanisms a user has, and
//! add, replace or delete a user's credential.
//!
//! The password never leaves the client: an upsertion sends a random salt
//! and the salted password, RFC 5802's `Hi(password, salt, iterations)`,
//! computed here with the same code the client's own SCRAM authentication
//! uses.
//!
//! ```no_run
//! # async fn example(admin: ferrokafka_admin::Admin) {
//! use ferrokafka_admin::AdminOptions;
//! use ferrokafka_admin::scram::{ScramAlteration, ScramMechanism};
//!
//! let options = AdminOptions::new();
//! let altered = admin
//!     .alter_user_scram_credentials(
//!         &[ScramAlteration::upsert("bob", ScramMechanism::Sha256, 8192, "bob-secret")],
//!         &options,
//!     )
//!     .await;
//! assert!(altered["bob"].is_ok());
//! if let Ok(users) = admin.describe_user_scram_credentials(Some(&["bob"]), &options).await {
//!     println!("{:?}", users["bob"]);
//! }
//! # }
//! ```

use std::collections::BTreeMap;
use std::fmt;

use ferrokafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use ferrokafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use ferrokafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest,
};
use ferrokafka_transport::sasl::{ScramHash, Secret};

use crate::retry::{each_until_deadline, until_deadline};
use crate::topics::check;
use crate::{Admin, AdminError, AdminOptions};

/// The fewest iterations Kafka accepts for a SCRAM credential.
pub const MIN_ITERATIONS: u32 = 4096;

/// Bytes of random salt per credential.
const SALT_LEN: usize = 32;

/// A SCRAM mechanism, with Kafka's codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    /// A code this client does not know (Kafka's `UNKNOWN` is 0).
    Unknown(i8),
    /// SCRAM-SHA-256 (1).
    Sha256,
    /// SCRAM-SHA-512 (2).
    Sha512,
}

impl ScramMechanism {
    /// Kafka's code.
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Unknown(code) => code,
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of Kafka's `code`.
    pub fn from_code(code: i8) -> Self {
        match code {
            1 => ScramMechanism::Sha256,
            2 => ScramMechanism::Sha512,
            other => ScramMechanism::Unknown(other),
        }
    }

    /// Parses `SCRAM-SHA-256` or `SCRAM-SHA-512` (any case).
    ///
    /// ```
    /// use ferrokafka_admin::scram::ScramMechanism;
    /// assert_eq!(ScramMechanism::parse("scram-sha-512"), Some(ScramMechanism::Sha512));
    /// assert_eq!(ScramMechanism::parse("PLAIN"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Self> {
        [ScramMechanism::Sha256, ScramMechanism::Sha512]
            .into_iter()
            .find(|m| m.to_string().eq_ignore_ascii_case(name))
    }

    fn hash(self) -> Option<ScramHash> {
        match self {
            ScramMechanism::Sha256 => Some(ScramHash::Sha256),
            ScramMechanism::Sha512 => Some(ScramHash::Sha512),
            ScramMechanism::Unknown(_) => None,
        }
    }
}

impl fmt::Display for ScramMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramMechanism::Sha256 => f.write_str("SCRAM-SHA-256"),
            ScramMechanism::Sha512 => f.write_str("SCRAM-SHA-512"),
            ScramMechanism::Unknown(code) => write!(f, "UNKNOWN ({code})"),
        }
    }
}

/// One SCRAM credential of a user, as described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    /// The mechanism.
    pub mechanism: ScramMechanism,
    /// Its iteration count.
    pub iterations: i32,
}

/// A change to one user's SCRAM credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum ScramAlteration {
    /// Adds or replaces the user's credential for a mechanism.
    Upsert {
        /// The user name.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
        /// PBKDF2 iterations, at least [`MIN_ITERATIONS`] (brokers refuse
        /// more than their maximum, 16384 for Apache Kafka).
        iterations: u32,
        /// The password; only its salted form is sent.
        password: Secret,
    },
    /// Adds or replaces the user's credential for a mechanism with a salt
    /// and salted password computed beforehand (see
    /// [`ScramHash::salted_password`]), as kafka-python's
    /// `UserScramCredentialUpsertion` carries them.
    UpsertSalted {
        /// The user name.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
        /// The PBKDF2 iterations the password was salted with.
        iterations: u32,
        /// The salt.
        salt: Vec<u8>,
        /// The password salted with `salt` over `iterations`.
        salted_password: Vec<u8>,
    },
    /// Deletes the user's credential for a mechanism.
    Delete {
        /// The user name.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
    },
}

impl fmt::Debug for ScramAlteration {
    /// Never shows a password, a salt or a salted password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramAlteration::Upsert {
                user,
                mechanism,
                iterations,
                ..
            }
            | ScramAlteration::UpsertSalted {
                user,
                mechanism,
                iterations,
                ..
            } => f
                .debug_struct("Upsert")
                .field("user", user)
                .field("mechanism", mechanism)
                .field("iterations", iterations)
                .finish_non_exhaustive(),
            ScramAlteration::Delete { user, mechanism } => f
                .debug_struct("Delete")
                .field("user", user)
                .field("mechanism", mechanism)
                .finish(),
        }
    }
}

impl ScramAlteration {
    /// Adds or replaces `user`'s credential for `mechanism`.
    pub fn upsert(
        user: impl Into<String>,
        mechanism: ScramMechanism,
        iterations: u32,
        password: impl Into<String>,
    ) -> Self {
        ScramAlteration::Upsert {
            user: user.into(),
            mechanism,
            iterations,
            password: Secret::new(password),
        }
    }

    /// Deletes `user`'s credential for `mechanism`.
    pub fn delete(user: impl Into<String>, mechanism: ScramMechanism) -> Self {
        ScramAlteration::Delete {
            user: user.into(),
            mechanism,
        }
    }

    /// The user this alteration changes.
    pub fn user(&self) -> &str {
        match self {
            ScramAlteration::Upsert { user, .. }
            | ScramAlteration::UpsertSalted { user, .. }
            | ScramAlteration::Delete { user, .. } => user,
        }
    }
}

/// An alteration ready to send: its salt and salted password computed.
enum Prepared {
    Upsert(ScramCredentialUpsertion),
    Delete(ScramCredentialDeletion),
}

/// Checks an upsertion's mechanism and iterations: the hash and the
/// iterations as the request field.
fn check_upsert(
    user: &str,
    mechanism: ScramMechanism,
    iterations: u32,
) -> Result<(ScramHash, i32), AdminError> {
    let hash = mechanism.hash().ok_or_else(|| {
        AdminError::InvalidArgument(format!("user {user}: {mechanism} is not a SCRAM mechanism"))
    })?;
    if iterations < MIN_ITERATIONS {
        return Err(AdminError::InvalidArgument(format!(
            "user {user}: {iterations} iterations is below the minimum of {MIN_ITERATIONS}"
        )));
    }
    let field = i32::try_from(iterations)
        .map_err(|_| AdminError::InvalidArgument(format!("user {user}: too many iterations")))?;
    Ok((hash, field))
}

fn prepare(alteration: &ScramAlteration) -> Result<Prepared, AdminError> {
    match alteration {
        ScramAlteration::Upsert {
            user,
            mechanism,
            iterations,
            password,
        } => {
            let (hash, iterations_field) = check_upsert(user, *mechanism, *iterations)?;
            let mut salt = [0u8; SALT_LEN];
            getrandom::fill(&mut salt).map_err(|e| {
                AdminError::InvalidArgument(format!("no randomness for a SCRAM salt: {e}"))
            })?;
            let salted = hash.salted_password(password.expose(), &salt, *iterations);
            Ok(Prepared::Upsert(ScramCredentialUpsertion {
                name: user.clone(),
                mechanism: mechanism.code(),
                iterations: iterations_field,
                salt: salt.to_vec().into(),
                salted_password: salted.into(),
                ..ScramCredentialUpsertion::default()
            }))
        }
        ScramAlteration::UpsertSalted {
            user,
            mechanism,
            iterations,
            salt,
            salted_password,
        } => {
            let (_, iterations_field) = check_upsert(user, *mechanism, *iterations)?;
            if salt.is_empty() || salted_password.is_empty() {
                return Err(AdminError::InvalidArgument(format!(
                    "user {user}: the salt and the salted password must not be empty"
                )));
            }
            Ok(Prepared::Upsert(ScramCredentialUpsertion {
                name: user.clone(),
                mechanism: mechanism.code(),
                iterations: iterations_field,
                salt: salt.clone().into(),
                salted_password: salted_password.clone().into(),
                ..ScramCredentialUpsertion::default()
            }))
        }
        ScramAlteration::Delete { user, mechanism } => {
            Ok(Prepared::Delete(ScramCredentialDeletion {
                name: user.clone(),
                mechanism: mechanism.code(),
                ..ScramCredentialDeletion::default()
            }))
        }
    }
}

/// The users' credentials as described: per user, its credentials or its
/// error (`RESOURCE_NOT_FOUND` for a user without any).
pub type UserScramCredentials = BTreeMap<String, Result<Vec<ScramCredentialInfo>, AdminError>>;

impl Admin {
    /// The SCRAM credentials of `users` (`None`: of every user that has
    /// one): mechanism and iterations, never salts or keys. A named user
    /// without credentials is its own `RESOURCE_NOT_FOUND`.
    pub async fn describe_user_scram_credentials<S: AsRef<str>>(
        &self,
        users: Option<&[S]>,
        options: &AdminOptions,
    ) -> Result<UserScramCredentials, AdminError> {
        let request = DescribeUserScramCredentialsRequest {
            users: users.map(|names| {
                names
                    .iter()
                    .map(|name| UserName {
                        name: name.as_ref().to_string(),
                        ..UserName::default()
                    })
                    .collect()
            }),
            ..DescribeUserScramCredentialsRequest::default()
        };
        let response = until_deadline(
            "describing SCRAM credentials",
            self.deadline(options),
            self.retry_backoff(),
            || async {
                let response = self.live()?.send_any(&request).await?;
                check(
                    "describing SCRAM credentials",
                    response.error_code,
                    response.error_message.clone(),
                )?;
                Ok(response)
            },
        )
        .await?;
        Ok(response
            .results
            .into_iter()
            .map(|r| {
                let result =
                    check(format!("user {}", r.user), r.error_code, r.error_message).map(|()| {
                        r.credential_infos
                            .iter()
                            .map(|c| ScramCredentialInfo {
                                mechanism: ScramMechanism::from_code(c.mechanism),
                                iterations: c.iterations,
                            })
                            .collect()
                    });
                (r.user, result)
            })
            .collect())
    }

    /// Applies `alterations`, one result per user: a user whose
    /// alterations the client or the broker refuses (too few iterations,
    /// an unknown mechanism, deleting a credential that does not exist)
    /// fails alone. Brokers take one alteration per user per request, so
    /// several alterations of a user go in successive requests, in order;
    /// a user's first failure skips the rest of its alterations.
    pub async fn alter_user_scram_credentials(
        &self,
        alterations: &[ScramAlteration],
        options: &AdminOptions,
    ) -> BTreeMap<String, Result<(), AdminError>> {
        let mut refused: BTreeMap<String, Result<(), AdminError>> = BTreeMap::new();
        let mut prepared: BTreeMap<String, Vec<Prepared>> = BTreeMap::new();
        for alteration in alterations {
            let user = alteration.user().to_string();
            if refused.contains_key(&user) {
                continue;
            }
            match prepare(alteration) {
                Ok(ready) => prepared.entry(user).or_default().push(ready),
                Err(error) => {
                    prepared.remove(&user);
                    refused.insert(user, Err(error));
                }
            }
        }
        let prepared = &prepared;
        let mut results = each_until_deadline(
            "altering the SCRAM credentials of user",
            prepared.keys().cloned().collect(),
            self.deadline(options),
            self.retry_backoff(),
            AdminError::is_retriable,
            |pending| async move {
                // Brokers refuse a user altered twice in one request: the
                // n-th alteration of every user goes in the n-th request,
                // and a user's first failure ends its alterations.
                let mut answers: BTreeMap<String, Result<(), AdminError>> = BTreeMap::new();
                for layer in 0.. {
                    let mut request = AlterUserScramCredentialsRequest::default();
                    for user in &pending {
                        if answers.get(user).is_some_and(Result::is_err) {
                            continue;
                        }
                        match prepared.get(user).and_then(|all| all.get(layer)) {
                            Some(Prepared::Upsert(u)) => request.upsertions.push(u.clone()),
                            Some(Prepared::Delete(d)) => request.deletions.push(d.clone()),
                            None => {}
                        }
                    }
                    if request.upsertions.is_empty() && request.deletions.is_empty() {
                        break;
                    }
                    let response = self.live()?.send_any(&request).await?;
                    for r in response.results {
                        let result =
                            check(format!("user {}", r.user), r.error_code, r.error_message);
                        answers.insert(r.user, result);
                    }
                }
                Ok(answers)
            },
        )
        .await;
        results.append(&mut refused);
        results
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use ferrokafka_protocol::ApiKey;
    use ferrokafka_protocol::ErrorCode;
    use ferrokafka_protocol::messages::AlterUserScramCredentialsResponse;
    use ferrokafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
    use ferrokafka_transport::config::ClientConfig;
    use ferrokafka_transport::fake::{FakeCluster, FakeReply};

    use super::*;

    /// One request as the fake saw it: (user, mechanism, upsert?) each.
    type Sent = Vec<(String, i8, bool)>;

    #[tokio::test]
    async fn a_user_is_altered_once_per_request_and_its_first_failure_stops_it() {
        let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let log = Arc::clone(&sent);
        let cluster = FakeCluster::new(1, move |request| {
            (request.key == ApiKey::AlterUserScramCredentials).then(|| {
                let asked: AlterUserScramCredentialsRequest = request.decode();
                let mut this: Sent = asked
                    .upsertions
                    .iter()
                    .map(|u| (u.name.clone(), u.mechanism, true))
                    .chain(
                        asked
                            .deletions
                            .iter()
                            .map(|d| (d.name.clone(), d.mechanism, false)),
                    )
                    .collect();
                this.sort();
                log.lock().unwrap().push(this.clone());
                let response = AlterUserScramCredentialsResponse {
                    results: this
                        .iter()
                        .map(|(user, _, upsert)| AlterUserScramCredentialsResult {
                            user: user.clone(),
                            // Deleting a credential that is not there.
                            error_code: if *upsert {
                                0
                            } else {
                                ErrorCode::ResourceNotFound.code()
                            },
                            ..AlterUserScramCredentialsResult::default()
                        })
                        .collect(),
                    ..AlterUserScramCredentialsResponse::default()
                };
                FakeReply::with(request, &response)
            })
        });
        let config =
            ClientConfig::from_pairs([("bootstrap_servers", cluster.bootstrap().as_str())])
                .unwrap();
        let admin = Admin::with_client(cluster.client(config).await.unwrap());
        let altered = admin
            .alter_user_scram_credentials(
                &[
                    ScramAlteration::upsert("a", ScramMechanism::Sha256, 4096, "x"),
                    ScramAlteration::delete("b", ScramMechanism::Sha256),
                    ScramAlteration::upsert("a", ScramMechanism::Sha512, 4096, "y"),
                    ScramAlteration::upsert("b", ScramMechanism::Sha512, 4096, "z"),
                    ScramAlteration::upsert("c", ScramMechanism::Sha256, 10, "w"),
                ],
                &AdminOptions::new(),
            )
            .await;
        altered["a"].as_ref().unwrap();
        assert_eq!(
            altered["b"].as_ref().unwrap_err().code(),
            Some(ErrorCode::ResourceNotFound)
        );
        assert!(matches!(altered["c"], Err(AdminError::InvalidArgument(_))));
        let sent = sent.lock().unwrap().clone();
        assert_eq!(
            sent,
            [
                vec![("a".to_string(), 1, true), ("b".to_string(), 1, false)],
                vec![("a".to_string(), 2, true)],
            ]
        );
    }

    #[test]
    fn codes_names_and_client_side_checks() {
        assert_eq!(ScramMechanism::from_code(2), ScramMechanism::Sha512);
        assert_eq!(ScramMechanism::from_code(9).code(), 9);
        assert_eq!(ScramMechanism::Sha256.to_string(), "SCRAM-SHA-256");
        let too_few = ScramAlteration::upsert("u", ScramMechanism::Sha256, 1000, "p");
        assert!(matches!(
            prepare(&too_few),
            Err(AdminError::InvalidArgument(_))
        ));
        let unknown = ScramAlteration::upsert("u", ScramMechanism::Unknown(0), 4096, "p");
        assert!(matches!(
            prepare(&unknown),
            Err(AdminError::InvalidArgument(_))
        ));
    }

    #[test]
    fn an_upsertion_carries_the_salted_password_not_the_password() {
        let upsert = ScramAlteration::upsert("u", ScramMechanism::Sha512, 4096, "pencil");
        let Ok(Prepared::Upsert(sent)) = prepare(&upsert) else {
            panic!("not prepared");
        };
        assert_eq!(sent.salt.len(), SALT_LEN);
        assert_eq!(sent.iterations, 4096);
        assert_eq!(sent.mechanism, 2);
        assert_eq!(
            sent.salted_password.as_ref(),
            ScramHash::Sha512.salted_password("pencil", &sent.salt, 4096)
        );
        let Ok(Prepared::Upsert(again)) = prepare(&upsert) else {
            panic!("not prepared");
        };
        assert_ne!(again.salt, sent.salt, "a fresh salt each time");
    }

    #[test]
    fn a_salted_upsertion_sends_its_own_salt_and_hides_it_from_debug() {
        let salted = ScramHash::Sha256.salted_password("pencil", b"salt-1", 4096);
        let upsert = ScramAlteration::UpsertSalted {
            user: "u".into(),
            mechanism: ScramMechanism::Sha256,
            iterations: 4096,
            salt: b"salt-1".to_vec(),
            salted_password: salted.clone(),
        };
        let Ok(Prepared::Upsert(sent)) = prepare(&upsert) else {
            panic!("not prepared");
        };
        assert_eq!(sent.salt.as_ref(), b"salt-1");
        assert_eq!(sent.salted_password.as_ref(), salted.as_slice());
        assert_eq!(sent.mechanism, 1);
        let shown = format!("{upsert:?}");
        assert!(
            shown.contains("\"u\"") && !shown.contains("salt-1"),
            "{shown}"
        );
        let empty = ScramAlteration::UpsertSalted {
            user: "u".into(),
            mechanism: ScramMechanism::Sha256,
            iterations: 4096,
            salt: Vec::new(),
            salted_password: salted,
        };
        assert!(matches!(
            prepare(&empty),
            Err(AdminError::InvalidArgument(_))
        ));
    }
}
