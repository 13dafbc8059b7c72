//! findings.csv and findings.json, rendered fast: millions of rows are
//! formatted into reusable buffers, a few hundred at a time on every core,
//! and each chunk is copied into the files when the chunks before it are
//! in (the sort already fixed the order, so the bytes do not depend on
//! thread timing).

use super::{EXTRA_COLUMNS, RunRecord, Teams};
use crate::findings::{COLUMNS, Finding};
use crate::pieces::{push_piece, push_text};
use crate::text::spreadsheet_safe;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

const FIELDS: usize = COLUMNS.len() + EXTRA_COLUMNS.len();
/// The one number among the columns (written unquoted in JSON).
const OVERDUE_DAYS: usize = 10;
const FINDING_ID: usize = 11;
/// Rows filled before their ids are hashed together (see [`finding_ids`]).
const BATCH: usize = 64;
/// Rows rendered at a time: their text (about 250 KB) stays in the
/// rendering core's cache until it is copied into the files' blocks.
const CHUNK: usize = 512;
/// Chunks rendered ahead of the first not yet placed in the files at most
/// (a rendering thread the system has paused holds the others back).
const CHUNKS_AHEAD: usize = 16;

/// One finding's fields as text, in one buffer, separated by commas: when
/// no field needs quoting or a formula guard (nearly always), the buffer is
/// the row's CSV line as it stands.
#[derive(Default)]
struct RowText {
    text: String,
    /// Where each field ends (its separator, or the end of the text).
    ends: [usize; FIELDS],
    /// Some field holds a byte CSV must quote: `,` `"` CR or LF.
    needs_csv_quoting: bool,
    /// Some field holds a byte JSON must escape: `"`, `\` or a control character.
    needs_json_escaping: bool,
    /// What the row's finding id is the hash of.
    identity: Vec<u8>,
}

/// The names rows repeat, laid out for rendering: case references (the
/// pseudonyms, when asked for, made once a case rather than once a row) and
/// worker ids, each in one buffer in index order. Rows then read them from
/// a few arrays, in the order rows come, rather than through a pointer of
/// each case's and worker's own (a cache miss each at national scale).
struct Names<'a> {
    cases: crate::model::Texts,
    workers: crate::model::Texts,
    teams: &'a Teams<'a>,
    /// The teams' names, side by side (each first seen in a different
    /// case's record, they lie one to a cache line across the extract).
    team_names: crate::model::Texts,
}

impl<'a> Names<'a> {
    fn new(run: &RunRecord, teams: &'a Teams<'a>) -> Names<'a> {
        let extract = run.extract();
        let mut cases = crate::model::Texts::default();
        let references: Vec<std::borrow::Cow<str>> =
            (0..extract.cases.len() as u32).into_par_iter().map(|c| run.case_reference_of(Some(c))).collect();
        for reference in &references {
            cases.push(reference);
        }
        let mut workers = crate::model::Texts::default();
        for worker in &extract.workers {
            workers.push(&worker.id);
        }
        let mut team_names = crate::model::Texts::default();
        for name in &teams.names {
            team_names.push(name);
        }
        Names { cases, workers, teams, team_names }
    }

    /// The row's team's name (the team by [`Teams::of`]).
    fn team(&self, f: &Finding) -> &str {
        self.team_names.nth(self.teams.of(f))
    }
}

/// The texts a chunk of rows names from big tables (its triggers' and
/// what met them, with their lines, and the workers' and cases' ids),
/// looked up for the whole chunk before any row is written. At national
/// scale each lookup misses the cache (the events are gigabytes, workers
/// come in no order, and each rule's rows walk all the cases again); in a
/// loop that does nothing else the processor has many in flight at once,
/// where inside a row's long work it waited for each.
#[derive(Default)]
struct ChunkLookups {
    /// Per row, the trigger's then the meeting event's (index, line), if any.
    found: Vec<Option<(crate::model::TextRef, u32)>>,
    /// Per row, where its trigger's and meeting event's ids lie among the
    /// event ids, its worker's among the workers' and its case's among the
    /// cases' (empty for none).
    places: Vec<std::ops::Range<usize>>,
    /// Per row, its [`ChunkLookups::TEXTS`] texts, one after another.
    texts: String,
    ends: Vec<usize>,
}

impl ChunkLookups {
    /// Texts a row: trigger event id, meeting event id, worker id, case
    /// reference, team.
    const TEXTS: usize = 5;

