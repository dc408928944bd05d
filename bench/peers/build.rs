//! Exposes the resolved versions of the peer crates (from Cargo.lock) as
//! `PEER_VERSION_<CRATE>` environment variables, so each binary reports the
//! library version it was really built against.

fn main() {
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    for krate in ["krafka", "confluent-kafka", "rdkafka"] {
        let version = lock
            .split("[[package]]")
            .find_map(|pkg| {
                let mut name = None;
                let mut version = None;
                for line in pkg.lines() {
                    if let Some(v) = line.strip_prefix("name = ") {
                        name = Some(v.trim_matches('"'));
                    } else if let Some(v) = line.strip_prefix("version = ") {
                        version = Some(v.trim_matches('"'));
                    }
                }
                (name == Some(krate)).then_some(version).flatten()
            })
            .unwrap_or("unknown");
        let var = krate.to_uppercase().replace('-', "_");
        println!("cargo:rustc-env=PEER_VERSION_{var}={version}");
    }
}
