//! The policy engine: load a schema and policy files, validate strictly,
//! swap the whole set atomically (readers never lock), reload on change
//! keeping the last good set, and decide requests.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicyId,
    PolicySet, Request, RestrictedExpression, Schema, SchemaFragment, ValidationMode, Validator,
};
use miette::Diagnostic;

use crate::claims::{claim_shape, claims_record, ClaimShape};
use crate::PolicyError;

/// The risk of the request, as policies see it (`context.risk`).
#[derive(Debug, Clone, Copy)]
pub struct RiskContext<'a> {
    /// In [0, 1].
    pub score: f64,
    /// Factor names, e.g. `new_network`.
    pub factors: &'a [&'a str],
    pub cold_start: bool,
}

/// Everything a decision is about.
#[derive(Debug, Clone, Copy)]
pub struct DecisionRequest<'a> {
    /// The caller's name for this principal's attributes (a session, or a
    /// digest of the credentials presented): every request with the same key
    /// must carry the same DID, issuers, credential types and claims. Such
    /// requests share the principal's part of the entity store, built once
    /// per key, method, app and policy generation, and its decisions.
    pub principal_key: Option<[u8; 16]>,
    pub principal_did: &'a str,
    pub issuers: &'a [String],
    pub credential_types: &'a [String],
    /// Per credential type, its credential's claims (`principal.claims.<Type>`).
    pub claims: &'a crate::ClaimsByType,
    /// The HTTP method.
    pub action: &'a str,
    /// The route (app) name.
    pub app: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub auth_method: &'a str,
    pub client_ip: IpAddr,
    pub now_unix: i64,
    pub risk: RiskContext<'a>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
    /// Denied only by `@step_up` policies: authenticate again, more strongly.
    StepUp,
}

/// Why a decision came out as it did. Its wire form (`as_str`) goes into
/// refusals and the decision log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionReason {
    /// A permit applied and no forbid did.
    Allowed,
    /// No permit applied, or a forbid did.
    PolicyDenied,
    /// Denied only by `@step_up` policies.
    StepUpRequired,
    /// The HTTP method has no Cedar action.
    MethodNotAllowed,
    /// The request could not be evaluated, or a forbid failed to evaluate.
    PolicyError,
}

impl DecisionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionReason::Allowed => "allowed",
            DecisionReason::PolicyDenied => "policy_denied",
            DecisionReason::StepUpRequired => "step_up_required",
            DecisionReason::MethodNotAllowed => "method_not_allowed",
            DecisionReason::PolicyError => "policy_error",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Decision {
    pub effect: Effect,
    /// Ids of the policies that decided (the permits that allowed, or the forbids that denied).
    pub determining_policies: Vec<String>,
    pub errors: Vec<String>,
    pub reason: DecisionReason,
    /// SHA-256 of the policy set that decided ([`PolicyEngine::policy_set_digest`]).
    pub policy_set: [u8; 32],
}

/// [`PolicyEngine::cache_usage`]: per cache, (estimated bytes held, bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheUsage {
    pub entity_stores: (u64, u64),
    pub contexts: (u64, u64),
    pub decisions: (u64, u64),
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadOutcome {
    pub policies: usize,
}

const METHODS: [&str; 7] = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"];

/// One loaded, validated generation of schema + policies.
struct Loaded {
    /// Distinguishes this generation from every other one in the process.
    generation: u64,
    /// SHA-256 over the schema and every policy file, as loaded (see
    /// `set_digest`): what the decision log records as the policy set.
    digest: [u8; 32],
    /// Per app: the policies that can apply to its resources — those scoped
    /// `resource in Didgate::App::"that app"` and those with no app in their
    /// scope. A resource has exactly one app as parent, so a policy scoped to
    /// another app can never match it: evaluating a slice decides as the whole
    /// set would, at the cost of that app's policies instead of all of them.
    by_app: HashMap<String, PolicySet>,
    /// The policies with no app in their scope (apps without their own).
    unscoped: PolicySet,
    count: usize,
    claim_shape: ClaimShape,
    /// Per HTTP method: its action entity and the action groups above it
    /// (`GET` → `read` → …), all a request's `action in …` can look at,
    /// as an entity store with its transitive closure computed. Passing
    /// only these, not every action, keeps the per-request entity store
    /// (and its transitive closure) small; a principal's store is this one
    /// (its entities shared, not copied) plus the holder and the app.
    action_stores: HashMap<&'static str, Entities>,
    actions: HashMap<&'static str, EntityUid>,
    step_up: HashSet<PolicyId>,
}

enum Source {
    Files {
        schema: PathBuf,
        policies: Vec<PathBuf>,
    },
    Strings,
}

