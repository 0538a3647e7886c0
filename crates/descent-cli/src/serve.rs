//! `descent serve`: the explorer, a page on which readers drive the optimizers across the landscapes, served on
//! this machine.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Args;

use crate::error::CliError;
use crate::explorer::{Explorer, DEFAULT_TIME_LIMIT};

/// Arguments of `descent serve`.
#[derive(Debug, Args)]
pub struct ServeCommand {
    /// The port to listen on (0: any free port; the URL printed says which).
    #[arg(long, default_value_t = 8000)]
    port: u16,

    /// The address to listen on. The default answers this machine only; another (such as 0.0.0.0) makes the
    /// explorer reachable from other machines.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,

    /// Open the page in the default browser.
    #[arg(long)]
    open: bool,

    /// The computations that may run at once; requests beyond them are answered 503 (busy) at once
    /// [default: the number of cores].
    #[arg(long, value_name = "N", value_parser = crate::limits::count(64))]
    concurrent: Option<usize>,

    /// The longest a request may compute, in seconds; a longer one fails with a message saying so.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIME_LIMIT.as_secs_f64(), value_parser = parse_seconds)]
    time_limit: f64,
}

/// Parses a time limit: a number of seconds from 0.001 to one hour.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if (0.001..=3600.0).contains(&s) => Ok(s),
        _ => Err("expected a number of seconds from 0.001 to 3600".to_owned()),
    }
}

/// Serves until the process is stopped.
pub fn execute(command: &ServeCommand, out: &mut dyn Write) -> Result<(), CliError> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_io().build().map_err(CliError::Print)?;
    let address = SocketAddr::new(command.host, command.port);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(|e| CliError::Usage(format!("cannot listen on {address}: {e}")))?;
    let bound = listener.local_addr().map_err(CliError::Print)?;
    let url = format!("http://{bound}/");
    writeln!(out, "The explorer is at {url} (Ctrl-C stops it)")?;
    if !command.host.is_loopback() {
        writeln!(out, "warning: listening on {}, so other machines can reach it too", command.host)?;
    }
    out.flush()?;
    if command.open {
        if let Err(e) = std::process::Command::new("xdg-open").arg(&url).spawn() {
            eprintln!("could not open a browser ({e}); open {url} yourself");
        }
    }
    let concurrent = command.concurrent.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let router = Explorer::new(concurrent, Duration::from_secs_f64(command.time_limit)).router();
    runtime.block_on(async { axum::serve(listener, router).await }).map_err(CliError::Print)
}
