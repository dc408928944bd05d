//! `--security` listeners serve an independent client (kafka-python) over
//! every SASL mechanism, TLS with and without a client certificate, and
//! SASL over TLS.

use ferrokafka_tests::{start_cluster_with, unique_topic};
use xtask::broker::StartOptions;

#[test]
fn kafka_python_authenticates_on_every_security_listener() {
    let cluster = start_cluster_with(&StartOptions {
        security: true,
        ..StartOptions::single_node()
    });
    let security = cluster
        .info
        .security
        .clone()
        .expect("started with security");
    let certs = &security.certificates;
    let ca = certs.ca_file.to_str().unwrap();
    let cert = certs.client_cert_file.to_str().unwrap();
    let key = certs.client_key_file.to_str().unwrap();
    let user = &security.users[1];

    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
        cases.push((
            format!("SASL_PLAINTEXT {mechanism}"),
            vec![
                "--bootstrap",
                &security.sasl_plaintext,
                "--security-protocol",
                "SASL_PLAINTEXT",
                "--sasl-mechanism",
                mechanism,
                "--username",
                &user.username,
                "--password",
                &user.password,
            ],
        ));
    }
    cases.push((
        "SSL".to_string(),
        vec![
            "--bootstrap",
            &security.ssl,
            "--security-protocol",
            "SSL",
            "--cafile",
            ca,
        ],
    ));
    cases.push((
        "SSL with a client certificate".to_string(),
        vec![
            "--bootstrap",
            &security.ssl,
            "--security-protocol",
            "SSL",
            "--cafile",
            ca,
            "--certfile",
            cert,
            "--keyfile",
            key,
        ],
    ));
    cases.push((
        "SASL_SSL SCRAM-SHA-512".to_string(),
        vec![
            "--bootstrap",
            &security.sasl_ssl,
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--username",
            &user.username,
            "--password",
            &user.password,
            "--cafile",
            ca,
        ],
    ));

    for (name, mut args) in cases {
        let topic = unique_topic("secure");
        args.extend(["--topic", &topic, "--create"]);
        let report = xtask::python::run_interop_script("kafka_python_roundtrip.py", &args)
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(report["consumed"], 1, "{name}: {report}");
        assert_eq!(report["matches"], true, "{name}: {report}");
    }
}
