//! Browser sessions. After a wallet login (`login/mod.rs`) the browser holds a
//! random 256-bit secret in a cookie; every request that carries it is the
//! logged-in holder, re-checked without I/O on a warm cache:
//!
//! - the session is looked up by the SHA-256 of the secret in an in-memory
//!   cache (the database keeps only that hash, so a leaked table opens no
//!   session);
//! - its absolute and idle deadlines are checked;
//! - the login's proof ([`credentials::Binding`]) is re-checked: the holder's
//!   key still the holder's, every credential unexpired, unrevoked and signed
//!   by a key its issuer still holds — so a key rotated or a credential
//!   revoked on chain ends the session from that block, as it refuses a
//!   bearer presentation.
//!
//! On a cache miss (another gateway opened the session, or this one
//! restarted) the row is read and the credentials are verified again in full.
//! A background task shares what replicas need to agree on: it writes each
//! session's last use (idle timeout) and reads the sessions others revoked
//! (logout), every `sync_interval`.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use credentials::{Binding, Verifier};
use http::{header, HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::request::principal::Principal;
use crate::request::reason::Reason;
use crate::request::refusal::Refusal;
use crate::store::{SessionRow, Store, StoreError};

/// Length of a session secret (and of a login cookie's).
pub const SECRET_BYTES: usize = 32;

/// How sessions behave (`[sessions]` in the config, resolved).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `__Host-didgate` over HTTPS, `didgate_session` otherwise.
    pub cookie_name: String,
    /// Whether cookies are marked `Secure` (the public URL is https://).
    pub secure: bool,
    pub lifetime_ms: i64,
    pub idle_ms: i64,
    pub cache_capacity: u64,
    /// How often last uses are written and others' revocations read.
    pub sync_interval: Duration,
}

/// One logged-in browser.
pub struct Session {
    /// The SHA-256 of the secret, hex: the database key.
    pub(crate) id_hash: String,
    /// A short, non-secret name for logs and the risk engine.
    pub(crate) public_id: Arc<str>,
    /// Names this session's principal to the policy engine (the first half of
    /// the hash): its entities are built once, not per request.
    pub(crate) principal_key: [u8; 16],
    pub(crate) principal: Arc<Principal>,
    binding: Binding,
    pub(crate) expires_ms: i64,
    last_seen_ms: AtomicI64,
    /// The last use written to the database.
    flushed_ms: AtomicI64,
    /// Ended here (logout, a failed re-check); the cache entry is on its way out.
    ended: AtomicBool,
}

impl Session {
    pub fn holder(&self) -> &str {
        &self.principal.did
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the hash's full form: it names the row.
        f.debug_struct("Session")
            .field("id", &self.public_id)
            .field("holder", &self.principal.did)
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// What `Sessions::create` needs: a verified login.
pub struct NewSession {
    pub principal: Principal,
    pub binding: Binding,
}

pub struct Sessions {
    settings: SessionSettings,
    cache: moka::future::Cache<[u8; 32], Arc<Session>>,
    store: Store,
    instance: Arc<str>,
}

/// Hash of a secret: the key of the cache and of the table.
pub fn secret_hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

/// A fresh random secret and its base64url form (43 characters).
pub fn new_secret() -> ([u8; SECRET_BYTES], String) {
    let secret: [u8; SECRET_BYTES] = rand::random();
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    (secret, text)
}

/// The value of cookie `name` in the request, if exactly one is sent;
/// `Err` when it is sent more than once (a tossed cookie).
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Refusal> {
    let mut found = None;
    for value in headers.get_all(header::COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k == name {
                if found.is_some() {
                    return Err(Refusal::new(
                        Reason::AmbiguousCredentials,
                        "the request carries the session cookie more than once",
                    ));
                }
                found = Some(v.trim_matches('"'));
            }
        }
    }
    Ok(found)
}

/// Decode a cookie's secret: 43 base64url characters, 32 bytes.
pub fn decode_secret(text: &str) -> Option<[u8; SECRET_BYTES]> {
    if text.len() != 43 {
        return None;
    }
    let mut out = [0u8; SECRET_BYTES];
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_slice(text, &mut out)
        .ok()?;
    (n == SECRET_BYTES).then_some(out)
}

fn session_refusal(reason: Reason, message: &'static str) -> Refusal {
    Refusal::new(reason, message)
}

impl Sessions {
    pub fn new(settings: SessionSettings, store: Store, instance: Arc<str>) -> Self {
        let cache = moka::future::Cache::builder()
            .max_capacity(settings.cache_capacity)
            // A session unused this long is dropped from memory; the row stays.
            .time_to_idle(Duration::from_millis(settings.idle_ms.max(1) as u64))
            .build();
        Self {
            settings,
            cache,
            store,
            instance,
        }
    }