    fn gather(&mut self, run: &RunRecord, names: &Names, chunk: &[Finding]) {
        let extract = run.extract();
        self.found.clear();
        self.found.extend(chunk.iter().flat_map(|f| {
            f.events().map(|e| {
                e.map(|e| {
                    let event = &extract.events[e as usize];
                    (event.id, event.line)
                })
            })
        }));
        // Each text's ends, then its text: two misses apart, each in a loop
        // of its own, so that neither waits on the other.
        self.places.clear();
        for (f, found) in chunk.iter().zip(self.found.chunks_exact(2)) {
            for found in found {
                self.places.push(found.map_or(0..0, |(id, _)| extract.event_ids.place(id)));
            }
            self.places.push(f.worker().map_or(0..0, |w| names.workers.place_of_nth(w)));
            self.places.push(f.case().map_or(0..0, |c| names.cases.place_of_nth(c)));
        }
        self.texts.clear();
        // Room for the pieces copied a fixed width at a time (see push_piece).
        self.texts.reserve(chunk.len() * Self::TEXTS * 16 + 32);
        self.ends.clear();
        for (f, places) in chunk.iter().zip(self.places.chunks_exact(4)) {
            let [trigger, done, worker, case] = places else { unreachable!("four places a row") };
            let texts = [
                extract.event_ids.at(trigger.clone()),
                extract.event_ids.at(done.clone()),
                names.workers.at(worker.clone()),
                names.cases.at(case.clone()),
                names.team(f),
            ];
            for text in texts {
                push_text(&mut self.texts, text);
                self.ends.push(self.texts.len());
            }
        }
    }

    /// Row `n`'s trigger's (`done` false) or meeting event's (`done` true)
    /// id ("" when none).
    fn event_id(&self, n: usize, done: bool) -> &str {
        self.text(Self::TEXTS * n + done as usize)
    }

    /// Row `n`'s trigger's or meeting event's line (as [`ChunkLookups::event_id`]).
    fn event_line(&self, n: usize, done: bool) -> Option<u32> {
        self.found[2 * n + done as usize].map(|(_, line)| line)
    }

    /// Row `n`'s worker id ("" when none).
    fn worker(&self, n: usize) -> &str {
        self.text(Self::TEXTS * n + 2)
    }

    /// Row `n`'s case reference as written ("" for worker-level rows).
    fn case(&self, n: usize) -> &str {
        self.text(Self::TEXTS * n + 3)
    }

    /// Row `n`'s team.
    fn team(&self, n: usize) -> &str {
        self.text(Self::TEXTS * n + 4)
    }

    #[inline(always)]
    fn text(&self, slot: usize) -> &str {
        let start = if slot == 0 { 0 } else { self.ends[slot - 1] };
        &self.texts[start..self.ends[slot]]
    }
}

impl RowText {
    /// The row's fields up to its finding id, and what the id is the hash of.
    fn fill_to_id(&mut self, run: &RunRecord, f: &Finding, lookups: (&ChunkLookups, usize)) {
        let trigger_event = lookups.0.event_id(lookups.1, false);
        let done_event = lookups.0.event_id(lookups.1, true);
        let extract = run.extract();
        let o = f.obligation();
        self.text.clear();
        let mut field = 0;
        let mut end = |row: &mut RowText| {
            row.end_field(field);
            field += 1;
        };
        push_text(&mut self.text, &run.rules[f.rule as usize].code);
        end(self);
        push_text(&mut self.text, lookups.0.case(lookups.1));
        end(self);
        push_text(&mut self.text, lookups.0.worker(lookups.1));
        end(self);
        push_text(&mut self.text, lookups.0.team(lookups.1));
        end(self);
        push_text(&mut self.text, trigger_event);
        end(self);
        crate::time::push_moment(&mut self.text, o.trigger_at);
        end(self);
        crate::time::push_due(&mut self.text, o.due);
        end(self);
        push_text(&mut self.text, done_event);
        end(self);
        if let Some(d) = o.done_at {
            crate::time::push_moment(&mut self.text, d);
        }
        end(self);
        push_text(&mut self.text, f.status.name());
        end(self);
        if let Some(days) = f.overdue_days() {
            push_text(&mut self.text, itoa::Buffer::new().format(days));
        }
        end(self);
        let mut bytes = std::mem::take(&mut self.identity);
        let identity = crate::findings::Identity {
            rule: self.field(0),
            case_id: self.field(1),
            worker_id: self.field(2),
            trigger_event_id: self.field(4),
            trigger_at: self.field(5),
            trigger_record: &crate::findings::trigger_record_text(extract, &o),
        };
        crate::findings::identity_bytes(&identity, &mut bytes);
        self.identity = bytes;
    }

