#!/usr/bin/env bash
# /dev/kvm for one user, for one job: an ACL entry on the device node (never a udev rule, never a mode that opens it to
# every user of the host), taken back by the same script. Runs as root (ci/torture.sh calls it through sudo).
#
#   ci/kvm-access.sh grant USER      USER may open /dev/kvm read-write until revoked (or the next reboot)
#   ci/kvm-access.sh revoke USER     the entry is gone (and the mask, once no named entry is left); the node's
#                                    mode, group and ACL are as they were
set -euo pipefail
action=${1:-}
user=${2:-}
case "$action" in grant|revoke) ;; *) echo "usage: ci/kvm-access.sh grant|revoke USER" >&2; exit 64 ;; esac
id -u -- "$user" > /dev/null 2>&1 || { echo "ci/kvm-access.sh: no user '$user'" >&2; exit 67; }
[ "$(id -u)" = 0 ] || { echo "ci/kvm-access.sh: must run as root (sudo ci/kvm-access.sh $action $user)" >&2; exit 77; }
[ -c /dev/kvm ] || { echo "ci/kvm-access.sh: no /dev/kvm on this host (nested virtualization off?)" >&2; exit 69; }
command -v setfacl > /dev/null || { echo "ci/kvm-access.sh: setfacl missing: install the acl package" >&2; exit 69; }
if [ "$action" = grant ]; then
    setfacl -m "u:$user:rw" /dev/kvm
else
    setfacl -x "u:$user" /dev/kvm 2> /dev/null || true
    # The grant made a mask entry the node may not have had; with no named entry left it means nothing, and left
    # behind it marks the node as still carrying an ACL (ls shows `+`). Drop it then, so the node is as it was.
    if ! getfacl -p -c /dev/kvm 2> /dev/null | grep -Eq '^(user|group):[^:]+:'; then
        setfacl -b /dev/kvm
    fi
fi
