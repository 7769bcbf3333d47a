#!/usr/bin/env bash
# The cargo-fuzz targets in fuzz/ (fuzz/README.md says what each checks).
#
#   bash scripts/fuzz.sh --ci              build every target, run each for 20 s (CI)
#   bash scripts/fuzz.sh --build           only build (CI starts it early, in the background)
#   bash scripts/fuzz.sh --long SECONDS    run each for SECONDS, print executions and coverage
#   bash scripts/fuzz.sh --tmin TARGET FILE   minimise a crash input (writes FILE.min)
#   bash scripts/fuzz.sh --sync-lock       rebuild fuzz/Cargo.lock from the main Cargo.lock
#
# Needs the nightly toolchain, installed already: nothing is downloaded but
# the crates of fuzz/Cargo.lock, from crates.io.
# Environment: FUZZ_TARGET_DIR (default fuzz/target; keep it between CI runs
# for a warm build), FUZZ_CI_SECONDS (default 20), FUZZ_JOBS (targets run at
# once; default 2 with --ci, 1 with --long), FUZZ_TARGETS (default all),
# FUZZ_PROFILE (--long only: fuzz-long, the default, or fuzz, CI's build),
# CARGO_BUILD_JOBS (default 2).
#
# The build (fuzz/Cargo.toml's profiles; fuzz/README.md has the
# measurements): `cargo build --profile fuzz`, not `cargo fuzz build`.
# cargo-fuzz puts its coverage instrumentation in RUSTFLAGS, so on every one
# of the ~400 crates; the `fuzz` profile puts the same flags on our five
# crates and the targets only (per-package profile rustflags, nightly), and
# builds the dependencies at opt-level 0 (signature arithmetic and libFuzzer
# at 1): about half the CPU time of `cargo fuzz build --dev`. No sanitizer:
# the workspace forbids unsafe code. libFuzzer still sees every edge and
# comparison of our code, including the generic parsers (serde_json, toml,
# url…) as our crates instantiate them. --long builds `fuzz-long`, the same
# with dependencies at opt-level 1 (slower to build, much faster to run).
# `cargo fuzz run/tmin --dev --sanitizer none` work too, with their own,
# fully instrumented, build.
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(jws vp_jwt openid4vp_form config_toml risk_jsonl claims_cedar registry_logs path_normalize tlog_read
    ja4_client_hello http_signature policy_bundle)
read -r -a TARGETS <<<"${FUZZ_TARGETS:-${ALL_TARGETS[*]}}"
TARGET_DIR=${FUZZ_TARGET_DIR:-fuzz/target}
CI_SECONDS=${FUZZ_CI_SECONDS:-20}
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# --ci builds the `fuzz` profile (dependencies at opt-level 0: the cheapest
# cold build), --long the `fuzz-long` one (dependencies at opt-level 1).
PROFILE=fuzz

