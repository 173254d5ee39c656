//! `infer serve`: a local web page on which a visitor draws a digit and sees what each layer of
//! the network makes of it, and the JSON API under the page.
//!
//! The HTTP stack is axum on tokio. Inference runs on tokio's blocking thread pool, never on
//! the async threads, so requests are served in parallel; a request larger than
//! [`MAX_REQUEST_BYTES`] is refused before it is read; Ctrl-C (or SIGTERM) stops accepting
//! connections and lets the requests in flight finish.
//!
//! One concern per file: [`models`] loads the served networks and runs them, [`api`] is the
//! JSON API and its errors, [`page`] serves the page itself (HTML, CSS and JavaScript embedded
//! in the binary: no CDN, no build step, works offline).

pub mod api;
pub mod models;
pub mod page;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use model::{KernelChoice, say};

use models::Served;

/// The largest request body accepted (a phone photo of a digit fits); larger ones get 413.
pub const MAX_REQUEST_BYTES: usize = 8 << 20;

/// The largest shift of the translation experiment, in pixels along each axis.
pub const MAX_SHIFT: i32 = 8;

/// What `infer serve` serves and where.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Training run folders; each becomes a model named after its folder.
    pub models: Vec<PathBuf>,
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
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let address = SocketAddr::new(options.host, options.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        let address = listener.local_addr()?;
        say!(
            "serving {} at http://{address}/ (Ctrl-C stops)",
            served.names().join(", ")
        )?;
        axum::serve(listener, api::router(served))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("the server failed")?;
        say!("stopped")?;
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        tokio::signal::ctrl_c().await.ok();
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