    /// The row's finding id (see [`finding_ids`]) and the fields after it.
    fn fill_from_id(&mut self, run: &RunRecord, f: &Finding, lookups: (&ChunkLookups, usize), id: u64) {
        let trigger_event_line = lookups.0.event_line(lookups.1, false);
        let done_event_line = lookups.0.event_line(lookups.1, true);
        let extract = run.extract();
        let o = f.obligation();
        let mut field = FINDING_ID;
        let mut end = |row: &mut RowText| {
            row.end_field(field);
            field += 1;
        };
        // SAFETY: hex digits are ASCII, so the text stays UTF-8.
        unsafe { push_piece(self.text.as_mut_vec(), &hex(id)) };
        end(self);
        if let Some(i) = f.accepted() {
            push_text(&mut self.text, "yes");
            end(self);
            push_text(&mut self.text, &run.acceptance_note(i));
        } else {
            end(self);
        }
        end(self);
        let events_file = extract.events_file.as_str();
        let trigger = match trigger_event_line {
            Some(line) => Some((events_file, line)),
            None => super::trigger_line(extract, &o),
        };
        let done = done_event_line.map(|line| (events_file, line));
        for source in [trigger, done] {
            if let Some((file, line)) = source {
                push_text(&mut self.text, file);
                self.text.push(':');
                push_text(&mut self.text, itoa::Buffer::new().format(line));
            }
            end(self);
        }
        self.scan();
    }

    /// Ends field `i` (the last ends the row).
    fn end_field(&mut self, i: usize) {
        self.ends[i] = self.text.len();
        if i + 1 < FIELDS {
            self.text.push(',');
        }
    }

    /// One pass over the whole row instead of one per field and format (the
    /// separators are commas themselves, so they are counted out).
    fn scan(&mut self) {
        let (commas, quoting, escaping) = classify_on_this_processor(self.text.as_bytes());
        self.needs_csv_quoting = quoting || commas != FIELDS - 1;
        self.needs_json_escaping = escaping;
    }

    fn field(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        &self.text[start..self.ends[i]]
    }

    /// The row is its own CSV line: nothing to quote, no would-be formula.
    fn is_plain_csv(&self) -> bool {
        // Each field's first byte, read where it lies (as `needs_formula_guard`
        // reads it, without making each field a `str` first).
        let bytes = self.text.as_bytes();
        let starts = std::iter::once(0).chain(self.ends[..FIELDS - 1].iter().map(|end| end + 1));
        !self.needs_csv_quoting
            && starts.zip(self.ends).all(|(start, end)| start == end || !crate::text::needs_formula_guard_byte(bytes[start]))
    }
}

/// A row's commas, whether it holds a byte CSV must quote (`"`, CR or LF),
/// and whether it holds one JSON must escape (`"`, `\\` or a control
/// character).
#[inline(always)]
fn classify(bytes: &[u8]) -> (usize, bool, bool) {
    // Written a block of 32 bytes at a time, each byte in a lane of its
    // own, so that it compiles to vector code (a fold over the bytes did
    // for the count but not for the flags, and the flags then cost a tenth
    // of a row's rendering). Lanes count in bytes, so they are summed every
    // 255 blocks (a run of 255 whole blocks leaves a tail of spaces only).
    const LANES: usize = 32;
    let (mut commas, mut quoting, mut escaping) = (0usize, 0u8, 0u8);
    for run in bytes.chunks(LANES * 255) {
        let (blocks, rest) = run.as_chunks::<LANES>();
        // The last part block filled out with spaces (nothing to count or
        // flag) and taken as a whole one.
        let mut tail = [b' '; LANES];
        tail[..rest.len()].copy_from_slice(rest);
        let mut counts = [0u8; LANES];
        let (mut quotes, mut escapes) = ([0u8; LANES], [0u8; LANES]);
        // (A loop over the blocks chained with the tail is not made vector code.)
        let mut add = |block: &[u8; LANES]| {
            for k in 0..LANES {
                let b = block[k];
                counts[k] += (b == b',') as u8;
                quotes[k] |= ((b == b'"') | (b == b'\r') | (b == b'\n')) as u8;
                escapes[k] |= ((b == b'"') | (b == b'\\') | (b < 0x20)) as u8;
            }
        };
        blocks.iter().for_each(&mut add);
        add(&tail);
        commas += counts.iter().map(|&n| n as usize).sum::<usize>();
        quoting |= quotes.iter().fold(0, |any, &q| any | q);
        escaping |= escapes.iter().fold(0, |any, &e| any | e);
    }
    (commas, quoting != 0, escaping != 0)
}

/// [`classify`] compiled for AVX2's 32-byte vectors (the build targets
/// processors with 16-byte ones): half the instructions for the same bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn classify_avx2(bytes: &[u8]) -> (usize, bool, bool) {
    classify(bytes)
}

