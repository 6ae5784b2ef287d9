//! One suite, both backends: what every `Store` must do.

use crate::helpers::*;
use contactd::domain::contact::{AddressDraft, Phone, PhoneDraft, PhoneKind, RawValue};
use contactd::domain::field_settings::SettingsDoc;
use contactd::domain::history::Origin;
use contactd::domain::holds::Hold;
use contactd::domain::query::{ContactFilter, PageRequest, TimeRange};
use contactd::domain::sync::{RemovalGuard, RemovalRefused, WriteMode};
use contactd::domain::validate::Rules;
use contactd::domain::{
    AliasKind, BillerSettings, Contact, ContactData, ContactDraft, ContactId, ContactIdRun, ContactRef, KeyId,
    validate_contact,
};
use contactd::store::{ApiKey, Scope, Store, StoreError, WriteBatch};
use std::sync::Arc;
use time::OffsetDateTime;

fn rules(settings: &BillerSettings) -> Rules<'_> {
    static NO_TAGS: std::sync::OnceLock<std::collections::HashSet<String>> = std::sync::OnceLock::new();
    Rules::new(settings, NO_TAGS.get_or_init(Default::default), time::macros::date!(2026 - 12 - 03))
}

fn data(acct: &str, name: &str) -> ContactData {
    let d = ContactDraft { account_number: Some(acct.into()), name: Some(name.into()), ..Default::default() };
    validate_contact(d, &rules(&BillerSettings::default())).unwrap()
}

fn origin() -> Origin {
    Origin::new(None, "conformance test")
}

fn batch(mode: WriteMode, records: Vec<ContactData>) -> WriteBatch {
    WriteBatch {
        settings_version: 1,
        mode,
        records,
        dry_run: false,
        guard: None,
        snapshot: None,
        force_holds: false,
        origin: origin(),
    }
}

async fn setup(b: Backend) -> (TestDb, Arc<dyn Store>, i64) {
    let db = TestDb::new(b).await;
    let store = open_store(&db).await;
    let biller = store.create_biller("B1", "Biller One", &BillerSettings::default()).await.unwrap();
    (db, store, biller.id)
}

async fn billers_and_settings(b: Backend) {
    let (_db, store, _) = setup(b).await;
    assert!(matches!(
        store.create_biller("B1", "Again", &BillerSettings::default()).await,
        Err(StoreError::Conflict(_))
    ));
    let doc = SettingsDoc { max_replace_removal: 0.5, fields: payreq_settings().fields, ..Default::default() };
    let settings = BillerSettings::parse(doc.clone()).unwrap();
    let b1 = store.biller("B1").await.unwrap().unwrap();
    assert_eq!(store.set_biller_settings(b1.id, &settings, None).await.unwrap(), 2);
    assert_eq!(store.biller("B1").await.unwrap().unwrap().settings.doc(), &doc);
    let versions = store.settings_versions(b1.id).await.unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [2, 1], "earlier versions stay readable");
    assert_eq!(versions[1].settings.doc(), &SettingsDoc::default());
    assert!(store.biller("nope").await.unwrap().is_none());
    store.create_biller("A0", "First", &BillerSettings::default()).await.unwrap();
    let codes: Vec<String> = store.billers().await.unwrap().into_iter().map(|b| b.code).collect();
    assert_eq!(codes, ["A0", "B1"]);
    // Migrating again is a no-op.
    store.migrate().await.unwrap();
}

async fn keys_and_tokens(b: Backend) {
    let (_db, store, _) = setup(b).await;
    let key_id = KeyId::generate(&mut rand::thread_rng());
    let now = OffsetDateTime::now_utc();
    let key = ApiKey {
        key_id: key_id.clone(),
        secret_hash: "$argon2id$x".into(),
        scopes: vec![Scope::ContactsRead, Scope::Admin],
        billers: vec!["B1".into()],
        created_at: now,
        revoked_at: None,
        allow_ips: vec!["14.142.186.142/32".parse().unwrap(), "2001:db8::/32".parse().unwrap()],
    };
    store.create_key(&key).await.unwrap();
    let got = store.key(&key_id).await.unwrap().unwrap();
    assert_eq!(
        (got.scopes.clone(), got.billers.clone(), got.secret_hash.as_str(), got.allow_ips.clone()),
        (key.scopes.clone(), key.billers.clone(), "$argon2id$x", key.allow_ips.clone())
    );
    // A grant on a biller that does not exist is refused whole.
    let bad = ApiKey {
        key_id: KeyId::generate(&mut rand::thread_rng()),
        billers: vec!["B1".into(), "NOPE".into()],
        ..key.clone()
    };
    assert!(store.create_key(&bad).await.is_err());
    assert!(store.key(&bad.key_id).await.unwrap().is_none());

    let hash = [7u8; 32];
    store.insert_token(&hash, &key_id, now + time::Duration::hours(1)).await.unwrap();
    let rec = store.token(&hash).await.unwrap().unwrap();
    assert_eq!(rec.key.key_id, key_id);
    assert!(store.token(&[8u8; 32]).await.unwrap().is_none());
    assert!(store.revoke_key(&key_id, now).await.unwrap());
    assert!(store.token(&hash).await.unwrap().unwrap().key.revoked_at.is_some());
    assert!(!store.revoke_key(&KeyId::generate(&mut rand::thread_rng()), now).await.unwrap());
    assert_eq!(store.keys().await.unwrap().len(), 1);

    store.insert_token(&[9u8; 32], &key_id, now - time::Duration::hours(2)).await.unwrap();
    assert_eq!(store.purge_tokens(now - time::Duration::hours(1)).await.unwrap(), 1);
    assert!(store.token(&[9u8; 32]).await.unwrap().is_none());
    assert!(store.token(&hash).await.unwrap().is_some());
}

