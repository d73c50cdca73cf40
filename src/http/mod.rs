//! The HTTP layer: handlers validate, send one message to an actor, map the reply.

pub mod body;
pub mod client;
pub mod error;
pub mod file_name;
pub mod json_errors;
pub mod status;
pub mod upload;

use crate::config::Config;
use crate::dashboard::{self, Dashboard};
use actix::Addr;
use actix_web::{web, HttpResponse, Responder};
use std::sync::Arc;
use trafficlight_actors::adapter::AdapterActor;
use trafficlight_actors::allocator::Allocator;
use trafficlight_actors::events::EventBus;
use trafficlight_actors::registry::{Entry, Registry, Retired};

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub allocator: Addr<Allocator>,
    /// Who is registered: polls, responds, errors and uploads go straight to the adapter.
    pub registry: Registry,
    pub config: Config,
    /// The actors' event stream, for live pages.
    pub events: EventBus,
    /// The dashboard's templates and the scripts' text.
    pub dashboard: Arc<Dashboard>,
    /// The run's figures, recorded by the actors as things happen (for `/metrics`).
    pub metrics: Arc<trafficlight_actors::metrics::RunMetrics>,
}

impl AppState {
    /// Sends `msg` straight to adapter `uuid`'s actor. `Err(record)` for an adapter that
    /// has retired (also one that retired while the message was on its way: the
    /// registry has its record before its actor stops); 404 for a uuid that names no
    /// adapter (never registered, or dropped).
    pub async fn ask<M>(&self, uuid: &str, msg: M) -> Result<Result<M::Result, Arc<Retired>>, ApiError>
    where
        M: actix::Message + Send + 'static,
        M::Result: Send,
        AdapterActor: actix::Handler<M>,
    {
        let addr: Addr<AdapterActor> = match self.registry.get(uuid) {
            None => return Err(unknown_adapter(uuid)),
            Some(Entry::Retired(record)) => return Ok(Err(record)),
            Some(Entry::Live(addr)) => addr,
        };
        match addr.send(msg).await {
            Ok(reply) => Ok(Ok(reply)),
            Err(_) => match self.registry.get(uuid) {
                Some(Entry::Retired(record)) => Ok(Err(record)),
                _ => Err(unknown_adapter(uuid)),
            },
        }
    }
}

/// Every route of the server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    client::configure(cfg);
    upload::configure(cfg);
    status::configure(cfg);
    dashboard::configure(cfg);
}

/// 404 for a uuid that names no adapter (never registered, or dropped).
pub fn unknown_adapter(uuid: &str) -> ApiError {
    ApiError::NotFound(format!("no record of adapter {uuid}: register it first"))
}

/// A route for `path` answering `method` with `handler`, and 405 with `Allow` to any other
/// method (a wrong method on a known path is not a 404).
pub fn resource<F, Args>(path: &str, method: actix_web::http::Method, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let allow = method.to_string();
    web::resource(path).route(web::route().method(method).to(handler)).default_service(web::to(
        move |req: actix_web::HttpRequest| {
            let allow = allow.clone();
            async move {
                let error =
                    ApiError::MethodNotAllowed(format!("{} {} is not served: use {allow}", req.method(), req.path()));
                actix_web::ResponseError::error_response(&error)
                    .customize()
                    .insert_header((actix_web::http::header::ALLOW, allow))
                    .respond_to(&req)
                    .map_into_boxed_body()
            }
        },
    ))
}

/// JSON 404 for any path we do not serve.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no such endpoint: {} {}", req.method(), req.path())))
}