/// [`classify`], with the widest vectors this processor has.
fn classify_on_this_processor(bytes: &[u8]) -> (usize, bool, bool) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2 (just checked).
        return unsafe { classify_avx2(bytes) };
    }
    classify(bytes)
}

/// The finding ids of a batch of rows filled up to them, four hashed at a
/// time (see [`crate::findings::fnv1a_four`]).
fn finding_ids(rows: &[RowText], ids: &mut [u64; BATCH]) {
    for (four, ids) in rows.chunks(4).zip(ids.chunks_mut(4)) {
        if let [a, b, c, d] = four {
            ids.copy_from_slice(&crate::findings::fnv1a_four([&a.identity, &b.identity, &c.identity, &d.identity]));
        } else {
            for (id, row) in ids.iter_mut().zip(four) {
                *id = crate::findings::fnv1a(&row.identity);
            }
        }
    }
}

/// A finding id: 16 lower-case hex digits (see `findings::Identity`), a
/// byte's two digits at a time from a table.
fn hex(number: u64) -> [u8; 16] {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut byte = 0;
        while byte < 256 {
            pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 15]];
            byte += 1;
        }
        pairs
    };
    let mut digits = [0; 16];
    for (pair, byte) in digits.chunks_exact_mut(2).zip(number.to_be_bytes()) {
        pair.copy_from_slice(&PAIRS[byte as usize]);
    }
    digits
}

/// One row as a CSV line: the row's own text when it is plain (and not for
/// Excel, whose date-times change), else through the csv writer.
fn csv_row(excel: bool, row: &RowText, out: &mut Vec<u8>) -> std::io::Result<()> {
    if !excel && row.is_plain_csv() {
        out.extend_from_slice(row.text.as_bytes());
        out.push(b'\n');
        return Ok(());
    }
    let mut writer = csv::Writer::from_writer(out);
    quoted_csv_row(excel, row, &mut writer)?;
    writer.flush()
}

/// One row into the csv writer: quoting and formula guards as needed.
fn quoted_csv_row<W: Write>(excel: bool, row: &RowText, writer: &mut csv::Writer<W>) -> std::io::Result<()> {
    for i in 0..FIELDS {
        let cell = spreadsheet_safe(row.field(i));
        // Excel reads `2024-05-01 10:00` as a date-time, not `2024-05-01T10:00`.
        if excel && matches!(i, 5 | 6 | 8) && cell.len() > 10 && cell.as_bytes()[10] == b'T' {
            writer.write_field(cell.replacen('T', " ", 1).as_bytes())?;
        } else {
            writer.write_field(cell.as_bytes())?;
        }
    }
    writer.write_record(None::<&[u8]>)?;
    Ok(())
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
fn push_json_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.extend_from_slice(text.as_bytes());
    } else {
        for &b in text.as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                _ => out.push(b),
            }
        }
    }
    out.push(b'"');
}

/// Pieces of JSON up to this long are appended as one copy of this width.
const WIDE: usize = 32;

/// A piece of a JSON row kept in a block of [`WIDE`] bytes, so that it is
/// appended with one copy of a fixed width: no call, and no branch on its
/// length (which varies from piece to piece, and which the processor
/// guessed wrong often enough to cost more than the copy).
#[derive(Clone, Copy)]
struct WidePiece {
    bytes: [u8; WIDE],
    len: usize,
}

impl WidePiece {
    fn new(text: &[u8]) -> WidePiece {
        assert!(text.len() <= WIDE, "a JSON key is at most {WIDE} bytes");
        let mut bytes = [0; WIDE];
        bytes[..text.len()].copy_from_slice(text);
        WidePiece { bytes, len: text.len() }
    }

    #[inline(always)]
    fn push_to(&self, out: &mut Vec<u8>) {
        out.reserve(WIDE);
        // SAFETY: `reserve` left at least WIDE bytes of room past the length,
        // and the copy reads the whole of `bytes`. The length then covers
        // only the piece's own bytes, all of them initialised by the copy.
        unsafe {
            std::ptr::copy_nonoverlapping(self.bytes.as_ptr(), out.as_mut_ptr().add(out.len()), WIDE);
            out.set_len(out.len() + self.len);
        }
    }
}

/// What goes between one JSON value and the next, rendered once for every
/// column: the previous value's closing quote (when it had one), the
/// comma, the column's name, and this value's opening quote (when it has
/// one), or `null` when there is no value. One copy a field instead of
/// three: a national run writes 475 million of them.
struct JsonKeys {
    before: [[[WidePiece; 2]; 2]; FIELDS],
    null: [[WidePiece; 2]; FIELDS],
}

