//! HTTP-published Bitstring Status Lists (W3C VC Bitstring Status List v1.0;
//! StatusList2021 lists are read too).
//!
//! A `credentialStatus` entry whose `statusListCredential` is an `https://`
//! URL names a status list credential published there. [`HttpStatusChecker`]
//! fetches it (VC-JWT only), verifies it with a [`Verifier`] (signature
//! through the DID resolver, validity period), requires its issuer to be the
//! issuer of the credential being checked, decodes `encodedList` (multibase
//! base64url of the GZIP-compressed bitstring; index 0 is the most
//! significant bit of the first byte) and keeps it in a bounded cache for a
//! TTL. A warm check is a cache lookup; a cold one fetches on the request
//! path. It fails closed: a list that cannot be fetched or does not verify
//! is `status_unavailable`, never a pass.
//!
//! [`StatusDispatcher`] sends each entry to the checker for its list form:
//! `http(s)://` here, anything else to the on-chain checker (when chains are
//! configured).

use std::collections::HashMap;
use std::io::Read;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use did_registry::ethr::status::{PURPOSE_REVOCATION, U256};
use did_registry::ethr::{StatusChecker, StatusEntry, StatusError};
use serde_json::Value;

use crate::Verifier;

/// Limits and freshness of fetched status lists.
#[derive(Debug, Clone)]
pub struct StatusListConfig {
    /// How long a fetched list is used before it is fetched again (shorter
    /// when the list credential expires sooner).
    pub ttl: Duration,
    /// Whole-request timeout of one fetch.
    pub timeout: Duration,
    /// Largest response body accepted (the compressed list plus the JWT around it).
    pub max_body_bytes: usize,
    /// Largest decompressed bitstring accepted (guards against gzip bombs).
    pub max_bitstring_bytes: usize,
    /// Bound on the bytes of bitstrings kept in the cache.
    pub cache_bytes: u64,
    /// After a failed fetch, requests needing that list are refused at once
    /// for this long instead of each waiting for the timeout (0: no backoff).
    pub failure_backoff: Duration,
    /// Where each issuer (DID) publishes its lists: URL prefixes (scheme,
    /// host, port and a path prefix). A list anywhere else is refused
    /// (`status_list_not_allowed`) before any request; an issuer with no
    /// entry has none.
    pub allowed_urls: HashMap<String, Vec<reqwest::Url>>,
}

impl Default for StatusListConfig {
    /// 300 s TTL, 10 s timeout, 1 MiB bodies, 16 MiB bitstrings, 128 MiB
    /// cache, 5 s failure backoff, no issuer allowed to publish anywhere.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            timeout: Duration::from_secs(10),
            max_body_bytes: 1 << 20,
            max_bitstring_bytes: 16 << 20,
            cache_bytes: 128 << 20,
            failure_backoff: Duration::from_secs(5),
            allowed_urls: HashMap::new(),
        }
    }
}

/// A fetched list whose credential verified.
struct FetchedList {
    issuer: String,
    bits: Vec<u8>,
    fresh_for: Duration,
}

/// Why a list could not be used; every variant is `status_unavailable`
/// except an unusable list form (`status_list_unsupported`).
#[derive(Debug, Clone)]
enum ListFailure {
    Unavailable(String),
    Unsupported(String),
}

impl ListFailure {
    fn into_status(self, list: &str) -> StatusError {
        let list = list.to_owned();
        match self {
            ListFailure::Unavailable(reason) => StatusError::ListUnavailable { list, reason },
            ListFailure::Unsupported(reason) => StatusError::Unsupported { list, reason },
        }
    }
}

struct UntilStale;

impl moka::Expiry<String, Arc<FetchedList>> for UntilStale {
    fn expire_after_create(
        &self,
        _url: &String,
        list: &Arc<FetchedList>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(list.fresh_for)
    }
}

/// Checks entries whose list is published over HTTP.
pub struct HttpStatusChecker {
    /// Verifies list credentials; built without a status checker.
    verifier: Verifier,
    client: reqwest::Client,
    cache: moka::future::Cache<String, Arc<FetchedList>>,
    /// Recent failures per list, kept for `failure_backoff`.
    failures: moka::sync::Cache<String, ListFailure>,
    config: StatusListConfig,
}