async fn upsert_replace_dry_run_and_guard(b: Backend) {
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let out = store
        .write_contacts(biller, batch(WriteMode::Add, vec![data("001", "A"), data("002", "B"), data("003", "C")]), now)
        .await
        .unwrap();
    assert_eq!((out.counts.created, out.counts.updated, out.counts.unchanged), (3, 0, 0));
    let out = store
        .write_contacts(biller, batch(WriteMode::Add, vec![data("001", "A"), data("002", "B2"), data("004", "D")]), now)
        .await
        .unwrap();
    assert_eq!((out.counts.created, out.counts.updated, out.counts.unchanged), (1, 1, 1));
    let b2 = store.contact(biller, &ContactRef::AccountNumber("002".into())).await.unwrap().unwrap();
    assert_eq!((b2.data.name.as_str(), b2.version), ("B2", 2));

    // Dry run: counts, nothing written.
    let mut dry = batch(WriteMode::Replace, vec![data("001", "A"), data("005", "E")]);
    dry.dry_run = true;
    let out = store.write_contacts(biller, dry, now).await.unwrap();
    assert_eq!((out.counts.created, out.counts.unchanged, out.counts.removed), (1, 1, 3));
    assert_eq!(out.removed, ["002", "003", "004"]);
    assert_eq!(store.count_contacts(biller, &ContactFilter::default()).await.unwrap(), 4);

    // The guard refuses and leaves everything; confirmation lets it through.
    let mut guarded = batch(WriteMode::Replace, vec![data("001", "A"), data("005", "E")]);
    guarded.guard = Some(RemovalGuard { max_share: 0.25, confirm_removals: None });
    match store.write_contacts(biller, guarded.clone(), now).await {
        Err(StoreError::RemovalRefused(r)) => {
            assert_eq!(r, RemovalRefused::OverLimit { would_remove: 3, existing: 4, allowed: 1 })
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(store.count_contacts(biller, &ContactFilter::default()).await.unwrap(), 4);
    guarded.guard = Some(RemovalGuard { max_share: 0.25, confirm_removals: Some(3) });
    let out = store.write_contacts(biller, guarded, now).await.unwrap();
    assert_eq!((out.counts.created, out.counts.removed), (1, 3));
    let page = store
        .contacts(biller, &ContactFilter::default(), &PageRequest { after: None, limit: 10, skip: 0 })
        .await
        .unwrap();
    let accts: Vec<&str> = page.contacts.iter().map(|c| c.data.account_number.as_str()).collect();
    assert_eq!(accts, ["001", "005"]);
}

async fn tenants_are_isolated(b: Backend) {
    let (_db, store, b1) = setup(b).await;
    let b2 = store.create_biller("B2", "Two", &BillerSettings::default()).await.unwrap().id;
    let now = OffsetDateTime::now_utc();
    store.write_contacts(b1, batch(WriteMode::Add, vec![data("001", "One")]), now).await.unwrap();
    store.write_contacts(b2, batch(WriteMode::Add, vec![data("001", "Two")]), now).await.unwrap();
    // A replace of B2 leaves B1 alone.
    store.write_contacts(b2, batch(WriteMode::Replace, vec![data("002", "Two b")]), now).await.unwrap();
    let one = store.contact(b1, &ContactRef::AccountNumber("001".into())).await.unwrap().unwrap();
    assert_eq!(one.data.name, "One");
    assert!(store.contact(b2, &ContactRef::Id(one.id.clone())).await.unwrap().is_none());
    let gone = store.delete_contact(b2, &ContactRef::Id(one.id.clone()), None, &origin(), now).await.unwrap();
    assert_eq!(gone, Err(contactd::store::Refused::NotFound));
    assert_eq!(store.count_contacts(b1, &ContactFilter::default()).await.unwrap(), 1);
}

async fn single_contacts_round_trip_every_field(b: Backend) {
    let (_db, store, biller) = setup(b).await;
    let doc = SettingsDoc { fields: payreq_settings().fields, ..Default::default() };
    let settings = BillerSettings::parse(doc).unwrap();
    let mut d = ContactDraft {
        account_number: Some("000123".into()),
        name: Some("Sam Smith".into()),
        first_name: Some("Sam".into()),
        last_name: Some("Smith".into()),
        business_name: Some("Smith & Co".into()),
        is_consumer: Some(false),
        email: Some("sam@example.com".into()),
        phones: vec![PhoneDraft {
            kind: Some("home".into()),
            number: Some("+61 3 9000 0000".into()),
            country: Some("AU".into()),
        }],
        date_of_birth: Some("1980-02-29".into()),
        address: AddressDraft {
            line1: Some("1 Example St".into()),
            postcode: Some("3000".into()),
            country: Some("AU".into()),
            ..Default::default()
        },
        reference_id: Some("Acme 12345".into()),
        external_id: Some("ext-1".into()),
        crn: Some("1234567897".into()),
        contact_type: Some("self".into()),
        active: Some(true),
        ..Default::default()
    };
    d.notes.insert("k".into(), "Tea, Earl Grey… decaf.".into());
    let tags: std::collections::HashSet<String> =
        ["645381c92c8e9e093406ccb2".to_owned(), "645b280e95335f08eb021aa2".to_owned()].into();
    d.tags = tags.iter().cloned().collect();
    d.fields.insert("contact-id-1".into(), RawValue::Text("000123".into()));
    d.fields.insert("contact-id-2".into(), RawValue::Text("Mr S Smith".into()));
    d.fields.insert("paperless".into(), RawValue::Bool(true));
    let data = validate_contact(d, &Rules::new(&settings, &tags, time::macros::date!(2026 - 12 - 03))).unwrap();
    let now = OffsetDateTime::now_utc().replace_nanosecond(123_456_000).unwrap();
    let c = Contact {
        id: ContactId::generate(&mut rand::thread_rng()),
        data,
        version: 1,
        job_id: None,
        aliases: Default::default(),
        created_at: now,
        updated_at: now,
    };
    store.create_contact(biller, 1, &c, &origin(), None).await.unwrap().unwrap();
    let got = store.contact(biller, &ContactRef::Id(c.id.clone())).await.unwrap().unwrap();
    assert_eq!(got, c, "every field survives the store");
    let dup = Contact { id: ContactId::generate(&mut rand::thread_rng()), ..c.clone() };
    assert!(matches!(store.create_contact(biller, 1, &dup, &origin(), None).await, Err(StoreError::Conflict(_))));
    let deleted = store.delete_contact(biller, &ContactRef::Id(c.id.clone()), None, &origin(), now).await.unwrap();
    assert_eq!(deleted, Ok(()));
    assert!(store.contact(biller, &ContactRef::AccountNumber("000123".into())).await.unwrap().is_none());
}

async fn pages_and_filters(b: Backend) {
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let mut records: Vec<ContactData> = (0..25).map(|i| data(&format!("{i:03}"), &format!("Name {i}"))).collect();
    records[3].active = false;
    records[4].contact_type = Some("vendor".into());
    store.write_contacts(biller, batch(WriteMode::Add, records), now).await.unwrap();
    let mut after = None;
    let mut all = Vec::new();
    loop {
        let page = store
            .contacts(biller, &ContactFilter::default(), &PageRequest { after: after.clone(), limit: 10, skip: 0 })
            .await
            .unwrap();
        all.extend(page.contacts.into_iter().map(|c| c.data.account_number.into_string()));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(all, (0..25).map(|i| format!("{i:03}")).collect::<Vec<_>>());
    // Page N by skipping, and counts by the database, filtered alike.
    let skipped = |skip: u64, f: ContactFilter| {
        let store = store.clone();
        async move {
            let page = store.contacts(biller, &f, &PageRequest { after: None, limit: 3, skip }).await.unwrap();
            page.contacts.into_iter().map(|c| c.data.account_number.into_string()).collect::<Vec<_>>()
        }
    };
    assert_eq!(skipped(21, ContactFilter::default()).await, ["021", "022", "023"]);
    assert_eq!(skipped(24, ContactFilter::default()).await, ["024"]);
    assert!(skipped(u64::MAX, ContactFilter::default()).await.is_empty());
    let active = || ContactFilter { active: Some(true), ..Default::default() };
    assert_eq!(skipped(2, active()).await, ["002", "004", "005"], "003 is inactive");
    assert_eq!(store.count_contacts(biller, &active()).await.unwrap(), 24);
    assert_eq!(store.count_contacts(biller, &ContactFilter::default()).await.unwrap(), 25);
    let count = |f: ContactFilter| {
        let store = store.clone();
        async move {
            store.contacts(biller, &f, &PageRequest { after: None, limit: 100, skip: 0 }).await.unwrap().contacts.len()
        }
    };
    assert_eq!(count(ContactFilter { active: Some(false), ..Default::default() }).await, 1);
    assert_eq!(count(ContactFilter { contact_type: Some("vendor".into()), ..Default::default() }).await, 1);
    assert_eq!(count(ContactFilter { q: Some("name 1".into()), ..Default::default() }).await, 11);
    assert_eq!(
        count(ContactFilter { q: Some("_".into()), ..Default::default() }).await,
        0,
        "LIKE wildcards are literal"
    );
    let later = TimeRange { after: Some(now + time::Duration::seconds(1)), before: None };
    assert_eq!(count(ContactFilter { updated: later, ..Default::default() }).await, 0);
    let window = TimeRange { after: Some(now), before: Some(now + time::Duration::seconds(1)) };
    assert_eq!(count(ContactFilter { created: window, updated: window, ..Default::default() }).await, 25);
    let earlier = TimeRange { after: None, before: Some(now) };
    assert_eq!(count(ContactFilter { created: earlier, ..Default::default() }).await, 0, "before is exclusive");
}

/// Every filter finds what each write path stored: a sync add, an update
/// through the same path, a single create and a single update.
async fn filters_find_contacts_by_every_key(b: Backend) {
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let tag = "0123456789abcdef01234567".to_owned();
    let keyed = |acct: &str, name: &str| {
        let mut d = data(acct, name);
        d.email = Some(format!("{name}@Example.COM"));
        d.reference_id = Some(format!("ref-{acct}"));
        d.external_id = Some(format!("ext-{acct}"));
        d.phones = vec![Phone {
            kind: PhoneKind::Mobile,
            number: format!("0412 345 {acct}"),
            e164: Some(format!("+61412345{acct}")),
            country: Some("AU".into()),
        }];
        d
    };
    let mut records = vec![keyed("001", "Ann"), keyed("002", "Annabel"), keyed("003", "Bob"), data("004", "Anna")];
    records[1].tags = vec![tag.clone()];
    store.write_contacts(biller, batch(WriteMode::Add, records.clone()), now).await.unwrap();
    let found = |f: ContactFilter| {
        let store = store.clone();
        async move {
            let page = store.contacts(biller, &f, &PageRequest { after: None, limit: 100, skip: 0 }).await.unwrap();
            page.contacts.into_iter().map(|c| c.data.account_number.into_string()).collect::<Vec<_>>()
        }
    };
    let f = ContactFilter::default;
    assert_eq!(found(ContactFilter { name: Some("aNN".into()), ..f() }).await, ["001", "002", "004"]);
    assert_eq!(found(ContactFilter { name: Some("Annab".into()), ..f() }).await, ["002"]);
    assert_eq!(found(ContactFilter { name: Some("nn".into()), ..f() }).await, Vec::<String>::new(), "a prefix");
    assert_eq!(found(ContactFilter { email: Some("bob@example.com".into()), ..f() }).await, ["003"]);
    assert_eq!(found(ContactFilter { email: Some("bob@example".into()), ..f() }).await, Vec::<String>::new());
    assert_eq!(found(ContactFilter { reference_id: Some("ref-002".into()), ..f() }).await, ["002"]);
    assert_eq!(found(ContactFilter { external_id: Some("ext-003".into()), ..f() }).await, ["003"]);
    assert_eq!(found(ContactFilter { tag: Some(tag.clone()), ..f() }).await, ["002"]);
    assert_eq!(found(ContactFilter { phone: Some("0412 345 001".into()), ..f() }).await, ["001"], "as sent");
    assert_eq!(found(ContactFilter { phone: Some("+61412345002".into()), ..f() }).await, ["002"], "E.164");
    assert_eq!(found(ContactFilter { phone: Some("+61 412 345 003".into()), ..f() }).await, ["003"], "read as E.164");
    assert_eq!(found(ContactFilter { phone: Some("345".into()), ..f() }).await, Vec::<String>::new(), "whole numbers");
    assert_eq!(
        found(ContactFilter { name: Some("ann".into()), tag: Some(tag.clone()), ..f() }).await,
        ["002"],
        "conditions combine"
    );
    // An update by the same path moves every key.
    records[0].email = Some("ann.new@example.com".into());
    records[0].tags = vec![tag.clone()];
    store.write_contacts(biller, batch(WriteMode::Add, vec![records[0].clone()]), now).await.unwrap();
    assert_eq!(found(ContactFilter { email: Some("ann@example.com".into()), ..f() }).await, Vec::<String>::new());
    assert_eq!(found(ContactFilter { email: Some("ANN.new@example.com".into()), ..f() }).await, ["001"]);
    assert_eq!(found(ContactFilter { tag: Some(tag.clone()), ..f() }).await, ["001", "002"]);
    // One contact at a time: a create and an update.
    let single = Contact {
        id: ContactId::generate(&mut rand::thread_rng()),
        data: keyed("005", "Cara"),
        version: 1,
        job_id: None,
        aliases: Default::default(),
        created_at: now,
        updated_at: now,
    };
    store.create_contact(biller, 1, &single, &origin(), None).await.unwrap().unwrap();
    assert_eq!(found(ContactFilter { reference_id: Some("ref-005".into()), ..f() }).await, ["005"]);
    let by = ContactRef::Id(single.id.clone());
    let renamed = store
        .update_contact(
            biller,
            &by,
            1,
            &origin(),
            now,
            Box::new(|c: &Contact, _holds: &[Hold]| {
                let mut next = c.data.clone();
                next.reference_id = Some("ref-new".into());
                next.phones.clear();
                Ok(next)
            }),
            None,
        )
        .await
        .unwrap();
    assert!(renamed.is_ok());
    assert_eq!(found(ContactFilter { reference_id: Some("ref-new".into()), ..f() }).await, ["005"]);
    assert_eq!(found(ContactFilter { phone: Some("+61412345005".into()), ..f() }).await, Vec::<String>::new());
}

/// Several servers may start at once on one database.
async fn concurrent_migrations_are_safe(b: Backend) {
    let db = TestDb::new(b).await;
    let starts = (0..4).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move { contactd::store::open(&url).await?.migrate().await })
    });
    for r in futures_util::future::join_all(starts).await {
        r.unwrap().unwrap();
    }
    let store = open_store(&db).await;
    store.create_biller("B1", "One", &BillerSettings::default()).await.unwrap();
    assert_eq!(store.billers().await.unwrap().len(), 1);
}