    pub fn settings(&self) -> &SessionSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The request's session, checked at `now_ms`: `Ok(None)` when it carries
    /// no session cookie.
    pub async fn authenticate(
        &self,
        verifier: &Verifier,
        headers: &HeaderMap,
        now_ms: i64,
    ) -> Result<Option<Arc<Session>>, Refusal> {
        let Some(text) = cookie(headers, &self.settings.cookie_name)? else {
            return Ok(None);
        };
        let secret = decode_secret(text).ok_or_else(|| {
            session_refusal(
                Reason::SessionInvalid,
                "the session cookie is not one this gateway issued; log in again",
            )
        })?;
        let key = secret_hash(&secret);
        let session = match self.cache.get(&key).await {
            Some(s) => s,
            None => {
                let loaded = self
                    .cache
                    .try_get_with(key, self.load(key, verifier, now_ms))
                    .await
                    .map_err(|e: Arc<Refusal>| (*e).clone())?;
                loaded
            }
        };
        if session.ended.load(Ordering::Relaxed) {
            return Err(session_refusal(
                Reason::SessionRevoked,
                "this session has ended; log in again",
            ));
        }
        if now_ms >= session.expires_ms {
            self.end_locally(&key, &session).await;
            return Err(session_refusal(
                Reason::SessionExpired,
                "this session has reached its end; log in again",
            ));
        }
        // A last use from another gateway's faster clock is no later than now.
        let last = session.last_seen_ms.load(Ordering::Relaxed).min(now_ms);
        if now_ms.saturating_sub(last) > self.settings.idle_ms
            && !self.used_elsewhere(&session, now_ms).await?
        {
            self.end_locally(&key, &session).await;
            return Err(session_refusal(
                Reason::SessionExpired,
                "this session was idle too long; log in again",
            ));
        }
        if let Err(e) = verifier.recheck(&session.binding, now_ms / 1000).await {
            let refusal = crate::request::refusal::credential_refusal(&e);
            if refusal.status() == StatusCode::UNAUTHORIZED {
                // A revoked credential or key never comes back: end it here.
                tracing::info!(session = %session.public_id, subject = %session.holder(),
                    reason = refusal.code(), "session ended by a re-check");
                self.end_locally(&key, &session).await;
            }
            return Err(refusal);
        }
        session.last_seen_ms.fetch_max(now_ms, Ordering::Relaxed);
        Ok(Some(session))
    }

    /// Check again a session an exchange still open was allowed with (a
    /// websocket, a stream): ended (logout here or on another gateway),
    /// past its lifetime, or its login's key or credentials revoked. Idle
    /// time does not apply: the open exchange is the session in use.
    pub async fn recheck(
        &self,
        verifier: &Verifier,
        session: &Session,
        now_ms: i64,
    ) -> Result<(), Refusal> {
        let ended = || {
            session_refusal(
                Reason::SessionRevoked,
                "this session has ended; log in again",
            )
        };
        if session.ended.load(Ordering::Relaxed) {
            return Err(ended());
        }
        if now_ms >= session.expires_ms {
            return Err(session_refusal(
                Reason::SessionExpired,
                "this session has reached its end; log in again",
            ));
        }
        // Out of the cache, the sync no longer tells this copy of a logout
        // elsewhere: the row does.
        let cached = match parse_hex32(&session.id_hash) {
            Some(key) => self.cache.contains_key(&key),
            None => false,
        };
        if !cached {
            let row = self
                .store
                .load_session(&session.id_hash)
                .await
                .map_err(store_unavailable)?;
            if row.is_none_or(|r| r.revoked_ms.is_some()) {
                session.ended.store(true, Ordering::Relaxed);
                return Err(ended());
            }
        }
        verifier
            .recheck(&session.binding, now_ms / 1000)
            .await
            .map_err(|e| crate::request::refusal::credential_refusal(&e))
    }

