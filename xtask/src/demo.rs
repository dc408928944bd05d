//! `cargo xtask demo`: the main job on an embedded default. Starts a local
//! Apache Kafka, shows what it serves, and stops it.

use std::net::ToSocketAddrs as _;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::broker::{self, probe};

/// Options of `cargo xtask demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Use this cluster instead of starting one.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
}

/// Runs the demo.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let (cluster, bootstrap) = broker::given_or_started(args.bootstrap_servers.as_deref(), "demo")?;

    let first = bootstrap.split(',').next().context("no bootstrap server")?;
    let addr = first
        .to_socket_addrs()?
        .next()
        .context("bootstrap server does not resolve")?;
    let ranges = probe::api_versions(addr, Duration::from_secs(10))?;
    println!("{first} serves {} APIs:", ranges.len());
    println!("{:>5}  {:>3}..{:<3}", "key", "min", "max");
    for (key, min, max) in &ranges {
        println!("{key:>5}  {min:>3}..{max:<3}");
    }

    if let Some(cluster) = cluster {
        eprintln!("stopping the broker");
        cluster.stop();
    }
    eprintln!("demo finished in {:.1}s", started.elapsed().as_secs_f64());
    Ok(())
}
