//! `cargo run -p ferrokafka-codegen -- [--check]`: the generator on its own,
//! which builds even when the generated crate does not (`cargo xtask codegen`
//! needs the protocol crate to compile, since xtask uses it).

use clap::Parser;

fn main() -> std::process::ExitCode {
    match ferrokafka_codegen::run(&ferrokafka_codegen::Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
