//! Authentication: turn the request's credential into a verified `Identity`:
//! `Authorization: Bearer <VP-JWT>` (a verifiable presentation signed by the
//! holder, carrying VC-JWTs), a browser session, or an HTTP message
//! signature by a service's DID key (`signed.rs`). Every presentation is
//! single-use: its (holder, jti|nonce) is remembered until it expires, and a
//! second use is refused as `replayed_presentation`; a signature's nonce
//! likewise (`replayed_signature`).

use std::sync::Arc;
use std::time::Duration;

use credentials::{VerifiedPresentation, Verifier};
use http::{header, HeaderMap};
use moka::sync::Cache;

use crate::request::mtls::{self, CertifiedBy, PeerCertificate};
use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::{credential_refusal, Refusal};
pub use crate::request::replay::{ReplayCache, ReplayError};
use crate::request::session::{Session, Sessions};
use crate::request::signed::{Received, SignedBy, SignedRequests};

/// How a request (or a login) proved who it is. Its `as_str` is what
/// policies (`context.auth_method`), the identity assertion, the risk
/// engine and the decision log see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// A bearer verifiable presentation (`Authorization: Bearer <VP-JWT>`).
    VpJwt,
    /// A browser session opened by a wallet login.
    Session,
    /// A wallet login itself (OpenID4VP), as the login endpoints record it.
    OpenId4Vp,
    /// An HTTP message signature by the caller's DID key (RFC 9421).
    HttpSignature,
    /// A TLS client certificate whose key is the caller's DID key.
    Mtls,
}

impl AuthMethod {
    pub const fn as_str(self) -> &'static str {
        match self {
            AuthMethod::VpJwt => "vp_jwt",
            AuthMethod::Session => "session",
            AuthMethod::OpenId4Vp => "openid4vp",
            AuthMethod::HttpSignature => "http_signature",
            AuthMethod::Mtls => "mtls",
        }
    }
}

/// An authenticated request: who, and how.
#[derive(Debug, Clone)]
pub struct Identity {
    pub principal: Arc<Principal>,
    /// A bearer presentation or a browser session.
    pub auth_method: AuthMethod,
    /// The presentation's nonce (a step-up challenge it may answer).
    pub nonce: Option<String>,
    /// The browser session the request came with.
    pub session: Option<Arc<Session>>,
    /// The signature a signed request was verified by.
    pub signed: Option<Arc<SignedBy>>,
    /// The client certificate a request was authenticated by.
    pub certified: Option<Arc<CertifiedBy>>,
    /// A name for `principal` that every request carrying the same holder,
    /// issuers, types and claims shares: the session's, or for a bearer
    /// presentation the digest of its holder and credential tokens. The
    /// policy engine reuses what it built for the principal under it.
    pub principal_key: [u8; 16],
}

impl Identity {
    fn from_presentation(vp: VerifiedPresentation) -> Self {
        let mut principal_key = [0; 16];
        principal_key.copy_from_slice(&vp.principal_digest[..16]);
        Identity {
            principal_key,
            principal: Arc::new(Principal::from_credentials(vp.holder, vp.credentials)),
            auth_method: AuthMethod::VpJwt,
            nonce: vp.nonce,
            session: None,
            signed: None,
            certified: None,
        }
    }

    pub fn did(&self) -> &str {
        &self.principal.did
    }
}

pub struct Authenticator {
    verifier: Arc<Verifier>,
    replay: ReplayCache,
    clock_skew: i64,
    sessions: Option<Arc<Sessions>>,
    signed: SignedRequests,
}

impl Authenticator {
    pub fn new(
        verifier: Arc<Verifier>,
        replay_capacity: u64,
        clock_skew: i64,
        sessions: Option<Arc<Sessions>>,
        signed: SignedRequests,
    ) -> Self {
        Self {
            verifier,
            replay: ReplayCache::new(replay_capacity),
            clock_skew,
            sessions,
            signed,
        }
    }

