//! Cedar policies for didgate.
//!
//! Owns: the Cedar schema and policy files — loading, strict validation,
//! atomic replacement (`ArcSwap`), reload on change that keeps the last good
//! set, and bundles (one content-addressed file per policy set, what
//! administrators approve on chain) — and the per-request decision: principal = the holder (DID, issuers,
//! credential types, schema-typed claims per credential type), action = the HTTP method (grouped
//! as `read` / `write`), resource = app + path, context = auth method, client
//! IP, time and risk. `@step_up` forbid policies turn a deny into "present
//! your credential again". Also the `didgate policy test` runner.
//!
//! Does not own: verifying credentials (`credentials`), computing risk
//! (`risk`), or what the gateway does with a decision.

pub mod bundle;
mod claims;
mod engine;
mod testfile;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use bundle::{Bundle, BundleDiff, BundleError};
pub use engine::{
    CacheUsage, Decision, DecisionReason, DecisionRequest, Effect, PolicyEngine, ReloadOutcome,
    RiskContext,
};
pub use testfile::{run_tests, TestCaseResult, TestReport};

/// The claims of one verified credential, under a type it counts for.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedClaims {
    /// The credential's issuer (a DID).
    pub issuer: String,
    /// Its `credentialSubject`, without `id`.
    pub claims: Arc<serde_json::Map<String, serde_json::Value>>,
}

/// Per credential type, the one credential that counts for it: what
/// policies read as `principal.claims.<Type>`.
pub type ClaimsByType = BTreeMap<String, TypedClaims>;

/// A policy problem, naming the file, the position and what to fix.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no policy files found (looked for *.cedar)")]
    NoPolicies,
    #[error("schema {file} at {at}: {message}")]
    Schema {
        file: String,
        at: String,
        message: String,
    },
    #[error("{file} at {at}: {message}")]
    Parse {
        file: String,
        at: String,
        message: String,
    },
    #[error(
        "policy id {id:?} is used in {first} and again in {second}; give each @id a unique name"
    )]
    DuplicateId {
        id: String,
        first: String,
        second: String,
    },
    #[error("policies do not validate against the schema:\n  {}", problems.join("\n  "))]
    Validation { problems: Vec<String> },
    #[error("policy bundle: {0}")]
    Bundle(String),
    #[error("test file {path}: {message}")]
    TestFile { path: PathBuf, message: String },
}
