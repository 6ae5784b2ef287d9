//! The command line's words: its commands, their arguments and flags (clap).

use crate::service::Scope;
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum Command {
    /// Run the HTTP service (migrates the database first).
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage billers and their field settings.
    #[command(subcommand)]
    Biller(BillerCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Submit a .csv, .json or .ndjson file as a job and follow it to its end.
    Import {
        file: PathBuf,
        #[arg(long)]
        biller: String,
        /// Replace the biller's contacts with the file's (a CSV needs its TRAILER row).
        #[arg(long)]
        replace: bool,
        /// Validate and count; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Add only: apply the valid records and report the rest.
        #[arg(long)]
        skip_invalid: bool,
        /// Replace only: the exact number of contacts the replace may remove.
        #[arg(long, value_parser = clap::value_parser!(u64).range(..=crate::domain::sync::MAX_COUNT))]
        confirm_removals: Option<u64>,
        /// Submit through this server's API (e.g. https://contacts.example.com)
        /// instead of straight into the database.
        #[arg(long, env = "CONTACTD_SERVER", requires = "token")]
        server: Option<String>,
        /// A token for --server (from POST /v1/auth/token).
        #[arg(long, env = "CONTACTD_TOKEN", hide_env_values = true, requires = "server")]
        token: Option<String>,
    },
    /// Write every contact of a biller to stdout (constant memory).
    Export {
        #[arg(long)]
        biller: String,
        #[arg(long, value_enum, default_value = "csv")]
        format: crate::export::ExportFormat,
    },
    /// Background jobs.
    #[command(subcommand)]
    Job(JobCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum JobCommand {
    /// Write a job's record errors to stdout as CSV (index, line, account_number, field, code, message).
    Errors {
        #[arg(long)]
        biller: String,
        /// The job's id (job_...).
        job_id: String,
    },
}

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CONTACTD_LISTEN")]
    pub(super) listen: Option<SocketAddr>,
    /// Token lifetime in seconds (default 3600).
    #[arg(long, env = "CONTACTD_TOKEN_TTL_SECS")]
    pub(super) token_ttl_secs: Option<u64>,
    /// Largest request body in bytes (default 33554432).
    #[arg(long, env = "CONTACTD_MAX_BODY_BYTES")]
    pub(super) max_body_bytes: Option<usize>,
    /// Most records in one synchronous add or replace (default 10000).
    #[arg(long, env = "CONTACTD_MAX_SYNC_RECORDS")]
    pub(super) max_sync_records: Option<usize>,
    /// Never create the demo biller and key (for production).
    #[arg(long, env = "CONTACTD_NO_DEMO")]
    pub(super) no_demo: bool,
    /// Background job workers in this server (default 2; 0 runs none).
    #[arg(long, env = "CONTACTD_WORKERS")]
    pub(super) workers: Option<usize>,
    /// Seconds a job worker's claim holds without a heartbeat; a job whose
    /// server died is taken over after this (default 60).
    #[arg(long, env = "CONTACTD_JOB_LEASE_SECS")]
    pub(super) job_lease_secs: Option<u64>,
    /// Replace snapshots kept per biller (default 10; 0 takes none).
    #[arg(long, env = "CONTACTD_SNAPSHOT_RETENTION")]
    pub(super) snapshot_retention: Option<usize>,
    /// Drop folder: a file put in DIR/{biller_code}/ is imported as a job.
    #[arg(long, env = "CONTACTD_INBOX")]
    pub(super) inbox: Option<PathBuf>,
    /// Seconds an inbox file must stay unchanged before it is taken (default 10).
    #[arg(long, env = "CONTACTD_INBOX_SETTLE_SECS")]
    pub(super) inbox_settle_secs: Option<u64>,
    /// Seconds a client may take to send a request's headers, or pause
    /// within its body, before the request is dropped (default 30).
    #[arg(long, env = "CONTACTD_REQUEST_TIMEOUT_SECS")]
    pub(super) request_timeout_secs: Option<u64>,
    /// Connections one client address may hold with a request not yet wholly
    /// received (default 128; 0 for no limit, e.g. behind a load balancer).
    #[arg(long, env = "CONTACTD_MAX_HALF_OPEN_PER_CLIENT")]
    pub(super) max_half_open_per_client: Option<usize>,
    /// Jobs of this many records or more are large: at most workers - 1 of
    /// them run at once, so small jobs never wait behind them (default 100000).
    #[arg(long, env = "CONTACTD_LARGE_JOB_RECORDS")]
    pub(super) large_job_records: Option<u64>,
    /// Days a contact's history is kept (default 400).
    #[arg(long, env = "CONTACTD_HISTORY_RETENTION_DAYS")]
    pub(super) history_retention_days: Option<u32>,
    /// Provider dialects to serve beside the native API, comma-separated
    /// (default all: payreq,razorpay,pay_advantage,instantpay; an empty
    /// value serves none).
    #[arg(long, env = "CONTACTD_DIALECTS", value_delimiter = ',')]
    pub(super) dialects: Option<Vec<String>>,
    /// The `environment` Instantpay responses carry (default LIVE).
    #[arg(long, env = "CONTACTD_INSTANTPAY_ENVIRONMENT")]
    pub(super) instantpay_environment: Option<String>,
    /// The UTC offset of Instantpay responses' `timestamp` (default +05:30, India).
    #[arg(long, env = "CONTACTD_INSTANTPAY_UTC_OFFSET", allow_hyphen_values = true)]
    pub(super) instantpay_utc_offset: Option<String>,
    /// A reverse proxy (address or CIDR) whose X-Forwarded-For names the
    /// client, for keys' IP allow-lists; repeat or comma-separate (default none).
    #[arg(long = "trusted-proxy", env = "CONTACTD_TRUSTED_PROXIES", value_delimiter = ',')]
    pub(super) trusted_proxies: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub(super) enum BillerCommand {
    /// Create a biller.
    Create {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
    },
    /// List billers.
    List,
    /// Show or set a biller's Contact Field Settings.
    #[command(subcommand)]
    Fields(FieldsCommand),
}

#[derive(Debug, Subcommand)]
pub(super) enum FieldsCommand {
    /// Replace the settings with a JSON document. A change that would leave
    /// stored contacts invalid is refused, with counts, unless confirmed.
    Set {
        #[arg(long)]
        code: String,
        #[arg(long)]
        file: PathBuf,
        /// Report what the change would do to the stored contacts; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply it even if it leaves stored contacts invalid.
        #[arg(long)]
        confirm: bool,
    },
    /// Print the settings document.
    Show {
        #[arg(long)]
        code: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum KeyCommand {
    /// Create a key; its secret is printed once and never again.
    Create {
        /// A biller the key may act on; repeat for several.
        #[arg(long = "biller", required = true)]
        billers: Vec<String>,
        /// Comma-separated: contacts:read,contacts:write,contacts:replace,admin
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// An address or CIDR range the key may be used from (every API
        /// checks the client's address against it; Instantpay also its
        /// X-Ipay-Endpoint-Ip); repeat for several. Without one the key works
        /// from anywhere, except through Instantpay, which refuses it.
        #[arg(long = "allow-ip", value_parser = parse_net)]
        allow_ips: Vec<ipnet::IpNet>,
    },
    /// Revoke a key and every token issued from it.
    Revoke { key_id: String },
    /// List keys (never their secrets).
    List,
}

fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    crate::config::ip_net(s)
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s.trim())
        .ok_or_else(|| format!("unknown scope {s:?}; use contacts:read, contacts:write, contacts:replace or admin"))
}
