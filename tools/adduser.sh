#!/bin/sh
# Create the unprivileged user the shipped configurations run as
# (confRUN_AS_USER mxgate) and give it the spool. Idempotent; run as root.
#   tools/adduser.sh [USER [QUEUE_DIR]]   (default: mxgate /var/spool/mxgate)
# The daemon binds its ports as root, then becomes USER; without USER on the
# host it refuses to start rather than keep running as root.
set -eu
user=${1:-mxgate}
spool=${2:-/var/spool/mxgate}
[ "$(id -u)" = 0 ] || { echo "adduser.sh: run as root" >&2; exit 1; }
if ! getent passwd "$user" >/dev/null; then
  useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
  echo "adduser.sh: created system user $user"
fi
group=$(id -gn "$user")
# Never chown through a symlink (the daemon would refuse such a spool anyway).
for d in "$spool" "$spool/tmp" "$spool/queue" "$spool/hold" "$spool/quarantine"; do
  if [ -L "$d" ]; then
    echo "adduser.sh: $d is a symbolic link; replace it with a real directory" >&2
    exit 1
  fi
  install -d -o "$user" -g "$group" -m 0750 "$d"
done
echo "adduser.sh: $spool owned by $user:$group"
echo "adduser.sh: tables must be readable by $user; the AUTH password table root:$group 0640; check with: mxgate check --config FILE"
