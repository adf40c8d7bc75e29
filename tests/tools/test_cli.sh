#!/bin/sh
# tests/tools/test_cli.sh — every `jcache` subcommand on a real cache (made
# by the demo: a loop and its bridge), on copies made by export/import and
# mdb_load, and on a corrupted store.
#
#   sh test_cli.sh JCACHE JCACHE-DEMO JC_TOOL_HOLD
#
# Prints one line per check, then "N passed, N failed"; exits 1 on failure.
set -u
J=${1:?usage: test_cli.sh JCACHE JCACHE-DEMO JC_TOOL_HOLD}
DEMO=${2:?}
HOLD=${3:?}
umask 077
T=$(mktemp -d /tmp/jcache-cli-test.XXXXXX) || exit 1
HOLD_PID=
cleanup() {
  [ -n "$HOLD_PID" ] && kill "$HOLD_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT INT TERM
unset JCACHE_DIR
export JCACHE_SHM=on

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -f "$T/out" ] && sed 's/^/     | /' "$T/out" | head -40; }

# run NAME STATUS CMD...: run CMD (stdout+stderr in $T/out), expect STATUS.
run() {
  name=$1 want=$2
  shift 2
  "$@" >"$T/out" 2>&1
  got=$?
  if [ "$got" -eq "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, expected $want"; fi
}
# has NAME PATTERN: $T/out contains the (grep -E) pattern.
has() {
  if grep -Eq -- "$2" "$T/out"; then ok "$1"; else bad "$1: no /$2/ in output"; fi
}
hasnt() {
  if grep -Eq -- "$2" "$T/out"; then bad "$1: /$2/ in output"; else ok "$1"; fi
}

# -- A real cache ------------------------------------------------------------
C=$T/c
"$DEMO" "$C" >"$T/demo.out" 2>&1 || { echo "FAIL demo did not run"; cat "$T/demo.out"; exit 1; }

run "ls" 0 "$J" ls "$C"
has "ls lists the loop" ' loop .* jc_loop_toy_L1$'
has "ls lists the bridge" ' bridge [0-9a-f]{8}/0 .* jc_bridge_toy_L1_x0$'
has "ls summary" '^2 records \(1 loop, 1 bridge, 0 bad\) in 1 namespace'
LOOP=$(awk '$NF == "jc_loop_toy_L1" {print $3}' "$T/out")
BRIDGE=$(awk '$NF == "jc_bridge_toy_L1_x0" {print $3}' "$T/out")
NS=$(awk 'NR == 2 {print $1}' "$T/out")
[ ${#LOOP} -eq 16 ] && [ ${#BRIDGE} -eq 16 ] && ok "ls trace ids ($LOOP, $BRIDGE)" || bad "ls trace ids"
has "ls: usage table hits" ' jc_loop_toy_L1$'
run "ls -s size" 0 "$J" ls -s size "$C"
[ "$(awk 'NR == 2 {print $NF}' "$T/out")" = jc_loop_toy_L1 ] && ok "ls -s size: largest first" || bad "ls -s size order"
run "ls -s size -r" 0 "$J" ls -s size -r "$C"
[ "$(awk 'NR == 2 {print $NF}' "$T/out")" = jc_bridge_toy_L1_x0 ] && ok "ls -r reverses" || bad "ls -r order"
run "ls -s hits" 0 "$J" ls -s hits "$C"
run "ls -s age" 0 "$J" ls -s age "$C"
run "ls -n NS" 0 "$J" ls -n "$NS" "$C"
has "ls -n NS keeps them" '^2 records'
run "ls -n other" 0 "$J" ls -n 0123abcd0123 "$C"
has "ls -n other: none" '^0 records'
run "ls -n not-hex" 2 "$J" ls -n xyz "$C"
run "ls -s bogus" 2 "$J" ls -s bogus "$C"
run "ls -l" 0 "$J" ls -l "$C"
has "ls -l: full namespace" '^[0-9a-f]{32}  [0-9a-f]{32}  '
run "ls default dir" 0 env JCACHE_DIR="$C" "$J" ls
has "ls default dir: JCACHE_DIR" '^2 records'
run "ls missing dir" 2 "$J" ls "$T/nonexistent"

run "show loop by name" 0 "$J" show "$C" jc_loop_toy_L1
has "show: header" "^trace $LOOP  jc_loop_toy_L1"
has "show: tape" '^tape \(6 entries\)'
has "show: GREEN" 'GREEN  site 1  kind 1  fp 00000000000a11ce'
has "show: BIND" 'BIND   slot 0'
has "show: GUARD" 'GUARD  0'
has "show: symbol slot" 'slot 3 \(symbol toy_helper\)'
has "show: exits" 'guard 0: jump field at \+0x'
has "show: patch points" 'after guard 0: at \+0x0020'
has "show: line table" 'toy\.jc:2'
has "show: disassembly" 'push rbx'
has "show: reloc ABS64 marked" '^  \* .*mov rbx, .*; reloc ABS64 slot 0 \(bound\)'
has "show: reloc ABS32 marked" '; reloc ABS32 slot 1 \(bound\)'
has "show: reloc REL32 marked" 'call .*; reloc REL32 slot 3 \(symbol toy_helper\)'
has "show: exit marked" '; exit guard 0 \(rel32 at \+0x1b\)'
has "show: patch point marked" '; patch point after guard 0: tail \[0x20, 0x3d\)'
has "show: stub marked" 'tail-guard stub'
run "show bridge by id prefix" 0 "$J" show "$C" "$(echo "$BRIDGE" | cut -c1-8)"
has "show bridge: parent" "bridge from trace $LOOP, exit \(guard\) 0"
has "show bridge: arena slot" 'reloc REL32 slot 1 \(arena root\+0x0\)'
run "show --att" 0 "$J" show --att "$C" "$LOOP"
has "show --att: AT&T" 'push %rbx'
run "show --no-code -x" 0 "$J" show --no-code -x "$C" "$LOOP"
hasnt "show --no-code: no listing" 'push rbx'
has "show -x: hex dump" '^code bytes'
# An ambiguous id prefix: 9 more demo runs with other constants give 18 more
# records (ids are content hashes), so two share their first hex digit.
A=$T/amb
for i in 1 2 3 4 5 6 7 8 9; do JCACHE_DEMO_K=$((2000 + i)) "$DEMO" "$A" >/dev/null 2>&1; done
"$J" ls -l "$A" >"$T/amb.ls" 2>&1
P=$(awk '$3 ~ /^[0-9a-f]+$/ {print substr($3, 1, 1)}' "$T/amb.ls" | sort | uniq -d | head -1)
run "show ambiguous" 2 "$J" show "$A" "${P:-0}"
run "show unknown" 2 "$J" show "$C" jc_no_such_trace
run "show no trace" 2 "$J" show

run "stat" 0 "$J" stat "$C"
has "stat: records" '^records +2: 1 loop, 1 bridge, 0 bad'
has "stat: namespaces" '^namespaces +1'
has "stat: map size" 'of a 1\.0 GiB map'
has "stat: free pages" 'free for reuse'
has "stat: readers" '^readers +[0-9]+ active'
has "stat: usage" '^usage +2 entries'

# A live process: counters from /dev/shm/jcache.PID.
mkfifo "$T/fifo"
"$HOLD" "$C" <"$T/fifo" >"$T/hold.out" 2>&1 &
HOLD_PID=$!
exec 3>"$T/fifo"
i=0
while ! grep -q ready "$T/hold.out" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if [ -e "/dev/shm/jcache.$HOLD_PID" ]; then
  run "stat -p" 0 "$J" stat -p "$HOLD_PID"
  has "stat -p: process" "^process +$HOLD_PID \([^)]+\)"
  has "stat -p: live counters" '^  lookups +3 '
  has "stat -p: its cache" "^cache +$C"
  run "stat -p -a" 0 "$J" stat -p "$HOLD_PID" -a "$C"
  has "stat -p -a: zero counters too" '^  tails_invalidated +0 '
else
  bad "stat -p: no /dev/shm/jcache.$HOLD_PID ($(cat "$T/hold.out"))"
fi
exec 3>&-
wait "$HOLD_PID" 2>/dev/null
HOLD_PID=
run "stat -p not a pid" 2 "$J" stat -p abc
run "stat -p no segment" 2 "$J" stat -p 999999999

run "verify" 0 "$J" verify "$C"
has "verify: all good" '2 records in .*: 2 good, 0 bad'
run "verify missing dir" 2 "$J" verify "$T/nonexistent"
run "verify bad option" 2 "$J" verify --frobnicate "$C"
run "verify -v" 0 "$J" verify -v "$C"
has "verify -v: names them" "^ok .* $LOOP .* jc_loop_toy_L1"

# -- Export and import -------------------------------------------------------
listing() { "$J" ls "$1" | awk 'NR > 1 && !/ records? \(/ {print $1, $2, $3, $(NF-5), $NF} / records? \(/ {sub(/, [0-9]+ hits?$/, ""); print}'; }
run "export" 0 "$J" export "$C" "$T/warm.jcb"
has "export: count" '^exported 2 records'
run "import into a new dir" 0 "$J" import "$T/d" "$T/warm.jcb"
has "import: count" '^imported 2 records .*; 0 already present, 0 bad skipped'
listing "$C" >"$T/ls.c"
listing "$T/d" >"$T/ls.d"
if cmp -s "$T/ls.c" "$T/ls.d" && [ -s "$T/ls.c" ]; then ok "import: ls equal"; else
  bad "import: ls differs"; diff "$T/ls.c" "$T/ls.d" | sed 's/^/     | /'; fi
[ "$(stat -c %a "$T/d")" = 700 ] && ok "import: new dir is private" || bad "import: dir mode $(stat -c %a "$T/d")"
run "verify imported" 0 "$J" verify "$T/d"
run "import again" 0 "$J" import "$T/d" "$T/warm.jcb"
has "import again: already present" '^imported 0 records .*; 2 already present'
printf 'not a bundle, but long enough to look like one at first...' >"$T/junk"
run "import junk" 2 "$J" import "$T/e" "$T/junk"
[ ! -e "$T/e" ] && ok "import junk: no cache created" || bad "import junk created $T/e"
# Damage one byte of the second entry's record: that entry is skipped.
cp "$T/warm.jcb" "$T/damaged.jcb"
size=$(stat -c %s "$T/damaged.jcb")
printf '\377' | dd of="$T/damaged.jcb" bs=1 seek=$((size - 100)) conv=notrunc 2>/dev/null
run "import damaged" 1 "$J" import "$T/f" "$T/damaged.jcb"
has "import damaged: says so" 'file checksum mismatch'
has "import damaged: skips the entry" '^skipped entry 1 '
has "import damaged: imports the rest" '^imported 1 record '
run "verify after damaged import" 0 "$J" verify "$T/f"
# Cut short: the trailer is gone.
head -c $((size - 40)) "$T/warm.jcb" >"$T/cut.jcb"
run "import cut" 1 "$J" import "$T/g" "$T/cut.jcb"
has "import cut: says so" 'cut short'

# -- gc ------------------------------------------------------------------------
run "gc --dry-run" 0 "$J" gc --dry-run --max-size 700 "$T/d"
has "gc --dry-run: would evict" 'would evict 1 record \(340 B\)'
run "gc --dry-run changes nothing" 0 "$J" ls "$T/d"
has "gc --dry-run: still 2" '^2 records'
run "gc --max-size 700" 0 "$J" gc --max-size 700 "$T/d"
has "gc: evicts the bridge (LRU tie: bridge first)" "evicted LRU .* $BRIDGE .*jc_bridge_toy_L1_x0"
has "gc: summary" 'evicted 1 record \(340 B\); 1 record, 656 B remain'
run "gc: ls after" 0 "$J" ls "$T/d"
has "gc: 1 left" '^1 record \(1 loop, 0 bridges, 0 bad\)'
run "gc: verify after" 0 "$J" verify -v "$T/d"
run "gc --max-size 0" 0 "$J" gc --max-size 0 "$T/d"
run "gc: ls empty" 0 "$J" ls "$T/d"
has "gc: 0 left" '^0 records'
run "gc --max-size 1K suffix" 0 "$J" gc --max-size 1K "$C"
has "gc 1K: nothing to do" 'evicted 0 records'
run "gc bad size" 2 "$J" gc --max-size 12Q "$C"
run "gc missing dir" 2 "$J" gc --max-size 1M "$T/nonexistent"
[ ! -e "$T/nonexistent" ] && ok "gc missing dir: not created" || bad "gc created a dir"

# A side table's two entries in DIR: `stat` counts them under LABEL, a plain
# gc keeps them, gc FLAG --dry-run and gc FLAG report NOUN(s), and stat then
# counts none.
side_entries() { # DIR LABEL FLAG NOUN
  local dir=$1 label=$2 flag=$3 noun=$4
  run "stat $label" 0 "$J" stat "$dir"
  has "stat: counts the $label" "^$label +2 "
  run "gc keeps $label" 0 "$J" gc "$dir"
  hasnt "gc without $flag: none dropped" "$noun"
  run "gc $flag --dry-run" 0 "$J" gc "$flag" --dry-run "$dir"
  has "gc $flag --dry-run: would remove" "would remove 2 ${noun}s"
  run "gc $flag" 0 "$J" gc "$flag" "$dir"
  has "gc $flag: removed" "removed 2 ${noun}s"
  run "stat after gc $flag" 0 "$J" stat "$dir"
  has "stat: no $label left" "^$label +0 "
}

# Give-ups: counted by stat, dropped by gc --giveups only.
"$HOLD" --giveup "$C" loop-a "call depth too deep" && "$HOLD" --giveup "$C" loop-b "CLOSURE" \
  && ok "two give-ups saved" || bad "saving give-ups"
side_entries "$C" give-ups --giveups give-up

# Program lists: written by a run that names its program, counted by stat,
# dropped by gc --programs only (their records stay).
mkdir "$T/p"
"$HOLD" --program "$T/p" prog.jc loop-a && "$HOLD" --program "$T/p" other.jc loop-b \
  && ok "two programs' runs" || bad "running programs"
side_entries "$T/p" programs --programs "program list"
has "stat: the records stay" '^records +2: 2 loops'

# A store without the usage table (an older cache): made with mdb_load.
if command -v mdb_dump >/dev/null && command -v mdb_load >/dev/null; then
  mkdir "$T/old"
  mdb_dump -s traces "$C" | mdb_load -s traces "$T/old" 2>/dev/null && chmod 600 "$T/old"/*.mdb
  run "ls without usage table" 0 "$J" ls "$T/old"
  has "ls without usage: hits -" ' - +[0-9-]+ [0-9:]+  jc_loop_toy_L1$'
  run "stat without usage table" 0 "$J" stat "$T/old"
  has "stat: says no usage table" 'no usage table'
  run "gc without usage table" 0 "$J" gc --max-size 700 "$T/old"
  has "gc without usage: falls back to created" 'evicted 1 record'
else
  echo "skip usage-table-less store (no mdb_dump/mdb_load)"
fi

# -- Unsafe directories are refused, as by the library -------------------------
mkdir "$T/open" && cp "$C"/*.mdb "$T/open/" && chmod 777 "$T/open"
run "ls unsafe dir" 2 "$J" ls "$T/open"
has "ls unsafe: why" 'writable by group or others'
chmod 700 "$T/open"

# -- A corrupted store -----------------------------------------------------------
# Flip a byte inside every copy of the bridge's record in data.mdb (LMDB may
# keep an old copy of a page): find the record magic "JCCR" and check the
# trace id at offset 56 of the header.
corrupted=0
for off in $(grep -obUa JCCR "$C/data.mdb" | cut -d: -f1); do
  id=$(od -An -tx8 -j $((off + 56)) -N8 "$C/data.mdb" | tr -d ' ')
  if [ "$id" = "$BRIDGE" ]; then
    printf '\125' | dd of="$C/data.mdb" bs=1 seek=$((off + 200)) conv=notrunc 2>/dev/null
    corrupted=$((corrupted + 1))
  fi
done
[ $corrupted -gt 0 ] && ok "corrupted $corrupted copy(ies) of the bridge" || bad "bridge record not found in data.mdb"
run "verify corrupted" 1 "$J" verify "$C"
has "verify: names the bad record" "^BAD  [0-9a-f]{8} $BRIDGE .*checksum: "
has "verify: counts" '1 good, 1 bad'
run "verify -q corrupted" 1 "$J" verify -q "$C"
[ ! -s "$T/out" ] && ok "verify -q: silent" || bad "verify -q printed"
run "ls corrupted" 0 "$J" ls "$C"
has "ls: bad record shown" "$BRIDGE  BAD .*bad: checksum"
has "ls: summary counts it" '1 bad\)'
run "show corrupted" 1 "$J" show "$C" "$BRIDGE"
has "show: reports the rejection" 'rejected +checksum: '
run "show good one still" 0 "$J" show "$C" "$LOOP"
run "stat corrupted" 0 "$J" stat "$C"
has "stat: bad count" '1 bridge|0 bridges, 1 bad'
run "export corrupted" 1 "$J" export "$C" "$T/part.jcb"
has "export: skips the bad one" "skipped bad record .* $BRIDGE: checksum"
run "gc removes bad" 0 "$J" gc "$C"
has "gc: names it" "removed bad .* $BRIDGE .* checksum"
run "verify after gc" 0 "$J" verify "$C"
has "verify after gc: clean" '1 record in .*: 1 good, 0 bad'

# Corrupt the loop too and remove it with verify --delete-bad.
for off in $(grep -obUa JCCR "$C/data.mdb" | cut -d: -f1); do
  id=$(od -An -tx8 -j $((off + 56)) -N8 "$C/data.mdb" | tr -d ' ')
  [ "$id" = "$LOOP" ] && printf '\125' | dd of="$C/data.mdb" bs=1 seek=$((off + 300)) conv=notrunc 2>/dev/null
done
run "verify --delete-bad" 1 "$J" verify --delete-bad "$C"
has "verify --delete-bad: deletes" 'deleted 1 bad record'
run "verify after delete" 0 "$J" verify "$C"
has "verify after delete: empty" '0 records in'

# -- Help ---------------------------------------------------------------------------
run "--help" 0 "$J" --help
for cmd in ls show stat verify gc export import; do
  has "--help lists $cmd" "^  $cmd "
done
for cmd in ls show stat verify gc export import; do
  run "$cmd --help" 0 "$J" "$cmd" --help
  has "$cmd --help: usage" "^Usage: jcache $cmd "
  has "$cmd --help: examples" '^Examples:'
done
run "help CMD" 0 "$J" help gc
has "help gc" '^Usage: jcache gc '
run "no command" 2 "$J"
run "unknown command" 2 "$J" frobnicate
run "bad option" 2 "$J" ls --frobnicate
run "--version" 0 "$J" --version

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
