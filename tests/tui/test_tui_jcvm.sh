#!/bin/sh
# tests/tui/test_tui_jcvm.sh JCACHE_TOP JCVM SRC_DIR — jcache-top in tmux
# against a live jcvm: the VM's process row shows its counters (non-zero
# lookups; reloads on a warm run), in both sources (shared memory, and bpf
# when it can load).
set -u
top=$1 jcvm=$2 src=$3
command -v tmux >/dev/null || { echo "test_tui_jcvm.sh: tmux not installed: skipped"; exit 77; }
T=$(mktemp -d)
pass=0 fail=0
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
sess=jctop$$
cleanup() { tmux kill-session -t "$sess" 2>/dev/null; kill "$vm" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# Warm the cache, then keep a warm jcvm running while jcache-top watches it.
"$jcvm" --cache="$T/cache" "$src/bench/programs/nbody.jc" 2 >/dev/null 2>&1
for source in shm bpf; do
  if [ $source = bpf ] && [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: bpf source needs root"; continue
  fi
  "$jcvm" --cache="$T/cache" "$src/bench/programs/nbody.jc" 400 >/dev/null 2>&1 &
  vm=$!
  sleep 1
  tmux new-session -d -s "$sess" -x 100 -y 30 "$top --source=$source -d 5 -p $vm"
  sleep 4
  tmux capture-pane -t "$sess" -p >"$T/screen.$source"
  tmux kill-session -t "$sess" 2>/dev/null
  kill "$vm" 2>/dev/null; wait "$vm" 2>/dev/null
  row=$(grep -E "^ *$vm +jcvm" "$T/screen.$source" | head -1)
  if [ -n "$row" ]; then ok "$source: jcvm (pid $vm) listed: $(echo "$row" | tr -s ' ' | cut -c1-70)"
  else ko "$source: jcvm (pid $vm) not listed"; cat "$T/screen.$source"; continue; fi
  # PID COMMAND LKUP/s LOOKUPS HITS MISS RELOCS RELOAD ...: lookups and
  # reloaded traces of a warm run are not zero.
  set -- $row
  if [ "${4:-0}" != 0 ] && [ "${8:-0}" != 0 ]; then ok "$source: lookups $4, reloaded $8"
  else ko "$source: counters are zero: $row"; fi
  case $source in
  shm) grep -q "source: shared memory" "$T/screen.$source" && ok "shm: says its source" ||
         ko "shm: source line"; ;;
  bpf) grep -q "source: bpf" "$T/screen.$source" && ok "bpf: says its source" ||
         { grep "source:" "$T/screen.$source"; ko "bpf: source line"; } ;;
  esac
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
