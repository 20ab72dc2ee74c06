// TimeSlider: the instant every view of a replay shows (docs/views.md, "TimeSlider").
//
// The range input moves `t` (at most every 60 ms while dragging, and always the final value).
// Play advances `t` from this clock (t += elapsed * speed, sent every 100 ms) and stops at
// `t1`. If Python moves `t` itself while playing, this clock follows Python's instead of
// adding its own, so the replay never runs at twice the speed.

import { html, viewRoot, bump, save, lifetime, errorBanner } from "./common.js";

const SPEEDS = [1, 2, 5, 10];
const SEND_MS = 60;
const PLAY_SEND_MS = 100;

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : "–");

// Everything one rendered slider holds: its model, its lifetime (listeners, the frame, the
// trailing send), its elements (buildControls) and the time it shows.
function newState(model) {
  return {
    model,
    life: lifetime(),
    t0: 0,
    t1: 0,
    t: 0,
    playing: false,
    speed: 1,
    raf: 0,
    lastSend: -1e9,
    trailing: 0,
    clock: null, // {wall, t} while playing
    pyClock: false,
    dragging: false,
    external: 0,
    sent: [], // recent values of t this view sent
  };
}

// ---------- DOM ----------
function buildControls(st) {
  const { root } = st;
  const play = (st.play = html("button", "gk-play", root, "▶ play"));
  play.type = "button";
  play.setAttribute("aria-label", "play");
  const sliderId = `gk-slider-${Math.random().toString(36).slice(2)}`;
  const lab = html("label", "gk-visually-label", root, "time");
  lab.htmlFor = sliderId;
  const slider = (st.slider = html("input", "gk-slider", root));
  slider.type = "range";
  slider.id = sliderId;
  slider.step = "any"; // a fixed step would snap the end of the trace away
  slider.setAttribute("aria-label", "time");
  const speedLab = html("label", "", root);
  html("span", "", speedLab, "speed");
  st.speedSel = html("select", "gk-speed", speedLab);
  for (const s of SPEEDS) html("option", "", st.speedSel, `${s}×`).value = String(s);
  st.timeText = html("span", "gk-time", root);
  st.timeText.setAttribute("role", "status");
}
function show(st) {
  const { slider, play, t, t0, t1, playing } = st;
  slider.min = String(t0);
  slider.max = String(Math.max(t1, t0));
  if (!st.dragging) slider.value = String(t); // never yank the thumb from under the pointer
  st.timeText.textContent = `+${fmt(t - t0)} s / ${fmt(Math.max(0, t1 - t0))} s`;
  play.textContent = playing ? "❚❚ pause" : "▶ play";
  play.setAttribute("aria-label", playing ? "pause" : "play");
  play.setAttribute("aria-pressed", String(playing));
  if (st.speedSel.value !== String(st.speed)) st.speedSel.value = String(st.speed);
}

// ---------- sending t ----------
function sendT(st) {
  st.lastSend = performance.now();
  clearTimeout(st.trailing);
  st.trailing = 0;
  st.sent.push(st.t);
  if (st.sent.length > 32) st.sent.shift();
  save(st.model, { t: st.t });
}
function sendThrottled(st, ms) {
  const wait = ms - (performance.now() - st.lastSend);
  if (wait <= 0) sendT(st);
  else if (!st.trailing) st.trailing = setTimeout(() => sendT(st), wait);
}

