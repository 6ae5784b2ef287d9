//! The `contactd` command line: the server and the admin commands.

pub mod app;
mod args;

use args::{BillerCommand, Command, FieldsCommand, JobCommand, KeyCommand};

use crate::config::{Overrides, Settings};
use crate::domain::field_settings::SettingsDoc;
use crate::service::Scope;
use crate::service::{Demo, Service};
use app::StartError;
use clap::Parser;
use serde_json::json;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(name = "contactd", version, about = "Contact directory and sync service for billers")]
pub struct Cli {
    /// Optional TOML settings file.
    #[arg(long, global = true, env = "CONTACTD_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH (default sqlite://contactd.db) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "CONTACTD_DATABASE", hide_env_values = true)]
    database: Option<String>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Service(#[from] crate::service::ServiceError),
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    #[error("{0}")]
    Input(String),
    /// The command printed its outcome already (a job that did not complete).
    #[error("{0}")]
    Reported(String),
}

fn import_options(
    replace: bool,
    dry_run: bool,
    skip_invalid: bool,
    confirm_removals: Option<u64>,
) -> crate::import::ImportOptions {
    let on_error = if skip_invalid { crate::domain::job::OnError::Skip } else { crate::domain::job::OnError::Reject };
    crate::import::ImportOptions { replace, dry_run, on_error, confirm_removals }
}

/// Prints an import's summary; an import that did not complete is an error exit.
fn report(job: &crate::import::JobReport, errors_at: &str, out: Output) -> Result<(), CliError> {
    out.print(serde_json::to_value(job).unwrap_or_default(), job.summary(errors_at));
    if job.completed() { Ok(()) } else { Err(CliError::Reported("the import did not complete".into())) }
}

impl Cli {
    /// Whether this runs the server (which logs a line per request).
    pub fn serves(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }

    /// Runs the command. With `--json`, a failure that printed nothing yet
    /// prints `{"error": ...}` on stdout, so scripts always get a document.
    pub async fn run(self) -> Result<(), CliError> {
        let json = self.json;
        let result = self.run_command().await;
        if json
            && let Err(e) = &result
            && !matches!(e, CliError::Reported(_))
        {
            println!("{}", json!({ "error": e.to_string() }));
        }
        result
    }

    async fn run_command(self) -> Result<(), CliError> {
        // Through a server: nothing local is opened (no database, no settings file needed).
        if let Command::Import {
            file,
            biller,
            replace,
            dry_run,
            skip_invalid,
            confirm_removals,
            server: Some(server),
            token,
        } = &self.command
        {
            let remote = crate::import::Remote::new(server, token.clone().unwrap_or_default())?;
            let options = import_options(*replace, *dry_run, *skip_invalid, *confirm_removals);
            let job = crate::import::import_remote(&remote, biller, file, options).await?;
            return report(&job, &remote.errors_url(biller, &job.job_id), Output { json: self.json });
        }
        let serve = match &self.command {
            Command::Serve(a) => Overrides {
                listen: a.listen,
                token_ttl_secs: a.token_ttl_secs,
                max_body_bytes: a.max_body_bytes,
                max_sync_records: a.max_sync_records,
                no_demo: a.no_demo,
                workers: a.workers,
                job_lease_secs: a.job_lease_secs,
                snapshot_retention: a.snapshot_retention,
                inbox: a.inbox.clone(),
                inbox_settle_secs: a.inbox_settle_secs,
                request_timeout_secs: a.request_timeout_secs,
                max_half_open_per_client: a.max_half_open_per_client,
                large_job_records: a.large_job_records,
                history_retention_days: a.history_retention_days,
                dialects: a.dialects.clone(),
                instantpay_environment: a.instantpay_environment.clone(),
                instantpay_utc_offset: a.instantpay_utc_offset.clone(),
                trusted_proxies: a.trusted_proxies.clone(),
                ..Overrides::default()
            },
            _ => Overrides::default(),
        };
        let settings = Settings::load(self.config.as_deref(), Overrides { database: self.database.clone(), ..serve })?;
        for var in crate::config::unknown_env_vars() {
            tracing::warn!(%var, "unknown CONTACTD_ environment variable ignored");
        }
        let service = app::service(&settings).await?;
        let out = Output { json: self.json };
        match self.command {
            Command::Serve(_) => serve_forever(service, &settings).await,
            Command::Migrate => {
                out.print(json!({"migrated": true}), "database is migrated");
                Ok(())
            }
            Command::Biller(cmd) => biller(&service, cmd, out).await,
            Command::Key(cmd) => key(&service, cmd, out).await,
            Command::Import { file, biller, replace, dry_run, skip_invalid, confirm_removals, .. } => {
                let options = import_options(replace, dry_run, skip_invalid, confirm_removals);
                let job = crate::import::import_local(&service, app::worker(&service), &biller, &file, options).await?;
                let errors_at = format!("contactd job errors --biller {biller} {}", job.job_id);
                report(&job, &errors_at, out)
            }
            Command::Export { biller, format } => {
                let n = crate::export::export(&service, &biller, format, std::io::stdout().lock()).await?;
                tracing::info!(contacts = n, "export finished");
                Ok(())
            }
            Command::Job(JobCommand::Errors { biller, job_id }) => {
                let n = crate::export::job_errors(&service, &biller, &job_id, std::io::stdout().lock()).await?;
                tracing::info!(errors = n, "job errors written");
                Ok(())
            }
        }
    }
}

struct Output {
    json: bool,
}

impl Output {
    fn print(&self, value: serde_json::Value, text: impl std::fmt::Display) {
        if self.json {
            println!("{value}");
        } else {
            println!("{text}");
        }
    }
}

async fn biller(service: &Service, cmd: BillerCommand, out: Output) -> Result<(), CliError> {
    match cmd {
        BillerCommand::Create { code, name } => {
            let b = service.create_biller(&code, &name).await?;
            out.print(json!({"code": b.code, "name": b.name}), format!("created biller {} ({})", b.code, b.name));
        }
        BillerCommand::List => {
            let billers = service.billers().await?;
            let text = billers.iter().map(|b| format!("{}\t{}", b.code, b.name)).collect::<Vec<_>>().join("\n");
            out.print(json!(billers.iter().map(|b| json!({"code": b.code, "name": b.name})).collect::<Vec<_>>()), text);
        }
        BillerCommand::Fields(FieldsCommand::Show { code }) => {
            let b = service.biller(&code).await?;
            let doc = serde_json::to_value(b.settings.doc()).map_err(|e| CliError::Input(e.to_string()))?;
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        BillerCommand::Fields(FieldsCommand::Set { code, file, dry_run, confirm }) => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Input(format!("reading {}: {e}", file.display())))?;
            let doc: SettingsDoc = serde_json::from_str(&text).map_err(|e| {
                CliError::Input(format!("{}: line {} column {}: {e}", file.display(), e.line(), e.column()))
            })?;
            let change = crate::service::SettingsChange { dry_run, confirm };
            let (settings, impact, applied) = match service.change_field_settings(&code, doc, change).await {
                Err(crate::service::ServiceError::SettingsWouldInvalidate(impact)) => {
                    return Err(CliError::Input(format!(
                        "refused: the new settings would make {} of biller {code}'s {} contacts invalid; \
                         run it again with --confirm to apply it anyway (--dry-run reports only)",
                        impact.invalid, impact.contacts
                    )));
                }
                done => done?,
            };
            let fields = settings.fields().len();
            let (checked, invalid) = (impact.contacts, impact.invalid);
            let text = match applied {
                true => format!(
                    "set {fields} contact fields for biller {code} ({invalid} of {checked} contacts invalid under them)"
                ),
                false => format!(
                    "dry run: {fields} contact fields would leave {invalid} of {checked} contacts invalid; nothing changed"
                ),
            };
            let value =
                json!({"code": code, "fields": fields, "applied": applied, "contacts": checked, "invalid": invalid});
            out.print(value, text);
        }
    }
    Ok(())
}

