//! `didgate audit`: the decision log as an auditor checks it. `verify`
//! reads a log's public files (its `checkpoint` and `tile/` tree: the
//! gateway's `[audit] dir`, or a copy) and trusts nothing but the verifier
//! key; `prove` writes a proof that one decision is in the log, which
//! `check-proof` checks with nothing but the key; `status` shows the log and
//! how far the SQL index has caught up and whether the log extends the head
//! anchored on chain; `anchor` anchors the latest checkpoint now;
//! `archive` moves sealed tiles and bundles out (retention).
//!
//! Exit status: 0 when what was checked holds, 2 when it does not (the log
//! or the proof does not verify: evidence, printed), 1 when it could not be
//! checked (a file missing, a bad argument, the database unreachable).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use audit::tlog::{
    archive_sealed, check_inclusion, decode, log_id, prove_inclusion, read_entry, verify_log,
    ArchiveTo, Files, Hash, SignedCheckpoint,
};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::cli::exit::Exit;
use crate::config::Config;
use crate::request::assertion::{read_key_file, AssertionSigner};
use crate::server::anchor::{Anchored, Anchorer, Standing};
use crate::server::decision_log;

/// What `audit prove` writes and `audit check-proof` reads.
const PROOF_FORMAT: &str = "didgate-inclusion-proof/1";

/// An inclusion proof of one entry, with everything needed to check it but
/// the verifier key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofFile {
    format: String,
    /// The log's name (the checkpoint's first line).
    log: String,
    /// The entry's index in the log.
    index: u64,
    /// The entry's bytes, base64 (its canonical JSON; see ARCHITECTURE.md).
    entry: String,
    /// The signed checkpoint the proof leads to, as the gateway published it.
    checkpoint: String,
    /// The RFC 9162 inclusion proof: hashes, base64, leaf to root.
    proof: Vec<String>,
    /// With `[audit.anchor]`, once the entry is under an anchored head: the
    /// proof that leads to that head on chain instead of to a signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchored: Option<AnchoredProof>,
}

/// An inclusion proof against a tree head anchored on chain.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnchoredProof {
    /// The anchoring identity (`0x…`) and the `LogAnchor` contract, for the
    /// reader's information: `check-proof -c` uses its own config's.
    identity: String,
    contract: String,
    /// The anchored head: entries, RFC 9162 root (base64), and the block.
    size: u64,
    root: String,
    block: u64,
    /// The inclusion proof of the entry in the tree of `size` entries.
    proof: Vec<String>,
}

/// This gateway's log, from its config: the directory and the verifier key
/// its checkpoints are signed for.
struct LocalLog {
    dir: PathBuf,
    /// `[audit] archive_dir`, where sealed files may have moved.
    archives: Vec<PathBuf>,
    vkey: String,
}

impl LocalLog {
    fn files(&self) -> Files<'_> {
        Files {
            dir: &self.dir,
            archives: &self.archives,
        }
    }
}

fn local_log(config: &Config) -> Result<LocalLog> {
    let key_path = config.resolve(&config.identity.key_file);
    let (key, _) = read_key_file(&key_path).with_context(|| {
        format!(
            "reading the gateway's key {} (the log's checkpoints are signed with it)",
            key_path.display()
        )
    })?;
    let signer = AssertionSigner::new(
        key,
        &config.server.public_url,
        config.identity.assertion_ttl_secs,
    );
    let (dir, tc) = decision_log::tlog_config(config, &signer).map_err(|e| anyhow!("{e}"))?;
    let vkey = tc.vkey().map_err(|e| anyhow!("the log's key: {e}"))?;
    Ok(LocalLog {
        dir,
        archives: tc.archives,
        vkey,
    })
}

/// The log's checkpoint, its signature checked with `vkey`.
fn checkpoint(dir: &Path, vkey: &str) -> Result<SignedCheckpoint> {
    let path = dir.join("checkpoint");
    let note = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    SignedCheckpoint::verify(&note, vkey).map_err(|e| {
        eprintln!("the checkpoint {} does not verify: {e}", path.display());
        Exit(2).into()
    })
}

