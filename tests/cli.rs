//! The binary as a user runs it: exit codes, messages, outputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch folder with an extract in it (xsv's `Workdir`).
struct Workdir {
    dir: tempfile::TempDir,
}

impl Workdir {
    fn new() -> Workdir {
        let w = Workdir { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(w.input()).unwrap();
        w
    }

    fn input(&self) -> PathBuf {
        self.dir.path().join("extract")
    }

    fn reports(&self) -> PathBuf {
        self.dir.path().join("reports")
    }

    fn write(&self, name: &str, content: &str) -> &Workdir {
        std::fs::write(self.input().join(name), content).unwrap();
        self
    }

    fn minimal(&self) -> &Workdir {
        self.write("cases.csv", "case_id,initials,team,case_type,opened_on\nC1,AB,North,yro,2024-01-02\n");
        self.write(
            "events.csv",
            "event_id,case_id,worker_id,event_type,occurred_at,recorded_at\nE1,C1,W1,cmm.compliance,2024-05-01T10:00,2024-05-02T10:00\n",
        )
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_yjaudit")).args(args).current_dir(self.dir.path()).output().unwrap()
    }

    fn audit(&self, out: &str, extra: &[&str]) -> Output {
        let input = self.input();
        let out = self.reports().join(out);
        let mut args = vec!["run", "--input", input.to_str().unwrap(), "--as-of", "2024-06-10", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.reports().join(path)).unwrap()
    }
}

/// Every file a run wrote: the top of the report folder and its page folders.
fn report_files(report: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["", "teams", "workers", "rules"] {
        files.extend(std::fs::read_dir(report.join(dir)).unwrap().flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    files
}

/// index.html and every team, worker and rule page.
fn report_pages(report: &Path) -> Vec<PathBuf> {
    report_files(report).into_iter().filter(|p| p.extension().is_some_and(|e| e == "html")).collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_clean_run_exits_0_and_writes_every_output() {
    let w = Workdir::new();
    w.minimal();
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    for file in ["findings.csv", "findings.json", "rejected.csv", "manifest.json", "index.html"] {
        assert!(w.reports().join("r").join(file).is_file(), "{file}");
    }
    assert!(w.read("r/findings.csv").contains("REC001,C1,,North,E1,2024-05-01T10:00,2024-05-03T10:00,E1,2024-05-02T10:00,met,"));
    let manifest: serde_json::Value = serde_json::from_str(&w.read("r/manifest.json")).unwrap();
    assert_eq!(manifest["as_of"], "2024-06-10");
    assert_eq!(manifest["profile"], "canonical");
    assert_eq!(manifest["period"]["from"], serde_json::Value::Null);
    assert_eq!(manifest["findings"]["met"], 1);
    assert_eq!(manifest["findings"]["pending"], 0);
    assert_eq!(manifest["inputs"]["events.csv"]["rows_read"], 1);
    assert_eq!(manifest["inputs"]["events.csv"]["sha256"].as_str().unwrap().len(), 64);
    assert!(manifest["rules"]["CMM001.toml"].is_string());
    // SUP001 needs allocations.csv: not assessed, never met.
    let not_assessed = manifest["not_assessed"].as_array().unwrap();
    assert!(not_assessed.iter().any(|n| n["rule"] == "SUP001" && n["reason"].as_str().unwrap().contains("allocations.csv")));
    assert!(not_assessed.iter().any(|n| n["rule"] == "CMM007" && n["reason"].as_str().unwrap().contains("no court.sentence events")));
    assert!(!not_assessed.iter().any(|n| n["rule"] == "REC001"));
    assert!(w.read("r/index.html").contains("Not assessed"));
    assert!(stderr(&o).contains("3 findings (2 overdue"), "{}", stderr(&o));
}

#[test]
fn same_inputs_give_byte_identical_findings() {
    let w = Workdir::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/canonical");
    for name in ["cases.csv", "staff.csv", "allocations.csv", "events.csv", "absences.csv"] {
        std::fs::copy(sample.join(name), w.input().join(name)).unwrap();
    }
    assert_eq!(w.audit("a", &[]).status.code(), Some(0));
    assert_eq!(w.audit("b", &[]).status.code(), Some(0));
    assert_eq!(w.read("a/findings.csv"), w.read("b/findings.csv"));
    assert_eq!(w.read("a/findings.json"), w.read("b/findings.json"));
    let findings = w.read("a/findings.csv");
    assert!(findings.lines().count() > 500);
    let json: serde_json::Value = serde_json::from_str(&w.read("a/findings.json")).unwrap();
    let objects = json.as_array().unwrap();
    assert_eq!(objects.len(), findings.lines().count() - 1);
    // The same rows: the contract's eleven keys always (null when empty),
    // the extra ones when they hold a value.
    let mut reader = csv::Reader::from_reader(findings.as_bytes());
    let header = reader.headers().unwrap().clone();
    for (record, object) in reader.records().zip(objects) {
        let (record, object) = (record.unwrap(), object.as_object().unwrap());
        for (i, (name, value)) in header.iter().zip(record.iter()).enumerate() {
            let found = object.get(name);
            let expected = match value {
                "" if i < 11 => Some(serde_json::Value::Null),
                "" => None,
                number if name == "overdue_days" => Some(serde_json::Value::from(number.parse::<i64>().unwrap())),
                text => Some(serde_json::Value::from(text)),
            };
            assert_eq!(found, expected.as_ref(), "{name} in {record:?}");
        }
        assert!(object.keys().all(|k| header.iter().any(|h| h == k)));
    }
}

#[test]
fn a_missing_required_file_or_column_exits_3_naming_it() {
    let w = Workdir::new();
    w.write("cases.csv", "case_id,case_type,opened_on\nC1,yro,2024-01-02\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("events.csv"), "{}", stderr(&o));

    w.write("events.csv", "event_id,case_id,event_type\nE1,C1,contact\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("events.csv") && stderr(&o).contains("`occurred_at`"), "{}", stderr(&o));
    assert!(!w.reports().join("r").exists(), "a failed run publishes nothing");
}

#[test]
fn an_optional_file_that_is_empty_or_broken_exits_3() {
    let w = Workdir::new();
    w.minimal().write("staff.csv", "");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("staff.csv"));
    w.write("staff.csv", "\u{feff}worker_id,name\nW1,Ann\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("`role`"), "{}", stderr(&o));
}

#[test]
fn utf16_is_refused_with_advice() {
    let w = Workdir::new();
    w.minimal();
    let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("case_id\n".encode_utf16().flat_map(|u| u.to_le_bytes())).collect();
    std::fs::write(w.input().join("cases.csv"), utf16).unwrap();
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("UTF-16") && stderr(&o).contains("CSV UTF-8"), "{}", stderr(&o));
}

#[test]
fn a_folder_in_place_of_a_file_is_unusable_and_others_are_ignored() {
    let w = Workdir::new();
    w.minimal();
    std::fs::create_dir(w.input().join("staff.csv")).unwrap();
    assert_eq!(w.audit("r", &[]).status.code(), Some(3));
    std::fs::remove_dir(w.input().join("staff.csv")).unwrap();
    w.write("notes.txt", "hello");
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    let manifest: serde_json::Value = serde_json::from_str(&w.read("r/manifest.json")).unwrap();
    assert_eq!(manifest["ignored_files"], serde_json::json!(["notes.txt"]));
    // A configuration that is not a file is not read, and is listed.
    std::fs::create_dir(w.input().join("yjaudit.toml")).unwrap();
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    let manifest: serde_json::Value = serde_json::from_str(&w.read("r/manifest.json")).unwrap();
    assert_eq!(manifest["ignored_files"], serde_json::json!(["notes.txt", "yjaudit.toml"]));
}

#[test]
fn bad_rows_are_rejected_with_file_line_column_and_reason_and_counts_reconcile() {
    let w = Workdir::new();
    w.write(
        "cases.csv",
        "case_id,initials,team,case_type,opened_on,closed_on,extra\n\
         C1,AB,North,yro,2024-01-02,,x\n\
         C2,CD,North,prison,2024-01-02,,x\n\
         C1,EF,North,yro,2024-01-02,,x\n\
         C3,GH,North,yro,02/01/2024,,x\n\
         C4,IJ,North,yro,2024-01-02,2023-12-01,x\n",
    );
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at,recorded_at,rosh\n\
         E1,C1,W1,cmm.compliance,2024-05-01T10:00,2024-05-02T10:00,\n\
         E2,C2,W1,contact,2024-05-01T10:00,,\n\
         E3,C9,W1,contact,2024-05-01T10:00,,\n\
         E1,C1,W1,contact,2024-05-01T10:00,,\n\
         E4,C1,W1,CMM.Risk_Review,2024-05-01T10:00Z,,\n\
         E5,C1,W1,assessment,2024-05-01,,Very High\n\
         E6,C1,W1,contact,2024-05-01,2024-04-30T09:00,\n\
         E7,C1,W1,contact,1989-12-31,,\n\
         E8,C1,W1,contact\n\
         \n\
         E9,C1,W1,=HYPERLINK(\"x\"),2024-05-01,,\n",
    );
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rejected = w.read("r/rejected.csv");
    let expected = [
        ("cases.csv", "3", "case_type", "prison", "not in vocabulary"),
        ("cases.csv", "4", "case_id", "C1", "duplicate key"),
        ("cases.csv", "5", "opened_on", "02/01/2024", "invalid date"),
        ("events.csv", "3", "case_id", "C2", "case rejected at line 3"),
        ("events.csv", "4", "case_id", "C9", "unknown case"),
        ("events.csv", "5", "event_id", "E1", "duplicate key"),
        ("events.csv", "6", "occurred_at", "2024-05-01T10:00Z", "not local time"),
        ("events.csv", "7", "rosh", "Very High", "not in vocabulary"),
        ("events.csv", "9", "occurred_at", "1989-12-31", "date out of range"),
        ("events.csv", "10", "", "", "4 fields, header has 7"),
        ("events.csv", "12", "event_type", "'=HYPERLINK(\"x\")", "not in vocabulary"),
    ];
    let mut reader = csv::Reader::from_reader(rejected.as_bytes());
    assert_eq!(reader.headers().unwrap(), vec!["file", "line", "column", "value", "reason"]);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), expected.len(), "{rejected}");
    for (row, (file, line, column, value, reason)) in rows.iter().zip(expected) {
        assert_eq!((&row[0], &row[1], &row[2], &row[3]), (file, line, column, value), "{rejected}");
        assert!(row[4].starts_with(reason), "{} should start with {reason}", &row[4]);
    }
    let manifest: serde_json::Value = serde_json::from_str(&w.read("r/manifest.json")).unwrap();
    for (file, read, rejected) in [("cases.csv", 5, 3), ("events.csv", 10, 8)] {
        let m = &manifest["inputs"][file];
        assert_eq!(m["rows_read"], read, "{file}");
        assert_eq!(m["rows_rejected"], rejected, "{file}");
        assert_eq!(m["rows_used"], read - rejected, "{file}");
        let by_reason: u64 = m["rejected_by_reason"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        assert_eq!(by_reason, rejected as u64, "{file}");
    }
    assert_eq!(manifest["inputs"]["cases.csv"]["ignored_columns"], serde_json::json!(["extra"]));
    assert_eq!(manifest["inputs"]["cases.csv"]["warnings"]["closed before opened"], 1);
    assert_eq!(manifest["inputs"]["events.csv"]["warnings"]["recorded before it occurred"], 1);
    assert_eq!(manifest["inputs"]["events.csv"]["rejected_by_reason"]["case rejected at line 3"], 1);
}

#[test]
fn check_reads_and_reports_only() {
    let w = Workdir::new();
    w.minimal();
    let input = w.input();
    let o = w.run(&["check", "--input", input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("events.csv: 1 rows read, 1 used, 0 rejected"));
    assert!(!w.reports().exists() && !w.dir.path().join("reports").exists());
    w.write("events.csv", "nothing,useful\n");
    assert_eq!(w.run(&["check", "--input", input.to_str().unwrap()]).status.code(), Some(3));
}

#[test]
fn usage_and_rule_file_errors_exit_2() {
    let w = Workdir::new();
    w.minimal();
    assert_eq!(w.run(&["run", "--as-of", "23/11/2026"]).status.code(), Some(2));
    assert_eq!(w.run(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(w.run(&["rules", "explain", "XYZ999"]).status.code(), Some(2));
    let o = w.run(&["rules", "explain", "CMX001"]);
    assert!(stderr(&o).contains("did you mean CMM001?"), "{}", stderr(&o));

    let rules = w.dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("X.toml"), "code = \"REC001\"\ntitle = \"t\"\ncitation = \"c\"\npolicy = \"p\"\nquote = \"q\"\nexplanation = \"e\"\n[recorded]\nevents = { types = [\"supervison\"] }\nwithin = \"48 hours\"\n").unwrap();
    let o = w.audit("r", &["--rules", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("X.toml:8:") && stderr(&o).contains("did you mean `supervision`?"), "{}", stderr(&o));

    // Rules without the published bank holidays would silently treat one-off
    // holidays as working days: refused, as is a list with only its header.
    let bundled = w.dir.path().join("bundled");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"), &bundled);
    let holidays = bundled.join("calendar/england-and-wales-bank-holidays.csv");
    for content in [None, Some("date,title\n")] {
        match content {
            None => std::fs::remove_file(&holidays).unwrap(),
            Some(text) => std::fs::write(&holidays, text).unwrap(),
        }
        let o = w.audit("r", &["--rules", bundled.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("holds no bank holidays"), "{}", stderr(&o));
    }
}

#[test]
fn output_that_cannot_be_written_exits_4() {
    let w = Workdir::new();
    w.minimal();
    std::fs::write(w.dir.path().join("blocker"), "a file where a folder should be").unwrap();
    let out = w.dir.path().join("blocker/r");
    let input = w.input();
    let o = w.run(&["run", "--input", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
}

#[test]
fn an_output_folder_that_is_not_a_report_is_never_replaced() {
    let w = Workdir::new();
    w.minimal();
    let input = w.input();
    let cases = std::fs::read_to_string(input.join("cases.csv")).unwrap();
    let refused = |out: &Path, what: &str| {
        let o = w.run(&["run", "--input", input.to_str().unwrap(), "--as-of", "2024-06-10", "--out", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(4), "{what}: {}", stderr(&o));
        assert!(stderr(&o).contains("is not a yjaudit report"), "{what}: {}", stderr(&o));
    };
    // The extract's own folder, and a folder above it.
    refused(&input, "the input folder");
    refused(w.dir.path(), "the folder holding the input");
    assert_eq!(std::fs::read_to_string(input.join("cases.csv")).unwrap(), cases);
    // A user's file or folder of other things.
    let notes = w.dir.path().join("notes.txt");
    std::fs::write(&notes, "precious").unwrap();
    refused(&notes, "a file");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "precious");
    let mine = w.reports().join("mine");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::write(mine.join("other.txt"), "keep").unwrap();
    refused(&mine, "a folder of other files");
    assert_eq!(std::fs::read_to_string(mine.join("other.txt")).unwrap(), "keep");
    let leftovers: Vec<_> = std::fs::read_dir(w.reports())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // An empty folder, and a report an earlier run wrote, are replaced.
    std::fs::create_dir_all(w.reports().join("empty")).unwrap();
    assert_eq!(w.audit("empty", &[]).status.code(), Some(0));
    assert_eq!(w.audit("empty", &[]).status.code(), Some(0));
    assert!(w.reports().join("empty/findings.csv").is_file());
}

#[test]
fn folder_names_are_printed_with_control_characters_escaped() {
    let w = Workdir::new();
    let hostile = w.dir.path().join("in\x1b[31mred");
    let o = w.run(&["run", "--input", hostile.to_str().unwrap(), "--as-of", "2024-06-10"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!o.stderr.contains(&0x1b) && stderr(&o).contains("in\\x1b[31mred"), "{}", stderr(&o));
    std::fs::create_dir(&hostile).unwrap();
    std::fs::write(hostile.join("cases.csv"), "case_id,case_type,opened_on\nC1,yro,2024-01-02\n").unwrap();
    std::fs::write(hostile.join("events.csv"), "event_id,case_id,event_type,occurred_at\n").unwrap();
    let o = w.run(&["check", "--input", hostile.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!o.stdout.contains(&0x1b) && String::from_utf8_lossy(&o.stdout).contains("in\\x1b[31mred"));
    let out = w.reports().join("out\x07");
    let o = w.run(&["run", "--input", hostile.to_str().unwrap(), "--as-of", "2024-06-10", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!o.stderr.contains(&0x07) && stderr(&o).contains("out\\x07"), "{}", stderr(&o));
}

#[test]
#[cfg(unix)]
fn an_interrupted_run_removes_its_temporary_folder_and_publishes_nothing() {
    let w = Workdir::new();
    let input = w.input();
    // Large enough that writing the outputs takes a moment in a debug build.
    let generated = w.run(&["generate", "--cases", "6000", "--seed", "3", "--as-of", "2026-11-23", "--out", input.to_str().unwrap()]);
    assert_eq!(generated.status.code(), Some(0), "{}", stderr(&generated));
    let out = w.reports().join("r");
    let args = ["run", "--input", input.to_str().unwrap(), "--as-of", "2026-11-23", "--out", out.to_str().unwrap()];
    assert_eq!(w.run(&args).status.code(), Some(0));
    let before = w.read("r/manifest.json");
    for signal in ["TERM", "INT"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_yjaudit")).args(args).stderr(std::process::Stdio::piped()).spawn().unwrap();
        let writing = || std::fs::read_dir(w.reports()).unwrap().flatten().any(|e| e.file_name().to_string_lossy().starts_with(".r.tmp-"));
        let started = std::time::Instant::now();
        while !writing() {
            assert!(started.elapsed().as_secs() < 120 && child.try_wait().unwrap().is_none(), "the run never started writing");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let kill = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
        assert!(kill.success());
        let o = child.wait_with_output().unwrap();
        let code = if signal == "TERM" { 128 + 15 } else { 128 + 2 };
        assert_eq!(o.status.code(), Some(code), "{}", stderr(&o));
        assert!(stderr(&o).contains("interrupted"), "{}", stderr(&o));
        let mut left: Vec<String> =
            std::fs::read_dir(w.reports()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        left.sort();
        assert_eq!(left, vec![".yjaudit.lock", "latest", "r"], "after SIG{signal}");
        assert_eq!(w.read("r/manifest.json"), before);
    }
}

#[test]
fn report_lists_keep_the_oldest_links_resolve_and_team_pages_count_their_own_share() {
    let w = Workdir::new();
    // 2,100 cases in 700 teams (more than get pages of their own), held by
    // three workers across teams; case i's CMM at 00:00 + i hours, never
    // recorded: 2,100 overdue REC001 items, more than a list shows. Then a
    // team literally called "(no team)" beside a case with none.
    let mut cases = String::from("case_id,team,case_type,opened_on\n");
    let mut allocations = String::from("case_id,worker_id,role,from\n");
    let mut events = String::from("event_id,case_id,worker_id,event_type,occurred_at\n");
    let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap().and_hms_opt(0, 0, 0).unwrap();
    for i in 0..2100 {
        cases += &format!("C{i:04},T{:04},yro,2023-12-01\n", i % 700);
        allocations += &format!("C{i:04},W{},primary,2023-12-01\n", i % 3);
        events +=
            &format!("E{i:04},C{i:04},W{},cmm.compliance,{}\n", i % 3, (start + chrono::TimeDelta::hours(i)).format("%Y-%m-%dT%H:%M"));
    }
    cases += "C9998,(no team),yro,2023-12-01\nC9999,,yro,2023-12-01\n";
    events += "E9998,C9998,W0,cmm.compliance,2024-03-01T10:00\nE9999,C9999,W0,cmm.compliance,2024-03-01T10:00\n";
    w.write("cases.csv", &cases).write("allocations.csv", &allocations).write("events.csv", &events);
    w.write("yjaudit.toml", "select = [\"REC001\"]\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let report = w.reports().join("r");
    let html = w.read("r/index.html");
    // The list is cut at the 2,000 oldest, not at the first teams by name.
    assert!(html.contains("the oldest 2000 of 2102"), "the caption says how it was cut");
    assert!(html.contains(">C0667<") && !html.contains(">C2050<"), "C0667 is among the oldest, C2050 among the newest");
    // Both teams have pages of their own, and no link leads nowhere.
    let teams: Vec<String> =
        std::fs::read_dir(report.join("teams")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(teams.iter().any(|t| t.starts_with("none-")) && teams.iter().any(|t| t.starts_with("no-team-")), "{teams:?}");
    assert_eq!(teams.len(), 500, "pages for the worst 500 teams");
    for page in &report_pages(&report) {
        let text = std::fs::read_to_string(page).unwrap();
        for link in text.split("href=\"").skip(1).map(|rest| &rest[..rest.find('"').unwrap()]) {
            let target = page.parent().unwrap().join(link);
            assert!(target.is_file(), "{} links to {link}, which does not exist", page.display());
        }
    }
    // A team page's worker rows count that team's obligations only: T0000
    // holds C0000 (W0), C0700 (W1) and C1400 (W2), one each.
    let t0000 = teams.iter().find(|t| t.starts_with("t0000-")).unwrap();
    let page = std::fs::read_to_string(report.join("teams").join(t0000)).unwrap();
    for worker in ["W0", "W1", "W2"] {
        assert!(page.contains(&format!(">{worker}</a></th><td class=\"n\">1</td>")), "{worker}'s row on {t0000}: {page}");
    }
}

#[test]
fn month_by_month_charts_end_at_the_as_of_month() {
    let w = Workdir::new();
    w.write("cases.csv", "case_id,team,case_type,opened_on\nC1,North,yro,2024-01-02\n");
    // Recorded on time in April and May, and one dated after the as-of date
    // (the extract is taken as it is): its month would always show 100%.
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at,recorded_at\n\
         E1,C1,W1,cmm.risk_review,2024-04-10T10:00,2024-04-11T10:00\n\
         E2,C1,W1,cmm.risk_review,2024-05-10T10:00,2024-05-11T10:00\n\
         E3,C1,W1,cmm.risk_review,2024-07-20T10:00,2024-07-20T11:00\n",
    );
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    let html = w.read("r/index.html");
    let chart =
        html.split("REC001 compliance by month: ").nth(1).map(|rest| &rest[..rest.find('<').unwrap()]).unwrap_or_else(|| panic!("{html}"));
    assert_eq!(chart, "2024-04 100.0%, 2024-05 100.0%");
}

#[test]
fn a_second_run_on_the_same_reports_folder_exits_5() {
    let w = Workdir::new();
    w.minimal();
    std::fs::create_dir_all(w.reports()).unwrap();
    let lock = yjaudit::output::publish::Lock::acquire(&w.reports()).unwrap();
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    drop(lock);
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
}

#[test]
fn a_run_killed_before_publishing_leaves_the_previous_report_intact() {
    let w = Workdir::new();
    w.minimal();
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    let before = w.read("r/findings.csv");
    w.write("events.csv", "event_id,case_id,worker_id,event_type,occurred_at\nE2,C1,W1,contact,2024-05-01\n");
    let input = w.input();
    let out = w.reports().join("r");
    let o = Command::new(env!("CARGO_BIN_EXE_yjaudit"))
        .args(["run", "--input", input.to_str().unwrap(), "--as-of", "2024-06-10", "--out", out.to_str().unwrap()])
        .env("YJAUDIT_TEST_FAIL_BEFORE_PUBLISH", "1")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(w.read("r/findings.csv"), before);
    // The next run clears the dead run's temporary folder and publishes.
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    let leftovers: Vec<String> =
        std::fs::read_dir(w.reports()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let mut leftovers = leftovers;
    leftovers.sort();
    assert_eq!(leftovers, vec![".yjaudit.lock", "latest", "r"]);
    assert_ne!(w.read("r/findings.csv"), before);
}

#[cfg(unix)]
#[test]
fn written_files_are_not_world_readable() {
    use std::os::unix::fs::PermissionsExt;
    let w = Workdir::new();
    w.minimal();
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    for path in [w.reports(), w.reports().join("r"), w.reports().join("r/findings.csv"), w.reports().join("r/index.html")] {
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is {:o}", path.display(), mode);
    }
}

#[test]
fn input_text_is_escaped_in_the_report() {
    let w = Workdir::new();
    w.write(
        "cases.csv",
        "case_id,initials,team,case_type,opened_on\n<script>alert(1)</script>,<b>X</b>,<img src=x onerror=alert(2)>,yro,2024-01-02\nC2,\u{202e}BA,Te\x1b[31mam,yro,2024-01-02\n",
    );
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at\nE1,<script>alert(1)</script>,<i>W</i>,cmm.compliance,2024-05-01T10:00\nE2,C2,W2,cmm.compliance,2024-05-01T10:00\n",
    );
    assert_eq!(w.audit("r", &[]).status.code(), Some(0));
    let html = w.read("r/index.html");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("Te\\x1b[31mam") && html.contains("U+202EBA"), "{html}");
    // Every page: the summary and each team, worker and rule page.
    let pages = report_pages(&w.reports().join("r"));
    assert!(pages.len() >= 4, "a page per assessed rule, team and worker: {pages:?}");
    for page in pages {
        let html = std::fs::read_to_string(&page).unwrap();
        assert!(
            !html.contains("<script>alert") && !html.contains("<img") && !html.contains("<b>X") && !html.contains("<i>W"),
            "{}",
            page.display()
        );
        // Text that would reorder the page or drive a terminal is shown as codes.
        assert!(!html.contains('\u{202e}') && !html.contains('\x1b'), "{}", page.display());
        assert!(html.contains("Content-Security-Policy") && html.contains("script-src 'sha256-"), "{}", page.display());
        assert!(!html.contains("http://") && !html.contains("https://"), "{} loads nothing from the network", page.display());
        assert_eq!(html.matches("<script>").count(), 1, "one inline script, allowed by its hash");
    }
}

#[test]
fn rules_list_and_explain_read_like_a_manual() {
    let w = Workdir::new();
    let o = w.run(&["rules", "list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let rules: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<&str> = rules.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    for code in ["REC001", "REC003", "REC004", "CMM001", "CMM002", "CMM003", "SUP001", "TRF001"] {
        assert!(codes.contains(&code), "{code}");
    }
    assert!(rules.as_array().unwrap().iter().all(|r| !r["citation"].as_str().unwrap().is_empty()));
    let o = w.run(&["rules", "explain", "cmm001"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("CMM001 — Compliance CMM within 10 working days"), "{text}");
    assert!(text.contains("NC 1.3") && text.contains("within 10 working days from the date of the failure"));
    assert!(text.contains("bank holidays"));
    assert!(text.contains("within = 10 working days"));
}

#[test]
fn a_service_configuration_next_to_the_data_selects_rules_and_sets_parameters() {
    let w = Workdir::new();
    w.write("cases.csv", "case_id,initials,team,case_type,opened_on\nC1,AB,North,yro,2024-01-02\n");
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at,recorded_at,lor\n\
         F1,C1,W1,compliance.unacceptable_failure,2024-12-23,,\n\
         A1,C1,W1,assessment,2024-05-01,,very_high\n",
    );
    w.write(
        "yjaudit.toml",
        "service = \"Test YJS\"\nlook_ahead_days = 3\nignore = [\"REC\", \"CMM002\"]\nclosure_days = [{ date = \"2024-12-27\", reason = \"Council closure\" }]\n\n[rules.SUP005]\nevery = \"14 days\"\n",
    );
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let findings = w.read("r/findings.csv");
    assert!(!findings.contains("\nREC"), "ignored rules give no rows");
    // 23 Dec 2024 + 10 working days, skipping 25, 26 (holidays), 27 (closure), 1 Jan.
    assert!(findings.contains("CMM001,C1,,North,F1,2024-12-23,2025-01-10,,,pending,"), "{findings}");
    assert!(findings.contains("SUP005,C1,,North,A1,2024-05-01,2024-05-15,,,overdue,26"), "{findings}");
    let manifest: serde_json::Value = serde_json::from_str(&w.read("r/manifest.json")).unwrap();
    assert_eq!(manifest["service"], "Test YJS");
    assert_eq!(manifest["look_ahead_days"], 3);
    assert_eq!(manifest["config"]["sha256"].as_str().unwrap().len(), 64);
    let config = w.input().join("yjaudit.toml");
    let o = w.run(&["rules", "list", "--config", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.lines().any(|l| l.starts_with("REC001") && l.contains(" no ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("SUP005") && l.contains("2 weeks *")), "{text}");
    let o = w.run(&["rules", "list", "--format", "json", "--config", config.to_str().unwrap()]);
    let rules: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sup005 = rules.as_array().unwrap().iter().find(|r| r["code"] == "SUP005").unwrap();
    assert_eq!(sup005["parameters"]["every"], "2 weeks");
    assert!(sup005["local_choices"]["every"].as_str().unwrap().contains("catalogue"));
}

#[test]
fn configuration_mistakes_are_located_with_the_nearest_name() {
    let w = Workdir::new();
    w.minimal();
    for (content, expected) in [
        ("lookahead_days = 3\n", "yjaudit.toml:1:1: unknown field `lookahead_days`"),
        ("select = [\"CMX001\"]\n", "yjaudit.toml:1:11: `CMX001` matches no rule code; did you mean CMM001?"),
        ("[rules.SUP005]\nevry = \"2 weeks\"\n", "yjaudit.toml:2:1: SUP005 has no parameter `evry`; did you mean `every`?"),
        ("[rules.SUP005]\nevery = \"2 fortnights\"\n", "yjaudit.toml:2:9: unknown unit"),
        ("[rules.CMM0001]\nwithin = \"2 days\"\n", "did you mean CMM001?"),
    ] {
        w.write("yjaudit.toml", content);
        let o = w.audit("r", &[]);
        assert_eq!(o.status.code(), Some(2), "{content}");
        assert!(stderr(&o).contains(expected), "{content}: {}", stderr(&o));
    }
}

#[test]
fn each_obligation_is_judged_by_the_policy_version_in_force_when_its_clock_started() {
    let w = Workdir::new();
    w.write("cases.csv", "case_id,initials,team,case_type,opened_on\nC1,AB,North,yro,2023-01-02\n");
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at\nF1,C1,W1,compliance.unacceptable_failure,2023-11-01\nF2,C1,W1,compliance.unacceptable_failure,2024-05-01\n",
    );
    let rules = w.dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let current = std::fs::read_to_string(bundled.join("CMM001.toml")).unwrap();
    let old = current
        .replace("code = \"CMM001\"", "code = \"CMM001\"\nversion = \"2021 policy\"\nin_force_until = \"2023-12-31\"")
        .replace("10 working days\"", "5 working days\"");
    let new = current.replace("code = \"CMM001\"", "code = \"CMM001\"\nversion = \"2024 policy\"\nin_force_from = \"2024-01-01\"");
    std::fs::write(rules.join("CMM001-2021.toml"), old).unwrap();
    std::fs::write(rules.join("CMM001.toml"), new).unwrap();
    copy_dir(&bundled.join("calendar"), &rules.join("calendar"));
    let o = w.audit("r", &["--rules", rules.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let findings = w.read("r/findings.csv");
    // 1 Nov 2023 + 5 working days (old policy); 1 May 2024 + 10 (new, 6 May a bank holiday).
    assert!(findings.contains("CMM001,C1,,North,F1,2023-11-01,2023-11-08,,,overdue"), "{findings}");
    assert!(findings.contains("CMM001,C1,,North,F2,2024-05-01,2024-05-16,,,overdue"), "{findings}");
    assert_eq!(findings.lines().filter(|l| l.starts_with("CMM001")).count(), 2);
    let manifest = w.read("r/manifest.json");
    assert!(manifest.contains("\"version\": \"2021 policy\"") && manifest.contains("\"version\": \"2024 policy\""));
    assert!(w.read("r/index.html").contains("CMM001 (2021 policy)"));
    let o = w.run(&["rules", "explain", "CMM001", "--rules", rules.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Version: 2021 policy, in force the start to 2023-12-31"), "{text}");
    // Overlapping versions are refused.
    let overlapping = std::fs::read_to_string(rules.join("CMM001.toml")).unwrap().replace("2024-01-01", "2023-12-01");
    std::fs::write(rules.join("CMM001.toml"), overlapping).unwrap();
    assert_eq!(w.audit("r", &["--rules", rules.to_str().unwrap()]).status.code(), Some(2));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn accepted_exceptions_keep_their_status_but_leave_the_action_list() {
    let w = Workdir::new();
    w.write("cases.csv", "case_id,initials,team,case_type,opened_on\nC1,AB,North,yro,2024-01-02\nC2,CD,North,yro,2024-01-02\n");
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at\nT1,C1,W1,caretaking.start,2024-01-10\nT2,C2,W1,caretaking.start,2024-01-10\n",
    );
    w.write(
        "exceptions.csv",
        "rule,case_id,worker_id,trigger_event_id,reason,accepted_by,accepted_on,until\n\
         TRF001,C1,,,Placement breakdown: transfer refused by the home YJS,A. Manager,2024-04-12,2024-12-31\n\
         TRF001,C2,,,Awaiting court,A. Manager,2024-04-12,2024-05-31\n\
         TRF002,C1,,,Accepted after the as-of date,A. Manager,2024-07-01,\n",
    );
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let findings = w.read("r/findings.csv");
    assert!(findings.starts_with("rule,case_id,worker_id,team,trigger_event_id,trigger_at,due_at,done_event_id,done_at,status,overdue_days,finding_id,accepted,accepted_note,trigger_source,done_source\n"));
    let line =
        |prefix: &str| findings.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("{prefix}: {findings}")).to_string();
    let c1 = line("TRF001,C1,,North,T1,2024-01-10,2024-04-10,,,overdue,61,");
    assert!(
        c1.ends_with(",yes,accepted by A. Manager on 2024-04-12 until 2024-12-31: Placement breakdown: transfer refused by the home YJS,events.csv:2,"),
        "{c1}"
    );
    let c2 = line("TRF001,C2,,North,T2,2024-01-10,2024-04-10,,,overdue,61,");
    assert!(c2.ends_with(",,,events.csv:3,"), "an expired acceptance stops applying: {c2}");
    let html = w.read("r/index.html");
    let action = &html[html.find("id=\"action\"").unwrap()..html.find("id=\"late\"").unwrap()];
    let rows: Vec<&str> = action.split("<tr>").filter(|r| r.contains("TRF001")).collect();
    assert!(!rows.iter().any(|r| r.contains(">C1<")) && rows.iter().any(|r| r.contains(">C2<")), "{action}");
    assert!(html.contains("Accepted exceptions") && html.contains("Expired acceptances") && html.contains("Awaiting court"));
    let manifest: serde_json::Value = serde_json::from_str(&w.read("r/manifest.json")).unwrap();
    assert_eq!(manifest["findings"]["overdue"], 4, "accepted findings still count (TRF001 and TRF002 for each case)");
    assert_eq!(manifest["exceptions"]["findings_accepted"], 1);
    assert_eq!(manifest["exceptions"]["expired"][0]["case_id"], "C2");
    assert_eq!(manifest["exceptions"]["expired"].as_array().unwrap().len(), 1, "one accepted later is not expired, only not yet known");
    assert!(!findings.contains("Accepted after the as-of date"), "an audit as of a date knows only what was accepted by then");

    w.write("exceptions.csv", "rule,case_id,reason,accepted_by\nTRF01,C1,x,y\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("exceptions.csv:2: no rule has the code `TRF01`; did you mean TRF001?"), "{}", stderr(&o));
}

#[test]
fn a_second_night_marks_new_overdue_items_lists_resolved_ones_and_can_fail_for_cron() {
    let w = Workdir::new();
    w.write("cases.csv", "case_id,initials,team,case_type,opened_on\nC1,AB,North,yro,2024-01-02\n");
    let night_one = "event_id,case_id,worker_id,event_type,occurred_at\nF1,C1,W1,compliance.unacceptable_failure,2024-05-01\n";
    w.write("events.csv", night_one);
    let input = w.input();
    let night = |date: &str, extra: &[&str]| {
        let out = w.reports().join(date);
        let mut args = vec!["run", "--input", input.to_str().unwrap(), "--as-of", date, "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        w.run(&args)
    };
    let o = night("2024-06-10", &["--fail-on-new-overdue"]);
    assert_eq!(o.status.code(), Some(0), "the first run marks nothing new: {}", stderr(&o));
    let header = "change,finding_id,rule,case_id,worker_id,team,due_at\n";
    assert_eq!(w.read("2024-06-10/changes.csv"), header, "no previous run, no changes");
    // The next night the extract shows F1's CMM (recorded late in the
    // system) and a later failure, F2, that is overdue: new.
    w.write(
        "events.csv",
        "event_id,case_id,worker_id,event_type,occurred_at\nF1,C1,W1,compliance.unacceptable_failure,2024-05-01\nM1,C1,W1,cmm.compliance,2024-05-15\nF2,C1,W1,compliance.unacceptable_behaviour,2024-05-20\n",
    );
    let o = night("2024-06-11", &["--fail-on-new-overdue"]);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("became overdue since the previous run"));
    let findings = w.read("2024-06-11/findings.csv");
    let f2 = findings.lines().find(|l| l.starts_with("CMM001,C1,,North,F2,")).unwrap();
    assert!(f2.contains(",overdue,"), "{f2}");
    // findings.csv depends on the inputs alone; what changed is in changes.csv.
    // F2's CMM, and M1's own obligations (its report, its recording, its
    // minutes: none is on the file) are new; F1's CMM was done.
    let id = |text: &str, prefix: &str| text.lines().find(|l| l.starts_with(prefix)).unwrap().split(',').nth(11).unwrap().to_string();
    let mut expected = header.to_string();
    for (rule, trigger, due) in
        [("CMM001", "F2", "2024-06-04"), ("CMM002", "M1", "2024-05-14"), ("REC001", "M1", "2024-05-17"), ("REC002", "M1", "2024-05-22")]
    {
        expected += &format!("new_overdue,{},{rule},C1,,North,{due}\n", id(&findings, &format!("{rule},C1,,North,{trigger},")));
    }
    expected += &format!("resolved,{},CMM001,C1,,North,2024-05-16\n", id(&w.read("2024-06-10/findings.csv"), "CMM001,C1,,North,F1,"));
    assert_eq!(w.read("2024-06-11/changes.csv"), expected);
    let elsewhere = w.dir.path().join("elsewhere/r");
    let o = w.run(&["run", "--input", input.to_str().unwrap(), "--as-of", "2024-06-11", "--out", elsewhere.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(elsewhere.join("findings.csv")).unwrap(), findings, "the same with no run before it");
    let html = w.read("2024-06-11/index.html");
    assert!(html.contains("(new)") && html.contains("Resolved since the last run"));
    let resolved = &html[html.find("id=\"resolved\"").unwrap()..];
    assert!(resolved.contains("CMM001") && resolved.contains("2024-05-16"), "F1 was due 16 May and is now met");
    // Ids are stable across runs: F1's row keeps its id though its status changed.
    let id = |text: &str, prefix: &str| text.lines().find(|l| l.starts_with(prefix)).unwrap().split(',').nth(11).unwrap().to_string();
    assert_eq!(id(&w.read("2024-06-10/findings.csv"), "CMM001,C1,,North,F1,"), id(&findings, "CMM001,C1,,North,F1,"));
    // Retention keeps the two newest and never the latest.
    night("2024-06-12", &[]);
    let html = w.read("2024-06-12/index.html");
    assert!(html.contains("overdue") && !html.contains("(new)"), "overdue on both nights is not new");
    let o = night("2024-06-13", &["--keep", "2"]);
    assert_eq!(o.status.code(), Some(0));
    let mut left: Vec<String> =
        std::fs::read_dir(w.reports()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, vec![".yjaudit.lock", "2024-06-12", "2024-06-13", "latest"]);
}

#[test]
fn pseudonymised_outputs_hide_case_references_and_initials() {
    let w = Workdir::new();
    // A warning (closed before opened) and an exceptions register, expired
    // and in force, both quote the case and free text about the child.
    w.write("cases.csv", "case_id,initials,team,case_type,opened_on,closed_on\nSECRET-CASE-1,JB,North,yro,2024-01-02,2023-12-01\n");
    w.write("events.csv", "event_id,case_id,worker_id,event_type,occurred_at\nF1,SECRET-CASE-1,W1,compliance.unacceptable_failure,2024-05-01\nX1,SECRET-CASE-1,W1,nonsense,2024-05-01\nF2,SECRET-CASE-1,W1,compliance.unacceptable_failure,2024-05-02\n");
    w.write(
        "exceptions.csv",
        "rule,case_id,worker_id,trigger_event_id,reason,accepted_by,accepted_on,until\n\
         CMM001,SECRET-CASE-1,,F1,Jamie in hospital,A. Manager,2024-05-03,2024-12-31\n\
         CMM002,SECRET-CASE-1,,,Jamie moved,A. Manager,2024-01-03,2024-02-01\n",
    );
    let input = w.input();
    // A run without pseudonyms just before, in the same reports folder: its
    // rows must not reach the shared run's changes or report.
    assert_eq!(w.audit("internal", &[]).status.code(), Some(0));
    let out = w.reports().join("shared");
    let args = ["run", "--input", input.to_str().unwrap(), "--as-of", "2024-06-10", "--out", out.to_str().unwrap(), "--pseudonymise"];
    let o = Command::new(env!("CARGO_BIN_EXE_yjaudit")).args(args).env_remove("YJAUDIT_PSEUDONYM_KEY").output().unwrap();
    assert_eq!(o.status.code(), Some(2), "no key, no pseudonyms");
    let o = Command::new(env!("CARGO_BIN_EXE_yjaudit")).args(args).env("YJAUDIT_PSEUDONYM_KEY", "a-long-service-secret").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let files = report_files(&w.reports().join("shared"));
    assert!(files.len() > 8, "{files:?}");
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for secret in ["SECRET-CASE-1", ">JB<", "Jamie"] {
            assert!(!text.contains(secret), "{} leaks {secret}: {text}", file.display());
        }
    }
    assert!(w.read("shared/findings.csv").contains("CMM001,P-"));
    let manifest: serde_json::Value = serde_json::from_str(&w.read("shared/manifest.json")).unwrap();
    assert_eq!(manifest["exceptions"]["expired"][0]["reason"], "(withheld)");
    assert_eq!(manifest["warning_lines"][0]["detail"], "(withheld)");
    assert!(w.read("shared/findings.csv").contains("accepted by A. Manager on 2024-05-03 until 2024-12-31: (withheld)"));
}

#[test]
fn excel_csvs_have_a_bom_and_spreadsheet_date_times() {
    let w = Workdir::new();
    w.minimal();
    assert_eq!(w.audit("r", &["--excel"]).status.code(), Some(0));
    let bytes = std::fs::read(w.reports().join("r/findings.csv")).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBFrule,case_id,"));
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("REC001,C1,,North,E1,2024-05-01 10:00,2024-05-03 10:00,E1,2024-05-02 10:00,met,"), "{text}");
    assert!(std::fs::read(w.reports().join("r/rejected.csv")).unwrap().starts_with(b"\xEF\xBB\xBF"));
    // The JSON keeps the contract's form.
    assert!(w.read("r/findings.json").contains("\"trigger_at\":\"2024-05-01T10:00\""));
}

#[test]
fn findings_json_can_be_left_out_and_the_manifest_says_so() {
    let w = Workdir::new();
    w.minimal();
    assert_eq!(w.audit("full", &[]).status.code(), Some(0));
    assert_eq!(w.audit("csv-only", &["--no-findings-json"]).status.code(), Some(0));
    assert!(!w.reports().join("csv-only/findings.json").exists());
    assert_eq!(w.read("csv-only/findings.csv"), w.read("full/findings.csv"));
    let manifest = |run: &str| -> serde_json::Value { serde_json::from_str(&w.read(&format!("{run}/manifest.json"))).unwrap() };
    assert_eq!(manifest("csv-only")["outputs_left_out"], serde_json::json!(["findings.json"]));
    assert_eq!(manifest("full")["outputs_left_out"], serde_json::json!([]));
    // The report links only to what is there.
    assert!(w.read("full/index.html").contains("href=\"findings.json\""));
    assert!(!w.read("csv-only/index.html").contains("findings.json"));
}

#[test]
fn a_draft_profile_maps_a_known_layout_and_marks_what_to_check() {
    let w = Workdir::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-data/childview");
    let o = w.run(&["profile", "draft", "--input", sample.to_str().unwrap(), "--name", "trial"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let draft = String::from_utf8(o.stdout).unwrap();
    for expected in [
        "name = \"trial\"",
        "file = \"ChildView_Contacts.csv\"",
        "event_id = \"Contact ID\"",
        "occurred_at = \"Contact Date\"",
        "label = \"CMM - Compliance\"",
        "%d/%m/%Y %H:%M",
    ] {
        assert!(draft.contains(expected), "{expected} in:\n{draft}");
    }
    assert!(draft.contains("TODO"), "guesses are marked for review");
    // Unfinished, it does not load: nothing is taken on trust.
    let path = w.dir.path().join("trial.toml");
    std::fs::write(&path, &draft).unwrap();
    assert!(yjaudit::source::profile::Profile::load(&path).is_err());
}

#[test]
fn two_allocations_on_one_day_are_two_rows_with_their_own_ids_and_sources() {
    // ALC004 judges each allocation: the primary's and the paired worker's
    // are two obligations. The contract's columns name the primary on both;
    // finding_id and trigger_source tell them apart.
    let w = Workdir::new();
    w.minimal();
    w.write("staff.csv", "worker_id,team,role\nW1,North,case_manager\nW2,North,case_manager\n");
    w.write("allocations.csv", "case_id,worker_id,role,from,to\nC1,W2,paired,2024-01-02,\nC1,W1,primary,2024-01-02,\n");
    w.write("absences.csv", "worker_id,kind,starts_on,ends_on\nW2,planned,2024-01-01,2024-01-05\n");
    w.write("yjaudit.toml", "select = [\"ALC004\"]\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let findings = w.read("r/findings.csv");
    let rows: Vec<Vec<&str>> = findings.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{findings}");
    assert_ne!(rows[0][11], rows[1][11], "each allocation's row has its own id");
    let mut sources: Vec<&str> = rows.iter().map(|r| r[14]).collect();
    sources.sort();
    assert_eq!(sources, ["allocations.csv:2", "allocations.csv:3"]);
    // W2 was on leave that day: that allocation is late (fixed when the leave ended); W1's is met.
    let mut statuses: Vec<(&str, &str)> = rows.iter().map(|r| (r[14], r[9])).collect();
    statuses.sort();
    assert_eq!(statuses, [("allocations.csv:2", "late"), ("allocations.csv:3", "met")]);
}

#[test]
fn rows_started_by_an_absence_trace_to_it_and_two_absences_have_two_ids() {
    let w = Workdir::new();
    w.minimal();
    w.write("staff.csv", "worker_id,team,role\nW1,North,case_manager\n");
    w.write("allocations.csv", "case_id,worker_id,role,from,to\nC1,W1,primary,2024-01-02,\n");
    w.write("absences.csv", "worker_id,kind,starts_on,ends_on\nW1,unplanned,2024-05-01,2024-05-03\nW1,unplanned,2024-05-01,2024-05-20\n");
    w.write("yjaudit.toml", "select = [\"LVE002\"]\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let findings = w.read("r/findings.csv");
    let rows: Vec<Vec<&str>> = findings.lines().skip(1).map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2, "{findings}");
    assert_ne!(rows[0][11], rows[1][11], "each absence's row has its own id");
    let mut sources: Vec<&str> = rows.iter().map(|r| r[14]).collect();
    sources.sort();
    assert_eq!(sources, ["absences.csv:2", "absences.csv:3"]);
}

#[test]
fn a_repeated_absence_or_allocation_row_still_gets_an_id_of_its_own() {
    // The same absence entered twice (the cover recorded at two times) is two
    // rows and two LVE001 obligations; the same allocation twice, two ALC004
    // ones. Every finding_id must still be unique, or the nightly comparison
    // would pair the wrong rows.
    let w = Workdir::new();
    w.minimal();
    w.write("staff.csv", "worker_id,team,role\nW1,North,case_manager\n");
    w.write("allocations.csv", "case_id,worker_id,role,from,to\nC1,W1,primary,2024-01-02,\nC1,W1,primary,2024-01-02,\n");
    w.write(
        "absences.csv",
        "worker_id,kind,starts_on,ends_on,cover_recorded_at\nW1,planned,2024-05-06,2024-05-10,2024-05-03T09:00\nW1,planned,2024-05-06,2024-05-10,2024-05-06T09:00\n",
    );
    w.write("yjaudit.toml", "select = [\"LVE001\", \"ALC004\"]\n");
    let o = w.audit("r", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let findings = w.read("r/findings.csv");
    let rows: Vec<Vec<&str>> = findings.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let per_rule = |code: &str| rows.iter().filter(|r| r[0] == code).count();
    assert_eq!((per_rule("ALC004"), per_rule("LVE001")), (2, 2), "{findings}");
    let mut ids: Vec<&str> = rows.iter().map(|r| r[11]).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), rows.len(), "ids are unique:\n{findings}");
}