pub struct PolicyEngine {
    source: Source,
    current: ArcSwap<Loaded>,
    /// Why the set in force is not the one that should be (a reload or a
    /// governed bundle that failed): health reports it until a set loads.
    problem: arc_swap::ArcSwapOption<String>,
    stamp: Mutex<Vec<(PathBuf, Option<SystemTime>, u64)>>,
    authorizer: Authorizer,
    holder_type: EntityTypeName,
    app_type: EntityTypeName,
    resource_type: EntityTypeName,
    /// `ip("…")` context values by address. cedar-policy parses the name
    /// `ip` with its full policy parser every time it builds one, which cost
    /// more than the rest of the request's context together.
    ips: moka::sync::Cache<IpAddr, RestrictedExpression>,
    /// `decimal("…")` risk scores, one per 4-decimal value (10,001), built on
    /// first use for the same reason.
    scores: Box<[OnceLock<RestrictedExpression>]>,
    /// Entity stores holding a keyed principal, its app and the method's
    /// actions: a request then adds only its resource
    /// (`DecisionRequest::principal_key`). Bounded in bytes: a stream of
    /// distinct principals (each new credential is one) must not pin memory
    /// in proportion to the size of their claims.
    bases: moka::sync::Cache<u64, Arc<Base>>,
    /// A keyed principal's latest context: the requests of one session in
    /// the same second, from the same address and with the same risk, share
    /// it (building one costs two extension calls and a dozen allocations).
    /// Bounded in bytes.
    contexts: moka::sync::Cache<[u8; 16], Arc<ContextEntry>>,
    /// Decisions already made for keyed principals, each with every input
    /// it was made from (see [`Memo`]); bounded in bytes.
    decisions: moka::sync::Cache<u64, Arc<Memo>>,
    hasher: std::hash::RandomState,
}

/// A decision for a keyed principal and all it was made from. Cedar is a
/// pure function of the policy set, the entity store and the request; for a
/// keyed principal those are fixed by:
/// - the policy set's generation (a reload starts a new one);
/// - the principal key (its DID, issuers, types and claims, by the key's
///   contract), the method and the app (the rest of the entity store);
/// - the resource: app, host and path;
/// - the context: a function of the time (to the second), the address, the
///   risk score step, factors, cold start and the authentication method
///   (besides the principal's credential types, fixed by its key). The memo
///   holds the context entry it was decided with, and a hit asks that entry
///   whether it was built from this request's values
///   ([`ContextEntry::built_from`]), so a remembered decision is answered
///   with one cache lookup, not one for the context and one for the memo.
///
/// A hit compares every one of these in full (the slot is only a hash of
/// the request's part), so it returns what Cedar would answer, never a near
/// miss.
struct Memo {
    context: Arc<ContextEntry>,
    generation: u64,
    principal: [u8; 16],
    method: &'static str,
    app: Box<str>,
    host: Box<str>,
    path: Box<str>,
    decision: Decision,
}

impl Memo {
    fn answers(
        &self,
        generation: u64,
        key: [u8; 16],
        method: &'static str,
        r: &DecisionRequest<'_>,
        score_step: usize,
    ) -> bool {
        self.generation == generation
            && self.principal == key
            && self.method == method
            && *self.app == *r.app
            && *self.path == *r.path
            && *self.host == *r.host
            && self.context.built_from(r, score_step)
    }