/// `didgate audit verify`: every entry, tile and bundle of the log against
/// its signed checkpoint. `dir` and `vkey` name someone else's copy; by
/// default the log of `config`'s `[audit]`, which is then also checked
/// against the head anchored on chain (`[audit.anchor]`): a history
/// rewritten with the gateway's own key verifies against its signatures,
/// and only the anchor catches it.
///
/// `archives`: directories sealed tiles and bundles were moved to (`audit
/// archive`), read after `dir`; this gateway's `[audit] archive_dir` too.
pub async fn verify(
    config: &Path,
    dir: Option<PathBuf>,
    vkey: Option<String>,
    mut archives: Vec<PathBuf>,
) -> Result<()> {
    let (dir, vkey, local) = match (dir, vkey) {
        (Some(dir), Some(vkey)) => (dir, vkey, None),
        (None, None) => {
            let config = Config::load(config)?;
            let log = local_log(&config)?;
            archives.extend(log.archives.iter().cloned());
            (log.dir.clone(), log.vkey.clone(), Some((config, log)))
        }
        _ => bail!("--dir and --vkey go together (a copy of a log and the key to check it with)"),
    };
    let report = tokio::task::spawn_blocking({
        let (dir, vkey) = (dir.clone(), vkey.clone());
        move || {
            let files = Files {
                dir: &dir,
                archives: &archives,
            };
            verify_log(files, &vkey)
        }
    })
    .await
    .map_err(|e| anyhow!("verifying: {e}"))?
    .with_context(|| format!("verifying {}", dir.display()))?;
    print!("{report}");
    if report.is_ok() {
        let cp = report.checkpoint.as_ref().map_or(0, |c| c.size);
        println!(
            "OK: the log in {} verifies: {cp} entries, every one in the signed checkpoint",
            dir.display()
        );
        if let (Some((config, log)), Some(cp)) = (&local, &report.checkpoint) {
            let store = crate::store::Store::connect(&config.database_url()).await?;
            let anchored = anchor_status(config, &store, log, &cp.origin).await;
            store.close().await;
            anchored?;
        }
        Ok(())
    } else {
        match report.first_bad_entry() {
            Some(i) => println!("FAILED: the log does not verify; first entry at fault: {i}"),
            None => println!("FAILED: the log does not verify"),
        }
        Err(Exit(2).into())
    }
}

/// `didgate audit prove`: an inclusion proof of decision `id` (found through
/// the index) or of entry `index`, in the log's latest checkpoint, as JSON.
pub async fn prove(
    config: &Path,
    id: Option<String>,
    index: Option<u64>,
    out: Option<PathBuf>,
) -> Result<()> {
    let config = Config::load(config)?;
    let log = local_log(&config)?;
    let cp = checkpoint(&log.dir, &log.vkey)?;
    let index = match (id.as_deref(), index) {
        (Some(id), None) => locate(&config, &log, &cp, id).await?,
        (None, Some(index)) => index,
        _ => bail!("name the decision: its id, or --index N"),
    };
    if index >= cp.size {
        bail!(
            "entry {index} is not in the latest signed checkpoint yet (size {}); a checkpoint \
             appears within [audit] checkpoint_interval_ms while decisions arrive",
            cp.size
        );
    }
    let entry = read_entry(log.files(), index, &cp)?;
    let decision = decode(&entry).with_context(|| format!("entry {index} cannot be read"))?;
    if let Some(id) = &id {
        if decision.id != *id {
            bail!(
                "the index says decision {id} is entry {index}, but that entry is decision {}: \
                 the index does not match this log (run `didgate audit verify`)",
                decision.id
            );
        }
    }
    let proof = prove_inclusion(log.files(), index, &cp)?;
    // Check it as `check-proof` will, so a bad proof is never handed out.
    check_inclusion(&proof, &cp, index, &entry).context("the proof does not check")?;
    let anchored = anchored_proof(&config, &log, &cp, index, &entry).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let file = ProofFile {
        format: PROOF_FORMAT.to_owned(),
        log: cp.origin.clone(),
        index,
        entry: b64.encode(&entry),
        checkpoint: String::from_utf8_lossy(&cp.note).into_owned(),
        proof: proof.iter().map(Hash::to_string).collect(),
        anchored,
    };
    let json = serde_json::to_string_pretty(&file)? + "\n";
    match out {
        Some(path) => {
            std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote the proof of entry {index} (decision {}) to {}; check it with \
                 `didgate audit check-proof {} --vkey '{}'`",
                decision.id,
                path.display(),
                path.display(),
                log.vkey
            );
        }
        None => print!("{json}"),
    }
    Ok(())
}

