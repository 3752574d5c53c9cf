//! Feature flag evaluation, the check a component makes per notification, record or delta:
//! `flags/percent` (a rule rolled out to 25% of tenants), `flags/tenant_list` (a rule naming
//! 100 tenants, the tenant asked for not among them: the longest scan), `flags/unset` (no rule:
//! on). Baseline in the same run, `flags/baseline_map_lookup`: one `HashMap` lookup of a
//! tenant id, the least a per-tenant decision can cost. The target is ≤ 100 ns per evaluation.
//! Run with `cargo bench -p vigil --bench flags`.

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil::flags::{FlagRule, FlagSet, Flags, Switch};

/// Tenant ids evaluated per iteration.
const TENANTS: u64 = 1_000;

fn flags(c: &mut Criterion) {
    let mut group = c.benchmark_group("flags");
    group.throughput(Throughput::Elements(TENANTS));
    let percent = Flags::with(FlagSet::new([(
        Switch::Sms,
        FlagRule {
            on: true,
            tenants: vec![],
            users: vec![],
            percent: Some(25),
            rollback_when: None,
        },
    )]));
    let listed = Flags::with(FlagSet::new([(
        Switch::Sms,
        FlagRule {
            on: true,
            tenants: (100_001..=100_100).collect(),
            users: vec![],
            percent: None,
            rollback_when: None,
        },
    )]));
    let unset = Flags::default();
    for (name, flags) in [
        ("percent", &percent),
        ("tenant_list", &listed),
        ("unset", &unset),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut on = 0u64;
                for tenant in 1..=TENANTS {
                    on += u64::from(flags.is_on(black_box(&Switch::Sms), black_box(tenant)));
                }
                on
            })
        });
    }
    let map: HashMap<u64, bool> = (1..=TENANTS).map(|t| (t, t % 4 == 0)).collect();
    group.bench_function("baseline_map_lookup", |b| {
        b.iter(|| {
            let mut on = 0u64;
            for tenant in 1..=TENANTS {
                on += u64::from(map.get(&black_box(tenant)).copied().unwrap_or(true));
            }
            on
        })
    });
    group.finish();
}

criterion_group!(benches, flags);
criterion_main!(benches);
