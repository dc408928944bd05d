//! The `ferrokafka` command-line tool.

use clap::Parser;

/// A Kafka command-line tool with no C library underneath.
#[derive(Parser, Debug)]
#[command(name = "ferrokafka", version, about)]
enum Command {}

fn main() {
    let command = Command::parse();
    match command {}
}