impl JsonKeys {
    fn new() -> JsonKeys {
        let names: Vec<&str> = COLUMNS.iter().chain(&EXTRA_COLUMNS).copied().collect();
        let key = |i: usize, closes: usize, opens: usize| {
            let mut key = if closes == 1 { vec![b'"'] } else { Vec::new() };
            if i > 0 {
                key.push(b',');
            }
            push_json_string(&mut key, names[i]);
            key.push(b':');
            if opens == 1 {
                key.push(b'"');
            }
            key
        };
        JsonKeys {
            before: std::array::from_fn(|i| {
                std::array::from_fn(|closes| std::array::from_fn(|opens| WidePiece::new(&key(i, closes, opens))))
            }),
            null: std::array::from_fn(|i| std::array::from_fn(|closes| WidePiece::new(&[key(i, closes, 0), b"null".to_vec()].concat()))),
        }
    }

    /// Before column `i`: `closes` the previous value's quote, `opens` this one's.
    fn before(&self, i: usize, closes: bool, opens: bool) -> &WidePiece {
        &self.before[i][closes as usize][opens as usize]
    }

    /// Column `i` with no value; `closes` the previous value's quote.
    fn null(&self, i: usize, closes: bool) -> &WidePiece {
        &self.null[i][closes as usize]
    }
}

/// Appends field `i` of `row` as it stands (see [`WidePiece`]): one copy of
/// [`WIDE`] bytes from the row's text where the field is no longer and the
/// text has that much room after the field's start, else an ordinary copy.
#[inline(always)]
fn push_field(out: &mut Vec<u8>, row: &RowText, i: usize) {
    let start = if i == 0 { 0 } else { row.ends[i - 1] + 1 };
    let end = row.ends[i];
    if end - start > WIDE || start + WIDE > row.text.capacity() || end > row.text.len() {
        out.extend_from_slice(&row.text.as_bytes()[start..end]);
        return;
    }
    out.reserve(WIDE);
    // SAFETY: the row's text has `start + WIDE` bytes allocated (checked
    // above; those past its length may be uninitialised: the copy is
    // untyped, as memcpy is, and nothing reads them afterwards) and `out`
    // has WIDE bytes of room after `reserve`. The length then covers only
    // the field's own bytes, which lie within the text (checked above) and
    // so are initialised.
    unsafe {
        std::ptr::copy_nonoverlapping(row.text.as_ptr().add(start), out.as_mut_ptr().add(out.len()), WIDE);
        out.set_len(out.len() + end - start);
    }
}

/// One row as a JSON object. The contract's columns are always there (null
/// when empty); the extra columns only when they hold something, which
/// keeps a national run's file gigabytes smaller.
fn json_row(row: &RowText, keys: &JsonKeys, out: &mut Vec<u8>, first: bool) {
    push_piece(out, if first { b"\n{" } else { b",\n{" });
    // The last value written was a string still to be closed.
    let mut open = false;
    for i in 0..FIELDS {
        let empty = row.ends[i] == if i == 0 { 0 } else { row.ends[i - 1] + 1 };
        if empty {
            if i < COLUMNS.len() {
                keys.null(i, open).push_to(out);
                open = false;
            }
        } else if i == OVERDUE_DAYS {
            keys.before(i, open, false).push_to(out);
            push_field(out, row, i);
            open = false;
        } else if row.needs_json_escaping {
            keys.before(i, open, false).push_to(out);
            push_json_string(out, row.field(i));
            open = false;
        } else {
            keys.before(i, open, true).push_to(out);
            push_field(out, row, i);
            open = true;
        }
    }
    push_piece(out, if open { b"\"}" } else { b"}" });
}

/// What a rendering thread keeps from chunk to chunk: a batch of rows'
/// text, their ids, the JSON keys and the chunk's lookups.
struct Renderer {
    rows: Vec<RowText>,
    ids: [u64; BATCH],
    keys: JsonKeys,
    lookups: ChunkLookups,
}

impl Renderer {
    fn new() -> Renderer {
        // Room for a row and the pieces copied a fixed width at a time (see push_piece).
        let rows = (0..BATCH).map(|_| RowText { text: String::with_capacity(512), ..RowText::default() }).collect();
        Renderer { rows, ids: [0; BATCH], keys: JsonKeys::new(), lookups: ChunkLookups::default() }
    }

