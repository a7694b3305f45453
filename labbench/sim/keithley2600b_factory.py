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

local function kipulse(fn, smu, volts, bias, level, ton, toff, points)
  if smu == nil then smu = smua end
  need(bias, "bias", fn) need(level, "level", fn) need(ton, "ton", fn) need(toff, "toff", fn)
  need(points, "points", fn)
  local src, t, buf = smu.source, smu.trigger, smu.nvbuffer1
  src.func = volts and smu.OUTPUT_DCVOLTS or smu.OUTPUT_DCAMPS
  if volts then src.levelv = bias else src.leveli = bias end
  buf.clear() buf.appendmode = 1 buf.collecttimestamps = 1 buf.collectsourcevalues = 1
  local levels = {}
  for k = 1, points do levels[k] = level end
  if volts then t.source.listv(levels) else t.source.listi(levels) end
  trigger.timer[1].reset() trigger.timer[2].reset() trigger.timer[3].reset()
  -- timer 1: a pulse every ton + toff, the first at once; timer 2: the measurement, timed to
  -- end with the pulse; timer 3: the end of the pulse
  local tmeas = smu.measure.nplc / localnode.linefreq
  trigger.timer[1].delay = ton + toff trigger.timer[1].count = points > 1 and points - 1 or 1
  trigger.timer[1].passthrough = true trigger.timer[1].stimulus = t.ARMED_EVENT_ID
  trigger.timer[2].delay = math.max(1e-6, ton - tmeas) trigger.timer[2].count = 1
  trigger.timer[2].stimulus = trigger.timer[1].EVENT_ID
  trigger.timer[3].delay = ton trigger.timer[3].count = 1 trigger.timer[3].stimulus = trigger.timer[1].EVENT_ID
  t.arm.count = 1 t.arm.stimulus = 0 t.count = points
  t.source.stimulus = trigger.timer[1].EVENT_ID t.source.action = smu.ENABLE
  t.measure.stimulus = trigger.timer[2].EVENT_ID t.measure.action = smu.ENABLE
  if volts then t.measure.i(buf) else t.measure.v(buf) end
  t.endpulse.stimulus = trigger.timer[3].EVENT_ID t.endpulse.action = smu.SOURCE_IDLE
  src.output = smu.OUTPUT_ON
  t.initiate()
  waitcomplete()
  delay(toff)
end

function PulseVMeasureI(smu, bias, level, ton, toff, points)
  kipulse("PulseVMeasureI", smu, true, bias, level, ton, toff, points)
end

function PulseIMeasureV(smu, bias, level, ton, toff, points)
  kipulse("PulseIMeasureV", smu, false, bias, level, ton, toff, points)
end
"""
