#!/usr/bin/env bash
# Builds kvm.ko, kvm-amd.ko and kvm-intel.ko from the cached source with one patch applied (none for stock),
# then the lab's instrumentation on top (the flush sanitizer, unless '-'), out of tree against the same version's
# headers, and a pr_info marker in kvm_init naming the variant, so the console proves which build loaded.
# Cached: OUT/.ready is kept, so a second call is free.
# Usage: build-variant.sh SOURCE HEADERS NAME PATCH|- OUT [SANITIZER|-] [allow-build-changes]
set -euo pipefail
source=$1 headers=$2 name=$3 patchfile=$4 out=$5 sanitizer=${6:--} build_changes=${7:-}
# The name reaches the module's C string and the guest's boot.conf: letters, digits, '.', '_' and '-' only.
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] || { echo "lab: variant name '$name' may use only letters, digits, '.', '_' and '-'" >&2; exit 64; }
# Labs sharing a cache build one at a time: the second finds the first's modules ready. The lock is the directory
# itself (opened read-only: nothing is created, truncated or followed through a planted link).
mkdir -p "$(dirname "$out")"
exec 9< "$(dirname "$out")"
flock -n 9 || { echo "lab: waiting for another lab building in $(dirname "$out")" >&2; flock 9; }
[ -e "$out/.ready" ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/arch/x86" "$work/include/trace"
cp -r "$source/arch/x86/kvm" "$work/arch/x86/"
cp -r "$source/virt" "$work/"

if [ "$patchfile" != "-" ]; then
    # A patch may only touch KVM: anything else would not be in the modules this builds. Every name GNU patch may
    # act on counts ('---', '+++', git's 'diff --git', rename and copy lines, 'Index:'), and none may climb out.
    names=$(sed -nE 's/^(\+\+\+|---) ([^	]*).*/\2/p; s/^diff --git ([^ ]*) ([^ ]*).*/\1\n\2/p; s/^(rename|copy) (from|to) (.*)/\3/p; s/^Index: (.*)/\1/p' "$patchfile" \
        | grep -v '^/dev/null$' | sed -E 's|^[ab]/||' | sort -u)
    outside=$(echo "$names" | grep -vE '^(arch/x86/kvm|virt/kvm)/' || true)
    climbing=$(echo "$names" | grep -E '(^|/)\.\.(/|$)' || true)
    if [ -n "$outside$climbing" ]; then
        echo "lab: $patchfile changes files outside arch/x86/kvm and virt/kvm: $(echo $outside $climbing)" >&2
        exit 65
    fi
    # The build itself (Makefiles, Kbuild, Kconfig) runs as the lab's caller: a patch may change it only when asked.
    build=$(echo "$names" | grep -E '(^|/)(Makefile[^/]*|Kbuild[^/]*|Kconfig[^/]*|[^/]*\.mk)$' || true)
    if [ -n "$build" ] && [ "$build_changes" != allow-build-changes ]; then
        echo "lab: $patchfile changes the build ($(echo $build)), which runs as you; look at it, then pass --allow-build-changes" >&2
        exit 65
    fi
    grep -qE '^\+\+\+ ' "$patchfile" || { echo "lab: $patchfile is not a unified diff (no '+++' line)" >&2; exit 65; }
    if ! patch -p1 -d "$work" --batch --forward --no-backup-if-mismatch -s < "$patchfile" > "$work/patch.log" 2>&1; then
        echo "lab: $patchfile does not apply to the source of Linux $(basename "$(dirname "$source")") (arch/x86/kvm, virt/kvm):" >&2
        sed 's/^/    /' "$work/patch.log" >&2
        exit 65
    fi
fi

if [ "$sanitizer" != "-" ]; then
    # The sanitizer goes on top of the variant: a hunk that no longer applies (a new kernel from the archive, or a
    # patch that rewrites the same lines) stops the lab, naming the hunk; it never builds silently without it.
    if ! patch -p1 -d "$work" --batch --forward --no-backup-if-mismatch -s < "$sanitizer" > "$work/sanitizer.log" 2>&1; then
        if [ "$patchfile" = "-" ]; then
            echo "lab: the flush sanitizer ($sanitizer) does not apply to Linux $(basename "$(dirname "$source")"):" >&2
        else
            echo "lab: the flush sanitizer ($sanitizer) does not apply on top of $patchfile:" >&2
        fi
        sed 's/^/    /' "$work/sanitizer.log" >&2
        for reject in $(find "$work" -name '*.rej'); do
            echo "    rejected hunk of ${reject#"$work"/}:" >&2
            sed 's/^/      /' "$reject" | head -12 >&2
        done
        echo "lab: update lab/flush-sanitizer.patch for this kernel, or run with --no-flush-sanitizer (the seed's class is then caught only on hardware)" >&2
        [ "$patchfile" = "-" ] && exit 70 || exit 65
    fi
fi

# The marker: the first statement of kvm_init.
awk -v name="$name" '
    /^int kvm_init\(/ { inside = 1 }
    { print }
    inside && /^\{/ { print "\tpr_info(\"mmutorture-lab: kvm variant " name "\\n\");"; inside = 0; done = 1 }
    END { if (!done) exit 1 }' "$work/virt/kvm/kvm_main.c" > "$work/kvm_main.c" \
    || { echo "lab: kvm_init not found in virt/kvm/kvm_main.c" >&2; exit 70; }
mv "$work/kvm_main.c" "$work/virt/kvm/kvm_main.c"

# Out of tree, the KVM Makefile's $(srctree) paths must point at the copy, and the trace headers'
# TRACE_INCLUDE_PATH (../../arch/x86/kvm) must resolve from an include directory two levels below it.
sed -i 's|^ccflags-y += -I \$(srctree)/arch/x86/kvm$|ccflags-y += -I $(src) -I $(src)/../../../include/trace|; s|include \$(srctree)/virt/kvm/Makefile.kvm|include $(src)/../../../virt/kvm/Makefile.kvm|' \
    "$work/arch/x86/kvm/Makefile"
# As root, the compiler and kbuild run as nobody where there is one: a patch is C code the lab compiles, and the build
# needs only to read the kernel tree root prepared and to write the work directory. In a private mount namespace the
# cached tree is bind-mounted read-only into the work directory (the cache under root's 0700 home is out of nobody's
# reach otherwise), which nobody then owns. Elsewhere (not root, no nobody, no setpriv, or a container that refuses a
# mount namespace) it runs as the caller, and says so.
build=(make -s -C "$headers" M="$work/arch/x86/kvm" -j"$(nproc)" modules)
builder=$(id -un)
if [ "$(id -u)" = 0 ] && id -u nobody > /dev/null 2>&1 && command -v setpriv > /dev/null \
    && unshare --mount --propagation private true 2> /dev/null; then
    tree=$(cd "$headers/../../.." && pwd -P)
    headers_real=$(cd "$headers" && pwd -P)
    mkdir "$work/kernel-tree"
    chown -R nobody: "$work"
    # The headers' Makefile includes the common headers by the cache's absolute path (fetch.sh): inside, a copy
    # pointing at the mounted tree is bound over it.
    build=(unshare --mount --propagation private sh -c '
        mount --bind "$1" "$2/kernel-tree" && mount -o remount,bind,ro "$2/kernel-tree" \
            && sed -E "s|^include .*/usr/src/|include $2/kernel-tree/usr/src/|" "$1/$3/Makefile" > "$2/headers.mk" \
            && mount --bind "$2/headers.mk" "$2/kernel-tree/$3/Makefile" \
            && exec setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --no-new-privs \
                env HOME=/nonexistent make -s -C "$2/kernel-tree/$3" M="$2/arch/x86/kvm" -j"$4" modules' \
        sh "$tree" "$work" "${headers_real#"$tree"/}" "$(nproc)")
    builder=nobody
fi
echo "lab: building $name as $builder" >&2
if ! "${build[@]}" > "$work/build.log" 2>&1; then
    echo "lab: building variant $name failed:" >&2
    grep -E 'error|Error' "$work/build.log" | head -20 | sed 's/^/    /' >&2
    exit 65
fi
mkdir -p "$out"
for module in kvm kvm-amd kvm-intel; do
    strip --strip-debug -o "$out/$module.ko" "$work/arch/x86/kvm/$module.ko"
done
touch "$out/.ready"