    /// A chunk of rows as CSV and (unless left out) JSON, each row formatted
    /// once; `first` when the chunk's first row is the file's.
    fn render(&mut self, run: &RunRecord, names: &Names, chunk: &[Finding], first: bool, out: &mut Rendered) -> std::io::Result<()> {
        out.csv.clear();
        out.json.clear();
        let lookups = &mut self.lookups;
        lookups.gather(run, names, chunk);
        for (b, batch) in chunk.chunks(BATCH).enumerate() {
            let rows = &mut self.rows[..batch.len()];
            for (k, (row, f)) in rows.iter_mut().zip(batch).enumerate() {
                row.fill_to_id(run, f, (lookups, b * BATCH + k));
            }
            finding_ids(rows, &mut self.ids);
            for (k, ((row, f), &id)) in rows.iter_mut().zip(batch).zip(&self.ids).enumerate() {
                row.fill_from_id(run, f, (lookups, b * BATCH + k), id);
            }
            for (k, row) in rows.iter().enumerate() {
                csv_row(run.excel, row, &mut out.csv)?;
                if run.findings_json {
                    json_row(row, &self.keys, &mut out.json, first && b == 0 && k == 0);
                }
            }
        }
        Ok(())
    }
}

/// A chunk's rows as rendered, for findings.csv and findings.json.
#[derive(Default)]
struct Rendered {
    csv: Vec<u8>,
    json: Vec<u8>,
}

/// The findings files, and the chunks rendered but not yet in them: each
/// chunk goes in once all before it have, by whichever thread rendered it
/// or the one before it, so the bytes do not depend on thread timing.
struct InOrder {
    csv: super::direct::LargeFile,
    json: Option<super::direct::LargeFile>,
    /// The chunk to go in next.
    next: usize,
    waiting: std::collections::BTreeMap<usize, Rendered>,
    /// Buffers of chunks already in the files, to render into again.
    spare: Vec<Rendered>,
    failed: Option<std::io::Error>,
}

impl InOrder {
    /// Puts in chunk `index` (and those waiting for it), or keeps it
    /// until its turn; `rendered` is left with buffers to render into.
    fn put(&mut self, index: usize, rendered: &mut Rendered) {
        if index != self.next {
            let spare = self.spare.pop().unwrap_or_default();
            self.waiting.insert(index, std::mem::replace(rendered, spare));
            return;
        }
        let mut result = self.write(rendered);
        while result.is_ok() {
            let Some(chunk) = self.waiting.remove(&self.next) else { break };
            result = self.write(&chunk);
            self.spare.push(chunk);
        }
        if let Err(e) = result {
            self.failed.get_or_insert(e);
        }
    }

    fn write(&mut self, chunk: &Rendered) -> std::io::Result<()> {
        self.csv.write_all(&chunk.csv)?;
        if let Some(json) = &mut self.json {
            json.write_all(&chunk.json)?;
        }
        self.next += 1;
        Ok(())
    }
}

/// Marks the files failed and wakes every waiting thread if the thread
/// holding it panics (a chunk it took would otherwise never go in, and the
/// threads waiting for it would wait for ever: a nightly run must stop,
/// not hang).
struct StopsOthersOnPanic<'a> {
    files: &'a std::sync::Mutex<InOrder>,
    turn: &'a std::sync::Condvar,
}

impl Drop for StopsOthersOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut files = self.files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            files.failed.get_or_insert_with(|| std::io::Error::other("a thread rendering the findings rows stopped"));
            drop(files);
            self.turn.notify_all();
        }
    }
}

