-- deltablue — Lua version of bench/programs/deltablue.jc, for comparing jcvm
-- with lua5.4 and luajit: the same classes (as metatables), the same
-- planner, the same chain and projection tests, the same checks and the same
-- printed checksum.  Runs on Lua 5.1 (LuaJIT) to 5.4.
--
-- usage: lua5.4 deltablue.lua [ITERATIONS]
-- stdout: "deltablue: checksum C ok"; stderr: "iteration I SECONDS" per
-- iteration (os.clock(): CPU time).

local CHAIN_LENGTH = 100
local PROJECTION_SIZE = 100
local RUNS_PER_ITERATION = 150

local function class(super)
  local c = {}
  c.__index = c
  if super then setmetatable(c, { __index = super }) end
  return c
end

-- Strengths ----------------------------------------------------------------

local Strength = class()
local STRENGTHS = {}
function Strength.new(rank, name)
  return setmetatable({ rank = rank, name = name }, Strength)
end
function Strength:stronger(other) return self.rank < other.rank end
function Strength:weaker(other) return self.rank > other.rank end
function Strength:weakest_of(other)
  if self.rank > other.rank then return self end
  return other
end
function Strength:next_weaker() return STRENGTHS[self.rank + 2] end

local REQUIRED = Strength.new(0, "required")
local STRONG_PREFERRED = Strength.new(1, "strongPreferred")
local PREFERRED = Strength.new(2, "preferred")
local STRONG_DEFAULT = Strength.new(3, "strongDefault")
local NORMAL = Strength.new(4, "normal")
local WEAK_DEFAULT = Strength.new(5, "weakDefault")
local WEAKEST = Strength.new(6, "weakest")
STRENGTHS = { REQUIRED, STRONG_PREFERRED, PREFERRED, STRONG_DEFAULT, NORMAL,
              WEAK_DEFAULT, WEAKEST }

local NONE, FORWARD, BACKWARD = 0, 1, 2

local planner = nil
local failure = nil
local function fail(msg)
  if failure == nil then failure = msg end
end

-- Small collections ----------------------------------------------------------

local Queue = class()
function Queue.new() return setmetatable({ items = {}, n = 0, head = 1 }, Queue) end
function Queue:add(x)
  self.n = self.n + 1
  self.items[self.n] = x
end
function Queue:is_empty() return self.head > self.n end
function Queue:take()
  local x = self.items[self.head]
  self.head = self.head + 1
  return x
end

-- Removes every occurrence of x from the array a, keeping the order.
local function remove_all(a, x)
  local n = #a
  local j = 0
  for i = 1, n do
    local y = a[i]
    if y ~= x then
      j = j + 1
      a[j] = y
    end
  end
  for k = n, j + 1, -1 do a[k] = nil end
end

-- Variables ----------------------------------------------------------------

local Variable = class()
function Variable.new(name, value)
  return setmetatable({ name = name, value = value, constraints = {},
                        determined_by = nil, mark = 0,
                        walk_strength = WEAKEST, stay = true }, Variable)
