//! Source profiles: the three system layouts of the sample service audit to
//! exactly the canonical findings; encodings, date formats, null markers and
//! labels are read as the profiles say; unmapped labels are counted.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn audit(input: PathBuf, profile: &str) -> (tempfile::TempDir, yjaudit::Summary) {
    let out = tempfile::tempdir().unwrap();
    let mut plan = yjaudit::Plan::new(input, root().join("rules"), out.path().join("r"), yjaudit::time::parse_date("2026-11-23").unwrap());
    plan.profile = profile.into();
    let summary = yjaudit::audit(&plan).unwrap_or_else(|e| panic!("{profile}: {e}"));
    (out, summary)
}

#[test]
fn the_three_system_extracts_give_the_canonical_findings() {
    // Every column but the last two, which trace each row to its own
    // extract's file and line.
    let without_sources = |path: PathBuf| -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let width = reader.headers().unwrap().len();
        let header = reader.headers().unwrap().clone();
        assert_eq!((&header[width - 2], &header[width - 1]), ("trigger_source", "done_source"));
        reader.records().map(|r| r.unwrap().iter().take(width - 2).collect::<Vec<_>>().join(",")).collect()
    };
    let (canonical, _) = audit(root().join("sample-data/canonical"), "canonical");
    let expected = without_sources(canonical.path().join("r/findings.csv"));
    assert!(expected.len() > 1_000);
    for system in ["childview", "capita", "mosaic"] {
        let (out, _) = audit(root().join("sample-data").join(system), system);
        let found = without_sources(out.path().join("r/findings.csv"));
        assert!(found == expected, "{system}: findings differ from the canonical sample's");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("r/manifest.json")).unwrap()).unwrap();
        assert_eq!(manifest["profile"], system);
        for (file, counts) in manifest["inputs"].as_object().unwrap() {
            let n = |k: &str| counts[k].as_u64().unwrap();
            assert_eq!(n("rows_read"), n("rows_used") + n("rows_rejected"), "{system} {file}");
        }
    }
}

#[test]
fn the_capita_sample_is_windows_1252_and_the_childview_sample_has_a_bom() {
    let capita = std::fs::read(root().join("sample-data/capita/YJ_Events_Export.csv")).unwrap();
    assert!(std::str::from_utf8(&capita).is_err(), "an en dash in Windows-1252 is not UTF-8");
    assert!(capita.windows(2).any(|w| w == b"\r\n"));
    let childview = std::fs::read(root().join("sample-data/childview/ChildView_Cases.csv")).unwrap();
    assert!(childview.starts_with(b"\xEF\xBB\xBF"));
}

/// A small export written by hand in the ChildView layout.
fn childview_extract(events: &str, encoding_1252: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let bytes = if encoding_1252 { encoding_rs::WINDOWS_1252.encode(text).0.into_owned() } else { text.as_bytes().to_vec() };
        std::fs::write(dir.path().join(name), bytes).unwrap();
    };
    write(
        "ChildView_Cases.csv",
        "Case Ref,Initials,Team,Case Type,Start Date,End Date,Looked After\r\nC1,ZÖ,Nörth,Referral Order,02/01/2024,N/A,Y\r\n",
    );
    write("ChildView_Contacts.csv", events);
    dir
}

