#!/usr/bin/env bash
# Merge every report-*.json under IN_DIR (a CI matrix's downloaded artifacts) into OUT_DIR/merged.json, with the
# HTML and JUnit renderings. Exits with the merged verdict's code.
#
#   ci/merge.sh IN_DIR OUT_DIR
set -euo pipefail
in=${1:?usage: ci/merge.sh IN_DIR OUT_DIR}
out=${2:?usage: ci/merge.sh IN_DIR OUT_DIR}
# Relative paths are the caller's, resolved before the cd below.
in=$(realpath -m -- "$in") out=$(realpath -m -- "$out")
cd "$(dirname "$0")/.."
mkdir -p "$out"
swift build -c release --product mmutorture
bin=.build/release/mmutorture
mapfile -t reports < <(find "$in" -name 'report-*.json' | sort)
if [ "${#reports[@]}" -eq 0 ]; then
    echo "no report-*.json under $in" >&2
    exit 66
fi
"$bin" report merge "${reports[@]}" -o "$out/merged.json"
"$bin" report html "$out/merged.json" -o "$out/merged.html"
"$bin" report junit "$out/merged.json" -o "$out/junit.xml"
