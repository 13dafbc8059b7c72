//! Reads an extract's five CSV files the two ways yjaudit could: polars'
//! CSV reader (every column as text, with a row index for the line), or the
//! csv crate's record loop that yjaudit's ingest is built on. Prints the wall
//! time per file; run it under `/usr/bin/time -f %M` for peak memory.
//!
//!     polars-read polars|csv DIR
//!
//! Neither way types or checks anything here: this is the floor each reader
//! sets before any of contract section 7's checks.

use polars::prelude::*;
use std::time::Instant;

const FILES: [&str; 5] = ["cases.csv", "staff.csv", "allocations.csv", "events.csv", "absences.csv"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, reader, dir] = args.as_slice() else {
        return Err("usage: polars-read polars|csv DIR".into());
    };
    let all = Instant::now();
    let mut frames = Vec::new();
    for file in FILES {
        let path = std::path::Path::new(dir).join(file);
        let start = Instant::now();
        let rows = match reader.as_str() {
            "polars" => {
                let frame = CsvReadOptions::default()
                    .with_infer_schema_length(Some(0))
                    .with_row_index(Some(RowIndex { name: "line".into(), offset: 2 }))
                    .try_into_reader_with_file_path(Some(path))?
                    .finish()?;
                let rows = frame.height();
                // Kept, as an ingest would keep them until typed.
                frames.push(frame);
                rows
            }
            "csv" => {
                let mut records = csv::ReaderBuilder::new().from_path(&path)?;
                let mut record = csv::ByteRecord::new();
                let mut rows = 0;
                while records.read_byte_record(&mut record)? {
                    rows += 1;
                }
                rows
            }
            other => return Err(format!("unknown reader {other}: polars or csv").into()),
        };
        println!("{reader} {file}: {rows} rows in {:.2} s", start.elapsed().as_secs_f64());
    }
    println!("{reader} all five: {:.2} s", all.elapsed().as_secs_f64());
    Ok(())
}
