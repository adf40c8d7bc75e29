#!/bin/sh
# Install the build into a temporary prefix and build two consumers against
# it: one with pkg-config, one with find_package(jcache).  Usage:
#   check.sh BUILD_DIR
set -eu
build=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cat > "$tmp/main.c" <<'C'
#include <jcache/jcache.h>
#include <stdio.h>
int main(void) {
  jc_stats s;
  jc_stats_get(&s);
  printf("%s|%llu\n", jc_strerror(JC_MISS), (unsigned long long)s.lookups);
  return 0;
}
C
# pkg-config, shared and static
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cc -o "$tmp/pc" "$tmp/main.c" $(pkg-config --cflags --libs jcache)
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/pc" | grep -q "^replay miss"
cc -o "$tmp/pcs" "$tmp/main.c" $(pkg-config --cflags jcache) \
  "$tmp/prefix/lib/libjcache.a" $(pkg-config --libs-only-l --static jcache | sed 's/-ljcache//')
"$tmp/pcs" | grep -q "^replay miss"
# find_package
mkdir -p "$tmp/cm"
cat > "$tmp/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(consumer C)
find_package(jcache 0.1 REQUIRED)
add_executable(consumer ../main.c)
target_link_libraries(consumer jcache::jcache)
CM
cmake -S "$tmp/cm" -B "$tmp/cm/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/cm/b" >/dev/null
LD_LIBRARY_PATH="$tmp/prefix/lib" "$tmp/cm/b/consumer" | grep -q "^replay miss"
# Only the API is exported.
if nm -D --defined-only "$tmp/prefix/lib/libjcache.so" | awk '{print $3}' | grep -v -e '^jc_' -e '^__jit_debug_register_code$' -e '^__jit_debug_descriptor$'; then
  echo "non-API symbols exported" >&2
  exit 1
fi
echo "install check: pkg-config (shared, static) and find_package consumers OK"
