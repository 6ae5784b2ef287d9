//! The raw baseline the benchmarks compare the store with: the same rows, the
//! same schema and indexes (contactd's own migrations), written by a minimal
//! program: one prepared-statement transaction on SQLite, one binary COPY on
//! PostgreSQL. Shared by `benches/bulk_write.rs` and `bench/raw_load.rs`.

use futures_util::pin_mut;
use time::OffsetDateTime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// One `contacts` row as the store would write it.
#[derive(Clone)]
pub struct RawRow {
    pub id: String,
    pub account_number: String,
    pub name_folded: String,
    pub doc: String,
}

const COLUMNS: &str = "biller_id, id, account_number, name_folded, contact_type, active, doc, fingerprint, version, created_at, updated_at";

/// Inserts `rows` into an SQLite database file in one transaction.
pub fn insert_sqlite(path: &str, biller: i64, rows: &[RawRow]) -> rusqlite::Result<()> {
    let mut c = rusqlite::Connection::open(path)?;
    c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
    let now = OffsetDateTime::now_utc().unix_timestamp() * 1_000_000;
    let tx = c.transaction()?;
    {
        let mut st = tx.prepare(&format!(
            "INSERT INTO contacts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'customer', 1, ?5, ?6, 1, ?7, ?7)"
        ))?;
        for (i, r) in rows.iter().enumerate() {
            st.execute(rusqlite::params![biller, r.id, r.account_number, r.name_folded, r.doc, i as i64, now])?;
        }
    }
    tx.commit()
}

/// Copies `rows` into PostgreSQL (`url` may carry a search_path) with one binary COPY.
pub async fn insert_postgres(url: &str, biller: i64, rows: &[RawRow]) -> Result<(), tokio_postgres::Error> {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let sink = c.copy_in(&format!("COPY contacts ({COLUMNS}) FROM STDIN BINARY")).await?;
    let types = [
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::TIMESTAMPTZ,
        Type::TIMESTAMPTZ,
    ];
    let w = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(w);
    let (ctype, active, one, now) = ("customer", true, 1i64, OffsetDateTime::now_utc());
    for (i, r) in rows.iter().enumerate() {
        let fingerprint = i as i64;
        w.as_mut()
            .write(&[
                &biller,
                &r.id,
                &r.account_number,
                &r.name_folded,
                &ctype,
                &active,
                &r.doc,
                &fingerprint,
                &one,
                &now,
                &now,
            ])
            .await?;
    }
    w.finish().await?;
    Ok(())
}
