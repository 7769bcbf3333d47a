//! A small filesystem of its own (tmpfs) that a test can fill to the last
//! byte and free again: the disk-full fault. Mounting needs root (or
//! CAP_SYS_ADMIN); without it [`Tmpfs::mount`] fails with that reason.
//! Unmounted (lazily, so open files do not keep it) on drop.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A mounted tmpfs.
pub struct Tmpfs {
    path: PathBuf,
    filler: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` at `path` (created if missing).
    pub fn mount(path: &Path, bytes: u64) -> Result<Tmpfs> {
        std::fs::create_dir_all(path).with_context(|| format!("{}", path.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(path)
            .output()
            .context("cannot run mount")?;
        if !out.status.success() {
            bail!(
                "cannot mount a tmpfs at {} (the disk-full tests need root or CAP_SYS_ADMIN): {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(Tmpfs {
            filler: path.join(".filler"),
            path: path.to_owned(),
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Take every free byte with one file (written until the filesystem
    /// refuses: ENOSPC); how many bytes it took.
    pub fn fill(&self) -> Result<u64> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.filler)
            .with_context(|| format!("{}", self.filler.display()))?;
        let mut taken = 0u64;
        for chunk in [1 << 20, 4096, 1] {
            let block = vec![0xa5u8; chunk];
            loop {
                match f.write(&block) {
                    Ok(0) => break,
                    Ok(n) => taken += n as u64,
                    Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                    Err(e) => return Err(e).context("filling the filesystem"),
                }
            }
        }
        Ok(taken)
    }

    /// Give back what [`fill`](Self::fill) took.
    pub fn free(&self) -> Result<()> {
        std::fs::remove_file(&self.filler).with_context(|| format!("{}", self.filler.display()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).output();
    }
}
