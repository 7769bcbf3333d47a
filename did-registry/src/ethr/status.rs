//! Credential status on chain: the `StatusRegistry` contract (a Bitstring
//! Status List per issuer and list name), its calls, and the revoked set the
//! request path checks. Its `StatusChanged` events are decoded in
//! [`super::events`] ([`StatusChange`], re-exported here).
//!
//! A credential's `credentialStatus` names a list as a DID URL of its issuer,
//! `did:ethr:<network>:<issuer address>/status/<list name>`, and an index in
//! it. The follower indexes the contract's events in the same transaction as
//! the ERC-1056 events ([`super::EventIndex`]) and then updates the in-memory
//! revoked set ([`StatusLists`]); checking a credential ([`StatusChecker`])
//! is a hash-set lookup under a read lock, never a database or chain call.
//! Like did:ethr resolution it fails closed: a stale chain is
//! `chain_unavailable`, a list that cannot be checked is never a pass.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};

pub use alloy_primitives::U256;
use alloy_primitives::{Address, Bytes, B256};
use alloy_sol_types::{sol, SolCall};

pub use super::events::{StatusChange, StatusChanged};

use super::did::{hex_chain_id, EthrDid};
use super::index::IndexError;
use super::registry::{creation_code, STATUS_ARTIFACT};
use super::resolver::EthrNetwork;

sol! {
    function setStatus(address issuer, bytes32 listId, uint256 index, bool revoked);
    function isRevoked(address issuer, bytes32 listId, uint256 index) view returns (bool);
    function canUpdate(address issuer, address actor) view returns (bool);
}

/// Gas for one `setStatus` (a first write to a storage word costs ~45k).
pub const STATUS_GAS: u64 = 150_000;

/// The `type` of a credential status entry didgate checks.
pub const ENTRY_TYPE: &str = "BitstringStatusListEntry";
/// The only `statusPurpose` the on-chain list carries.
pub const PURPOSE_REVOCATION: &str = "revocation";

/// Creation code of the status registry, constructed for the ERC-1056
/// registry at `did_registry` (send it with `Chain::transact(key, None, …)`).
pub fn status_creation_code(did_registry: Address) -> Result<Bytes, String> {
    let mut code = creation_code(STATUS_ARTIFACT)?.to_vec();
    code.extend_from_slice(did_registry.into_word().as_slice());
    Ok(code.into())
}

/// `setStatus(issuer, listId, index, revoked)`.
pub fn set_status(issuer: Address, list_id: B256, index: U256, revoked: bool) -> Bytes {
    setStatusCall {
        issuer,
        listId: list_id,
        index,
        revoked,
    }
    .abi_encode()
    .into()
}

/// `isRevoked(issuer, listId, index)`.
pub fn is_revoked(issuer: Address, list_id: B256, index: U256) -> Bytes {
    isRevokedCall {
        issuer,
        listId: list_id,
        index,
    }
    .abi_encode()
    .into()
}

/// `canUpdate(issuer, actor)`.
pub fn can_update(issuer: Address, actor: Address) -> Bytes {
    canUpdateCall { issuer, actor }.abi_encode().into()
}

/// Decode a `bool` answer (`isRevoked`, `canUpdate`).
pub fn decode_bool(ret: &[u8]) -> Option<bool> {
    isRevokedCall::abi_decode_returns(ret).ok()
}

/// A list name as its on-chain id: 1–32 ASCII characters `[A-Za-z0-9_-]`,
/// right-padded to bytes32.
pub fn list_id(name: &str) -> Result<B256, StatusError> {
    let ok = (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(StatusError::InvalidEntry {
            reason: format!("status list name {name:?} must be 1-32 characters of A-Z a-z 0-9 _ -"),
        });
    }
    let mut b = [0u8; 32];
    b[..name.len()].copy_from_slice(name.as_bytes());
    Ok(B256::from(b))
}

/// The DID URL of an issuer's on-chain status list.
pub fn list_url(issuer_did: &str, name: &str) -> String {
    format!("{issuer_did}/status/{name}")
}

/// A parsed on-chain status list URL, `did:ethr:<network>:<address>/status/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListUrl {
    pub did: EthrDid,
    pub name: String,
    pub list_id: B256,
}