    /// Bytes held, over-estimated, for the cache's bound. A memo keeps its
    /// context entry alive (shared by the principal's memos of that
    /// second), so each memo counts that entry's weight in full: a
    /// principal whose context changes every second cannot pin more memory
    /// than the bound says.
    fn weight(&self) -> u32 {
        let strings: usize = self
            .decision
            .determining_policies
            .iter()
            .chain(&self.decision.errors)
            .map(|s| s.len() + 24)
            .sum();
        let n = MEMO_FIXED_BYTES
            + self.context.weight as usize
            + self.app.len()
            + self.host.len()
            + self.path.len()
            + strings;
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// Bytes of decisions kept for keyed principals (at least 32,768 of them).
const DECISION_CACHE_BYTES: u64 = 64 << 20;
/// What a memo costs besides its strings and its context entry: the memo,
/// its `Decision` and the moka entry.
const MEMO_FIXED_BYTES: usize = 2048;

/// A built context and everything it was built from, besides the keyed
/// principal's credential types (fixed by the key).
struct ContextEntry {
    /// Bytes held, over-estimated ([`context_weight`]).
    weight: u32,
    auth_method: Box<str>,
    client_ip: IpAddr,
    now_unix: i64,
    score_step: usize,
    factors: Box<[Box<str>]>,
    cold_start: bool,
    context: Context,
}

impl ContextEntry {
    fn built_from(&self, r: &DecisionRequest<'_>, score_step: usize) -> bool {
        self.now_unix == r.now_unix
            && self.score_step == score_step
            && self.client_ip == r.client_ip
            && self.cold_start == r.risk.cold_start
            && *self.auth_method == *r.auth_method
            && self.factors.len() == r.risk.factors.len()
            && self
                .factors
                .iter()
                .zip(r.risk.factors)
                .all(|(a, b)| **a == **b)
    }
}

/// A principal's part of the entity store for one method and app.
struct Base {
    /// Bytes held, over-estimated ([`base_weight`]).
    weight: u32,
    generation: u64,
    principal: [u8; 16],
    action: &'static str,
    app: Box<str>,
    entities: Entities,
}

/// Bytes of principals' entity stores kept: about 16,000 principals with
/// a few claims each.
const BASE_CACHE_BYTES: u64 = 64 << 20;
/// Bytes of principals' latest contexts kept: about 8,000 principals.
const CONTEXT_CACHE_BYTES: u64 = 32 << 20;

/// What one Cedar value costs in memory besides its own string bytes,
/// over-estimated: the value and its kind, an entry of the record or set
/// holding it, and the allocator's rounding. Measured with heaptrack
/// (bench/RESULTS.md, "Caches bounded in bytes").
const CEDAR_VALUE_BYTES: usize = 256;
/// What a principal's entity store costs besides its claims: the holder
/// entity and its four attributes, the app entity, the store's map over
/// the shared action entities, and the moka entry.
const BASE_FIXED_BYTES: usize = 4096;
/// What a context costs besides its strings: a record of seven values, the
/// risk record inside it, and the moka entry.
const CONTEXT_FIXED_BYTES: usize = 6144;

/// Bytes a JSON claim value becomes as a Cedar value, over-estimated.
/// serde_json's recursion limit (128) bounds the depth of this walk.
fn json_weight(v: &serde_json::Value) -> usize {
    CEDAR_VALUE_BYTES
        + match v {
            serde_json::Value::String(s) => 2 * s.len(),
            serde_json::Value::Array(a) => a.iter().map(json_weight).sum(),
            serde_json::Value::Object(m) => {
                m.iter().map(|(k, v)| 2 * k.len() + json_weight(v)).sum()
            }
            _ => 0,
        }
}

fn strings_weight(v: &[String]) -> usize {
    v.iter().map(|s| CEDAR_VALUE_BYTES + 2 * s.len()).sum()
}

/// Bytes a keyed principal's entity store holds, over-estimated: every
/// claim counts, whether or not the schema's claim shape keeps it.
fn base_weight(r: &DecisionRequest<'_>) -> u32 {
    let claims: usize = r
        .claims
        .iter()
        .map(|(ty, c)| {
            let fields: usize = c
                .claims
                .iter()
                .map(|(k, v)| 2 * k.len() + json_weight(v))
                .sum();
            2 * CEDAR_VALUE_BYTES + 2 * (ty.len() + c.issuer.len()) + fields
        })
        .sum();
    let n = BASE_FIXED_BYTES
        + 2 * r.principal_did.len()
        + 2 * r.app.len()
        + strings_weight(r.issuers)
        + strings_weight(r.credential_types)
        + claims;
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Bytes a keyed principal's context holds, over-estimated.
fn context_weight(r: &DecisionRequest<'_>) -> u32 {
    let factors: usize = r
        .risk
        .factors
        .iter()
        .map(|f| CEDAR_VALUE_BYTES + 3 * f.len())
        .sum();
    let n = CONTEXT_FIXED_BYTES
        + 3 * r.auth_method.len()
        + strings_weight(r.credential_types)
        + factors;
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Generations of policy sets, process-wide.
static GENERATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Distinct client addresses whose `ip(…)` value is kept.
const IP_CACHE: u64 = 65_536;
/// Risk scores have four decimals in Cedar: 0.0000 ..= 1.0000.
const SCORE_STEPS: usize = 10_000;

/// A set of strings as a Cedar value.
fn strings(v: &[String]) -> RestrictedExpression {
    RestrictedExpression::new_set(
        v.iter()
            .map(|s| RestrictedExpression::new_string(s.clone())),
    )
}

fn type_name(s: &str) -> EntityTypeName {
    // Constant, valid names: parsing cannot fail.
    EntityTypeName::from_str(s).unwrap_or_else(|_| unreachable!("valid entity type name {s}"))
}

impl PolicyEngine {
    /// Load a schema file and policy files (or folders of `*.cedar`).
    pub fn load(schema: &Path, policies: &[PathBuf]) -> Result<Self, PolicyError> {
        let source = Source::Files {
            schema: schema.to_owned(),
            policies: policies.to_vec(),
        };
        let (loaded, stamp) = load_files(schema, policies)?;
        Ok(Self::with(source, loaded, stamp))
    }

    /// Build from in-memory sources: `(name, text)` per policy file.
    pub fn from_strings(
        schema_src: &str,
        policies: &[(String, String)],
    ) -> Result<Self, PolicyError> {
        let loaded = build(schema_src, "<schema>", policies)?;
        Ok(Self::with(Source::Strings, loaded, Vec::new()))
    }

    fn with(
        source: Source,
        loaded: Loaded,
        stamp: Vec<(PathBuf, Option<SystemTime>, u64)>,
    ) -> Self {
        Self {
            source,
            current: ArcSwap::from_pointee(loaded),
            problem: arc_swap::ArcSwapOption::empty(),
            stamp: Mutex::new(stamp),
            authorizer: Authorizer::new(),
            holder_type: type_name("Didgate::Holder"),
            app_type: type_name("Didgate::App"),
            resource_type: type_name("Didgate::Resource"),
            ips: moka::sync::Cache::new(IP_CACHE),
            scores: (0..=SCORE_STEPS).map(|_| OnceLock::new()).collect(),
            bases: moka::sync::Cache::builder()
                .max_capacity(BASE_CACHE_BYTES)
                .weigher(|_, b: &Arc<Base>| b.weight)
                .build(),
            contexts: moka::sync::Cache::builder()
                .max_capacity(CONTEXT_CACHE_BYTES)
                .weigher(|_, c: &Arc<ContextEntry>| c.weight)
                .build(),
            decisions: moka::sync::Cache::builder()
                .max_capacity(DECISION_CACHE_BYTES)
                .weigher(|_, m: &Arc<Memo>| m.weight())
                .build(),
            hasher: std::hash::RandomState::new(),
        }
    }

    fn ip_value(&self, ip: IpAddr) -> RestrictedExpression {
        self.ips
            .get_with(ip, || RestrictedExpression::new_ip(ip.to_string()))
    }

    /// `score` (finite, in [0, 1]) in steps of 0.0001: what Cedar's decimal sees.
    fn score_step(score: f64) -> usize {
        let score = if score.is_nan() {
            1.0
        } else {
            score.clamp(0.0, 1.0)
        };
        ((score * SCORE_STEPS as f64).round() as usize).min(SCORE_STEPS)
    }

    /// A score step as a Cedar decimal with four places.
    fn score_value(&self, step: usize) -> RestrictedExpression {
        self.scores[step]
            .get_or_init(|| {
                RestrictedExpression::new_decimal(format!(
                    "{}.{:04}",
                    step / SCORE_STEPS,
                    step % SCORE_STEPS
                ))
            })
            .clone()
    }

    pub fn policy_count(&self) -> usize {
        self.current.load().count
    }

    /// What the per-principal caches hold, in estimated bytes, each against
    /// its bound. Settles the caches' pending work first, so it is for
    /// tests and status pages, not the request path.
    pub fn cache_usage(&self) -> CacheUsage {
        self.bases.run_pending_tasks();
        self.contexts.run_pending_tasks();
        self.decisions.run_pending_tasks();
        CacheUsage {
            entity_stores: (self.bases.weighted_size(), BASE_CACHE_BYTES),
            contexts: (self.contexts.weighted_size(), CONTEXT_CACHE_BYTES),
            decisions: (self.decisions.weighted_size(), DECISION_CACHE_BYTES),
        }
    }

    /// SHA-256 of the policy set in force: over the schema's text and each
    /// policy file's name and text, in load order, each behind its length
    /// (8 bytes, big-endian), so that no two different sets share one.
    /// Decisions carry the digest of the set that made them.
    pub fn policy_set_digest(&self) -> [u8; 32] {
        self.current.load().digest
    }

    /// Whether policy `id` of the set in force is scoped to app `app`
    /// (`resource in Didgate::App::"app"`), not merely unscoped.
    pub fn is_scoped_to(&self, app: &str, id: &str) -> bool {
        let loaded = self.current.load();
        let id = PolicyId::new(id);
        loaded
            .by_app
            .get(app)
            .is_some_and(|set| set.policy(&id).is_some())
            && loaded.unscoped.policy(&id).is_none()
    }

    /// Re-read the files. On any error the last good set stays in force.
    pub fn reload(&self) -> Result<ReloadOutcome, PolicyError> {
        let Source::Files { schema, policies } = &self.source else {
            return Ok(ReloadOutcome {
                policies: self.policy_count(),
            });
        };
        // Record the stamp first: a broken file is reported once, not every poll.
        if let Ok(mut s) = self.stamp.lock() {
            *s = stamps(schema, policies);
        }
        let (loaded, _) = load_files(schema, policies)
            .inspect_err(|_| self.set_problem(Some("policy_files_invalid".to_owned())))?;
        let count = loaded.count;
        self.current.store(Arc::new(loaded));
        self.set_problem(None);
        Ok(ReloadOutcome { policies: count })
    }

    /// Record why the set in force is not the one that should be, as a
    /// short code that health may show (`None`: it is). The last good set
    /// stays in force either way; the caller logs the details.
    pub fn set_problem(&self, problem: Option<String>) {
        self.problem.store(problem.map(Arc::new));
    }

    /// The last failure to put a new set in force, until one succeeds.
    pub fn problem(&self) -> Option<Arc<String>> {
        self.problem.load_full()
    }

    /// Put another policy set in force (a governed bundle): built and
    /// validated first; on any error the set in force stays.
    pub fn replace(
        &self,
        schema_src: &str,
        sources: &[(String, String)],
    ) -> Result<ReloadOutcome, PolicyError> {
        let loaded = build(schema_src, "<schema>", sources)
            .inspect_err(|_| self.set_problem(Some("bundle_invalid".to_owned())))?;
        let count = loaded.count;
        self.current.store(Arc::new(loaded));
        self.set_problem(None);
        Ok(ReloadOutcome { policies: count })
    }

    /// Reload only if a file was added, removed or changed since the last load.
    pub fn reload_if_changed(&self) -> Option<Result<ReloadOutcome, PolicyError>> {
        let Source::Files { schema, policies } = &self.source else {
            return None;
        };
        let now = stamps(schema, policies);
        let changed = self.stamp.lock().map(|s| *s != now).unwrap_or(true);
        changed.then(|| self.reload())
    }

    /// Decide one request. Never panics; any evaluation problem denies.
    pub fn decide(&self, r: &DecisionRequest<'_>) -> Decision {
        let loaded = self.current.load();
        let deny = |reason: DecisionReason, err: String| Decision {
            effect: Effect::Deny,
            determining_policies: Vec::new(),
            errors: vec![err],
            reason,
            policy_set: loaded.digest,
        };
        let Some((&method, action)) = loaded.actions.get_key_value(r.action) else {
            return deny(
                DecisionReason::MethodNotAllowed,
                format!("no Cedar action for method {:?}", r.action),
            );
        };
        let score_step = Self::score_step(r.risk.score);
        let Some(key) = r.principal_key else {
            let request = self
                .build_context(r, score_step)
                .and_then(|context| self.build_request(&loaded, method, action, context, r));
            return match request {
                Ok((req, entities)) => self.evaluate(&loaded, &req, &entities, r.app),
                Err(e) => deny(DecisionReason::PolicyError, e),
            };
        };
        let slot = {
            use std::hash::{BuildHasher, Hash, Hasher};
            let mut h = self.hasher.build_hasher();
            key.hash(&mut h);
            loaded.generation.hash(&mut h);
            method.hash(&mut h);
            r.app.hash(&mut h);
            r.host.hash(&mut h);
            r.path.hash(&mut h);
            h.finish()
        };
        if let Some(m) = self.decisions.get(&slot) {
            if m.answers(loaded.generation, key, method, r, score_step) {
                return m.decision.clone();
            }
        }
        let context = match self.context_entry(key, r, score_step) {
            Ok(c) => c,
            Err(e) => return deny(DecisionReason::PolicyError, e),
        };
        let decision = match self.build_request(&loaded, method, action, context.context.clone(), r)
        {
            Ok((req, entities)) => self.evaluate(&loaded, &req, &entities, r.app),
            Err(e) => deny(DecisionReason::PolicyError, e),
        };
        self.decisions.insert(
            slot,
            Arc::new(Memo {
                context,
                generation: loaded.generation,
                principal: key,
                method,
                app: r.app.into(),
                host: r.host.into(),
                path: r.path.into(),
                decision: decision.clone(),
            }),
        );
        decision
    }

    /// Cedar's answer for a built request, with the gateway's rules on top:
    /// a forbid that could not be evaluated denies, and a denial only by
    /// `@step_up` policies asks to authenticate again.
    fn evaluate(&self, loaded: &Loaded, req: &Request, entities: &Entities, app: &str) -> Decision {
        let policies = loaded.by_app.get(app).unwrap_or(&loaded.unscoped);
        let resp = self.authorizer.is_authorized(req, policies, entities);
        let diag = resp.diagnostics();
        let determining: Vec<String> = diag.reason().map(|id| id.to_string()).collect();
        let errors: Vec<String> = diag.errors().map(|e| e.to_string()).collect();
        // Cedar skips a policy whose evaluation fails. For a permit that is
        // fail closed; for a forbid it would be fail open (an overflow in a
        // claim's arithmetic would switch the forbid off), so a forbid that
        // could not be evaluated denies.
        let failed_forbids: Vec<String> = diag
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
            })
            .filter(|id| {
                policies
                    .policy(id)
                    .is_some_and(|p| p.effect() == cedar_policy::Effect::Forbid)
            })
            .map(|id| id.to_string())
            .collect();
        if !failed_forbids.is_empty() {
            return Decision {
                effect: Effect::Deny,
                determining_policies: failed_forbids,
                errors,
                reason: DecisionReason::PolicyError,
                policy_set: loaded.digest,
            };
        }
        match resp.decision() {
            cedar_policy::Decision::Allow => Decision {
                effect: Effect::Allow,
                determining_policies: determining,
                errors,
                reason: DecisionReason::Allowed,
                policy_set: loaded.digest,
            },
            cedar_policy::Decision::Deny => {
                let step_up =
                    !determining.is_empty() && diag.reason().all(|id| loaded.step_up.contains(id));
                Decision {
                    effect: if step_up {
                        Effect::StepUp
                    } else {
                        Effect::Deny
                    },
                    determining_policies: determining,
                    errors,
                    reason: if step_up {
                        DecisionReason::StepUpRequired
                    } else {
                        DecisionReason::PolicyDenied
                    },
                    policy_set: loaded.digest,
                }
            }
        }
    }

    /// The entity store without the resource: the method's actions, the app
    /// and the holder. Built anew, or reused for a keyed principal.
    fn base_entities(
        &self,
        loaded: &Loaded,
        method: &'static str,
        principal: &EntityUid,
        app: &EntityUid,
        r: &DecisionRequest<'_>,
    ) -> Result<Entities, String> {
        let Some(key) = r.principal_key else {
            return self.build_base(loaded, method, principal, app, r);
        };
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut h = self.hasher.build_hasher();
        key.hash(&mut h);
        method.hash(&mut h);
        r.app.hash(&mut h);
        let slot = h.finish();
        if let Some(b) = self.bases.get(&slot) {
            if b.generation == loaded.generation
                && b.principal == key
                && b.action == method
                && &*b.app == r.app
            {
                return Ok(b.entities.clone());
            }
        }
        let entities = self.build_base(loaded, method, principal, app, r)?;
        self.bases.insert(
            slot,
            Arc::new(Base {
                weight: base_weight(r),
                generation: loaded.generation,
                principal: key,
                action: method,
                app: r.app.into(),
                entities: entities.clone(),
            }),
        );
        Ok(entities)
    }

    fn build_base(
        &self,
        loaded: &Loaded,
        method: &'static str,
        principal: &EntityUid,
        app: &EntityUid,
        r: &DecisionRequest<'_>,
    ) -> Result<Entities, String> {
        let holder = Entity::new(
            principal.clone(),
            HashMap::from([
                (
                    "did".to_owned(),
                    RestrictedExpression::new_string(r.principal_did.to_owned()),
                ),
                ("issuers".to_owned(), strings(r.issuers)),
                ("credential_types".to_owned(), strings(r.credential_types)),
                (
                    "claims".to_owned(),
                    claims_record(&loaded.claim_shape, r.claims),
                ),
            ]),
            HashSet::new(),
        )
        .map_err(|e| e.to_string())?;
        let actions = loaded
            .action_stores
            .get(method)
            .cloned()
            .unwrap_or_else(Entities::empty);
        actions
            .add_entities(
                [holder, Entity::new_no_attrs(app.clone(), HashSet::new())],
                None,
            )
            .map_err(|e| e.to_string())
    }

    fn build_request(
        &self,
        loaded: &Loaded,
        method: &'static str,
        action: &EntityUid,
        context: Context,
        r: &DecisionRequest<'_>,
    ) -> Result<(Request, Entities), String> {
        let principal = EntityUid::from_type_name_and_id(
            self.holder_type.clone(),
            EntityId::new(r.principal_did),
        );
        let app = EntityUid::from_type_name_and_id(self.app_type.clone(), EntityId::new(r.app));
        let mut rid = String::with_capacity(r.app.len() + r.path.len() + 1);
        rid.push_str(r.app);
        rid.push(':');
        rid.push_str(r.path);
        let resource =
            EntityUid::from_type_name_and_id(self.resource_type.clone(), EntityId::new(rid));
        let base = self.base_entities(loaded, method, &principal, &app, r)?;
        let res = Entity::new(
            resource.clone(),
            HashMap::from([
                (
                    "app".to_owned(),
                    RestrictedExpression::new_string(r.app.to_owned()),
                ),
                (
                    "host".to_owned(),
                    RestrictedExpression::new_string(r.host.to_owned()),
                ),
                (
                    "path".to_owned(),
                    RestrictedExpression::new_string(r.path.to_owned()),
                ),
            ]),
            HashSet::from([app.clone()]),
        )
        .map_err(|e| e.to_string())?;
        let entities = base.add_entities([res], None).map_err(|e| e.to_string())?;
        let req = Request::new(principal, action.clone(), resource, context, None)
            .map_err(|e| e.to_string())?;
        Ok((req, entities))
    }

    /// A keyed principal's context: reused while its requests carry the
    /// same inputs, built otherwise.
    fn context_entry(
        &self,
        key: [u8; 16],
        r: &DecisionRequest<'_>,
        score_step: usize,
    ) -> Result<Arc<ContextEntry>, String> {
        if let Some(e) = self.contexts.get(&key) {
            if e.built_from(r, score_step) {
                return Ok(e);
            }
        }
        let context = self.build_context(r, score_step)?;
        let entry = Arc::new(ContextEntry {
            weight: context_weight(r),
            auth_method: r.auth_method.into(),
            client_ip: r.client_ip,
            now_unix: r.now_unix,
            score_step,
            factors: r.risk.factors.iter().map(|f| Box::from(*f)).collect(),
            cold_start: r.risk.cold_start,
            context,
        });
        self.contexts.insert(key, entry.clone());
        Ok(entry)
    }

    fn build_context(&self, r: &DecisionRequest<'_>, score_step: usize) -> Result<Context, String> {
        let secs = r.now_unix.rem_euclid(86_400);
        // 1970-01-01 was a Thursday (3 with Monday = 0).
        let weekday = (r.now_unix.div_euclid(86_400) + 3).rem_euclid(7);
        Context::from_pairs([
            (
                "auth_method".to_owned(),
                RestrictedExpression::new_string(r.auth_method.to_owned()),
            ),
            ("credential_types".to_owned(), strings(r.credential_types)),
            ("client_ip".to_owned(), self.ip_value(r.client_ip)),
            (
                "time".to_owned(),
                RestrictedExpression::new_long(r.now_unix),
            ),
            (
                "hour".to_owned(),
                RestrictedExpression::new_long(secs / 3600),
            ),
            (
                "weekday".to_owned(),
                RestrictedExpression::new_long(weekday),
            ),
            (
                "risk".to_owned(),
                RestrictedExpression::new_record([
                    ("score".to_owned(), self.score_value(score_step)),
                    (
                        "factors".to_owned(),
                        RestrictedExpression::new_set(
                            r.risk
                                .factors
                                .iter()
                                .map(|s| RestrictedExpression::new_string((*s).to_owned())),
                        ),
                    ),
                    (
                        "cold_start".to_owned(),
                        RestrictedExpression::new_bool(r.risk.cold_start),
                    ),
                ])
                .map_err(|e| e.to_string())?,
            ),
        ])
        .map_err(|e| e.to_string())
    }
}

/// The files of folder `dir` named `*.{extension}`, sorted.
pub(crate) fn files_in(dir: &Path, extension: &str) -> Result<Vec<PathBuf>, PolicyError> {
    let rd = std::fs::read_dir(dir).map_err(|source| PolicyError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|f| f.extension().is_some_and(|e| e == extension) && f.is_file())
        .collect();
    files.sort();
    Ok(files)
}

fn policy_files(policies: &[PathBuf]) -> Result<Vec<PathBuf>, PolicyError> {
    let mut out = Vec::new();
    for p in policies {
        if p.is_dir() {
            out.extend(files_in(p, "cedar")?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn stamps(schema: &Path, policies: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut files = vec![schema.to_owned()];
    files.extend(policy_files(policies).unwrap_or_default());
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).ok();
            let mtime = m.as_ref().and_then(|m| m.modified().ok());
            let len = m.map(|m| m.len()).unwrap_or(0);
            (f, mtime, len)
        })
        .collect()
}

#[allow(clippy::type_complexity)]
fn load_files(
    schema: &Path,
    policies: &[PathBuf],
) -> Result<(Loaded, Vec<(PathBuf, Option<SystemTime>, u64)>), PolicyError> {
    let stamp = stamps(schema, policies);
    let (schema_src, sources) = read_sources(schema, policies)?;
    let loaded = build(&schema_src, &schema.display().to_string(), &sources)?;
    Ok((loaded, stamp))
}

/// The schema's text and each policy file's (file name, text), in load
/// order: sorted within each folder, folders and files in config order.
pub(crate) fn read_sources(
    schema: &Path,
    policies: &[PathBuf],
) -> Result<(String, Vec<(String, String)>), PolicyError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| PolicyError::Read {
            path: p.to_owned(),
            source,
        })
    };
    let schema_src = read(schema)?;
    let files = policy_files(policies)?;
    if files.is_empty() {
        return Err(PolicyError::NoPolicies);
    }
    let mut sources = Vec::with_capacity(files.len());
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sources.push((name, read(f)?));
    }
    Ok((schema_src, sources))
}

