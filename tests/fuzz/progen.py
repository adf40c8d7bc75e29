#!/usr/bin/env python3
"""progen.py — random program generator for jcvm's language (docs/LANGUAGE.md).

    tests/fuzz/progen.py SEED [--error-rate P] [--budget N] > prog.jc

Writes one valid, terminating jc program to stdout, chosen by SEED (the same
seed always gives the same program).  The program prints deterministic output
and is meant for differential testing: run it with `jcvm --no-jit` and with
the JIT (tests/fuzz/run_progen.sh) and compare stdout and exit status.

What the programs exercise: while loops, numeric for loops with positive,
negative and non-unit (also float) steps, nested loops, break and continue;
int and float arithmetic (+ - * / // % unary -, int/float mixing, variables
whose type changes between int and float); comparisons, and/or/not, branches
inside loops (periodic ones and ones that change direction after many
iterations, so traces get side exits and bridges); arrays (literals, push,
pop, index, len); classes with fields, init, methods, inheritance, overrides
and super calls; method calls in loops on monomorphic and polymorphic
receivers; plain, recursive and closure function calls; globals read and
written from functions; strings built with .., str() and substr().

Every program has at least one hot loop (over 1000 iterations, jcvm's trace
threshold) and its cost is bounded (--budget, in rough statement
executions), so it runs well under a second in the interpreter.

Safety by construction: every int expression carries a bound on its absolute
value and stays below 2^52; values stored in variables, fields, array
elements and return values are wrapped (with %) to at most 10^6 (floats too);
divisors are built so they cannot be zero; array indices are reduced modulo
a length that is never zero; loop counts are constants or bounded lengths;
calls only go to earlier functions and lower-numbered methods (recursion
only in a depth-limited form).

With probability --error-rate the program ends with a section that raises
one runtime error on purpose (integer overflow, division or modulo by zero,
index out of range, a type error, a nil receiver, a missing method, int() of
nan), usually in a loop that has already run more than 1000 times.  The
first line of every program says which exit status the interpreter must
give:  # progen seed=S expect-exit=0|1
"""

import argparse
import random
import sys

B = 10 ** 6          # bound of every stored int (variables, fields, elements, returns)
FB = 1.0e6           # bound of every stored float
LIMIT = 2 ** 52      # bound of any int expression
FLIMIT = 1.0e15      # bound of any float expression
MAXLEN = 200         # arrays never grow beyond this (pushes are guarded)
STRLEN = 48          # string variables are cut to their last STRLEN bytes

INT, FLOAT, NUM, STR, BOOL, ARR, OBJ, OBJARR, CLO = (
    "int", "float", "num", "str", "bool", "arr", "obj", "objarr", "clo")


class Expr:
    __slots__ = ("code", "kind", "bound", "cost")

    def __init__(self, code, kind, bound=0, cost=0):
        self.code = code
        self.kind = kind
        self.bound = bound
        self.cost = cost


class Var:
    def __init__(self, name, kind, bound=None, ro=False, hid=None):
        self.name = name
        self.kind = kind
        self.bound = bound if bound is not None else (FB if kind == FLOAT else B)
        self.ro = ro          # loop variables and parameters of closures
        self.hid = hid        # hierarchy of an obj / objarr variable


class Method:
    def __init__(self, index, nparams, ret):
        self.name = "m%d" % index
        self.index = index
        self.nparams = nparams
        self.ret = ret        # INT or FLOAT
        self.cost = 1


class Cls:
    def __init__(self, name, parent, hid):
        self.name = name
        self.parent = parent
        self.hid = hid
        self.fields = []      # own fields: (name, kind)
        self.init_params = None   # own init arity, None = inherited
        self.bodies = {}      # method index -> list of lines (own definitions)
        self.mcost = {}       # method index -> cost of the own definition

    def all_fields(self):
        own = list(self.fields)
        return (self.parent.all_fields() if self.parent else []) + own

    def init_arity(self):
        c = self
        while c is not None:
            if c.init_params is not None:
                return c.init_params
            c = c.parent
        return 0

    def defines(self, index):
        c = self
        while c is not None:
            if index in c.bodies:
                return True
            c = c.parent
        return False


class Hierarchy:
    def __init__(self, hid):
        self.hid = hid
        self.classes = []
        self.methods = []


class Func:
    def __init__(self, name, params, ret, cost, uses_objects):
        self.name = name
        self.params = params  # list of kinds
        self.ret = ret
        self.cost = cost
        self.uses_objects = uses_objects


class Ctx:
    """Where code is being generated: visible variables and what may be used."""

    def __init__(self, where, funcs, hiers, cls=None, method=None):
        self.where = where          # "main", "fn", "method", "closure"
        self.scopes = [[]]
        self.loop_depth = 0         # loops in the current function body
        self.hot_level = -1         # loop_depth of a hot loop's body (no break there)
        self.loop_vars = []         # enclosing int loop variables (Var)
        self.mult = 1               # estimated executions of the current point
        self.funcs = funcs          # callable functions
        self.hiers = hiers          # usable hierarchies
        self.cls = cls              # class of the method being generated
        self.method = method        # its Method (self calls go to lower indices)

    def push(self):
        self.scopes.append([])

    def pop(self):
        self.scopes.pop()

    def add(self, v):
        self.scopes[-1].append(v)

    def visible(self, kind=None, writable=False, hid=None):
        out = []
        for s in self.scopes:
            for v in s:
                if kind is not None and v.kind != kind:
                    continue
                if writable and v.ro:
                    continue
                if hid is not None and v.hid != hid:
                    continue
                out.append(v)
        return out


def flit(r):
    """A float literal."""
    x = r.choice([0.5, 0.25, 1.5, 2.0, 3.0, 0.125, 0.1, 0.3, 1e-3, 7.75, 10.0,
                  r.randint(1, 999) / 8.0, round(r.uniform(-100, 100), 3)])
    s = repr(float(x))
    if "e" in s or "inf" in s or "nan" in s:
        s = "0.001"
    return s if not s.startswith("-") else "(" + s + ")"


