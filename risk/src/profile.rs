//! The per-identity profile: bounded, decaying summaries of what an identity
//! has done (a few KiB each), and the small counters they are built from.
//!
//! Values (addresses, user agents, paths, …) are kept as 64-bit keyed
//! hashes, never in clear: a profile says "this identity has used this
//! network", not which one, so the profiles table holds no request data.

use serde::{Deserialize, Serialize};

/// One remembered value and how familiar it is (a decayed, weighted count).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(crate) struct Slot {
    pub key: u64,
    pub w: f32,
    /// The last day ([`unix_day`]) the value was seen, and on how many
    /// distinct days it has been seen (saturating).
    #[serde(default)]
    pub day: u16,
    #[serde(default)]
    pub days: u8,
}

/// The `cap` most familiar values of one feature. When full, a new value
/// replaces the least familiar one (it starts from its own weight, not the
/// evicted one's, so eviction never makes a stranger look familiar).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct TopK {
    pub slots: Vec<Slot>,
}

/// Weight at which a value counts in the population statistics.
pub(crate) const ESTABLISHED: f32 = 1.0;

/// What adding a value changed, for the population statistics.
pub(crate) struct Change {
    /// The value's weight crossed [`ESTABLISHED`] upward.
    pub established: bool,
    /// An established value evicted to make room.
    pub evicted: Option<u64>,
}

impl TopK {
    pub fn weight(&self, key: u64) -> f32 {
        self.slots
            .iter()
            .find(|s| s.key == key)
            .map_or(0.0, |s| s.w)
    }

    pub fn total(&self) -> f32 {
        self.slots.iter().map(|s| s.w).sum()
    }

    /// Add `w` to `key`'s weight on `day`. A value below its ceiling cannot
    /// be pushed past it by this call: suspicious observations teach a
    /// stranger only `ceiling_per_day` for each distinct day it has been
    /// seen (a phone used every evening becomes familiar within a week; a
    /// burst of attack requests on one day does not). An already familiar
    /// value is not limited; `f32::MAX` means no limit.
    pub fn add(&mut self, key: u64, w: f32, cap: usize, ceiling_per_day: f32, day: u16) -> Change {
        let grow = |before: f32, days: u8| {
            let ceiling = ceiling_per_day * days.max(1) as f32;
            if before > ceiling {
                before + w
            } else {
                (before + w).min(ceiling)
            }
        };
        if let Some(s) = self.slots.iter_mut().find(|s| s.key == key) {
            if s.day != day || s.days == 0 {
                s.day = day;
                s.days = s.days.saturating_add(1);
            }
            let before = s.w;
            s.w = grow(before, s.days);
            return Change {
                established: before < ESTABLISHED && s.w >= ESTABLISHED,
                evicted: None,
            };
        }
        let new = Slot {
            key,
            w: grow(0.0, 1),
            day,
            days: 1,
        };
        let established = new.w >= ESTABLISHED;
        if self.slots.len() < cap {
            self.slots.push(new);
            return Change {
                established,
                evicted: None,
            };
        }
        let Some((i, _)) = self
            .slots
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.w.total_cmp(&b.1.w))
        else {
            return Change {
                established: false,
                evicted: None,
            };
        };
        let old = self.slots[i];
        self.slots[i] = new;
        Change {
            established,
            evicted: (old.w >= ESTABLISHED).then_some(old.key),
        }
    }

    /// Multiply every weight by `f`; forget values that faded out. Pushes
    /// the keys that stopped being established.
    pub fn decay(&mut self, f: f32, unestablished: &mut Vec<u64>) {
        for s in &mut self.slots {
            let before = s.w;
            s.w *= f;
            if before >= ESTABLISHED && s.w < ESTABLISHED {
                unestablished.push(s.key);
            }
        }
        self.slots.retain(|s| s.w >= 0.02);
    }

    /// Share of the total weight held by the `n` heaviest values.
    pub fn concentration(&self, n: usize) -> f32 {
        let total = self.total();
        if total <= 0.0 {
            return 0.0;
        }
        let mut ws: Vec<f32> = self.slots.iter().map(|s| s.w).collect();
        ws.sort_by(|a, b| b.total_cmp(a));
        ws.iter().take(n).sum::<f32>() / total
    }

    /// Keep the larger weight of each value (merging a peer gateway's copy).
    pub fn merge_max(&mut self, other: &TopK, cap: usize) {
        for o in &other.slots {
            match self.slots.iter_mut().find(|s| s.key == o.key) {
                Some(s) => {
                    s.w = s.w.max(o.w);
                    s.days = s.days.max(o.days);
                    s.day = s.day.max(o.day);
                }
                None => self.slots.push(*o),
            }
        }
        if self.slots.len() > cap {
            self.slots.sort_by(|a, b| b.w.total_cmp(&a.w));
            self.slots.truncate(cap);
        }
    }
}

