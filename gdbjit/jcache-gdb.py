# gdbjit/jcache-gdb.py — gdb commands for programs that use libjcache.
#
#   info jcache            the live traces: id, name, address, size, loop or
#                          bridge, reloaded or compiled, whether gdb has its
#                          symbols, and the state of each tail guard
#   jcache trace N         one trace (N: the # from `info jcache`, a trace id
#                          in hex, or a name): exits, tail guards, relocations
#                          with their current field values, slots, tape, lines
#   jcache break NAME      break on a trace (or stub) by name, also before it
#                          exists, and on every later trace of that name.
#                          gdb 13 cannot find JIT symbols when it re-sets
#                          breakpoints after a JIT registration, so a plain
#                          `break NAME` on JIT code stays (or falls back to)
#                          pending; this command watches the registrations
#                          and sets `break *ADDRESS` as soon as NAME appears
#   jcache sync            describe every trace to gdb now (JCACHE_GDB=lazy
#                          registers only once it sees a debugger; after an
#                          attach to a process that compiles nothing more, this
#                          makes its traces known)
#
# Load it with `source gdbjit/jcache-gdb.py`, or let gdb auto-load it: install
# it as libjcache.so.0-gdb.py beside the library (or as PROGRAM-gdb.py for a
# static link), on gdb's auto-load safe-path.  See docs/DEBUGGING.md.
#
# The script needs no debug information for libjcache: the library exports
# jc_gdbjit_table (gdbjit/gdbjit.c), whose `layout` array gives the offset of
# every field read here.  It only reads memory, so it works on core files too
# (except `jcache sync`).  Keep LAYOUT in the order of the L_* enum.

import struct

import gdb

LAYOUT = [
    "node_next", "node_trace", "node_gdb", "node_seq",
    "t_id", "t_parent_id", "t_parent_exit", "t_reloaded", "t_code", "t_size",
    "t_entry_off", "t_name", "t_nslots", "t_slots", "t_slot_val", "t_slot_set",
    "t_nexits", "t_exits", "t_ntails", "t_tails", "t_ntape", "t_tape",
    "t_strings", "t_strings_len", "t_nlines", "t_lines", "t_root_id",
    "t_nrelocs", "t_relocs",
    "tail_size", "tail_pp", "tail_state",
    "line_size", "line_off", "line_line", "line_file",
]
ABSENT = 0xFFFFFFFF
MAX_LIST = 1000000  # a corrupt list must not loop forever

TAIL_STATES = ["none", "pending", "validated", "invalidated"]
RELOC_KINDS = {1: "ABS64", 2: "ABS32", 3: "REL32", 4: "CELL32"}
SLOT_TYPES = {1: "bound", 2: "symbol", 3: "arena"}
REFS = {0: "self", 1: "parent", 2: "root"}
TAPE_OPS = {1: "GREEN", 2: "BIND", 3: "GUARD"}


class JcacheError(gdb.GdbError):
    pass


def _mem(addr, n):
    return gdb.selected_inferior().read_memory(addr, n).tobytes()


def _u8(a):
    return _mem(a, 1)[0]


def _u32(a):
    return struct.unpack("<I", _mem(a, 4))[0]


def _u64(a):
    return struct.unpack("<Q", _mem(a, 8))[0]


def _cstr(a, limit=256):
    if not a:
        return ""
    out = b""
    while len(out) < limit:
        chunk = _mem(a + len(out), 16)
        z = chunk.find(b"\0")
        if z >= 0:
            out += chunk[:z]
            break
        out += chunk
    return out.decode("utf-8", "replace")


class Table:
    """jc_gdbjit_table of the selected inferior."""

    def __init__(self):
        try:
            self.addr = int(gdb.parse_and_eval("(unsigned long)&jc_gdbjit_table"))
        except gdb.error:
            raise JcacheError("no jc_gdbjit_table: is libjcache (with gdbjit) loaded?")
        if _mem(self.addr, 8) != b"JCGDBJT\0":
            raise JcacheError("jc_gdbjit_table has a bad magic")
        self.version = _u32(self.addr + 8)
        n = _u32(self.addr + 12)
        vals = struct.unpack("<%dI" % n, _mem(self.addr + 16, 4 * n))
        self.L = {name: (vals[i] if i < n else ABSENT) for i, name in enumerate(LAYOUT)}
        o = self.addr + 16 + 4 * n
        self.mode, self.want, self.active, self.group = struct.unpack("<4I", _mem(o, 16))
        o = (o + 16 + 7) & ~7
        self.want_addr = self.addr + 16 + 4 * n + 4
        self.head, self.count, self.objects, self.events, self.failures = struct.unpack(
            "<5Q", _mem(o, 40))

    def nodes(self):
        """Nodes oldest first, as (node address, trace address, has gdb object)."""
        out, x = [], self.head
        while x and len(out) < MAX_LIST:
            out.append((x, _u64(x + self.L["node_trace"]), _u64(x + self.L["node_gdb"]) != 0))
            x = _u64(x + self.L["node_next"])
        out.reverse()
        return out

    def field(self, t, name, size):
        off = self.L[name]
        if off == ABSENT:
            return None
        return {1: _u8, 4: _u32, 8: _u64}[size](t + off)