/// Writes findings.csv and findings.json (when asked for) together,
/// rendering on every core: each thread takes the next chunk, renders it
/// into buffers that stay in its cache, and copies it into the files'
/// blocks when its turn comes (see [`InOrder`]).
pub fn write_findings(csv_path: &Path, json_path: Option<&Path>, run: &RunRecord, teams: &Teams) -> std::io::Result<()> {
    let names = Names::new(run, teams);
    let mut csv = super::direct::LargeFile::create(csv_path)?;
    if run.excel {
        csv.write_all(b"\xEF\xBB\xBF")?;
    }
    let mut json = json_path.map(super::direct::LargeFile::create).transpose()?;
    let mut header = csv::Writer::from_writer(Vec::new());
    header.write_record(COLUMNS.iter().chain(&EXTRA_COLUMNS))?;
    csv.write_all(&header.into_inner().map_err(|e| e.into_error())?)?;
    if let Some(out) = &mut json {
        out.write_all(b"[")?;
    }
    let chunks: Vec<&[Finding]> = run.findings.chunks(CHUNK).collect();
    let files = std::sync::Mutex::new(InOrder { csv, json, next: 0, waiting: Default::default(), spare: Vec::new(), failed: None });
    let turn = std::sync::Condvar::new();
    let claimed = std::sync::atomic::AtomicUsize::new(0);
    // Threads of their own, not rayon's: they wait for their turn, and the
    // report, built beside them, gives rayon its pages to write.
    std::thread::scope(|scope| {
        for _ in 0..rayon::current_num_threads().max(1) {
            scope.spawn(|| {
                // A thread that panics must not leave the others waiting for its turn.
                let _stops_the_others = StopsOthersOnPanic { files: &files, turn: &turn };
                let mut renderer = Renderer::new();
                let mut rendered = Rendered::default();
                loop {
                    let index = claimed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(chunk) = chunks.get(index) else { break };
                    {
                        let mut files = files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                        while index >= files.next + CHUNKS_AHEAD && files.failed.is_none() {
                            files = turn.wait(files).unwrap_or_else(|poisoned| poisoned.into_inner());
                        }
                        if files.failed.is_some() {
                            break;
                        }
                    }
                    let result = renderer.render(run, &names, chunk, index == 0, &mut rendered);
                    let mut files = files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    match result {
                        Ok(()) => files.put(index, &mut rendered),
                        Err(e) => {
                            files.failed.get_or_insert(e);
                        }
                    }
                    drop(files);
                    turn.notify_all();
                }
            });
        }
    });
    let files = files.into_inner().expect("no panic holds the lock");
    if let Some(e) = files.failed {
        return Err(e);
    }
    if let Some(mut json) = files.json {
        json.write_all(if run.findings.is_empty() { b"]\n" } else { b"\n]\n" })?;
        json.finish()?;
    }
    files.csv.finish()
}

#[cfg(test)]
mod tests {
    use super::{
        COLUMNS, FIELDS, JsonKeys, OVERDUE_DAYS, RowText, classify, classify_on_this_processor, csv_row, hex, json_row, push_json_string,
        quoted_csv_row,
    };
    use proptest::prelude::*;

    /// A thread waiting for its turn behind a chunk whose thread panicked
    /// is woken and stops, rather than waiting for ever.
    #[test]
    fn a_panicking_thread_wakes_the_others_and_marks_the_files_failed() {
        let dir = tempfile::tempdir().unwrap();
        let files = std::sync::Mutex::new(super::InOrder {
            csv: super::super::direct::LargeFile::create(&dir.path().join("findings.csv")).unwrap(),
            json: None,
            next: 0,
            waiting: Default::default(),
            spare: Vec::new(),
            failed: None,
        });
        let turn = std::sync::Condvar::new();
        let (files, turn) = (&files, &turn);
        std::thread::scope(|scope| {
            let waiter = scope.spawn(move || {
                let mut files = files.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                while files.next == 0 && files.failed.is_none() {
                    // (Not woken within a minute: the test fails rather than hangs.)
                    let (woken, wait) =
                        turn.wait_timeout(files, std::time::Duration::from_secs(60)).unwrap_or_else(|poisoned| poisoned.into_inner());
                    files = woken;
                    if wait.timed_out() {
                        break;
                    }
                }
                files.failed.is_some()
            });
            let panicking = scope.spawn(move || {
                let _stops_the_others = super::StopsOthersOnPanic { files, turn };
                std::thread::sleep(std::time::Duration::from_millis(50));
                panic!("a bug while rendering chunk 0");
            });
            assert!(panicking.join().is_err());
            assert!(waiter.join().unwrap(), "the waiting thread stopped because the files failed");
        });
    }

    #[test]
    fn chunks_go_into_the_files_in_their_order_whatever_order_they_come_in() {
        let dir = tempfile::tempdir().unwrap();
        let (csv_path, json_path) = (dir.path().join("findings.csv"), dir.path().join("findings.json"));
        let mut files = super::InOrder {
            csv: super::super::direct::LargeFile::create(&csv_path).unwrap(),
            json: Some(super::super::direct::LargeFile::create(&json_path).unwrap()),
            next: 0,
            waiting: Default::default(),
            spare: Vec::new(),
            failed: None,
        };
        let chunk = |n: usize| super::Rendered { csv: format!("csv {n}\n").into_bytes(), json: format!("json {n}\n").into_bytes() };
        let steps: [(usize, usize, &[usize]); 6] =
            [(2, 0, &[2]), (4, 0, &[2, 4]), (0, 1, &[2, 4]), (1, 3, &[4]), (5, 3, &[4, 5]), (3, 6, &[])];
        for (index, next, waiting) in steps {
            files.put(index, &mut chunk(index));
            assert_eq!(files.next, next, "after chunk {index}");
            assert_eq!(files.waiting.keys().copied().collect::<Vec<_>>(), waiting, "after chunk {index}");
        }
        assert!(files.failed.is_none());
        files.csv.finish().unwrap();
        files.json.unwrap().finish().unwrap();
        let expected = |kind: &str| (0..6).map(|n| format!("{kind} {n}\n")).collect::<String>();
        assert_eq!(std::fs::read_to_string(&csv_path).unwrap(), expected("csv"));
        assert_eq!(std::fs::read_to_string(&json_path).unwrap(), expected("json"));
    }

