//! Compiles a contact list request (filter and page) to SQL once, for both
//! backends; each binds the arguments its own way and numbers placeholders in
//! its own style (`?N` or `$N`).
//!
//! The plans, checked with EXPLAIN on both stores over a biller of 1M
//! contacts: `email`, `reference_id` and `external_id` are lookups in their
//! own (partial) indexes, `name` a range of the folded-name index; the rest
//! walk the biller's contacts in account-number order and stop at a page, so
//! a condition many contacts meet (type, active, tag, times) is cheap and a
//! rare one (`phone`, `q`) reads up to the whole biller.

use crate::domain::phone;
use crate::domain::query::{ContactFilter, PageRequest};
use crate::store::codec::fold;
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

/// What differs between the backends' SQL.
pub struct Dialect {
    /// Renders argument n.
    pub placeholder: fn(usize) -> String,
    /// LIKE with its escape clause if the backend needs one; `?` is the pattern.
    pub like: &'static str,
    /// Whether `{}` (a column) holds `?` (a text) anywhere.
    pub contains: &'static str,
    /// Makes a text comparison bytewise, as the folded-name index orders.
    pub bytewise: &'static str,
}

pub const SQLITE: Dialect = Dialect {
    placeholder: |n| format!("?{n}"),
    like: "LIKE ? ESCAPE '\\'",
    contains: "instr({}, ?) > 0",
    bytewise: "",
};

pub const POSTGRES: Dialect = Dialect {
    placeholder: |n| format!("${n}"),
    like: "LIKE ?",
    contains: "strpos({}, ?) > 0",
    bytewise: " COLLATE \"C\"",
};

/// A page of the biller's contacts that match, in account-number order
/// (one more than the page, to tell whether another follows).
pub fn list_query(
    columns: &str,
    biller: i64,
    filter: &ContactFilter,
    page: &PageRequest,
    dialect: &Dialect,
) -> ListQuery {
    let mut q = matching(columns, biller, filter, page.after.as_deref(), dialect);
    let mut arg = |sql: &str, value: i64| {
        q.args.push(Arg::Int(value));
        q.sql.push_str(sql);
        q.sql.push_str(&(dialect.placeholder)(q.args.len()));
    };
    arg(" ORDER BY account_number LIMIT ", page.limit as i64 + 1);
    if page.skip > 0 {
        arg(" OFFSET ", i64::try_from(page.skip).unwrap_or(i64::MAX));
    }
    q
}

/// How many of the biller's contacts match.
pub fn count_query(biller: i64, filter: &ContactFilter, dialect: &Dialect) -> ListQuery {
    matching("COUNT(*)", biller, filter, None, dialect)
}

/// `columns` of the contacts that match, after `after`. Search is
/// case-insensitive through folded columns, the same way on both backends.
fn matching(columns: &str, biller: i64, filter: &ContactFilter, after: Option<&str>, dialect: &Dialect) -> ListQuery {
    let mut q = ListQuery {
        sql: format!("SELECT {columns} FROM contacts WHERE biller_id = {}", (dialect.placeholder)(1)),
        args: vec![Arg::Int(biller)],
    };
    // Each `?` in a clause stands for the next of the arguments it brings.
    let mut clause = |sql: &str, args: Vec<Arg>| {
        let mut parts = sql.split('?');
        q.sql.push_str(parts.next().unwrap_or_default());
        for (part, arg) in parts.zip(args) {
            q.args.push(arg);
            q.sql.push_str(&(dialect.placeholder)(q.args.len()));
            q.sql.push_str(part);
        }
    };
    let text = |t: &str| vec![Arg::Text(t.to_owned())];
    if let Some(after) = after {
        clause(" AND account_number > ?", text(after));
    }
    if let Some(active) = filter.active {
        clause(" AND active = ?", vec![Arg::Bool(active)]);
    }
    if let Some(t) = &filter.contact_type {
        clause(" AND contact_type = ?", text(t));
    }
    for (column, range) in [("created_at", filter.created), ("updated_at", filter.updated)] {
        if let Some(t) = range.after {
            clause(&format!(" AND {column} >= ?"), vec![Arg::Time(t)]);
        }
        if let Some(t) = range.before {
            clause(&format!(" AND {column} < ?"), vec![Arg::Time(t)]);
        }
    }
    if let Some(t) = &filter.q {
        let sql = format!(" AND (name_folded {like} OR lower(account_number) {like})", like = dialect.like);
        let pattern = like_pattern(&fold(t));
        clause(&sql, vec![Arg::Text(pattern.clone()), Arg::Text(pattern)]);
    }
    if let Some(prefix) = &filter.name {
        // A range, not LIKE: it reads only the prefix's part of the index.
        let prefix = fold(prefix);
        let end = format!("{prefix}{}", char::MAX);
        let sql = format!(" AND name_folded{b} >= ? AND name_folded{b} < ?", b = dialect.bytewise);
        clause(&sql, vec![Arg::Text(prefix), Arg::Text(end)]);
    }
    if let Some(email) = &filter.email {
        clause(" AND email_key = ?", text(&fold(email)));
    }
    if let Some(r) = &filter.reference_id {
        clause(" AND reference_key = ?", text(r));
    }
    if let Some(r) = &filter.external_id {
        clause(" AND external_key = ?", text(r));
    }
    let holds = |column: &str| dialect.contains.replace("{}", column);
    if let Some(tag) = &filter.tag {
        clause(&format!(" AND {}", holds("tag_keys")), text(&format!("|{tag}|")));
    }
    if let Some(number) = &filter.phone {
        let mut tokens = vec![format!("|{number}|")];
        if let Some(e164) = phone::parse(number, None).ok().map(|p| p.e164).filter(|e| e != number) {
            tokens.push(format!("|{e164}|"));
        }
        let any = vec![holds("phone_keys"); tokens.len()].join(" OR ");
        clause(&format!(" AND ({any})"), tokens.into_iter().map(Arg::Text).collect());
    }
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
