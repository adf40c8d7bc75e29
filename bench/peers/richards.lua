-- richards — Lua version of bench/programs/richards.jc, for comparing jcvm
-- with lua5.4 and luajit: the same scheduler, tasks and packets, written with
-- metatable classes so run() is dispatched the same way; the task state is
-- three booleans and the idle task's sequence uses floor division and a
-- small xor loop, exactly as in the jc version.  Runs on Lua 5.1 (LuaJIT)
-- to 5.4.
--
-- usage: lua5.4 richards.lua [ITERATIONS]
-- stdout: "richards: queue count Q hold count H ok"; stderr:
-- "iteration I SECONDS" per iteration (os.clock(): CPU time).

local COUNT = 1000
local EXPECTED_QUEUE_COUNT = 2322
local EXPECTED_HOLD_COUNT = 928
local RUNS_PER_ITERATION = 100

local ID_IDLE = 0
local ID_WORKER = 1
local ID_HANDLER_A = 2
local ID_HANDLER_B = 3
local ID_DEVICE_A = 4
local ID_DEVICE_B = 5
local NUMBER_OF_IDS = 6
local KIND_DEVICE = 0
local KIND_WORK = 1
local DATA_SIZE = 4

local floor = math.floor

-- a xor b for 0 <= a, b < 2^16 (jc: (a // bit) % 2 ...).
local function xor16(a, b)
  local r = 0
  local bit = 1
  for k = 0, 15 do
    if floor(a / bit) % 2 ~= floor(b / bit) % 2 then r = r + bit end
    bit = bit * 2
  end
  return r
end

local function class(super)
  local c = {}
  c.__index = c
  if super then setmetatable(c, { __index = super }) end
  return c
end

-- Packets ---------------------------------------------------------------------

local Packet = class()
function Packet.new(link, id, kind)
  return setmetatable({ link = link, id = id, kind = kind, a1 = 0,
                        a2 = { 0, 0, 0, 0 } }, Packet)
end
function Packet:add_to(queue)
  self.link = nil
  if queue == nil then return self end
  local peek = queue
  local next = peek.link
  while next ~= nil do
    peek = next
    next = peek.link
  end
  peek.link = self
  return queue
end

-- Task control blocks ------------------------------------------------------------

local Tcb = class()
function Tcb.new(link, id, priority, queue, task)
  return setmetatable({ link = link, id = id, priority = priority, queue = queue,
                        task = task, runnable = queue ~= nil, suspended = true,
                        held = false }, Tcb)
end
function Tcb:set_running()
  self.runnable = false
  self.suspended = false
  self.held = false
end
function Tcb:mark_as_not_held() self.held = false end
function Tcb:mark_as_held() self.held = true end
function Tcb:mark_as_suspended() self.suspended = true end
function Tcb:mark_as_runnable() self.runnable = true end
function Tcb:is_held_or_suspended()
  return self.held or (self.suspended and not self.runnable)
end
function Tcb:run()
  local packet = nil
  if self.suspended and self.runnable and not self.held then
    packet = self.queue
    self.queue = packet.link
    self.suspended = false
    self.runnable = self.queue ~= nil
  end
  return self.task:run(packet)
end
function Tcb:check_priority_add(task, packet)
  if self.queue == nil then
    self.queue = packet
    self:mark_as_runnable()
    if self.priority > task.priority then return self end
  else
    self.queue = packet:add_to(self.queue)
  end
  return task
end

-- Scheduler ---------------------------------------------------------------------

local IdleTask, DeviceTask, WorkerTask, HandlerTask

local Scheduler = class()
function Scheduler.new()
  local s = setmetatable({ queue_count = 0, hold_count = 0, blocks = {},
                           list = nil, current_tcb = nil, current_id = nil },
                         Scheduler)
  for i = 0, NUMBER_OF_IDS - 1 do s.blocks[i + 1] = false end
  return s
end
function Scheduler:add_task(id, priority, queue, task)
  self.current_tcb = Tcb.new(self.list, id, priority, queue, task)
  self.list = self.current_tcb
  self.blocks[id + 1] = self.current_tcb
end
function Scheduler:add_idle_task(id, priority, queue, count)
  self:add_task(id, priority, queue, IdleTask.new(self, 1, count))
  self.current_tcb:set_running()
end
function Scheduler:add_worker_task(id, priority, queue)
  self:add_task(id, priority, queue, WorkerTask.new(self, ID_HANDLER_A, 0))
end
function Scheduler:add_handler_task(id, priority, queue)
  self:add_task(id, priority, queue, HandlerTask.new(self))
end
function Scheduler:add_device_task(id, priority, queue)
  self:add_task(id, priority, queue, DeviceTask.new(self))
end
function Scheduler:schedule()
  self.current_tcb = self.list
  while self.current_tcb ~= nil do
    if self.current_tcb:is_held_or_suspended() then
      self.current_tcb = self.current_tcb.link
    else
      self.current_id = self.current_tcb.id
      self.current_tcb = self.current_tcb:run()
    end
  end
end
function Scheduler:release(id)
  local tcb = self.blocks[id + 1]
  if not tcb then return nil end
  tcb:mark_as_not_held()
  if tcb.priority > self.current_tcb.priority then return tcb end
  return self.current_tcb
end
function Scheduler:hold_current()
  self.hold_count = self.hold_count + 1
  self.current_tcb:mark_as_held()
  return self.current_tcb.link
end
function Scheduler:suspend_current()
  self.current_tcb:mark_as_suspended()
  return self.current_tcb
end
function Scheduler:queue(packet)
  local t = self.blocks[packet.id + 1]
  if not t then return nil end
  self.queue_count = self.queue_count + 1
  packet.link = nil
  packet.id = self.current_id
  return t:check_priority_add(self.current_tcb, packet)
end

-- Tasks -------------------------------------------------------------------------

IdleTask = class()
function IdleTask.new(scheduler, v1, count)
  return setmetatable({ scheduler = scheduler, v1 = v1, count = count }, IdleTask)
end
function IdleTask:run(packet)
  self.count = self.count - 1
  if self.count == 0 then return self.scheduler:hold_current() end
  if self.v1 % 2 == 0 then
    self.v1 = floor(self.v1 / 2)
    return self.scheduler:release(ID_DEVICE_A)
  end
  self.v1 = xor16(floor(self.v1 / 2), 53256)   -- 0xD008
  return self.scheduler:release(ID_DEVICE_B)
end

DeviceTask = class()
function DeviceTask.new(scheduler)
  return setmetatable({ scheduler = scheduler, v1 = nil }, DeviceTask)
end
function DeviceTask:run(packet)
  if packet == nil then
    if self.v1 == nil then return self.scheduler:suspend_current() end
    local v = self.v1
    self.v1 = nil
    return self.scheduler:queue(v)
  end
  self.v1 = packet
  return self.scheduler:hold_current()
end

WorkerTask = class()
function WorkerTask.new(scheduler, v1, v2)
  return setmetatable({ scheduler = scheduler, v1 = v1, v2 = v2 }, WorkerTask)
end
function WorkerTask:run(packet)
  if packet == nil then return self.scheduler:suspend_current() end
  if self.v1 == ID_HANDLER_A then self.v1 = ID_HANDLER_B else self.v1 = ID_HANDLER_A end
  packet.id = self.v1
  packet.a1 = 0
  for i = 1, DATA_SIZE do
    self.v2 = self.v2 + 1
    if self.v2 > 26 then self.v2 = 1 end
    packet.a2[i] = self.v2
  end
  return self.scheduler:queue(packet)
end

HandlerTask = class()
function HandlerTask.new(scheduler)
  return setmetatable({ scheduler = scheduler, v1 = nil, v2 = nil }, HandlerTask)
end
function HandlerTask:run(packet)
  if packet ~= nil then
    if packet.kind == KIND_WORK then
      self.v1 = packet:add_to(self.v1)
    else
      self.v2 = packet:add_to(self.v2)
    end
  end
  if self.v1 ~= nil then
    local count = self.v1.a1
    if count < DATA_SIZE then
      if self.v2 ~= nil then
        local v = self.v2
        self.v2 = self.v2.link
        v.a1 = self.v1.a2[count + 1]
        self.v1.a1 = count + 1
        return self.scheduler:queue(v)
      end
    else
      local v = self.v1
      self.v1 = self.v1.link
      return self.scheduler:queue(v)
    end
  end
  return self.scheduler:suspend_current()
end

-- Driver ------------------------------------------------------------------------

local function run_richards()
  local s = Scheduler.new()
  s:add_idle_task(ID_IDLE, 0, nil, COUNT)
  local queue = Packet.new(nil, ID_WORKER, KIND_WORK)
  queue = Packet.new(queue, ID_WORKER, KIND_WORK)
  s:add_worker_task(ID_WORKER, 1000, queue)
  queue = Packet.new(nil, ID_DEVICE_A, KIND_DEVICE)
  queue = Packet.new(queue, ID_DEVICE_A, KIND_DEVICE)
  queue = Packet.new(queue, ID_DEVICE_A, KIND_DEVICE)
  s:add_handler_task(ID_HANDLER_A, 2000, queue)
  queue = Packet.new(nil, ID_DEVICE_B, KIND_DEVICE)
  queue = Packet.new(queue, ID_DEVICE_B, KIND_DEVICE)
  queue = Packet.new(queue, ID_DEVICE_B, KIND_DEVICE)
  s:add_handler_task(ID_HANDLER_B, 3000, queue)
  s:add_device_task(ID_DEVICE_A, 4000, nil)
  s:add_device_task(ID_DEVICE_B, 5000, nil)
  s:schedule()
  return s.queue_count, s.hold_count
end

local iterations = tonumber(arg and arg[1]) or 1
local qc, hc
for it = 0, iterations - 1 do
  local t0 = os.clock()
  for k = 1, RUNS_PER_ITERATION do qc, hc = run_richards() end
  io.stderr:write("iteration ", it, " ", string.format("%.9f", os.clock() - t0), "\n")
  if qc ~= EXPECTED_QUEUE_COUNT or hc ~= EXPECTED_HOLD_COUNT then
    print("richards: FAILED: queue count " .. qc .. " hold count " .. hc)
    return
  end
end
print("richards: queue count " .. qc .. " hold count " .. hc .. " ok")