    /// A row of `fields`, its text with `room` bytes to spare (a row's
    /// fields are copied a fixed width at a time where there is room).
    fn row_of(fields: &[String], room: usize) -> RowText {
        let mut row = RowText::default();
        for (i, field) in fields.iter().enumerate() {
            row.text.push_str(field);
            row.end_field(i);
        }
        row.text.reserve_exact(room);
        row.scan();
        row
    }

    /// The row as the csv writer alone writes it (every field through it).
    fn through_the_csv_writer(row: &RowText, excel: bool) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        quoted_csv_row(excel, row, &mut writer).unwrap();
        writer.into_inner().unwrap()
    }

    /// The row's values as a JSON parser reads them back.
    fn json_values(row: &RowText) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        json_row(row, &JsonKeys::new(), &mut out, true);
        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&out).unwrap();
        COLUMNS.iter().map(|c| object[*c].clone()).collect()
    }

    proptest! {
        /// A row written whole (the fast path) is byte for byte the row the
        /// csv writer writes field by field, and JSON keeps every value.
        #[test]
        fn a_row_is_written_as_the_csv_writer_would(
            fields in proptest::collection::vec(
                prop_oneof![19 => "[a-zA-Z0-9 :T._']{0,8}", 1 => "[a-z,\"\r\n\t\\\u{1}é=+@-]{0,4}", 2 => "[a-zA-Z0-9 ]{28,40}"],
                FIELDS,
            ),
            excel in any::<bool>(),
            room in 0usize..80,
        ) {
            let mut fields = fields;
            fields[OVERDUE_DAYS] = "12".into();
            let row = row_of(&fields, room);
            for (i, field) in fields.iter().enumerate() {
                prop_assert_eq!(row.field(i), field.as_str());
            }
            let mut out = Vec::new();
            csv_row(excel, &row, &mut out).unwrap();
            let expected = through_the_csv_writer(&row, excel);
            prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&expected));
            for (i, value) in json_values(&row).iter().enumerate() {
                match (i, fields[i].as_str()) {
                    (_, "") => prop_assert!(value.is_null()),
                    (OVERDUE_DAYS, days) => prop_assert_eq!(value.as_i64(), days.parse().ok()),
                    (_, text) => prop_assert_eq!(value.as_str(), Some(text)),
                }
            }
        }
    }

    proptest! {
        /// The row's checks, a block at a time on whichever vectors the
        /// processor has, count and flag what a byte at a time does.
        #[test]
        fn a_row_is_classified_as_byte_by_byte(
            bytes in proptest::collection::vec(
                prop_oneof![8 => b'a'..=b'z', 1 => proptest::sample::select(vec![b',', b'"', b'\r', b'\n', b'\\', 0, 0x1f, b' ', 0x7f, 0x80, 0xff])],
                0..700,
            ),
        ) {
            let expected = (
                bytes.iter().filter(|&&b| b == b',').count(),
                bytes.iter().any(|&b| matches!(b, b'"' | b'\r' | b'\n')),
                bytes.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20),
            );
            prop_assert_eq!(classify(&bytes), expected);
            prop_assert_eq!(classify_on_this_processor(&bytes), expected);
        }
    }

    #[test]
    fn commas_are_counted_past_what_a_lane_holds() {
        for length in [32 * 255 - 1, 32 * 255, 32 * 255 + 1, 2 * 32 * 255 + 37] {
            let bytes = vec![b','; length];
            assert_eq!(classify(&bytes), (length, false, false));
            assert_eq!(classify_on_this_processor(&bytes), (length, false, false));
        }
    }

    #[test]
    fn ids_are_written_as_identity_formats_them_and_the_number_column_is_overdue_days() {
        for number in [0u64, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(std::str::from_utf8(&hex(number)).unwrap(), format!("{number:016x}"));
        }
        assert_eq!(COLUMNS[OVERDUE_DAYS], "overdue_days");
    }

    #[test]
    fn json_strings_round_trip_through_a_json_parser() {
        for text in ["plain", "quote \" and \\ backslash", "new\nline\t\u{1b}", "ünïcode €"] {
            let mut out = Vec::new();
            push_json_string(&mut out, text);
            let parsed: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed, text);
        }
    }
}
