//! Staging a job's checked records: by COPY where no earlier record used
//! the number, checked one by one where one may have.

use crate::store::{BillerId, Duplicate, StageItem, StoreResult};
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

/// Stages items no earlier item of the job used the number of: no conflict
/// is possible, so no conflict check (COPY fails whole if one slips through).
pub(super) async fn copy_first_uses(
    tx: &Transaction<'_>,
    biller: BillerId,
    seq: i64,
    items: impl Iterator<Item = &StageItem>,
) -> StoreResult<()> {
    let sink = tx
        .copy_in(
            "COPY job_rows (biller_id, job_seq, account_number, idx, line, new_id, name_folded, contact_type,
                 active, doc, fingerprint, crn, email_key, reference_key, external_key, phone_keys, tag_keys)
             FROM STDIN BINARY",
        )
        .await?;
    let types = [
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
    ];
    let writer = BinaryCopyInWriter::new(sink, &types);
    futures_util::pin_mut!(writer);
    for i in items {
        let fingerprint = i.row.as_ref().map(|r| r.fingerprint);
        // An unchanged row is staged by key and fingerprint alone.
        let r = i.row.as_ref().filter(|_| !i.unchanged);
        let (idx, line) = (i.idx as i64, i.line as i64);
        writer
            .as_mut()
            .write(&[
                &biller,
                &seq,
                &i.account_number,
                &idx,
                &line,
                &r.map(|r| r.new_id.as_str()),
                &r.map(|r| r.name_folded.as_str()),
                &r.and_then(|r| r.contact_type.as_deref()),
                &r.map(|r| r.active),
                &r.map(|r| r.doc.as_str()),
                &fingerprint,
                &r.and_then(|r| r.crn.as_deref()),
                &r.and_then(|r| r.keys.email.as_deref()),
                &r.and_then(|r| r.keys.reference_id.as_deref()),
                &r.and_then(|r| r.keys.external_id.as_deref()),
                &r.and_then(|r| r.keys.phones.as_deref()),
                &r.and_then(|r| r.keys.tags.as_deref()),
            ])
            .await?;
    }
    writer.finish().await?;
    Ok(())
}

/// Stages items whose number may have been used before, in job order, and
/// returns those it was (`Duplicate::item` is the position beside each).
pub(super) async fn stage_checked(
    tx: &Transaction<'_>,
    biller: BillerId,
    seq: i64,
    items: &[(usize, &StageItem)],
) -> StoreResult<Vec<Duplicate>> {
    let acct: Vec<&str> = items.iter().map(|(_, i)| i.account_number.as_str()).collect();
    let idx: Vec<i64> = items.iter().map(|(_, i)| i.idx as i64).collect();
    let line: Vec<i64> = items.iter().map(|(_, i)| i.line as i64).collect();
    let fp: Vec<Option<i64>> = items.iter().map(|(_, i)| i.row.as_ref().map(|r| r.fingerprint)).collect();
    let rows: Vec<Option<&crate::store::StagedRow>> =
        items.iter().map(|(_, i)| i.row.as_ref().filter(|_| !i.unchanged)).collect();
    let new_id: Vec<Option<&str>> = rows.iter().map(|r| r.map(|r| r.new_id.as_str())).collect();
    let folded: Vec<Option<&str>> = rows.iter().map(|r| r.map(|r| r.name_folded.as_str())).collect();
    let ctype: Vec<Option<&str>> = rows.iter().map(|r| r.and_then(|r| r.contact_type.as_deref())).collect();
    let active: Vec<Option<bool>> = rows.iter().map(|r| r.map(|r| r.active)).collect();
    let doc: Vec<Option<&str>> = rows.iter().map(|r| r.map(|r| r.doc.as_str())).collect();
    let crn: Vec<Option<&str>> = rows.iter().map(|r| r.and_then(|r| r.crn.as_deref())).collect();
    let key = |f: fn(&crate::store::SearchKeys) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|r| r.and_then(|r| f(&r.keys))).collect()
    };
    let email = key(|k| k.email.as_deref());
    let reference = key(|k| k.reference_id.as_deref());
    let external = key(|k| k.external_id.as_deref());
    let phones = key(|k| k.phones.as_deref());
    let tags = key(|k| k.tags.as_deref());
    let inserted: std::collections::HashSet<i64> = tx
        .query(
            "INSERT INTO job_rows (biller_id, job_seq, account_number, idx, line, new_id, name_folded, contact_type,
                 active, doc, fingerprint, crn, email_key, reference_key, external_key, phone_keys, tag_keys)
             SELECT $1, $2, u.acct, u.idx, u.line, u.id, u.name, u.ctype, u.active, u.doc, u.fp, u.crn, u.email,
                 u.reference, u.external, u.phones, u.tags
             FROM unnest($3::text[], $4::int8[], $5::int8[], $6::text[], $7::text[], $8::text[], $9::bool[],
                         $10::text[], $11::int8[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
                         $17::text[])
                  AS u(acct, idx, line, id, name, ctype, active, doc, fp, crn, email, reference, external, phones,
                       tags)
             ORDER BY u.idx
             ON CONFLICT DO NOTHING
             RETURNING idx",
            &[
                &biller, &seq, &acct, &idx, &line, &new_id, &folded, &ctype, &active, &doc, &fp, &crn, &email,
                &reference, &external, &phones, &tags,
            ],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect();
    let repeated: Vec<&(usize, &StageItem)> =
        items.iter().filter(|(_, i)| !inserted.contains(&(i.idx as i64))).collect();
    if repeated.is_empty() {
        return Ok(Vec::new());
    }
    let numbers: Vec<&str> = repeated.iter().map(|(_, i)| i.account_number.as_str()).collect();
    let first: std::collections::HashMap<String, (i64, i64)> = tx
        .query(
            "SELECT account_number, COALESCE(idx, 0), COALESCE(line, 0) FROM job_rows
             WHERE biller_id = $1 AND job_seq = $2 AND account_number = ANY($3)",
            &[&biller, &seq, &numbers],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    Ok(repeated
        .iter()
        .map(|(pos, i)| {
            let (idx, line) = first.get(&i.account_number).copied().unwrap_or_default();
            Duplicate { item: *pos, first_idx: idx as u64, first_line: line as u64 }
        })
        .collect())
}