end
function Variable:add_constraint(c) self.constraints[#self.constraints + 1] = c end
function Variable:remove_constraint(c)
  remove_all(self.constraints, c)
  if self.determined_by == c then self.determined_by = nil end
end

-- Constraints ----------------------------------------------------------------

local Constraint = class()
function Constraint:add_constraint()
  self:add_to_graph()
  planner:incremental_add(self)
end
function Constraint:satisfy(mark)
  self:choose_method(mark)
  if not self:is_satisfied() then
    if self.strength == REQUIRED then fail("could not satisfy a required constraint") end
    return nil
  end
  self:mark_inputs(mark)
  local out = self:output()
  local overridden = out.determined_by
  if overridden ~= nil then overridden:mark_unsatisfied() end
  out.determined_by = self
  if not planner:add_propagate(self, mark) then fail("cycle encountered") end
  out.mark = mark
  return overridden
end
function Constraint:destroy_constraint()
  if self:is_satisfied() then
    planner:incremental_remove(self)
  else
    self:remove_from_graph()
  end
end
function Constraint:is_input() return false end

local UnaryConstraint = class(Constraint)
function UnaryConstraint.init(self, v, strength)
  self.strength = strength
  self.my_output = v
  self.satisfied = false
  self:add_constraint()
  return self
end
function UnaryConstraint:add_to_graph()
  self.my_output:add_constraint(self)
  self.satisfied = false
end
function UnaryConstraint:choose_method(mark)
  self.satisfied = self.my_output.mark ~= mark and
                   self.strength:stronger(self.my_output.walk_strength)
end
function UnaryConstraint:is_satisfied() return self.satisfied end
function UnaryConstraint:mark_inputs(mark) end
function UnaryConstraint:output() return self.my_output end
function UnaryConstraint:recalculate()
  self.my_output.walk_strength = self.strength
  self.my_output.stay = not self:is_input()
  if self.my_output.stay then self:execute() end
end
function UnaryConstraint:mark_unsatisfied() self.satisfied = false end
function UnaryConstraint:inputs_known(mark) return true end
function UnaryConstraint:remove_from_graph()
  if self.my_output ~= nil then self.my_output:remove_constraint(self) end
  self.satisfied = false
end

local StayConstraint = class(UnaryConstraint)
function StayConstraint.new(v, strength)
  return UnaryConstraint.init(setmetatable({}, StayConstraint), v, strength)
end
function StayConstraint:execute() end

local EditConstraint = class(UnaryConstraint)
function EditConstraint.new(v, strength)
  return UnaryConstraint.init(setmetatable({}, EditConstraint), v, strength)
end
function EditConstraint:is_input() return true end
function EditConstraint:execute() end

local BinaryConstraint = class(Constraint)
function BinaryConstraint.init(self, var1, var2, strength)
  self.strength = strength
  self.v1 = var1
  self.v2 = var2
  self.direction = NONE
  return self
end
function BinaryConstraint:choose_method(mark)
  if self.v1.mark == mark then
    if self.v2.mark ~= mark and self.strength:stronger(self.v2.walk_strength) then
      self.direction = FORWARD
    else
      self.direction = NONE
    end
    return
  end
  if self.v2.mark == mark then
    if self.v1.mark ~= mark and self.strength:stronger(self.v1.walk_strength) then
      self.direction = BACKWARD
    else
      self.direction = NONE
    end
    return
  end
  if self.v1.walk_strength:weaker(self.v2.walk_strength) then
    if self.strength:stronger(self.v1.walk_strength) then
      self.direction = BACKWARD
    else
      self.direction = NONE
    end
  else
    if self.strength:stronger(self.v2.walk_strength) then
      self.direction = FORWARD
    else
      self.direction = BACKWARD
    end
  end
end
function BinaryConstraint:add_to_graph()
  self.v1:add_constraint(self)
  self.v2:add_constraint(self)
  self.direction = NONE
end
function BinaryConstraint:is_satisfied() return self.direction ~= NONE end
function BinaryConstraint:mark_inputs(mark) self:input().mark = mark end
function BinaryConstraint:input()
  if self.direction == FORWARD then return self.v1 end
  return self.v2
end
function BinaryConstraint:output()
  if self.direction == FORWARD then return self.v2 end
  return self.v1
end
function BinaryConstraint:recalculate()
  local ihn = self:input()
  local out = self:output()
  out.walk_strength = self.strength:weakest_of(ihn.walk_strength)
  out.stay = ihn.stay
  if out.stay then self:execute() end
end
function BinaryConstraint:mark_unsatisfied() self.direction = NONE end
function BinaryConstraint:inputs_known(mark)
  local i = self:input()
  return i.mark == mark or i.stay or i.determined_by == nil
end
function BinaryConstraint:remove_from_graph()
  if self.v1 ~= nil then self.v1:remove_constraint(self) end
  if self.v2 ~= nil then self.v2:remove_constraint(self) end
  self.direction = NONE
end

local ScaleConstraint = class(BinaryConstraint)
function ScaleConstraint.new(src, scale, offset, dest, strength)
  local self = BinaryConstraint.init(setmetatable({}, ScaleConstraint), src, dest, strength)
  self.scale = scale
  self.offset = offset
  self:add_constraint()
  return self
end
function ScaleConstraint:add_to_graph()
  BinaryConstraint.add_to_graph(self)
  self.scale:add_constraint(self)
  self.offset:add_constraint(self)
end
function ScaleConstraint:remove_from_graph()
  BinaryConstraint.remove_from_graph(self)
  if self.scale ~= nil then self.scale:remove_constraint(self) end
  if self.offset ~= nil then self.offset:remove_constraint(self) end
end
function ScaleConstraint:mark_inputs(mark)
  BinaryConstraint.mark_inputs(self, mark)
  self.scale.mark = mark
  self.offset.mark = mark
end
function ScaleConstraint:execute()
  if self.direction == FORWARD then
    self.v2.value = self.v1.value * self.scale.value + self.offset.value
  else
    -- jc uses //; the tests only ask for exact quotients
    self.v1.value = math.floor((self.v2.value - self.offset.value) / self.scale.value)
  end
end
function ScaleConstraint:recalculate()
  local ihn = self:input()
  local out = self:output()
  out.walk_strength = self.strength:weakest_of(ihn.walk_strength)
  out.stay = ihn.stay and self.scale.stay and self.offset.stay
  if out.stay then self:execute() end
end

local EqualityConstraint = class(BinaryConstraint)
function EqualityConstraint.new(var1, var2, strength)
  local self = BinaryConstraint.init(setmetatable({}, EqualityConstraint), var1, var2, strength)
  self:add_constraint()
  return self
end
function EqualityConstraint:execute() self:output().value = self:input().value end

-- Plans and the planner ------------------------------------------------------

local Plan = class()
function Plan.new() return setmetatable({ steps = {} }, Plan) end
function Plan:add_constraint(c) self.steps[#self.steps + 1] = c end
function Plan:execute()
  local steps = self.steps
  for i = 1, #steps do steps[i]:execute() end
end

local Planner = class()
function Planner.new() return setmetatable({ current_mark = 0 }, Planner) end
function Planner:new_mark()
  self.current_mark = self.current_mark + 1
  return self.current_mark
end
function Planner:incremental_add(c)
  local mark = self:new_mark()
  local overridden = c:satisfy(mark)
  while overridden ~= nil do overridden = overridden:satisfy(mark) end
end
function Planner:incremental_remove(c)
  local out = c:output()
  c:mark_unsatisfied()
  c:remove_from_graph()
  local unsatisfied = self:remove_propagate_from(out)
  local strength = REQUIRED
  while true do
    for i = 1, #unsatisfied do
      local u = unsatisfied[i]
      if u.strength == strength then self:incremental_add(u) end
    end
    strength = strength:next_weaker()
    if strength == WEAKEST then break end
  end
end
function Planner:add_propagate(c, mark)
  local todo = Queue.new()
  todo:add(c)
  while not todo:is_empty() do
    local d = todo:take()
    if d:output().mark == mark then
      self:incremental_remove(c)
      return false
    end
    d:recalculate()
    self:add_constraints_consuming_to(d:output(), todo)
  end
  return true
end
function Planner:remove_propagate_from(out)
  out.determined_by = nil
  out.walk_strength = WEAKEST
  out.stay = true
  local unsatisfied = {}
  local todo = Queue.new()
  todo:add(out)
  while not todo:is_empty() do
    local v = todo:take()
    local cs = v.constraints
    for i = 1, #cs do
      local c = cs[i]
      if not c:is_satisfied() then unsatisfied[#unsatisfied + 1] = c end
    end
    local determining = v.determined_by
    for i = 1, #cs do
      local next = cs[i]
      if next ~= determining and next:is_satisfied() then
        next:recalculate()
        todo:add(next:output())
      end
    end
  end
  return unsatisfied
end
function Planner:add_constraints_consuming_to(v, coll)
  local determining = v.determined_by
  local cs = v.constraints
  for i = 1, #cs do
    local c = cs[i]
    if c ~= determining and c:is_satisfied() then coll:add(c) end
  end
end
function Planner:make_plan(sources)
  local mark = self:new_mark()
  local plan = Plan.new()
  local todo = sources
  while not todo:is_empty() do
    local c = todo:take()
    if c:output().mark ~= mark and c:inputs_known(mark) then
      plan:add_constraint(c)
      c:output().mark = mark
      self:add_constraints_consuming_to(c:output(), todo)
    end
  end
  return plan
end
function Planner:extract_plan_from_constraints(constraints)
  local sources = Queue.new()
  for i = 1, #constraints do
    local c = constraints[i]
    if c:is_input() and c:is_satisfied() then sources:add(c) end
  end
  return self:make_plan(sources)
end

-- The tests ------------------------------------------------------------------

local function chain_test(n)
  planner = Planner.new()
  local prev, first, last = nil, nil, nil
  for i = 0, n do
    local v = Variable.new("v" .. i, 0)
    if prev ~= nil then EqualityConstraint.new(prev, v, REQUIRED) end
    if i == 0 then first = v end
    if i == n then last = v end
    prev = v
  end
  StayConstraint.new(last, STRONG_DEFAULT)
  local edit = EditConstraint.new(first, PREFERRED)
  local plan = planner:extract_plan_from_constraints({ edit })
  local sum = 0
  for i = 0, 99 do
    first.value = i
    plan:execute()
    if last.value ~= i then fail("chain test failed at " .. i) end
    sum = sum + last.value
  end
  return sum
end

local function change(v, new_value)
  local edit = EditConstraint.new(v, PREFERRED)
  local plan = planner:extract_plan_from_constraints({ edit })
  for i = 1, 10 do
    v.value = new_value
    plan:execute()
  end
  edit:destroy_constraint()
end

local function projection_test(n)
  planner = Planner.new()
  local scale = Variable.new("scale", 10)
  local offset = Variable.new("offset", 1000)
  local src, dst = nil, nil
  local dests = {}
  for i = 0, n - 1 do
    src = Variable.new("src" .. i, i)
    dst = Variable.new("dst" .. i, i)
    dests[#dests + 1] = dst
    StayConstraint.new(src, NORMAL)
    ScaleConstraint.new(src, scale, offset, dst, REQUIRED)
  end
  local sum = 0
  change(src, 17)
  if dst.value ~= 1170 then fail("projection 1 failed") end
  sum = sum + dst.value
  change(dst, 1050)
  if src.value ~= 5 then fail("projection 2 failed") end
  sum = sum + src.value
  change(scale, 5)
  for i = 0, n - 2 do
    if dests[i + 1].value ~= i * 5 + 1000 then fail("projection 3 failed at " .. i) end
    sum = sum + dests[i + 1].value
  end
  change(offset, 2000)
  for i = 0, n - 2 do
    if dests[i + 1].value ~= i * 5 + 2000 then fail("projection 4 failed at " .. i) end
    sum = sum + dests[i + 1].value
  end
  return sum
end

local function run_deltablue()
  return chain_test(CHAIN_LENGTH) + projection_test(PROJECTION_SIZE)
end

local function expected_checksum()
  local m = PROJECTION_SIZE - 1
  local fives = 5 * (m * (m - 1) / 2)
  return 100 * 99 / 2 + 1170 + 5 + (fives + 1000 * m) + (fives + 2000 * m)
end

local iterations = tonumber(arg and arg[1]) or 1
local expected = RUNS_PER_ITERATION * expected_checksum()
local total = 0
for it = 0, iterations - 1 do
  local t0 = os.clock()
  total = 0
  for k = 1, RUNS_PER_ITERATION do total = total + run_deltablue() end
  io.stderr:write("iteration ", it, " ", string.format("%.9f", os.clock() - t0), "\n")
  if failure ~= nil then
    print("deltablue: FAILED: " .. failure)
    return
  end
  if total ~= expected then
    print(string.format("deltablue: FAILED: checksum %d expected %d", total, expected))
    return
  end
end
print(string.format("deltablue: checksum %d ok", total))
