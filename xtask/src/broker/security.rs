//! Security listeners for `cargo xtask broker start --security`: SASL over
//! plaintext and TLS (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER), and TLS alone,
//! with a certificate authority and certificates made for the run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// The users the SASL listeners know, with their passwords: each exists for
/// PLAIN and for both SCRAM mechanisms.
pub const USERS: &[(&str, &str)] = &[("admin", "admin-secret"), ("alice", "alice-secret")];

/// The SASL mechanisms the SASL listeners enable.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// Ports of one node's security listeners.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SecurePorts {
    /// SASL_PLAINTEXT listener.
    pub sasl_plaintext: u16,
    /// SSL listener (client certificates requested, not required).
    pub ssl: u16,
    /// SASL_SSL listener.
    pub sasl_ssl: u16,
}

/// Certificate files made for one cluster (PEM).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificates {
    /// The CA that signed the broker and client certificates.
    pub ca_file: PathBuf,
    /// The brokers' private key and certificate chain, for `ssl.keystore.location`.
    pub broker_keystore_file: PathBuf,
    /// A client certificate signed by the CA (CN=ferrokafka-client).
    pub client_cert_file: PathBuf,
    /// The client certificate's private key (PKCS#8).
    pub client_key_file: PathBuf,
}

/// A SASL user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// What clients need to use the security listeners; part of the JSON line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecurityInfo {
    /// Bootstrap servers of the SASL_PLAINTEXT listeners.
    pub sasl_plaintext: String,
    /// Bootstrap servers of the SSL listeners.
    pub ssl: String,
    /// Bootstrap servers of the SASL_SSL listeners.
    pub sasl_ssl: String,
    /// Enabled SASL mechanisms.
    pub mechanisms: Vec<String>,
    /// Users known to PLAIN and SCRAM.
    pub users: Vec<User>,
    /// Certificate files.
    pub certificates: Certificates,
}

impl SecurityInfo {
    /// Gathers the per-node ports into bootstrap lists.
    pub fn new(ports: &[SecurePorts], certificates: Certificates) -> Self {
        let list = |pick: fn(&SecurePorts) -> u16| {
            ports
                .iter()
                .map(|p| format!("127.0.0.1:{}", pick(p)))
                .collect::<Vec<_>>()
                .join(",")
        };
        SecurityInfo {
            sasl_plaintext: list(|p| p.sasl_plaintext),
            ssl: list(|p| p.ssl),
            sasl_ssl: list(|p| p.sasl_ssl),
            mechanisms: MECHANISMS.iter().map(ToString::to_string).collect(),
            users: USERS
                .iter()
                .map(|(u, p)| User {
                    username: (*u).to_string(),
                    password: (*p).to_string(),
                })
                .collect(),
            certificates,
        }
    }
}

/// Makes a CA, a broker certificate for `localhost` and `127.0.0.1`, and a
/// client certificate, under `dir`, with the `openssl` command.
pub fn make_certificates(dir: &Path) -> anyhow::Result<Certificates> {
    crate::tools::require(
        "openssl",
        "OpenSSL's command-line tool, for test certificates",
    )?;
    std::fs::create_dir_all(dir)?;
    let path = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| -> anyhow::Result<()> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .context("running openssl")?;
        if !output.status.success() {
            bail!(
                "openssl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "30",
        "-subj",
        "/CN=ferrokafka-test-ca",
    ])?;
    // Extensions make these X.509 v3 certificates, which rustls requires.
    std::fs::write(
        path("broker.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )?;
    std::fs::write(
        path("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )?;
    for (name, subject, extensions) in [
        ("broker", "/CN=localhost", Some("broker.ext")),
        ("client", "/CN=ferrokafka-client", Some("client.ext")),
    ] {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        openssl(&[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ])?;
        let mut sign = vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "30",
        ];
        if let Some(ext) = extensions {
            sign.extend(["-extfile", ext]);
        }
        openssl(&sign)?;
    }
    // Kafka reads a PEM keystore as the private key followed by the chain.
    let keystore = [
        std::fs::read_to_string(path("broker.key"))?,
        std::fs::read_to_string(path("broker.pem"))?,
        std::fs::read_to_string(path("ca.pem"))?,
    ]
    .concat();
    std::fs::write(path("broker-keystore.pem"), keystore)?;
    Ok(Certificates {
        ca_file: path("ca.pem"),
        broker_keystore_file: path("broker-keystore.pem"),
        client_cert_file: path("client.pem"),
        client_key_file: path("client.key"),
    })
}

/// `kafka-storage format` arguments that create the SCRAM users (KIP-900),
/// so they exist before the first client connects.
pub fn scram_format_args() -> Vec<String> {
    let mut args = Vec::new();
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        for (user, password) in USERS {
            args.push("--add-scram".to_string());
            args.push(format!("{mechanism}=[name={user},password={password}]"));
        }
    }
    args
}

/// The listener names and `server.properties` lines of the security listeners.
pub fn properties(certificates: &Certificates) -> String {
    let mut out = String::new();
    let mut plain_users = String::new();
    for (user, password) in USERS {
        let _ = write!(plain_users, " user_{user}=\"{password}\"");
    }
    let _ = writeln!(out, "sasl.enabled.mechanisms={}", MECHANISMS.join(","));
    for listener in ["sasl_plaintext", "sasl_ssl"] {
        let _ = writeln!(
            out,
            "listener.name.{listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required{plain_users};"
        );
        for scram in ["scram-sha-256", "scram-sha-512"] {
            let _ = writeln!(
                out,
                "listener.name.{listener}.{scram}.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;"
            );
        }
        // Unsecured JWS tokens: the broker checks the token's shape and
        // expiry, which is what a client's OAUTHBEARER support must get right.
        let _ = writeln!(
            out,
            "listener.name.{listener}.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
        );
    }
    let _ = writeln!(out, "ssl.keystore.type=PEM");
    let _ = writeln!(
        out,
        "ssl.keystore.location={}",
        certificates.broker_keystore_file.display()
    );
    let _ = writeln!(out, "ssl.truststore.type=PEM");
    let _ = writeln!(
        out,
        "ssl.truststore.location={}",
        certificates.ca_file.display()
    );
    let _ = writeln!(out, "ssl.client.auth=requested");
    out
}
