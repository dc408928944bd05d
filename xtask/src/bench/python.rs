//! `cargo xtask bench python`: the Python clients side by side on one
//! broker in one run, each in its own process: ferrokafka's Python package
//! (built in release mode), kafka-python, confluent-kafka-python
//! (librdkafka) and aiokafka, all from PyPI at the versions pinned in
//! `bench/peers/python-requirements.txt`, on the workloads of issue #18.
//! The program every client runs is `bench/peers/python_clients_bench.py`;
//! the report is `PYTHON-BENCHMARKS.md` (see [`super::python_report`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

use super::BenchBroker;
use super::python_report::{self, Section};
use super::{Args, measure, rounds};
use crate::broker;

/// A Python client under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PyClient {
    /// This project's Python package.
    Ferrokafka,
    /// kafka-python, pure Python: the API ferrokafka's package keeps.
    KafkaPython,
    /// confluent-kafka-python, librdkafka underneath.
    ConfluentKafka,
    /// aiokafka, asyncio and pure Python.
    Aiokafka,
}

impl PyClient {
    /// Every client, ferrokafka first.
    pub const ALL: [PyClient; 4] = [
        PyClient::Ferrokafka,
        PyClient::KafkaPython,
        PyClient::ConfluentKafka,
        PyClient::Aiokafka,
    ];

    /// The bench program's `--client` value, also the name in tables.
    pub fn flag(self) -> &'static str {
        match self {
            PyClient::Ferrokafka => "ferrokafka",
            PyClient::KafkaPython => "kafka-python",
            PyClient::ConfluentKafka => "confluent-kafka",
            PyClient::Aiokafka => "aiokafka",
        }
    }
}

/// One of the workloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PyWorkload {
    /// `send` of 100-byte `bytes` values, then `flush`.
    ProduceBytes,
    /// The seeds' loop: integers through a JSON `value_serializer`.
    SeedsLoop,
    /// `for message in consumer`.
    ConsumeIter,
    /// `poll(max_records=500)` in a loop.
    ConsumePoll,
}

impl PyWorkload {
    /// Every workload, in the order they run.
    pub const ALL: [PyWorkload; 4] = [
        PyWorkload::ProduceBytes,
        PyWorkload::SeedsLoop,
        PyWorkload::ConsumeIter,
        PyWorkload::ConsumePoll,
    ];

    /// The table heading.
    pub fn name(self) -> &'static str {
        match self {
            PyWorkload::ProduceBytes => {
                "produce 100 B bytes values, acks=1, linger 5 ms, uncompressed"
            }
            PyWorkload::SeedsLoop => {
                "the seeds' loop: integers through value_serializer=lambda m: json.dumps(m).encode(), then flush (acks=all, idempotent, linger 5 ms)"
            }
            PyWorkload::ConsumeIter => {
                "consume 100 B records by iteration (for message in consumer)"
            }
            PyWorkload::ConsumePoll => "consume 100 B records by poll(max_records=500)",
        }
    }

    /// Whether the workload produces (to a fresh topic per run).
    pub fn produces(self) -> bool {
        matches!(self, PyWorkload::ProduceBytes | PyWorkload::SeedsLoop)
    }
}

/// The bench program's arguments (after the script's path) for `client`
/// running `workload` with `records` records on `topic`; `group` is the
/// consumer group of a consuming run.
pub fn arguments(
    client: PyClient,
    workload: PyWorkload,
    bootstrap: &str,
    topic: &str,
    records: u64,
    group: &str,
    timeout: Duration,
) -> Vec<String> {
    let mut args: Vec<String> = vec!["--client".into(), client.flag().into()];
    args.push(
        if workload.produces() {
            "produce"
        } else {
            "consume"
        }
        .into(),
    );
    args.extend(["--bootstrap", bootstrap, "--topic", topic].map(String::from));
    args.extend(["--records".into(), records.to_string()]);
    args.extend(["--timeout-s".into(), timeout.as_secs().to_string()]);
    match workload {
        PyWorkload::ProduceBytes => {
            args.extend(
                ["--record-size", "100", "--acks", "1", "--linger-ms", "5"].map(String::from),
            );
        }
        PyWorkload::SeedsLoop => {
            args.extend(["--json-ints", "--acks", "all", "--linger-ms", "5"].map(String::from));
        }
        PyWorkload::ConsumeIter | PyWorkload::ConsumePoll => {
            let mode = if workload == PyWorkload::ConsumeIter {
                "iter"
            } else {
                "poll"
            };
            args.extend(["--group", group, "--mode", mode].map(String::from));
        }
    }
    args
}

