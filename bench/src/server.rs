//! One axum server on a loopback port, running on the server runtime until stopped.

use std::net::SocketAddr;
use std::time::Duration;

use axum::serve::ListenerExt as _;
use axum::Router;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::BoxError;

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// Where it listens (127.0.0.1, an ephemeral port).
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Serves `router` on `127.0.0.1:0` from `runtime` (`TCP_NODELAY` on every
    /// accepted connection).
    ///
    /// # Errors
    ///
    /// When no loopback port can be bound.
    pub fn start(runtime: &Runtime, router: Router) -> Result<Self, BoxError> {
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        Ok(Self { addr, stop, task })
    }

    /// Stops accepting, lets open connections finish (at most 5 s), and returns.
    pub fn stop(self, runtime: &Runtime) {
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        let task = self.task;
        let finished =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(5), task).await });
        if finished.is_err() {
            abort.abort();
        }
    }
}