    /// Idle here, but maybe not on another gateway: the newest last use any
    /// of them wrote (cold path, only at an idle deadline).
    async fn used_elsewhere(&self, session: &Session, now_ms: i64) -> Result<bool, Refusal> {
        let row = self
            .store
            .load_session(&session.id_hash)
            .await
            .map_err(store_unavailable)?;
        match row {
            Some(row)
                if row.revoked_ms.is_none()
                    && now_ms.saturating_sub(row.last_seen_ms.min(now_ms))
                        <= self.settings.idle_ms =>
            {
                session
                    .last_seen_ms
                    .fetch_max(row.last_seen_ms.min(now_ms), Ordering::Relaxed);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn end_locally(&self, key: &[u8; 32], session: &Session) {
        session.ended.store(true, Ordering::Relaxed);
        self.cache.invalidate(key).await;
    }

    /// Read a session another gateway (or an earlier run) opened, and verify
    /// its credentials again.
    async fn load(
        &self,
        key: [u8; 32],
        verifier: &Verifier,
        now_ms: i64,
    ) -> Result<Arc<Session>, Refusal> {
        let id_hash = hex::encode(key);
        let row = self
            .store
            .load_session(&id_hash)
            .await
            .map_err(store_unavailable)?
            .ok_or_else(|| {
                session_refusal(
                    Reason::SessionUnknown,
                    "this session is not known (it ended, or was never opened); log in again",
                )
            })?;
        if row.revoked_ms.is_some() {
            return Err(session_refusal(
                Reason::SessionRevoked,
                "this session has ended; log in again",
            ));
        }
        if now_ms >= row.expires_ms {
            return Err(session_refusal(
                Reason::SessionExpired,
                "this session has reached its end; log in again",
            ));
        }
        let (vcs, binding) = verifier
            .rebind(
                &row.subject,
                &row.holder_key,
                &row.credentials,
                now_ms / 1000,
            )
            .await
            .map_err(|e| crate::request::refusal::credential_refusal(&e))?;
        let principal = Principal::from_credentials(row.subject.clone(), vcs);
        Ok(Arc::new(Session {
            public_id: public_id(&id_hash),
            principal_key: half(&key),
            id_hash,
            principal: Arc::new(principal),
            binding,
            // Times another gateway wrote, on its clock: never later than
            // this gateway's now, and never more than a lifetime long.
            expires_ms: row.expires_ms.min(
                row.created_ms
                    .min(now_ms)
                    .saturating_add(self.settings.lifetime_ms),
            ),
            last_seen_ms: AtomicI64::new(row.last_seen_ms.min(now_ms)),
            flushed_ms: AtomicI64::new(row.last_seen_ms.min(now_ms)),
            ended: AtomicBool::new(false),
        }))
    }

    /// Open a session for a verified login; returns it and the cookie's secret.
    pub async fn create(
        &self,
        new: NewSession,
        now_ms: i64,
    ) -> Result<(Arc<Session>, String), StoreError> {
        let (secret, text) = new_secret();
        let key = secret_hash(&secret);
        let id_hash = hex::encode(key);
        let mut expires_ms = now_ms + self.settings.lifetime_ms;
        if let Some(exp) = new.binding.expires_at() {
            expires_ms = expires_ms.min(exp.saturating_mul(1000));
        }
        let row = SessionRow {
            subject: new.principal.did.clone(),
            holder_key: new.binding.holder_key_id().to_owned(),
            credentials: new.binding.credential_tokens().map(str::to_owned).collect(),
            created_ms: now_ms,
            expires_ms,
            last_seen_ms: now_ms,
            revoked_ms: None,
        };
        self.store
            .insert_session(&id_hash, &row, &self.instance)
            .await?;
        let session = Arc::new(Session {
            public_id: public_id(&id_hash),
            principal_key: half(&key),
            id_hash,
            principal: Arc::new(new.principal),
            binding: new.binding,
            expires_ms,
            last_seen_ms: AtomicI64::new(now_ms),
            flushed_ms: AtomicI64::new(now_ms),
            ended: AtomicBool::new(false),
        });
        self.cache.insert(key, session.clone()).await;
        Ok((session, text))
    }

    /// End the session whose cookie secret is `text` (logout): revoked in the
    /// database for every gateway, dropped here at once. Whether one ended.
    pub async fn revoke(&self, text: &str, now_ms: i64) -> Result<bool, StoreError> {
        let Some(secret) = decode_secret(text) else {
            return Ok(false);
        };
        let key = secret_hash(&secret);
        if let Some(s) = self.cache.get(&key).await {
            s.ended.store(true, Ordering::Relaxed);
        }
        self.cache.invalidate(&key).await;
        self.store.revoke_session(&hex::encode(key), now_ms).await
    }

    /// `Set-Cookie` for a new session.
    pub fn set_cookie(&self, secret: &str, max_age_secs: i64) -> Option<HeaderValue> {
        set_cookie(
            &self.settings.cookie_name,
            secret,
            "/",
            max_age_secs,
            self.settings.secure,
        )
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn clear_cookie(&self) -> Option<HeaderValue> {
        set_cookie(&self.settings.cookie_name, "", "/", 0, self.settings.secure)
    }

    /// One round of the background sync: write last uses newer than what was
    /// written, and drop the sessions other gateways revoked since `since_ms`.
    /// Returns the newest revocation time seen.
    pub async fn sync_once(&self, since_ms: i64) -> Result<i64, StoreError> {
        let mut touched = Vec::new();
        for (_, s) in self.cache.iter() {
            let seen = s.last_seen_ms.load(Ordering::Relaxed);
            if seen > s.flushed_ms.load(Ordering::Relaxed) {
                touched.push((s.id_hash.clone(), seen));
            }
        }
        if !touched.is_empty() {
            self.store.touch_sessions(&touched).await?;
            for (id, seen) in &touched {
                if let Some(hash) = parse_hex32(id) {
                    if let Some(s) = self.cache.get(&hash).await {
                        s.flushed_ms.fetch_max(*seen, Ordering::Relaxed);
                    }
                }
            }
        }
        let mut newest = since_ms;
        for (id, at) in self.store.sessions_revoked_since(since_ms).await? {
            // A revocation stamped by a faster clock must not move `since`
            // past revocations still to come.
            newest = newest.max(at.min(crate::clock::unix_ms()));
            if let Some(hash) = parse_hex32(&id) {
                if let Some(s) = self.cache.get(&hash).await {
                    s.ended.store(true, Ordering::Relaxed);
                    self.cache.invalidate(&hash).await;
                }
            }
        }
        Ok(newest)
    }
}

/// `Set-Cookie` with the attributes every didgate cookie has: HttpOnly,
/// SameSite=Lax (a cross-site POST carries none of them), Secure over HTTPS.
pub fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age_secs: i64,
    secure: bool,
) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        max_age_secs.max(0)
    ))
    .ok()
}

fn half(key: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&key[..16]);
    out
}