/// A write validated against settings that changed since is refused whole.
async fn writes_against_old_settings_are_refused(b: Backend) {
    let (_db, store, biller) = setup(b).await;
    let b1 = store.biller("B1").await.unwrap().unwrap();
    assert_eq!(b1.settings_version, 1);
    store.set_biller_settings(biller, &b1.settings, None).await.unwrap();
    assert_eq!(store.biller("B1").await.unwrap().unwrap().settings_version, 2);
    let now = OffsetDateTime::now_utc();
    let stale = batch(WriteMode::Add, vec![data("001", "A")]);
    assert!(matches!(store.write_contacts(biller, stale.clone(), now).await, Err(StoreError::SettingsChanged)));
    let c = Contact {
        id: ContactId::generate(&mut rand::thread_rng()),
        data: data("002", "B"),
        version: 1,
        job_id: None,
        aliases: Default::default(),
        created_at: now,
        updated_at: now,
    };
    assert!(matches!(store.create_contact(biller, 1, &c, &origin(), None).await, Err(StoreError::SettingsChanged)));
    assert_eq!(store.count_contacts(biller, &ContactFilter::default()).await.unwrap(), 0);
    store.write_contacts(biller, WriteBatch { settings_version: 2, ..stale }, now).await.unwrap();
    store.create_contact(biller, 2, &c, &origin(), None).await.unwrap().unwrap();
    assert_eq!(store.count_contacts(biller, &ContactFilter::default()).await.unwrap(), 2);
}