/// The venv's Python with every client installed and ferrokafka's package
/// (extension module built in release mode) on its path.
fn prepare(extension: Option<&Path>) -> anyhow::Result<PathBuf> {
    let root = crate::workspace_root();
    let dir = broker::harness_dir()
        .parent()
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("python-bench");
    eprintln!(
        "installing the Python clients into {}",
        dir.join("venv").display()
    );
    let python = crate::python::venv_with(
        &dir.join("venv"),
        &root.join("bench/peers/python-requirements.txt"),
    )?;
    let library = match extension {
        Some(path) => {
            eprintln!("using the extension module {}", path.display());
            path.to_path_buf()
        }
        None => build_release_extension(&root)?,
    };
    let site = crate::python::stage_package(&root, &library, dir.join("site"))?;
    crate::python::put_on_path(&python, &site)?;
    Ok(python)
}

/// `cargo build --release -p ferrokafka-python` as an extension module
/// (what maturin builds for a wheel); the module's path.
fn build_release_extension(root: &Path) -> anyhow::Result<PathBuf> {
    eprintln!("building ferrokafka's Python extension module (release)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "-p", "ferrokafka-python"])
        .env("PYO3_BUILD_EXTENSION_MODULE", "1")
        .current_dir(root)
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release -p ferrokafka-python exited with {status}");
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let name = if cfg!(target_os = "macos") {
        "lib_core.dylib"
    } else {
        "lib_core.so"
    };
    Ok(target.join("release").join(name))
}

/// Runs `cargo xtask bench python`.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let python = prepare(args.python_extension.as_deref())?;
    let script = crate::workspace_root().join("bench/peers/python_clients_bench.py");
    let bench = BenchBroker::connect(args.bootstrap_servers.as_deref(), "bench-python")?;
    let (runtime, client, bootstrap) = (&bench.runtime, &bench.client, bench.bootstrap.clone());
    let timeout = Duration::from_secs(args.timeout_s);
    let run_id = std::process::id();
    let command = |client: PyClient, workload: PyWorkload, topic: &str, group: &str| {
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args(arguments(
                client,
                workload,
                &bootstrap,
                topic,
                args.records,
                group,
                timeout,
            ))
            .env("PYTHONDONTWRITEBYTECODE", "1");
        command
    };

    // One unmeasured ferrokafka run warms the fresh broker's JVM up and
    // fills the consumers' topic.
    let consume_topic = format!("bench-python-consume-{run_id}");
    runtime.block_on(super::create_topic_with(
        client,
        &consume_topic,
        args.partitions,
        &[],
    ))?;
    eprintln!(
        "warming the broker up: {} records to {consume_topic}",
        args.records
    );
    let (stdout, _) = measure::run_bounded(
        command(
            PyClient::Ferrokafka,
            PyWorkload::ProduceBytes,
            &consume_topic,
            "",
        ),
        timeout,
    )
    .context("the warm-up run")?;
    measure::parse_result_line(&stdout).context("the warm-up run")?;

    let workloads: Vec<PyWorkload> = PyWorkload::ALL
        .into_iter()
        .filter(|w| {
            args.only
                .as_ref()
                .is_none_or(|only| w.name().contains(only.as_str()))
        })
        .collect();
    let rounds = usize::try_from(args.rounds).unwrap_or(1);
    let mut sections = Vec::new();
    for (w, workload) in workloads.into_iter().enumerate() {
        eprintln!("== {}", workload.name());
        let mut runs = vec![rounds::Runs::default(); PyClient::ALL.len()];
        for round in 0..rounds {
            let order: Vec<(usize, PyClient)> = PyClient::ALL
                .into_iter()
                .enumerate()
                .filter(|(_, c)| args.python_clients.is_empty() || args.python_clients.contains(c))
                .collect();
            for (c, py_client) in rounds::rotation(&order, round) {
                let name = format!("bench-python-{run_id}-{w}-{round}-{}", py_client.flag());
                let topic = if workload.produces() {
                    runtime.block_on(super::create_topic_with(
                        client,
                        &name,
                        args.partitions,
                        &[],
                    ))?;
                    name.clone()
                } else {
                    consume_topic.clone()
                };
                let outcome =
                    measure::run_bounded(command(py_client, workload, &topic, &name), timeout)
                        .and_then(|(stdout, usage)| {
                            Ok(measure::parse_result_line(&stdout)?.with_usage(usage))
                        });
                if workload.produces() {
                    bench.delete_topic(&topic)?;
                }
                match &outcome {
                    Ok(m) => eprintln!(
                        "   round {} {:<16} {:>10.0} records/s  cpu {:>6.2} s/M  peak RSS {:>5} MiB",
                        round + 1,
                        py_client.flag(),
                        m.records_per_s(),
                        m.cpu_s_per_million(),
                        m.max_rss_bytes / (1024 * 1024)
                    ),
                    Err(error) => eprintln!(
                        "   round {} {:<16} failed: {error:#}",
                        round + 1,
                        py_client.flag()
                    ),
                }
                runs[c].outcomes.push(outcome.map_err(|e| format!("{e:#}")));
            }
        }
        sections.push(Section {
            workload,
            rows: PyClient::ALL
                .into_iter()
                .zip(runs)
                .filter(|(c, _)| args.python_clients.is_empty() || args.python_clients.contains(c))
                .collect(),
        });
    }
    bench.delete_topic(&consume_topic)?;
    bench.stop();

    let text = python_report::render(&python_report::Report {
        records: args.records,
        partitions: args.partitions,
        rounds: args.rounds,
        sections,
    });
    println!("{text}");
    let full = args.records == 1_000_000
        && args.only.is_none()
        && args.python_clients.is_empty()
        && args.python_extension.is_none();
    let out = args
        .out
        .clone()
        .or_else(|| full.then(|| crate::workspace_root().join(python_report::FILE)));
    if let Some(out) = out {
        std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_loop_runs_the_json_serializer_with_idempotence() {
        let args = arguments(
            PyClient::KafkaPython,
            PyWorkload::SeedsLoop,
            "127.0.0.1:9092",
            "t",
            1000,
            "unused",
            Duration::from_secs(300),
        );
        assert_eq!(
            args.join(" "),
            "--client kafka-python produce --bootstrap 127.0.0.1:9092 --topic t --records 1000 \
             --timeout-s 300 --json-ints --acks all --linger-ms 5"
        );
    }

    #[test]
    fn bytes_produce_and_both_consumer_loops_get_their_arguments() {
        let produce = arguments(
            PyClient::ConfluentKafka,
            PyWorkload::ProduceBytes,
            "b",
            "t",
            5,
            "g",
            Duration::from_secs(9),
        );
        assert!(
            produce
                .join(" ")
                .ends_with("--record-size 100 --acks 1 --linger-ms 5")
        );
        assert!(!produce.contains(&"--group".to_string()));
        for (workload, mode) in [
            (PyWorkload::ConsumeIter, "iter"),
            (PyWorkload::ConsumePoll, "poll"),
        ] {
            let consume = arguments(
                PyClient::Aiokafka,
                workload,
                "b",
                "t",
                5,
                "g1",
                Duration::from_secs(9),
            );
            assert_eq!(&consume[..3], ["--client", "aiokafka", "consume"]);
            assert!(
                consume
                    .join(" ")
                    .ends_with(&format!("--group g1 --mode {mode}"))
            );
        }
    }

    #[test]
    fn a_run_can_pick_its_clients_and_a_prebuilt_extension() {
        let args = Args::parse_for_test(&[
            "python",
            "--python-clients",
            "ferrokafka,kafka-python,confluent-kafka",
            "--python-extension",
            "/tmp/before/lib_core.so",
        ]);
        assert_eq!(
            args.python_clients,
            [
                PyClient::Ferrokafka,
                PyClient::KafkaPython,
                PyClient::ConfluentKafka
            ]
        );
        assert_eq!(
            args.python_extension.as_deref(),
            Some(Path::new("/tmp/before/lib_core.so"))
        );
        assert!(Args::parse_for_test(&["python"]).python_clients.is_empty());
    }

    #[test]
    fn every_client_has_its_own_flag_and_ferrokafka_comes_first() {
        let flags: std::collections::HashSet<_> = PyClient::ALL.iter().map(|c| c.flag()).collect();
        assert_eq!(flags.len(), PyClient::ALL.len());
        assert_eq!(PyClient::ALL[0], PyClient::Ferrokafka);
        assert_eq!(PyWorkload::ALL.iter().filter(|w| w.produces()).count(), 2);
    }

    #[test]
    fn the_bench_program_s_line_is_read_with_its_usage() {
        let stdout = "some log line\n{\"client\": \"aiokafka 0.14.0\", \"records\": 1000, \"bytes\": 100000, \
                      \"elapsed_s\": 0.5, \"latency_p50_ms\": null, \"latency_p99_ms\": null}\n";
        let m = measure::parse_result_line(stdout)
            .unwrap()
            .with_usage(measure::Usage {
                cpu_s: 0.25,
                max_rss_bytes: 1 << 20,
            });
        assert_eq!(m.client, "aiokafka 0.14.0");
        assert!((m.records_per_s() - 2000.0).abs() < 1e-9);
        assert!((m.cpu_s_per_million() - 250.0).abs() < 1e-9);
        assert!(measure::parse_result_line("Traceback ...\nValueError: x\n").is_err());
    }
}