    /// Signed requests: their settings, nonces and presented credentials.
    pub fn signed(&self) -> &SignedRequests {
        &self.signed
    }

    /// Authenticate a signed request (RFC 9421) by its signature alone: an
    /// `Authorization` header beside it is ambiguous.
    pub async fn authenticate_signed(
        &self,
        received: &Received<'_>,
        now_ms: i64,
    ) -> Result<Identity, Refusal> {
        if received.headers.contains_key(header::AUTHORIZATION) {
            return Err(Refusal::new(
                Reason::AmbiguousCredentials,
                "send either a signed request or an Authorization header, not both",
            ));
        }
        let v = self
            .signed
            .authenticate(&self.verifier, received, now_ms / 1000)
            .await?;
        Ok(Identity {
            principal: v.principal,
            auth_method: AuthMethod::HttpSignature,
            nonce: None,
            session: None,
            signed: Some(Arc::new(v.signed)),
            certified: None,
            principal_key: v.principal_key,
        })
    }

    /// Authenticate a request by its connection's client certificate.
    async fn authenticate_certificate(
        &self,
        cert: &Arc<PeerCertificate>,
        headers: &HeaderMap,
        now_ms: i64,
    ) -> Result<Identity, Refusal> {
        let c = mtls::authenticate(
            &self.verifier,
            &self.signed,
            cert,
            headers,
            now_ms / 1000,
            self.clock_skew,
        )
        .await?;
        Ok(Identity {
            principal: c.principal,
            auth_method: AuthMethod::Mtls,
            nonce: None,
            session: None,
            signed: None,
            certified: Some(Arc::new(c.by)),
            principal_key: c.principal_key,
        })
    }

    /// Check again what an exchange opened with a client certificate was
    /// allowed on.
    pub async fn recheck_certificate(&self, by: &CertifiedBy, now_ms: i64) -> Result<(), Refusal> {
        mtls::recheck(&self.verifier, by, now_ms / 1000, self.clock_skew).await
    }

    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Browser sessions, when enabled.
    pub fn sessions(&self) -> Option<&Arc<Sessions>> {
        self.sessions.as_ref()
    }

    /// Authenticate a request from its headers, or say precisely why not: an
    /// `Authorization` header is a bearer presentation; without one, a
    /// session cookie is the browser's session; without either, the
    /// connection's client certificate (mutual TLS), if it sent one.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        client_cert: Option<&Arc<PeerCertificate>>,
        now_ms: i64,
    ) -> Result<Identity, Refusal> {
        if !headers.contains_key(header::AUTHORIZATION) {
            if let Some(sessions) = &self.sessions {
                if let Some(session) = sessions
                    .authenticate(&self.verifier, headers, now_ms)
                    .await?
                {
                    return Ok(Identity {
                        principal_key: session.principal_key,
                        principal: session.principal.clone(),
                        auth_method: AuthMethod::Session,
                        nonce: None,
                        session: Some(session),
                        signed: None,
                        certified: None,
                    });
                }
            }
            if let Some(cert) = client_cert {
                return self.authenticate_certificate(cert, headers, now_ms).await;
            }
        }
        let now = now_ms / 1000;
        let token = bearer(headers, self.sessions.is_some())?;
        let vp = self
            .verifier
            .verify_presentation(token, now)
            .await
            .map_err(|e| credential_refusal(&e))?;
        let replay = self.replay.first_use(
            &vp.holder,
            &vp.replay_id,
            vp.expires_at,
            now,
            self.clock_skew,
        );
        match replay {
            Ok(()) => {}
            Err(ReplayError::Replayed) => {
                return Err(Refusal::new(
                    Reason::ReplayedPresentation,
                    "this presentation was already used; present a fresh one for every request",
                ))
            }
            Err(ReplayError::Full) => {
                tracing::error!("replay cache full; raise credentials.replay_cache_capacity");
                return Err(Refusal::new(
                    Reason::ReplayCacheFull,
                    "the gateway cannot remember more presentations right now; try again shortly",
                ));
            }
        }
        Ok(Identity::from_presentation(vp))
    }
}

