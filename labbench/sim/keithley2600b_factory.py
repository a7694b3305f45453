"""The 2600B's factory scripts that pulse-and-measure work calls: KISweep's six sweeps and
KIPulse's simple pulse trains, written here on the simulated trigger model, from what the
reference manual documents of them (parameters, what each point does, where the data go).

- ``SweepVLinMeasureI(smu, startv, stopv, stime, points)``, ``SweepVLogMeasureI``,
  ``SweepVListMeasureI(smu, vlist, stime, points)`` and the current-sourcing
  ``SweepILinMeasureV``, ``SweepILogMeasureV``, ``SweepIListMeasureV``: each point sources
  its level, waits ``stime`` and measures; readings, source values and timestamps go to
  ``smu.nvbuffer1``; the output is on for the sweep and off after it; the source settings
  are restored.
- ``PulseVMeasureI(smu, bias, level, ton, toff, points)`` and ``PulseIMeasureV``: ``points``
  pulses of ``level`` for ``ton`` from ``bias``, each measured at its end, ``toff`` at the
  bias between them; readings to ``smu.nvbuffer1``; the output stays on, at the bias.

On the instrument a missing parameter is asked for on the front panel; the simulation has
none, so it is an error.  Every level passes the instrument's interlock (the bench limits).
They are Lua, like the instrument's: a script may call or redefine them.
"""