class Trace:
    def __init__(self, tab, addr, registered=False):
        f = lambda n, s: tab.field(addr, n, s)
        self.tab, self.addr, self.registered = tab, addr, registered
        self.id = f("t_id", 8)
        self.parent_id = f("t_parent_id", 8)
        self.parent_exit = f("t_parent_exit", 4)
        self.reloaded = bool(f("t_reloaded", 1))
        self.code = f("t_code", 8)
        self.size = f("t_size", 8)
        self.entry_off = f("t_entry_off", 4)
        self.name = _cstr(f("t_name", 8)) or ("jc_trace_%016x" % self.id)
        self.root_id = f("t_root_id", 8)

    def array(self, count, ptr, esize, fmt):
        n, p = self.tab.field(self.addr, count, 4), self.tab.field(self.addr, ptr, 8)
        if n is None or p is None:
            return None
        if not p or not n:
            return []
        raw = _mem(p, n * esize)
        return [struct.unpack_from(fmt, raw, i * esize) for i in range(n)]

    def exits(self):
        # (guard, field_off, stub_off, kind): struct jc_fmt_exit
        return self.array("t_nexits", "t_exits", 16, "<IIII") or []

    def tails(self):
        L = self.tab.L
        n, p = self.tab.field(self.addr, "t_ntails", 4), self.tab.field(self.addr, "t_tails", 8)
        out = []
        for i in range(n or 0):
            a = p + i * L["tail_size"]
            after, off, end, target = struct.unpack("<4I", _mem(a + L["tail_pp"], 16))
            st = _u32(a + L["tail_state"])
            out.append((after, off, end, target, TAIL_STATES[st] if st < 4 else str(st)))
        return out

    def tail_summary(self):
        t = self.tails()
        return " ".join("g%d:%s" % (x[0], x[4]) for x in t) if t else "-"

    def lines(self):
        L = self.tab.L
        n, p = self.tab.field(self.addr, "t_nlines", 4), self.tab.field(self.addr, "t_lines", 8)
        out = []
        for i in range(n or 0):
            a = p + i * L["line_size"]
            out.append((_u32(a + L["line_off"]), _u32(a + L["line_line"]),
                        _cstr(_u64(a + L["line_file"]))))
        return out

    def slots(self):
        s = self.array("t_nslots", "t_slots", 8, "<BBHI") or []
        vp = self.tab.field(self.addr, "t_slot_val", 8)
        sp = self.tab.field(self.addr, "t_slot_set", 8)
        out = []
        for i, (typ, ref, _pad, arg) in enumerate(s):
            is_set = bool(_u8(sp + i)) if sp else False
            val = _u64(vp + 8 * i) if vp and is_set else None
            out.append((typ, ref, arg, val))
        return out

    def string(self, off):
        p = self.tab.field(self.addr, "t_strings", 8)
        n = self.tab.field(self.addr, "t_strings_len", 4)
        if not p or n is None or off >= n:
            return None
        return _cstr(p + off)


def _kind(t):
    if t.parent_id:
        return "bridge %08x/x%d" % (t.parent_id & 0xFFFFFFFF, t.parent_exit)
    return "loop"


def _traces(tab):
    return [Trace(tab, ta, reg) for (_n, ta, reg) in tab.nodes()]


def _find(tab, arg):
    ts = _traces(tab)
    arg = arg.strip()
    if not arg:
        raise JcacheError("usage: jcache trace N|ID|NAME")
    if arg.isdigit() and int(arg) < len(ts):
        return ts[int(arg)]
    for t in ts:
        if t.name == arg:
            return t
    try:
        v = int(arg, 16)
        for t in ts:
            if t.id == v or (t.id & 0xFFFFFFFF) == v:
                return t
    except ValueError:
        pass
    raise JcacheError("no live trace %s (see `info jcache`)" % arg)


