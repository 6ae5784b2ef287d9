//! What was wrong with a request as it was sent, found before any use case
//! ran: a bad body, query, path or header. Neutral: each API (the native one,
//! each provider's dialect) renders it in its own shape.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// What is wrong, for a person: names the parameter, field or header.
    pub detail: String,
    /// Where in the body (line, column), for JSON that cannot be read.
    pub at: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Not JSON (or JSON with text after it).
    InvalidJson,
    /// JSON, but not what the route reads (an array for an object, a wrong type).
    InvalidBody,
    /// A job's upload (JSON array, NDJSON or CSV) that cannot be read.
    InvalidUpload,
    BodyTooLarge,
    UnsupportedMediaType,
    /// The body stopped arriving for longer than the request timeout.
    RequestTimeout,
    InvalidQuery,
    InvalidPath,
    /// A contact reference that is neither an id nor `acct:NUMBER`.
    InvalidContactId,
    InvalidHeader,
    /// Credentials sent in a form the route cannot read.
    MalformedCredentials,
    /// Credentials the route needs were not sent.
    MissingCredentials,
    InvalidIdempotencyKey,
    /// The Idempotency-Key came before with another request.
    IdempotencyKeyReused,
    /// A request with the Idempotency-Key is still being served.
    IdempotencyKeyInUse,
    /// No route at this path.
    NoSuchRoute,
    MethodNotAllowed,
    /// The client holds too many connections still sending a request.
    TooManyConnections,
}

impl Fault {
    pub fn new(kind: FaultKind, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), at: None }
    }

    /// At a line and column of the body.
    pub fn at(mut self, line: usize, column: usize) -> Self {
        self.at = Some((line, column));
        self
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}
