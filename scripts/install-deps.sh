#!/bin/sh
# Install the Debian 12 packages jcache needs to build, test and demo.
# Installs only what is missing; as root it uses apt-get, otherwise it names
# the packages and the command to run, and fails.
set -eu

PKGS="build-essential cmake pkg-config liblmdb-dev lmdb-utils libxxhash-dev
systemtap-sdt-dev libcmocka-dev libdw-dev libelf-dev gdb
libzydis-dev lua5.4 luajit python3
clang libbpf-dev bpftool bpftrace libncurses-dev tmux gnuplot-nox valgrind"

missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "jcache: missing Debian packages:$missing" >&2
  echo "jcache: run as root: apt-get install -y$missing" >&2
  exit 1
fi
echo "jcache: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