fn bearer(headers: &HeaderMap, sessions: bool) -> Result<&str, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or_else(|| {
        Refusal::new(
            Reason::CredentialMissing,
            if sessions {
                "log in with your wallet, or present a verifiable presentation: Authorization: Bearer <VP-JWT>"
            } else {
                "present a verifiable presentation: Authorization: Bearer <VP-JWT>"
            },
        )
    })?;
    if values.next().is_some() {
        return Err(Refusal::new(
            Reason::AmbiguousCredentials,
            "send exactly one Authorization header",
        ));
    }
    let value = value.to_str().map_err(|_| {
        Refusal::new(
            Reason::MalformedToken,
            "the Authorization header is not ASCII",
        )
    })?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::new(
            Reason::UnsupportedAuthScheme,
            "only the Bearer scheme with a VP-JWT is accepted",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::new(
            Reason::MalformedToken,
            "the bearer token is empty",
        ));
    }
    Ok(token)
}

/// Step-up challenges: a request refused with `step_up_required` gets a
/// fresh random challenge bound to its holder; a presentation whose `nonce`
/// is that challenge (signed by the holder after the refusal, so not a copy
/// made earlier) counts as a successful step-up. Each challenge is single-use
/// and lives five minutes.
pub struct StepUpChallenges {
    open: Cache<String, Arc<str>>,
}

impl StepUpChallenges {
    pub const TTL: Duration = Duration::from_secs(300);

    pub fn new(capacity: u64) -> Self {
        Self {
            // LRU, not TinyLFU: challenges are written and removed, never
            // read, so frequency-based admission would refuse new ones once
            // the cache is full (one holder flooding step-ups would block
            // everyone's).
            open: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(Self::TTL)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .build(),
        }
    }

    /// A new challenge for `holder`.
    pub fn issue(&self, holder: &str) -> String {
        use base64::Engine as _;
        let bytes: [u8; 18] = rand::random();
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        self.open.insert(challenge.clone(), Arc::from(holder));
        challenge
    }