die() {
    echo "fuzz.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Only the nightly toolchain: the script builds with cargo and runs the
# libFuzzer binaries itself, so it needs no cargo-fuzz (for `cargo fuzz …`
# by hand: cargo +nightly install cargo-fuzz --locked, from crates.io).
ensure_tools() {
    rustup toolchain list | grep -q '^nightly' ||
        die "the nightly toolchain is not installed (the fuzz build needs it: rustup toolchain install nightly)"
    rustc +nightly --version
}

# fuzz/Cargo.lock must be current and agree with the main Cargo.lock on
# every crate they share: the fuzzers test the versions the gateway ships.
check_lock() {
    cargo +nightly metadata --locked --offline --format-version 1 \
        --manifest-path fuzz/Cargo.toml >/dev/null 2>&1 ||
        cargo +nightly metadata --locked --format-version 1 \
            --manifest-path fuzz/Cargo.toml >/dev/null ||
        die "fuzz/Cargo.lock is out of date: run bash scripts/fuzz.sh --sync-lock and commit it"
    local pairs='/^name = /{n=$3} /^version = /{print n, $3}'
    local extra
    extra=$(comm -13 <(awk "$pairs" Cargo.lock | sort -u) <(awk "$pairs" fuzz/Cargo.lock | sort -u) |
        grep -Ev '^"(didgate-fuzz|libfuzzer-sys|arbitrary|derive_arbitrary|jobserver)" ' || true)
    [[ -z $extra ]] ||
        die "fuzz/Cargo.lock has versions the main Cargo.lock does not: $extra (bash scripts/fuzz.sh --sync-lock)"
}

sync_lock() {
    cp Cargo.lock fuzz/Cargo.lock
    # Resolves only what the main lock lacks (libfuzzer-sys and its deps)
    # and drops what the fuzz crate does not use.
    cargo +nightly metadata --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null
    check_lock
    echo "fuzz/Cargo.lock rebuilt from Cargo.lock"
}

build() {
    local start=$SECONDS
    echo "==> cargo build --profile $PROFILE (jobs: $CARGO_BUILD_JOBS, target dir: $TARGET_DIR)"
    cargo +nightly build --locked --manifest-path fuzz/Cargo.toml --profile "$PROFILE" --bins \
        --target-dir "$TARGET_DIR"
    echo "    built in $((SECONDS - start)) s"
}

# run TARGET SECONDS LOG: one libFuzzer run over the target's kept corpus
# (new inputs land there) and its committed seeds (read only).
run() {
    local target=$1 secs=$2 log=$3
    local bin=$TARGET_DIR/$PROFILE/$target
    local work=$TARGET_DIR/corpus/$target
    local artifacts=fuzz/artifacts/$target
    mkdir -p "$work" "$artifacts"
    local args=(-max_total_time="$secs" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048
        -artifact_prefix="$artifacts/")
    [[ -f fuzz/dict/$target.dict ]] && args+=(-dict="fuzz/dict/$target.dict")
    [[ -x $bin ]] || die "$bin is missing: build first"
    "$bin" "${args[@]}" "$work" "fuzz/corpus/$target" >"$log" 2>&1
}

# final_stat LOG NAME: a -print_final_stats value.
final_stat() { awk -v k="stat::$2:" '$1 == k {print $2}' "$1" | tail -n 1; }

# The last status line's cov / ft / corpus size.
last_status() { grep -E '^#[0-9]+' "$1" | grep -E ' cov: ' | tail -n 1; }
field() { sed -nE "s/.* $2: ([0-9]+).*/\1/p" <<<"$1"; }
corpus_size() { sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p' <<<"$1"; }

# One target's row of the table (from its log and exit status).
row() {
    local t=$1 took=$2 crashed=$3 log=$4 status
    status=$(last_status "$log")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$took" \
        "$(final_stat "$log" number_of_executed_units)" "$(final_stat "$log" average_exec_per_sec)" \
        "$(field "$status" cov)" "$(field "$status" ft)" "$(corpus_size "$status")" "$crashed"
}

# Run every target for SECONDS, JOBS at a time; print a table; return 1 if
# any crashed.
campaign() {
    local secs=$1 jobs=$2 logs=$TARGET_DIR/logs failed=()
    mkdir -p "$logs"
    for t in "${TARGETS[@]}"; do
        [[ -x $TARGET_DIR/$PROFILE/$t ]] || die "$TARGET_DIR/$PROFILE/$t is missing: build first"
        rm -f "$logs/$t.row"
    done
    for t in "${TARGETS[@]}"; do
        while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
        (
            start=$SECONDS crashed=0
            run "$t" "$secs" "$logs/$t.log" || crashed=1
            row "$t" $((SECONDS - start)) "$crashed" "$logs/$t.log" >"$logs/$t.row"
        ) &
    done
    wait
    printf '| target | seconds | executions | exec/s | cov | ft | corpus | crashes |\n'
    printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
    for t in "${TARGETS[@]}"; do
        cat "$logs/$t.row"
        if ! grep -q ' 0 |$' "$logs/$t.row"; then
            failed+=("$t")
            {
                echo "---- $t FAILED; the end of $logs/$t.log:"
                tail -n 60 "$logs/$t.log"
                echo "---- reproduce: $TARGET_DIR/$PROFILE/$t <the crash- file above>;" \
                    "minimise: bash scripts/fuzz.sh --tmin $t <file>"
            } >&2
        fi
    done
    if ((${#failed[@]})); then
        echo "fuzz.sh: FAILED: ${failed[*]} (inputs under fuzz/artifacts/; fuzz/README.md says what next)" >&2
        return 1
    fi
}

# Minimise a crash input with libFuzzer (what `cargo fuzz tmin` does), with
# whichever build is there.
tmin() {
    local bin=$TARGET_DIR/fuzz/$1 file=$2
    [[ -x $bin ]] || bin=$TARGET_DIR/fuzz-long/$1
    [[ -x $bin ]] || die "no build of $1 under $TARGET_DIR: bash scripts/fuzz.sh --ci first"
    "$bin" -minimize_crash=1 -runs=20000 -exact_artifact_path="$file.min" "$file"
    echo "minimised: $file.min ($(wc -c <"$file.min") bytes)"
}

case ${1:-} in
--build)
    ensure_tools
    check_lock
    build
    ;;
--ci)
    start=$SECONDS
    ensure_tools
    check_lock
    build
    campaign "$CI_SECONDS" "${FUZZ_JOBS:-2}"
    echo "fuzz (CI mode) took $((SECONDS - start)) s"
    ;;
--long)
    [[ ${2:-} =~ ^[0-9]+$ ]] || usage
    PROFILE=${FUZZ_PROFILE:-fuzz-long}
    [[ $PROFILE == fuzz || $PROFILE == fuzz-long ]] || die "FUZZ_PROFILE is fuzz or fuzz-long"
    ensure_tools
    check_lock
    build
    echo "==> $(date -u +%Y-%m-%dT%H:%MZ): each target for $2 s, ${FUZZ_JOBS:-1} at a time ($(rustc +nightly --version))"
    campaign "$2" "${FUZZ_JOBS:-1}"
    ;;
--tmin)
    [[ -n ${2:-} && -f ${3:-} ]] || usage
    tmin "$2" "$3"
    ;;
--sync-lock)
    sync_lock
    ;;
*)
    usage
    ;;
esac
