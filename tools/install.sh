#!/bin/sh
# Build mxgate and install it with sendmail's command names.
#   tools/install.sh [PREFIX]      (default PREFIX=/usr/local)
# Installs PREFIX/sbin/mxgate and the symlinks makemap, newaliases,
# praliases, mailq and sendmail next to it (mxgate install does the links).
set -eu
prefix=${1:-/usr/local}
cd "$(dirname "$0")/.."
cargo build --release
install -d "$prefix/sbin"
install -m 0755 target/release/mxgate "$prefix/sbin/mxgate"
"$prefix/sbin/mxgate" install --prefix "$prefix/sbin"
