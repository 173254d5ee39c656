//! `infer serve`: a local web page on which a visitor draws a digit and sees what each layer of
//! the network makes of it, and the JSON API under the page.
//!
//! The HTTP stack is axum on tokio. Everything that costs time (reading JSON, decoding and
//! preprocessing pictures, inference) runs on tokio's blocking thread pool, never on the async
//! threads, so no request holds up another. Every limit is a named constant: the body's bytes
//! ([`MAX_REQUEST_BYTES`], refused before it is read), a picture's pixels (the library's
//! [`infer::picture::MAX_PICTURE_PIXELS`], refused before it is decoded), the time a client may
//! take to send its headers ([`HEADER_READ_TIMEOUT`]) and its body ([`BODY_READ_TIMEOUT`]), and the time
//! requests in flight get after Ctrl-C or SIGTERM ([`SHUTDOWN_GRACE`]) before the process exits.
//!
//! One concern per file: [`models`] loads the served networks and runs them, [`served`]
//! holds them with the test set and the page's training ([`train_here`], its API
//! [`train_api`]), [`api`] is the
//! JSON API and its errors, [`page`] serves the page itself (HTML, CSS and JavaScript embedded
//! in the binary: no CDN, no build step, works offline), [`guard`] is what every response
//! passes through (the Host check against DNS rebinding, the security headers, JSON bodies on
//! every error), and [`connection`] puts the header deadline on every connection.

pub mod api;
pub mod connection;
pub mod error;
pub mod guard;
pub mod lessons;
pub mod models;
pub mod page;
pub mod served;
pub mod train_api;
pub mod train_here;
pub mod train_settings;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use model::KernelChoice;
use workbench_io::say;

use connection::{Connection, TimedListener};
use guard::HostCheck;
use served::Served;

/// The largest request body accepted (a phone photo of a digit fits); larger ones get 413.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;

/// The largest shift of the translation experiment, in pixels along each axis.
pub const MAX_SHIFT: i32 = 8;

/// The time a client has to send a request's headers, counted from when the connection opens
/// or its previous answer was given; then the connection is closed (with a 408 if a request
/// had begun).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The time a client has to send a request's body once its headers are in (8 MiB in 20 s is
/// 420 KB/s); then it gets 408.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(20);

/// The time requests in flight get to finish after Ctrl-C or SIGTERM; then the process exits.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What `infer serve` serves and where.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Training run folders; each becomes a model named after its folder.
    pub models: Vec<PathBuf>,
    /// Where the runs trained from the page go (training from the page is off without it).
    pub runs: Option<PathBuf>,
    /// The address to listen on.
    pub host: IpAddr,
    /// The port (0: any free port; the address is printed).
    pub port: u16,
    /// Layer implementation (default: the one recorded with each model).
    pub kernels: Option<KernelChoice>,
    /// The MNIST folder whose test images the page's "random test digit" draws from.
    pub data_dir: PathBuf,
}

/// Loads the models and serves them until Ctrl-C or SIGTERM.
pub fn serve(options: ServeOptions) -> Result<()> {
    let served = Arc::new(Served::load(&options)?);
    if !options.host.is_loopback() {
        writeln!(
            std::io::stderr(),
            "warning: serving on {} beyond this machine: anyone who can reach it can use the \
             page and the API (no login, no HTTPS, no Host check); the default, 127.0.0.1, \
             serves this machine only",
            options.host
        )
        .ok();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(run(options, served));
    // Requests still running on the blocking pool after the grace time are not waited for.
    runtime.shutdown_timeout(Duration::ZERO);
    result
}

/// Serves until Ctrl-C or SIGTERM, then gives the requests in flight [`SHUTDOWN_GRACE`].
async fn run(options: ServeOptions, served: Arc<Served>) -> Result<()> {
    let address = SocketAddr::new(options.host, options.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let address = listener.local_addr()?;
    let names = served.models.names();
    say!(
        "serving {} at http://{address}/ (Ctrl-C stops){}",
        if names.is_empty() {
            "no model yet".to_string()
        } else {
            names.join(", ")
        },
        match &options.runs {
            Some(runs) => format!("; training from the page into {}", runs.display()),
            None => String::new(),
        }
    )?;
    let app = api::router(served, HostCheck::for_address(address))
        .into_make_service_with_connect_info::<Connection>();
    let signalled = Arc::new(tokio::sync::Notify::new());
    let server = axum::serve(TimedListener::new(listener), app).with_graceful_shutdown({
        let signalled = Arc::clone(&signalled);
        async move {
            shutdown_signal().await;
            signalled.notify_one();
        }
    });
    let grace = async {
        signalled.notified().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => {
            result.context("the server failed")?;
            say!("stopped")?;
        }
        () = grace => {
            say!(
                "stopped: requests still unfinished {} s after the signal were cut off",
                SHUTDOWN_GRACE.as_secs()
            )?;
        }
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
