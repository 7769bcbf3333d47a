//! didgate's gateway: the data plane (listeners, the request path, proxying),
//! the decision log, configuration, the demo and the command line.
//!
//! Owns: everything that happens to an HTTP request between the client and
//! the upstream app, in the order `path.rs` shows. Does not own: credential
//! formats and signature checks (`credentials`), DID resolution
//! (`did-registry`), Cedar evaluation (`policy`) or risk scoring (`risk`) —
//! it calls them, in one place each.

pub mod assertion;
pub mod audit;
pub mod authn;
pub mod body;
pub mod browser;
pub mod chain_commands;
pub mod chains;
pub mod cli;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod conn;
pub mod decision;
pub mod demo;
pub mod geoip;
pub mod identity;
pub mod ja4;
pub mod limits;
pub mod login;
pub mod normalize;
pub mod openid4vp;
pub mod path;
pub mod principal;
pub mod proxy;
pub mod recheck;
pub mod refusal;
pub mod risk_commands;
pub mod risk_sync;
pub mod route;
pub mod sample_app;
pub mod server;
pub mod session;
pub mod signals;
pub mod status_commands;
pub mod store;
pub mod tls;
pub mod wallet;

pub use config::Config;
pub use server::{start, RunningGateway, StartError};