impl ListUrl {
    pub fn parse(url: &str) -> Result<Self, StatusError> {
        let bad = |reason: &str| StatusError::InvalidEntry {
            reason: format!("statusListCredential {url:?}: {reason}"),
        };
        let (did, path) = url
            .split_once('/')
            .ok_or_else(|| bad("expected did:ethr:<network>:<issuer>/status/<list>"))?;
        let name = path
            .strip_prefix("status/")
            .ok_or_else(|| bad("the path must be /status/<list>"))?;
        let did = EthrDid::parse(did).map_err(|e| bad(&e.to_string()))?;
        if did.did.len() + 1 + path.len() != url.len() {
            return Err(bad("no query or fragment is allowed"));
        }
        Ok(Self {
            list_id: list_id(name)?,
            did,
            name: name.to_owned(),
        })
    }
}

/// One `credentialStatus` entry of a credential whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusEntry {
    /// The credential's issuer DID.
    pub issuer: String,
    /// `statusListCredential`.
    pub list: String,
    /// `statusListIndex`.
    pub index: U256,
}

impl StatusEntry {
    /// The entries of a `credentialStatus` value (one object or an array of
    /// them) of a credential issued by `issuer`. Only `BitstringStatusListEntry`
    /// with `statusPurpose: "revocation"` is accepted; anything else is an
    /// error, never ignored.
    pub fn from_json(issuer: &str, status: &serde_json::Value) -> Result<Vec<Self>, StatusError> {
        use serde_json::Value;
        let bad = |reason: String| StatusError::InvalidEntry { reason };
        let items: Vec<&Value> = match status {
            Value::Array(a) if !a.is_empty() && a.len() <= 16 => a.iter().collect(),
            Value::Object(_) => vec![status],
            _ => return Err(bad("must be an object or 1-16 objects".into())),
        };
        items
            .into_iter()
            .map(|v| {
                let field = |k: &str| v.get(k).and_then(Value::as_str);
                if field("type") != Some(ENTRY_TYPE) {
                    return Err(bad(format!("type must be {ENTRY_TYPE:?}")));
                }
                if field("statusPurpose") != Some(PURPOSE_REVOCATION) {
                    return Err(bad(format!(
                        "statusPurpose must be {PURPOSE_REVOCATION:?} (the only purpose checked)"
                    )));
                }
                let index = field("statusListIndex")
                    .filter(|i| {
                        !i.is_empty() && i.len() <= 78 && i.bytes().all(|b| b.is_ascii_digit())
                    })
                    .and_then(|i| U256::from_str_radix(i, 10).ok())
                    .ok_or_else(|| bad("statusListIndex must be a decimal string".into()))?;
                let list = field("statusListCredential")
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| bad("statusListCredential must be a URL".into()))?;
                Ok(Self {
                    issuer: issuer.to_owned(),
                    list: list.to_owned(),
                    index,
                })
            })
            .collect()
    }

    /// The `credentialStatus` object for index `index` of the list at `list`.
    pub fn to_json(list: &str, index: U256) -> serde_json::Value {
        serde_json::json!({
            "id": format!("{list}#{index}"),
            "type": ENTRY_TYPE,
            "statusPurpose": PURPOSE_REVOCATION,
            "statusListIndex": index.to_string(),
            "statusListCredential": list,
        })
    }
}

/// Why a credential's status does not let it through, each with a stable reason code.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("invalid credentialStatus: {reason}")]
    InvalidEntry { reason: String },
    #[error("status list {list} cannot be checked: {reason}")]
    Unsupported { list: String, reason: String },
    #[error("status list {list} is not a list of the issuer {issuer}")]
    Mismatch { list: String, issuer: String },
    #[error("the credential is revoked (index {index} of {list})")]
    Revoked { list: String, index: U256 },
    #[error("no chain is configured for did:ethr network {network:?}")]
    UnknownNetwork { network: String },
    #[error("{network} status data is stale: the node has not answered for {seconds} s")]
    Unavailable { network: String, seconds: u64 },
    /// A published status list could not be fetched or did not verify.
    #[error("status list {list} is unavailable: {reason}")]
    ListUnavailable { list: String, reason: String },
    /// A published list at a URL its issuer is not allowed to publish at:
    /// refused before any request is made.
    #[error("status list {list} is not at a URL allowed for the issuer {issuer}")]
    NotAllowed { list: String, issuer: String },
}