/// With `[audit.anchor]`: the inclusion proof of entry `index` in the tree
/// head anchored last, if that head covers it (else `None`: anchor first).
async fn anchored_proof(
    config: &Config,
    log: &LocalLog,
    cp: &SignedCheckpoint,
    index: u64,
    entry: &[u8],
) -> Result<Option<AnchoredProof>> {
    if config.audit.anchor.is_none() {
        return Ok(None);
    }
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let found = async {
        let Some(a) =
            Anchorer::open_read_only(config, &store, &log.dir, &cp.origin, &log.vkey).await?
        else {
            return Ok(None);
        };
        let head = a.anchored().await?;
        if index >= head.size {
            eprintln!(
                "entry {index} is not under the anchored head yet (size {}): the proof leads to \
                 the signed checkpoint only; run `didgate audit anchor` and prove it again to \
                 reach the chain",
                head.size
            );
            return Ok(None);
        }
        let at = SignedCheckpoint {
            origin: cp.origin.clone(),
            size: head.size,
            root: Hash(head.root.0),
            note: Vec::new(),
        };
        let proof = prove_inclusion(log.files(), index, &at)?;
        check_inclusion(&proof, &at, index, entry).context("the anchored proof does not check")?;
        let block = a.last_anchor_block().await?;
        anyhow::Ok(Some(AnchoredProof {
            identity: a.identity().to_string(),
            contract: a.contract().to_string(),
            size: head.size,
            root: at.root.to_string(),
            block,
            proof: proof.iter().map(Hash::to_string).collect(),
        }))
    }
    .await;
    store.close().await;
    found
}

/// The entry of decision `id` in this gateway's log, through the index.
async fn locate(config: &Config, log: &LocalLog, cp: &SignedCheckpoint, id: &str) -> Result<u64> {
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let found = store.decisions().locate(id).await;
    store.close().await;
    let Some(at) = found? else {
        bail!(
            "decision {id} is not in the index: it may not be indexed yet (the index trails \
             the log by about a second), or it was logged by a gateway on another database"
        );
    };
    let (Some(at_log), Some(index)) = (at.log_id, at.index) else {
        bail!("decision {id} was logged before the transparency log existed: there is no entry to prove");
    };
    if cp.size == 0 {
        bail!("this gateway's log has no signed entry yet");
    }
    let ours = log_id(&read_entry(log.files(), 0, cp)?);
    if at.gateway != config.server.instance || at_log != ours {
        bail!(
            "decision {id} is in the log of gateway {:?} (log {}), not this one's; run \
             `didgate audit prove` with that gateway's config",
            at.gateway,
            &at_log[..at_log.len().min(16)]
        );
    }
    Ok(index)
}