/// Largest mean or variance a stored baseline may hold. The largest
/// observation is a window's bytes in MiB (below 1.8e13, squared 3.1e26), so
/// a real baseline stays far below; this bound keeps `var + mean + 1` (the
/// spread in [`Ew::z`]) finite.
const MAX_BASELINE: f32 = 1e30;

/// An exponentially weighted mean and variance.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Ew {
    pub mean: f32,
    pub var: f32,
    pub n: u32,
}

impl Ew {
    /// Mean and variance finite, non-negative and within [`MAX_BASELINE`]:
    /// what [`update`](Self::update) produces from non-negative samples,
    /// and what [`z`](Self::z) needs to be a number (a negative variance
    /// makes it NaN, which would switch the rate detections off).
    pub fn is_sane(&self) -> bool {
        let ok = |x: f32| (0.0..=MAX_BASELINE).contains(&x);
        ok(self.mean) && ok(self.var)
    }

    /// Learn `x`; the first samples are averaged plainly, then with rate `alpha`.
    pub fn update(&mut self, x: f32, alpha: f32) {
        self.n = self.n.saturating_add(1);
        let a = alpha.max(1.0 / self.n as f32);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
    }

    /// How many standard deviations `x` lies above what is usual, with a
    /// Poisson-like floor on the spread so small counts are not alarming.
    /// `prior` stands in for the mean while fewer than `min_n` samples exist.
    pub fn z(&self, x: f32, prior: f32, min_n: u32) -> f32 {
        let (mean, var) = if self.n < min_n {
            (prior, prior * prior)
        } else {
            (self.mean, self.var)
        };
        (x - mean) / (var + mean + 1.0).sqrt()
    }
}

/// Days since 1970-01-01, saturating into `u16` (0 before 1970, 65535 from
/// 2149-06-06 on): only "the same day" and "a later day" matter.
pub(crate) fn unix_day(ts_ms: i64) -> u16 {
    ts_ms.div_euclid(86_400_000).clamp(0, u16::MAX as i64) as u16
}

/// A fixed-size distinct counter (linear counting over 256 bits).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Distinct {
    pub bits: [u64; 4],
}

impl Distinct {
    pub fn insert(&mut self, key: u64) {
        let b = (key >> 56) as usize; // the top byte: 0..=255
        self.bits[b / 64] |= 1 << (b % 64);
    }

    /// Estimated number of distinct keys inserted.
    pub fn estimate(&self) -> f32 {
        let set: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        let zeros = 256 - set;
        if zeros == 0 {
            // Saturated: at least this many.
            return 1_000.0;
        }
        -256.0 * (zeros as f32 / 256.0).ln()
    }

    /// The estimate if `key` were inserted too.
    pub fn estimate_with(&self, key: u64) -> f32 {
        let mut c = *self;
        c.insert(key);
        c.estimate()
    }
}

