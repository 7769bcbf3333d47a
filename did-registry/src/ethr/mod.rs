//! `did:ethr`: DIDs whose keys, delegates and services live in an
//! ERC-1056 registry contract on an EVM chain.
//!
//! - [`EthrDid`] parses identifiers (address and public-key forms).
//! - [`events`] decodes the registries' logs (ERC-1056 and status registry).
//! - [`ChainFollower`] follows a chain over JSON-RPC and writes every registry
//!   event into the [`EventIndex`] (the gateway's SQLite or PostgreSQL); a
//!   gateway's followers also record how far they have applied it
//!   ([`FollowerReport`]).
//! - [`EthrResolver`] builds DID documents from the index ([`build_document`],
//!   per the did:ethr spec, equal to ethr-did-resolver's output), cached until
//!   the follower sees a change to that identity.
//! - [`status`]: credential status on chain (the `StatusRegistry` contract);
//!   [`EthrStatusChecker`] checks a credential's `credentialStatus` against
//!   the revoked set the follower keeps current.
//! - [`anchor`]: the `LogAnchor` contract, where gateways anchor the tree
//!   heads of their decision logs (it checks each head extends the last).
//! - [`governance`]: the `PolicyRegistry` contract, M-of-N governance of the
//!   Cedar policy bundle each deployment runs (its administrators, who are
//!   ERC-1056 identities, propose and approve bundles and changes to their
//!   own set and threshold).

pub mod anchor;
pub mod chain;
mod did;
mod document;
pub mod embedded;
pub mod events;
mod follower;
pub mod governance;
mod index;
pub mod registry;
mod resolver;
pub mod status;

pub use alloy_primitives::Address;
pub use chain::{BlockInfo, Chain, ChainError, ChainLog, Receipt, RpcChain};
pub use did::{address_of, hex_chain_id, EthrDid};
pub use document::{build_document, BlockTimes, EthrResolution};
pub use embedded::EmbeddedChain;
pub use follower::{ChainFollower, FollowError, SyncReport, DEFAULT_POLL, REPORT_INTERVAL};
pub use index::{Cursor, EventIndex, FollowerReport, IndexError, IndexedAnchor, IndexedBlock};
pub use resolver::{AsOf, EthrNetwork, EthrResolver, NetworkConfig, NetworkStatus};
pub use status::{EthrStatusChecker, StatusChecker, StatusEntry, StatusError, StatusLists};