/// Every policy of `sources` by its id (`@id`, or `file:index` as the
/// engine names it): (file, the policy's text as Cedar prints it).
pub(crate) fn policies_by_id(
    sources: &[(String, String)],
) -> Result<std::collections::BTreeMap<String, (String, String)>, PolicyError> {
    let mut out = std::collections::BTreeMap::new();
    for (name, text) in sources {
        let parsed = PolicySet::from_str(text).map_err(|e| PolicyError::Parse {
            file: name.clone(),
            at: e
                .iter()
                .next()
                .map(|d| where_in(text, d))
                .unwrap_or_else(|| "?".into()),
            message: e.to_string(),
        })?;
        for (i, p) in parsed.policies().enumerate() {
            let id = p
                .annotation("id")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{name}:{i}"));
            out.insert(id, (name.clone(), p.to_string()));
        }
    }
    Ok(out)
}

/// Line and column (1-based) of a byte offset.
fn position(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

fn where_in(src: &str, d: &dyn Diagnostic) -> String {
    d.labels()
        .and_then(|mut l| l.next())
        .map(|span| {
            let (line, col) = position(src, span.offset());
            format!("{line}:{col}")
        })
        .unwrap_or_else(|| "?".into())
}

/// The app a policy's resource scope names (`resource in Didgate::App::"x"`,
/// or `resource is … in Didgate::App::"x"`), if any.
fn scoped_app(p: &cedar_policy::Policy) -> Option<String> {
    let uid = match p.resource_constraint() {
        cedar_policy::ResourceConstraint::In(uid)
        | cedar_policy::ResourceConstraint::IsIn(_, uid) => uid,
        _ => return None,
    };
    (uid.type_name().to_string() == "Didgate::App").then(|| uid.id().unescaped().to_owned())
}

/// Per-app policy sets (see `Loaded::by_app`).
fn slice_by_app(set: &PolicySet) -> Result<(HashMap<String, PolicySet>, PolicySet), PolicyError> {
    let add = |s: &mut PolicySet, p: &cedar_policy::Policy| {
        s.add(p.clone()).map_err(|e| PolicyError::Parse {
            file: "<policies>".into(),
            at: "?".into(),
            message: e.to_string(),
        })
    };
    let mut unscoped = PolicySet::new();
    let mut scoped: HashMap<String, Vec<&cedar_policy::Policy>> = HashMap::new();
    for p in set.policies() {
        match scoped_app(p) {
            Some(app) => scoped.entry(app).or_default().push(p),
            None => add(&mut unscoped, p)?,
        }
    }
    let mut by_app = HashMap::with_capacity(scoped.len());
    for (app, policies) in scoped {
        let mut s = unscoped.clone();
        for p in policies {
            add(&mut s, p)?;
        }
        by_app.insert(app, s);
    }
    Ok((by_app, unscoped))
}

/// SHA-256 over the schema and the policy files, each part behind its
/// length so that moving bytes between parts changes the digest.
fn set_digest(schema_src: &str, sources: &[(String, String)]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    part(schema_src.as_bytes());
    for (name, text) in sources {
        part(name.as_bytes());
        part(text.as_bytes());
    }
    h.finalize().into()
}

fn build(
    schema_src: &str,
    schema_name: &str,
    sources: &[(String, String)],
) -> Result<Loaded, PolicyError> {
    let (schema, _warnings) =
        Schema::from_cedarschema_str(schema_src).map_err(|e| PolicyError::Schema {
            file: schema_name.to_owned(),
            at: where_in(schema_src, &e),
            message: e.to_string(),
        })?;
    let schema_json = SchemaFragment::from_cedarschema_str(schema_src)
        .ok()
        .and_then(|(f, _)| f.to_json_value().ok())
        .unwrap_or_default();
    let claim_shape = claim_shape(&schema_json).map_err(|message| PolicyError::Schema {
        file: schema_name.to_owned(),
        at: "entity Holder".into(),
        message,
    })?;

    let mut set = PolicySet::new();
    let mut step_up = HashSet::new();
    let mut origin: HashMap<String, String> = HashMap::new();
    for (name, text) in sources {
        let parsed = PolicySet::from_str(text).map_err(|e| {
            let first = e.iter().next();
            PolicyError::Parse {
                file: name.clone(),
                at: first
                    .map(|d| where_in(text, d))
                    .unwrap_or_else(|| "?".into()),
                message: first
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| e.to_string()),
            }
        })?;
        if parsed.templates().next().is_some() {
            return Err(PolicyError::Parse {
                file: name.clone(),
                at: "?".into(),
                message: "policy templates are not supported; write static policies".into(),
            });
        }
        for (i, p) in parsed.policies().enumerate() {
            let id = p
                .annotation("id")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{name}:{i}"));
            if let Some(prev) = origin.insert(id.clone(), name.clone()) {
                return Err(PolicyError::DuplicateId {
                    id,
                    first: prev,
                    second: name.clone(),
                });
            }
            let pid = PolicyId::new(&id);
            if p.annotation("step_up").is_some() {
                if p.effect() != cedar_policy::Effect::Forbid {
                    return Err(PolicyError::Parse {
                        file: name.clone(),
                        at: "?".into(),
                        message: format!(
                            "policy {id}: @step_up only makes sense on a forbid policy"
                        ),
                    });
                }
                step_up.insert(pid.clone());
            }
            set.add(p.new_id(pid)).map_err(|e| PolicyError::Parse {
                file: name.clone(),
                at: "?".into(),
                message: e.to_string(),
            })?;
        }
    }

    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    if !result.validation_passed() {
        let problems: Vec<String> = result
            .validation_errors()
            .map(|e| {
                let id = e.policy_id().to_string();
                let file = origin.get(&id).cloned().unwrap_or_default();
                format!("{file}: policy {id}: {e}")
            })
            .collect();
        return Err(PolicyError::Validation { problems });
    }

    let all_actions = schema.action_entities().map_err(|e| PolicyError::Schema {
        file: schema_name.to_owned(),
        at: "?".into(),
        message: e.to_string(),
    })?;
    let action_entities: Vec<Entity> = all_actions.iter().cloned().collect();
    let action_type = type_name("Didgate::Action");
    let actions: HashMap<&'static str, EntityUid> = METHODS
        .iter()
        .map(|m| {
            (
                *m,
                EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(m)),
            )
        })
        .filter(|(_, uid)| action_entities.iter().any(|e| e.uid() == *uid))
        .collect();
    if actions.is_empty() {
        return Err(PolicyError::Schema {
            file: schema_name.to_owned(),
            at: "?".into(),
            message: "the schema declares no actions named after HTTP methods in namespace Didgate (e.g. action \"GET\")"
                .into(),
        });
    }
    // Each method's action entity with every action group above it.
    let action_entities: HashMap<&'static str, Vec<Entity>> = actions
        .iter()
        .map(|(m, uid)| {
            let mut wanted: HashSet<EntityUid> = all_actions
                .ancestors(uid)
                .map(|a| a.cloned().collect())
                .unwrap_or_default();
            wanted.insert(uid.clone());
            let closure = action_entities
                .iter()
                .filter(|e| wanted.contains(&e.uid()))
                .cloned()
                .collect();
            (*m, closure)
        })
        .collect();
    let action_stores = action_entities
        .iter()
        .map(|(m, closure)| {
            Entities::from_entities(closure.iter().cloned(), None)
                .map(|store| (*m, store))
                .map_err(|e| PolicyError::Schema {
                    file: schema_name.to_owned(),
                    at: "?".into(),
                    message: e.to_string(),
                })
        })
        .collect::<Result<_, _>>()?;
    let count = set.policies().count();
    let (by_app, unscoped) = slice_by_app(&set)?;
    Ok(Loaded {
        generation: GENERATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        digest: set_digest(schema_src, sources),
        by_app,
        unscoped,
        count,
        claim_shape,
        action_stores,
        actions,
        step_up,
    })
}