async fn key(service: &Service, cmd: KeyCommand, out: Output) -> Result<(), CliError> {
    match cmd {
        KeyCommand::Create { billers, scopes, allow_ips } => {
            let k = service.create_key(&billers, &scopes, &allow_ips).await?;
            out.print(
                json!({"key_id": k.key_id.as_str(), "key_secret": k.secret}),
                format!(
                    "key id:     {}\nkey secret: {}\n(the secret is shown only now; store it safely)",
                    k.key_id, k.secret
                ),
            );
        }
        KeyCommand::Revoke { key_id } => {
            service.revoke_key(&key_id).await?;
            out.print(json!({"revoked": key_id}), format!("revoked {key_id}"));
        }
        KeyCommand::List => {
            let keys = service.keys().await?;
            let scopes = |s: &[Scope]| s.iter().map(|s| s.as_str()).collect::<Vec<_>>();
            let text = keys
                .iter()
                .map(|k| {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    let ips = k.allow_ips.iter().map(ToString::to_string).collect::<Vec<_>>();
                    let ips = if ips.is_empty() { "-".to_owned() } else { ips.join(",") };
                    format!("{}\t{state}\t{}\t{}\t{ips}", k.key_id, k.billers.join(","), scopes(&k.scopes).join(","))
                })
                .collect::<Vec<_>>()
                .join("\n");
            let value = keys
                .iter()
                .map(|k| json!({"key_id": k.key_id.as_str(), "billers": k.billers, "scopes": scopes(&k.scopes), "allow_ips": k.allow_ips.iter().map(ToString::to_string).collect::<Vec<_>>(), "revoked": k.revoked_at.is_some()}))
                .collect::<Vec<_>>();
            out.print(json!(value), text);
        }
    }
    Ok(())
}

fn print_demo(demo: &Demo, base: &str) {
    let (id, secret) = (demo.key.key_id.as_str(), demo.key.secret.as_str());
    println!(
        "\nFirst start: created demo biller {biller} and an API key with every scope.\n\
         The secret is shown only now.\n\n  key id:     {id}\n  key secret: {secret}\n\n\
         Get a token:\n\n  TOKEN=$(curl -s -u '{id}:{secret}' -X POST {base}/v1/auth/token | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')\n\n\
         Add a contact:\n\n  curl -s -X POST {base}/v1/billers/{biller}/contacts/add -H \"Authorization: Token $TOKEN\" -H 'Content-Type: application/json' \\\n    \
         -d '[{{\"account_number\":\"000123\",\"name\":\"Sam Smith\",\"fields\":{{\"contact-id-1\":\"000123\",\"contact-id-2\":\"Mr S Smith\"}}}}]'\n",
        biller = demo.biller
    );
}

async fn serve_forever(service: Service, settings: &Settings) -> Result<(), CliError> {
    let demo = app::demo(&service, settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Bind { addr: settings.listen, source })?;
    let addr = listener.local_addr().map_err(StartError::Serve)?;
    if let Some(demo) = &demo {
        print_demo(demo, &format!("http://{addr}"));
    }
    tracing::info!(%addr, backend = service.backend(), "contactd listening");
    app::serve(listener, app::state(service, settings), settings, shutdown_signal()).await?;
    tracing::info!("contactd stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
