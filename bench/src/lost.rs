//! The lost-update check: many concurrent appends to one session, then a count of the
//! items that survived.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::Barrier;

use crate::load::{connect, get, seed};
use crate::BoxError;

/// The outcome for one library and store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostUpdates {
    /// Appends sent at once.
    pub sent: usize,
    /// Of those, answered with 2xx.
    pub succeeded: usize,
    /// Items in the list afterwards.
    pub kept: usize,
}

impl LostUpdates {
    /// Appends that were acknowledged but are missing.
    pub fn lost(&self) -> usize {
        self.succeeded.saturating_sub(self.kept)
    }
}

/// Seeds one session, opens `appends` connections, releases one `GET /append` on each
/// at the same moment, then reads `GET /count`.
///
/// # Errors
///
/// When seeding, a connection or the final count fails.
pub async fn check(addr: SocketAddr, appends: usize) -> Result<LostUpdates, BoxError> {
    let cookie = seed(addr, 1).await?.pop().ok_or("seeding gave no cookie")?;
    let gate = Arc::new(Barrier::new(appends));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..appends {
        let (gate, cookie) = (gate.clone(), cookie.clone());
        tasks.spawn(async move {
            let mut sender = connect(addr).await?;
            gate.wait().await;
            let reply = get(&mut sender, "/append", Some(&cookie)).await?;
            Ok::<bool, BoxError>(reply.status.is_success())
        });
    }
    let mut succeeded = 0;
    while let Some(joined) = tasks.join_next().await {
        if joined?? {
            succeeded += 1;
        }
    }
    let mut sender = connect(addr).await?;
    let reply = get(&mut sender, "/count", Some(&cookie)).await?;
    let kept = std::str::from_utf8(&reply.body)?.trim().parse()?;
    Ok(LostUpdates {
        sent: appends,
        succeeded,
        kept,
    })
}
