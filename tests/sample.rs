//! The bundled sample service exercises every rule (issue: sample data).

use std::path::Path;

#[test]
fn the_sample_has_met_and_breached_items_for_every_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let plan = yjaudit::Plan::new(
        root.join("sample-data/canonical"),
        root.join("rules"),
        out.path().join("r"),
        yjaudit::time::parse_date("2026-11-23").unwrap(),
    );
    yjaudit::audit(&plan).unwrap();
    let mut reader = csv::Reader::from_path(out.path().join("r/findings.csv")).unwrap();
    let mut statuses: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for row in reader.records() {
        let row = row.unwrap();
        statuses.entry(row[0].to_string()).or_default().insert(row[9].to_string());
    }
    let rules = yjaudit::rules::RuleSet::load(&root.join("rules")).unwrap();
    for rule in &rules.rules {
        let found = statuses.get(&rule.code).cloned().unwrap_or_default();
        assert!(found.contains("met"), "{}: no met item ({found:?})", rule.code);
        assert!(found.contains("late") || found.contains("overdue"), "{}: no breach ({found:?})", rule.code);
    }
    for code in ["REC001", "REC003", "REC004", "CMM001", "CMM002", "CMM003", "SUP001", "TRF001"] {
        for status in ["met", "late", "overdue", "due"] {
            assert!(statuses[code].contains(status), "{code}: no {status} item");
        }
    }
}