#[test]
fn uk_dates_nulls_conditions_and_windows_1252_are_read_as_the_profile_says() {
    let events = "Contact ID,Case Ref,Worker ID,Contact Type,Contact Date,Entered On,Outcome\r\n\
                  F1,C1,W1,Incident of failure to comply,28/03/2024 10:00,-,Unacceptable\r\n\
                  F2,C1,W1,Incident of failure to comply,29/03/2024,,Acceptable\r\n\
                  M1,C1,W1,CMM - Compliance,15/04/2024 16:00,16/04/2024 09:00,\r\n\
                  X1,C1,W1,Home Visit Note,01/05/2024,,\r\n\
                  X2,C1,W1,Home Visit Note,02/05/2024,,\r\n\
                  B1,C1,W1,Contact,31/02/2024,,\r\n";
    for cp1252 in [false, true] {
        let dir = childview_extract(events, cp1252);
        let (out, _) = audit(dir.path().to_path_buf(), "childview");
        let findings = std::fs::read_to_string(out.path().join("r/findings.csv")).unwrap();
        assert!(findings.contains("CMM001,C1,,Nörth,F1,2024-03-28T10:00,2024-04-15,M1,2024-04-15T16:00,met,"), "{findings}");
        assert!(!findings.contains(",F2,"), "an acceptable failure is no trigger: {findings}");
        assert!(findings.contains("REC001,C1,,Nörth,M1,2024-04-15T16:00,2024-04-17T16:00,M1,2024-04-16T09:00,met,"), "{findings}");
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path().join("r/manifest.json")).unwrap()).unwrap();
        let contacts = &manifest["inputs"]["ChildView_Contacts.csv"];
        assert_eq!(contacts["unmapped_labels"]["Home Visit Note"], 2, "{contacts}");
        assert_eq!(contacts["rejected_by_reason"]["unmapped label"], 2);
        assert_eq!(contacts["rejected_by_reason"]["invalid date-time"], 1);
        assert_eq!(contacts["rows_used"], 3);
        let html = std::fs::read_to_string(out.path().join("r/index.html")).unwrap();
        assert!(html.contains("Home Visit Note"), "unmapped labels are listed in the report");
    }
}

#[test]
fn a_profile_written_for_a_new_layout_needs_no_code() {
    // Another system's export: other names, labels, Excel dates, CR line ends.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kids.csv"), "REF;TYPE;OPENED\rK1;RO;2024-01-02 00:00:00\r").unwrap();
    std::fs::write(
        dir.path().join("work.csv"),
        "ID,REF,WHAT,WHEN,KEYED\rA,K1,FTA,2024-03-28 10:00:00,\rB,K1,Compliance meeting,2024-04-16 09:00:00,2024-04-16 10:00:00\r",
    )
    .unwrap();
    let profile = dir.path().join("other.toml");
    std::fs::write(
        &profile,
        r#"
name = "other"
description = "A test layout"
date_formats = ["%Y-%m-%d %H:%M:%S"]
[tables.cases]
file = "kids.csv"
columns = { case_id = "REF", case_type = "TYPE", opened_on = "OPENED" }
values = { case_type = { RO = "referral_order" } }
[tables.events]
file = "work.csv"
columns = { event_id = "ID", case_id = "REF", event_type = "WHAT", occurred_at = "WHEN", recorded_at = "KEYED" }
labels = [
  { label = "FTA", event_type = "compliance.unacceptable_failure" },
  { label = "Compliance meeting", event_type = "cmm.compliance" },
]
"#,
    )
    .unwrap();
    // Semicolons are not this profile's separator: the cases file is unusable.
    let out = tempfile::tempdir().unwrap();
    let run = |input: &Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_yjaudit"))
            .args(["run", "--input", input.to_str().unwrap(), "--profile", profile.to_str().unwrap(), "--as-of", "2024-06-10"])
            .args(["--out", out.path().join("r").to_str().unwrap()])
            .output()
            .unwrap()
    };
    let o = run(dir.path());
    assert_eq!(o.status.code(), Some(3), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(dir.path().join("kids.csv"), "REF,TYPE,OPENED\rK1,RO,2024-01-02 00:00:00\r").unwrap();
    let o = run(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let findings = std::fs::read_to_string(out.path().join("r/findings.csv")).unwrap();
    assert!(findings.contains("CMM001,K1,,,A,2024-03-28T10:00,2024-04-15,B,2024-04-16T09:00,late,1"), "{findings}");
}

#[test]
fn profile_mistakes_name_the_file_and_the_nearest_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "name = \"x\"\ndescription = \"y\"\n[tables.case]\nfile = \"a.csv\"\n[tables.events]\nfile = \"b.csv\"\ncolumns = { evnt_id = \"ID\" }\nlabels = [{ label = \"X\", event_type = \"cmm.complance\" }]\n").unwrap();
    let error = yjaudit::source::profile::Profile::load(&path).unwrap_err().to_string();
    assert!(error.contains("unknown table `case`; did you mean `cases`?"), "{error}");
    assert!(error.contains("no canonical column `evnt_id`; did you mean `event_id`?"), "{error}");
    assert!(error.contains("did you mean `cmm.compliance`?"), "{error}");
}