/// Counters over the current fixed window, closed into baselines when it ends.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Window {
    pub start_ms: i64,
    pub events: u32,
    pub paths: Distinct,
    pub sensitive: Distinct,
    pub bytes: u64,
    pub refusals: u32,
}

/// A session seen for this identity: where and on what it was first used.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(crate) struct SessionSeen {
    pub key: u64,
    pub net: u64,
    pub asn: u32,
    pub device: u64,
    pub last_ms: i64,
}

/// The last place the identity was seen with a trustworthy location.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(crate) struct Place {
    pub lat: f32,
    pub lon: f32,
    pub ts_ms: i64,
}

pub(crate) const HOURS_PER_WEEK: usize = 168;

/// Everything learned about one identity.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Profile {
    pub(crate) first_ms: i64,
    pub(crate) last_ms: i64,
    /// When weights were last decayed.
    pub(crate) decayed_ms: i64,
    /// Events seen (not decayed).
    pub(crate) events: u64,
    /// Decayed event weight: what the familiarity weights are relative to.
    pub(crate) n: f32,
    pub(crate) ips: TopK,
    pub(crate) prefixes: TopK,
    pub(crate) asns: TopK,
    pub(crate) countries: TopK,
    pub(crate) agents: TopK,
    pub(crate) tls: TopK,
    pub(crate) devices: TopK,
    pub(crate) paths: TopK,
    /// Time-of-week activity (hour 0 = Monday 00:00 UTC), decayed.
    pub(crate) hours: Vec<f32>,
    pub(crate) place: Option<Place>,
    pub(crate) sessions: Vec<SessionSeen>,
    /// Requests in the current minute, and the usual count per active minute.
    pub(crate) minute_start_ms: i64,
    pub(crate) minute_events: u32,
    pub(crate) per_minute: Ew,
    /// The current 5-minute window and the usual per active window.
    pub(crate) window: Window,
    pub(crate) win_events: Ew,
    pub(crate) win_paths: Ew,
    pub(crate) win_bytes: Ew,
    pub(crate) win_refusals: Ew,
    /// Set when changed since the last persist; not stored.
    #[serde(skip)]
    pub(crate) dirty: bool,
}

impl Profile {
    pub(crate) fn new(now_ms: i64) -> Self {
        Self {
            first_ms: now_ms,
            last_ms: now_ms,
            decayed_ms: now_ms,
            events: 0,
            n: 0.0,
            ips: TopK::default(),
            prefixes: TopK::default(),
            asns: TopK::default(),
            countries: TopK::default(),
            agents: TopK::default(),
            tls: TopK::default(),
            devices: TopK::default(),
            paths: TopK::default(),
            hours: vec![0.0; HOURS_PER_WEEK],
            place: None,
            sessions: Vec::new(),
            minute_start_ms: now_ms,
            minute_events: 0,
            per_minute: Ew::default(),
            window: Window {
                start_ms: now_ms,
                ..Window::default()
            },
            win_events: Ew::default(),
            win_paths: Ew::default(),
            win_bytes: Ew::default(),
            win_refusals: Ew::default(),
            dirty: false,
        }
    }

    /// The per-feature value tables.
    pub(crate) fn tables(&self) -> [&TopK; 8] {
        [
            &self.ips,
            &self.prefixes,
            &self.asns,
            &self.countries,
            &self.agents,
            &self.tls,
            &self.devices,
            &self.paths,
        ]
    }

    pub(crate) fn tables_mut(&mut self) -> [&mut TopK; 8] {
        [
            &mut self.ips,
            &mut self.prefixes,
            &mut self.asns,
            &mut self.countries,
            &mut self.agents,
            &mut self.tls,
            &mut self.devices,
            &mut self.paths,
        ]
    }

