use clap::Parser;
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

// glibc's allocator spent about a third of a job's validation time in malloc
// and free (records parsed on one thread are freed on another); see BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = contactd::cli::Cli::parse();
    let filter = EnvFilter::try_from_env("CONTACTD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(std::io::stderr().is_terminal());
    // A server logs a line per request: written by a thread of its own, in
    // batches, off the request path (never dropped: a full queue waits).
    // The other commands write each line at once, around their progress bars.
    let _flushed_at_exit = if cli.serves() {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(std::io::BufWriter::new(std::io::stderr()));
        log.with_writer(writer).init();
        Some(guard)
    } else {
        log.with_writer(contactd::import::LogWriter).init();
        None
    };
    match cli.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("contactd: {e}");
            ExitCode::FAILURE
        }
    }
}
