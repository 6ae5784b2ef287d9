//! Compiles a contact list request (filter and page) to SQL once, for both
//! backends; each binds the arguments its own way and numbers placeholders in
//! its own style (`?N` or `$N`).

use crate::domain::query::{ContactFilter, PageRequest};
use time::OffsetDateTime;

pub enum Arg {
    Int(i64),
    Bool(bool),
    Text(String),
    Time(OffsetDateTime),
}

pub struct ListQuery {
    pub sql: String,
    /// Argument N (1-based) is `args[N - 1]`; the first is the biller id.
    pub args: Vec<Arg>,
}

/// `placeholder(n)` renders argument n; `like` is the backend's LIKE with its
/// escape clause if it needs one. Search is case-insensitive through the
/// folded name column, the same way on both backends.
pub fn list_query(
    columns: &str,
    biller: i64,
    filter: &ContactFilter,
    page: &PageRequest,
    placeholder: fn(usize) -> String,
    like: &str,
) -> ListQuery {
    let mut q = ListQuery {
        sql: format!("SELECT {columns} FROM contacts WHERE biller_id = {}", placeholder(1)),
        args: vec![Arg::Int(biller)],
    };
    // Every `?` in a clause names the one argument it brings.
    let mut clause = |sql: &str, arg: Arg| {
        q.args.push(arg);
        q.sql.push_str(&sql.replace('?', &placeholder(q.args.len())));
    };
    if let Some(after) = &page.after {
        clause(" AND account_number > ?", Arg::Text(after.clone()));
    }
    if let Some(active) = filter.active {
        clause(" AND active = ?", Arg::Bool(active));
    }
    if let Some(t) = &filter.contact_type {
        clause(" AND contact_type = ?", Arg::Text(t.clone()));
    }
    if let Some(since) = filter.updated_since {
        clause(" AND updated_at >= ?", Arg::Time(since));
    }
    if let Some(text) = &filter.q {
        let sql = format!(" AND (name_folded {like} OR lower(account_number) {like})");
        clause(&sql, Arg::Text(like_pattern(&crate::store::codec::fold(text))));
    }
    clause(" ORDER BY account_number LIMIT ?", Arg::Int(page.limit as i64 + 1));
    q
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub fn like_pattern(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 2);
    out.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
