//! `didgate decisions`: print the most recent entries of the decision log's
//! SQL index, oldest first, and (on stderr) how far the index trails the log.

use std::path::Path;

use anyhow::Result;

use crate::config::Config;

/// `didgate decisions -c FILE -n N`: print the last `limit` decisions (1 to 10 000).
pub async fn print(config: &Path, limit: i64) -> Result<()> {
    let config = Config::load(config)?;
    let store = crate::store::Store::connect(&config.database_url()).await?;
    for d in store
        .decisions()
        .recent(limit.clamp(1, 10_000))
        .await?
        .into_iter()
        .rev()
    {
        println!(
            "{} {:<7} {:<6} {:<24} {:<22} risk {:.2}{} {} {}",
            d.id,
            d.effect,
            d.method,
            d.path,
            d.reason,
            d.risk_score,
            if d.risk_factors.is_empty() {
                String::new()
            } else {
                format!(" ({})", d.risk_factors.join(", "))
            },
            d.subject.as_deref().unwrap_or("-"),
            if d.policies.is_empty() {
                String::new()
            } else {
                format!("[{}]", d.policies.join(", "))
            }
        );
    }
    if let Some(lag) = crate::cli::audit_commands::index_lag(&config, &store).await {
        eprintln!("{lag}");
    }
    store.close().await;
    Ok(())
}
