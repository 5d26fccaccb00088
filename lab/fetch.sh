#!/usr/bin/env bash
# Fetches the lab's kernel into a cache: the stock Debian image, its headers and kbuild, and the same version's
# source, all at the version the archive offers now (apt-get download: nothing is installed on the host).
# Usage: fetch.sh CACHE   Prints "version=", "abi=", "kernel=", "headers=", "modules=", "source=" lines.
set -euo pipefail
cache=$1
say() { echo "lab: $*" >&2; }
need() { command -v "$1" >/dev/null || { echo "lab: $1 is missing; install it with: apt-get install $2" >&2; exit 69; }; }
need apt-get apt
need dpkg-deb dpkg
need make make
need gcc-12 gcc-12
need xz xz-utils
need patch patch
need flock util-linux

# The distribution's kernel flavour as the archive offers it today (it moves with security updates).
abi=${MMUTORTURE_LAB_KERNEL:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}' | sed 's/^linux-image-//')}
if [ -z "$abi" ]; then
    echo "lab: the package archive offers no linux-image-amd64 (is the package list empty? run: apt-get update)" >&2
    exit 69
fi
version=$(apt-cache policy "linux-image-$abi" | awk '/Candidate:/ {print $2}')
series=$(echo "$abi" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
flavour=${abi##*-}
common=${abi%-$flavour}-common
[ -n "$version" ] && [ "$version" != "(none)" ] || { echo "lab: no candidate version of linux-image-$abi (run: apt-get update)" >&2; exit 69; }

root=$cache/kernel/$version
# Labs sharing a cache (shards run side by side) fetch one at a time: the second finds the first's copy ready.
# The lock is the directory itself, opened read-only: nothing is created, truncated or followed through a link.
mkdir -p "$cache/kernel"
exec 9< "$cache/kernel"
flock -n 9 || { say "waiting for another lab fetching into $cache"; flock 9; }
if [ ! -e "$root/.ready" ]; then
    rm -rf "$root"
    mkdir -p "$root/debs" "$root/root" "$root/src"
    say "fetching linux-image-$abi, headers, kbuild and linux-source-$series at $version"
    # apt-get download writes into the current directory; as root apt warns that _apt cannot write there (harmless).
    (cd "$root/debs" && apt-get download -q \
        "linux-image-$abi=$version" "linux-headers-$abi=$version" "linux-headers-$common=$version" \
        "linux-kbuild-$series=$version" "linux-source-$series=$version" 2>&1 | grep -v "unsandboxed" >&2) \
        || { echo "lab: apt-get download failed for version $version (image, headers and source must be at one version)" >&2; exit 69; }
    for deb in "$root"/debs/*.deb; do dpkg-deb -x "$deb" "$root/root"; done
    # The headers' Makefile includes the common headers by their installed path; point it at the extracted copy.
    sed -i "s|include /usr/src/|include $root/root/usr/src/|" "$root/root/usr/src/linux-headers-$abi/Makefile"
    say "extracting arch/x86/kvm and virt/kvm from linux-source-$series"
    tar -xJf "$root/root/usr/src/linux-source-$series.tar.xz" -C "$root/src" --strip-components=1 \
        "linux-source-$series/arch/x86/kvm" "linux-source-$series/virt/kvm"
    rm -f "$root/root/usr/src/linux-source-$series.tar.xz" "$root"/debs/*.deb
    touch "$root/.ready"
fi
echo "version=$version"
echo "abi=$abi"
echo "kernel=$root/root/boot/vmlinuz-$abi"
echo "headers=$root/root/usr/src/linux-headers-$abi"
echo "modules=$root/root/lib/modules/$abi"
echo "source=$root/src"
