#!/usr/bin/env bash
# One CI torture job: make /dev/kvm usable, build the release binary, run doctor, then a profiled torture run
# whose JSON report lands in $OUT. The GitHub Actions workflow calls this for each cell of its matrix; .ci/run calls
# it too, so every command here runs on the project's own machine.
#
#   ci/torture.sh OUT_DIR [extra run options...]     e.g. ci/torture.sh reports --backing memfd
#
# Environment: MMUTORTURE_PROFILE (default ci), MMUTORTURE_TIME_BOUND (seconds the run may take; default 120).
set -euo pipefail
out=${1:?usage: ci/torture.sh OUT_DIR [run options...]}
shift
out=$(realpath -m -- "$out")  # the caller's relative path, resolved before the cd below
cd "$(dirname "$0")/.."
mkdir -p "$out"

# KVM for the runner user alone, for this job alone: an ACL entry on the device node for this user, removed when
# the script ends (never a rule that leaves /dev/kvm open to every user of the host), then verified by opening it.
if ! ( exec 3<>/dev/kvm ) 2>/dev/null; then
    if [ -e /dev/kvm ] && command -v setfacl >/dev/null; then
        sudo ci/kvm-access.sh grant "$(id -un)"
        trap 'sudo ci/kvm-access.sh revoke "$(id -un)"' EXIT
    fi
    ( exec 3<>/dev/kvm ) || { echo "cannot open /dev/kvm read-write: nested virtualization off, or no permission (setfacl from the acl package grants it)" >&2; exit 69; }
fi

swift build -c release --product mmutorture
bin=.build/release/mmutorture
"$bin" doctor
"$bin" doctor --json > "$out/doctor.json"

name=$(printf '%s' "${*:-default}" | tr -c 'A-Za-z0-9' '-' | sed 's/-*$//')
start=$(date +%s)
set +e
"$bin" run --profile "${MMUTORTURE_PROFILE:-ci}" --quiet --report "$out/report-$name.json" "$@"
status=$?
set -e
elapsed=$(( $(date +%s) - start ))
echo "run took ${elapsed} s, exit ${status}"
if [ "$elapsed" -gt "${MMUTORTURE_TIME_BOUND:-120}" ]; then
    echo "FAIL: the run took ${elapsed} s, over its bound of ${MMUTORTURE_TIME_BOUND:-120} s" >&2
    exit 1
fi
"$bin" report show "$out/report-$name.json"
"$bin" report html "$out/report-$name.json" -o "$out/report-$name.html"
"$bin" report junit "$out/report-$name.json" -o "$out/junit-$name.xml"
exit "$status"
