#!/bin/bash
# CBM vs the peers a user would pick instead (restic 0.14, `zstd -3 -T2 | aws s3 cp -`), measured in
# one run against our own s3rver on 127.0.0.1. Not part of the test suite. See bench/README.md.
#
#   bench/run.sh                      2 GiB image, RUNS=1
#   RUNS=3 bench/run.sh               medians of 3
#   SIZE_MIB=8192 bench/run.sh        8 GiB image (needs ~30 GiB free under $BENCH_WORK)
#   SIZE_MIB="2048 8192" bench/run.sh both, one table each
#
# Env: BENCH_WORK (default ${TMPDIR:-/tmp}/cbm-bench), KEEP_IMAGES=1 (keep the generated images
# for the next run; default on), CBM_PROF=1 (also a V8 --cpu-prof of each clmgr operation, every thread, in bench/results/prof; summarise with node bench/prof-top.mjs DIR),
# SKIP_PEERS=1 (ours only; ratios from the previous peer rows are not used),
# S3RVER_NODE_FLAGS (extra node flags for both s3rver instances, e.g. --initial-old-space-size=128:
# a what-if for the shared server, printed in the table's header; default none).
# Output: a table on stdout and in bench/results/latest.md (raw rows: bench/results/raw.tsv).
set -u
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
RUNS=${RUNS:-1}
SIZES=${SIZE_MIB:-2048}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/cbm-bench}
RESULTS=$BENCH_DIR/results
mkdir -p "$WORK" "$RESULTS"
WORK=$(cd "$WORK" && pwd)
log() { echo "[$(date +%H:%M:%S) +${SECONDS}s] $*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# ---- 0. measure the compiled program (bin/cbm falls back to tsx when dist/ is older than src/) -----
(cd "$ROOT" && npm run -s build) || die "npm run build failed"

# ---- 1. peers (Debian packages), only when missing ------------------------------------------------
need=""
for p in restic awscli zstd time curl openssl; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
  log "installing:$need"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need; } >/dev/null || die "apt-get install$need failed"
fi
AWS=/usr/bin/aws TIMEV=/usr/bin/time
[ -x "$AWS" ] && command -v restic >/dev/null && [ -x "$TIMEV" ] || die "peers missing after install"
S3RVER_JS=$ROOT/node_modules/s3rver/bin/s3rver.js
[ -f "$S3RVER_JS" ] || die "no $S3RVER_JS: run npm ci in $ROOT first"

# ---- servers: our own two s3rver instances, loopback only, stopped by pid ------------------------
# http for CBM and the AWS CLI; https for restic (over http its S3 client sends aws-chunked signed
# bodies that s3rver stores undecoded: a corrupt repository). --openssl-legacy-provider: s3rver's
# ListObjectsV2 continuation tokens use DES, refused by Node >= 17 without it (HTTP 500).
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
S3_PORT=${S3_PORT:-$(free_port)} S3S_PORT=${S3S_PORT:-$(free_port)}
S3_EP=http://127.0.0.1:$S3_PORT S3S_EP=https://127.0.0.1:$S3S_PORT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$WORK/aws-config AWS_SHARED_CREDENTIALS_FILE=$WORK/aws-credentials
export AWS_PAGER="" AWS_EC2_METADATA_DISABLED=true
export RESTIC_PASSWORD=bench-password RESTIC_CACHE_DIR=$WORK/restic-cache
export BENCH_AK=S3RVER BENCH_SK=S3RVER
printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n' > "$AWS_CONFIG_FILE"
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' > "$AWS_SHARED_CREDENTIALS_FILE"
CACERT=$WORK/tls/cert.pem
if [ ! -f "$CACERT" ]; then
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$WORK/tls/key.pem" -out "$CACERT" 2>/dev/null || die "openssl req failed"
fi

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

