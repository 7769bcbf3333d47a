//! didgate's gateway: the data plane (listeners, the request path, proxying),
//! the decision log, configuration, the demo and the command line.
//!
//! Owns: everything that happens to an HTTP request between the client and
//! the upstream app, in the order `request/mod.rs` shows. Does not own: credential
//! formats and signature checks (`credentials`), DID resolution
//! (`did-registry`), Cedar evaluation (`policy`) or risk scoring (`risk`) —
//! it calls them, in one place each.

pub mod cli;
pub mod clock;
pub mod config;
pub mod login;
pub mod request;
pub mod sample_app;
pub mod sample_service;
pub mod server;
pub mod signals;
pub mod store;

pub use config::Config;
pub use server::{start, RunningGateway, StartError};
