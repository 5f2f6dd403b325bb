//! A small pool of memcached connections, reconnecting by itself.
//!
//! `async_memcached::Client` is one connection carrying one command at a time; the pool
//! holds up to `size` of them, each behind its own lock. A connection that failed or
//! whose command was cancelled (a timeout) is closed by the client and replaced on its
//! next use, so the store recovers by itself after a server restart.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_memcached::Client;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use crate::Error;

pub(crate) struct Pool {
    addr: String,
    slots: Vec<Mutex<Option<Client>>>,
    next: AtomicUsize,
    connect_timeout: Duration,
}

/// A connection taken from the pool; back in the pool when dropped.
pub(crate) type Conn<'a> = MappedMutexGuard<'a, Client>;

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("addr", &self.addr)
            .field("size", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(addr: String, size: usize, connect_timeout: Duration) -> Self {
        Self {
            addr,
            slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
            connect_timeout,
        }
    }

    async fn connect(&self) -> Result<Client, Error> {
        match tokio::time::timeout(self.connect_timeout, Client::new(&self.addr)).await {
            Ok(Ok(client)) => Ok(client),
            Ok(Err(e)) => Err(Error::Connect(e)),
            Err(_) => Err(Error::ConnectTimeout(self.connect_timeout)),
        }
    }

    /// A free connection (or the next one in turn, once it is free), connected.
    pub(crate) async fn get(&self) -> Result<Conn<'_>, Error> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let free = (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok());
        let mut slot: MutexGuard<'_, Option<Client>> = match free {
            Some(slot) => slot,
            None => self.slots[start].lock().await,
        };
        if slot.as_ref().is_none_or(Client::is_closed) {
            *slot = None;
            *slot = Some(self.connect().await?);
        }
        // The slot holds a client now, so the mapping succeeds.
        MutexGuard::try_map(slot, Option::as_mut)
            .map_err(|_| Error::ConnectTimeout(self.connect_timeout))
    }
}