SRV_HTTP="" SRV_HTTPS=""
start_servers() {
  rm -rf "$WORK/s3data"; mkdir -p "$WORK/s3data/http" "$WORK/s3data/https"
  local buckets=() r
  for r in $(seq "$RUNS"); do buckets+=(--configure-bucket "cbm$r" --configure-bucket "pipe$r" --configure-bucket "restic$r"); done
  # shellcheck disable=SC2086
  node --openssl-legacy-provider ${S3RVER_NODE_FLAGS:-} "$S3RVER_JS" -d "$WORK/s3data/http" -a 127.0.0.1 -p "$S3_PORT" --silent "${buckets[@]}" \
    > "$RESULTS/s3rver-http.log" 2>&1 &
  SRV_HTTP=$!; PIDS+=("$SRV_HTTP")
  # shellcheck disable=SC2086
  node --openssl-legacy-provider ${S3RVER_NODE_FLAGS:-} "$S3RVER_JS" -d "$WORK/s3data/https" -a 127.0.0.1 -p "$S3S_PORT" --silent "${buckets[@]}" \
    --key "$WORK/tls/key.pem" --cert "$CACERT" > "$RESULTS/s3rver-https.log" 2>&1 &
  SRV_HTTPS=$!; PIDS+=("$SRV_HTTPS")
  local i
  for i in $(seq 100); do
    curl -s -o /dev/null "$S3_EP/" && curl -s --cacert "$CACERT" -o /dev/null "$S3S_EP/" && { log "s3rver: $S3_EP (pid $SRV_HTTP), $S3S_EP (pid $SRV_HTTPS)"; return 0; }
    sleep 0.1
  done
  die "s3rver did not start (see $RESULTS/s3rver-*.log)"
}
stop_servers() {
  local p
  for p in $SRV_HTTP $SRV_HTTPS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  local keep=(); for p in "${PIDS[@]}"; do [ "$p" != "$SRV_HTTP" ] && [ "$p" != "$SRV_HTTPS" ] && keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# ---- measurement ---------------------------------------------------------------------------------
RAW=$RESULTS/raw.tsv
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Sum of RSS (KiB) over a process and all its descendants.
tree_rss() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    { pp[$1] = $2; rss[$1] = $3 }
    END { for (p in pp) { q = p; n = 0; while (q != "" && q != 0 && q != root && n++ < 64) q = pp[q]; if (q == root) s += rss[p] } print s + 0 }'
}
# measure SIZE_MIB RUN NAME SERVERPID CMD...   -> a row in $RAW
measure() {
  local size=$1 run=$2 name=$3 srv=$4; shift 4
  sync
  local c0; c0=$(cpu_ticks "$srv")
  local l0; l0=$(cut -d' ' -f1 /proc/loadavg)
  $TIMEV -f '%e\t%M\t%U\t%S' -o "$WORK/time.out" bash -c "$*" > "$WORK/last.out" 2> "$WORK/last.err" &
  local tp=$! peak=0 cur
  while kill -0 "$tp" 2>/dev/null; do
    cur=$(tree_rss "$tp"); [ "$cur" -gt "$peak" ] && peak=$cur
    sleep 0.1
  done
  wait "$tp"; local rc=$?
  local c1; c1=$(cpu_ticks "$srv")
  local l1; l1=$(cut -d' ' -f1 /proc/loadavg)
  local t; t=$(grep -v '^Command' "$WORK/time.out" | tail -1)
  local hz; hz=$(getconf CLK_TCK)
  local scpu; scpu=$(awk -v a="$c0" -v b="$c1" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$run" "$name" "$t" "$peak" "$scpu" "$l0/$l1" "$rc" "$*" >> "$RAW"
  log "$name ($size MiB, run $run): $(cut -f1 <<<"$t") s, peak RSS $(( $(cut -f2 <<<"$t") / 1024 )) MiB (tree $((peak / 1024)) MiB), s3rver CPU ${scpu}s, load $l0/$l1, rc=$rc"
  if [ "$rc" -ne 0 ]; then tail -5 "$WORK/last.err" >&2; fi
  return "$rc"
}

CLMGR=$ROOT/bin/clmgr
# clmgr with its own home; quiet setup commands (not measured).
cbm() { CBM_HOME=$CBM_HOME_DIR NO_COLOR=1 "$CLMGR" "$@"; }

printf 'size_mib\trun\tname\twall_s\tmaxrss_kb\tuser_s\tsys_s\ttree_rss_kb\tsrv_cpu_s\tload1\trc\tcmd\n' > "$RAW"
: > "$RESULTS/checks.txt"
for SZ in $SIZES; do
  DATA=$WORK/data-$SZ IMG=$WORK/data-$SZ/disk.img IMG2=$WORK/data-$SZ/disk2.img
  mkdir -p "$DATA"
  need_gb=$(( SZ * 4 / 1024 + 2 ))
  avail_gb=$(df -Pk "$WORK" | awk 'NR==2{print int($4/1048576)}')
  [ -f "$IMG" ] || [ "$avail_gb" -ge "$need_gb" ] || die "$SZ MiB needs ~${need_gb} GiB free in $WORK, have ${avail_gb}"
  if [ ! -f "$IMG" ] || [ ! -f "$IMG2" ] || ! (cd "$DATA" && sha256sum --status -c SHA256SUMS 2>/dev/null); then
    log "generating $SZ MiB images in $DATA"
    node "$BENCH_DIR/gen-disk.cjs" "$IMG" --size-mib "$SZ" --seed 1 || die "gen-disk failed"
    cp "$IMG" "$IMG2" && node "$BENCH_DIR/gen-disk.cjs" --mutate "$IMG2" --pct 1 --seed 2 || die "mutate failed"
    (cd "$DATA" && sha256sum disk.img disk2.img > SHA256SUMS)
  fi
  SHA1=$(awk '$2=="disk.img"{print $1}' "$DATA/SHA256SUMS") SHA2=$(awk '$2=="disk2.img"{print $1}' "$DATA/SHA256SUMS")
  BYTES=$((SZ * 1024 * 1024))
  start_servers
  ours() {
    # --- CBM: site through clmgr, disk = a symlink we point at the mutated copy for the incremental
    CBM_HOME_DIR=$WORK/cbm-home-$SZ-$r; rm -rf "$CBM_HOME_DIR"; mkdir -p "$CBM_HOME_DIR"
    CUR=$WORK/cbm-home-$SZ-$r/hdisk1.img; ln -s "$IMG" "$CUR"
    for l in "add node Node1" "add cluster c1 NODES=Node1" "add physical_volume hdisk1 DEVICE=$CUR SIZE=$BYTES" \
      "add volume_group VG1 PHYSICAL_VOLUMES=hdisk1" "add resource_group RG1 NODES=Node1 VOLUME_GROUP=VG1" \
      "add storage_system local1 TYPE=local" \
      "add backup_profile RG1 BACKUP_METHOD=cloud VOLUME_GROUP=VG1 STORAGE_NAME=local1 COMPRESSION=enable CLOUD_SERVICE=s3 ENDPOINT=$S3_EP BUCKET_NAME=cbm$r ACCESS_KEY_ENV=BENCH_AK SECRET_KEY_ENV=BENCH_SK"; do
      # shellcheck disable=SC2086
      cbm $l > /dev/null 2> "$WORK/setup.err" || { cat "$WORK/setup.err" >&2; die "clmgr $l failed"; }
    done
    # Node 20 refuses --cpu-prof in NODE_OPTIONS: run bin/clmgr through node with it (all threads
    # profiled), with what its #! line gives node (GLIBC_TUNABLES, heap flag), so the run is the same.
    prof() { [ "${CBM_PROF:-0}" = 1 ] && echo "$(head -1 "$CLMGR" | sed 's|^#!/usr/bin/env -S ||') --cpu-prof --cpu-prof-dir=$RESULTS/prof/$1" || true; }
    H="CBM_HOME=$CBM_HOME_DIR NO_COLOR=1"
    measure "$SZ" "$r" "cbm: backup full" "$SRV_HTTP" "$H $(prof full-$SZ-$r) $CLMGR backup backup_profile RG1 -o json"
    cp "$WORK/last.out" "$RESULTS/cbm-full-$SZ-$r.json"
    ln -sfn "$IMG2" "$CUR"
    measure "$SZ" "$r" "cbm: backup incremental (1%)" "$SRV_HTTP" "$H $(prof incr-$SZ-$r) $CLMGR backup backup_profile RG1 TYPE=incremental -o json"
    cp "$WORK/last.out" "$RESULTS/cbm-incr-$SZ-$r.json"
    OUT=$WORK/restore-$SZ.img; rm -f "$OUT"
    measure "$SZ" "$r" "cbm: restore latest" "$SRV_HTTP" "$H $(prof restore-$SZ-$r) $CLMGR restore backup_files latest RG_NAME=RG1 DISK=hdisk1 TARGET=$OUT -o json"
    got=$(sha256sum "$OUT" | cut -d' ' -f1)
    if [ "$got" = "$SHA2" ]; then echo "$SZ run $r: cbm restore sha256 OK ($got)" >> "$RESULTS/checks.txt"
    else echo "$SZ run $r: cbm restore sha256 MISMATCH: $got, want $SHA2" >> "$RESULTS/checks.txt"; log "cbm restore MISMATCH"; fi
    rm -f "$OUT"
  }
  peers() {
    # --- zstd | aws s3 cp
    measure "$SZ" "$r" "zstd -3 -T2 | aws s3 cp -" "$SRV_HTTP" \
      "zstd -q -3 -T2 -c $IMG | $AWS s3 cp - s3://pipe$r/disk.img.zst --endpoint-url $S3_EP --only-show-errors --expected-size $BYTES"
    # --- restic 0.14, repository v2 (zstd), https server
    export RESTIC_REPOSITORY=s3:$S3S_EP/restic$r/repo
    rm -rf "$RESTIC_CACHE_DIR"
    restic --cacert "$CACERT" init --repository-version 2 > /dev/null 2> "$WORK/restic-init.err" || { cat "$WORK/restic-init.err" >&2; die "restic init failed"; }
    R="restic --cacert $CACERT"
    measure "$SZ" "$r" "restic: backup --stdin full" "$SRV_HTTPS" "$R backup --stdin --stdin-filename disk.img --host bench < $IMG"
    measure "$SZ" "$r" "restic: backup --stdin 1% changed" "$SRV_HTTPS" "$R backup --stdin --stdin-filename disk.img --host bench < $IMG2"
    rm -rf "$WORK/restic-restore"
    measure "$SZ" "$r" "restic: restore latest" "$SRV_HTTPS" "$R restore latest --target $WORK/restic-restore"
    got=$(sha256sum "$WORK/restic-restore/disk.img" | cut -d' ' -f1)
    if [ "$got" = "$SHA2" ]; then echo "$SZ run $r: restic restore sha256 OK" >> "$RESULTS/checks.txt"
    else echo "$SZ run $r: restic restore sha256 MISMATCH: $got" >> "$RESULTS/checks.txt"; fi
    rm -rf "$WORK/restic-restore"
    unset RESTIC_REPOSITORY
  }
  for r in $(seq "$RUNS"); do
    cat "$IMG" "$IMG2" > /dev/null # same warm page cache for everyone
    # Alternate the order (odd runs: ours first) so a load change on a shared machine hits both sides.
    if [ "${SKIP_PEERS:-0}" = 1 ]; then ours
    elif [ $((r % 2)) = 1 ]; then ours; peers
    else peers; ours; fi
    # Free the disk space of this run's objects (the servers keep running).
    rm -rf "$WORK/s3data/http/cbm$r/"* "$WORK/s3data/http/pipe$r/"* "$WORK/s3data/https/restic$r/"*
  done
  stop_servers
  [ "${KEEP_IMAGES:-1}" = 1 ] || rm -rf "$DATA"
done

{
  echo "# CBM vs peers — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, node $(node --version), $(restic version | cut -d' ' -f1-2), RUNS=$RUNS"
  echo "commit $(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet -- src || echo ' + uncommitted src changes')"
  [ -z "${S3RVER_NODE_FLAGS:-}" ] || echo "s3rver started with node flags: $S3RVER_NODE_FLAGS (a what-if, not the default measurement)"
  echo
  node "$BENCH_DIR/table.mjs" "$RAW"
  echo
  echo '```'; cat "$RESULTS/checks.txt"; echo '```'
} > "$RESULTS/latest.md"
cat "$RESULTS/latest.md"
