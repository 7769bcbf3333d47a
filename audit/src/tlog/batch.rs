//! A batch of entries on its way to the log: their canonical encodings,
//! each behind its 2-byte big-endian length, in one buffer that the writer
//! appends to its segment(s) with one write each.

use super::entry::{Encoded, Entry, EntryError};

/// Entries encoded and framed, ready for [`Tlog::append`](super::Tlog::append).
/// Reuse one: `append` empties it and keeps its buffer.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    buf: Vec<u8>,
    count: u64,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    /// A batch with room for `bytes` of framed entries.
    pub fn with_capacity(bytes: usize) -> Self {
        Batch {
            buf: Vec::with_capacity(bytes),
            count: 0,
        }
    }

    /// Encode `entry` at the end of the batch (cut to fit 65,535 bytes if
    /// it must be; [`Encoded::truncated`] says so).
    pub fn push(&mut self, entry: &Entry) -> Result<Encoded, EntryError> {
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        let encoded = entry.encode_into(&mut self.buf);
        let len = encoded
            .as_ref()
            .ok()
            .and_then(|e| u16::try_from(e.len).ok());
        match (encoded, len) {
            (Ok(e), Some(len)) => {
                self.buf[start..start + 2].copy_from_slice(&len.to_be_bytes());
                self.count += 1;
                Ok(e)
            }
            (Ok(e), None) => {
                self.buf.truncate(start);
                Err(EntryError::TooLong(e.len))
            }
            (Err(e), _) => {
                self.buf.truncate(start);
                Err(e)
            }
        }
    }

    /// Entries in the batch.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The framed entries, as they go to segments and bundles.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Bytes the batch's buffer holds without growing.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Empty the batch, keeping its buffer.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }
}