impl HttpStatusChecker {
    /// `verifier` verifies the list credentials: give it the resolver and
    /// clock settings of the presentation verifier (trusted issuers do not
    /// matter: a list must be signed by the credential's own issuer).
    pub fn new(verifier: Verifier, config: StatusListConfig) -> Result<Self, StatusError> {
        // reqwest's rustls uses the process-wide provider; install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect could leave https or reach a host the URL did not name.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("didgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| StatusError::ListUnavailable {
                list: "(HTTP client)".into(),
                reason: e.to_string(),
            })?;
        let cache = moka::future::Cache::builder()
            .max_capacity(config.cache_bytes)
            .weigher(|_url: &String, l: &Arc<FetchedList>| {
                u32::try_from(l.bits.len().max(1)).unwrap_or(u32::MAX)
            })
            .expire_after(UntilStale)
            .build();
        let failures = moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(config.failure_backoff.max(Duration::from_millis(1)))
            .build();
        Ok(Self {
            verifier,
            client,
            cache,
            failures,
            config,
        })
    }

    async fn fetch(&self, url: &reqwest::Url) -> Result<Arc<FetchedList>, ListFailure> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            ListFailure::Unavailable(format!("{what}: {e}"))
        };
        let mut resp = self
            .client
            .get(url.clone())
            .header(
                reqwest::header::ACCEPT,
                "application/vc+jwt, application/jwt;q=0.9",
            )
            .send()
            .await
            .map_err(|e| unavailable("fetch failed", &e))?;
        if !resp.status().is_success() {
            return Err(unavailable("the server answered", &resp.status()));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            });
        match content_type.as_deref() {
            None
            | Some(
                "application/vc+jwt" | "application/jwt" | "application/vc-ld+jwt"
                | "application/vc+ld+jwt",
            ) => {}
            Some(other) => {
                return Err(ListFailure::Unsupported(format!(
                    "the list is served as {other}; only VC-JWT lists (application/vc+jwt, application/jwt) are read"
                )))
            }
        }
        let max = self.config.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(ListFailure::Unavailable(format!(
                "the list is larger than {max} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable("reading the list failed", &e))?
        {
            if body.len() + chunk.len() > max {
                return Err(ListFailure::Unavailable(format!(
                    "the list is larger than {max} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let token = std::str::from_utf8(&body)
            .map_err(|_| ListFailure::Unavailable("the list is not UTF-8 text".into()))?
            .trim();

        let now = unix_now();
        let vc = self
            .verifier
            .verify_credential(token, now)
            .await
            .map_err(|e| unavailable("the list credential does not verify", &e))?;
        let kind = vc.claims.get("type").and_then(Value::as_str);
        if !matches!(kind, Some("BitstringStatusList" | "StatusList2021")) {
            return Err(ListFailure::Unsupported(
                "credentialSubject.type must be BitstringStatusList (or StatusList2021)".into(),
            ));
        }
        let purpose_ok = match vc.claims.get("statusPurpose") {
            Some(Value::String(p)) => p == PURPOSE_REVOCATION,
            Some(Value::Array(a)) => a.iter().any(|p| p.as_str() == Some(PURPOSE_REVOCATION)),
            _ => false,
        };
        if !purpose_ok {
            return Err(ListFailure::Unsupported(format!(
                "the list's statusPurpose is not {PURPOSE_REVOCATION:?}"
            )));
        }
        let encoded = vc
            .claims
            .get("encodedList")
            .and_then(Value::as_str)
            .ok_or_else(|| ListFailure::Unavailable("the list has no encodedList".into()))?;
        let bits = decode_list(encoded, self.config.max_bitstring_bytes)
            .map_err(ListFailure::Unavailable)?;

        let list_ttl_ms = vc.claims.get("ttl").and_then(Value::as_u64);
        let fresh_for = freshness(self.config.ttl, list_ttl_ms, vc.expires_at, now);
        Ok(Arc::new(FetchedList {
            issuer: vc.issuer,
            bits,
            fresh_for,
        }))
    }
}

#[async_trait::async_trait]
impl StatusChecker for HttpStatusChecker {
    async fn check(&self, entry: &StatusEntry) -> Result<(), StatusError> {
        let list_url = &entry.list;
        let url = allowed_url(list_url).map_err(|reason| StatusError::Unsupported {
            list: list_url.clone(),
            reason,
        })?;
        // Only where this issuer publishes: a credential from anyone cannot
        // make the gateway fetch an address of the credential's choosing.
        let published_there = self
            .config
            .allowed_urls
            .get(&entry.issuer)
            .is_some_and(|prefixes| prefixes.iter().any(|p| under_prefix(p, &url)));
        if !published_there {
            return Err(StatusError::NotAllowed {
                list: list_url.clone(),
                issuer: entry.issuer.clone(),
            });
        }
        let list = match self.cache.get(list_url).await {
            Some(l) => l,
            None => {
                // A list that just failed is refused at once (fail closed) rather
                // than letting every request wait for the same timeout.
                if let Some(f) = self.failures.get(list_url) {
                    return Err(f.into_status(list_url));
                }
                // Concurrent cold checks of one URL share a single fetch.
                let started = Instant::now();
                let l = self
                    .cache
                    .try_get_with(list_url.clone(), self.fetch(&url))
                    .await
                    .map_err(|e| {
                        if !self.config.failure_backoff.is_zero() {
                            self.failures.insert(list_url.clone(), (*e).clone());
                        }
                        (*e).clone().into_status(list_url)
                    })?;
                tracing::debug!(list = %list_url, elapsed_ms = started.elapsed().as_millis() as u64, "status list fetched");
                l
            }
        };
        if list.issuer != entry.issuer {
            return Err(StatusError::Mismatch {
                list: list_url.clone(),
                issuer: entry.issuer.clone(),
            });
        }
        match bit(&list.bits, entry.index) {
            Some(false) => Ok(()),
            Some(true) => Err(StatusError::Revoked {
                list: list_url.clone(),
                index: entry.index,
            }),
            None => Err(StatusError::InvalidEntry {
                reason: format!(
                    "statusListIndex {} is beyond the {} entries of {list_url}",
                    entry.index,
                    list.bits.len() * 8
                ),
            }),
        }
    }
}

/// Sends each entry to the checker for its list: `http(s)://` lists to the
/// HTTP checker, the rest to the on-chain one.
pub struct StatusDispatcher {
    chain: Option<Arc<dyn StatusChecker>>,
    http: Arc<HttpStatusChecker>,
}

impl StatusDispatcher {
    /// `chain`: the on-chain checker (`None`: no chains configured).
    pub fn new(chain: Option<Arc<dyn StatusChecker>>, http: Arc<HttpStatusChecker>) -> Self {
        Self { chain, http }
    }
}

#[async_trait::async_trait]
impl StatusChecker for StatusDispatcher {
    async fn check(&self, entry: &StatusEntry) -> Result<(), StatusError> {
        if entry.list.starts_with("https://") || entry.list.starts_with("http://") {
            return self.http.check(entry).await;
        }
        match &self.chain {
            Some(chain) => chain.check(entry).await,
            None => Err(StatusError::Unsupported {
                list: entry.list.clone(),
                reason: "no [chains] are configured, so on-chain status lists cannot be checked"
                    .into(),
            }),
        }
    }
}

/// `https://`, or `http://` to a loopback host (tests, local setups).
fn allowed_url(list: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(list).map_err(|e| format!("not a URL: {e}"))?;
    let host = url.host_str().unwrap_or("");
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(
            "status lists are fetched over https:// only (http:// only to a loopback host)".into(),
        ),
        other => Err(format!("unsupported scheme {other:?}")),
    }
}

/// `url` is at or below `prefix`: same scheme, host and port, and a path
/// that starts with the prefix's on a segment boundary.
pub fn under_prefix(prefix: &reqwest::Url, url: &reqwest::Url) -> bool {
    let same_origin = prefix.scheme() == url.scheme()
        && prefix
            .host_str()
            .zip(url.host_str())
            .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
        && prefix.port_or_known_default() == url.port_or_known_default();
    if !same_origin {
        return false;
    }
    let (p, u) = (prefix.path(), url.path());
    match u.strip_prefix(p) {
        Some(rest) => p.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A list's own `ttl` may shorten the configured TTL, never below this: a
/// `"ttl": 0` would otherwise make every request fetch the list again.
const MIN_LIST_TTL: Duration = Duration::from_secs(1);

/// How long a fetched list is used: the configured TTL, the list's own `ttl`
/// (milliseconds, at least [`MIN_LIST_TTL`]) and its expiry (`exp`, Unix
/// seconds), whichever is first.
fn freshness(
    configured: Duration,
    list_ttl_ms: Option<u64>,
    expires_at: Option<i64>,
    now: i64,
) -> Duration {
    let mut fresh_for = configured;
    if let Some(ms) = list_ttl_ms {
        fresh_for = fresh_for.min(Duration::from_millis(ms).max(MIN_LIST_TTL));
    }
    if let Some(exp) = expires_at {
        let left = u64::try_from(exp.saturating_sub(now)).unwrap_or(0);
        fresh_for = fresh_for.min(Duration::from_secs(left));
    }
    fresh_for
}

/// The bitstring of an `encodedList`: multibase base64url (`u` prefix; plain
/// base64url as StatusList2021 wrote it) of GZIP data, at most `max` bytes
/// once decompressed.
fn decode_list(encoded: &str, max: usize) -> Result<Vec<u8>, String> {
    // A GZIP stream's base64url starts with "H4sI", so a leading `u` is always the multibase prefix.
    let b64 = encoded.strip_prefix('u').unwrap_or(encoded);
    let gz = URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map_err(|e| format!("encodedList is not base64url: {e}"))?;
    let mut bits = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .take((max as u64).saturating_add(1))
        .read_to_end(&mut bits)
        .map_err(|e| format!("encodedList is not GZIP data: {e}"))?;
    if bits.len() > max {
        return Err(format!("encodedList decompresses to more than {max} bytes"));
    }
    if bits.is_empty() {
        return Err("encodedList is empty".into());
    }
    Ok(bits)
}

/// The `encodedList` of a bitstring: multibase (`u`) base64url of its GZIP compression.
pub fn encode_list(bits: &[u8]) -> String {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = gz.write_all(bits);
    let compressed = gz.finish().unwrap_or_default();
    format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
}

/// Bit `index` (0 = the most significant bit of the first byte); `None` beyond the list.
fn bit(bits: &[u8], index: U256) -> Option<bool> {
    let i = usize::try_from(index).ok()?;
    let byte = bits.get(i / 8)?;
    Some(byte & (0x80 >> (i % 8)) != 0)
}

fn unix_now() -> i64 {
    did_registry::clock::unix_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bits: &[u8]) -> String {
        encode_list(bits)
    }

    #[test]
    fn lists_are_fetched_only_below_an_allowed_prefix() {
        let u = |s: &str| reqwest::Url::parse(s).expect("url");
        let dir = u("https://hr.example/status/");
        assert!(under_prefix(&dir, &u("https://hr.example/status/1")));
        assert!(under_prefix(&dir, &u("https://HR.example:443/status/a/b")));
        assert!(!under_prefix(&dir, &u("https://hr.example/statusx")));
        assert!(!under_prefix(&dir, &u("https://hr.example/other/1")));
        assert!(!under_prefix(
            &dir,
            &u("https://hr.example.evil.test/status/1")
        ));
        assert!(!under_prefix(&dir, &u("https://hr.example:8443/status/1")));
        assert!(!under_prefix(&dir, &u("http://hr.example/status/1")));
        // Dot segments are resolved by the URL parser before the comparison.
        assert!(!under_prefix(
            &dir,
            &u("https://hr.example/status/../admin")
        ));
        let file = u("https://hr.example/status");
        assert!(under_prefix(&file, &u("https://hr.example/status")));
        assert!(under_prefix(&file, &u("https://hr.example/status/2")));
        assert!(!under_prefix(&file, &u("https://hr.example/status2")));
    }

    /// The example list of the spec (§ 2.2 BitstringStatusListCredential): 16 KiB of zeros.
    #[test]
    fn spec_example_decodes_to_131072_unset_entries() {
        let spec = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA";
        let bits = decode_list(spec, 16 << 20).expect("the spec's list decodes");
        assert_eq!(bits.len() * 8, 131_072);
        assert!(bits.iter().all(|b| *b == 0));
        assert_eq!(bit(&bits, U256::from(131_071)), Some(false));
        assert_eq!(bit(&bits, U256::from(131_072)), None);
        // StatusList2021 wrote plain base64url, no multibase prefix.
        assert_eq!(decode_list(&spec[1..], 16 << 20), Ok(bits));
    }

    #[test]
    fn index_zero_is_the_most_significant_bit_of_the_first_byte() {
        let bits = decode_list(&encode(&[0b1000_0000, 0b0000_0001]), 1024).unwrap_or_default();
        let set: Vec<u64> = (0..16)
            .filter(|i| bit(&bits, U256::from(*i)) == Some(true))
            .collect();
        assert_eq!(set, vec![0, 15]);
    }

    #[test]
    fn a_list_that_decompresses_past_the_limit_is_refused() {
        let bomb = encode(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 4096, "1 MiB of zeros compresses well");
        let err = decode_list(&bomb, 1 << 19).expect_err("over the limit");
        assert!(err.contains("more than"), "{err}");
        assert!(decode_list(&bomb, 1 << 20).is_ok());
    }

    proptest::proptest! {
        /// Any bitstring round-trips, and bit i is bit 7 - i % 8 of byte i / 8.
        #[test]
        fn encode_decode_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 1..512), i in 0usize..4096) {
            let bits = decode_list(&encode(&bytes), 4096).map_err(proptest::test_runner::TestCaseError::fail)?;
            proptest::prop_assert_eq!(&bits, &bytes);
            let want = bytes.get(i / 8).map(|b| (b >> (7 - i % 8)) & 1 == 1);
            proptest::prop_assert_eq!(bit(&bits, U256::from(i)), want);
        }

        /// Untrusted text never panics the decoder.
        #[test]
        fn arbitrary_encoded_lists_do_not_panic(s in "\\PC{0,200}") {
            let _ = decode_list(&s, 1 << 16);
            let _ = decode_list(&format!("uH4sI{s}"), 1 << 16);
        }
    }

    #[test]
    fn a_list_ttl_shortens_the_configured_ttl_but_not_below_one_second() {
        let ttl = Duration::from_secs(300);
        let now = 1_800_000_000;
        assert_eq!(freshness(ttl, None, None, now), ttl);
        assert_eq!(
            freshness(ttl, Some(60_000), None, now),
            Duration::from_secs(60)
        );
        assert_eq!(freshness(ttl, Some(u64::MAX), None, now), ttl);
        // "ttl": 0 (or a few ms) would make every request fetch the list again.
        assert_eq!(freshness(ttl, Some(0), None, now), Duration::from_secs(1));
        assert_eq!(freshness(ttl, Some(999), None, now), Duration::from_secs(1));
        assert_eq!(
            freshness(ttl, Some(1_500), None, now),
            Duration::from_millis(1_500)
        );
        // A shorter configured TTL and the list's expiry still apply.
        let short = Duration::from_millis(200);
        assert_eq!(freshness(short, Some(0), None, now), short);
        assert_eq!(
            freshness(ttl, Some(0), Some(now + 30), now),
            Duration::from_secs(1)
        );
        assert_eq!(
            freshness(ttl, None, Some(now + 30), now),
            Duration::from_secs(30)
        );
        assert_eq!(freshness(ttl, Some(0), Some(now), now), Duration::ZERO);
        assert_eq!(
            freshness(ttl, None, Some(i64::MIN), i64::MAX),
            Duration::ZERO
        );
    }

    #[test]
    fn a_decompression_limit_of_usize_max_does_not_overflow() {
        let bits = vec![0xA5u8; 64];
        assert_eq!(decode_list(&encode(&bits), usize::MAX), Ok(bits));
    }

    #[test]
    fn garbage_is_refused() {
        assert!(decode_list("u!!!", 1024).is_err());
        assert!(decode_list(&format!("u{}", URL_SAFE_NO_PAD.encode(b"not gzip")), 1024).is_err());
    }

    #[test]
    fn only_https_or_loopback_http() {
        assert!(allowed_url("https://issuer.example/lists/1").is_ok());
        for ok in [
            "http://127.0.0.1:8080/l",
            "http://127.3.4.5/l",
            "http://[::1]:9/l",
            "http://localhost/l",
        ] {
            assert!(allowed_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://issuer.example/l",
            "http://10.0.0.1/l",
            "http://[::2]/l",
            "ftp://127.0.0.1/l",
            "file:///etc/passwd",
            "https://",
        ] {
            assert!(allowed_url(bad).is_err(), "{bad}");
        }
    }
}
