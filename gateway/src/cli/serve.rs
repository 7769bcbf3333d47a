//! `didgate serve`: run the gateway from a config file until a shutdown
//! signal, then drain connections and flush the decision log.

use std::path::Path;

use anyhow::Result;

use crate::config::Config;

/// `didgate serve -c FILE`: start the gateway and run it until Ctrl-C or SIGTERM.
pub async fn serve(path: &Path) -> Result<()> {
    let config = Config::load(path)?;
    let running = crate::server::start(&config).await?;
    if let Some(a) = running.http_addr {
        eprintln!("didgate listening on http://{a}");
    }
    if let Some(a) = running.https_addr {
        eprintln!("didgate listening on https://{a}");
    }
    crate::server::shutdown_signal().await;
    eprintln!("shutting down: draining connections and flushing the decision log");
    running.shutdown().await;
    Ok(())
}
