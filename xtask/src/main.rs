//! `cargo xtask`: ferrokafka's developer tasks.

use clap::{Parser, Subcommand};
use xtask::broker::{self, Backend, StartOptions, jars};

/// ferrokafka's developer tasks.
#[derive(Parser, Debug)]
enum Task {
    /// Run a real Apache Kafka on this machine.
    #[command(subcommand)]
    Broker(BrokerTask),
    /// Generate the protocol crate's message modules from Kafka's schemas.
    Codegen(xtask::codegen::Args),
    /// Start a local Apache Kafka, show what ferrokafka does with it, stop it.
    Demo(xtask::demo::Args),
    /// Every check: fmt, codegen, clippy, unit/property/golden/integration tests
    /// against a real broker, docs, a short fuzz run.
    Test(xtask::ci::Args),
    /// The same as `test`.
    Ci(xtask::ci::Args),
    /// Run every fuzz target for a bounded time.
    Fuzz(xtask::fuzz::Args),
    /// Measure ferrokafka against librdkafka, the Java client, krafka,
    /// confluent-kafka (Rust) and kafka-python on one broker; writes BENCHMARKS.md.
    Bench(xtask::bench::Args),
    /// Faults against a real 3-node cluster while ferrokafka writes, every
    /// record's fate checked by the Java consumer; writes RELIABILITY.md.
    Chaos(xtask::chaos::Args),
    /// A chaos campaign's group member in a process of its own (started by
    /// `chaos`, not by hand).
    #[command(hide = true)]
    ChaosMember(xtask::chaos::processes::MemberArgs),
    /// A chaos campaign's transactional producer in a process of its own
    /// (started by `chaos`, not by hand).
    #[command(hide = true)]
    ChaosTxnProducer(xtask::chaos::txn_process::ProducerArgs),
    /// Runs a command and writes what it used (started by the benchmarks,
    /// not by hand): a small process to fork the measured client from.
    #[command(hide = true)]
    MeasureChild(xtask::child::MeasureArgs),
    /// Steady produce and consume against a real broker for a long while;
    /// fails when the client's memory, threads, descriptors, connections or
    /// tasks grow, or a record is lost; writes its section of RELIABILITY.md.
    Soak(xtask::soak::Args),
    /// Make golden fixtures with reference implementations (records, protocol).
    Golden(xtask::golden::Args),
}

#[derive(Subcommand, Debug)]
enum BrokerTask {
    /// Start a cluster and print one line of JSON describing it.
    Start {
        /// Apache Kafka release to run.
        #[arg(long, default_value = jars::DEFAULT_KAFKA_VERSION)]
        version: String,
        /// Number of combined broker+controller nodes.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=9))]
        brokers: u8,
        /// Where the brokers run.
        #[arg(long, value_enum, default_value_t = Backend::Local)]
        backend: Backend,
        /// Name of this cluster, to run several side by side.
        #[arg(long, default_value = "default")]
        name: String,
        /// Add SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512, OAUTHBEARER), SSL and
        /// SASL_SSL listeners, with users and certificates made for the run.
        #[arg(long)]
        security: bool,
        /// Format the storage with this feature level instead of the
        /// release's default, as `name=level` (repeatable), e.g.
        /// `transaction.version=1`.
        #[arg(long = "feature", value_name = "NAME=LEVEL", value_parser = parse_feature)]
        features: Vec<(String, u16)>,
        /// Any broker setting, as `key=value` (repeatable), written after
        /// the harness's own so it wins: `--property
        /// auto.create.topics.enable=true`. `{node_id}` in a value becomes
        /// each node's id.
        #[arg(long = "property", value_name = "KEY=VALUE", value_parser = parse_property)]
        properties: Vec<(String, String)>,
        /// Kafka's own settings instead of the harness's fast-test tuning:
        /// automatic topic creation on, group.initial.rebalance.delay.ms
        /// 3000, the default session and replica timeouts.
        #[arg(long)]
        defaults: bool,
    },
    /// Stop a cluster started by `start`.
    Stop {
        /// Name given to `start`.
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// Say what runs.
    Status {
        /// Name given to `start`.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

fn main() -> std::process::ExitCode {
    let result = match Task::parse() {
        Task::Broker(task) => run_broker(task),
        Task::Codegen(args) => xtask::codegen::run(&args),
        Task::Demo(args) => xtask::demo::run(&args),
        Task::Test(args) | Task::Ci(args) => xtask::ci::run(&args),
        Task::Fuzz(args) => xtask::fuzz::run(&args),
        Task::Golden(args) => xtask::golden::run(&args),
        Task::Bench(args) => xtask::bench::run(&args),
        Task::Chaos(args) => xtask::chaos::run(&args),
        Task::ChaosMember(args) => xtask::chaos::processes::run_member(&args),
        Task::ChaosTxnProducer(args) => xtask::chaos::txn_process::run_producer(&args),
        Task::Soak(args) => xtask::soak::run(&args),
        Task::MeasureChild(args) => xtask::child::measure(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_broker(task: BrokerTask) -> anyhow::Result<()> {
    let harness_dir = broker::harness_dir();
    match task {
        BrokerTask::Start {
            version,
            brokers,
            backend,
            name,
            security,
            features,
            properties,
            defaults,
        } => {
            let options = StartOptions {
                version,
                brokers: usize::from(brokers),
                harness_dir,
                security,
                extra_properties: properties,
                features,
                defaults,
                ..StartOptions::single_node()
            };
            let info = broker::start_detached(&options, backend, &name)?;
            println!("{}", serde_json::to_string(&info)?);
        }
        BrokerTask::Stop { name } => match broker::stop(&harness_dir, &name)? {
            Some(info) => eprintln!("stopped {name:?} ({})", info.bootstrap_servers),
            None => eprintln!("no cluster named {name:?} runs"),
        },
        BrokerTask::Status { name } => print!("{}", broker::status(&harness_dir, &name)?),
    }
    Ok(())
}

/// `key=value`, as `--property` takes it.
fn parse_property(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.to_string()))
        }
        _ => Err(format!("expected KEY=VALUE, not {value:?}")),
    }
}

/// `name=level`, as `--feature` takes it.
fn parse_feature(value: &str) -> Result<(String, u16), String> {
    let (name, level) = value
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=LEVEL, not {value:?}"))?;
    let level = level.parse().map_err(|_| {
        format!("the level of {name} must be a number from 0 to 65535, not {level:?}")
    })?;
    Ok((name.to_string(), level))
}