    /// Whether `nonce` answers an open challenge issued to `holder`; the
    /// challenge is used up either way.
    pub fn redeem(&self, nonce: &str, holder: &str) -> bool {
        self.open
            .remove(nonce)
            .is_some_and(|h| h.as_ref() == holder)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http::HeaderValue;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn replay_cache_refuses_second_use() {
        let c = ReplayCache::new(1024);
        assert_eq!(c.first_use("did:a", "n1", 1_100, 1_000, 60), Ok(()));
        assert_eq!(
            c.first_use("did:a", "n1", 1_100, 1_000, 60),
            Err(ReplayError::Replayed)
        );
        assert_eq!(
            c.first_use("did:b", "n1", 1_100, 1_000, 60),
            Ok(()),
            "ids are per holder"
        );
    }

    /// A cache of `n` filled with ids n0..n{n-1} remembered for `skew` s
    /// (exp = now), which then refuses one more as full.
    fn full_cache(n: u64, skew: i64) -> ReplayCache {
        let c = ReplayCache::new(n);
        for i in 0..n {
            assert_eq!(
                c.first_use("did:a", &format!("n{i}"), 1_000, 1_000, skew),
                Ok(())
            );
        }
        assert_eq!(
            c.first_use("did:a", "new", 1_000, 1_000, skew),
            Err(ReplayError::Full)
        );
        c
    }

    #[test]
    fn full_replay_cache_refuses_instead_of_forgetting() {
        let c = full_cache(8, 60);
        // Nothing was evicted to make room: every remembered id is still there.
        assert_eq!(c.len(), 8);
        for i in 0..8 {
            assert_eq!(
                c.first_use("did:a", &format!("n{i}"), 1_100, 1_000, 60),
                Err(ReplayError::Replayed)
            );
        }
    }

    #[test]
    fn expired_ids_are_forgotten_and_make_room() {
        // exp = now, skew 1: remembered until 1_001.
        let c = full_cache(4, 1);
        // An expired id is a new presentation as far as the cache goes (the
        // verifier refuses it as expired before it gets here): its own shard
        // drops it first.
        assert_eq!(c.first_use("did:a", "n0", 1_100, 1_002, 60), Ok(()));
        // Every expired id makes room, whichever shard it sits in: the full
        // cache sweeps every shard before it refuses.
        for i in 0..3 {
            assert_eq!(
                c.first_use("did:a", &format!("fresh{i}"), 1_100, 1_002, 60),
                Ok(()),
                "expired ids still took room"
            );
        }
        assert_eq!(c.len(), 4);
        // Full again, of live ids this time: refused, nothing forgotten.
        assert_eq!(
            c.first_use("did:a", "one-more", 1_100, 1_002, 60),
            Err(ReplayError::Full)
        );
        assert_eq!(
            c.first_use("did:a", "fresh0", 1_100, 1_002, 60),
            Err(ReplayError::Replayed)
        );
    }

    /// Ids are kept on the wall clock the verifier uses: however much real
    /// time passes, an id is remembered while its presentation could still
    /// be accepted at the clock's time.
    #[test]
    fn ids_are_kept_until_the_verifier_would_refuse_them() {
        let c = ReplayCache::new(1024);
        assert_eq!(c.first_use("did:a", "n", 1_010, 1_000, 5), Ok(()));
        std::thread::sleep(Duration::from_millis(50));
        for now in [1_000, 1_014, 1_015] {
            assert_eq!(
                c.first_use("did:a", "n", 1_010, now, 5),
                Err(ReplayError::Replayed),
                "at {now}"
            );
        }
        assert_eq!(c.first_use("did:a", "n", 1_010, 1_016, 5), Ok(()));
    }

    #[test]
    fn ids_stay_single_use_across_threads() {
        let c = Arc::new(ReplayCache::new(1 << 20));
        let admitted = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..5_000 {
                        if c.first_use("did:a", &format!("n{i}"), 1_100, 1_000, 60)
                            .is_ok()
                        {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(
            admitted.load(Ordering::Relaxed),
            5_000,
            "an id was admitted twice"
        );
        assert_eq!(c.len(), 5_000);
    }

    #[test]
    fn step_up_challenges_are_single_use_and_bound_to_the_holder() {
        let c = StepUpChallenges::new(1024);
        let n = c.issue("did:a");
        assert!(n.len() >= 24);
        assert!(!c.redeem(&n, "did:b"), "another holder cannot use it");
        assert!(!c.redeem(&n, "did:a"), "used up by the failed attempt");
        let n = c.issue("did:a");
        assert!(c.redeem(&n, "did:a"));
        assert!(!c.redeem(&n, "did:a"), "single use");
        assert!(!c.redeem("made-up", "did:a"));
    }

    #[test]
    fn a_full_challenge_cache_still_admits_new_challenges() {
        let c = StepUpChallenges::new(64);
        for _ in 0..1_000 {
            c.issue("did:flood");
        }
        c.open.run_pending_tasks();
        let n = c.issue("did:a");
        c.open.run_pending_tasks();
        assert!(c.redeem(&n, "did:a"), "the newest challenge must be usable");
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h, false).unwrap_err().code(), "credential_missing");
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(
            bearer(&h, false).unwrap_err().code(),
            "unsupported_auth_scheme"
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer(&h, false).unwrap_err().code(), "malformed_token");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer a.b.c"),
        );
        assert_eq!(bearer(&h, false).unwrap(), "a.b.c");
        h.append(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer x.y.z"),
        );
        assert_eq!(
            bearer(&h, false).unwrap_err().code(),
            "ambiguous_credentials"
        );
    }
}
