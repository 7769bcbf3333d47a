//! What validating the config found wrong. Every section adds its problems to
//! one `Validation`, each naming the key and the fix, so a file with several
//! mistakes is reported whole rather than one mistake per run. Also the
//! one serde default the sections share (`default_true`).

use std::path::{Path, PathBuf};

/// One mistake in the config file: the key, what is wrong with it, the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` {problem}; fix: {fix}")]
pub struct Problem {
    pub key: String,
    pub problem: String,
    pub fix: String,
}

/// The problems found so far, and the folder relative paths start from.
pub(super) struct Validation<'a> {
    base_dir: &'a Path,
    problems: Vec<Problem>,
}

impl<'a> Validation<'a> {
    pub(super) fn new(base_dir: &'a Path) -> Self {
        Self {
            base_dir,
            problems: Vec::new(),
        }
    }

    /// Records that `key` is wrong and how to fix it.
    pub(super) fn invalid(
        &mut self,
        key: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.problems.push(Problem {
            key: key.into(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }

    /// A path from the config, resolved against the config file's folder.
    pub(super) fn resolve(&self, p: &Path) -> PathBuf {
        resolve(self.base_dir, p)
    }

    /// Records `key` when the file it names does not exist.
    pub(super) fn file_must_exist(&mut self, key: &str, p: &Path, fix: &str) {
        let full = self.resolve(p);
        if !full.is_file() {
            self.invalid(
                key,
                format!("names {} which does not exist", full.display()),
                fix,
            );
        }
    }

    /// Everything found, in the order the checks ran.
    pub(super) fn finish(self) -> Vec<Problem> {
        self.problems
    }
}

/// `p` as is when absolute, else under `base_dir`.
pub(super) fn resolve(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_owned()
    } else {
        base_dir.join(p)
    }
}

/// The serde default of the keys that are on unless turned off.
pub(super) fn default_true() -> bool {
    true
}
