//! One `Settings` struct from, in rising precedence: defaults, an optional
//! TOML file, `CONTACTD_*` environment variables and command-line flags.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A value that must not reach a log (a database URL may hold a password).
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub database: Secret,
    pub token_ttl: Duration,
    pub max_body_bytes: usize,
    pub max_sync_records: usize,
    pub no_demo: bool,
    /// Job workers in this server.
    pub workers: usize,
    /// How long a job worker's claim holds without a heartbeat.
    pub job_lease: Duration,
    /// Replace snapshots kept per biller (0: none are taken).
    pub snapshot_retention: usize,
    /// The drop folder watched for files to import, if any.
    pub inbox: Option<PathBuf>,
    /// How long a file in the inbox must stay unchanged before it is taken.
    pub inbox_settle: Duration,
    /// How long a client may take over a request's headers or pause in its body.
    pub request_timeout: Duration,
    /// Connections one client address may hold half-open (0: no limit).
    pub max_half_open: usize,
    /// Jobs of at least this many records are large: at most `workers - 1`
    /// of them run at once per server, so a worker stays free for small ones.
    pub large_job_records: u64,
    /// How long contact history is kept.
    pub history_retention_days: u32,
    /// The provider dialects served beside the native API (`DIALECTS`).
    pub dialects: Vec<String>,
    /// Instantpay's `environment` in its responses (`LIVE`).
    pub instantpay_environment: String,
    /// The UTC offset of Instantpay's `timestamp` (India's, +05:30).
    pub instantpay_utc_offset: time::UtcOffset,
    /// Reverse proxies whose `X-Forwarded-For` names the client (a key's IP
    /// allow-list is checked against that address, not the proxy's).
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Every provider dialect this build speaks; all are on by default.
pub const DIALECTS: &[&str] = &["payreq", "razorpay", "pay_advantage", "instantpay"];

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: Secret::new("sqlite://contactd.db"),
            token_ttl: Duration::from_secs(3600),
            max_body_bytes: 32 * 1024 * 1024,
            max_sync_records: 10_000,
            no_demo: false,
            workers: 2,
            job_lease: Duration::from_secs(60),
            snapshot_retention: 10,
            inbox: None,
            inbox_settle: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_half_open: 128,
            large_job_records: 100_000,
            history_retention_days: crate::domain::history::DEFAULT_RETENTION_DAYS,
            dialects: DIALECTS.iter().map(|d| d.to_string()).collect(),
            instantpay_environment: "LIVE".into(),
            instantpay_utc_offset: time::UtcOffset::from_hms(5, 30, 0).unwrap_or(time::UtcOffset::UTC),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The TOML file: every key optional, unknown keys an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub listen: Option<SocketAddr>,
    pub database: Option<Secret>,
    pub token_ttl_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub max_sync_records: Option<usize>,
    pub no_demo: Option<bool>,
    pub workers: Option<usize>,
    pub job_lease_secs: Option<u64>,
    pub snapshot_retention: Option<usize>,
    pub inbox: Option<PathBuf>,
    pub inbox_settle_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_half_open_per_client: Option<usize>,
    pub large_job_records: Option<u64>,
    pub history_retention_days: Option<u32>,
    pub dialects: Option<Vec<String>>,
    pub instantpay_environment: Option<String>,
    pub instantpay_utc_offset: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
}

/// What flags and environment gave (clap merges those two).
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database: Option<String>,
    pub token_ttl_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub max_sync_records: Option<usize>,
    pub no_demo: bool,
    pub workers: Option<usize>,
    pub job_lease_secs: Option<u64>,
    pub snapshot_retention: Option<usize>,
    pub inbox: Option<PathBuf>,
    pub inbox_settle_secs: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_half_open_per_client: Option<usize>,
    pub large_job_records: Option<u64>,
    pub history_retention_days: Option<u32>,
    pub dialects: Option<Vec<String>>,
    pub instantpay_environment: Option<String>,
    pub instantpay_utc_offset: Option<String>,
    pub trusted_proxies: Option<Vec<String>>,
}

