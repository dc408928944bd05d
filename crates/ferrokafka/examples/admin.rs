//! Admin: creates the examples' topics (`<topic>` with three partitions
//! and `<topic>-confirmed` for the transactions example), lists and
//! describes them, and creates and deletes a scratch topic.
//!
//! `cargo run --example admin -- [bootstrap_servers] [topic]`

mod common;

use std::time::Duration;

use ferrokafka::admin::AdminOptions;
use ferrokafka::admin::topics::NewTopic;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = common::topic();
    let confirmed = format!("{topic}-confirmed");
    let scratch = format!("{topic}-scratch");
    let admin = common::config(&[])?.admin().await?;
    let options = AdminOptions::new().timeout(Duration::from_secs(30));

    let wanted = [
        NewTopic::new(&topic, 3, 1),
        NewTopic::new(&confirmed, 1, 1),
        NewTopic::new(&scratch, 1, 1).config("retention.ms", "60000"),
    ];
    for (name, outcome) in admin.create_topics(&wanted, false, &options).await {
        match outcome {
            Ok(_) => println!("created {name}"),
            Err(error) => return Err(common::failure(format!("creating {name}: {error}"))),
        }
    }

    let listed = admin.list_topics(false, &options).await?;
    println!("the cluster has {} topics", listed.len());
    for (name, described) in admin.describe_topics(&[&topic, &confirmed], &options).await {
        let described = described?;
        println!("{name}: {} partitions", described.partitions.len());
    }

    for (name, outcome) in admin.delete_topics(&[&scratch], &options).await {
        outcome?;
        println!("deleted {name}");
    }
    Ok(())
}
