#!/usr/bin/env bash
# Builds the lab's initramfs in two cached parts that the kernel reads as one (concatenated cpio archives):
#   base: busybox, the mmutorture binary with the C libraries it needs, the init, the stock helper modules,
#         the shipped scenarios (in /scenarios)
#   boot: the variant's KVM modules, the plan (one workload per line: NAME ARGS...) and boot.conf
#         (SEND_KALLSYMS=1: send the kernel's symbols; HOLD_STATIC_KEYS=1: run the static-key holder)
# Usage: initramfs.sh base BINARY MODULES_DIR INIT SCENARIOS_DIR OUT
#        initramfs.sh boot VARIANT_DIR PLAN VARIANT MMU OUT [SETTING=VALUE...]   (more lines of boot.conf)
set -euo pipefail
need() { command -v "$1" >/dev/null || { echo "lab: $1 is missing; install it with: apt-get install $2" >&2; exit 69; }; }
need cpio cpio
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case $1 in
base)
    binary=$2 modules=$3 init=$4 scenarios=$5 out=$6
    busybox=/bin/busybox
    [ -x "$busybox" ] && "$busybox" --list | grep -x insmod >/dev/null && ! ldd "$busybox" >/dev/null 2>&1 \
        || { echo "lab: a static busybox is missing; install it with: apt-get install busybox-static" >&2; exit 69; }
    mkdir -p "$work"/{bin,sbin,lab/modules,proc,sys,dev,tmp,lib64,lib/x86_64-linux-gnu,scenarios}
    cp "$scenarios"/*.json "$work/scenarios/"
    cp "$busybox" "$work/bin/busybox"
    cp "$init" "$work/init"; chmod +x "$work/init"
    if ldd "$binary" | grep -q 'libswift'; then
        echo "lab: $binary loads the Swift runtime dynamically; the guest needs a build with --static-swift-stdlib" >&2
        exit 65
    fi
    # Symbols stay (debug info goes): with the toolchain's static backtracer beside it, a crash of the inner run
    # prints a symbolicated backtrace into its captured output.
    strip --strip-debug -o "$work/mmutorture" "$binary"
    backtracer=$(dirname "$(readlink -f "$(command -v swift || echo /nonexistent)")")/../libexec/swift/linux/swift-backtrace-static
    [ -x "$backtracer" ] && cp "$backtracer" "$work/bin/swift-backtrace-static"
    # The C libraries the binary links (the Swift runtime is linked in statically).
    ldd "$binary" | awk '/=> \// {print $3} /^\t\/lib64/ {print $1}' | while read -r lib; do
        cp -L "$lib" "$work$lib"
    done
    cp "$modules/kernel/virt/lib/irqbypass.ko" "$modules/kernel/drivers/crypto/ccp/ccp.ko" "$work/lab/modules/"
    # The static-key holder (see its source): a static C binary, so the initramfs needs no more libraries.
    gcc -static -O2 -o "$work/bin/hold-static-keys" "$(dirname "$init")/hold-static-keys.c" \
        || { echo "lab: building lab/hold-static-keys.c needs the C library's static archive; install it with: apt-get install libc6-dev" >&2; exit 69; }
    ;;
boot)
    variant=$2 plan=$3 name=$4 mmu=$5 out=$6
    shift 6
    mkdir -p "$work/lab/modules"
    cp "$variant"/*.ko "$work/lab/modules/"
    cp "$plan" "$work/lab/plan"
    printf 'VARIANT=%s\nMMU=%s\n' "$name" "$mmu" > "$work/lab/boot.conf"
    for setting in "$@"; do echo "$setting" >> "$work/lab/boot.conf"; done
    ;;
*) echo "usage: initramfs.sh base|boot ..." >&2; exit 64 ;;
esac
(cd "$work" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) > "$out.tmp"
mv "$out.tmp" "$out"
