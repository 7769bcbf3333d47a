//! A did:ethr DID document from an identity's registry events, per the
//! did:ethr method specification.
//!
//! The output is the document ethr-did-resolver 11 produces for the same
//! events (the interop tests compare them): the same verification method ids
//! (`#controller`, `#controllerKey`, `#delegate-N`, `#service-N`, numbered in
//! event order, revoked entries keeping their number), the same legacy key
//! types and encodings, the same ordering, and the same metadata
//! (`versionId`/`updated`, `nextVersionId`/`nextUpdate`, `deactivated`).
//! One behaviour is reproduced deliberately for equality: a revoked `enc`
//! key stays listed under `keyAgreement` (its verification method is removed,
//! so it can never verify anything). One differs on purpose: a revocation
//! (`validTo` = its block's time) counts from its block, where
//! ethr-did-resolver keeps the entry until the wall clock has left that
//! second; the interop test resolves their side after that second.
//!
//! Bytes that are not UTF-8 are never decoded lossily. As ethr-did-resolver
//! 11.1 does (11.0 failed the whole resolution), an event whose bytes32
//! delegate type or attribute name is not UTF-8 is skipped as if it were not
//! there, and a `did/svc/…` endpoint or `…/pem` key whose value is not UTF-8
//! is left out (it still takes its `#service-N`/`#delegate-N` number).

use alloy_primitives::{Address, U256};
use base64::Engine;
use serde_json::{json, Map, Value};

use super::did::EthrDid;
use super::events::{bytes32_to_string, EventKind, RegistryEvent};
use crate::document::{DidDocument, KeyMaterial, VerificationMethod};
use crate::key::PublicKey;

/// The result of resolving a did:ethr from its events.
#[derive(Debug, Clone)]
pub struct EthrResolution {
    /// The DID document as DID Core JSON (with `@context`).
    pub document: Value,
    /// DID document metadata (`versionId`, `updated`, `nextVersionId`, `nextUpdate`, `deactivated`).
    pub metadata: Value,
    /// The same document, typed, for signature checks.
    pub typed: DidDocument,
    pub deactivated: bool,
    /// Block of the last change included (0: never changed).
    pub version_id: u64,
    /// Earliest `validTo` of an entry still in the document: the document changes then.
    pub valid_until: Option<u64>,
}

/// The block facts the metadata needs.
pub trait BlockTimes {
    /// Unix seconds of a block that carried an event, if known.
    fn timestamp(&self, block: u64) -> Option<u64>;
}

impl<F: Fn(u64) -> Option<u64>> BlockTimes for F {
    fn timestamp(&self, block: u64) -> Option<u64> {
        self(block)
    }
}

/// Insertion-ordered map with JavaScript object semantics: setting an
/// existing key keeps its place, deleting and setting again moves it last.
struct Ordered<V>(Vec<(String, V)>);

impl<V> Ordered<V> {
    fn new() -> Self {
        Ordered(Vec::new())
    }
    fn set(&mut self, k: &str, v: V) {
        match self.0.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v,
            None => self.0.push((k.to_owned(), v)),
        }
    }
    fn remove(&mut self, k: &str) {
        self.0.retain(|(key, _)| key != k);
    }
    fn values(self) -> impl Iterator<Item = V> {
        self.0.into_iter().map(|(_, v)| v)
    }
}

/// A public key entry before rendering.
struct PubKey {
    json: Value,
    material: Option<KeyMaterial>,
}

