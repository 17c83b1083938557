#!/usr/bin/env bash
# make image-test: build deploy/Dockerfile with buildah (no daemon), run the image's
# entrypoint as uid/gid 65532 serving the demo on a free loopback port, scrape drs_jobs from
# it, and check that the final image holds no pip, no compiler and no source tree. Prints the
# image's size, the uid that served the port and the scraped line. Run as root, from anywhere.
#
# The base image, in order: $BASE_IMAGE if set; python:3.12-slim if a registry serves it;
# otherwise a minimal Debian with python3 made here with debootstrap ($DEBIAN_SUITE,
# default bookworm, from $DEBIAN_MIRROR), which also gets this machine's extra CA
# certificates (/usr/local/share/ca-certificates) so that pip in the build trusts what the
# host trusts (a TLS-inspecting proxy's CA, say).
#
# Everything lives in a private buildah storage (vfs) under one temporary directory that is
# removed at exit, whatever the outcome: nothing is added to the machine's images or
# containers, and two runs never share state. The base and the build are each bounded to
# 20 minutes, the demo's first scrape to 90 seconds.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TAG=localhost/drs-exporter:image-test
BASE_TAG=localhost/drs-exporter-base:image-test
SLIM=docker.io/library/python:3.12-slim
UID_GID=65532:65532
started=$(date +%s)

say() { echo "image-test: $*"; }
fail() {
    echo "image-test: FAILED: $*" >&2
    exit 1
}

[ "$(id -u)" = 0 ] || fail "needs root (buildah with --isolation chroot and vfs storage)"
command -v buildah >/dev/null || fail "buildah is not installed (apt-get install buildah)"

WORK=$(mktemp -d /var/tmp/drs-image-test.XXXXXX)
B=(buildah --root "$WORK/storage" --runroot "$WORK/run" --storage-driver vfs)
demo_pid=""
# buildah keeps a cache of blob metadata under /var/lib/containers whatever --root says.
[ -e /var/lib/containers ] && had_containers_dir=1 || had_containers_dir=""