    /// Approximate heap + inline size in bytes.
    pub fn size_bytes(&self) -> usize {
        let slots = self
            .tables()
            .iter()
            .map(|t| t.slots.capacity() * std::mem::size_of::<Slot>())
            .sum::<usize>();
        std::mem::size_of::<Self>()
            + slots
            + self.hours.capacity() * 4
            + self.sessions.capacity() * std::mem::size_of::<SessionSeen>()
    }

    /// The rate baselines.
    fn baselines(&self) -> [&Ew; 5] {
        [
            &self.per_minute,
            &self.win_events,
            &self.win_paths,
            &self.win_bytes,
            &self.win_refusals,
        ]
    }

    /// Check a profile read from storage before trusting it. Counters need
    /// no bound: everything that grows them saturates.
    pub(crate) fn is_sane(&self) -> bool {
        let finite = |x: f32| x.is_finite() && x >= 0.0;
        let topk_ok = |t: &TopK| t.slots.len() <= 64 && t.slots.iter().all(|s| finite(s.w));
        // Times within 1970..2500, so window arithmetic cannot overflow.
        let time_ok = |t: i64| (0..16_725_225_600_000).contains(&t);
        [
            self.first_ms,
            self.last_ms,
            self.decayed_ms,
            self.minute_start_ms,
            self.window.start_ms,
        ]
        .into_iter()
        .all(time_ok)
            && self.sessions.iter().all(|x| time_ok(x.last_ms))
            && self.place.is_none_or(|p| time_ok(p.ts_ms))
            && self.hours.len() == HOURS_PER_WEEK
            && self.hours.iter().all(|h| finite(*h))
            && finite(self.n)
            && self.sessions.len() <= 64
            && self.tables().iter().all(|t| topk_ok(t))
            && self
                .place
                .is_none_or(|p| p.lat.is_finite() && p.lon.is_finite())
            && self.baselines().iter().all(|e| e.is_sane())
    }

    /// Bring every time of a profile read from storage to at most `now_ms`.
    /// A peer gateway whose clock is ahead writes times in the future: a
    /// rate window that starts in the future never rolls over (every
    /// request adds to it: false bursts), and a last place seen "later"
    /// than the next request makes any travel look instant.
    pub(crate) fn clamp_times(&mut self, now_ms: i64) {
        for t in [
            &mut self.first_ms,
            &mut self.last_ms,
            &mut self.decayed_ms,
            &mut self.minute_start_ms,
            &mut self.window.start_ms,
        ] {
            *t = (*t).min(now_ms);
        }
        for s in &mut self.sessions {
            s.last_ms = s.last_ms.min(now_ms);
        }
        if let Some(p) = &mut self.place {
            p.ts_ms = p.ts_ms.min(now_ms);
        }
        // A value "last seen" on a later day would count one more distinct
        // day at each of its next sightings.
        let today = unix_day(now_ms);
        for t in self.tables_mut() {
            for s in &mut t.slots {
                s.day = s.day.min(today);
            }
        }
    }