/// A new add job with the defaults.
fn add_job() -> contactd::store::NewJob {
    use contactd::domain::job::{JobKind, OnError};
    contactd::store::NewJob {
        id: contactd::domain::JobId::generate(&mut rand::thread_rng()),
        kind: JobKind::Add,
        on_error: OnError::Reject,
        dry_run: false,
        confirm_removals: None,
        force_holds: false,
        origin: origin(),
        format: contactd::store::RecordFormat::Native,
    }
}

/// An upload whose server died is never run, and is cleaned up later.
async fn abandoned_uploads_are_purged_not_run(b: Backend) {
    use contactd::store::JobRecord;
    let (_db, store, biller) = setup(b).await;
    let new = add_job();
    let job = store.create_job(biller, &new, OffsetDateTime::now_utc()).await.unwrap();
    store.append_job_records(biller, job.seq, vec![JobRecord { idx: 0, line: 1, body: "{}".into() }]).await.unwrap();
    assert!(
        store
            .claim_job("w", OffsetDateTime::now_utc(), std::time::Duration::from_secs(60), None)
            .await
            .unwrap()
            .is_none(),
        "an unfinished upload is never claimed"
    );
    assert!(store.job(biller, &new.id).await.unwrap().is_none(), "nor shown");
    assert_eq!(store.purge_abandoned_uploads(OffsetDateTime::now_utc() - time::Duration::hours(1)).await.unwrap(), 0);
    assert_eq!(store.purge_abandoned_uploads(OffsetDateTime::now_utc() + time::Duration::seconds(1)).await.unwrap(), 1);
    assert!(store.job_records(biller, job.seq, None, 10).await.unwrap().is_empty(), "its records go with it");
    // The upload was still sending: it cannot be queued, and what it stored late is swept.
    let late = store.append_job_records(biller, job.seq, vec![JobRecord { idx: 1, line: 2, body: "{}".into() }]).await;
    assert!(matches!(store.queue_job(job.seq, 2).await, Err(StoreError::UploadAbandoned)), "{late:?}");
    store.purge_finished_work().await.unwrap();
    assert!(store.job_records(biller, job.seq, None, 10).await.unwrap().is_empty());
    // A failed upload is discarded whole, records and all.
    let failed = store.create_job(biller, &add_job(), OffsetDateTime::now_utc()).await.unwrap();
    store.append_job_records(biller, failed.seq, vec![JobRecord { idx: 0, line: 1, body: "{}".into() }]).await.unwrap();
    store.discard_job(failed.seq).await.unwrap();
    assert!(store.job_records(biller, failed.seq, None, 10).await.unwrap().is_empty());
    assert!(matches!(store.queue_job(failed.seq, 1).await, Err(StoreError::UploadAbandoned)));
}

