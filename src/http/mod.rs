//! The HTTP layer: handlers validate, send one message to an actor, map the reply.

pub mod body;
pub mod client;
pub mod error;
pub mod status;
pub mod upload;

use crate::config::Config;
use actix::Addr;
use actix_web::{web, HttpResponse};
use trafficlight_actors::allocator::Allocator;

pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub allocator: Addr<Allocator>,
    pub config: Config,
}

/// Every route of the server.
pub fn configure(cfg: &mut web::ServiceConfig) {
    client::configure(cfg);
    upload::configure(cfg);
    status::configure(cfg);
}

/// 404 for a uuid that names no adapter (never registered, or dropped).
pub fn unknown_adapter(uuid: &str) -> ApiError {
    ApiError::NotFound(format!("no record of adapter {uuid}: register it first"))
}

/// JSON 404 for any path we do not serve.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!("no such endpoint: {} {}", req.method(), req.path())))
}