    /// Fold a peer gateway's copy of this identity into ours. Idempotent and
    /// order-independent for the familiarity state (element-wise maximum);
    /// rate windows keep whichever copy saw the latest event. `other`'s
    /// times must not be in the future ([`clamp_times`](Self::clamp_times)).
    pub(crate) fn merge(&mut self, other: &Profile, caps: &Caps) {
        self.first_ms = self.first_ms.min(other.first_ms);
        self.events = self.events.max(other.events);
        self.n = self.n.max(other.n);
        self.ips.merge_max(&other.ips, caps.ips);
        self.prefixes.merge_max(&other.prefixes, caps.prefixes);
        self.asns.merge_max(&other.asns, caps.asns);
        self.countries.merge_max(&other.countries, caps.countries);
        self.agents.merge_max(&other.agents, caps.agents);
        self.tls.merge_max(&other.tls, caps.tls);
        self.devices.merge_max(&other.devices, caps.devices);
        self.paths.merge_max(&other.paths, caps.paths);
        for (h, o) in self.hours.iter_mut().zip(&other.hours) {
            *h = h.max(*o);
        }
        for s in &other.sessions {
            match self.sessions.iter_mut().find(|m| m.key == s.key) {
                Some(m) => m.last_ms = m.last_ms.max(s.last_ms),
                None => self.sessions.push(*s),
            }
        }
        if self.sessions.len() > caps.sessions {
            self.sessions.sort_by_key(|s| std::cmp::Reverse(s.last_ms));
            self.sessions.truncate(caps.sessions);
        }
        if other.last_ms > self.last_ms {
            self.last_ms = other.last_ms;
            self.place = other.place.or(self.place);
            self.minute_start_ms = other.minute_start_ms;
            self.minute_events = other.minute_events;
            self.window = other.window;
        }
        for (mine, theirs) in [
            (&mut self.per_minute, &other.per_minute),
            (&mut self.win_events, &other.win_events),
            (&mut self.win_paths, &other.win_paths),
            (&mut self.win_bytes, &other.win_bytes),
            (&mut self.win_refusals, &other.win_refusals),
        ] {
            if theirs.n > mine.n {
                *mine = *theirs;
            }
        }
    }
}

/// How many values of each feature a profile keeps.
#[derive(Debug, Clone)]
pub(crate) struct Caps {
    pub ips: usize,
    pub prefixes: usize,
    pub asns: usize,
    pub countries: usize,
    pub agents: usize,
    pub tls: usize,
    pub devices: usize,
    pub paths: usize,
    pub sessions: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            ips: 12,
            prefixes: 12,
            asns: 8,
            countries: 6,
            agents: 6,
            tls: 6,
            devices: 6,
            paths: 32,
            sessions: 8,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn topk_evicts_the_least_familiar_without_inheriting_its_weight() {
        let mut t = TopK::default();
        t.add(1, 5.0, 2, f32::MAX, 0);
        t.add(2, 1.0, 2, f32::MAX, 0);
        let c = t.add(3, 0.5, 2, f32::MAX, 0);
        assert_eq!(c.evicted, Some(2));
        assert!(!c.established);
        assert_eq!(t.weight(3), 0.5);
        assert_eq!(t.weight(2), 0.0);
        t.add(1, 1.0, 2, f32::MAX, 0);
        assert_eq!(t.weight(1), 6.0);
    }

    #[test]
    fn a_stranger_seen_on_more_days_may_learn_more() {
        let mut t = TopK::default();
        for day in 0..10u16 {
            for _ in 0..5 {
                t.add(1, 0.2, 4, 0.3, day);
            }
        }
        assert!(t.weight(1) > 2.0, "{}", t.weight(1));
        assert_eq!(t.slots[0].days, 10);
    }

    #[test]
    fn a_ceiling_limits_strangers_only() {
        let mut t = TopK::default();
        for _ in 0..10 {
            t.add(1, 0.2, 4, 0.3, 0);
        }
        assert_eq!(t.weight(1), 0.3);
        t.add(2, 3.0, 4, f32::MAX, 0);
        t.add(2, 0.3, 4, 0.5, 0);
        assert!((t.weight(2) - 3.3).abs() < 1e-6);
    }

    #[test]
    fn decay_forgets_faded_values() {
        let mut t = TopK::default();
        t.add(1, 1.0, 4, f32::MAX, 0);
        t.add(2, 0.03, 4, f32::MAX, 0);
        let mut unestablished = Vec::new();
        t.decay(0.5, &mut unestablished);
        assert_eq!(unestablished, vec![1]);
        assert_eq!(t.weight(1), 0.5);
        assert_eq!(t.weight(2), 0.0);
        assert_eq!(t.slots.len(), 1);
    }

    #[test]
    fn distinct_counts_roughly() {
        let mut d = Distinct::default();
        for i in 0u64..40 {
            d.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        }
        let e = d.estimate();
        assert!((30.0..55.0).contains(&e), "{e}");
    }

