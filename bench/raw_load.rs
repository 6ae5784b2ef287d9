//! Raw baseline for `bench/jobs.sh`: loads an NDJSON file of contacts into a
//! fresh contactd database with a minimal program (see `raw/insert.rs`) and
//! prints the seconds the insert took. Only the insert is timed: reading and
//! preparing the rows is not, so the baseline is as fast as it can be.
//!
//! cargo run --release --example raw_load -- DATABASE_URL FILE.ndjson

#[path = "raw/insert.rs"]
mod insert;

use contactd::domain::{BillerSettings, ContactIdRun};
use insert::RawRow;
use std::io::BufRead;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, file] = args.as_slice() else {
        return Err("usage: raw_load DATABASE_URL FILE.ndjson".into());
    };
    let store = contactd::store::open(url).await?;
    store.migrate().await?;
    let biller = store.create_biller("RAW", "Raw baseline", &BillerSettings::default()).await?.id;
    drop(store);

    let mut rows = Vec::new();
    // Ids as the worker makes them: a run per chunk of 2,000 records.
    let mut ids = ContactIdRun::new(&mut rand::thread_rng());
    for (i, line) in std::io::BufReader::new(std::fs::File::open(file)?).lines().enumerate() {
        if i % 2000 == 0 {
            ids = ContactIdRun::new(&mut rand::thread_rng());
        }
        let doc = line?;
        let v: serde_json::Value = serde_json::from_str(&doc)?;
        let text = |k: &str| v.get(k).and_then(|s| s.as_str()).unwrap_or_default().to_owned();
        rows.push(RawRow {
            id: ids.next_id().into_string(),
            account_number: text("account_number"),
            name_folded: text("name").to_lowercase(),
            doc,
        });
    }

    let start = std::time::Instant::now();
    match url.split_once(':').map(|(scheme, _)| scheme) {
        Some("sqlite") => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:").to_owned();
            tokio::task::spawn_blocking(move || insert::insert_sqlite(&path, biller, &rows)).await??;
        }
        _ => insert::insert_postgres(url, biller, &rows).await?,
    }
    println!("{:.3}", start.elapsed().as_secs_f64());
    Ok(())
}
