//! `/.didgate/log/`: the decision log served read-only at its C2SP
//! tlog-tiles paths, so that an auditor follows it with standard tooling.
//!
//! - `checkpoint`, the hash tiles `tile/<L>/<N>[.p/<W>]` and `vkey` (the
//!   checkpoints' verifier key, `name+hash+base64`) are public: they reveal
//!   no decision. They are answered like `/.didgate/health`, undecided.
//! - The entry bundles `tile/entries/<N>[.p/<W>]` name people, paths and
//!   addresses. A request for one is decided like a request to an app named
//!   [`LOG_APP`] (authenticated, risk-assessed, Cedar), so only callers a
//!   policy allows (an auditor role) read them, and each read is itself a
//!   decision in the log. Default deny: without such a policy, nobody does.
//!
//! A path is served only when it is exactly the canonical path of a tile
//! (parsed, then spelled again and compared), so no other file of the log's
//! directory (`private/`) can be named.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit::tlog::Files;
use http::{header, HeaderValue, Response, StatusCode};

use crate::request::body::{full, GatewayBody};

/// Where the log is served.
pub(crate) const LOG_PREFIX: &str = "/.didgate/log/";
/// Where its entry bundles are (decided by policy).
pub(crate) const ENTRIES_PREFIX: &str = "/.didgate/log/tile/entries/";
/// The Cedar App a read of an entry bundle is decided as:
/// `resource in Didgate::App::"didgate-log"`. No route may take this name.
pub const LOG_APP: &str = "didgate-log";

/// A file of the log, named by a request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogFile {
    Vkey,
    Checkpoint,
    /// A hash tile, its path relative to the log's directory.
    Tile(String),
    /// An entry bundle, its path relative to the log's directory.
    Bundle(String),
}

impl LogFile {
    /// The file `path` (a decoded request path) names, if any.
    pub(crate) fn parse(path: &str) -> Option<LogFile> {
        let rest = path.strip_prefix(LOG_PREFIX)?;
        match rest {
            "vkey" => return Some(LogFile::Vkey),
            "checkpoint" => return Some(LogFile::Checkpoint),
            _ => {}
        }
        let mut parts = rest.strip_prefix("tile/")?.split('/');
        let level = parts.next()?;
        let segments: Vec<&str> = parts.collect();
        // `<N>` is groups of three digits, all but the last behind an `x`;
        // a partial tile ends `.p/<W>`.
        let (groups, width) = match segments.as_slice() {
            [groups @ .., last, w] if last.ends_with(".p") => {
                let mut g = groups.to_vec();
                g.push(last.strip_suffix(".p")?);
                (g, w.parse::<u64>().ok().filter(|w| (1..=255).contains(w))?)
            }
            groups => (groups.to_vec(), audit::tlog::TILE_WIDTH),
        };
        if groups.is_empty() || groups.len() > 7 {
            return None;
        }
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let digits = if i + 1 < groups.len() {
                g.strip_prefix('x')?
            } else {
                g
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            index = index
                .checked_mul(1000)?
                .checked_add(digits.parse::<u64>().ok()?)?;
        }
        let (file, canonical) = if level == "entries" {
            let p = audit::tlog::bundle_path(index, width);
            (LogFile::Bundle(p.clone()), p)
        } else {
            let l = level.parse::<u8>().ok().filter(|l| *l <= 63)?;
            let p = audit::tlog::tile_path(l, index, width);
            (LogFile::Tile(p.clone()), p)
        };
        // Exactly the canonical spelling, nothing else.
        (canonical == rest).then_some(file)
    }
}

/// Answer with `file` of the log in `dir` (whose verifier key is `vkey`);
/// sealed tiles and bundles may be in `archives` or gzip-compressed
/// (`didgate audit archive`), and are served as they were written.
pub(crate) async fn serve(
    dir: &Path,
    archives: &Arc<[PathBuf]>,
    vkey: &str,
    file: &LogFile,
) -> Response<GatewayBody> {
    let (rel, content_type, cache) = match file {
        LogFile::Vkey => {
            return respond(
                StatusCode::OK,
                format!("{vkey}\n").into_bytes(),
                "text/plain; charset=utf-8",
                "public, max-age=300",
            )
        }
        LogFile::Checkpoint => ("checkpoint", "text/plain; charset=utf-8", "no-cache"),
        // A tile's bytes at a given width never change.
        LogFile::Tile(p) => (
            p.as_str(),
            "application/octet-stream",
            "public, max-age=31536000, immutable",
        ),
        LogFile::Bundle(p) => (p.as_str(), "application/octet-stream", "private, no-store"),
    };
    let read = match file {
        LogFile::Checkpoint => match tokio::fs::read(dir.join(rel)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.to_string()),
        },
        _ => {
            let (dir, archives, rel) = (dir.to_path_buf(), archives.clone(), rel.to_owned());
            tokio::task::spawn_blocking(move || {
                let files = Files {
                    dir: &dir,
                    archives: &archives,
                };
                files.read(&rel).map(|f| f.map(|(_, bytes)| bytes))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        }
    };
    match read {
        Ok(Some(bytes)) => respond(StatusCode::OK, bytes, content_type, cache),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::warn!(file = rel, error = %e, "decision log: a file could not be read");
            respond(
                StatusCode::SERVICE_UNAVAILABLE,
                b"{\"error\":\"log_unreadable\"}\n".to_vec(),
                "application/json",
                "no-store",
            )
        }
    }
}

/// `404 log_file_not_found`: not a file of the log (or not written yet).
pub(crate) fn not_found() -> Response<GatewayBody> {
    respond(
        StatusCode::NOT_FOUND,
        b"{\"error\":\"log_file_not_found\",\"message\":\"no such file in the decision log\"}\n"
            .to_vec(),
        "application/json",
        "no-store",
    )
}

fn respond(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    cache: &'static str,
) -> Response<GatewayBody> {
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::LogFile;

    fn parse(p: &str) -> Option<LogFile> {
        LogFile::parse(&format!("/.didgate/log/{p}"))
    }

    #[test]
    fn canonical_tile_paths_name_their_file_and_nothing_else_does() {
        assert_eq!(parse("vkey"), Some(LogFile::Vkey));
        assert_eq!(parse("checkpoint"), Some(LogFile::Checkpoint));
        for p in [
            "tile/0/000",
            "tile/0/x001/234",
            "tile/1/000.p/7",
            "tile/2/x001/x234/067.p/255",
        ] {
            assert_eq!(parse(p), Some(LogFile::Tile(p.to_owned())), "{p}");
        }
        for p in ["tile/entries/000", "tile/entries/x001/234.p/1"] {
            assert_eq!(parse(p), Some(LogFile::Bundle(p.to_owned())), "{p}");
        }
        for p in [
            "",
            "private/entries.log",
            "private/entries/0",
            "private/state",
            "tile/0/../../private/state",
            "tile/0/1",
            "tile/0/0000",
            "tile/0/x000",
            "tile/0/001/002",
            "tile/0/x001",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/0/000.p/007",
            "tile/0/000.p/",
            "tile/0/000.p",
            "tile/64/000",
            "tile/00/000",
            "tile/-1/000",
            "tile/entries",
            "tile/entries/",
            "tile/entries/abc",
            "tile/0/x999/x999/x999/x999/x999/x999/999",
            "tile/0/x018/x446/x744/x073/x709/x551/616",
            "checkpoint/",
            "vkey.txt",
        ] {
            assert_eq!(parse(p), None, "{p:?}");
        }
        assert_eq!(LogFile::parse("/.didgate/logx/checkpoint"), None);
    }
}
