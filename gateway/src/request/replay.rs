//! The replay cache: ids (a presentation's `jti`/`nonce`, a signature's
//! nonce) remembered per holder until they could no longer be accepted, so
//! each is accepted once.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Remembers presentation ids until their expiry (bounded; see config).
///
/// When it holds `capacity` live ids it refuses new presentations instead of
/// forgetting old ones: an evicted id would let that presentation be replayed.
///
/// Built for the request path: 64 shards, each a map from a keyed 64-bit hash
/// of (holder, id) to its deadline plus a min-heap of deadlines. Every
/// insert first drops its shard's expired ids, so expiry is spread over the
/// requests that cause it and no call ever sweeps a backlog; the count of
/// live ids is exact. (A moka cache stalled the gateway's worker for up to
/// 200 ms at a time while it expired a few hundred thousand ids in one go.)
/// Two different ids with the same 64-bit hash would make the second one
/// look replayed — refused, never admitted — with odds of about 1 in 10^7
/// for a full cache of a million ids; the hash key is random per process,
/// so nobody can aim for it.
pub struct ReplayCache {
    shards: Box<[Mutex<ReplayShard>]>,
    live: AtomicU64,
    capacity: u64,
    hasher: std::hash::RandomState,
}

/// Deadlines are on the gateway's wall clock (`clock.rs`, Unix seconds),
/// the clock the verifier checks `exp` against: an id is forgotten only
/// once the verifier would refuse its presentation as expired, whatever the
/// system clock does (that clock never goes back).
#[derive(Default)]
struct ReplayShard {
    deadlines: HashMap<u64, i64>,
    expiry: BinaryHeap<Reverse<(i64, u64)>>,
}

impl ReplayShard {
    /// Forget the ids whose deadline has passed; how many.
    fn expire(&mut self, now: i64) -> u64 {
        let mut dropped = 0;
        while let Some(Reverse((deadline, key))) = self.expiry.peek().copied() {
            if deadline > now {
                break;
            }
            self.expiry.pop();
            if self.deadlines.get(&key) == Some(&deadline) {
                self.deadlines.remove(&key);
                dropped += 1;
            }
        }
        dropped
    }
}

const REPLAY_SHARDS: usize = 64;

/// Why a presentation id was not recorded.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The id was used before and has not expired.
    Replayed,
    /// The cache is full of live ids; refusing is the only safe answer.
    Full,
}

impl ReplayCache {
    pub fn new(capacity: u64) -> Self {
        Self {
            shards: (0..REPLAY_SHARDS).map(|_| Mutex::default()).collect(),
            live: AtomicU64::new(0),
            capacity,
            hasher: std::hash::RandomState::new(),
        }
    }

    fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, ReplayShard> {
        // A panic while holding a shard cannot leave it inconsistent in a way
        // that admits a replay (an insert is one map insert, then one push).
        self.shards[i]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Ids remembered now. Expired ids count until they are dropped: a shard
    /// drops its own on its next insert, and a full cache sweeps every shard
    /// before it refuses.
    #[cfg(test)]
    pub fn len(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }

    /// Record a use, or say why not.
    pub fn first_use(
        &self,
        holder: &str,
        replay_id: &str,
        expires_at: i64,
        now: i64,
        skew: i64,
    ) -> Result<(), ReplayError> {
        use std::hash::{BuildHasher, Hasher};
        let mut h = self.hasher.build_hasher();
        h.write(holder.as_bytes());
        h.write_u8(0);
        h.write(replay_id.as_bytes());
        let key = h.finish();
        // Keep it past exp + skew: the verifier still accepts it in that
        // second; it is refused from the next (a presentation lives at most a
        // day and the skew is at most 600 s, which bounds the deadline).
        let deadline = expires_at
            .saturating_add(skew)
            .saturating_add(1)
            .clamp(now.saturating_add(1), now.saturating_add(86_400 + 601));

        let i = (key % REPLAY_SHARDS as u64) as usize;
        let mut shard = self.lock(i);
        let dropped = shard.expire(now);
        self.live.fetch_sub(dropped, Ordering::Relaxed);
        if shard.deadlines.contains_key(&key) {
            return Err(ReplayError::Replayed);
        }
        if self.live.load(Ordering::Relaxed) >= self.capacity {
            // Other shards may hold expired ids nobody has dropped yet.
            drop(shard);
            for j in (0..REPLAY_SHARDS).filter(|&j| j != i) {
                let dropped = self.lock(j).expire(now);
                self.live.fetch_sub(dropped, Ordering::Relaxed);
            }
            shard = self.lock(i);
            if shard.deadlines.contains_key(&key) {
                return Err(ReplayError::Replayed);
            }
            if self.live.load(Ordering::Relaxed) >= self.capacity {
                return Err(ReplayError::Full);
            }
        }
        shard.deadlines.insert(key, deadline);
        shard.expiry.push(Reverse((deadline, key)));
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
