#!/bin/sh
# Check the dependency tree (Cargo.lock) against the RustSec advisory database.
#   tools/audit.sh [ADVISORY-DB-DIR]
# Needs cargo-audit (`cargo install cargo-audit --locked`, from crates.io).
# With a directory, that local copy of github.com/rustsec/advisory-db is used
# as it is (no network); without one, cargo audit fetches the database itself.
# Exits non-zero when a vulnerability, an unmaintained crate or a yanked
# version is found (--deny warnings).
set -eu
cd "$(dirname "$0")/.."
command -v cargo-audit >/dev/null 2>&1 || {
  echo "audit.sh: cargo-audit is missing: cargo install cargo-audit --locked" >&2
  exit 2
}
if [ $# -ge 1 ]; then
  exec cargo audit --db "$1" --no-fetch --stale --deny warnings
else
  exec cargo audit --deny warnings
fi