class InfoJcache(gdb.Command):
    """List the live traces of libjcache: info jcache"""

    def __init__(self):
        super().__init__("info jcache", gdb.COMMAND_STATUS)

    def invoke(self, arg, from_tty):
        tab = Table()
        mode = ["off", "lazy", "on"][tab.mode] if tab.mode < 3 else str(tab.mode)
        ts = _traces(tab)
        print("jcache: %d live traces; JCACHE_GDB=%s; %s; %d gdb objects (%d traces "
              "per object), %d gdb events%s" % (
                  len(ts), mode,
                  "symbols registered" if tab.active else "not registered with gdb yet",
                  tab.objects, tab.group, tab.events,
                  ", %d failures" % tab.failures if tab.failures else ""))
        if not ts:
            return
        print("%3s  %-16s  %-28s  %-18s  %6s  %-18s  %-8s  %-3s  %s" % (
            "#", "id", "name", "address", "size", "kind", "origin", "gdb", "tails"))
        for i, t in enumerate(ts):
            print("%3d  %016x  %-28s  0x%016x  %6d  %-18s  %-8s  %-3s  %s" % (
                i, t.id, t.name, t.code, t.size, _kind(t),
                "reloaded" if t.reloaded else "compiled",
                "yes" if t.registered else "no", t.tail_summary()))
        if not tab.active and tab.mode == 1:
            print("(JCACHE_GDB=lazy: `jcache sync` registers these traces with gdb now)")


class Jcache(gdb.Command):
    """jcache: commands for libjcache traces (jcache trace, jcache sync)."""

    def __init__(self):
        super().__init__("jcache", gdb.COMMAND_DATA, gdb.COMPLETE_NONE, True)


