"""Check a didgate transparency log with aics-tlog, a verifier of C2SP
tlog-tiles, tlog-checkpoint, signed-note and RFC 9162 proofs written by
others. Run by audit/tests/tlog_aics.rs:

    python verify_with_aics.py DIR VKEY CLAIMS_JSON

CLAIMS_JSON (from the Rust side): {"index": i, "inclusion": [b64…],
"old": {"size": n, "root": b64}, "consistency": [b64…]}.
Prints one line per check; exits 1 at the first that fails.
"""

import base64
import json
import sys
from pathlib import Path

import aics_tlog as t
from aics_tlog.tiles import TILE_ENTRIES, parse_entry_bundle, tile_width_at


def fail(msg):
    print(f"FAIL {msg}")
    sys.exit(1)


def main():
    root_dir, vkey_text, claims = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    b64 = base64.b64decode

    # The checkpoint: a signed note under the log's key, C2SP checkpoint body.
    note = t.parse_note((root_dir / "checkpoint").read_bytes())
    key = t.parse_vkey(vkey_text)
    res = t.verify_checkpoint(note, key, expected_origin=key.name)
    if not (res.ok and res.log_ok):
        fail(f"checkpoint: {res.error}")
    cp = t.parse_checkpoint(note.text)
    print(f"checkpoint ok: {cp.origin} size {cp.size}")

    # The root from the hash tiles; then every tile and bundle authenticated.
    reader = t.FileSystemTileReader(root_dir)
    if t.tree_root_from_tiles(reader, cp.size) != cp.root:
        fail("root from tiles")
    audit = t.audit_tiles(reader, cp.size, cp.root, entries=True)
    print(f"tiles ok: {audit.tiles} tiles, {audit.bundles} bundles")

    # The root from the entries alone, and each entry readable as a decision.
    entries = []
    for n in range((cp.size + TILE_ENTRIES - 1) // TILE_ENTRIES):
        raw = reader.read_entry_bundle(n, tile_width_at(cp.size, 0, n))
        if raw is None:
            fail(f"bundle {n} missing")
        entries.extend(parse_entry_bundle(raw))
    if len(entries) != cp.size:
        fail(f"{len(entries)} entries for size {cp.size}")
    if t.MerkleTree(entries).root() != cp.root:
        fail("root from entries")
    for i in (0, cp.size - 1):
        d = json.loads(entries[i])
        if d["v"] != 1 or list(d)[:2] != ["v", "id"] or len(d["policy_set"]) != 64:
            fail(f"entry {i} is not a version-1 decision: {d}")
    print(f"entries ok: {len(entries)}")

    # Our inclusion proof, checked by theirs, and equal to the one they compute.
    i = claims["index"]
    proof = [b64(h) for h in claims["inclusion"]]
    if not t.verify_leaf_inclusion(entries[i], i, cp.size, proof, cp.root):
        fail(f"inclusion proof of entry {i}")
    if t.inclusion_proof_from_tiles(reader, i, cp.size) != proof:
        fail(f"inclusion proof of entry {i} differs from aics-tlog's")
    print(f"inclusion ok: entry {i}")

    old = claims["old"]
    proof = [b64(h) for h in claims["consistency"]]
    if not t.verify_consistency(old["size"], cp.size, b64(old["root"]), cp.root, proof):
        fail(f"consistency proof {old['size']} -> {cp.size}")
    print(f"consistency ok: {old['size']} -> {cp.size}")


if __name__ == "__main__":
    main()
