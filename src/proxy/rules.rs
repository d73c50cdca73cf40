//! The Rules actor: what the proxy does with each request — where it forwards, which
//! endpoints are disabled or delayed — and who waits for an endpoint to be accessed. The
//! adapter loop changes the rules; the forwarding handlers ask them per request.

use actix::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::oneshot;

/// Forward every request to `url` from now on (`proxyTo`; a second one replaces the first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetTarget(pub String);

/// Requests to `endpoint` get 503 until it is enabled again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disable(pub String);

/// Requests to `endpoint` are forwarded again.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Enable(pub String);

/// Requests to `endpoint` wait `delay` before they are forwarded; `None` removes the delay.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Delay(pub String, pub Option<Duration>);

/// Answers once a request to `endpoint` arrives after this message.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<()>")]
pub struct WaitAccessed(pub String);

/// A request for `path` arrived: what to do with it (and it counts as an access).
#[derive(Message)]
#[rtype(result = "Route")]
pub struct Request(pub String);

/// What the proxy does with one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// No `proxyTo` yet: there is nowhere to send it.
    NoTarget,
    /// The endpoint is disabled: 503.
    Disabled,
    /// Forward to `target` (the homeserver's base URL) after `delay`.
    Forward { target: String, delay: Option<Duration> },
}

/// The proxy's rules.
#[derive(Default)]
pub struct Rules {
    target: Option<String>,
    disabled: Vec<String>,
    delays: HashMap<String, Duration>,
    waiters: Vec<(String, oneshot::Sender<()>)>,
}

impl Actor for Rules {
    type Context = Context<Self>;
}

/// An endpoint with its version segment made generic: `/_matrix/client/r0/sync` and
/// `/_matrix/client/v3/sync` are one endpoint (clients and tests name either).
pub fn normalise(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            let versioned = segment == "r0"
                || (segment.len() > 1 && segment.starts_with('v') && segment[1..].bytes().all(|b| b.is_ascii_digit()));
            if versioned {
                "{version}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a request for `path` is one to `endpoint` (its path contains the endpoint, any
/// API version).
pub fn matches(path: &str, endpoint: &str) -> bool {
    normalise(path).contains(&normalise(endpoint))
}

impl Handler<SetTarget> for Rules {
    type Result = ();
    fn handle(&mut self, msg: SetTarget, _: &mut Context<Self>) {
        self.target = Some(msg.0.trim_end_matches('/').to_string());
    }
}

impl Handler<Disable> for Rules {
    type Result = ();
    fn handle(&mut self, msg: Disable, _: &mut Context<Self>) {
        if !self.disabled.contains(&msg.0) {
            self.disabled.push(msg.0);
        }
    }
}

impl Handler<Enable> for Rules {
    type Result = ();
    fn handle(&mut self, msg: Enable, _: &mut Context<Self>) {
        self.disabled.retain(|e| *e != msg.0);
    }
}

impl Handler<Delay> for Rules {
    type Result = ();
    fn handle(&mut self, msg: Delay, _: &mut Context<Self>) {
        match msg.1 {
            Some(delay) => self.delays.insert(msg.0, delay),
            None => self.delays.remove(&msg.0),
        };
    }
}

impl Handler<WaitAccessed> for Rules {
    type Result = MessageResult<WaitAccessed>;
    fn handle(&mut self, msg: WaitAccessed, _: &mut Context<Self>) -> Self::Result {
        let (tx, rx) = oneshot::channel();
        self.waiters.retain(|(_, w)| !w.is_closed());
        self.waiters.push((msg.0, tx));
        MessageResult(rx)
    }
}

impl Handler<Request> for Rules {
    type Result = MessageResult<Request>;
    fn handle(&mut self, msg: Request, _: &mut Context<Self>) -> Self::Result {
        let path = msg.0;
        let (accessed, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|(e, _)| matches(&path, e));
        self.waiters = waiting;
        for (_, waiter) in accessed {
            let _ = waiter.send(());
        }
        let Some(target) = self.target.clone() else { return MessageResult(Route::NoTarget) };
        if self.disabled.iter().any(|e| matches(&path, e)) {
            return MessageResult(Route::Disabled);
        }
        let delay = self.delays.iter().filter(|(e, _)| matches(&path, e)).map(|(_, d)| *d).max();
        MessageResult(Route::Forward { target, delay })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match_whatever_api_version_either_side_names() {
        assert!(matches("/_matrix/client/v3/sync?timeout=30000", "/_matrix/client/r0/sync"));
        assert!(matches("/_matrix/client/r0/sync", "/_matrix/client/v3/sync"));
        assert!(matches("/_matrix/client/v3/rooms/!a:hs/send/m.room.message/1", "/send/"));
        assert!(!matches("/_matrix/client/v3/login", "/_matrix/client/v3/sync"));
        assert!(!matches("/_matrix/client/versions", "/_matrix/client/v3/sync"));
    }
}