/// Build the document of `did` from its events (in chain order), as of
/// `at_block` (`None`: latest), at time `now` (unix seconds; for a
/// historical resolution, the timestamp of `at_block`).
pub fn build_document(
    did: &EthrDid,
    chain_id: u64,
    events: &[RegistryEvent],
    at_block: Option<u64>,
    now: u64,
    times: &dyn BlockTimes,
) -> EthrResolution {
    let id = did.did.as_str();
    let address = did.address.to_checksum(None);
    let now_u = U256::from(now);
    let mut controller = did.address;
    let mut version_id = 0u64;
    let mut next_version_id: Option<u64> = None;
    let mut deactivated = false;
    let mut delegate_count = 0u32;
    let mut service_count = 0u32;
    let mut auth: Ordered<String> = Ordered::new();
    let mut key_agreement: Ordered<String> = Ordered::new();
    let mut signing: Ordered<String> = Ordered::new();
    let mut pks: Ordered<PubKey> = Ordered::new();
    let mut services: Ordered<Value> = Ordered::new();
    let mut valid_until: Option<u64> = None;

    for event in events {
        // An event whose bytes32 delegate type or attribute name is not UTF-8
        // is not a DID event (some other use of the registry): like
        // ethr-did-resolver (11.1), skip it as if it were not there — no
        // version, no numbering, no revocation.
        let Some(label) = event_label(&event.kind) else {
            continue;
        };
        if let Some(at) = at_block {
            if event.block_number > at {
                next_version_id =
                    Some(next_version_id.map_or(event.block_number, |n| n.min(event.block_number)));
                continue;
            }
        }
        version_id = version_id.max(event.block_number);
        let (valid_to, index) = match &event.kind {
            EventKind::OwnerChanged { .. } => (U256::ZERO, String::new()),
            EventKind::DelegateChanged {
                delegate, valid_to, ..
            } => {
                let t = if label.is_empty() {
                    "undefined"
                } else {
                    label.as_str()
                };
                (
                    *valid_to,
                    format!("DIDDelegateChanged-{t}-{}", delegate.to_checksum(None)),
                )
            }
            EventKind::AttributeChanged {
                value, valid_to, ..
            } => (
                *valid_to,
                format!("DIDAttributeChanged-{label}-0x{}", hex::encode(value)),
            ),
        };
        // A change whose validTo is not after its own block's time is a
        // revocation (revoke* sets validTo = block.timestamp): it takes effect
        // in that block, not when the wall clock leaves that second.
        let revoked_in_block = times
            .timestamp(event.block_number)
            .is_some_and(|ts| valid_to <= U256::from(ts));
        if !valid_to.is_zero() && valid_to >= now_u && !revoked_in_block {
            let expiry = u64::try_from(valid_to).unwrap_or(u64::MAX);
            match &event.kind {
                EventKind::DelegateChanged { delegate, .. } => {
                    delegate_count += 1;
                    let vm_id = format!("{id}#delegate-{delegate_count}");
                    let t = label.as_str();
                    if t == "sigAuth" || t == "veriKey" {
                        if t == "sigAuth" {
                            auth.set(&index, vm_id.clone());
                        }
                        pks.set(
                            &index,
                            PubKey {
                                json: recovery_method(&vm_id, id, chain_id, delegate),
                                material: Some(KeyMaterial::EthereumAddress(delegate.into_array())),
                            },
                        );
                        signing.set(&index, vm_id);
                        valid_until = Some(valid_until.map_or(expiry, |v| v.min(expiry)));
                    }
                }
                EventKind::AttributeChanged { value, .. } => {
                    let Some(attr) = parse_attribute_name(&label) else {
                        continue;
                    };
                    match attr.section {
                        "pub" => {
                            delegate_count += 1;
                            let vm_id = format!("{id}#delegate-{delegate_count}");
                            // A `pem` value that is not UTF-8 is no key: skipped
                            // (its number is taken), as ethr-did-resolver does.
                            let Some(pk) = public_key_entry(&vm_id, id, &attr, value) else {
                                continue;
                            };
                            pks.set(&index, pk);
                            match attr.purpose {
                                Some("sigAuth") => {
                                    auth.set(&index, vm_id.clone());
                                    signing.set(&index, vm_id);
                                }
                                Some("enc") => key_agreement.set(&index, vm_id),
                                _ => signing.set(&index, vm_id),
                            }
                        }
                        _ => {
                            service_count += 1;
                            // An endpoint that is not UTF-8 is no service:
                            // skipped (its number is taken), as in ethr-did-resolver.
                            let Ok(text) = std::str::from_utf8(value) else {
                                continue;
                            };
                            let endpoint = serde_json::from_str::<Value>(text)
                                .unwrap_or_else(|_| Value::String(text.to_owned()));
                            services.set(
                                &index,
                                json!({
                                    "id": format!("{id}#service-{service_count}"),
                                    "type": attr.algorithm,
                                    "serviceEndpoint": endpoint,
                                }),
                            );
                        }
                    }
                    valid_until = Some(valid_until.map_or(expiry, |v| v.min(expiry)));
                }
                EventKind::OwnerChanged { .. } => {}
            }
        } else if let EventKind::OwnerChanged { owner } = &event.kind {
            controller = *owner;
            if *owner == Address::ZERO {
                deactivated = true;
                break;
            }
        } else {
            match &event.kind {
                EventKind::DelegateChanged { .. } => delegate_count += 1,
                EventKind::AttributeChanged { .. } => {
                    if label.starts_with("did/pub/") {
                        delegate_count += 1;
                    } else if label.starts_with("did/svc/") {
                        service_count += 1;
                    }
                }
                EventKind::OwnerChanged { .. } => {}
            }
            auth.remove(&index);
            signing.remove(&index);
            pks.remove(&index);
            services.remove(&index);
        }
    }

    let context = json!([
        "https://www.w3.org/ns/did/v1",
        "https://w3id.org/security/suites/secp256k1recovery-2020/v2",
        "https://w3id.org/security/v3-unstable"
    ]);
    let mut metadata = Map::new();
    if deactivated {
        metadata.insert("deactivated".into(), Value::Bool(true));
    }
    if version_id != 0 {
        metadata.insert("versionId".into(), Value::String(version_id.to_string()));
        if let Some(ts) = times.timestamp(version_id) {
            metadata.insert("updated".into(), Value::String(iso_date(ts)));
        }
    }
    if let Some(next) = next_version_id {
        metadata.insert("nextVersionId".into(), Value::String(next.to_string()));
        if let Some(ts) = times.timestamp(next) {
            metadata.insert("nextUpdate".into(), Value::String(iso_date(ts)));
        }
    }

    if deactivated {
        return EthrResolution {
            document: json!({
                "id": id, "verificationMethod": [], "authentication": [], "assertionMethod": [],
                "@context": context,
            }),
            metadata: Value::Object(metadata),
            typed: DidDocument::new(id.to_owned(), Vec::new(), Vec::new(), Vec::new()),
            deactivated,
            version_id,
            valid_until: None,
        };
    }

    let controller_id = format!("{id}#controller");
    let mut vms: Vec<PubKey> = vec![PubKey {
        json: recovery_method(&controller_id, id, chain_id, &controller),
        material: Some(KeyMaterial::EthereumAddress(controller.into_array())),
    }];
    let mut authentication = vec![controller_id.clone()];
    let mut assertion = vec![controller_id];
    if let (Some(pk_hex), true) = (&did.public_key, controller.to_checksum(None) == address) {
        let key_id = format!("{id}#controllerKey");
        let hex_digits = pk_hex.strip_prefix("0x").unwrap_or(pk_hex);
        vms.push(PubKey {
            json: json!({
                "id": key_id, "type": "EcdsaSecp256k1VerificationKey2019",
                "controller": id, "publicKeyHex": hex_digits,
            }),
            material: hex::decode(hex_digits)
                .ok()
                .and_then(|b| PublicKey::secp256k1_from_sec1(&b).ok())
                .map(KeyMaterial::Key),
        });
        authentication.push(key_id.clone());
        assertion.push(key_id);
    }
    vms.extend(pks.values());
    authentication.extend(auth.values());
    assertion.extend(signing.values());

    let typed_vms: Vec<VerificationMethod> = vms
        .iter()
        .filter_map(|pk| {
            Some(VerificationMethod::new(
                pk.json["id"].as_str()?.to_owned(),
                pk.json["type"].as_str()?.to_owned(),
                id.to_owned(),
                pk.material.clone()?,
            ))
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("id".into(), Value::String(id.to_owned()));
    doc.insert(
        "verificationMethod".into(),
        Value::Array(vms.into_iter().map(|pk| pk.json).collect()),
    );
    doc.insert("authentication".into(), json!(authentication));
    doc.insert("assertionMethod".into(), json!(assertion));
    let services: Vec<Value> = services.values().collect();
    if !services.is_empty() {
        doc.insert("service".into(), Value::Array(services));
    }
    let key_agreement: Vec<String> = key_agreement.values().collect();
    if !key_agreement.is_empty() {
        doc.insert("keyAgreement".into(), json!(key_agreement));
    }
    doc.insert("@context".into(), context);
    let document = Value::Object(doc);
    let typed = DidDocument::new(id.to_owned(), typed_vms, authentication, assertion)
        .with_rendered(document.clone());
    EthrResolution {
        document,
        metadata: Value::Object(metadata),
        typed,
        deactivated,
        version_id,
        valid_until,
    }
}

fn recovery_method(vm_id: &str, did: &str, chain_id: u64, account: &Address) -> Value {
    json!({
        "id": vm_id,
        "type": "EcdsaSecp256k1RecoveryMethod2020",
        "controller": did,
        "blockchainAccountId": format!("eip155:{chain_id}:{}", account.to_checksum(None)),
    })
}

/// `did/pub/<algorithm>/<purpose>/<encoding>` or `did/svc/<type>`.
struct AttributeName<'a> {
    section: &'a str,
    algorithm: &'a str,
    purpose: Option<&'a str>,
    encoding: Option<&'a str>,
}

fn parse_attribute_name(name: &str) -> Option<AttributeName<'_>> {
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let mut parts = name.split('/');
    if parts.next()? != "did" {
        return None;
    }
    let section = parts.next()?;
    if section != "pub" && section != "svc" {
        return None;
    }
    let algorithm = parts.next().filter(|s| word(s))?;
    let purpose = parts.next();
    let encoding = parts.next();
    if parts.next().is_some() || !purpose.is_none_or(word) || !encoding.is_none_or(word) {
        return None;
    }
    Some(AttributeName {
        section,
        algorithm,
        purpose,
        encoding,
    })
}

