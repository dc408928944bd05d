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
    /// `sasl_mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
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
