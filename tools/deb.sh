#!/bin/sh
# Build the Debian package mxgate_VERSION_ARCH.deb (docs/deployment.md).
#   tools/deb.sh [OUTDIR]    (default: the current directory)
# dpkg-buildpackage writes its results into the parent of the source tree,
# so the tree is copied (without target/ and .git, keeping modification
# times) to TARGET/deb-src/mxgate and built there (a fixed path, so cargo
# reuses what it built last time); the .deb is then copied to OUTDIR.
# Needs debhelper and the Rust toolchain; CARGO_TARGET_DIR is honoured.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$PWD}
command -v dpkg-buildpackage >/dev/null 2>&1 || { echo "deb.sh: apt-get install dpkg-dev debhelper" >&2; exit 1; }
command -v dh >/dev/null 2>&1 || { echo "deb.sh: apt-get install debhelper" >&2; exit 1; }
target=${CARGO_TARGET_DIR:-$here/target}
scratch=$target/deb-src
rm -rf "$scratch"
mkdir -p "$scratch/mxgate"
tar -C "$here" --exclude=./target --exclude=./.git --exclude=./fuzz/target -cf - . | tar -C "$scratch/mxgate" -xf -
(cd "$scratch/mxgate" && dpkg-buildpackage -b -us -uc >&2)
mkdir -p "$out"
for f in "$scratch"/*.deb; do
  cp "$f" "$out/"
  echo "$out/$(basename "$f")"
done