class Gen:
    def __init__(self, seed, budget, error_rate):
        self.r = random.Random(seed)
        self.seed = seed
        self.budget = budget
        self.error_rate = error_rate
        self.counter = 0
        self.globals = []
        self.funcs = []
        self.hiers = []

    def fresh(self, prefix):
        self.counter += 1
        return "%s%d" % (prefix, self.counter)

    # -- wrapping -----------------------------------------------------------

    def wrap_int(self, e):
        if e.bound <= B:
            return e.code
        m = self.r.choice([999983, 1000003, 65537, 7919])
        if self.r.random() < 0.5:
            return "(%s) %% %d" % (e.code, m)
        return "(%s) %% %d - %d" % (e.code, m, m // 2)

    def wrap_float(self, e):
        if e.kind == INT or e.kind == NUM:
            # keep a float variable a float
            code = "float(%s)" % self.wrap_int(e) if e.kind == INT else "(%s) * 1.0" % e.code
            b = min(e.bound, B) if e.kind == INT else e.bound
            if b <= FB:
                return code
            return "(%s) %% 1000.5" % code
        if e.bound <= FB:
            return e.code
        return "(%s) %% %s" % (e.code, self.r.choice(["1000.5", "77.25", "65536.0"]))

    def wrap_num(self, e):
        if e.kind == INT:
            return self.wrap_int(e)
        if e.bound <= FB:
            return e.code
        return "(%s) %% 4096.5" % e.code

    def wrap_str(self, code):
        t = self.fresh("t")
        return t, ["var %s = %s" % (t, code)], "substr(%s, len(%s) - %d, len(%s))" % (t, t, STRLEN, t)

    # -- expressions ----------------------------------------------------------

    def int_leaf(self, ctx):
        r = self.r
        opts = []
        vs = ctx.visible(INT)
        if vs:
            opts += ["var"] * 6
        if ctx.cls is not None and any(k == INT for _, k in ctx.cls.all_fields()):
            opts += ["self"] * 3
        if ctx.visible(OBJ):
            opts += ["field"]
        if ctx.visible(ARR):
            opts += ["len"]
        opts += ["lit"] * 3
        c = r.choice(opts)
        if c == "var":
            v = r.choice(vs)
            return Expr(v.name, INT, v.bound)
        if c == "self":
            f = r.choice([n for n, k in ctx.cls.all_fields() if k == INT])
            return Expr("self." + f, INT, B)
        if c == "field":
            v = r.choice(ctx.visible(OBJ))
            fs = [n for n, k in self.hiers[v.hid].classes[0].all_fields() if k == INT]
            if fs:
                return Expr("%s.%s" % (v.name, r.choice(fs)), INT, B)
        if c == "len":
            return Expr("len(%s)" % r.choice(ctx.visible(ARR)).name, INT, MAXLEN)
        n = r.choice([r.randint(0, 9), r.randint(-20, 100), r.randint(100, 100000)])
        if r.random() < 0.05 and n >= 0:
            return Expr(hex(n), INT, n)
        return Expr(str(n) if n >= 0 else "(%d)" % n, INT, abs(n))

    def nonzero_int(self, ctx, depth, eb):
        r = self.r
        c = r.randint(0, 3)
        if c == 0:
            n = r.choice([1, 2, 3, 5, 7, 10, 16, 100, 1000, -3, -7])
            return Expr(str(n) if n > 0 else "(%d)" % n, INT, abs(n))
        e = self.int_expr(ctx, depth - 1, eb)
        k = r.choice([2, 3, 5, 7, 11, 13])
        if c == 1:
            return Expr("(%s %% %d + 1)" % (e.code, k), INT, k, e.cost)
        if c == 2:
            return Expr("(-(%s %% %d) - 1)" % (e.code, k), INT, k, e.cost)
        return Expr("(%s %% %d + %d)" % (e.code, k, k), INT, 2 * k, e.cost)

    def int_expr(self, ctx, depth=2, eb=0):
        r = self.r
        if depth <= 0 or r.random() < 0.25:
            return self.int_leaf(ctx)
        c = r.choices(["bin", "mul", "div", "mod", "neg", "arr", "conv", "call",
                       "mcall", "tern", "clo", "strlen", "bool01"],
                      [8, 3, 2, 3, 1, 3, 2, 2, 3, 1, 1, 1, 1])[0]
        if c == "bin":
            a = self.int_expr(ctx, depth - 1, eb)
            b = self.int_expr(ctx, depth - 1, eb - a.cost)
            if a.bound + b.bound <= LIMIT:
                op = r.choice("+-")
                return Expr("(%s %s %s)" % (a.code, op, b.code), INT, a.bound + b.bound, a.cost + b.cost)
        elif c == "mul":
            a = self.int_expr(ctx, depth - 1, eb)
            b = self.int_expr(ctx, depth - 1, eb - a.cost)
            if a.bound * b.bound <= LIMIT:
                return Expr("(%s * %s)" % (a.code, b.code), INT, a.bound * b.bound, a.cost + b.cost)
            if a.bound * 100 <= LIMIT:
                return Expr("(%s * (%s %% 100))" % (a.code, b.code), INT, a.bound * 100, a.cost + b.cost)
        elif c == "div":
            a = self.int_expr(ctx, depth - 1, eb)
            d = self.nonzero_int(ctx, depth, eb - a.cost)
            return Expr("(%s // %s)" % (a.code, d.code), INT, a.bound, a.cost + d.cost)
        elif c == "mod":
            a = self.int_expr(ctx, depth - 1, eb)
            d = self.nonzero_int(ctx, depth, eb - a.cost)
            return Expr("(%s %% %s)" % (a.code, d.code), INT, d.bound, a.cost + d.cost)
        elif c == "neg":
            a = self.int_expr(ctx, depth - 1, eb)
            return Expr("(-%s)" % a.code, INT, a.bound, a.cost)
        elif c == "arr" and ctx.visible(ARR):
            a = r.choice(ctx.visible(ARR)).name
            i = self.int_expr(ctx, depth - 1, eb)
            return Expr("%s[%s %% len(%s)]" % (a, i.code, a), INT, B, i.cost)
        elif c == "conv":
            f = self.float_expr(ctx, depth - 1, eb)
            if f.bound < LIMIT:
                fn = r.choice(["int", "floor"])
                return Expr("%s(%s)" % (fn, f.code), INT, int(f.bound) + 1, f.cost)
        elif c == "call":
            e = self.call_expr(ctx, depth, eb, INT)
            if e:
                return e
        elif c == "mcall":
            e = self.mcall_expr(ctx, depth, eb, INT)
            if e:
                return e
        elif c == "tern":
            cond = self.cond(ctx, depth - 1, eb)
            a = self.int_expr(ctx, depth - 1, eb)
            b = self.int_expr(ctx, depth - 1, eb)
            return Expr("((%s) and %s or %s)" % (cond.code, a.code, b.code), INT,
                        max(a.bound, b.bound), cond.cost + a.cost + b.cost)
        elif c == "clo" and ctx.visible(CLO):
            f = r.choice(ctx.visible(CLO))
            a = self.int_expr(ctx, depth - 1, eb)
            if a.bound <= LIMIT:
                return Expr("%s(%s)" % (f.name, a.code), INT, B, a.cost + 2)
        elif c == "strlen" and ctx.visible(STR):
            return Expr("len(%s)" % r.choice(ctx.visible(STR)).name, INT, 4 * STRLEN)
        elif c == "bool01":
            cond = self.cond(ctx, depth - 1, eb)
            return Expr("((%s) and 1 or 0)" % cond.code, INT, 1, cond.cost)
        return self.int_leaf(ctx)

    def float_leaf(self, ctx):
        r = self.r
        opts = ["lit"] * 2
        vs = ctx.visible(FLOAT)
        if vs:
            opts += ["var"] * 5
        if ctx.cls is not None and any(k == FLOAT for _, k in ctx.cls.all_fields()):
            opts += ["self"] * 2
        c = r.choice(opts)
        if c == "var":
            v = r.choice(vs)
            return Expr(v.name, FLOAT, v.bound)
        if c == "self":
            f = r.choice([n for n, k in ctx.cls.all_fields() if k == FLOAT])
            return Expr("self." + f, FLOAT, FB)
        s = flit(r)
        return Expr(s, FLOAT, abs(float(s.strip("()"))))

    def float_expr(self, ctx, depth=2, eb=0):
        r = self.r
        if depth <= 0 or r.random() < 0.25:
            return self.float_leaf(ctx)
        c = r.choices(["bin", "mix", "mul", "div", "idiv", "fdiv", "fmod", "neg",
                       "sqrt", "conv", "num", "call", "mcall"],
                      [6, 4, 3, 2, 2, 1, 1, 1, 1, 2, 2, 1, 2])[0]
        if c == "bin":
            a = self.float_expr(ctx, depth - 1, eb)
            b = self.float_expr(ctx, depth - 1, eb)
            return Expr("(%s %s %s)" % (a.code, r.choice("+-"), b.code), FLOAT,
                        a.bound + b.bound, a.cost + b.cost)
        if c == "mix":
            a = self.float_expr(ctx, depth - 1, eb)
            b = self.int_expr(ctx, depth - 1, eb)
            if b.bound <= FLIMIT:
                op = r.choice("+-")
                if r.random() < 0.5:
                    return Expr("(%s %s %s)" % (a.code, op, b.code), FLOAT, a.bound + b.bound, a.cost + b.cost)
                return Expr("(%s %s %s)" % (b.code, op, a.code), FLOAT, a.bound + b.bound, a.cost + b.cost)
        if c == "mul":
            a = self.float_expr(ctx, depth - 1, eb)
            b = self.float_expr(ctx, depth - 1, eb)
            if a.bound * b.bound <= FLIMIT:
                return Expr("(%s * %s)" % (a.code, b.code), FLOAT, a.bound * b.bound, a.cost + b.cost)
        if c == "div":
            a = self.float_expr(ctx, depth - 1, eb)
            b = self.float_expr(ctx, depth - 1, eb)
            if b.bound * b.bound <= FLIMIT:
                return Expr("(%s / (%s * %s + 1.0))" % (a.code, b.code, b.code), FLOAT, a.bound, a.cost + b.cost)
        if c == "idiv":
            a = self.int_expr(ctx, depth - 1, eb)
            d = self.nonzero_int(ctx, depth, eb)
            if a.bound <= FLIMIT:
                return Expr("(%s / %s)" % (a.code, d.code), FLOAT, a.bound, a.cost + d.cost)
        if c == "fdiv":
            a = self.float_expr(ctx, depth - 1, eb)
            d = r.choice(["2.5", "0.5", "3.0", "(-1.5)", "7.0"])
            return Expr("(%s // %s)" % (a.code, d), FLOAT, a.bound * 2 + 1, a.cost)
        if c == "fmod":
            a = self.float_expr(ctx, depth - 1, eb)
            d = r.choice(["2.5", "0.75", "3.0", "(-1.5)", "10.0"])
            return Expr("(%s %% %s)" % (a.code, d), FLOAT, 10.0, a.cost)
        if c == "neg":
            a = self.float_expr(ctx, depth - 1, eb)
            return Expr("(-%s)" % a.code, FLOAT, a.bound, a.cost)
        if c == "sqrt":
            a = self.float_expr(ctx, depth - 1, eb)
            if a.bound * a.bound <= FLIMIT:
                return Expr("sqrt(%s * %s + 0.5)" % (a.code, a.code), FLOAT, a.bound + 1, a.cost)
        if c == "conv":
            a = self.int_expr(ctx, depth - 1, eb)
            if a.bound <= FLIMIT:
                return Expr("float(%s)" % a.code, FLOAT, a.bound, a.cost)
        if c == "num" and ctx.visible(NUM):
            v = r.choice(ctx.visible(NUM))
            return Expr("(%s * 0.5)" % v.name, FLOAT, v.bound, 0)
        if c == "call":
            e = self.call_expr(ctx, depth, eb, FLOAT)
            if e:
                return e
        if c == "mcall":
            e = self.mcall_expr(ctx, depth, eb, FLOAT)
            if e:
                return e
        return self.float_leaf(ctx)

    def num_expr(self, ctx, depth=2, eb=0):
        r = self.r
        vs = ctx.visible(NUM)
        c = r.randint(0, 4)
        if c == 0 or not vs:
            return self.int_expr(ctx, depth, eb) if r.random() < 0.5 else self.float_expr(ctx, depth, eb)
        v = r.choice(vs)
        if c == 1:
            return Expr(v.name, NUM, v.bound)
        e = self.int_expr(ctx, depth - 1, eb) if r.random() < 0.6 else self.float_expr(ctx, depth - 1, eb)
        if c == 2 and e.bound + v.bound <= FLIMIT:
            return Expr("(%s %s %s)" % (v.name, r.choice("+-"), e.code), NUM, v.bound + e.bound, e.cost)
        if c == 3 and e.bound * v.bound <= min(FLIMIT, LIMIT):
            return Expr("(%s * %s)" % (v.name, e.code), NUM, v.bound * e.bound, e.cost)
        return Expr(v.name, NUM, v.bound)

    def str_expr(self, ctx, depth=2, eb=0):
        r = self.r
        vs = ctx.visible(STR)
        c = r.randint(0, 7)
        if depth <= 0 or c == 0:
            if vs and r.random() < 0.6:
                return Expr(r.choice(vs).name, STR, STRLEN)
            s = r.choice(["a", "bc", "xyz", "", "Q", "-", "k=", " ", "\\t", "\\x41"])
            return Expr('"%s"' % s, STR, 3)
        if c in (1, 2):
            e = self.int_expr(ctx, depth - 1, eb)
            return Expr("str(%s)" % e.code, STR, 21, e.cost)
        if c == 3:
            e = self.float_expr(ctx, depth - 1, eb)
            return Expr("str(%s)" % e.code, STR, 24, e.cost)
        if c == 4:
            a = self.str_expr(ctx, depth - 1, eb)
            b = self.str_expr(ctx, depth - 1, eb)
            return Expr("(%s .. %s)" % (a.code, b.code), STR, a.bound + b.bound, a.cost + b.cost)
        if c == 5:
            a = self.str_expr(ctx, depth - 1, eb)
            n = self.num_expr(ctx, depth - 1, eb)
            return Expr("(%s .. %s)" % (a.code, n.code), STR, a.bound + 24, a.cost + n.cost)
        if c == 6 and vs:
            s = r.choice(vs).name
            i = self.int_expr(ctx, depth - 1, eb)
            return Expr("substr(%s, %s %% 8, %s %% 8 + 5)" % (s, i.code, i.code), STR, 5, 2 * i.cost)
        if c == 7:
            e = self.int_expr(ctx, depth - 1, eb)
            return Expr("chr(%s %% 26 + 97)" % e.code, STR, 1, e.cost)
        return Expr('"s"', STR, 1)

    def cond(self, ctx, depth=2, eb=0):
        r = self.r
        c = r.choices(["icmp", "fcmp", "mix", "period", "phase", "scmp", "not",
                       "andor", "bool", "type", "ident", "eq"],
                      [6, 3, 3, 4, 3, 1, 1, 2, 1, 1, 1, 2])[0]
        ops = ["<", "<=", ">", ">=", "==", "!="]
        if c == "period" and ctx.loop_vars:
            v = r.choice(ctx.loop_vars)
            k = r.choice([2, 3, 4, 5, 7, 16, 100])
            return Expr("%s %% %d %s %d" % (v.name, k, r.choice(["==", "!=", "<", ">="]), r.randint(0, k - 1)), BOOL)
        if c == "phase" and ctx.loop_vars:
            v = r.choice(ctx.loop_vars)
            t = r.randint(0, max(1, int(v.bound)))
            return Expr("%s %s %d" % (v.name, r.choice([">", "<", ">=", "<="]), t), BOOL)
        if depth <= 0:
            c = "icmp"
        if c == "fcmp":
            a = self.float_expr(ctx, depth - 1, eb)
            b = self.float_expr(ctx, depth - 1, eb)
            return Expr("%s %s %s" % (a.code, r.choice(ops), b.code), BOOL, 0, a.cost + b.cost)
        if c == "mix":
            a = self.int_expr(ctx, depth - 1, eb)
            b = self.num_expr(ctx, depth - 1, eb)
            return Expr("%s %s %s" % (a.code, r.choice(ops), b.code), BOOL, 0, a.cost + b.cost)
        if c == "scmp":
            a = self.str_expr(ctx, depth - 1, eb)
            b = self.str_expr(ctx, depth - 1, eb)
            return Expr("%s %s %s" % (a.code, r.choice(ops), b.code), BOOL, 0, a.cost + b.cost)
        if c == "not":
            a = self.cond(ctx, depth - 1, eb)
            return Expr("not (%s)" % a.code, BOOL, 0, a.cost)
        if c == "andor":
            a = self.cond(ctx, depth - 1, eb)
            b = self.cond(ctx, depth - 1, eb)
            return Expr("(%s) %s (%s)" % (a.code, r.choice(["and", "or"]), b.code), BOOL, 0, a.cost + b.cost)
        if c == "bool" and ctx.visible(BOOL):
            return Expr(r.choice(ctx.visible(BOOL)).name, BOOL)
        if c == "type" and ctx.visible(NUM):
            return Expr('type(%s) == "%s"' % (r.choice(ctx.visible(NUM)).name, r.choice(["int", "float"])), BOOL)
        if c == "ident" and len(ctx.visible(OBJ)) >= 2 and r.random() < 0.3:
            a, b = r.sample(ctx.visible(OBJ), 2)
            return Expr("%s %s %s" % (a.name, r.choice(["==", "!="]), b.name), BOOL)
        if c == "eq":
            a = self.num_expr(ctx, depth - 1, eb)
            b = self.num_expr(ctx, depth - 1, eb)
            return Expr("%s %s %s" % (a.code, r.choice(["==", "!="]), b.code), BOOL, 0, a.cost + b.cost)
        a = self.int_expr(ctx, depth - 1, eb)
        b = self.int_expr(ctx, depth - 1, eb)
        return Expr("%s %s %s" % (a.code, r.choice(ops), b.code), BOOL, 0, a.cost + b.cost)

    def args_for(self, ctx, kinds, depth, eb):
        codes, cost = [], 0
        for k in kinds:
            e = self.int_expr(ctx, depth - 1, eb) if k == INT else self.float_expr(ctx, depth - 1, eb)
            codes.append(self.wrap_int(e) if k == INT else self.wrap_float(e))
            cost += e.cost
        return ", ".join(codes), cost

    def call_expr(self, ctx, depth, eb, ret):
        fs = [f for f in ctx.funcs if f.ret == ret and f.cost <= eb]
        if not fs:
            return None
        f = self.r.choice(fs)
        a, c = self.args_for(ctx, f.params, depth, eb - f.cost)
        return Expr("%s(%s)" % (f.name, a), ret, B if ret == INT else FB, c + f.cost + 1)

    def mcall_expr(self, ctx, depth, eb, ret):
        r = self.r
        cands = []
        if ctx.cls is not None:
            h = self.hiers[ctx.cls.hid]
            for m in h.methods[:ctx.method.index]:
                if m.ret == ret and m.cost <= eb:
                    cands.append(("self", m))
        for v in ctx.visible(OBJ) + ctx.visible(OBJARR):
            if v.hid < len(self.hiers) and v.hid in ctx.hiers:
                for m in self.hiers[v.hid].methods:
                    if m.ret == ret and m.cost <= eb:
                        cands.append((v, m))
        if not cands:
            return None
        recv, m = r.choice(cands)
        a, c = self.args_for(ctx, [INT] * m.nparams, depth, eb - m.cost)
        if recv == "self":
            rc = "self"
        elif recv.kind == OBJ:
            rc = recv.name
        else:
            i = self.int_expr(ctx, depth - 1, eb)
            rc = "%s[%s %% len(%s)]" % (recv.name, i.code, recv.name)
            c += i.cost
        return Expr("%s.%s(%s)" % (rc, m.name, a), ret, B if ret == INT else FB, c + m.cost + 1)

    # -- statements -------------------------------------------------------------

    def block(self, ctx, budget, nstmts, ind):
        """Up to nstmts statements costing at most budget; (lines, cost)."""
        lines, cost = [], 0
        for _ in range(nstmts):
            left = budget - cost
            if left < 1:
                break
            mark = len(ctx.scopes[-1])
            got = self.stmt(ctx, left, ind)
            if got is None or cost + got[1] > budget:
                del ctx.scopes[-1][mark:]    # forget what a dropped statement declared
                continue
            ls, c = got
            lines += ls
            cost += c
        return lines, cost

    def stmt(self, ctx, left, ind):
        r = self.r
        kinds = ["decl", "assign", "assign", "compound", "fassign", "numassign",
                 "sassign", "if", "for", "while", "arrset", "push", "pop",
                 "field", "callstmt", "print", "brk", "newobj", "closure", "bool"]
        weights = [3, 6, 0, 4, 4, 3, 2, 5, 3, 1, 2, 2, 1, 3, 4, 2, 2, 1, 1, 1]
        if ctx.loop_depth > 0:
            # an object that lives for one iteration: what allocation sinking
            # removes (and rebuilds at the exits that need it)
            kinds = kinds + ["tmpobj"]
            weights = weights + [8 if ctx.loop_depth == ctx.hot_level else 2]
        k = r.choices(kinds, weights)[0]
        pad = "  " * ind
        eb = max(0, min(left - 1, 200))
        if k == "decl":
            kind = r.choice([INT, INT, FLOAT, NUM, STR, ARR])
            name = self.fresh("v")
            if kind == INT:
                e = self.int_expr(ctx, 2, eb)
                code = self.wrap_int(e)
            elif kind == FLOAT:
                e = self.float_expr(ctx, 2, eb)
                code = self.wrap_float(e)
            elif kind == NUM:
                e = self.num_expr(ctx, 2, eb)
                code = self.wrap_num(e)
            elif kind == STR:
                e = self.str_expr(ctx, 2, eb)
                if e.bound > STRLEN:
                    t, pre, code = self.wrap_str(e.code)
                    ctx.add(Var(name, STR))
                    return [pad + p for p in pre] + [pad + "var %s = %s" % (name, code)], e.cost + 2
                code = e.code
            else:
                n = r.randint(1, 6)
                items = [self.wrap_int(self.int_expr(ctx, 1, 0)) for _ in range(n)]
                e = Expr("", ARR)
                code = "[%s]" % ", ".join(items)
            ctx.add(Var(name, kind))
            return [pad + "var %s = %s" % (name, code)], e.cost + 1
        if k in ("assign", "compound"):
            vs = ctx.visible(INT, writable=True)
            if not vs:
                return None
            v = r.choice(vs)
            e = self.int_expr(ctx, 2, eb)
            if k == "compound":
                op = r.choice(["+", "-", "*", "%", "//"])
                if op in "%//":
                    d = self.nonzero_int(ctx, 2, eb)
                    e = Expr("%s %s %s" % (v.name, op, d.code), INT, B, d.cost)
                elif op == "*":
                    e = Expr("%s * (%s %% 1000)" % (v.name, e.code), INT, B * 1000, e.cost)
                else:
                    e = Expr("%s %s %s" % (v.name, op, e.code), INT, B + e.bound, e.cost)
            return [pad + "%s = %s" % (v.name, self.wrap_int(e))], e.cost + 1
        if k == "fassign":
            vs = ctx.visible(FLOAT, writable=True)
            if not vs:
                return None
            v = r.choice(vs)
            e = self.float_expr(ctx, 2, eb)
            if r.random() < 0.5:
                e = Expr("%s %s %s" % (v.name, r.choice("+-"), e.code), FLOAT, FB + e.bound, e.cost)
            return [pad + "%s = %s" % (v.name, self.wrap_float(e))], e.cost + 1
        if k == "numassign":
            vs = ctx.visible(NUM, writable=True)
            if not vs:
                return None
            v = r.choice(vs)
            e = self.num_expr(ctx, 2, eb)
            return [pad + "%s = %s" % (v.name, self.wrap_num(e))], e.cost + 1
        if k == "sassign":
            vs = ctx.visible(STR, writable=True)
            if not vs:
                return None
            v = r.choice(vs)
            e = self.str_expr(ctx, 2, eb)
            t, pre, code = self.wrap_str("%s .. %s" % (v.name, e.code))
            return [pad + p for p in pre] + [pad + "%s = %s" % (v.name, code)], e.cost + 2
        if k == "bool":
            name = self.fresh("b")
            c = self.cond(ctx, 2, eb)
            ctx.add(Var(name, BOOL))
            return [pad + "var %s = %s" % (name, c.code)], c.cost + 1
        if k == "if":
            return self.if_stmt(ctx, left, ind)
        if k == "for":
            return self.for_stmt(ctx, left, ind)
        if k == "while":
            return self.while_stmt(ctx, left, ind)
        if k == "arrset":
            vs = ctx.visible(ARR)
            if not vs:
                return None
            a = r.choice(vs).name
            i = self.int_expr(ctx, 2, eb)
            e = self.int_expr(ctx, 2, eb)
            if e.cost > 0:
                # a[i] = v evaluates a, then i (and len(a)), then v: a call in
                # v could pop a and leave i out of range, so compute v first
                t = self.fresh("t")
                return [pad + "var %s = %s" % (t, self.wrap_int(e)),
                        pad + "%s[%s %% len(%s)] = %s" % (a, i.code, a, t)], i.cost + e.cost + 2
            return [pad + "%s[%s %% len(%s)] = %s" % (a, i.code, a, self.wrap_int(e))], i.cost + e.cost + 1
        if k == "push":
            vs = ctx.visible(ARR)
            if not vs:
                return None
            a = r.choice(vs).name
            e = self.int_expr(ctx, 2, eb)
            return [pad + "if len(%s) < %d then push(%s, %s) end" % (a, MAXLEN, a, self.wrap_int(e))], e.cost + 1
        if k == "pop":
            vs = ctx.visible(ARR)
            if not vs:
                return None
            a = r.choice(vs).name
            ws = ctx.visible(INT, writable=True)
            if ws and r.random() < 0.5:
                return [pad + "if len(%s) > 1 then %s = pop(%s) end" % (a, r.choice(ws).name, a)], 2
            return [pad + "if len(%s) > 1 then pop(%s) end" % (a, a)], 2
        if k == "field":
            if ctx.cls is not None and r.random() < 0.7:
                fs = ctx.cls.all_fields()
                recv = "self"
            else:
                vs = ctx.visible(OBJ)
                if not vs:
                    return None
                v = r.choice(vs)
                fs = self.hiers[v.hid].classes[0].all_fields()
                recv = v.name
            if not fs:
                return None
            f, fk = r.choice(fs)
            if fk == INT:
                e = self.int_expr(ctx, 2, eb)
                if r.random() < 0.5:
                    e = Expr("%s.%s + %s" % (recv, f, e.code), INT, B + e.bound, e.cost)
                code = self.wrap_int(e)
            else:
                e = self.float_expr(ctx, 2, eb)
                if r.random() < 0.5:
                    e = Expr("%s.%s * 0.5 + %s" % (recv, f, e.code), FLOAT, FB + e.bound, e.cost)
                code = self.wrap_float(e)
            return [pad + "%s.%s = %s" % (recv, f, code)], e.cost + 1
        if k == "callstmt":
            e = self.mcall_expr(ctx, 2, eb, r.choice([INT, FLOAT])) if r.random() < 0.6 \
                else self.call_expr(ctx, 2, eb, r.choice([INT, FLOAT]))
            if e is None:
                return None
            ws = ctx.visible(INT if e.kind == INT else FLOAT, writable=True)
            if ws and r.random() < 0.7:
                v = r.choice(ws)
                if e.kind == INT:
                    s = Expr("%s + %s" % (v.name, e.code), INT, 2 * B, e.cost)
                    return [pad + "%s = %s" % (v.name, self.wrap_int(s))], e.cost + 1
                s = Expr("%s + %s" % (v.name, e.code), FLOAT, 2 * FB, e.cost)
                return [pad + "%s = %s" % (v.name, self.wrap_float(s))], e.cost + 1
            return [pad + e.code], e.cost + 1
        if k == "print":
            if ctx.where not in ("main", "hot") or ctx.mult > 40:
                return None
            items = []
            for _ in range(r.randint(1, 3)):
                pick = r.choice([INT, FLOAT, NUM, STR, ARR, BOOL])
                vs = ctx.visible(pick)
                if vs:
                    items.append(r.choice(vs).name)
            if ctx.loop_vars:
                items.insert(0, ctx.loop_vars[-1].name)
            if not items:
                return None
            return [pad + 'print("p%d", %s)' % (self.counter, ", ".join(items))], 1
        if k == "brk":
            if ctx.loop_depth == 0:
                return None
            c = self.cond(ctx, 1, 0)
            what = r.choice(["break", "continue", "continue"])
            if ctx.loop_depth == ctx.hot_level:
                what = "continue"
            return [pad + "if %s then %s end" % (c.code, what)], c.cost + 1
        if k == "newobj":
            hs = [h for h in ctx.hiers]
            if not hs:
                return None
            h = self.hiers[r.choice(hs)]
            vs = [v for v in ctx.visible(OBJ, writable=True) if v.hid == h.hid]
            code, cost = self.construct(ctx, h, eb)
            if vs and r.random() < 0.6:
                return [pad + "%s = %s" % (r.choice(vs).name, code)], cost
            name = self.fresh("o")
            ctx.add(Var(name, OBJ, hid=h.hid))
            return [pad + "var %s = %s" % (name, code)], cost
        if k == "tmpobj":
            hs = [h for h in ctx.hiers]
            if not hs:
                return None
            h = self.hiers[r.choice(hs)]
            code, cost = self.construct(ctx, h, eb)
            name = self.fresh("o")
            lines = [pad + "var %s = %s" % (name, code)]
            fs = [f for f, fk in h.classes[0].all_fields() if fk == INT]
            ws = ctx.visible(INT, writable=True)
            if fs and ws:
                v = r.choice(ws)
                e = Expr("%s + %s.%s" % (v.name, name, r.choice(fs)), INT, 2 * B)
                lines.append(pad + "%s = %s" % (v.name, self.wrap_int(e)))
            ctx.add(Var(name, OBJ, hid=h.hid))
            return lines, cost + 1
        if k == "closure":
            ints = ctx.visible(INT)
            if not ints or ctx.where == "closure":
                return None
            cap = r.choice(ints).name
            name = self.fresh("c")
            p = self.fresh("x")
            a, b = r.randint(1, 9), r.randint(-50, 50)
            body = "(%s * %d + %s %% 1000 + %d) %% 100003" % (p, a, cap, b)
            ctx.add(Var(name, CLO, ro=True))
            return [pad + "var %s = fn(%s) return %s end" % (name, p, body)], 1
        return None

    def construct(self, ctx, h, eb):
        c = self.r.choice(h.classes)
        kinds = [INT] * c.init_arity()
        a, cost = self.args_for(ctx, kinds, 1, eb)
        return "%s(%s)" % (c.name, a), cost + 2 + c.init_arity()

    def if_stmt(self, ctx, left, ind):
        r = self.r
        pad = "  " * ind
        c = self.cond(ctx, 2, min(left, 100))
        lines = [pad + "if %s then" % c.code]
        worst = 0
        nb = r.choice([1, 1, 2, 3])
        for bi in range(nb):
            if bi > 0:
                if bi == nb - 1 and r.random() < 0.6:
                    lines.append(pad + "else")
                else:
                    c2 = self.cond(ctx, 2, min(left, 100))
                    lines.append(pad + "elif %s then" % c2.code)
            ctx.push()
            ls, cost = self.block(ctx, max(1, left - c.cost - 1), r.randint(1, 3), ind + 1)
            ctx.pop()
            lines += ls or [pad + "  %s" % self.noop(ctx)]
            worst = max(worst, cost)
        lines.append(pad + "end")
        return lines, c.cost + worst + 1

    def noop(self, ctx):
        return "type(nil)"

    def loop_body(self, ctx, count, left, ind, loop_var=None, counter=None):
        per = (left // max(count, 1)) - 1
        if per < 2:
            return None
        ctx.push()
        ctx.loop_depth += 1
        if loop_var is not None:
            ctx.add(loop_var)
            if loop_var.kind == INT:
                ctx.loop_vars.append(loop_var)
        if counter is not None:
            ctx.loop_vars.append(counter)
        old = ctx.mult
        ctx.mult *= max(count, 1)
        hot = ctx.hot_level == ctx.loop_depth
        ls, cost = self.block(ctx, per, self.r.randint(4, 10) if hot else self.r.randint(1, 5), ind + 1)
        ctx.mult = old
        if counter is not None:
            ctx.loop_vars.pop()
        if loop_var is not None and loop_var.kind == INT:
            ctx.loop_vars.pop()
        ctx.loop_depth -= 1
        ctx.pop()
        return ls, cost

    def for_stmt(self, ctx, left, ind, min_count=1, max_count=None):
        r = self.r
        pad = "  " * ind
        maxc = max_count or max(1, left // 4)
        if maxc < min_count:
            return None
        name = self.fresh("i")
        form = r.randint(0, 5)
        if form == 4 and ctx.visible(ARR) and maxc >= MAXLEN and min_count <= 1:
            a = r.choice(ctx.visible(ARR)).name
            header = "for %s = 0, len(%s) do" % (name, a)
            count, var = MAXLEN, Var(name, INT, MAXLEN, ro=True)
        elif form == 5 and min_count <= 1:
            start = r.choice([0.0, 0.5, -1.25])
            step = r.choice([0.25, 0.5, 1.5, -0.5])
            n = r.randint(1, min(maxc, 40))
            limit = start + step * n - step / 2
            header = "for %s = %r, %r, %r do" % (name, start, limit, step)
            count, var = n + 1, Var(name, FLOAT, abs(start) + abs(step) * (n + 1), ro=True)
        else:
            n = r.randint(min_count, min(maxc, max(min_count, r.choice([5, 20, 100, 1500, 3000]))))
            step = r.choice([1, 1, 1, 2, 3, -1, -2, 7])
            start = r.randint(-5, 5)
            end = start + n * step
            if abs(step) > 1 and r.random() < 0.5:
                end -= (1 if step > 0 else -1)   # a limit that is not a multiple of the step
            header = ("for %s = %d, %d do" % (name, start, end) if step == 1 else
                      "for %s = %d, %d, %d do" % (name, start, end, step))
            count, var = n, Var(name, INT, max(abs(start), abs(end)), ro=True)
        if min_count > 1:
            ctx.hot_level = ctx.loop_depth + 1
        got = self.loop_body(ctx, count, left, ind, var)
        ctx.hot_level = -1
        if got is None:
            return None
        ls, cost = got
        return [pad + header] + (ls or [pad + "  " + self.noop(ctx)]) + [pad + "end"], count * (cost + 1) + 1

    def while_stmt(self, ctx, left, ind):
        r = self.r
        pad = "  " * ind
        maxc = max(1, left // 4)
        n = r.randint(1, min(maxc, r.choice([3, 10, 50, 1200])))
        w = self.fresh("w")
        wv = Var(w, INT, n + 1, ro=True)
        got = self.loop_body(ctx, n, left - 2, ind, None, counter=wv)
        if got is None:
            return None
        ctx.add(wv)
        ls, cost = got
        lines = [pad + "var %s = 0" % w]
        if r.random() < 0.5:
            lines.append(pad + "while %s < %d do" % (w, n))
            lines.append(pad + "  %s = %s + 1" % (w, w))
        else:
            lines.append(pad + "while true do")
            lines.append(pad + "  %s = %s + 1" % (w, w))
            lines.append(pad + "  if %s > %d then break end" % (w, n))
        lines += ls
        lines.append(pad + "end")
        return lines, n * (cost + 2) + 2

    # -- program parts ----------------------------------------------------------

    def gen_globals(self, out):
        r = self.r
        for _ in range(r.randint(2, 5)):
            kind = r.choice([INT, INT, FLOAT, STR, ARR, NUM])
            name = self.fresh("g")
            if kind == INT:
                code = str(r.randint(0, 1000))
            elif kind == FLOAT:
                code = flit(r)
            elif kind == NUM:
                code = r.choice([str(r.randint(0, 50)), flit(r)])
            elif kind == STR:
                code = '"%s"' % r.choice(["g", "hello", "", "z9"])
            else:
                code = "[%s]" % ", ".join(str(r.randint(-99, 99)) for _ in range(r.randint(1, 5)))
            out.append("var %s = %s" % (name, code))
            v = Var(name, kind, None)
            self.globals.append(v)
        out.append("")

    def new_ctx(self, where, cls=None, method=None, funcs=None, hiers=()):
        ctx = Ctx(where, funcs if funcs is not None else list(self.funcs), list(hiers), cls, method)
        for g in self.globals:
            ctx.add(g)
        ctx.push()
        return ctx

    def gen_function(self, out, uses_objects):
        r = self.r
        name = self.fresh("f")
        params = [r.choice([INT, INT, FLOAT]) for _ in range(r.randint(0, 3))]
        ret = r.choice([INT, INT, FLOAT])
        ctx = self.new_ctx("fn", hiers=[h.hid for h in self.hiers] if uses_objects else ())
        pnames = []
        for k in params:
            p = self.fresh("p")
            pnames.append(p)
            ctx.add(Var(p, k))
        budget = r.choice([20, 60, 200, 600])
        lines, cost = self.block(ctx, budget, r.randint(2, 6), 1)
        if r.random() < 0.3:
            c = self.cond(ctx, 1, 0)
            e = self.int_expr(ctx, 1, 0) if ret == INT else self.float_expr(ctx, 1, 0)
            lines.append("  if %s then return %s end" % (c.code, self.wrap_int(e) if ret == INT else self.wrap_float(e)))
        e = self.int_expr(ctx, 2, 0) if ret == INT else self.float_expr(ctx, 2, 0)
        lines.append("  return %s" % (self.wrap_int(e) if ret == INT else self.wrap_float(e)))
        out.append("fn %s(%s)" % (name, ", ".join(pnames)))
        out += lines
        out.append("end")
        out.append("")
        self.funcs.append(Func(name, params, ret, cost + e.cost + 2, uses_objects))

    def gen_recursive(self, out):
        r = self.r
        name = self.fresh("rec")
        a, b = r.randint(2, 9), r.randint(1, 99)
        out.append("fn %s(n, acc)" % name)
        out.append("  if n <= 0 then return acc end")
        out.append("  if n %% %d == 0 then return %s(n - 1, (acc + n * %d) %% 100003) end" % (r.randint(2, 4), name, a))
        out.append("  return %s(n - 1, (acc * %d + n) %% 100003)" % (name, b % 7 + 2))
        out.append("end")
        out.append("")
        # the depth is bounded by how callers use it: n is an int, so wrap via a helper
        helper = self.fresh("f")
        d = r.choice([10, 30, 60])
        out.append("fn %s(k)" % helper)
        out.append("  return %s(k %% %d, k %% 1000)" % (name, d))
        out.append("end")
        out.append("")
        self.funcs.append(Func(helper, [INT], INT, d + 2, False))

    def gen_hierarchy(self, out):
        r = self.r
        hid = len(self.hiers)
        h = Hierarchy(hid)
        self.hiers.append(h)
        nclasses = r.randint(2, 5)
        for ci in range(nclasses):
            parent = None if ci == 0 else r.choice(h.classes)
            c = Cls(self.fresh("C"), parent, hid)
            for _ in range(r.randint(1 if ci == 0 else 0, 3)):
                c.fields.append((self.fresh("fld"), r.choice([INT, INT, FLOAT])))
            if ci == 0 or c.fields or r.random() < 0.3:
                c.init_params = r.randint(0, 3) if ci == 0 else r.randint(0, 3)
            h.classes.append(c)
        nm = r.randint(1, 5)
        for j in range(nm):
            h.methods.append(Method(j, r.randint(0, 2), r.choice([INT, INT, FLOAT])))
        # method bodies, by index, so a method's cost is known before callers
        for m in h.methods:
            worst = 0
            for c in h.classes:
                if c.parent is not None and r.random() < 0.5:
                    continue          # inherits m
                lines, cost = self.method_body(c, m)
                c.bodies[m.index] = lines
                c.mcost[m.index] = cost
                worst = max(worst, cost)
            m.cost = worst
        # emit
        for c in h.classes:
            out.append("class %s%s" % (c.name, " < " + c.parent.name if c.parent else ""))
            if c.fields:
                out.append("  var " + ", ".join(f for f, _ in c.fields))
            if c.init_params is not None:
                out += self.init_body(c)
            for j in sorted(c.bodies):
                out += c.bodies[j]
            out.append("end")
            out.append("")
        return h

    def init_body(self, c):
        r = self.r
        ps = [self.fresh("a") for _ in range(c.init_params)]
        lines = ["  def init(%s)" % ", ".join(ps)]
        if c.parent is not None:
            pa = c.parent.init_arity()
            args = []
            for i in range(pa):
                if ps and r.random() < 0.7:
                    args.append("%s + %d" % (r.choice(ps), r.randint(0, 9)))
                else:
                    args.append(str(r.randint(0, 99)))
            lines.append("    super.init(%s)" % ", ".join(args))
        for f, k in c.fields:
            if k == INT:
                src = ("(%s * %d + %d) %% 10007" % (r.choice(ps), r.randint(1, 9), r.randint(0, 99))) if ps \
                    else str(r.randint(0, 999))
            else:
                src = ("float(%s %% 1000) * %s" % (r.choice(ps), flit(r))) if ps else flit(r)
            lines.append("    self.%s = %s" % (f, src))
        lines.append("  end")
        return lines

    def method_body(self, c, m):
        r = self.r
        ctx = self.new_ctx("method", cls=c, method=m, funcs=[f for f in self.funcs if not f.uses_objects])
        ps = []
        for _ in range(m.nparams):
            p = self.fresh("q")
            ps.append(p)
            ctx.add(Var(p, INT))
        lines = ["  def %s(%s)" % (m.name, ", ".join(ps))]
        body, cost = self.block(ctx, r.choice([3, 8, 20, 40]), r.randint(1, 4), 2)
        lines += body
        ret = self.int_expr(ctx, 2, 10) if m.ret == INT else self.float_expr(ctx, 2, 10)
        cost += ret.cost + 1
        if c.parent is not None and c.parent.defines(m.index) and r.random() < 0.5:
            sup = "super.%s(%s)" % (m.name, ", ".join(ps))
            # the parent's cost is at most the hierarchy's cost of m so far
            cost += self.cost_so_far(c.parent, m) + 1
            if m.ret == INT:
                e = Expr("%s + %s" % (sup, ret.code), INT, B + ret.bound, 0)
                lines.append("    return %s" % self.wrap_int(e))
            else:
                e = Expr("%s * 0.5 + %s" % (sup, ret.code), FLOAT, FB + ret.bound, 0)
                lines.append("    return %s" % self.wrap_float(e))
        else:
            lines.append("    return %s" % (self.wrap_int(ret) if m.ret == INT else self.wrap_float(ret)))
        lines.append("  end")
        return lines, cost

    def cost_so_far(self, c, m):
        # cost of the nearest definition of m at or above c (parents are
        # generated before their subclasses)
        while c is not None:
            if m.index in c.mcost:
                return c.mcost[m.index]
            c = c.parent
        return 0

    # -- main -------------------------------------------------------------------

    def declare_locals(self, ctx, out, ind, objects=True):
        """Declarations of a few variables of every kind."""
        r = self.r
        pad = "  " * ind
        for kind in [INT, INT, INT, FLOAT, FLOAT, NUM, STR, ARR, BOOL]:
            if r.random() < 0.25:
                continue
            name = self.fresh("v")
            if kind == INT:
                code = self.wrap_int(self.int_expr(ctx, 1, 0))
            elif kind == FLOAT:
                code = self.wrap_float(self.float_expr(ctx, 1, 0))
            elif kind == NUM:
                code = r.choice([str(r.randint(0, 50)), flit(r)])
            elif kind == STR:
                code = '"%s"' % r.choice(["s", "abc", "", "x y"])
            elif kind == ARR:
                code = "[%s]" % ", ".join(str(r.randint(-99, 99)) for _ in range(r.randint(1, 8)))
            else:
                code = r.choice(["true", "false"])
            out.append(pad + "var %s = %s" % (name, code))
            ctx.add(Var(name, kind))
        if objects:
            for hid in ctx.hiers:
                h = self.hiers[hid]
                name = self.fresh("o")
                code, _ = self.construct(ctx, h, 0)
                out.append(pad + "var %s = %s" % (name, code))
                ctx.add(Var(name, OBJ, hid=h.hid))
                arr = self.fresh("objs")
                items = [self.construct(ctx, h, 0)[0] for _ in range(r.randint(2, 5))]
                out.append(pad + "var %s = [%s]" % (arr, ", ".join(items)))
                ctx.add(Var(arr, OBJARR, hid=h.hid))

    def hot_loops(self, ctx, out, budget, ind):
        """One or two loops of more than 1000 iterations, and some code around."""
        r = self.r
        used = 0
        pre, c = self.block(ctx, budget // 10, r.randint(2, 6), ind)
        out += pre
        used += c
        nhot = r.choice([1, 1, 2])
        for _ in range(nhot):
            for _ in range(20):
                got = self.for_stmt(ctx, (budget - used) // nhot, ind, min_count=1100, max_count=4000)
                if got:
                    out += got[0]
                    used += got[1]
                    break
        post, c = self.block(ctx, max(1, budget - used), r.randint(2, 6), ind)
        out += post
        used += c
        return used

    def print_state(self, ctx, out, ind, scopes=None):
        pad = "  " * ind
        for v in ctx.visible():
            if v.kind in (INT, FLOAT, NUM, STR, ARR, BOOL):
                out.append(pad + 'print("%s", %s)' % (v.name, v.name))
            elif v.kind == OBJ:
                fs = self.hiers[v.hid].classes[0].all_fields()
                out.append(pad + 'print("%s", %s)' % (v.name, ", ".join("%s.%s" % (v.name, f) for f, _ in fs)))

    def gen_hot_function(self, out, budget):
        """A function whose locals are used by a hot loop; prints its state."""
        name = self.fresh("hot")
        ctx = self.new_ctx("hot", hiers=[h.hid for h in self.hiers])
        lines = []
        self.declare_locals(ctx, lines, 1)
        cost = self.hot_loops(ctx, lines, budget, 1)
        self.print_state(ctx, lines, 1)
        out.append("fn %s()" % name)
        out += lines
        out.append("end")
        out.append("")
        return name, cost

    def gen_main(self, out):
        r = self.r
        budget = self.budget
        calls = []
        if r.random() < 0.6:
            name, cost = self.gen_hot_function(out, budget // 2)
            calls.append(name)
            budget -= cost
        ctx = self.new_ctx("main", hiers=[h.hid for h in self.hiers])
        ctx.scopes = [list(self.globals)]   # top level: declarations are globals
        self.declare_locals(ctx, out, 0)
        for c in calls:
            out.append("%s()" % c)
        self.hot_loops(ctx, out, budget, 0)
        self.print_state(ctx, out, 0)

    def gen_error(self, out):
        r = self.r
        k = r.randint(1100, 3000)
        i = self.fresh("e")
        kind = r.choice(["overflow", "divzero", "modzero", "fdivzero", "index", "type",
                         "nilfield", "nomethod", "intnan", "mul_overflow"])
        out.append("# intentional runtime error: %s" % kind)
        out.append("var acc = 0")
        if kind == "overflow":
            out.append("var step = 9223372036854775807 // %d" % k)
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  acc = acc + step")
        elif kind == "mul_overflow":
            out.append("var big = 1")
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  if %s == %d then big = 4611686018427387904 end" % (i, k))
            out.append("  acc = (acc + big * 2) % 1000")
        elif kind == "divzero":
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  acc = (acc + 100000 // (%d - %s)) %% 1000" % (k, i))
        elif kind == "modzero":
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  acc = (acc + 100000 %% (%d - %s)) %% 1000" % (k, i))
        elif kind == "fdivzero":
            out.append("var facc = 0.0")
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  facc = facc + 1.5 / float(%d - %s)" % (k, i))
        elif kind == "index":
            out.append("var arr = []")
            out.append("for %s = 0, %d do push(arr, %s) end" % (i, k, i))
            out.append("for %s = 0, %d do" % (i, k + 5))
            out.append("  acc = (acc + arr[%s]) %% 1000" % i)
        elif kind == "type":
            out.append("var val = 1")
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  if %s == %d then val = \"one\" end" % (i, k))
            out.append("  acc = (acc + val * 3) % 1000")
        elif kind == "nilfield" and self.hiers:
            h = self.hiers[0]
            f = h.classes[0].all_fields()[0][0]
            code, _ = self.construct(Ctx("main", [], []), h, 0)
            out.append("var obj = %s" % code)
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  if %s == %d then obj = nil end" % (i, k))
            out.append("  acc = acc + 1")
            out.append("  obj.%s = acc %% 1000" % f)
        elif kind == "nomethod" and self.hiers:
            h = self.hiers[0]
            m = h.methods[0]
            code, _ = self.construct(Ctx("main", [], []), h, 0)
            out.append("class Odd var z end")
            out.append("var objs = [%s, Odd()]" % code)
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  var o = objs[%s // %d]" % (i, k))
            out.append("  acc = acc + 1")
            out.append("  o.%s(%s)" % (m.name, ", ".join(["1"] * m.nparams)))
        else:
            out.append("for %s = 0, %d do" % (i, 2 * k))
            out.append("  acc = (acc + int(sqrt(float(%d - %s)))) %% 1000" % (k - 1, i))
        out.append("  if %s %% 512 == 0 then print(\"err-loop\", %s, acc) end" % (i, i))
        out.append("end")
        out.append('print("not reached")')

    def program(self):
        r = self.r
        out = []
        body = []
        self.gen_globals(body)
        for _ in range(r.randint(1, 3)):
            self.gen_function(body, False)
        if r.random() < 0.6:
            self.gen_recursive(body)
        for _ in range(r.randint(1, 2)):
            self.gen_hierarchy(body)
        for _ in range(r.randint(0, 3)):
            self.gen_function(body, True)
        self.gen_main(body)
        err = r.random() < self.error_rate
        if err:
            self.gen_error(body)
        out.append("# progen seed=%d expect-exit=%d" % (self.seed, 1 if err else 0))
        out += body
        return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="random jc program generator")
    ap.add_argument("seed", type=int)
    ap.add_argument("--error-rate", type=float, default=0.1,
                    help="probability of ending with an intentional runtime error (default 0.1)")
    ap.add_argument("--budget", type=int, default=200000,
                    help="rough bound on statement executions (default 200000)")
    a = ap.parse_args()
    sys.stdout.write(Gen(a.seed, a.budget, a.error_rate).program())


if __name__ == "__main__":
    main()