cleanup() {
    if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
        kill "$demo_pid" 2>/dev/null || true
        wait "$demo_pid" 2>/dev/null || true
    fi
    "${B[@]}" umount --all >/dev/null 2>&1 || true
    "${B[@]}" rm --all >/dev/null 2>&1 || true
    "${B[@]}" rmi --all --force >/dev/null 2>&1 || true
    # --one-file-system: never follow a mount an interrupted run might have left behind.
    rm -rf --one-file-system "$WORK"
    [ -n "$had_containers_dir" ] || rm -rf --one-file-system /var/lib/containers
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a step, its output in a log; on failure show the log's end and stop.
step() {
    local name=$1 log="$WORK/$1.log"
    shift
    if ! "$@" >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        fail "$name (the lines above are the end of its output)"
    fi
}

# --- the base --------------------------------------------------------------------------

make_debian_base() {
    command -v debootstrap >/dev/null \
        || fail "no registry serves $SLIM, and debootstrap is not installed" \
            "(apt-get install debootstrap)"
    local suite=${DEBIAN_SUITE:-bookworm} mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    local ctr mnt
    ctr=$("${B[@]}" from scratch)
    mnt=$("${B[@]}" mount "$ctr")
    # python-is-python3: the base is used as python:*-slim is, through `python`.
    step debootstrap timeout 1200 debootstrap --variant=minbase \
        --include=python3,python3-venv,python-is-python3,ca-certificates \
        "$suite" "$mnt" "$mirror"
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$mnt/usr/local/share/ca-certificates/"
        step update-ca-certificates chroot "$mnt" update-ca-certificates
    fi
    rm -rf "$mnt"/var/cache/apt/archives/*.deb "$mnt"/var/lib/apt/lists/*
    base_what="Debian $suite made with debootstrap, $(chroot "$mnt" python3 --version)"
    "${B[@]}" umount "$ctr" >/dev/null
    "${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 "$ctr"
    step commit-base "${B[@]}" commit --rm "$ctr" "$BASE_TAG"
    base="$BASE_TAG"
}

if [ -n "${BASE_IMAGE:-}" ]; then
    base=$BASE_IMAGE
    base_what="from BASE_IMAGE"
elif timeout 120 "${B[@]}" pull --quiet "$SLIM" >"$WORK/pull.log" 2>&1; then
    base=$SLIM
    base_what="pulled from the registry"
else
    # The end of buildah's error is the cause: "...: no such host", "...: i/o timeout".
    cause=$(tail -n 1 "$WORK/pull.log" | awk -F': ' '{print $NF}')
    say "no registry serves $SLIM ($cause); making a Debian base"
    make_debian_base
fi
say "base $base ($base_what)"

# --- build -----------------------------------------------------------------------------

# --format docker: the OCI format has no HEALTHCHECK, and would drop the Dockerfile's.
step build timeout 1200 "${B[@]}" bud --isolation chroot --format docker \
    --build-arg "BASE_IMAGE=$base" -f deploy/Dockerfile -t "$TAG" .
size=$("${B[@]}" images --format '{{.Size}}' "$TAG")
say "built $TAG: $size"

user=$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$TAG")
[ "$user" = "$UID_GID" ] || fail "the image's USER is '$user', not $UID_GID"
mapfile -t entrypoint < <("${B[@]}" inspect --type image \
    --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$TAG" | sed '/^$/d')
[ "${#entrypoint[@]}" -gt 0 ] || fail "the image has no ENTRYPOINT"

# --- what the final image must not hold ------------------------------------------------

ctr=$("${B[@]}" from "$TAG")
mnt=$("${B[@]}" mount "$ctr")
found() { # the paths under the image's root that match find's tests, one per line
    (cd "$mnt" && find . -xdev \( "$@" \) -print | sed 's|^\.||' | head -n 5) || true
}
pip=$(found -path '*-packages/pip' -o -path '*/bin/pip' -o -path '*/bin/pip3*')
[ -z "$pip" ] || fail "the image holds pip: $(echo "$pip" | tr '\n' ' ')"
compiler=$(found -path '*bin/*' \( -name gcc -o -name 'gcc-[0-9]*' -o -name '*-linux-gnu-gcc*' \
    -o -name cc -o -name c++ -o -name 'g++*' -o -name 'clang*' -o -name tcc \) -o -name cc1)
[ -z "$compiler" ] || fail "the image holds a compiler: $(echo "$compiler" | tr '\n' ' ')"
sources=$(found -name pyproject.toml -o -path ./src -o -type d -name drs_exporter \
    ! -path '*-packages/drs_exporter')
[ -z "$sources" ] || fail "the image holds a source tree: $(echo "$sources" | tr '\n' ' ')"
"${B[@]}" umount "$ctr" >/dev/null
say "no pip, no compiler, no source tree"

# --- run the entrypoint as 65532 and scrape it -----------------------------------------

port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
# chroot isolation shares the host's network: the demo's loopback port is the host's.
"${B[@]}" run --isolation chroot --user "$UID_GID" "$ctr" -- \
    "${entrypoint[@]}" demo --web.listen-address="127.0.0.1:$port" >"$WORK/demo.log" 2>&1 &
demo_pid=$!

# The first drs_jobs line with a value above 0, and the uid and gid of the process that
# listens on the port (from /proc, as the kernel sees it); waits up to 90 s for the demo's
# first poll.
if ! result=$("$PYTHON" - "$port" "$demo_pid" <<'EOF'
import os, sys, time, urllib.request

port, demo_pid = int(sys.argv[1]), int(sys.argv[2])


def listener_ids() -> str:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                    inodes.add(fields[9])
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if any(os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1] in inodes for fd in fds):
                status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
                return f"uid {status['Uid'].split()[0]} gid {status['Gid'].split()[0]}"
        except OSError:
            continue  # a process that ended meanwhile, or an fd that closed
    return "unknown (no process listens on the port)"


deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    try:
        os.kill(demo_pid, 0)
    except OSError:
        sys.exit("the demo exited")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            body = answer.read().decode()
    except OSError:
        time.sleep(1)
        continue
    for line in body.splitlines():
        if line.startswith("drs_jobs{") and float(line.rsplit(" ", 1)[1]) > 0:
            print(listener_ids())
            print(line)
            sys.exit(0)
    time.sleep(1)
sys.exit("no drs_jobs line above 0 on /metrics within 90 s")
EOF
); then
    tail -n 20 "$WORK/demo.log" >&2
    fail "running the image (the lines above are the end of the demo's log)"
fi
ids=${result%%$'\n'*}
line=${result#*$'\n'}
[[ "$ids" == "uid 65532 gid 65532" ]] || fail "the demo served the port as $ids, not 65532"
say "entrypoint ${entrypoint[*]} ran the demo on 127.0.0.1:$port as $ids"
say "scraped $line"
if grep -q "level=warn\|level=error" "$WORK/demo.log"; then
    grep "level=warn\|level=error" "$WORK/demo.log" | head -n 5 >&2
    fail "the demo logged a warning or an error (above)"
fi

kill "$demo_pid"
wait "$demo_pid" 2>/dev/null || true
demo_pid=""
say "ok in $(($(date +%s) - started)) s"