FACTORY_SCRIPTS = r"""
local function need(v, name, fn)
  if v == nil then error(fn .. ": " .. name .. " is missing (the front-panel prompt is not simulated)", 3) end
  return v
end

local function kisweep(fn, smu, volts, configure, stime, points)
  if smu == nil then smu = smua end
  need(stime, "stime", fn) need(points, "points", fn)
  local src = smu.source
  local saved = {func = src.func, levelv = src.levelv, leveli = src.leveli, autozero = smu.measure.autozero}
  src.output = smu.OUTPUT_OFF
  src.func = volts and smu.OUTPUT_DCVOLTS or smu.OUTPUT_DCAMPS
  if volts then src.levelv = 0 else src.leveli = 0 end
  smu.measure.autozero = smu.AUTOZERO_OFF
  local buf = smu.nvbuffer1
  buf.clear() buf.appendmode = 1 buf.collecttimestamps = 1 buf.collectsourcevalues = 1
  local t = smu.trigger
  t.arm.stimulus = 0 t.source.stimulus = 0 t.measure.stimulus = 0 t.endpulse.stimulus = 0 t.arm.count = 1
  configure(t.source)
  t.source.action = smu.ENABLE
  t.endpulse.action = smu.SOURCE_HOLD
  if volts then t.measure.i(buf) else t.measure.v(buf) end
  t.measure.action = smu.ENABLE
  if stime > 0 then
    trigger.timer[1].reset()
    trigger.timer[1].delay = stime
    trigger.timer[1].stimulus = t.SOURCE_COMPLETE_EVENT_ID
    t.measure.stimulus = trigger.timer[1].EVENT_ID
  end
  t.count = points
  src.output = smu.OUTPUT_ON
  t.initiate()
  waitcomplete()
  src.output = smu.OUTPUT_OFF
  src.func = saved.func
  if volts then src.levelv = saved.levelv else src.leveli = saved.leveli end
  smu.measure.autozero = saved.autozero
end

-- the six sweeps: name, volts (else amps), the sweep function and whether it takes a list
for _, spec in ipairs({
  {"SweepVLinMeasureI", true, "linearv"}, {"SweepVLogMeasureI", true, "logv"},
  {"SweepVListMeasureI", true, "listv", true}, {"SweepILinMeasureV", false, "lineari"},
  {"SweepILogMeasureV", false, "logi"}, {"SweepIListMeasureV", false, "listi", true}}) do
  local fn, volts, sweep, list = spec[1], spec[2], spec[3], spec[4]
  if list then
    _G[fn] = function(smu, values, stime, points)
      need(values, volts and "vlist" or "ilist", fn)
      kisweep(fn, smu, volts, function(s) s[sweep](values) end, stime, points)
    end
  else
    _G[fn] = function(smu, start, stop, stime, points)
      local unit = volts and "v" or "i"
      need(start, "start" .. unit, fn) need(stop, "stop" .. unit, fn)
      kisweep(fn, smu, volts, function(s)
        if sweep:sub(1, 3) == "log" then s[sweep](start, stop, points, 0) else s[sweep](start, stop, points) end
      end, stime, points)
    end
  end
end

-- a timed pulse train on the trigger model: levels[k] for ton from bias, measured at the end
-- of ton into buf (none if buf is nil), toff at the bias between pulses; wait: seconds
-- before each pulse (a sync_in trigger that does not come)
local function train(smu, volts, bias, levels, ton, toff, buf, wait)
  local src, t, points = smu.source, smu.trigger, #levels
  src.func = volts and smu.OUTPUT_DCVOLTS or smu.OUTPUT_DCAMPS
  if volts then src.levelv = bias else src.leveli = bias end
  if volts then t.source.listv(levels) else t.source.listi(levels) end
  trigger.timer[1].reset() trigger.timer[2].reset() trigger.timer[3].reset()
  -- timer 1: a pulse every ton + toff (+ wait), the first at once; timer 2: the measurement,
  -- timed to end with the pulse; timer 3: the end of the pulse
  local tmeas = smu.measure.nplc / localnode.linefreq
  trigger.timer[1].delay = ton + toff + wait trigger.timer[1].count = points > 1 and points - 1 or 1
  trigger.timer[1].passthrough = true trigger.timer[1].stimulus = t.ARMED_EVENT_ID
  trigger.timer[2].delay = math.max(1e-6, ton - tmeas) trigger.timer[2].count = 1
  trigger.timer[2].stimulus = trigger.timer[1].EVENT_ID
  trigger.timer[3].delay = ton trigger.timer[3].count = 1 trigger.timer[3].stimulus = trigger.timer[1].EVENT_ID
  t.arm.count = 1 t.arm.stimulus = 0 t.count = points
  t.source.stimulus = trigger.timer[1].EVENT_ID t.source.action = smu.ENABLE
  t.measure.stimulus = trigger.timer[2].EVENT_ID
  t.measure.action = buf ~= nil and smu.ENABLE or smu.DISABLE
  if buf ~= nil then if volts then t.measure.i(buf) else t.measure.v(buf) end end
  t.endpulse.stimulus = trigger.timer[3].EVENT_ID t.endpulse.action = smu.SOURCE_IDLE
  src.output = smu.OUTPUT_ON
  if wait > 0 then delay(wait) end
  t.initiate()
  waitcomplete()
  delay(toff)
end

local function kipulse(fn, smu, volts, bias, level, ton, toff, points)
  if smu == nil then smu = smua end
  need(bias, "bias", fn) need(level, "level", fn) need(ton, "ton", fn) need(toff, "toff", fn)
  need(points, "points", fn)
  local buf = smu.nvbuffer1
  buf.clear() buf.appendmode = 1 buf.collecttimestamps = 1 buf.collectsourcevalues = 1
  local levels = {}
  for k = 1, points do levels[k] = level end
  train(smu, volts, bias, levels, ton, toff, buf, 0)
end

function PulseVMeasureI(smu, bias, level, ton, toff, points)
  kipulse("PulseVMeasureI", smu, true, bias, level, ton, toff, points)
end

function PulseIMeasureV(smu, bias, level, ton, toff, points)
  kipulse("PulseIMeasureV", smu, false, bias, level, ton, toff, points)
end

-- KIPulse's configured trains: ConfigPulse* check the pulse dimensions and keep the train
-- under a tag (true, message) or say what cannot be done (false, message); nothing is
-- sourced until InitiatePulseTest(tag).
local pulses = {}

local function finite(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

local function smu_name(smu)
  if smu == smua then return "smua" elseif smu == smub then return "smub" end
end

local function is_buffer(b)
  return b == smua.nvbuffer1 or b == smua.nvbuffer2 or b == smub.nvbuffer1 or b == smub.nvbuffer2
end

local function config(fn, kind, volts, smu, bias, a, b, limit, ton, toff, points, buffer, tag,
                      sync_in, sync_out, sync_in_timeout, sync_in_abort)
  local function bad(msg) return false, fn .. ": " .. msg end
  local name = smu_name(smu)
  if name == nil then return bad("smu must be smua or smub") end
  for _, p in ipairs({{bias, "bias"}, {a, kind == "pulse" and "level" or "start"}, {limit, "limit"},
                      {ton, "ton"}, {toff, "toff"}, {points, "points"}, {tag, "tag"}}) do
    if p[1] == nil then return bad(p[2] .. " is missing") end
    if not finite(p[1]) then return bad(p[2] .. " must be a number") end
  end
  if kind ~= "pulse" and not finite(b) then return bad("stop must be a number") end
  if points < 1 or points > 60000 or points ~= math.floor(points) then return bad("points must be 1 to 60000") end
  if ton < 1e-6 or ton > 1e5 then return bad("ton must be 1e-6 to 100000 s") end
  if toff < 0 or toff > 1e5 then return bad("toff must be 0 to 100000 s") end
  local lo, hi, top = volts and 100e-12 or 20e-3, volts and 1.5 or 200, volts and 202 or 1.515
  if limit < lo or limit > hi then return bad("limit must be " .. lo .. " to " .. hi) end
  if buffer ~= nil and not is_buffer(buffer) then return bad("buffer must be a reading buffer or nil") end
  if buffer ~= nil and smu.measure.nplc / localnode.linefreq > ton then
    return bad("ton is shorter than one measurement (measure.nplc / localnode.linefreq)")
  end
  local levels = {}
  if kind == "log" and (a == 0 or b == 0 or (a > 0) ~= (b > 0)) then
    return bad("a log sweep's start and stop must be non-zero and of one sign")
  end
  for k = 1, points do
    local x = a
    if kind == "lin" and points > 1 then x = a + (b - a) * (k - 1) / (points - 1) end
    if kind == "log" and points > 1 then x = a * 10 ^ ((k - 1) * (math.log(b / a, 10)) / (points - 1)) end
    levels[k] = x
  end
  for _, x in ipairs({bias, table.unpack(levels)}) do
    if math.abs(x) > top then return bad("level " .. x .. " outside the source range") end
    -- the DC operating area (the extended area's pulse regions are not simulated)
    if volts and math.abs(x) > 20 and limit > 0.1 or not volts and math.abs(x) > 0.1 and limit > 20 then
      return bad("level " .. x .. " with limit " .. limit .. " is outside the operating area")
    end
  end
  for _, line in ipairs({{sync_in, "sync_in"}, {sync_out, "sync_out"}}) do
    local v = line[1]
    if v ~= nil and (not finite(v) or v < 0 or v > 14 or v ~= math.floor(v)) then
      return bad(line[2] .. " must be a digital I/O line 1 to 14 (0 or nil: none)")
    end
  end
  if sync_in_timeout ~= nil and (not finite(sync_in_timeout) or sync_in_timeout < 0) then
    return bad("sync_in_timeout must be a time in seconds")
  end
  pulses[tag] = {tag = tag, smu = smu, smuname = name, volts = volts, kind = kind, bias = bias, a = a, b = b,
                 limit = limit, ton = ton, toff = toff, points = points, buffer = buffer, levels = levels,
                 sync_in = sync_in or 0, sync_out = sync_out or 0, sync_in_timeout = sync_in_timeout or 10,
                 sync_in_abort = sync_in_abort and true or false}
  return true, "Pulse train configured, tag " .. tag
end

function ConfigPulseVMeasureI(smu, bias, level, limit, ton, toff, points, buffer, tag, ...)
  return config("ConfigPulseVMeasureI", "pulse", true, smu, bias, level, nil, limit, ton, toff, points, buffer, tag, ...)
end

function ConfigPulseIMeasureV(smu, bias, level, limit, ton, toff, points, buffer, tag, ...)
  return config("ConfigPulseIMeasureV", "pulse", false, smu, bias, level, nil, limit, ton, toff, points, buffer, tag,
                ...)
end

for _, spec in ipairs({{"ConfigPulseVMeasureISweepLin", "lin", true}, {"ConfigPulseIMeasureVSweepLin", "lin", false},
                       {"ConfigPulseVMeasureISweepLog", "log", true}, {"ConfigPulseIMeasureVSweepLog", "log", false}}) do
  local fn, kind, volts = spec[1], spec[2], spec[3]
  _G[fn] = function(smu, bias, start, stop, limit, ton, toff, points, buffer, tag, ...)
    return config(fn, kind, volts, smu, bias, start, stop, limit, ton, toff, points, buffer, tag, ...)
  end
end

function InitiatePulseTest(tag)
  if not finite(tag) then return false, "InitiatePulseTest: tag must be a number" end
  local c = pulses[tag]
  if c == nil then return false, "InitiatePulseTest: no pulse train is configured with tag " .. tag end
  local smu = c.smu
  if c.volts then smu.source.limiti = c.limit else smu.source.limitv = c.limit end
  local wait = 0
  if c.sync_in ~= 0 then
    -- no digital I/O trigger comes in a simulation: each pulse waits its sync_in_timeout
    if c.sync_in_abort then
      delay(c.sync_in_timeout)
      return false, "InitiatePulseTest: timer timeout waiting for the trigger on digital I/O line " .. c.sync_in
    end
    wait = c.sync_in_timeout
  end
  train(smu, c.volts, c.bias, c.levels, c.ton, c.toff, c.buffer, wait)
  return true, "Pulse train complete, tag " .. tostring(tag)
end

function QueryPulseConfig(tag)
  local c = pulses[tag]
  if c == nil then return nil end
  local q = {tag = c.tag, smu = c.smuname, func = c.volts and "volts" or "amps",
             type = c.kind == "pulse" and "pulse" or ("sweep " .. c.kind), bias = c.bias, limit = c.limit,
             ton = c.ton, toff = c.toff, points = c.points, measure = c.buffer ~= nil and "yes" or "no",
             sync_in = c.sync_in, sync_out = c.sync_out, sync_in_timeout = c.sync_in_timeout,
             sync_in_abort = c.sync_in_abort and 1 or 0, levels = {table.unpack(c.levels)}}
  if c.kind == "pulse" then q.level = c.a else q.start, q.stop = c.a, c.b end
  q.tostring = function()
    local lines = {"tag = " .. tostring(q.tag), "smu = " .. q.smu, "func = " .. q.func, "type = " .. q.type,
                   "bias = " .. tostring(q.bias)}
    if q.level ~= nil then lines[#lines + 1] = "level = " .. tostring(q.level)
    else lines[#lines + 1] = "start = " .. tostring(q.start) lines[#lines + 1] = "stop = " .. tostring(q.stop) end
    for _, kv in ipairs({{"limit", q.limit}, {"time on", q.ton}, {"time off", q.toff}, {"points", q.points},
                         {"measure", q.measure}, {"sync_in", q.sync_in}, {"sync_out", q.sync_out},
                         {"sync_in_timeout", q.sync_in_timeout}, {"sync_in_abort", q.sync_in_abort}}) do
      lines[#lines + 1] = kv[1] .. " = " .. tostring(kv[2])
    end
    local shown = {}
    for k, x in ipairs(q.levels) do if k > 20 then shown[#shown + 1] = "..." break end shown[#shown + 1] = tostring(x) end
    lines[#lines + 1] = "{ " .. table.concat(shown, ", ") .. " }"
    return table.concat(lines, "\n")
  end
  return q
end
"""