/// Every `CONTACTD_` variable this build reads.
pub const KNOWN_ENV: &[&str] = &[
    "CONTACTD_CONFIG",
    "CONTACTD_LISTEN",
    "CONTACTD_DATABASE",
    "CONTACTD_TOKEN_TTL_SECS",
    "CONTACTD_MAX_BODY_BYTES",
    "CONTACTD_MAX_SYNC_RECORDS",
    "CONTACTD_NO_DEMO",
    "CONTACTD_LOG",
    "CONTACTD_WORKERS",
    "CONTACTD_JOB_LEASE_SECS",
    "CONTACTD_SNAPSHOT_RETENTION",
    "CONTACTD_INBOX",
    "CONTACTD_INBOX_SETTLE_SECS",
    "CONTACTD_REQUEST_TIMEOUT_SECS",
    "CONTACTD_MAX_HALF_OPEN_PER_CLIENT",
    "CONTACTD_LARGE_JOB_RECORDS",
    "CONTACTD_HISTORY_RETENTION_DAYS",
    "CONTACTD_DIALECTS",
    "CONTACTD_INSTANTPAY_ENVIRONMENT",
    "CONTACTD_INSTANTPAY_UTC_OFFSET",
    "CONTACTD_TRUSTED_PROXIES",
    "CONTACTD_SERVER",
    "CONTACTD_TOKEN",
];

/// `203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32` (host bits dropped).
pub fn ip_net(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    let net = text
        .parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{text:?} is neither an IP address nor a CIDR range (203.0.113.0/24)"))?;
    // A range with host bits (10.0.0.1/8) is most likely a typo for one
    // address, and would let in far more than it: said, not guessed.
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has bits set past its prefix: write {} for the range or {} for the one address",
            net.trunc(),
            net.addr()
        ));
    }
    Ok(net)
}

/// `+05:30`, `-03:00`, `+00:00`.
fn utc_offset(text: &str) -> Option<time::UtcOffset> {
    let format = time::macros::format_description!("[offset_hour sign:mandatory]:[offset_minute]");
    time::UtcOffset::parse(text.trim(), format).ok()
}

/// `CONTACTD_` variables that nothing reads: most likely typos.
pub fn unknown_env_vars() -> Vec<String> {
    std::env::vars()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("CONTACTD_") && !KNOWN_ENV.contains(&k.as_str()))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: String, source: toml::de::Error },
    #[error("{0}")]
    Invalid(String),
}