    #[test]
    fn ew_z_uses_the_prior_until_enough_samples() {
        let mut e = Ew::default();
        assert!(e.z(3.0, 2.0, 5) < 1.0);
        for _ in 0..50 {
            e.update(2.0, 0.05);
        }
        assert!(e.z(40.0, 2.0, 5) > 10.0);
        assert!(e.z(2.0, 2.0, 5).abs() < 0.1);
    }

    #[test]
    fn is_sane_refuses_baselines_that_would_make_z_nan_or_meaningless() {
        let ok = Profile::new(1_000);
        assert!(ok.is_sane());
        let edits: [fn(&mut Profile); 7] = [
            |p| p.per_minute.var = -1.0,
            |p| p.win_events.mean = f32::NAN,
            |p| p.win_paths.var = f32::INFINITY,
            |p| p.win_bytes.mean = -5.0,
            |p| p.win_refusals.var = f32::NAN,
            |p| p.per_minute.mean = f32::MAX,
            |p| p.win_events.var = f32::MAX,
        ];
        for (i, edit) in edits.iter().enumerate() {
            let mut p = ok.clone();
            edit(&mut p);
            assert!(!p.is_sane(), "edit {i}: {:?}", p.per_minute);
        }
    }

    #[test]
    fn sane_baselines_give_a_finite_z() {
        let mut e = Ew::default();
        for x in [0.0, 1.0, 1.7e13, 0.0, 3.0] {
            e.update(x, 0.02);
            assert!(e.is_sane(), "{e:?}");
            for x in [0.0, 20.0, 1.7e13] {
                assert!(e.z(x, 3.0, 0).is_finite(), "{e:?} {x}");
            }
        }
    }

    #[test]
    fn clamp_times_takes_no_time_from_the_future() {
        let now = 2_000_000_000_000;
        let later = now + 86_400_000;
        let mut p = Profile::new(later);
        p.place = Some(Place {
            lat: 1.0,
            lon: 2.0,
            ts_ms: later,
        });
        p.sessions.push(SessionSeen {
            key: 1,
            net: 2,
            asn: 3,
            device: 4,
            last_ms: later,
        });
        p.ips.add(9, 1.0, 12, f32::MAX, unix_day(later));
        p.clamp_times(now);
        assert_eq!(
            [
                p.first_ms,
                p.last_ms,
                p.decayed_ms,
                p.minute_start_ms,
                p.window.start_ms
            ],
            [now; 5]
        );
        assert_eq!(p.sessions[0].last_ms, now);
        assert_eq!(p.place.map(|x| x.ts_ms), Some(now));
        assert_eq!(p.ips.slots[0].day, unix_day(now));
        // Earlier times are kept.
        let mut q = Profile::new(now - 5);
        q.clamp_times(now);
        assert_eq!(q, Profile::new(now - 5));

        // Merged into a local copy, the peer's window does not start later
        // than now.
        let mut mine = Profile::new(now - 10);
        mine.merge(&p, &Caps::default());
        assert_eq!(mine.last_ms, now);
        assert_eq!(mine.minute_start_ms, now);
        assert_eq!(mine.window.start_ms, now);
    }

    #[test]
    fn merge_is_idempotent() {
        let caps = Caps::default();
        let mut a = Profile::new(0);
        a.ips.add(1, 2.0, 12, f32::MAX, 0);
        a.hours[3] = 1.0;
        let mut b = Profile::new(10);
        b.ips.add(2, 1.0, 12, f32::MAX, 0);
        b.last_ms = 20;
        a.merge(&b, &caps);
        let once = a.clone();
        a.merge(&b, &caps);
        assert_eq!(a, once);
        assert_eq!(a.ips.weight(1), 2.0);
        assert_eq!(a.ips.weight(2), 1.0);
        assert_eq!(a.last_ms, 20);
    }
}
