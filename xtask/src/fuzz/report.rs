//! What a fuzz campaign found, per target, read from libFuzzer's log and
//! written into `RELIABILITY.md` as a marked section: one row per target,
//! replaced when that target runs a campaign again, so the campaign can be
//! spread over several runs (`--target`) and every row says when it ran.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::marked::Marked;

/// The fuzz campaign's section of `RELIABILITY.md`.
pub const SECTION: Marked = Marked {
    begin: "<!-- fuzz: written by `cargo xtask fuzz` -->",
    end: "<!-- end of fuzz -->",
};

/// The shortest run recorded: the campaign's length. Shorter runs (the CI's)
/// only print their summary, so the report never shows a smoke test as the
/// campaign.
pub const CAMPAIGN_SECONDS: u64 = 1800;

/// libFuzzer's figures at the end of one target's run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs executed (`stat::number_of_executed_units`).
    pub executions: u64,
    /// Executions a second over the run (`stat::average_exec_per_sec`).
    pub executions_per_second: u64,
    /// Inputs the run added to the corpus (`stat::new_units_added`).
    pub inputs_added: u64,
    /// Most memory the target held (`stat::peak_rss_mb`).
    pub peak_rss_mb: u64,
    /// Code edges covered at the end (`cov:` of the last status line).
    pub edges: u64,
    /// Coverage features at the end (`ft:`): edges with hit counts, value
    /// profiles and the like, the finer measure libFuzzer steers by.
    pub features: u64,
    /// Inputs in the corpus at the end (`corp:`).
    pub corpus: u64,
}

impl Stats {
    /// The figures of a libFuzzer log run with `-print_final_stats=1`; `None`
    /// when it holds no final statistics (the target crashed or never ran).
    pub fn parse(log: &str) -> Option<Stats> {
        let mut stats = Stats::default();
        let mut found_final = false;
        for line in log.lines() {
            if let Some(rest) = line.strip_prefix("stat::") {
                let Some((name, value)) = rest.split_once(':') else {
                    continue;
                };
                let Ok(value) = value.trim().parse::<u64>() else {
                    continue;
                };
                found_final = true;
                match name {
                    "number_of_executed_units" => stats.executions = value,
                    "average_exec_per_sec" => stats.executions_per_second = value,
                    "new_units_added" => stats.inputs_added = value,
                    "peak_rss_mb" => stats.peak_rss_mb = value,
                    _ => {}
                }
            } else if line.starts_with('#') && line.contains(" cov: ") {
                stats.edges = field(line, "cov:").unwrap_or(stats.edges);
                stats.features = field(line, "ft:").unwrap_or(stats.features);
                stats.corpus = field(line, "corp:").unwrap_or(stats.corpus);
            }
        }
        found_final.then_some(stats)
    }
}

/// The number after `name` in a libFuzzer status line (`corp: 890/12Mb`
/// gives 890).
fn field(line: &str, name: &str) -> Option<u64> {
    let after = &line[line.find(name)? + name.len()..];
    let digits: String = after
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// One target's campaign run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// `crate::target`, the row's key.
    pub target: String,
    /// What the target feeds its code, from the first line of its doc.
    pub feeds: String,
    /// Seconds it ran.
    pub seconds: u64,
    /// Its figures; `None` when it crashed.
    pub stats: Option<Stats>,
    /// The UTC day it ran, `YYYY-MM-DD`.
    pub day: String,
    /// The commit it ran at.
    pub commit: String,
}

impl Run {
    fn row(&self) -> String {
        let cells: Vec<String> = if let Some(s) = &self.stats {
            [
                s.executions,
                s.executions_per_second,
                s.edges,
                s.features,
                s.corpus,
                s.inputs_added,
                s.peak_rss_mb,
                0,
            ]
            .iter()
            .map(u64::to_string)
            .collect()
        } else {
            let mut cells = vec!["–".to_string(); 7];
            cells.push("1 (see its log)".to_string());
            cells
        };
        format!(
            "| `{}` | {} | {} | {} | {} | `{}` |",
            self.target,
            self.feeds.replace('|', "\\|"),
            self.seconds,
            cells.join(" | "),
            self.day,
            self.commit
        )
    }
}

