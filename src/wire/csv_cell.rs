//! Spreadsheet formula injection (OWASP "CSV Injection"): a cell that starts
//! with `=`, `+`, `-`, `@`, a tab or a carriage return runs as a formula when
//! a CSV file is opened in a spreadsheet. Every CSV contactd writes passes its
//! cells through [`escape`], which puts a `'` before such a cell, and every
//! CSV it reads passes them through [`unescape`], which takes exactly that
//! `'` off again, so an export sent back as a job restores the stored values.
//!
//! A value that already starts with `'` and then such a character gets one
//! more `'` (`'=x` is written `''=x`), which keeps the rule reversible; a `'`
//! before anything else (`'Tis`) is left alone both ways.

use std::borrow::Cow;

const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether the cell, past any leading quotes, starts like a formula.
fn formula_like(cell: &str) -> bool {
    cell.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// The cell as written to a CSV file.
pub fn escape(cell: &str) -> Cow<'_, str> {
    if formula_like(cell) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// The value a cell written by [`escape`] holds.
pub fn unescape(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formulas_are_neutralised_and_plain_text_is_not() {
        for (value, written) in [
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("+61400000000", "'+61400000000"),
            ("-5", "'-5"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("'=x", "''=x"),
            ("'Tis", "'Tis"),
            ("Sam", "Sam"),
            ("", ""),
            ("'", "'"),
        ] {
            assert_eq!(escape(value), written);
            assert_eq!(unescape(written), value);
        }
    }

    proptest! {
        #[test]
        fn unescape_undoes_escape(value in "['=+@\\-\t\ra-z ]{0,8}") {
            let written = escape(&value);
            prop_assert!(!written.starts_with(FORMULA_STARTS));
            prop_assert_eq!(unescape(&written), value.as_str());
        }
    }
}
