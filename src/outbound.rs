//! Outbound HTTP (homerunner, homeservers): one awc client per thread, built once, with
//! rustls on ring so `https` URLs work without OpenSSL.
//!
//! awc clients are not `Send`: each arbiter thread keeps its own, shared by every
//! request made on that thread.

use std::sync::Arc;
use std::time::Duration;

/// How long one outbound request may take unless its caller says otherwise.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

thread_local! {
    static CLIENT: awc::Client = build();
}

/// This thread's client.
pub fn client() -> awc::Client {
    CLIENT.with(Clone::clone)
}

fn build() -> awc::Client {
    let connector = match tls_config() {
        Ok(tls) => awc::Connector::new().rustls_0_23(Arc::new(tls)),
        Err(e) => {
            log::error!("no TLS for outbound requests ({e}): only http:// URLs will work");
            awc::Connector::new()
        }
    };
    awc::Client::builder()
        .connector(connector.timeout(CONNECT_TIMEOUT))
        .timeout(REQUEST_TIMEOUT)
        .disable_redirects()
        .finish()
}

fn tls_config() -> Result<rustls::ClientConfig, rustls::Error> {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    // The provider is named rather than taken from the process default: another crate in
    // the build may enable a second one, and then there is no default.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// How often a thread waiting on an outbound request checks whether its case has ended.
const CANCEL_CHECK: Duration = Duration::from_millis(20);

static ARBITER: std::sync::OnceLock<actix::ArbiterHandle> = std::sync::OnceLock::new();

/// The arbiter that runs requests for threads outside actix (scripts): one for the
/// process, started on first use, with its own client like every arbiter.
fn arbiter() -> &'static actix::ArbiterHandle {
    ARBITER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("outbound-http".into())
            .spawn(move || {
                let system = actix::System::new();
                let _ = tx.send(actix::Arbiter::current());
                system.block_on(std::future::pending::<()>());
            })
            .expect("cannot start the outbound HTTP thread");
        rx.recv().expect("the outbound HTTP thread started")
    })
}

/// Runs the request `make` makes on the outbound arbiter, and blocks this (non-actix)
/// thread until it answers, or until `cancel` is set: then the request is dropped and
/// `None` returned.
pub fn block_on_cancellable<M, F, T>(make: M, cancel: &trafficlight_actors::CancelToken) -> Option<T>
where
    M: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let (handle, registration) = futures::future::AbortHandle::new_pair();
    let spawned = arbiter().spawn_fn(move || {
        actix::spawn(async move {
            if let Ok(answer) = futures::future::Abortable::new(make(), registration).await {
                let _ = tx.send(answer);
            }
        });
    });
    if !spawned {
        return None;
    }
    loop {
        match rx.recv_timeout(CANCEL_CHECK) {
            Ok(answer) => return Some(answer),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if cancel.is_cancelled() => {
                handle.abort();
                return None;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}