impl Settings {
    pub fn load(file: Option<&Path>, over: Overrides) -> Result<Self, ConfigError> {
        let f = match file {
            None => FileSettings::default(),
            Some(path) => {
                let p = path.display().to_string();
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse { path: p, source })?
            }
        };
        let d = Settings::default();
        let s = Settings {
            listen: over.listen.or(f.listen).unwrap_or(d.listen),
            database: over.database.map(Secret::new).or(f.database).unwrap_or(d.database),
            token_ttl: over.token_ttl_secs.or(f.token_ttl_secs).map(Duration::from_secs).unwrap_or(d.token_ttl),
            max_body_bytes: over.max_body_bytes.or(f.max_body_bytes).unwrap_or(d.max_body_bytes),
            max_sync_records: over.max_sync_records.or(f.max_sync_records).unwrap_or(d.max_sync_records),
            no_demo: over.no_demo || f.no_demo.unwrap_or(false),
            workers: over.workers.or(f.workers).unwrap_or(d.workers),
            job_lease: over.job_lease_secs.or(f.job_lease_secs).map(Duration::from_secs).unwrap_or(d.job_lease),
            snapshot_retention: over.snapshot_retention.or(f.snapshot_retention).unwrap_or(d.snapshot_retention),
            inbox: over.inbox.or(f.inbox),
            inbox_settle: over
                .inbox_settle_secs
                .or(f.inbox_settle_secs)
                .map(Duration::from_secs)
                .unwrap_or(d.inbox_settle),
            request_timeout: over
                .request_timeout_secs
                .or(f.request_timeout_secs)
                .map(Duration::from_secs)
                .unwrap_or(d.request_timeout),
            max_half_open: over.max_half_open_per_client.or(f.max_half_open_per_client).unwrap_or(d.max_half_open),
            large_job_records: over.large_job_records.or(f.large_job_records).unwrap_or(d.large_job_records),
            history_retention_days: over
                .history_retention_days
                .or(f.history_retention_days)
                .unwrap_or(d.history_retention_days),
            dialects: over.dialects.or(f.dialects).unwrap_or(d.dialects),
            instantpay_environment: over
                .instantpay_environment
                .or(f.instantpay_environment)
                .unwrap_or(d.instantpay_environment),
            instantpay_utc_offset: match over.instantpay_utc_offset.or(f.instantpay_utc_offset) {
                None => d.instantpay_utc_offset,
                Some(text) => utc_offset(&text).ok_or_else(|| {
                    ConfigError::Invalid(format!("instantpay_utc_offset {text:?} is not an offset such as +05:30"))
                })?,
            },
            trusted_proxies: over
                .trusted_proxies
                .or(f.trusted_proxies)
                .unwrap_or_default()
                .iter()
                .filter(|t| !t.trim().is_empty())
                .map(|t| ip_net(t).map_err(|e| ConfigError::Invalid(format!("trusted_proxies: {e}"))))
                .collect::<Result<_, _>>()?,
        };
        if let Some(unknown) = s.dialects.iter().find(|d| !DIALECTS.contains(&d.as_str()) && !d.is_empty()) {
            return Err(ConfigError::Invalid(format!(
                "unknown dialect {unknown:?}; this build speaks {}",
                DIALECTS.join(", ")
            )));
        }
        if !(1..=36_500).contains(&s.history_retention_days) {
            return Err(ConfigError::Invalid("history_retention_days must be 1 to 36500".into()));
        }
        if s.request_timeout.is_zero() || s.request_timeout > Duration::from_secs(3600) {
            return Err(ConfigError::Invalid("request_timeout_secs must be 1 to 3600".into()));
        }
        if s.large_job_records == 0 {
            return Err(ConfigError::Invalid("large_job_records must be at least 1".into()));
        }
        if s.snapshot_retention > 1000 {
            return Err(ConfigError::Invalid("snapshot_retention must be 0 to 1000".into()));
        }
        if s.inbox_settle.is_zero() || s.inbox_settle > Duration::from_secs(3600) {
            return Err(ConfigError::Invalid("inbox_settle_secs must be 1 to 3600".into()));
        }
        if s.job_lease.is_zero() || s.job_lease > Duration::from_secs(3600) {
            return Err(ConfigError::Invalid("job_lease_secs must be 1 to 3600".into()));
        }
        if s.workers > 64 {
            return Err(ConfigError::Invalid("workers must be 0 to 64".into()));
        }
        if s.token_ttl.is_zero() || s.token_ttl > Duration::from_secs(30 * 86_400) {
            return Err(ConfigError::Invalid("token_ttl_secs must be 1 to 2592000 (30 days)".into()));
        }
        if s.max_sync_records == 0 || s.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "max_sync_records must be at least 1 and max_body_bytes at least 1024".into(),
            ));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = std::env::temp_dir().join(format!("contactd-config-{}", std::process::id()));
        std::fs::write(&dir, "listen = \"0.0.0.0:9000\"\ndatabase = \"sqlite://f.db\"\ntoken_ttl_secs = 60\n").unwrap();
        let s =
            Settings::load(Some(&dir), Overrides { database: Some("postgres://x/y".into()), ..Overrides::default() })
                .unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.database.expose(), "postgres://x/y");
        assert_eq!(s.token_ttl, Duration::from_secs(60));
        assert_eq!(s.max_sync_records, 10_000);
        assert!(!format!("{s:?}").contains("postgres://"), "the database URL must not appear in Debug output");
        std::fs::write(&dir, "listen = \"0.0.0.0:9000\"\nlisen = 1\n").unwrap();
        assert!(matches!(Settings::load(Some(&dir), Overrides::default()), Err(ConfigError::Parse { .. })));
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn ip_ranges_are_read_exactly() {
        assert_eq!(ip_net(" 203.0.113.7 ").unwrap().to_string(), "203.0.113.7/32");
        assert_eq!(ip_net("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert_eq!(ip_net("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        let e = ip_net("10.0.0.1/8").unwrap_err();
        assert!(e.contains("10.0.0.0/8") && e.contains("10.0.0.1"), "{e}");
        for bad in ["", "10.0.0", "10.0.0.0/33", "example.com", "10.0.0.0/8/8"] {
            assert!(ip_net(bad).is_err(), "{bad}");
        }
    }
}
