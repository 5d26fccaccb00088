#!/usr/bin/env bash
# The kernel bug lab as CI runs it: installs what the lab needs (Debian/Ubuntu packages), builds the release
# binary, then runs `mmutorture lab` with the options given, writing OUT_DIR/lab-NAME.json. Exits with the lab's
# code (0: stock clean and every mutant caught). The GitHub workflow's nightly lab job and .ci/run both call it.
#
#   ci/lab.sh OUT_DIR NAME [lab options...]     e.g. ci/lab.sh reports stock --variants stock --seconds 30
#   ci/lab.sh OUT_DIR NAME --merge-only IN_DIR  merges every lab-*.json under IN_DIR (the shards' artifacts)
#
# Environment: MMUTORTURE_LAB_CACHE (default: the lab's own default under ~/.cache).
set -euo pipefail
out=${1:?usage: ci/lab.sh OUT_DIR NAME [lab options...]}
name=${2:?usage: ci/lab.sh OUT_DIR NAME [lab options...]}
shift 2
out=$(realpath -m -- "$out")  # the caller's relative paths, resolved before the cd below
[ "${1:-}" != --merge-only ] || set -- "$1" "$(realpath -m -- "${2:?--merge-only needs a directory}")"
arguments=()
while [ $# -gt 0 ]; do
    case $1 in
    --patch|--cache|--binary|--assets) arguments+=("$1" "$(realpath -m -- "${2:?$1 needs a path}")"); shift 2 ;;
    *) arguments+=("$1"); shift ;;
    esac
done
set -- "${arguments[@]}"
cd "$(dirname "$0")/.."
mkdir -p "$out"
if [ "${1:-}" = --merge-only ]; then
    swift build -c release --product mmutorture
    mapfile -t reports < <(find "${2:?--merge-only needs a directory}" -name 'lab-*.json' | sort)
    [ "${#reports[@]}" -gt 0 ] || { echo "no lab-*.json under $2" >&2; exit 66; }
    set +e
    .build/release/mmutorture report merge "${reports[@]}" -o "$out/lab-$name.json"
    status=$?
    set -e
    .build/release/mmutorture report junit "$out/lab-$name.json" -o "$out/junit.xml"
    exit "$status"
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)  # the static-key holder is linked statically
for tool in cpio make gcc-12 xz patch; do
    command -v "$tool" >/dev/null || missing+=("$( [ "$tool" = xz ] && echo xz-utils || echo "$tool")")
done
# apt-get download needs the package lists, which a fresh machine may not have yet.
if [ "${#missing[@]}" -gt 0 ] || [ -z "$(apt-cache policy linux-image-amd64 2>/dev/null | awk '/Candidate:/ {print $2}')" ]; then
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    [ "${#missing[@]}" -eq 0 ] || $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
swift build -c release --product mmutorture
cache=()
[ -z "${MMUTORTURE_LAB_CACHE:-}" ] || cache=(--cache "$MMUTORTURE_LAB_CACHE")
.build/release/mmutorture lab "${cache[@]}" --report "$out/lab-$name.json" "$@"