impl StatusError {
    /// Stable reason code for refusals and the decision log.
    pub fn reason_code(&self) -> &'static str {
        match self {
            StatusError::InvalidEntry { .. } => "status_entry_invalid",
            StatusError::Unsupported { .. } => "status_list_unsupported",
            StatusError::Mismatch { .. } => "status_list_mismatch",
            StatusError::Revoked { .. } => "credential_revoked",
            StatusError::UnknownNetwork { .. } => "unknown_network",
            StatusError::Unavailable { .. } => "chain_unavailable",
            StatusError::ListUnavailable { .. } => "status_unavailable",
            StatusError::NotAllowed { .. } => "status_list_not_allowed",
        }
    }

    /// Whether the status cannot be checked right now (the chain is stale or
    /// the list cannot be fetched): retry, never a pass.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StatusError::Unavailable { .. } | StatusError::ListUnavailable { .. }
        )
    }
}

/// Checks a credential status entry; called by the verifier for every entry
/// of every credential, on the request path. Async because a published list
/// may have to be fetched on a cold cache; a warm check does no I/O (the
/// on-chain checker never does any).
#[async_trait::async_trait]
pub trait StatusChecker: Send + Sync {
    async fn check(&self, entry: &StatusEntry) -> Result<(), StatusError>;
}

type Key = (Address, B256, U256);

/// One network's status registry and its current revoked set (revocations
/// are rare: the whole set is in memory).
pub struct StatusLists {
    network: Arc<EthrNetwork>,
    registry: Address,
    revoked: RwLock<HashSet<Key>>,
}

impl StatusLists {
    /// The status registry at `registry` on the network, with the revoked set
    /// loaded from the index.
    pub async fn load(
        network: Arc<EthrNetwork>,
        registry: Address,
    ) -> Result<Arc<Self>, IndexError> {
        let lists = Arc::new(Self {
            network,
            registry,
            revoked: RwLock::new(HashSet::new()),
        });
        lists.reload().await?;
        Ok(lists)
    }

    pub fn registry(&self) -> Address {
        self.registry
    }

    pub fn network(&self) -> &Arc<EthrNetwork> {
        &self.network
    }

    /// Rebuild the set from the index (at start and after a rollback).
    pub async fn reload(&self) -> Result<(), IndexError> {
        let changes = self
            .network
            .index
            .status_changes(&self.network.config.name)
            .await?;
        let mut set = HashSet::new();
        for c in changes {
            apply(&mut set, &c);
        }
        *self.write() = set;
        Ok(())
    }

    /// Apply changes just committed to the index, in chain order.
    pub(crate) fn apply(&self, changes: &[StatusChange]) {
        if changes.is_empty() {
            return;
        }
        let mut set = self.write();
        for c in changes {
            apply(&mut set, c);
        }
    }