/// The legacy key type names ethr-did-resolver 11 gives attribute keys.
fn key_type(algorithm: &str, purpose: Option<&str>) -> String {
    let suffix = match purpose {
        Some("sigAuth") => "SignatureAuthentication2018",
        Some("veriKey") => "VerificationKey2018",
        Some("enc") => "KeyAgreementKey2019",
        Some(other) => other,
        None => "undefined",
    };
    match format!("{algorithm}{suffix}").as_str() {
        "Secp256k1VerificationKey2018" | "Secp256k1SignatureAuthentication2018" => {
            "EcdsaSecp256k1VerificationKey2019".into()
        }
        "Ed25519SignatureAuthentication2018" | "Ed25519VerificationKey2018" => {
            "Ed25519VerificationKey2018".into()
        }
        "RSAVerificationKey2018" => "RSAVerificationKey2018".into(),
        "X25519KeyAgreementKey2019" => "X25519KeyAgreementKey2019".into(),
        _ => algorithm.into(),
    }
}

/// A `did/pub/…` attribute as a verification method; `None` for a `pem`
/// value that is not UTF-8.
fn public_key_entry(
    vm_id: &str,
    did: &str,
    attr: &AttributeName<'_>,
    value: &[u8],
) -> Option<PubKey> {
    let type_ = key_type(attr.algorithm, attr.purpose);
    let mut json = json!({ "id": vm_id, "type": type_, "controller": did });
    match attr.encoding {
        None | Some("hex") => json["publicKeyHex"] = json!(hex::encode(value)),
        Some("base64") => {
            json["publicKeyBase64"] = json!(base64::engine::general_purpose::STANDARD.encode(value))
        }
        Some("base58") => json["publicKeyBase58"] = json!(bs58::encode(value).into_string()),
        Some("pem") => json["publicKeyPem"] = json!(std::str::from_utf8(value).ok()?),
        Some(_) => json["value"] = json!(hex::encode(value)),
    }
    // Only keys that can verify a JOSE signature get key material.
    let material = match type_.as_str() {
        "EcdsaSecp256k1VerificationKey2019" => PublicKey::secp256k1_from_sec1(value).ok(),
        "Ed25519VerificationKey2018" => <&[u8; 32]>::try_from(value)
            .ok()
            .and_then(|b| PublicKey::ed25519_from_bytes(b).ok()),
        _ => None,
    }
    .map(KeyMaterial::Key);
    Some(PubKey { json, material })
}

