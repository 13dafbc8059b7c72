//! The bundled sample service exercises every rule (issue: sample data).

use std::path::Path;

/// The bundled sample audited as of 23 November 2026 into a new folder
/// (the report is its `r`).
fn audited_sample() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let plan = yjaudit::Plan::new(
        root.join("sample-data/canonical"),
        root.join("rules"),
        out.path().join("r"),
        yjaudit::time::parse_date("2026-11-23").unwrap(),
    );
    yjaudit::audit(&plan).unwrap();
    out
}

#[test]
fn the_sample_has_met_and_breached_items_for_every_rule() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = audited_sample();
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

#[test]
fn findings_do_not_depend_on_the_order_of_rows_in_the_files() {
    // Every file's rows reversed: ties must follow the ids (contract section
    // 5), never the file's order. Only the trace columns (file:line) differ.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = root.join("sample-data/canonical");
    let reversed = tempfile::tempdir().unwrap();
    for name in ["cases.csv", "staff.csv", "allocations.csv", "events.csv", "absences.csv"] {
        let text = std::fs::read_to_string(sample.join(name)).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines[1..].reverse();
        std::fs::write(reversed.path().join(name), lines.join("\n") + "\n").unwrap();
    }
    let findings = |input: std::path::PathBuf| -> Vec<String> {
        let out = tempfile::tempdir().unwrap();
        let plan = yjaudit::Plan::new(input, root.join("rules"), out.path().join("r"), yjaudit::time::parse_date("2026-11-23").unwrap());
        yjaudit::audit(&plan).unwrap();
        let mut reader = csv::Reader::from_path(out.path().join("r/findings.csv")).unwrap();
        let width = reader.headers().unwrap().len();
        reader.records().map(|r| r.unwrap().iter().take(width - 2).collect::<Vec<_>>().join(",")).collect()
    };
    let (as_given, upside_down) = (findings(sample), findings(reversed.path().to_path_buf()));
    assert!(as_given.len() > 1_000);
    assert!(as_given == upside_down, "findings changed when the files' rows were reversed");
}

#[test]
fn findings_come_in_the_contracts_order_from_first_row_to_last() {
    // Thousands of rows, rendered a few hundred at a time on every core
    // and put into the file as each one's turn comes: the file must read
    // as one list sorted by rule, case_id, worker_id, due_at and
    // trigger_event_id (contract section 4).
    let out = audited_sample();
    let mut reader = csv::Reader::from_path(out.path().join("r/findings.csv")).unwrap();
    let keys: Vec<[String; 5]> = reader.records().map(|r| [0, 1, 2, 6, 4].map(|i| r.as_ref().unwrap()[i].to_string())).collect();
    assert!(keys.len() > 2_000);
    for (n, pair) in keys.windows(2).enumerate() {
        assert!(pair[0] <= pair[1], "row {} comes after row {}: {:?} then {:?}", n + 2, n + 3, pair[0], pair[1]);
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("r/findings.json")).unwrap()).unwrap();
    let json_keys: Vec<[String; 5]> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|o| ["rule", "case_id", "worker_id", "due_at", "trigger_event_id"].map(|k| o[k].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(json_keys == keys, "findings.json lists the rows in findings.csv's order");
}
