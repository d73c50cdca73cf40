//! trafficlight: a coordinator for tests in which several real clients act together.
//!
//! Adapters (one per client) poll it over HTTP for actions; it expands tests into cases,
//! gives adapters to cases, runs the tests and reports. The coordination itself lives in
//! the `trafficlight-actors` crate; this crate is its outside world.

pub mod cli;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod http;
pub mod list;
pub mod outbound;
pub mod provision;
pub mod proxy;
pub mod reports;
pub mod results;
pub mod scenario;
pub mod serve;
pub mod startup;
pub mod swarm;

pub use trafficlight_actors as actors;