class JcacheTrace(gdb.Command):
    """Show one trace: jcache trace N|ID|NAME
N is the # column of `info jcache`; ID a trace id in hex (or its low 8 digits)."""

    def __init__(self):
        super().__init__("jcache trace", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        tab = Table()
        t = _find(tab, arg)
        print("trace %016x  %s" % (t.id, t.name))
        print("  code 0x%x .. 0x%x (%d bytes), entry 0x%x, %s, %s" % (
            t.code, t.code + t.size, t.size, t.code + t.entry_off,
            "reloaded from the cache" if t.reloaded else "compiled in this process",
            "gdb has its symbols" if t.registered else "not registered with gdb"))
        if t.parent_id:
            print("  bridge of %016x at exit %d (family root %016x)" % (
                t.parent_id, t.parent_exit, t.root_id or t.parent_id))
        ex = t.exits()
        if ex:
            print("  exits:")
            for guard, field, _stub, kind in ex:
                fa = t.code + field
                if kind == 1:  # JC_EXIT_SLOT: the code holds the slot's address
                    slot = struct.unpack("<Q", _mem(fa, 8))[0]
                    target = struct.unpack("<Q", _mem(slot, 8))[0]
                    how = "jumps through slot 0x%x" % slot
                else:
                    rel = struct.unpack("<i", _mem(fa, 4))[0]
                    target = fa + 4 + rel
                    how = "jump field 0x%x" % fa
                where = ("stub +0x%x" % (target - t.code)
                         if t.code <= target < t.code + t.size else "bridge or code at 0x%x" % target)
                print("    guard %-3d %s -> 0x%x (%s)" % (guard, how, target, where))
        tl = t.tails()
        if tl:
            print("  tail guards:")
            for after, off, end, target, st in tl:
                print("    after guard %d: patch point 0x%x, guarded [+0x%x, +0x%x), stub +0x%x: %s"
                      % (after, t.code + off, off, end, target, st))
        slots = t.slots()
        relocs = t.array("t_nrelocs", "t_relocs", 24, "<IIB7xq")
        if relocs is None:
            print("  relocations: not kept by this build of libjcache")
        elif relocs:
            print("  relocations:")
            for off, slot, kind, addend in relocs:
                width = 8 if kind == 1 else 4
                cur = _mem(t.code + off, width)
                curv = struct.unpack("<Q" if width == 8 else "<i", cur)[0]
                desc = ""
                if slot < len(slots):
                    typ, ref, sarg, val = slots[slot]
                    desc = SLOT_TYPES.get(typ, "?%d" % typ)
                    if typ == 2:
                        nm = t.string(sarg)
                        desc += " %s" % (nm if nm is not None else "(name not kept)")
                    elif typ == 3:
                        desc += " %s+0x%x" % (REFS.get(ref, "?"), sarg)
                    if val is not None:
                        desc += " = 0x%x" % val
                    elif t.reloaded:
                        desc += " (unbound: tail unchecked)"
                print("    +0x%-5x %-5s slot %-3d %-40s addend %-6d field now 0x%x" % (
                    off, RELOC_KINDS.get(kind, "?%d" % kind), slot, desc, addend, curv & (2**64 - 1)))
        tape = t.array("t_ntape", "t_tape", 16, "<BBHIQ")
        if tape is None:
            print("  tape: not kept by this build of libjcache")
        elif tape:
            print("  tape:")
            for i, (op, _pad, kind, a, fp) in enumerate(tape):
                o = TAPE_OPS.get(op, "?%d" % op)
                if op == 1:
                    print("    %3d  GREEN site %d kind %d fingerprint %016x" % (i, a, kind, fp))
                elif op == 2:
                    print("    %3d  BIND  slot %d" % (i, a))
                else:
                    print("    %3d  %-5s %d" % (i, o, a))
        else:
            print("  tape: (not kept for this trace)")
        ln = t.lines()
        if ln:
            print("  lines:")
            for off, line, f in ln:
                print("    +0x%-5x %s:%d" % (off, f, line))


class JcacheSync(gdb.Command):
    """Register every live trace with gdb now (calls jc_gdbjit_sync)."""

    def __init__(self):
        super().__init__("jcache sync", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        tab = Table()
        try:
            gdb.parse_and_eval("((void (*)(void))jc_gdbjit_sync)()")
        except gdb.error as e:
            # No live process to call into: ask the next registration instead.
            try:
                gdb.selected_inferior().write_memory(tab.want_addr, struct.pack("<I", 1))
            except gdb.error:
                pass
            raise JcacheError("cannot call jc_gdbjit_sync (%s)" % e)
        tab = Table()
        print("jcache: %d traces, %d gdb objects" % (tab.count, tab.objects))


_watch = []  # names given to `jcache break`
_done = set()  # addresses that already have one of our breakpoints
_hook = None


def _resolve_pending():
    """Set address breakpoints on every registered trace or stub named in
    `jcache break`.  gdb 13 re-sets breakpoints after each JIT registration
    but does not find JIT symbols then, so a breakpoint by name on JIT code
    falls back to pending at the next registration; one on an address
    (`break *ADDR`) does not."""
    for name in _watch:
        try:
            sals = gdb.decode_line(name)[1] or []
        except gdb.error:
            sals = []
        for sal in sals:
            if sal.pc in _done:
                continue
            _done.add(sal.pc)
            # A hardware breakpoint: the code arena is a shared read-only
            # mapping, which ptrace cannot write an int3 into.
            bp = gdb.Breakpoint("*0x%x" % sal.pc, type=gdb.BP_HARDWARE_BREAKPOINT)
            print("jcache: breakpoint %d at 0x%x (%s)" % (bp.number, sal.pc, name))


class JcacheBreak(gdb.Command):
    """Break on a trace or stub by name, now and whenever one of that name is
registered: jcache break NAME"""

    def __init__(self):
        super().__init__("jcache break", gdb.COMMAND_BREAKPOINTS)

    def invoke(self, arg, from_tty):
        global _hook
        name = arg.strip()
        if not name:
            raise JcacheError("usage: jcache break NAME")
        if name not in _watch:
            _watch.append(name)
        before = len(_done)
        _resolve_pending()
        if len(_done) == before:
            print("jcache: breakpoint on %s pending until a trace of that name is registered"
                  % name)
        if _hook is None or not _hook.is_valid():
            # gdb handles the JIT event before it runs a breakpoint's commands,
            # so at this point the new object's symbols are known.
            _hook = gdb.Breakpoint("__jit_debug_register_code", internal=True)
            _hook.silent = True
            _hook.commands = "python __import__('jcache_gdb_hooks').resolve()\ncontinue"


class _Hooks:
    resolve = staticmethod(_resolve_pending)


import sys as _sys  # noqa: E402
_sys.modules["jcache_gdb_hooks"] = _Hooks

InfoJcache()
Jcache()
JcacheBreak()
JcacheTrace()
JcacheSync()