/// Jobs of a biller run in the order their uploads were stored whole, one at a time.
async fn jobs_run_in_the_order_they_were_accepted(b: Backend) {
    use contactd::domain::job::JobStatus;
    use contactd::store::Fence;
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let lease = std::time::Duration::from_secs(60);
    // A slow upload starts first but is accepted second.
    let slow = store.create_job(biller, &add_job(), now).await.unwrap();
    let fast = store.create_job(biller, &add_job(), now).await.unwrap();
    store.queue_job(fast.seq, 0).await.unwrap();
    store.queue_job(slow.seq, 0).await.unwrap();
    let first = store.claim_job("w1", now, lease, None).await.unwrap().unwrap();
    assert_eq!(first.seq, fast.seq, "accepted first, runs first");
    assert!(
        store.claim_job("w2", now, lease, None).await.unwrap().is_none(),
        "the biller's next job waits for the running one"
    );
    let fence = Fence { seq: first.seq, owner: "w1".into(), attempt: first.attempts };
    assert!(store.finish_job(&fence, JobStatus::Completed, None, Default::default(), now).await.unwrap());
    assert_eq!(store.claim_job("w2", now, lease, None).await.unwrap().unwrap().seq, slow.seq);
}

/// An ended job's records go when it ends; what a crash left behind is swept,
/// and a running job's records are kept.
async fn ended_jobs_records_are_dropped(b: Backend) {
    use contactd::domain::job::JobStatus;
    use contactd::store::{Fence, JobRecord};
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let lease = std::time::Duration::from_secs(60);
    let records = || (0..3).map(|i| JobRecord { idx: i, line: i + 1, body: "{}".into() }).collect::<Vec<_>>();
    let mut jobs = Vec::new();
    for _ in 0..2 {
        let job = store.create_job(biller, &add_job(), now).await.unwrap();
        store.append_job_records(biller, job.seq, records()).await.unwrap();
        store.queue_job(job.seq, 3).await.unwrap();
        jobs.push(job);
    }
    let ended = store.claim_job("w", now, lease, None).await.unwrap().unwrap();
    let fence = Fence { seq: ended.seq, owner: "w".into(), attempt: ended.attempts };
    assert!(store.finish_job(&fence, JobStatus::Failed, Some("x".into()), Default::default(), now).await.unwrap());
    assert!(store.job_records(biller, ended.seq, None, 10).await.unwrap().is_empty(), "dropped when it ended");
    let running = store.claim_job("w", now, lease, None).await.unwrap().unwrap();
    assert_eq!(running.seq, jobs[1].seq);
    // As if the server died between ending the job and dropping its records.
    store.append_job_records(biller, ended.seq, records()).await.unwrap();
    assert_eq!(store.purge_finished_work().await.unwrap(), 1, "its three records are one stored row");
    assert!(store.job_records(biller, ended.seq, None, 10).await.unwrap().is_empty());
    assert_eq!(store.job_records(biller, running.seq, None, 10).await.unwrap().len(), 3, "a running job keeps its own");
}

