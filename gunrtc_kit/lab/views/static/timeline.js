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

function render({ model, el }) {
  const life = lifetime();
  const root = viewRoot(el, "timeline", "gk-timeline");
  const play = html("button", "gk-play", root, "▶ play");
  play.type = "button";
  play.setAttribute("aria-label", "play");
  const sliderId = `gk-slider-${Math.random().toString(36).slice(2)}`;
  const lab = html("label", "gk-visually-label", root, "time");
  lab.htmlFor = sliderId;
  const slider = html("input", "gk-slider", root);
  slider.type = "range";
  slider.id = sliderId;
  slider.step = "any"; // a fixed step would snap the end of the trace away
  slider.setAttribute("aria-label", "time");
  const speedLab = html("label", "", root);
  html("span", "", speedLab, "speed");
  const speedSel = html("select", "gk-speed", speedLab);
  for (const s of SPEEDS) html("option", "", speedSel, `${s}×`).value = String(s);
  const timeText = html("span", "gk-time", root);
  timeText.setAttribute("role", "status");
  errorBanner(model, root, null, life);

  let t0 = 0;
  let t1 = 0;
  let t = 0;
  let playing = false;
  let speed = 1;
  let raf = 0;
  let lastSend = -1e9;
  let trailing = 0;
  let clock = null; // {wall, t} while playing
  let pyClock = false;
  let dragging = false;
  let external = 0;
  const sent = []; // recent values of t this view sent

  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : "–");

  function show() {
    slider.min = String(t0);
    slider.max = String(Math.max(t1, t0));
    if (!dragging) slider.value = String(t); // never yank the thumb from under the pointer
    timeText.textContent = `+${fmt(t - t0)} s / ${fmt(Math.max(0, t1 - t0))} s`;
    play.textContent = playing ? "❚❚ pause" : "▶ play";
    play.setAttribute("aria-label", playing ? "pause" : "play");
    play.setAttribute("aria-pressed", String(playing));
    if (speedSel.value !== String(speed)) speedSel.value = String(speed);
  }
  function sendT() {
    lastSend = performance.now();
    clearTimeout(trailing);
    trailing = 0;
    sent.push(t);
    if (sent.length > 32) sent.shift();
    save(model, { t });
  }
  function sendThrottled(ms) {
    const wait = ms - (performance.now() - lastSend);
    if (wait <= 0) sendT();
    else if (!trailing) trailing = setTimeout(sendT, wait);
  }
  function setPlaying(p) {
    playing = p;
    save(model, { playing: p });
    if (p) startClock();
    else stopClock();
    show();
  }
  function startClock() {
    if (t >= t1) t = t0;
    clock = { wall: performance.now(), t };
    pyClock = false;
    external = 0;
    if (!raf) raf = requestAnimationFrame(frame);
  }
  function stopClock() {
    clock = null;
    if (raf) cancelAnimationFrame(raf);
    raf = 0;
  }
  function frame() {
    raf = 0;
    if (life.dead || !playing || !clock) return;
    if (!pyClock) {
      const now = performance.now();
      t = Math.min(t1, clock.t + ((now - clock.wall) / 1000) * speed);
      if (t >= t1) {
        sendT();
        setPlaying(false);
        return;
      }
      sendThrottled(PLAY_SEND_MS);
      show();
    }
    raf = requestAnimationFrame(frame);
  }

  const onInput = () => {
    t = +slider.value;
    if (clock) clock = { wall: performance.now(), t };
    show();
    sendThrottled(SEND_MS);
  };
  const onChange = () => {
    t = +slider.value;
    sendT();
  };
  const onDown = () => {
    dragging = true;
  };
  const onUp = () => {
    dragging = false;
  };
  const onPlay = () => setPlaying(!playing);
  const onSpeed = () => {
    speed = +speedSel.value || 1;
    if (clock) clock = { wall: performance.now(), t };
    save(model, { speed });
  };

  function readAll() {
    t0 = +model.get("t0") || 0;
    t1 = +model.get("t1") || 0;
    if (t1 < t0) t1 = t0;
    const tv = model.get("t");
    t = Number.isFinite(+tv) ? +tv : t0;
    speed = +model.get("speed") || 1;
  }
  const onRange = () => {
    readAll();
    show();
    bump(root);
  };
  const onT = () => {
    const tv = +model.get("t");
    if (!Number.isFinite(tv)) return;
    const ours = sent.some((x) => Math.abs(x - tv) < 1e-9);
    t = tv;
    if (!ours && playing && clock) {
      // Python moved t while we play: follow its clock rather than add ours
      external++;
      if (external >= 2) pyClock = true;
      clock = { wall: performance.now(), t };
    }
    show();
    bump(root);
  };
  const onPlayingTrait = () => {
    const p = !!model.get("playing");
    if (p !== playing) {
      playing = p;
      if (p) startClock();
      else stopClock();
    }
    show();
    bump(root);
  };
  const onSpeedTrait = () => {
    speed = +model.get("speed") || 1;
    if (clock) clock = { wall: performance.now(), t };
    show();
    bump(root);
  };
  life.listen(model, "change:t0", onRange);
  life.listen(model, "change:t1", onRange);
  life.listen(model, "change:t", onT);
  life.listen(model, "change:playing", onPlayingTrait);
  life.listen(model, "change:speed", onSpeedTrait);
  life.listen(slider, "input", onInput);
  life.listen(slider, "change", onChange);
  life.listen(slider, "pointerdown", onDown);
  life.listen(window, "pointerup", onUp);
  life.listen(window, "pointercancel", onUp);
  life.listen(play, "click", onPlay);
  life.listen(speedSel, "change", onSpeed);
  life.later(() => {
    stopClock();
    clearTimeout(trailing);
  });

  readAll();
  playing = !!model.get("playing");
  if (playing) startClock();
  show();
  model.send({ type: "hello" });

  return () => {
    life.end();
    root.remove();
  };
}

export default { render };