fn public_id(id_hash: &str) -> Arc<str> {
    Arc::from(id_hash.get(..16).unwrap_or(id_hash))
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn store_unavailable(e: StoreError) -> Refusal {
    tracing::error!(error = %e, "session store unavailable");
    Refusal::new(
        Reason::SessionStoreUnavailable,
        "sessions cannot be checked right now; try again shortly",
    )
}

/// The background task: every `sync_interval`, last uses out and others'
/// revocations in; expired sessions and logins are deleted once an hour.
pub async fn run(sessions: Arc<Sessions>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(sessions.settings.sync_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Revocations are read with a margin for clocks that differ between gateways.
    const MARGIN_MS: i64 = 30_000;
    let mut since = crate::clock::unix_ms() - MARGIN_MS;
    let mut last_cleanup = 0i64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => break,
        }
        match sessions.sync_once(since).await {
            Ok(newest) => since = since.max(newest.saturating_sub(MARGIN_MS)),
            Err(e) => tracing::warn!(error = %e, "session sync failed; retrying"),
        }
        let now = crate::clock::unix_ms();
        if now - last_cleanup > 3_600_000 {
            last_cleanup = now;
            // Rows a day past their end: nobody can use them any more.
            if let Err(e) = sessions.store.delete_ended(now - 86_400_000).await {
                tracing::warn!(error = %e, "deleting ended sessions failed");
            }
        }
    }
    // Last uses of this run, so that a restart does not look idle.
    if let Err(e) = sessions.sync_once(since).await {
        tracing::warn!(error = %e, "final session sync failed");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn secrets_round_trip_and_junk_is_refused() {
        let (secret, text) = new_secret();
        assert_eq!(text.len(), 43);
        assert_eq!(decode_secret(&text), Some(secret));
        assert_eq!(decode_secret(""), None);
        assert_eq!(decode_secret(&"A".repeat(42)), None);
        assert_eq!(decode_secret(&"A".repeat(44)), None);
        assert_eq!(decode_secret(&format!("{}*", &text[..42])), None);
        assert_eq!(decode_secret(&"é".repeat(21)), None);
    }

    #[test]
    fn the_cookie_is_found_once_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; didgate_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, "didgate_session").unwrap(), Some("abc"));
        assert_eq!(cookie(&h, "other").unwrap(), None);
        // A prefix of the name is another cookie.
        assert_eq!(cookie(&h, "didgate").unwrap(), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("didgate_session=def"),
        );
        let err = cookie(&h, "didgate_session").unwrap_err();
        assert_eq!(err.code(), "ambiguous_credentials");
    }

    #[test]
    fn set_cookie_attributes() {
        let v = set_cookie("__Host-didgate", "s3cr3t", "/", 60, true).unwrap();
        assert_eq!(
            v,
            "__Host-didgate=s3cr3t; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let v = set_cookie("didgate_session", "", "/", -5, false).unwrap();
        assert_eq!(
            v,
            "didgate_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn hex_round_trip() {
        let h = secret_hash(b"x");
        assert_eq!(parse_hex32(&hex::encode(h)), Some(h));
        assert_eq!(parse_hex32("zz"), None);
    }
}