// ---------- the play clock ----------
// The clock starts again from now at the current t (after a jump or a new speed).
function rebase(st) {
  if (st.clock) st.clock = { wall: performance.now(), t: st.t };
}
function setPlaying(st, p) {
  st.playing = p;
  save(st.model, { playing: p });
  if (p) startClock(st);
  else stopClock(st);
  show(st);
}
function startClock(st) {
  if (st.t >= st.t1) st.t = st.t0;
  st.clock = { wall: performance.now(), t: st.t };
  st.pyClock = false;
  st.external = 0;
  if (!st.raf) st.raf = requestAnimationFrame(() => frame(st));
}
function stopClock(st) {
  st.clock = null;
  if (st.raf) cancelAnimationFrame(st.raf);
  st.raf = 0;
}
function frame(st) {
  st.raf = 0;
  if (st.life.dead || !st.playing || !st.clock) return;
  if (!st.pyClock) {
    const now = performance.now();
    st.t = Math.min(st.t1, st.clock.t + ((now - st.clock.wall) / 1000) * st.speed);
    if (st.t >= st.t1) {
      sendT(st);
      setPlaying(st, false);
      return;
    }
    sendThrottled(st, PLAY_SEND_MS);
    show(st);
  }
  st.raf = requestAnimationFrame(() => frame(st));
}

// ---------- the user ----------
function onInput(st) {
  st.t = +st.slider.value;
  rebase(st);
  show(st);
  sendThrottled(st, SEND_MS);
}
function onChange(st) {
  st.t = +st.slider.value;
  sendT(st);
}
function onSpeed(st) {
  st.speed = +st.speedSel.value || 1;
  rebase(st);
  save(st.model, { speed: st.speed });
}
function listenUser(st) {
  const { life, slider } = st;
  const onUp = () => {
    st.dragging = false;
  };
  life.listen(slider, "input", () => onInput(st));
  life.listen(slider, "change", () => onChange(st));
  life.listen(slider, "pointerdown", () => {
    st.dragging = true;
  });
  life.listen(window, "pointerup", onUp);
  life.listen(window, "pointercancel", onUp);
  life.listen(st.play, "click", () => setPlaying(st, !st.playing));
  life.listen(st.speedSel, "change", () => onSpeed(st));
}

// ---------- traits ----------
function readAll(st) {
  const { model } = st;
  st.t0 = +model.get("t0") || 0;
  st.t1 = +model.get("t1") || 0;
  if (st.t1 < st.t0) st.t1 = st.t0;
  const tv = model.get("t");
  st.t = Number.isFinite(+tv) ? +tv : st.t0;
  st.speed = +model.get("speed") || 1;
}
function onT(st) {
  const tv = +st.model.get("t");
  if (!Number.isFinite(tv)) return false;
  const ours = st.sent.some((x) => Math.abs(x - tv) < 1e-9);
  st.t = tv;
  if (!ours && st.playing && st.clock) {
    // Python moved t while we play: follow its clock rather than add ours
    st.external++;
    if (st.external >= 2) st.pyClock = true;
    st.clock = { wall: performance.now(), t: st.t };
  }
  return true;
}
function onPlayingTrait(st) {
  const p = !!st.model.get("playing");
  if (p !== st.playing) {
    st.playing = p;
    if (p) startClock(st);
    else stopClock(st);
  }
}
function onSpeedTrait(st) {
  st.speed = +st.model.get("speed") || 1;
  rebase(st);
}
function listenModel(st) {
  const { life, model } = st;
  // each trait's handler, then what every change does: show it, count an update; `false`
  // from a handler: nothing to show
  const counted = (fn) => () => {
    if (fn(st) === false) return;
    show(st);
    bump(st.root);
  };
  life.listen(model, "change:t0", counted(readAll));
  life.listen(model, "change:t1", counted(readAll));
  life.listen(model, "change:t", counted(onT));
  life.listen(model, "change:playing", counted(onPlayingTrait));
  life.listen(model, "change:speed", counted(onSpeedTrait));
}

function render({ model, el }) {
  const st = newState(model);
  const { life } = st;
  st.root = viewRoot(el, "timeline", "gk-timeline");
  buildControls(st);
  errorBanner(model, st.root, null, life);
  listenModel(st);
  listenUser(st);
  life.later(() => {
    stopClock(st);
    clearTimeout(st.trailing);
  });

  readAll(st);
  st.playing = !!model.get("playing");
  if (st.playing) startClock(st);
  show(st);
  model.send({ type: "hello" });

  return () => {
    life.end();
    st.root.remove();
  };
}

export default { render };
