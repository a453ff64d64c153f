#!/bin/sh
# Unpack Debian's postfix and postfix-pcre packages into a cache directory without installing
# it (it conflicts with sendmail-bin) and make its binaries find their
# libraries there. Used by tests/e2e/lib.sh (prepare_postfix) and
# tests/content_checks.rs (real postmap as the oracle for header_checks;
# postfix-pcre gives it pcre: tables, loaded through a dynamicmaps.cf line
# "pcre $PF/usr/lib/postfix/postfix-pcre.so dict_pcre_open").
#
#   tools/postfix-unpack.sh CACHE_DIR   -> prints CACHE_DIR/root/postfix
#
# Needs apt-get, dpkg, patchelf and file (apt-get install patchelf file).
set -eu
root=${1:?usage: postfix-unpack.sh CACHE_DIR}
pf=$root/root/postfix
mkdir -p "$root/debs"
for pkg in postfix postfix-pcre; do
  case $pkg in
    postfix) have=$pf/usr/sbin/postfix ;;
    postfix-pcre) have=$pf/usr/lib/postfix/postfix-pcre.so ;;
  esac
  [ -e "$have" ] && continue
  ( cd "$root/debs"
    ls "${pkg}"_*.deb >/dev/null 2>&1 || apt-get download "$pkg" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null; apt-get download "$pkg" >/dev/null; }
    mkdir -p "$pf" && dpkg -x "${pkg}"_*.deb "$pf" )
done
for f in "$pf"/usr/sbin/* "$pf"/usr/lib/postfix/sbin/* "$pf"/usr/lib/postfix/*.so; do
  file "$f" | grep -q ELF || continue
  [ "$(patchelf --print-rpath "$f")" = "$pf/usr/lib/postfix" ] || patchelf --set-rpath "$pf/usr/lib/postfix" "$f"
done
echo "$pf"