/// Records are stored many to a row: whatever the batches they came in, they
/// read back whole, in order, from any point; a snapshot's contacts too.
async fn records_read_back_from_any_point(b: Backend) {
    use contactd::domain::SnapshotId;
    use contactd::store::{JobRecord, NewSnapshot};
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let job = store.create_job(biller, &add_job(), now).await.unwrap();
    let records: Vec<JobRecord> =
        (0..2_600).map(|i| JobRecord { idx: i, line: i * 2 + 1, body: format!(r#"{{"n":"Zoë, {i}"}}"#) }).collect();
    for batch in [&records[..700], &records[700..2_100], &records[2_100..]] {
        store.append_job_records(biller, job.seq, batch.to_vec()).await.unwrap();
    }
    let chunks = read_in_chunks(store.as_ref(), biller, job.seq, 900).await;
    let (last, full) = chunks.split_last().unwrap();
    assert!(full.iter().all(|c| c.len() >= 900), "a read returns at least its limit");
    assert_eq!(last.last().map(|r| r.idx), Some(2_599));
    assert_eq!(chunks.concat(), records);
    let from_middle = store.job_records(biller, job.seq, Some(1_234), 10).await.unwrap();
    assert_eq!(from_middle.first().map(|r| r.idx), Some(1_235));
    assert!(from_middle.len() >= 10 && from_middle.windows(2).all(|w| w[1].idx == w[0].idx + 1));

    // Large records: a read stops by size (4 MiB of text and the row that
    // crossed it), not by count, and the reads still cover every record once.
    let big = store.create_job(biller, &add_job(), now).await.unwrap();
    let large: Vec<JobRecord> =
        (0..24).map(|i| JobRecord { idx: i, line: i + 1, body: format!("{i:02}{}", "x".repeat(512 << 10)) }).collect();
    store.append_job_records(biller, big.seq, large.clone()).await.unwrap();
    let chunks = read_in_chunks(store.as_ref(), biller, big.seq, 1_000).await;
    assert!(chunks.iter().all(|c| c.len() <= 16), "4 MiB and one 4 MiB row at most: {:?}", chunks.iter().map(Vec::len));
    assert_eq!(chunks.concat(), large);

    // A snapshot of 2,500 contacts, copied into a restore job's records.
    let all: Vec<ContactData> = (0..2_500).map(|i| data(&format!("{i:05}"), &format!("Zoë {i}"))).collect();
    store.write_contacts(biller, batch(WriteMode::Add, all), now).await.unwrap();
    let mut replace = batch(WriteMode::Replace, vec![data("99999", "Only")]);
    let id = SnapshotId::generate(&mut rand::thread_rng());
    replace.snapshot = Some(NewSnapshot { id: id.clone(), job: None, keep: 10 });
    store.write_contacts(biller, replace, now).await.unwrap();
    let snap = store.snapshot(biller, &id).await.unwrap().unwrap();
    let restore = store.create_job(biller, &add_job(), now).await.unwrap();
    assert_eq!(store.append_snapshot_records(biller, restore.seq, snap.seq).await.unwrap(), 2_500);
    let records = store.job_records(biller, restore.seq, Some(1_998), 3).await.unwrap();
    let got: Vec<(u64, u64, String)> = records
        .iter()
        .take(3)
        .map(|r| {
            // A restore's record is the snapshot's line: number, id, …, document.
            let cells: Vec<&str> = r.body.split('\t').collect();
            let doc: serde_json::Value = serde_json::from_str(cells[5]).unwrap();
            (r.idx, r.line, format!("{} {}", cells[0], doc["name"].as_str().unwrap()))
        })
        .collect();
    assert_eq!(
        got,
        [(1_999, 2_001, "01999 Zoë 1999"), (2_000, 2_002, "02000 Zoë 2000"), (2_001, 2_003, "02001 Zoë 2001")]
            .map(|(i, l, s)| (i, l, s.to_string())),
        "line is the row of the snapshot's CSV, after its header"
    );
}

/// A job's records, read as the worker reads them: `job_records` from the
/// last one read until none is left.
async fn read_in_chunks(
    store: &dyn Store,
    biller: i64,
    seq: i64,
    limit: usize,
) -> Vec<Vec<contactd::store::JobRecord>> {
    let (mut chunks, mut after) = (Vec::new(), None);
    loop {
        let got = store.job_records(biller, seq, after, limit).await.unwrap();
        let Some(last) = got.last() else { return chunks };
        after = Some(last.idx);
        chunks.push(got);
    }
}

/// An add job of `total` records, stored and claimed by worker "w".
async fn claimed_add_job(store: &dyn Store, biller: i64, total: u64) -> contactd::store::Fence {
    let now = OffsetDateTime::now_utc();
    let job = store.create_job(biller, &add_job(), now).await.unwrap();
    store.queue_job(job.seq, total).await.unwrap();
    let claimed = store.claim_job("w", now, std::time::Duration::from_secs(60), None).await.unwrap().unwrap();
    contactd::store::Fence { seq: claimed.seq, owner: "w".into(), attempt: claimed.attempts }
}

/// What the worker hands the merge after validating an add job.
fn apply_add(total: u64, failed: u64, staged: u64) -> contactd::store::ApplyJob {
    contactd::store::ApplyJob {
        mode: WriteMode::Add,
        guard: None,
        dry_run: false,
        settings_version: 1,
        counts: contactd::domain::job::JobCounts { total, processed: total, failed, ..Default::default() },
        staged,
        unchanged_staged: 0,
        snapshot: None,
        force_holds: false,
        job_id: contactd::domain::JobId::generate(&mut rand::thread_rng()),
        origin: origin(),
    }
}

/// The merge applies a job only when every valid record is staged: staging
/// is not durable (lost if the database restarts), so a shortfall is refused
/// with nothing written, and the job can be run again.
async fn a_merge_with_rows_missing_applies_nothing(b: Backend) {
    use contactd::store::{Heartbeat, StageItem, StagedRow};
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let fence = claimed_add_job(&*store, biller, 3).await;
    let mut ids = ContactIdRun::new(&mut rand::thread_rng());
    let mut items: Vec<StageItem> = ["001", "002"]
        .iter()
        .enumerate()
        .map(|(i, a)| StageItem {
            account_number: a.to_string(),
            idx: i as u64,
            line: i as u64 + 1,
            row: Some(StagedRow::new(&data(a, "Staged"), &mut ids).unwrap()),
            maybe_repeated: false,
            unchanged: false,
        })
        .collect();
    // An invalid record (skipped with on_error=skip) claims its number with no row.
    let key_only =
        StageItem { account_number: "003".into(), idx: 2, line: 3, row: None, maybe_repeated: false, unchanged: false };
    items.push(key_only);
    let (state, duplicates) = store.stage_job_rows(&fence, biller, items).await.unwrap();
    assert_eq!((state, duplicates.len()), (Heartbeat::Continue, 0));
    let apply = |total, staged| apply_add(total, 1, staged);
    // Three valid records of four, two staged: the third was lost.
    let refused = store.apply_job(&fence, biller, &apply(4, 4), now).await;
    assert!(matches!(refused, Err(StoreError::StagingLost)), "{refused:?}");
    // The valid rows are all there, but one invalid record's key was lost
    // (a later use of its number would have passed as a first use).
    let refused = store.apply_job(&fence, biller, &apply(3, 4), now).await;
    assert!(matches!(refused, Err(StoreError::StagingLost)), "{refused:?}");
    assert_eq!(store.count_contacts(biller, &ContactFilter::default()).await.unwrap(), 0, "nothing applied");
    let counts = store.apply_job(&fence, biller, &apply(3, 3), now).await.unwrap().unwrap();
    assert_eq!((counts.created, store.count_contacts(biller, &ContactFilter::default()).await.unwrap()), (2, 2));
}

/// Staging finds every later use of a number, whether the caller marked it
/// as maybe repeated (a filter hit) or not, and in a chunk after its first
/// use or in the same one; a marked number used once is staged as a first use.
async fn staging_finds_repeated_numbers(b: Backend) {
    use contactd::store::{Heartbeat, StageItem, StagedRow};
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let fence = claimed_add_job(&*store, biller, 8).await;
    let mut ids = ContactIdRun::new(&mut rand::thread_rng());
    let mut item = |idx: u64, a: &str, maybe_repeated| StageItem {
        account_number: a.into(),
        idx,
        line: idx + 2,
        row: Some(StagedRow::new(&data(a, &format!("Record {idx}")), &mut ids).unwrap()),
        maybe_repeated,
        unchanged: false,
    };
    let first = vec![item(0, "001", false), item(1, "002", false)];
    let second = vec![
        item(2, "001", true),
        item(3, "004", true),
        item(4, "005", false),
        item(5, "004", true),
        item(6, "006", false),
        item(7, "006", true),
    ];
    let (state, duplicates) = store.stage_job_rows(&fence, biller, first).await.unwrap();
    assert_eq!((state, duplicates.len()), (Heartbeat::Continue, 0));
    let (_, mut duplicates) = store.stage_job_rows(&fence, biller, second).await.unwrap();
    duplicates.sort_by_key(|d| d.item);
    let found: Vec<(usize, u64, u64)> = duplicates.iter().map(|d| (d.item, d.first_idx, d.first_line)).collect();
    assert_eq!(found, [(0, 0, 2), (3, 3, 5), (5, 6, 8)], "positions in the second chunk, with the first use of each");
    let apply = apply_add(8, 3, 5);
    let counts = store.apply_job(&fence, biller, &apply, now).await.unwrap().unwrap();
    assert_eq!(counts.created, 5);
    let page = store
        .contacts(biller, &ContactFilter::default(), &PageRequest { after: None, limit: 10, skip: 0 })
        .await
        .unwrap();
    let names: Vec<(String, String)> =
        page.contacts.into_iter().map(|c| (c.data.account_number.as_str().to_string(), c.data.name)).collect();
    assert_eq!(
        names,
        [("001", "Record 0"), ("002", "Record 1"), ("004", "Record 3"), ("005", "Record 4"), ("006", "Record 6")]
            .map(|(a, n)| (a.to_string(), n.to_string())),
        "the first use of each number is what is applied"
    );
}

/// Rows a job's validation believes unchanged (`StageItem::unchanged`):
/// PostgreSQL stages them by key alone and its merge refuses, applying
/// nothing, if one no longer matches its contact; SQLite stages them whole.
async fn rows_staged_as_unchanged_are_checked_by_the_merge(b: Backend) {
    use contactd::store::{Heartbeat, StageItem, StagedRow};
    let (_db, store, biller) = setup(b).await;
    let now = OffsetDateTime::now_utc();
    let mut ids = ContactIdRun::new(&mut rand::thread_rng());
    let mut item = |idx: u64, a: &str, name: &str, unchanged| StageItem {
        account_number: a.into(),
        idx,
        line: idx + 1,
        row: Some(StagedRow::new(&data(a, name), &mut ids).unwrap()),
        maybe_repeated: false,
        unchanged,
    };
    let first = claimed_add_job(&*store, biller, 2).await;
    let rows = vec![item(0, "001", "Kept", false), item(1, "002", "Before", false)];
    store.stage_job_rows(&first, biller, rows).await.unwrap();
    store.apply_job(&first, biller, &apply_add(2, 0, 2), now).await.unwrap().unwrap();
    let names = |store: std::sync::Arc<dyn contactd::store::Store>| async move {
        let page = store
            .contacts(biller, &ContactFilter::default(), &PageRequest { after: None, limit: 10, skip: 0 })
            .await
            .unwrap();
        page.contacts
            .into_iter()
            .map(|c| format!("{} {}", c.data.account_number.as_str(), c.data.name))
            .collect::<Vec<_>>()
    };

    let next = claimed_add_job(&*store, biller, 3).await;
    let mut stage = |wrong: bool| {
        // 002 marked unchanged though it changes: as if a write changed its contact after validation looked.
        vec![item(0, "001", "Kept", true), item(1, "002", "After", wrong), item(2, "003", "New", false)]
    };
    let (state, _) = store.stage_job_rows(&next, biller, stage(true)).await.unwrap();
    assert_eq!(state, Heartbeat::Continue);
    let apply = contactd::store::ApplyJob { unchanged_staged: 2, ..apply_add(3, 0, 3) };
    let result = store.apply_job(&next, biller, &apply, now).await;
    if b == Backend::Postgres {
        assert!(matches!(result, Err(StoreError::StaleHints)), "{result:?}");
        assert_eq!(names(store.clone()).await, ["001 Kept", "002 Before"], "nothing applied");
        assert_eq!(store.reset_job_work(&next, biller).await.unwrap(), Heartbeat::Continue);
        store.stage_job_rows(&next, biller, stage(false)).await.unwrap();
        let counts = store
            .apply_job(&next, biller, &contactd::store::ApplyJob { unchanged_staged: 1, ..apply_add(3, 0, 3) }, now)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((counts.unchanged, counts.updated, counts.created), (1, 1, 1));
    } else {
        let counts = result.unwrap().unwrap();
        assert_eq!((counts.unchanged, counts.updated, counts.created), (1, 1, 1), "staged whole, the hint unused");
    }
    assert_eq!(names(store.clone()).await, ["001 Kept", "002 After", "003 New"]);
}

/// Aliases: issued once per contact and kind, in one go for many, read back
/// with the contact and found by; never reused, even after a delete.
async fn aliases_are_issued_once_and_never_reused(b: Backend) {
    let (_db, store, biller) = setup(b).await;
    let other = store.create_biller("B2", "Biller Two", &BillerSettings::default()).await.unwrap().id;
    let now = OffsetDateTime::now_utc();
    let records: Vec<ContactData> = (0..300).map(|i| data(&format!("{i:03}"), &format!("Name {i}"))).collect();
    store.write_contacts(biller, batch(WriteMode::Add, records), now).await.unwrap();
    let page = store
        .contacts(biller, &ContactFilter::default(), &PageRequest { after: None, limit: 1000, skip: 0 })
        .await
        .unwrap();
    let ids: Vec<ContactId> = page.contacts.iter().map(|c| c.id.clone()).collect();
    assert!(page.contacts.iter().all(|c| c.aliases == Default::default()));
    let kind = AliasKind::PayAdvantage;
    let first = store.issue_aliases(biller, kind, &ids[..10], now).await.unwrap();
    let all = store.issue_aliases(biller, kind, &ids, now).await.unwrap();
    assert_eq!(all.len(), 300);
    assert!(first.iter().all(|(id, a)| all[id] == *a), "issued once: asking again gives the same");
    assert_eq!(all.values().collect::<std::collections::HashSet<_>>().len(), 300, "distinct");
    assert!(all.values().all(|a| kind.is_valid(a)));
    let (id, alias) = all.iter().next().map(|(i, a)| (i.clone(), a.clone())).unwrap();
    let by_alias = store.contact(biller, &ContactRef::Alias(kind, alias.clone())).await.unwrap().unwrap();
    assert_eq!((by_alias.id.clone(), by_alias.aliases.pay_advantage.clone()), (id.clone(), Some(alias.clone())));
    assert!(store.contact(other, &ContactRef::Alias(kind, alias.clone())).await.unwrap().is_none(), "per biller");
    assert!(store.contact(biller, &ContactRef::Alias(AliasKind::Instantpay, alias.clone())).await.unwrap().is_none());
    // A carried-over alias: once per contact and kind, never one taken.
    let ip = "645383ba4acec95a32089822";
    assert!(store.add_alias(biller, AliasKind::Instantpay, &id, ip, now).await.unwrap());
    assert!(matches!(
        store.add_alias(biller, AliasKind::Instantpay, &id, "645383ba4acec95a32089823", now).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.add_alias(biller, AliasKind::Instantpay, &ids[1], ip, now).await,
        Err(StoreError::Conflict(_))
    ));
    let unknown = ContactId::generate(&mut rand::thread_rng());
    assert!(!store.add_alias(biller, AliasKind::Instantpay, &unknown, "645383ba4acec95a32089824", now).await.unwrap());
    assert!(store.issue_aliases(biller, kind, &[unknown], now).await.unwrap().is_empty(), "no contact, no alias");
    let both = store.contact(biller, &ContactRef::Id(id.clone())).await.unwrap().unwrap().aliases;
    assert_eq!((both.pay_advantage.as_deref(), both.instantpay.as_deref()), (Some(alias.as_str()), Some(ip)));
    // Deleted: the alias finds nothing, and is never given again.
    store.delete_contact(biller, &ContactRef::Id(id.clone()), None, &origin(), now).await.unwrap().unwrap();
    assert!(store.contact(biller, &ContactRef::Alias(kind, alias.clone())).await.unwrap().is_none());
    store.write_contacts(biller, batch(WriteMode::Add, vec![data("999", "New")]), now).await.unwrap();
    let new = store.contact(biller, &ContactRef::AccountNumber("999".into())).await.unwrap().unwrap();
    let got = store.issue_aliases(biller, kind, std::slice::from_ref(&new.id), now).await.unwrap();
    assert!(!all.values().any(|a| *a == got[&new.id]));
    assert!(matches!(
        store.add_alias(biller, AliasKind::Instantpay, &new.id, ip, now).await,
        Err(StoreError::Conflict(_))
    ));
}

crate::both_stores!(
    aliases_are_issued_once_and_never_reused,
    records_read_back_from_any_point,
    rows_staged_as_unchanged_are_checked_by_the_merge,
    staging_finds_repeated_numbers,
    a_merge_with_rows_missing_applies_nothing,
    ended_jobs_records_are_dropped,
    jobs_run_in_the_order_they_were_accepted,
    abandoned_uploads_are_purged_not_run,
    writes_against_old_settings_are_refused,
    concurrent_migrations_are_safe,
    billers_and_settings,
    keys_and_tokens,
    upsert_replace_dry_run_and_guard,
    tenants_are_isolated,
    single_contacts_round_trip_every_field,
    pages_and_filters,
    filters_find_contacts_by_every_key,
);
