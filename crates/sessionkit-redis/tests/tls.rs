//! (Feature `tls`.) `RedisStore` over TLS: the test makes a test CA and a server
//! certificate for 127.0.0.1 with `openssl`, starts its own `redis-server --tls-port`
//! on a free loopback port, trusts the CA through `SSL_CERT_FILE` (read by
//! rustls-native-certs, which supplies the root certificates), connects with
//! `rediss://` (the certificate is verified) and runs the whole store conformance
//! suite. Skipped without `openssl` or `redis-server` (unless
//! `SESSIONKIT_REQUIRE_SERVICES=1`).
//!
//! `cargo test -p sessionkit-redis --features tls --test tls`
#![cfg(feature = "tls")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_passes_the_store_conformance_suite() {
    let Some(mut servers) = common::Servers::new("tls") else {
        return;
    };
    let dir = servers.dir.clone();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .expect("write the certificate extensions");
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=sessionkit test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "cert.pem",
            "-extfile",
            "ext.cnf",
        ],
    ];
    let made = steps.iter().all(|args| {
        Command::new("openssl")
            .args(*args)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !made {
        assert!(
            !sessionkit_testkit::env::require_services(),
            "openssl could not make a test certificate"
        );
        eprintln!("skipped: openssl could not make a test certificate");
        return;
    }
    let port = common::free_port();
    let (cert, key, ca) = (
        cert.display().to_string(),
        key.display().to_string(),
        ca.display().to_string(),
    );
    servers.start(
        port,
        &[
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &ca,
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
    );
    // This binary holds this one test: nothing else reads the environment meanwhile.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let url = format!("rediss://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let store = loop {
        match sessionkit_redis::connect(&url, common::options()).await {
            Ok(store) => break store,
            Err(e) => assert!(Instant::now() < deadline, "no TLS connection: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    common::run_store_suite(&store).await;
    drop(servers);
}