/// The text of an event's bytes32 field — the delegate type or the
/// attribute name, trailing NULs removed — or `None` when it is not UTF-8
/// (the event is then no DID event). An owner change has none (`""`).
fn event_label(kind: &EventKind) -> Option<String> {
    match kind {
        EventKind::OwnerChanged { .. } => Some(String::new()),
        EventKind::DelegateChanged { delegate_type, .. } => bytes32_to_string(delegate_type),
        EventKind::AttributeChanged { name, .. } => bytes32_to_string(name),
    }
}

/// `2026-11-25T07:00:00Z`, as ethr-did-resolver writes block times.
pub(crate) fn iso_date(unix: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ethr::events::string_to_bytes32;
    use alloy_primitives::{Bytes, B256};

    fn ev(block: u64, kind: EventKind) -> RegistryEvent {
        RegistryEvent {
            identity: Address::ZERO,
            block_number: block,
            log_index: 0,
            previous_change: 0,
            kind,
        }
    }
    fn attr(block: u64, name: &str, value: &[u8], valid_to: u64) -> RegistryEvent {
        ev(
            block,
            EventKind::AttributeChanged {
                name: string_to_bytes32(name).unwrap(),
                value: Bytes::copy_from_slice(value),
                valid_to: U256::from(valid_to),
            },
        )
    }
    fn delegate(block: u64, t: &str, who: Address, valid_to: u64) -> RegistryEvent {
        ev(
            block,
            EventKind::DelegateChanged {
                delegate_type: string_to_bytes32(t).unwrap(),
                delegate: who,
                valid_to: U256::from(valid_to),
            },
        )
    }
    /// Block n was mined at time 900 + n.
    fn block_times(b: u64) -> Option<u64> {
        Some(900 + b)
    }

    const DID: &str = "did:ethr:0x7a69:0xb9c5714089478a327f09197987f16f9e5d936e8a";

    #[test]
    fn unchanged_did_has_only_its_controller() {
        let d = EthrDid::parse(DID).unwrap();
        let r = build_document(&d, 31337, &[], None, 1000, &block_times);
        assert_eq!(
            r.document["verificationMethod"][0]["blockchainAccountId"],
            "eip155:31337:0xB9C5714089478a327F09197987f16f9E5d936E8a"
        );
        assert_eq!(
            r.document["authentication"],
            json!([format!("{DID}#controller")])
        );
        assert_eq!(r.metadata, json!({}));
        assert_eq!(r.typed.verification_method.len(), 1);
    }

    #[test]
    fn delegates_attributes_and_revocation_keep_numbering() {
        let d = EthrDid::parse(DID).unwrap();
        let a = Address::repeat_byte(0xaa);
        let b = Address::repeat_byte(0xbb);
        let events = vec![
            delegate(5, "sigAuth", a, 10_000),
            delegate(6, "veriKey", b, 10_000),
            attr(7, "did/svc/HubService", b"https://hub.example", 10_000),
            attr(8, "did/pub/Ed25519/veriKey/base64", &[7u8; 32], 10_000),
            delegate(9, "sigAuth", a, 0), // revoked
        ];
        let r = build_document(&d, 31337, &events, None, 1000, &block_times);
        let ids: Vec<&str> = r.document["verificationMethod"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                format!("{DID}#controller"),
                format!("{DID}#delegate-2"),
                format!("{DID}#delegate-3")
            ]
        );
        assert_eq!(
            r.document["authentication"],
            json!([format!("{DID}#controller")])
        );
        assert_eq!(r.document["service"][0]["id"], format!("{DID}#service-1"));
        assert_eq!(
            r.document["verificationMethod"][2]["type"],
            "Ed25519VerificationKey2018"
        );
        assert_eq!(r.metadata["versionId"], "9");
        assert_eq!(r.valid_until, Some(10_000));
        // Historical: as of block 5 only the first delegate exists.
        let h = build_document(&d, 31337, &events, Some(5), 1000, &block_times);
        assert_eq!(h.document["authentication"][1], format!("{DID}#delegate-1"));
        assert_eq!(h.metadata["nextVersionId"], "6");
        // Expired entries are gone.
        let later = build_document(&d, 31337, &events, None, 10_001, &block_times);
        assert_eq!(
            later.document["verificationMethod"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn revocation_counts_from_its_block_not_the_next_second() {
        let d = EthrDid::parse(DID).unwrap();
        let a = Address::repeat_byte(0xaa);
        let times = |b: u64| Some(1000 + b);
        // Added in block 5; revoked in block 6 (validTo = block 6's time).
        let events = vec![
            delegate(5, "sigAuth", a, 9_000),
            delegate(6, "sigAuth", a, 1006),
        ];
        for now in [1006, 1007] {
            let r = build_document(&d, 1, &events, None, now, &times);
            assert_eq!(r.typed.verification_method.len(), 1, "revoked at {now}");
        }
        // As of block 5 it was there.
        let h = build_document(&d, 1, &events, Some(5), 1005, &times);
        assert_eq!(h.typed.verification_method.len(), 2);
    }

    #[test]
    fn owner_change_and_deactivation() {
        let d = EthrDid::parse(DID).unwrap();
        let new_owner = Address::repeat_byte(0x42);
        let events = vec![
            ev(3, EventKind::OwnerChanged { owner: new_owner }),
            ev(
                4,
                EventKind::OwnerChanged {
                    owner: Address::ZERO,
                },
            ),
        ];
        let r = build_document(&d, 1, &events[..1], None, 1000, &block_times);
        assert!(r.document["verificationMethod"][0]["blockchainAccountId"]
            .as_str()
            .unwrap()
            .ends_with(&new_owner.to_checksum(None)));
        let r = build_document(&d, 1, &events, None, 1000, &block_times);
        assert!(r.deactivated);
        assert_eq!(r.metadata["deactivated"], true);
        assert_eq!(r.document["verificationMethod"], json!([]));
        assert!(r.typed.verification_method.is_empty());
    }

    /// Continuation bytes without a lead byte, NUL-padded to bytes32 (the
    /// value ethr-did-resolver's own tests use).
    fn not_utf8_32() -> B256 {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&[0x80, 0x81, 0x82, 0x83]);
        B256::from(b)
    }
    const NOT_UTF8: &[u8] = &[0x80, 0x81, 0x82, 0x83];

    fn ids(r: &EthrResolution, key: &str) -> Vec<String> {
        r.document[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|v| v.as_str().or_else(|| v["id"].as_str()).unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn events_with_a_type_or_name_that_is_not_utf8_are_skipped() {
        let d = EthrDid::parse(DID).unwrap();
        let a = Address::repeat_byte(0xaa);
        let bad_delegate = ev(
            3,
            EventKind::DelegateChanged {
                delegate_type: not_utf8_32(),
                delegate: a,
                valid_to: U256::from(10_000u64),
            },
        );
        let bad_attribute = ev(
            4,
            EventKind::AttributeChanged {
                name: not_utf8_32(),
                value: Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]),
                valid_to: U256::from(10_000u64),
            },
        );
        // Alone, each leaves the document (and its metadata) untouched.
        for e in [&bad_delegate, &bad_attribute] {
            let r = build_document(&d, 1, std::slice::from_ref(e), None, 1000, &block_times);
            assert_eq!(ids(&r, "verificationMethod"), [format!("{DID}#controller")]);
            assert_eq!(r.metadata, json!({}), "not a version either");
            assert_eq!(r.valid_until, None);
        }
        // Beside DID events they take no number, no version and no `next`.
        let events = vec![
            bad_delegate.clone(),
            delegate(5, "veriKey", a, 10_000),
            ev(6, bad_attribute.kind.clone()),
        ];
        let r = build_document(&d, 1, &events, None, 1000, &block_times);
        assert_eq!(
            ids(&r, "verificationMethod"),
            [format!("{DID}#controller"), format!("{DID}#delegate-1")]
        );
        assert_eq!(ids(&r, "assertionMethod").len(), 2);
        assert_eq!(r.metadata["versionId"], "5");
        let h = build_document(&d, 1, &events, Some(5), 1000, &block_times);
        assert_eq!(h.metadata.get("nextVersionId"), None, "{}", h.metadata);
        // A revocation under a name that is not UTF-8 revokes nothing.
        let revoke = ev(
            7,
            EventKind::DelegateChanged {
                delegate_type: not_utf8_32(),
                delegate: a,
                valid_to: U256::ZERO,
            },
        );
        let mut with_revoke = events.clone();
        with_revoke.push(revoke);
        let r = build_document(&d, 1, &with_revoke, None, 1000, &block_times);
        assert_eq!(ids(&r, "verificationMethod").len(), 2);
        assert_eq!(r.metadata["versionId"], "5");
    }

    #[test]
    fn services_and_pem_keys_that_are_not_utf8_are_left_out() {
        let d = EthrDid::parse(DID).unwrap();
        let events = vec![
            attr(3, "did/svc/HubService", NOT_UTF8, 10_000),
            attr(4, "did/pub/Secp256k1/veriKey/pem", NOT_UTF8, 10_000),
            attr(5, "did/svc/HubService", b"https://hub.example", 10_000),
            attr(
                6,
                "did/pub/RSA/veriKey/pem",
                b"-----BEGIN PUBLIC KEY-----",
                10_000,
            ),
        ];
        // Each alone: no service, no key; still a version of the document.
        let r = build_document(&d, 1, &events[..1], None, 1000, &block_times);
        assert_eq!(r.document.get("service"), None, "{}", r.document);
        assert_eq!(ids(&r, "verificationMethod").len(), 1);
        assert_eq!(r.metadata["versionId"], "3");
        let r = build_document(&d, 1, &events[1..2], None, 1000, &block_times);
        assert_eq!(ids(&r, "verificationMethod").len(), 1);
        assert_eq!(ids(&r, "assertionMethod").len(), 1);
        // They keep their numbers: the valid ones come second.
        let r = build_document(&d, 1, &events, None, 1000, &block_times);
        assert_eq!(ids(&r, "service"), [format!("{DID}#service-2")]);
        assert_eq!(
            r.document["service"][0]["serviceEndpoint"],
            "https://hub.example"
        );
        assert_eq!(
            ids(&r, "verificationMethod"),
            [format!("{DID}#controller"), format!("{DID}#delegate-2")]
        );
        assert_eq!(
            r.document["verificationMethod"][1]["publicKeyPem"],
            "-----BEGIN PUBLIC KEY-----"
        );
        // Nothing lossy anywhere in the output.
        assert!(!r.document.to_string().contains('\u{fffd}'));
    }

    #[test]
    fn attribute_names_parse_like_the_spec() {
        assert!(parse_attribute_name("did/pub/Secp256k1/veriKey/hex").is_some());
        assert!(parse_attribute_name("did/svc/HubService").is_some());
        for bad in [
            "did/pub",
            "did/xyz/A",
            "did/pub/A/b/c/d",
            "did/pub/A-B",
            "foo/pub/A",
            "did/pub//x",
        ] {
            assert!(parse_attribute_name(bad).is_none(), "{bad}");
        }
        assert_eq!(iso_date(0), "1970-01-01T00:00:00Z");
    }
}
