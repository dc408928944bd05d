//! Plugging MessagePack (the seeds' format) in with `SerdeFormat`.
//!
//! Run: `cargo run -p ferrokafka-serde --example msgpack`

use ferrokafka_serde::{Deserializer, SerdeFormat, Serializer};

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Reading {
    sensor: String,
    celsius: f64,
}

fn main() {
    let msgpack = SerdeFormat::new(
        "msgpack",
        |value: &Reading| rmp_serde::to_vec_named(value),
        |bytes: &[u8]| rmp_serde::from_slice::<Reading>(bytes),
    );
    let reading = Reading {
        sensor: "boiler".into(),
        celsius: 71.5,
    };
    let bytes = msgpack.serialize("readings", &reading).expect("serializes");
    let back: Reading = msgpack
        .deserialize("readings", &bytes)
        .expect("deserializes");
    assert_eq!(back, reading);
    println!(
        "{} bytes of MessagePack round-tripped: {back:?}",
        bytes.len()
    );
}
