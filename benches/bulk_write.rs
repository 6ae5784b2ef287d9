//! Bulk add of 10,000 new contacts through the store, against a raw baseline
//! measured in the same run on the same schema: one prepared-statement
//! transaction on SQLite, one binary COPY on PostgreSQL.
//!
//! cargo bench --bench bulk_write            (PostgreSQL: CONTACTD_TEST_POSTGRES)

use contactd::domain::contact::RawValue;
use contactd::domain::field_settings::{FieldDef, FieldKind, FieldRole, SettingsDoc};
use contactd::domain::sync::WriteMode;
use contactd::domain::{BillerSettings, ContactData, ContactDraft, ContactIdRun, validate_contact};
use contactd::store::{self, Store, WriteBatch};
use criterion::{Criterion, criterion_group, criterion_main};
#[path = "../bench/raw/insert.rs"]
mod raw;
use raw::RawRow;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::runtime::Runtime;

const N: usize = 10_000;

fn settings() -> BillerSettings {
    let field = |key: &str, role| FieldDef { role, ..FieldDef::new(key, FieldKind::Text) };
    let fields = [
        "contact-id-1",
        "contact-id-2",
        "contact-id-3",
        "address-1",
        "municipality",
        "province",
        "country",
        "postal-code",
    ]
    .iter()
    .enumerate()
    .map(|(i, k)| field(k, if i == 0 { FieldRole::Id } else { FieldRole::None }))
    .collect();
    BillerSettings::parse(SettingsDoc { fields, ..SettingsDoc::default() }).expect("settings")
}

/// Realistic records: 14 fields, account numbers with leading zeroes.
fn records(settings: &BillerSettings) -> Vec<ContactData> {
    (0..N)
        .map(|i| {
            let acct = format!("{i:09}");
            let mut d = ContactDraft {
                account_number: Some(acct.clone()),
                name: Some(format!("Customer {i}")),
                email: Some(format!("customer{i}@example.com")),
                reference_id: Some(format!("REF-{i}")),
                contact_type: Some("customer".into()),
                ..ContactDraft::default()
            };
            for (k, v) in [
                ("contact-id-1", acct.clone()),
                ("contact-id-2", format!("Mr C {i}")),
                ("contact-id-3", format!("GA{i}")),
                ("address-1", format!("{i} Example Street")),
                ("municipality", "Melbourne".into()),
                ("province", "VIC".into()),
                ("country", "Australia".into()),
                ("postal-code", "3000".into()),
            ] {
                d.fields.insert(k.into(), RawValue::Text(v));
            }
            let tags = std::collections::HashSet::new();
            let rules = contactd::domain::validate::Rules::new(settings, &tags, time::macros::date!(2026 - 12 - 03));
            validate_contact(d, &rules).expect("valid")
        })
        .collect()
}

fn pg_url() -> String {
    std::env::var("CONTACTD_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

struct Fresh {
    store: Arc<dyn Store>,
    url: String,
    biller: i64,
}

async fn fresh(backend: &str, n: usize) -> Fresh {
    let url = match backend {
        "sqlite" => format!("sqlite://{}/contactd-bench-{}-{n}.db", std::env::temp_dir().display(), std::process::id()),
        _ => {
            let schema = format!("contactd_bench_{}_{n}", std::process::id());
            let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await.expect("PostgreSQL");
            tokio::spawn(conn);
            c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
                .await
                .expect("schema");
            format!("{}?options=-csearch_path%3D{schema}", pg_url())
        }
    };
    let store = store::open(&url).await.expect("open");
    store.migrate().await.expect("migrate");
    let biller = store.create_biller("B", "Bench", &settings()).await.expect("biller").id;
    Fresh { store, url, biller }
}

async fn cleanup(backend: &str, f: Fresh) {
    drop(f.store);
    if backend == "sqlite" {
        let path = f.url.trim_start_matches("sqlite://").to_owned();
        for s in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{s}"));
        }
    } else if let Some(schema) = f.url.split("%3D").nth(1) {
        let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await.expect("PostgreSQL");
        tokio::spawn(conn);
        let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    }
}

/// The baseline: the same rows, minimal program, same schema and indexes.
async fn raw_insert(backend: &str, f: &Fresh, rows: &[RawRow]) {
    if backend == "sqlite" {
        let path = f.url.trim_start_matches("sqlite://").to_owned();
        let (rows, biller) = (rows.to_vec(), f.biller);
        tokio::task::spawn_blocking(move || raw::insert_sqlite(&path, biller, &rows))
            .await
            .expect("join")
            .expect("raw insert");
    } else {
        raw::insert_postgres(&f.url, f.biller, rows).await.expect("raw copy");
    }
}

fn bulk_add(c: &mut Criterion) {
    let rt = Runtime::new().expect("runtime");
    let settings = settings();
    let data = records(&settings);
    // The raw rows carry a document of the same size as the store writes,
    // and ids made as the store makes them (one run per write).
    let mut ids = ContactIdRun::new(&mut rand::thread_rng());
    let raw: Vec<RawRow> = data
        .iter()
        .map(|d| {
            let doc = serde_json::json!({"name": d.name, "email": d.email, "reference_id": d.reference_id, "type": "customer", "active": true,
                "fields": d.fields.iter().map(|(k, v)| (k.clone(), format!("{v:?}"))).collect::<std::collections::BTreeMap<_, _>>()});
            RawRow {
                id: ids.next_id().into_string(),
                account_number: d.account_number.to_string(),
                name_folded: d.name.to_lowercase(),
                doc: doc.to_string(),
            }
        })
        .collect();
    let mut group = c.benchmark_group("bulk_add_10k_new");
    group.sample_size(10);
    let mut n = 0;
    for backend in ["sqlite", "postgres"] {
        for kind in ["store", "raw_baseline"] {
            group.bench_function(format!("{backend}/{kind}"), |b| {
                // Only the write is timed; set-up and clean-up are not.
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = std::time::Duration::ZERO;
                        for _ in 0..iters {
                            n += 1;
                            let f = fresh(backend, n).await;
                            let start = std::time::Instant::now();
                            if kind == "store" {
                                let batch = WriteBatch {
                                    settings_version: 1,
                                    mode: WriteMode::Add,
                                    records: data.clone(),
                                    dry_run: false,
                                    guard: None,
                                    snapshot: None,
                                    force_holds: false,
                                    origin: contactd::domain::history::Origin::new(None, "bench"),
                                };
                                f.store
                                    .write_contacts(f.biller, batch, OffsetDateTime::now_utc())
                                    .await
                                    .expect("write");
                            } else {
                                raw_insert(backend, &f, &raw).await;
                            }
                            total += start.elapsed();
                            cleanup(backend, f).await;
                        }
                        total
                    })
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bulk_add);
criterion_main!(benches);