/// `didgate audit check-proof`: check a proof made by `audit prove` with
/// nothing but the log's verifier key (`vkey`), or with nothing but the
/// chain (`config`: its `[chains]` and `[audit.anchor]` name the chain, the
/// contract and the gateway's identity), or both; print the decision.
pub async fn check_proof(file: &Path, vkey: Option<&str>, config: Option<&Path>) -> Result<()> {
    if vkey.is_none() && config.is_none() {
        bail!("say what to trust: --vkey (the log's key) and/or -c CONFIG (the chain)");
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let proof: ProofFile = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a didgate inclusion proof", file.display()))?;
    if proof.format != PROOF_FORMAT {
        bail!(
            "{} is a {:?}, not a {PROOF_FORMAT:?}",
            file.display(),
            proof.format
        );
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let entry = b64
        .decode(&proof.entry)
        .context("the proof's entry is not base64")?;
    let hashes = proof
        .proof
        .iter()
        .map(|h| Hash::parse_hash(h).map_err(|e| anyhow!("a proof hash {h:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let mut held = Vec::new();
    if let Some(vkey) = vkey {
        let cp = match SignedCheckpoint::verify(proof.checkpoint.as_bytes(), vkey) {
            Ok(cp) => cp,
            Err(e) => {
                println!("FAILED: the proof's checkpoint is not signed by this key: {e}");
                return Err(Exit(2).into());
            }
        };
        if let Err(e) = check_inclusion(&hashes, &cp, proof.index, &entry) {
            println!(
                "FAILED: this entry is not entry {} of the log {} at size {}: {e}",
                proof.index, cp.origin, cp.size
            );
            return Err(Exit(2).into());
        }
        held.push(format!(
            "in its signed checkpoint of size {} (root {})",
            cp.size, cp.root
        ));
    }
    if let Some(config) = config {
        held.push(check_on_chain(config, &proof, &entry).await?);
    }
    let decision = decode(&entry).context("the entry is in the log but cannot be read")?;
    println!("{}", String::from_utf8_lossy(&entry));
    println!(
        "OK: decision {} ({} {} {} -> {}) is entry {} of the log {}, {}",
        decision.id,
        decision.method,
        decision.path,
        decision.effect.as_str(),
        decision.reason,
        proof.index,
        proof.log,
        held.join(", and ")
    );
    Ok(())
}

/// The proof's anchored part against the chain alone: the head it names
/// was anchored by the configured identity on the configured contract, and
/// the entry is in its tree.
async fn check_on_chain(config: &Path, proof: &ProofFile, entry: &[u8]) -> Result<String> {
    let Some(anchored) = &proof.anchored else {
        println!(
            "FAILED: the proof leads to no anchored head (made before its entry was anchored: \
             prove it again after `didgate audit anchor`)"
        );
        return Err(Exit(2).into());
    };
    let config = Config::load(config)?;
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let found = async {
        let a = Anchorer::open_read_only(&config, &store, Path::new("."), &proof.log, "")
            .await?
            .context("the config has no [audit.anchor]: it names the chain, contract and identity to trust")?;
        let at = a.anchored_at(anchored.size).await?;
        anyhow::Ok((a.identity(), a.contract(), at))
    }
    .await;
    store.close().await;
    let (identity, contract, at) = found?;
    let Some((block, root)) = at else {
        println!(
            "FAILED: identity {identity} never anchored the log {} at size {} on {contract}",
            proof.log, anchored.size
        );
        return Err(Exit(2).into());
    };
    let root = Hash(root.0);
    let hashes = anchored
        .proof
        .iter()
        .map(|h| Hash::parse_hash(h).map_err(|e| anyhow!("an anchored proof hash {h:?}: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let at = SignedCheckpoint {
        origin: proof.log.clone(),
        size: anchored.size,
        root,
        note: Vec::new(),
    };
    if let Err(e) = check_inclusion(&hashes, &at, proof.index, entry) {
        println!(
            "FAILED: this entry is not entry {} of the tree anchored on chain at size {} in block {block}: {e}",
            proof.index, anchored.size
        );
        return Err(Exit(2).into());
    }
    Ok(format!(
        "under the head anchored on chain by {identity} at size {} in block {block} (root {root})",
        anchored.size
    ))
}

/// How far the SQL index trails this gateway's log, for `didgate decisions`
/// (`None` when the log cannot be read from here).
pub async fn index_lag(config: &Config, store: &crate::store::Store) -> Option<String> {
    let log = local_log(config).ok()?;
    let cp = checkpoint(&log.dir, &log.vkey).ok()?;
    if cp.size == 0 {
        return Some("index: the log is empty".to_owned());
    }
    let done = indexed(config, &log, &cp, store).await.ok()?;
    Some(format!(
        "index: {done} of {} signed entries of this gateway's log ({} behind)",
        cp.size,
        cp.size - done
    ))
}

/// `didgate audit status`: the log (size, last checkpoint and its age) and
/// how far the SQL index has caught up.
pub async fn status(config: &Path) -> Result<()> {
    let config = Config::load(config)?;
    let log = local_log(&config)?;
    println!("log:        {}", log.dir.display());
    println!("vkey:       {}", log.vkey);
    let cp = checkpoint(&log.dir, &log.vkey)?;
    let age = std::fs::metadata(log.dir.join("checkpoint"))
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or_else(|| "?".to_owned(), |d| format!("{}s ago", d.as_secs()));
    println!(
        "checkpoint: size {} root {} (written {age})",
        cp.size, cp.root
    );
    let segments = log.dir.join("private/entries");
    if let Ok(d) = std::fs::read_dir(&segments) {
        println!(
            "segments:   {} not yet published as bundles, in {}",
            d.count(),
            segments.display()
        );
    }
    if cp.size == 0 {
        println!("index:      nothing to index yet");
        return Ok(());
    }
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let done = indexed(&config, &log, &cp, &store).await;
    let anchored = anchor_status(&config, &store, &log, &cp.origin).await;
    store.close().await;
    let done = done?;
    println!(
        "index:      {done} of {} signed entries indexed ({} behind) in the {} database",
        cp.size,
        cp.size - done,
        store.backend()
    );
    anchored
}

/// How many of the signed entries of this gateway's log (checkpoint `cp`)
/// the SQL index holds.
async fn indexed(
    config: &Config,
    log: &LocalLog,
    cp: &SignedCheckpoint,
    store: &crate::store::Store,
) -> Result<u64> {
    if cp.size == 0 {
        return Ok(0);
    }
    let log_ref = audit::LogRef {
        gateway: std::sync::Arc::from(config.server.instance.as_str()),
        log_id: log_id(&read_entry(log.files(), 0, cp)?),
    };
    let cursor = store.decisions().cursor(&log_ref).await?;
    Ok(cursor.next_index.min(cp.size))
}

/// The `anchor:` lines of `audit status`; an error (exit 2) when the local
/// log does not extend the head anchored on chain.
async fn anchor_status(
    config: &Config,
    store: &crate::store::Store,
    log: &LocalLog,
    origin: &str,
) -> Result<()> {
    let Some(a) = Anchorer::open_read_only(config, store, &log.dir, origin, &log.vkey).await?
    else {
        println!("anchor:     none ([audit.anchor] is not configured)");
        return Ok(());
    };
    println!(
        "anchor:     identity {} on contract {}",
        a.identity(),
        a.contract()
    );
    match a.standing().await? {
        Standing::NotAnchored => println!("anchored:   nothing yet"),
        Standing::Consistent { anchored, local } => println!(
            "anchored:   size {} root {} in block {}; the local log (size {local}) extends it: consistent",
            anchored.size,
            anchored.root,
            a.last_anchor_block().await?
        ),
        Standing::Inconsistent {
            anchored,
            local,
            why,
        } => {
            println!(
                "FAILED: the local log (size {local}) is not consistent with the head anchored \
                 on chain (size {} root {}): {why}. A log that verifies against its own \
                 signatures but not against its anchor is a forked history, signed with the \
                 gateway's own key.",
                anchored.size, anchored.root
            );
            return Err(Exit(2).into());
        }
    }
    every_anchor(config, store, &a).await
}

/// The `anchors:` line of `audit status`: every anchor of this log the
/// chain index holds (brought up to date first), each checked against the
/// local log; an error (exit 2) names the first that it does not extend.
async fn every_anchor(config: &Config, store: &crate::store::Store, a: &Anchorer) -> Result<()> {
    let chain = a.chain_name();
    let synced = match crate::server::chains::follower_for(config, chain, store).await {
        Ok((_, follower, _)) => follower
            .sync_once()
            .await
            .map(|r| format!("chain index at block {}", r.indexed))
            .map_err(|e| anyhow!("{e}")),
        Err(e) => Err(anyhow!("{e}")),
    };
    let synced = synced.unwrap_or_else(|e| format!("chain index not brought up to date: {e}"));
    let anchors = a.indexed_anchors(store).await?;
    if let Some((bad, why)) = anchors
        .iter()
        .find_map(|(x, held)| held.as_ref().err().map(|why| (x, why)))
    {
        println!(
            "FAILED: the anchor of size {} root {} (block {}, transaction {}) is not \
             consistent with the local log: {why}",
            bad.event.head.size, bad.event.head.root, bad.block_number, bad.tx_hash
        );
        return Err(Exit(2).into());
    }
    match anchors.last() {
        None => println!("anchors:    none indexed on {chain} ({synced})"),
        Some((last, _)) => println!(
            "anchors:    {} indexed on {chain}, the last of size {} in block {} ({synced}); \
             the local log extends every one",
            anchors.len(),
            last.event.head.size,
            last.block_number
        ),
    }
    Ok(())
}

/// `didgate audit anchor`: anchor the latest checkpoint now.
pub async fn anchor_now(config: &Path) -> Result<()> {
    let config = Config::load(config)?;
    let log = local_log(&config)?;
    let cp = checkpoint(&log.dir, &log.vkey)?;
    let store = crate::store::Store::connect(&config.database_url()).await?;
    let done = async {
        let a = Anchorer::open(&config, &store, &log.dir, &cp.origin, &log.vkey)
            .await?
            .context("no [audit.anchor] in the config: say which chain and key to anchor with")?;
        a.anchor_once().await
    }
    .await;
    store.close().await;
    match done? {
        Anchored::Empty => println!("the log is empty: nothing to anchor"),
        Anchored::AlreadyAnchored(h) => {
            println!("already anchored: size {} root {}", h.size, h.root)
        }
        Anchored::New { head, block } => println!(
            "anchored: size {} root {} in block {block}",
            head.size, head.root
        ),
    }
    Ok(())
}

/// `didgate audit archive`: take every full tile and entry bundle the
/// latest signed checkpoint covers out of the log's directory, to `[audit]
/// archive_dir` (`to_archive`) and/or gzip-compressed (`gzip`). They never
/// change once written; everything that reads the log finds them there.
/// Safe while the gateway runs: only sealed files move, each after its copy
/// is on disk and read back.
pub async fn archive(config: &Path, to_archive: bool, gzip: bool) -> Result<()> {
    let config = Config::load(config)?;
    let log = local_log(&config)?;
    let to = match (to_archive, log.archives.first()) {
        (true, Some(dir)) => Some(dir.clone()),
        (true, None) => bail!(
            "--to-archive needs [audit] archive_dir in the config: the directory the gateway and \
             `audit verify` read archived files from"
        ),
        (false, _) => None,
    };
    if to.is_none() && !gzip {
        bail!("say what to do: --gzip (compress in place), --to-archive (move to [audit] archive_dir), or both");
    }
    let cp = checkpoint(&log.dir, &log.vkey)?;
    let done = tokio::task::spawn_blocking({
        let (dir, to) = (log.dir.clone(), to.clone());
        move || {
            archive_sealed(
                &dir,
                cp.size,
                ArchiveTo {
                    dir: to.as_deref(),
                    gzip,
                },
            )
        }
    })
    .await
    .map_err(|e| anyhow!("archiving: {e}"))?
    .with_context(|| format!("archiving the sealed files of {}", log.dir.display()))?;
    let whither = match (&to, gzip) {
        (Some(a), true) => format!("to {} (gzip)", a.display()),
        (Some(a), false) => format!("to {}", a.display()),
        (None, _) => "gzip-compressed in place".to_owned(),
    };
    println!(
        "archived {} sealed files of the first {} entries {whither}: {} bytes became {}; \
         `didgate audit verify -c` reads them there",
        done.files, cp.size, done.bytes_in, done.bytes_out
    );
    Ok(())
}
