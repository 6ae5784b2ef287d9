//! The validator on hostile lists: a record whose tags are past the limit
//! must cost about what one just past it does, however long the list is
//! (the README's "lists stop at their limits"; BENCHMARKS.md has the ratio).
//!
//! cargo bench --bench validate

use contactd::domain::field_settings::SettingsDoc;
use contactd::domain::{BillerSettings, ContactDraft, validate_contact};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn draft(tags: usize) -> ContactDraft {
    ContactDraft {
        account_number: Some("123456".into()),
        name: Some("Sam Smith".into()),
        // Every tag the same: the worst case for a duplicate check.
        tags: vec!["a".into(); tags],
        ..ContactDraft::default()
    }
}

fn lists(c: &mut Criterion) {
    let settings = BillerSettings::parse(SettingsDoc::default()).expect("settings");
    let tags = std::collections::HashSet::new();
    let rules = contactd::domain::validate::Rules::new(&settings, &tags, time::macros::date!(2026 - 12 - 03));
    let mut group = c.benchmark_group("validate_tags");
    for n in [32, 33, 100_000] {
        let d = draft(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &d, |b, d| {
            b.iter_batched(|| d.clone(), |d| validate_contact(d, &rules), criterion::BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, lists);
criterion_main!(benches);
