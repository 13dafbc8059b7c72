//! Echoing input text safely: in messages, rejected.csv and spreadsheets.

/// Longest echo of an input value, in characters.
pub const MAX_ECHO_CHARS: usize = 200;

/// Escapes control characters (`\x1b`) and cuts long values with `…`, so a
/// hostile cell can neither drive a terminal nor flood a log. The echo is
/// at most [`MAX_ECHO_CHARS`] characters as shown, escapes and `…`
/// included, and never ends inside an escape.
pub fn escape_value(text: &str) -> String {
    escape_bytes(text.as_bytes())
}

/// [`escape_value`] for a cell that may not be UTF-8: a byte that is not
/// part of a character is shown as `\xNN` too (a `\xe9` among the text says
/// the file was saved as Windows-1252, not UTF-8).
pub fn escape_bytes(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_ECHO_CHARS + 8));
    let mut shown = 0;
    // Where to cut if the rest does not fit: whole characters and escapes
    // leaving room for the `…`.
    let mut cut = 0;
    // Control characters (Cc) are all below U+0100, like bytes: `\xNN`.
    let pieces = raw.utf8_chunks().flat_map(|chunk| {
        let chars = chunk.valid().chars().map(|c| if c.is_control() { Err(c as u32) } else { Ok(c) });
        chars.chain(chunk.invalid().iter().map(|&b| Err(b as u32)))
    });
    for piece in pieces {
        let width = if piece.is_ok() { 1 } else { 4 };
        if shown + width > MAX_ECHO_CHARS {
            out.truncate(cut);
            out.push('…');
            return out;
        }
        match piece {
            Ok(c) => out.push(c),
            Err(code) => out.push_str(&format!("\\x{code:02x}")),
        }
        shown += width;
        if shown < MAX_ECHO_CHARS {
            cut = out.len();
        }
    }
    out
}

/// A whole message, report or page as shown: control characters as `\x1b`
/// and the invisible characters that reorder or break text (a right-to-left
/// override turns `xe.tab` into `bat.ex`) as `U+202E`; line ends and tabs
/// kept. Values inside messages are escaped and cut already; this catches
/// what is not a value, such as a folder name given on the command line, so
/// nothing shown can drive a terminal or disguise itself.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let is_control = |c: char| c.is_control() && c != '\n' && c != '\t';
    let is_hidden = |c: char| {
        is_control(c) || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(is_hidden) {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            c if is_control(c) => format!("\\x{:02x}", c as u32),
            c if is_hidden(c) => format!("U+{:04X}", c as u32),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// A spreadsheet would read a cell starting with these as a formula.
pub fn needs_formula_guard(cell: &str) -> bool {
    cell.as_bytes().first().is_some_and(|&first| needs_formula_guard_byte(first))
}

/// A cell beginning with this byte needs the guard (see [`needs_formula_guard`]).
pub fn needs_formula_guard_byte(first: u8) -> bool {
    matches!(first, b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
}

/// The cell as written to a CSV meant for spreadsheets: a leading `'` makes
/// a would-be formula plain text (contract section 7).
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if needs_formula_guard(cell) { format!("'{cell}").into() } else { cell.into() }
}

/// The nearest valid name to a misspelt one, for "did you mean" hints.
pub fn nearest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wrong.to_ascii_lowercase(), &c.to_ascii_lowercase()), c))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_values_cut() {
        assert_eq!(escape_value("a\x1b[31mb"), "a\\x1b[31mb");
        let long = "x".repeat(500);
        let echoed = escape_value(&long);
        assert_eq!(echoed.chars().count(), MAX_ECHO_CHARS);
        assert!(echoed.ends_with('…'));
        // Exactly the limit is shown whole; one more is cut.
        assert_eq!(escape_value(&"x".repeat(MAX_ECHO_CHARS)), "x".repeat(MAX_ECHO_CHARS));
        assert_eq!(escape_value(&"x".repeat(MAX_ECHO_CHARS + 1)), format!("{}…", "x".repeat(MAX_ECHO_CHARS - 1)));
        // The limit counts escapes as shown, and never splits one.
        let escapes = escape_value(&"\x1b".repeat(150));
        assert_eq!(escapes, format!("{}…", "\\x1b".repeat(49)));
        assert_eq!(escape_value(&"\x1b".repeat(50)), "\\x1b".repeat(50));
        // Bytes that are not UTF-8 are shown as bytes, not replaced.
        assert_eq!(escape_bytes(b"caf\xe9 \xe2\x82\xac \xe2\x82"), "caf\\xe9 € \\xe2\\x82");
    }

    #[test]
    fn printed_text_keeps_its_lines_but_never_a_control_character() {
        assert_eq!(escape_controls("plain\n\tindented"), "plain\n\tindented");
        assert_eq!(escape_controls("out/\x1b[31mred\r\n"), "out/\\x1b[31mred\\x0d\n");
    }

    #[test]
    fn formulas_are_neutralised() {
        for cell in ["=1+1", "+44", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(spreadsheet_safe(cell).starts_with('\''), "{cell:?}");
        }
        assert_eq!(spreadsheet_safe("CMM001"), "CMM001");
    }

    #[test]
    fn suggests_near_names() {
        assert_eq!(nearest("withn", ["within", "events", "except"]), Some("within"));
        assert_eq!(nearest("zzz", ["within"]), None);
    }
}
