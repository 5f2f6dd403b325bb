//! Runs the demo app: `cargo run -p sessionkit-demo`, then open http://127.0.0.1:3000.

use sessionkit::{MemoryStore, SessionLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("SESSIONKIT_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let layer = SessionLayer::new(MemoryStore::new());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("sessionkit demo listening on http://{addr} (store: memory)");
    axum::serve(listener, sessionkit_demo::app(layer)).await?;
    Ok(())
}
