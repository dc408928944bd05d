//! The flags every command that talks to a cluster takes: bootstrap
//! servers, the common security settings, and `-X` for any other key.

use clap::Args;

/// Where the cluster is and how to reach it.
#[derive(Args, Debug)]
pub(crate) struct ConnectionArgs {
    /// Bootstrap servers, `host:port[,host:port...]`; the first that answers is used.
    #[arg(short = 'b', long = "bootstrap-servers")]
    bootstrap: String,
    /// `security_protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    #[arg(long)]
    security_protocol: Option<String>,
    /// `sasl_mechanism`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER
    /// (with `-X sasl.oauthbearer.token.endpoint.url=...` and the client
    /// credentials or assertion keys for the built-in token provider).
    #[arg(long)]
    sasl_mechanism: Option<String>,
    /// `sasl_plain_username`.
    #[arg(long)]
    sasl_username: Option<String>,
    /// `sasl_plain_password`.
    #[arg(long)]
    sasl_password: Option<String>,
    /// `ssl_cafile`: PEM file of the CAs to trust.
    #[arg(long)]
    ssl_cafile: Option<String>,
    /// Any client setting, Java or kafka-python spelling (repeatable).
    #[arg(short = 'X', value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

impl ConnectionArgs {
    /// The settings as `(key, value)` pairs, `-X` ones last so they win.
    pub(crate) fn pairs(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut pairs: Vec<(String, String)> =
            vec![("bootstrap_servers".into(), self.bootstrap.clone())];
        let flags = [
            ("security_protocol", &self.security_protocol),
            ("sasl_mechanism", &self.sasl_mechanism),
            ("sasl_plain_username", &self.sasl_username),
            ("sasl_plain_password", &self.sasl_password),
            ("ssl_cafile", &self.ssl_cafile),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                pairs.push((key.to_string(), value.clone()));
            }
        }
        for setting in &self.settings {
            let (key, value) = setting
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("-X takes KEY=VALUE, not {setting:?}"))?;
            pairs.push((key.to_string(), value.to_string()));
        }
        Ok(pairs)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use ferrokafka::transport::config::ClientConfig;
    use ferrokafka::transport::sasl::Credentials;
    use ferrokafka::transport::sasl::oidc::Grant;

    use super::ConnectionArgs;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        connection: ConnectionArgs,
    }

    #[test]
    fn oauthbearer_keys_pass_through_dash_x_in_either_spelling() {
        let command = Command::try_parse_from([
            "ferrokafka",
            "-b",
            "127.0.0.1:9092",
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "OAUTHBEARER",
            "-X",
            "sasl.oauthbearer.token.endpoint.url=https://127.0.0.1:8443/token",
            "-X",
            "sasl.oauthbearer.jwt.retriever.class=org.apache.kafka.common.security.oauthbearer.JwtBearerJwtRetriever",
            "-X",
            "sasl_oauthbearer_assertion_file=/run/secrets/assertion.jwt",
            "-X",
            "sasl.login.refresh.buffer.seconds=30",
        ])
        .unwrap();
        let config = ClientConfig::from_pairs(command.connection.pairs().unwrap()).unwrap();
        let oauth = &config.sasl_oauthbearer;
        assert_eq!(
            oauth.token_endpoint_url.as_deref(),
            Some("https://127.0.0.1:8443/token")
        );
        assert_eq!(oauth.grant, Grant::JwtBearer);
        assert_eq!(oauth.refresh.buffer.as_secs(), 30);
        assert!(matches!(
            config.credentials().unwrap(),
            Some(Credentials::OAuthBearer(_))
        ));
    }
}
