#!/bin/sh
# Build mxgate and install it with sendmail's command names.
#   tools/install.sh [PREFIX]      (default PREFIX=/usr/local)
# Installs PREFIX/sbin/mxgate and the symlinks makemap, newaliases,
# praliases, mailq and sendmail next to it (mxgate install does the links),
# and (as root) the run-as user mxgate with tools/adduser.sh.
set -eu
prefix=${1:-/usr/local}
cd "$(dirname "$0")/.."
cargo build --release
install -d "$prefix/sbin"
install -m 0755 target/release/mxgate "$prefix/sbin/mxgate"
"$prefix/sbin/mxgate" install --prefix "$prefix/sbin"
# The shipped configurations run as the unprivileged user mxgate.
if [ "$(id -u)" = 0 ]; then
  tools/adduser.sh mxgate
else
  echo "install.sh: as root, run tools/adduser.sh to create the run-as user mxgate"
fi