/// The section with `runs` replacing the rows of their targets in `old`'s
/// section (the whole document, or empty), markers included.
pub fn render(old: &str, runs: &[Run]) -> String {
    let mut rows: BTreeMap<String, String> =
        SECTION.existing(old).map(existing_rows).unwrap_or_default();
    for run in runs {
        rows.insert(run.target.clone(), run.row());
    }
    let mut out = String::new();
    let _ = writeln!(out, "{}", SECTION.begin);
    let _ = writeln!(out, "## Fuzzing\n");
    let _ = writeln!(
        out,
        "Written by `cargo xtask fuzz --seconds {CAMPAIGN_SECONDS}` (kept when `cargo xtask chaos` \
         rewrites the rest of this file). Every cargo-fuzz target of every crate ran for the \
         given seconds as one libFuzzer process (`cargo +nightly fuzz run`, release build with \
         debug assertions and address sanitizer), starting from its corpus under \
         `crates/<crate>/fuzz/corpus/<target>`: the committed seeds plus what earlier runs on \
         the same machine added. A row is replaced when its target runs again for at least \
         {CAMPAIGN_SECONDS} s (`--target` runs a few at a time); shorter runs, such as the \
         CI's, only print their figures. On this machine the two CPUs are shared with \
         whatever else ran, so executions a second vary from run to run.\n"
    );
    let _ = writeln!(
        out,
        "| target | what it is fed | seconds | executions | executions/s | edges covered | \
         coverage features | corpus inputs | inputs added | peak RSS (MB) | crashes | run on | \
         commit |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for row in rows.values() {
        let _ = writeln!(out, "{row}");
    }
    let crashed: Vec<&str> = runs
        .iter()
        .filter(|r| r.stats.is_none())
        .map(|r| r.target.as_str())
        .collect();
    let _ = writeln!(out);
    if crashed.is_empty() {
        let _ = writeln!(
            out,
            "- edges covered: libFuzzer's `cov:`, the instrumented code edges reached by the \
             corpus; coverage features: its `ft:`, edges counted with their hit counts, what it \
             keeps inputs for."
        );
        let _ = writeln!(
            out,
            "- A crash would stop its target and show here with its log; the input that caused \
             it is then kept under the target's corpus as a regression test once fixed."
        );
    } else {
        let _ = writeln!(
            out,
            "- Crashed: {}; the reproducing inputs are under each crate's `fuzz/artifacts/`, the \
             logs under `target/fuzz-logs/`.",
            crashed.join(", ")
        );
    }
    let _ = writeln!(out, "{}", SECTION.end);
    out
}

/// The table rows of an existing section, by target.
fn existing_rows(section: &str) -> BTreeMap<String, String> {
    section
        .lines()
        .filter_map(|line| {
            let key = line.strip_prefix("| `")?;
            let key = &key[..key.find('`')?];
            Some((key.to_string(), line.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
INFO: Seed: 1234
#2\tINITED cov: 100 ft: 120 corp: 10/2Kb exec/s: 0 rss: 30Mb
#524288\tpulse  cov: 812 ft: 2301 corp: 401/88Kb lim: 4096 exec/s: 17476 rss: 61Mb
#700001\tDONE   cov: 815 ft: 2310 corp: 403/89Kb lim: 4096 exec/s: 17500 rss: 62Mb
Done 700001 runs in 40 second(s)
stat::number_of_executed_units: 700001
stat::average_exec_per_sec:     17500
stat::new_units_added:          12
stat::slowest_unit_time_sec:    0
stat::peak_rss_mb:              62
";

    #[test]
    fn final_statistics_and_the_last_status_line_are_read() {
        assert_eq!(
            Stats::parse(LOG),
            Some(Stats {
                executions: 700_001,
                executions_per_second: 17_500,
                inputs_added: 12,
                peak_rss_mb: 62,
                edges: 815,
                features: 2310,
                corpus: 403,
            })
        );
    }

    #[test]
    fn a_log_without_final_statistics_is_a_crash() {
        let crashed =
            "#2\tINITED cov: 100 ft: 120 corp: 10/2Kb\n==1== ERROR: libFuzzer: deadly signal\n";
        assert_eq!(Stats::parse(crashed), None);
    }

    fn run(target: &str, executions: u64, day: &str) -> Run {
        Run {
            target: target.to_string(),
            feeds: "Any bytes | as a batch".to_string(),
            seconds: 1800,
            stats: Some(Stats {
                executions,
                ..Stats::default()
            }),
            day: day.to_string(),
            commit: "abc1234".to_string(),
        }
    }

    #[test]
    fn a_new_run_replaces_its_targets_row_and_keeps_the_others() {
        let first = render(
            "",
            &[
                run("records::batch_reader", 5, "2026-12-01"),
                run("protocol::request", 7, "2026-12-01"),
            ],
        );
        let document = format!("# Reliability\n\n{first}");
        let second = render(&document, &[run("records::batch_reader", 9, "2026-12-06")]);
        let rows: Vec<&str> = second.lines().filter(|l| l.starts_with("| `")).collect();
        assert_eq!(rows.len(), 2, "{second}");
        assert!(rows[0].starts_with("| `protocol::request`") && rows[0].contains("2026-12-01"));
        assert!(rows[1].starts_with("| `records::batch_reader`") && rows[1].contains("| 9 |"));
        assert!(rows[1].contains("2026-12-06") && rows[1].contains("Any bytes \\| as a batch"));
        assert!(second.starts_with(SECTION.begin) && second.trim_end().ends_with(SECTION.end));
    }

    #[test]
    fn a_crashed_run_is_named() {
        let mut crashed = run("records::decompress", 0, "2026-12-06");
        crashed.stats = None;
        let text = render("", &[crashed]);
        assert!(text.contains("Crashed: records::decompress"), "{text}");
        assert!(text.contains("1 (see its log)"), "{text}");
    }
}
