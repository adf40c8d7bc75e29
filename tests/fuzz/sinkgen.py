#!/usr/bin/env python3
"""sinkgen.py — random programs for allocation sinking (vm/jit/opt_sink.c).

    tests/fuzz/sinkgen.py SEED > prog.jc

One hot loop whose iterations build short-lived objects: instances made by
constructors and methods, nested in other instances, aliased, written,
compared by identity, read; rare branches (`i % m == r`) use them when the
trace has them sunk, so exits rebuild them, bridges start from them, and
some are kept in a global array (they escape there).  The program prints
the loop's checksum and the kept objects' fields: deterministic, so
tests/fuzz/run_sinkgen.sh compares the JIT's output with the interpreter's.
Ints stay small (every sum is reduced modulo 1000003), so no overflow.
"""
import random, sys

def gen(seed):
    r = random.Random(seed)
    out = []
    out.append("""class A
  var a, b, c
  def init(x, y)
    self.a = x
    self.b = y
  end
  def m(k) return A(self.b % 1000 + k, self.a % 1000) end
  def s() return self.a + self.b end
end
class B
  var p, q, n
  def init(p, q)
    self.p = p
    self.q = q
    self.n = 1
  end
  def sum() return self.p.a + self.q.b + self.n end
end
var keep = []
fn run(n)
  var acc = 0""")
    temps = []  # (name, cls)
    lines = []
    def iexpr():
        c = r.randint(0, 5)
        ints = [t for t in temps if t[1] == "A"]
        if c == 0 or not ints:
            return r.choice(["i", "acc % 1000", str(r.randint(-50, 50)), "i % 7"])
        t = r.choice(ints)[0]
        if c == 1:
            return "%s.a %% 1000" % t
        if c == 2:
            return "%s.b %% 1000" % t
        if c == 3:
            return "%s.s() %% 1000" % t
        return "i + %d" % r.randint(0, 9)
    def stmt(depth):
        k = r.randint(0, 12)
        As = [t for t in temps if t[1] == "A"]
        Bs = [t for t in temps if t[1] == "B"]
        if k <= 2 or not As:
            name = "t%d" % len(temps)
            temps.append((name, "A"))
            return ["var %s = A(%s, %s)" % (name, iexpr(), iexpr())]
        if k == 3:
            name = "t%d" % len(temps)
            temps.append((name, "B"))
            return ["var %s = B(%s, %s)" % (name, r.choice(As)[0], r.choice(As)[0])]
        if k == 4:
            name = "t%d" % len(temps)
            temps.append((name, "A"))
            return ["var %s = %s.m(%s)" % (name, r.choice(As)[0], iexpr())]
        if k == 5:
            return ["%s.%s = %s" % (r.choice(As)[0], r.choice("abc"), iexpr())]
        if k == 6 and Bs:
            b = r.choice(Bs)[0]
            return ["acc = (acc + %s.sum()) %% 1000003" % b]
        if k == 7 and Bs:
            b = r.choice(Bs)[0]
            return ["%s.%s = %s" % (b, r.choice("pq"), r.choice(As)[0])]
        if k == 8 and depth < 2:
            m = r.choice([2, 3, 7, 50, 97, 500])
            body = []
            saved = list(temps)
            for _ in range(r.randint(1, 3)):
                body += stmt(depth + 1)
            if r.random() < 0.5:
                body.append("if len(keep) < 40 then push(keep, %s) end" % r.choice([t for t in temps if t[1] == "A"])[0])
            temps[:] = saved
            return ["if i %% %d == %d then" % (m, r.randint(0, m - 1))] + ["  " + x for x in body] + ["end"]
        if k == 9 and len(As) > 1:
            x, y = r.sample(As, 2)
            return ["if %s == %s then acc = acc + 1 end" % (x[0], y[0])]
        if k == 10:
            name = "t%d" % len(temps)
            src = r.choice(temps)
            temps.append((name, src[1]))
            return ["var %s = %s" % (name, src[0])]
        if k == 11:
            t = r.choice(As)[0]
            return ["if %s.c == nil then acc = acc + 3 else acc = (acc + %s.c) %% 1000003 end" % (t, t)]
        t = r.choice(As)[0]
        return ["acc = (acc + %s.a + %s.b) %% 1000003" % (t, t)]
    for _ in range(r.randint(3, 14)):
        lines += stmt(0)
    out.append("  for i = 0, n do")
    out += ["    " + l for l in lines]
    out.append("  end")
    out.append("  return acc")
    out.append("end")
    out.append("print(run(%d))" % r.choice([1500, 3000, 5000]))
    out.append("""var s = 0
for k = 0, len(keep) do
  var o = keep[k]
  if type(o.a) == "int" then s = (s + o.a + o.b) % 1000003 end
end
print(len(keep), s)""")
    return "\n".join(out) + "\n"

if __name__ == "__main__":
    sys.stdout.write(gen(int(sys.argv[1])))
