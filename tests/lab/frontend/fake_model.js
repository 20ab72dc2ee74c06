// A stand-in for the anywidget model, enough to drive a view module without Jupyter.
//
// The view sees the anywidget API: get / set / save_changes / on / off / send. The test
// sees `py`: it sets traits as Python would (`py.set`), delivers custom messages
// (`py.send`), reads what the view sent (`sent`) and which traits it saved (`saves`).

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const clone = (x) => (x === undefined ? undefined : JSON.parse(JSON.stringify(x)));

export class FakeModel {
  constructor(traits = {}) {
    this.traits = clone(traits);
    this.listeners = new Map(); // event -> [callback]
    this.sent = []; // every message the view sent, in order
    this.saves = []; // {name: value} per save_changes()
    this.dirty = {};
    this.onSend = null; // test hook: (msg) => void, e.g. an automatic Python stand-in
  }

  // ---- the anywidget API a view uses ----
  get(name) {
    return this.traits[name];
  }
  set(name, value) {
    const old = this.traits[name];
    this.traits[name] = clone(value);
    this.dirty[name] = clone(value);
    if (!same(old, value)) this._emit(`change:${name}`, [this, value]);
  }
  save_changes() {
    this.saves.push(this.dirty);
    this.dirty = {};
  }
  on(event, cb) {
    if (!this.listeners.has(event)) this.listeners.set(event, []);
    this.listeners.get(event).push(cb);
  }
  off(event, cb) {
    if (event === undefined) return this.listeners.clear();
    if (cb === undefined) return this.listeners.delete(event);
    const l = this.listeners.get(event);
    if (!l) return;
    const i = l.indexOf(cb);
    if (i >= 0) l.splice(i, 1);
    if (!l.length) this.listeners.delete(event);
  }
  send(content, callbacks, buffers) {
    const msg = clone(content);
    this.sent.push(msg);
    if (this.onSend) this.onSend(msg);
  }

  // ---- the Python side, for tests ----
  get py() {
    return {
      set: (name, value) => {
        const old = this.traits[name];
        this.traits[name] = clone(value);
        if (!same(old, value)) this._emit(`change:${name}`, [this, value]);
      },
      send: (msg, buffers = []) => this._emit("msg:custom", [clone(msg), buffers]),
    };
  }
  listenerCount() {
    let n = 0;
    for (const l of this.listeners.values()) n += l.length;
    return n;
  }
  _emit(event, args) {
    for (const cb of [...(this.listeners.get(event) || [])]) cb(...args);
  }
}