    /// Whether a bit is set, as far as the index knows.
    pub fn is_revoked(&self, issuer: Address, list_id: B256, index: U256) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(issuer, list_id, index))
    }

    /// How many bits are set (for `chain status`).
    pub fn revoked_count(&self) -> usize {
        self.revoked.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashSet<Key>> {
        // A panic while holding the lock cannot leave the set half-updated
        // (inserts/removes are atomic), so a poisoned lock is still usable.
        self.revoked.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn apply(set: &mut HashSet<Key>, c: &StatusChange) {
    let key = (c.issuer, c.list_id, c.index);
    if c.revoked {
        set.insert(key);
    } else {
        set.remove(&key);
    }
}

/// [`StatusChecker`] over the followed did:ethr networks.
pub struct EthrStatusChecker {
    networks: Vec<Arc<EthrNetwork>>,
    lists: HashMap<String, Arc<StatusLists>>,
}

impl EthrStatusChecker {
    /// `networks`: every followed network; `lists`: those with a status registry.
    pub fn new(networks: Vec<Arc<EthrNetwork>>, lists: Vec<Arc<StatusLists>>) -> Self {
        Self {
            networks,
            lists: lists
                .into_iter()
                .map(|l| (l.network.config.name.clone(), l))
                .collect(),
        }
    }

    fn network(&self, name: &str) -> Option<&Arc<EthrNetwork>> {
        self.networks
            .iter()
            .find(|n| n.config.name == name)
            .or_else(|| {
                let id = hex_chain_id(name)?;
                self.networks
                    .iter()
                    .find(|n| n.chain_id.load(Ordering::Acquire) == id)
            })
    }

    /// The check itself: a lookup in the in-memory revoked set, no I/O.
    pub fn check_now(&self, entry: &StatusEntry) -> Result<(), StatusError> {
        let list = &entry.list;
        if list.starts_with("https://") || list.starts_with("http://") {
            return Err(StatusError::Unsupported {
                list: list.clone(),
                reason: "HTTP-published status lists are checked by the HTTP status checker, \
                         not the on-chain one"
                    .into(),
            });
        }
        if !list.starts_with("did:ethr:") {
            return Err(StatusError::Unsupported {
                list: list.clone(),
                reason: "only did:ethr status lists are checked".into(),
            });
        }
        let url = ListUrl::parse(list)?;
        let mismatch = || StatusError::Mismatch {
            list: list.clone(),
            issuer: entry.issuer.clone(),
        };
        let issuer = EthrDid::parse(&entry.issuer).map_err(|_| mismatch())?;
        if issuer.address != url.did.address {
            return Err(mismatch());
        }
        let net = self
            .network(&url.did.network)
            .ok_or_else(|| StatusError::UnknownNetwork {
                network: url.did.network.clone(),
            })?;
        // The issuer's DID must name the same chain as the list.
        match self.network(&issuer.network) {
            Some(n) if Arc::ptr_eq(n, net) => {}
            _ => return Err(mismatch()),
        }
        let lists = self
            .lists
            .get(&net.config.name)
            .ok_or_else(|| StatusError::Unsupported {
                list: list.clone(),
                reason: format!(
                    "chain {} has no status_registry configured",
                    net.config.name
                ),
            })?;
        let last = net.last_ok_ms.load(Ordering::Acquire);
        let age_ms = crate::clock::monotonic_ms().saturating_sub(last);
        if last == 0 || age_ms > super::resolver::staleness_ms(&net.config) {
            return Err(StatusError::Unavailable {
                network: net.config.name.clone(),
                seconds: if last == 0 {
                    u64::MAX
                } else {
                    (age_ms / 1000) as u64
                },
            });
        }
        if lists.is_revoked(url.did.address, url.list_id, entry.index) {
            return Err(StatusError::Revoked {
                list: list.clone(),
                index: entry.index,
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StatusChecker for EthrStatusChecker {
    async fn check(&self, entry: &StatusEntry) -> Result<(), StatusError> {
        self.check_now(entry)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn list_names() {
        assert!(list_id("employees-2026_a").is_ok());
        assert!(list_id(&"a".repeat(32)).is_ok());
        for bad in ["", "a b", "é", "x/y", &"a".repeat(33)] {
            assert_eq!(
                list_id(bad).unwrap_err().reason_code(),
                "status_entry_invalid"
            );
        }
        let id = list_id("hr").unwrap();
        assert_eq!(&id[..2], b"hr");
        assert!(id[2..].iter().all(|b| *b == 0));
    }

    #[test]
    fn list_urls() {
        let u = ListUrl::parse("did:ethr:dev:0x1111111111111111111111111111111111111111/status/hr")
            .unwrap();
        assert_eq!(u.did.network, "dev");
        assert_eq!(u.name, "hr");
        for bad in [
            "did:ethr:dev:0x1111111111111111111111111111111111111111",
            "did:ethr:dev:0x1111111111111111111111111111111111111111/lists/hr",
            "did:ethr:dev:0x1111111111111111111111111111111111111111/status/",
            "did:ethr:dev:0x1111111111111111111111111111111111111111/status/hr#x",
            "did:ethr:dev:0xzz/status/hr",
        ] {
            assert!(ListUrl::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(url in ".{0,120}", index in ".{0,90}", purpose in "[a-z]{0,12}") {
            let _ = ListUrl::parse(&url);
            let _ = StatusEntry::from_json("did:ethr:dev:0x1111111111111111111111111111111111111111", &serde_json::json!({
                "type": ENTRY_TYPE, "statusPurpose": purpose,
                "statusListIndex": index, "statusListCredential": url,
            }));
        }

        #[test]
        fn entries_round_trip(name in "[A-Za-z0-9_-]{1,32}", index in proptest::prelude::any::<u64>(), hex in "[0-9a-f]{40}") {
            let did = format!("did:ethr:dev:0x{hex}");
            let list = list_url(&did, &name);
            let parsed = ListUrl::parse(&list).unwrap();
            proptest::prop_assert_eq!(&parsed.name, &name);
            proptest::prop_assert_eq!(parsed.list_id, list_id(&name).unwrap());
            let entries = StatusEntry::from_json(&did, &StatusEntry::to_json(&list, U256::from(index))).unwrap();
            proptest::prop_assert_eq!(entries, vec![StatusEntry { issuer: did, list, index: U256::from(index) }]);
        }
    }
}
