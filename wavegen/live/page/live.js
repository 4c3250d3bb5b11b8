// wavegen live: the page. Connects the websocket, feeds the AudioWorklet, sends the controls.
// Everything the page measures is also in window.wavegenLive (read by the browser test).
"use strict";

const $ = (id) => document.getElementById(id);
const SETTINGS = ["temperature", "top_p", "guidance"];
const SEND_EVERY_MS = 40; // at most one controls message per 40 ms while a slider moves
const HEADER_BYTES = 16;

const live = window.wavegenLive = {
  connected: false, take: null, seed: null, rate: null, played: 0, underruns: 0, starved: 0,
  latencies: [], maxLatency: 0, errors: [], speeds: [], stats: null, recording: null,
};
const MAX_KEPT = 10000; // latencies and speeds kept for the status and the tests
let ws = null;
let ctx = null;
let node = null;
let hello = null;
let chunks = []; // Int16Array chunks of the current take, in order
let nextId = 1;
let pending = {}; // controls waiting to be sent
let sendTimer = null;
let paused = false;
let errorId = null; // the refused controls message whose error is shown

function showError(message) {
  $("error").textContent = message;
  live.errors.push(message);
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

function flushControls() {
  sendTimer = null;
  if (Object.keys(pending).length === 0) return;
  send({type: "controls", id: nextId++, ...pending});
  pending = {};
}

function queueControl(name, value) {
  pending[name] = value;
  if (sendTimer === null) sendTimer = setTimeout(flushControls, SEND_EVERY_MS);
}

function weights() {
  const out = {};
  for (const input of $("labels").querySelectorAll("input")) {
    out[input.dataset.label] = input.type === "checkbox" ? (input.checked ? 1 : 0)
                                                         : Number(input.value);
  }
  return out;
}

function buildControls(msg) {
  const tags = msg.label_kind === "utt2tags";
  $("labels-title").textContent = tags ? "Tags" : "Genre mix";
  $("labels-hint").textContent = tags ? "The chosen tags condition the model together."
    : "Weights are relative: each genre counts its weight over their sum.";
  const box = $("labels");
  box.replaceChildren();
  for (const label of msg.labels) {
    const name = document.createElement("label");
    name.textContent = label;
    const input = document.createElement("input");
    input.dataset.label = label;
    input.id = "w-" + label;
    name.htmlFor = input.id;
    const out = document.createElement("output");
    if (tags) {
      input.type = "checkbox";
    } else {
      input.type = "range"; input.min = "0"; input.max = "1"; input.step = "0.01";
    }
    input.addEventListener("input", () => {
      out.textContent = tags ? "" : Number(input.value).toFixed(2);
      queueControl("weights", weights());
    });
    box.append(name, input, out);
  }
  for (const name of SETTINGS) {
    const input = $(name);
    input.oninput = () => {
      $(name + "-value").textContent = Number(input.value).toFixed(2);
      queueControl(name, Number(input.value));
    };
  }
  $("guidance").disabled = !msg.guided;
  $("controls").hidden = false;
}

function showControls(controls) {
  for (const input of $("labels").querySelectorAll("input")) {
    const w = controls.weights[input.dataset.label] || 0;
    if (input.type === "checkbox") input.checked = w > 0;
    else { input.value = String(w); input.nextElementSibling.textContent = w.toFixed(2); }
  }
  for (const name of SETTINGS) {
    $(name).value = String(controls[name]);
    $(name + "-value").textContent = Number(controls[name]).toFixed(2);
  }
}

function startTake(msg) {
  $("error").textContent = "";
  errorId = null;
  live.take = msg.take;
  live.seed = msg.seed;
  live.played = 0;
  chunks = [];
  $("recording").hidden = true;
  if (node) node.port.postMessage({type: "take", take: msg.take});
  showControls(msg.controls);
}

function onAudio(data) {
  const view = new DataView(data);
  const take = view.getUint32(0, true);
  const n = view.getUint32(4, true);
  const start = view.getFloat64(8, true);
  if (take !== live.take || data.byteLength !== HEADER_BYTES + 2 * n) return;
  const pcm = new Int16Array(data.slice(HEADER_BYTES));
  chunks.push(pcm);
  if (node) toWorklet(take, start, pcm);
}

function toWorklet(take, start, pcm) {
  const copy = pcm.slice();
  node.port.postMessage({type: "chunk", take, start, pcm: copy}, [copy.buffer]);
}

function onEvent(msg) {
  if (msg.type === "take") startTake(msg);
  else if (msg.type === "applied") {
    if (msg.take !== live.take) return;
    live.latencies.push(msg.latency_ms);
    if (live.latencies.length > MAX_KEPT) live.latencies.shift();
    live.maxLatency = Math.max(live.maxLatency, msg.latency_ms);
    if (errorId !== null && msg.id > errorId) { // a later change went through
      $("error").textContent = "";
      errorId = null;
    }
  } else if (msg.type === "stats") {
    live.stats = msg;
    if (msg.speed !== null) live.speeds.push(msg.speed);
    if (live.speeds.length > MAX_KEPT) live.speeds.shift();
    showStatus();
  } else if (msg.type === "recording") saveRecording(msg);
  else if (msg.type === "error") {
    showError(msg.message);
    errorId = msg.id === undefined ? null : msg.id;
    if (msg.fatal) setEnabled(false);
  }
}

function showStatus() {
  const s = live.stats;
  const last = live.latencies.length ? live.latencies[live.latencies.length - 1] : null;
  const max = live.maxLatency;
  const parts = [
    `take ${live.take} (seed ${live.seed})`,
    `${(live.played / live.rate).toFixed(1)} s played`,
    s && s.speed !== null ? `generating at ${s.speed.toFixed(2)}x real time` : "waiting",
    s ? `${Math.round(s.lead_ms)} ms ahead` : "",
    last !== null ? `control → sound ${Math.round(last)} ms (max ${Math.round(max)} ms)` : "",
    `underruns ${live.underruns}`,
  ];
  $("status").textContent = parts.filter(Boolean).join(" · ");
}

function setEnabled(on) {
  for (const id of ["pause", "new-take", "save"]) $(id).disabled = !on;
  for (const input of $("controls").querySelectorAll("input")) {
    input.disabled = !on || (input.id === "guidance" && !(hello && hello.guided));
  }
}

function wavBlob(samples, rate) {
  const out = new DataView(new ArrayBuffer(44 + 2 * samples));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) out.setUint8(at + i, s.charCodeAt(i)); };
  text(0, "RIFF"); out.setUint32(4, 36 + 2 * samples, true); text(8, "WAVE");
  text(12, "fmt "); out.setUint32(16, 16, true); out.setUint16(20, 1, true);
  out.setUint16(22, 1, true); out.setUint32(24, rate, true); out.setUint32(28, 2 * rate, true);
  out.setUint16(32, 2, true); out.setUint16(34, 16, true);
  text(36, "data"); out.setUint32(40, 2 * samples, true);
  let at = 44;
  let left = samples;
  for (const c of chunks) {
    const n = Math.min(c.length, left);
    for (let i = 0; i < n; i++, at += 2) out.setInt16(at, c[i], true);
    left -= n;
    if (left === 0) break;
  }
  return new Blob([out.buffer], {type: "audio/wav"});
}

function saveRecording(msg) {
  if (msg.take !== live.take) return;
  const base = `wavegen-live-take${msg.take}-seed${msg.seed}`;
  const wav = $("wav-link");
  const json = $("json-link");
  const plan = $("plan-link");
  for (const a of [wav, json, plan]) if (a.href) URL.revokeObjectURL(a.href);
  wav.href = URL.createObjectURL(wavBlob(msg.samples, live.rate));
  wav.download = base + ".wav";
  wav.textContent = `${base}.wav (${msg.seconds.toFixed(2)} s)`;
  json.href = URL.createObjectURL(new Blob([JSON.stringify(msg.automation, null, 1)],
                                           {type: "application/json"}));
  json.download = base + ".json";
  json.textContent = base + ".json";
  // A two-level model's take: the plan its planner wrote, which the render takes as given.
  plan.hidden = !msg.plan;
  plan.removeAttribute("href");
  let planFlag = "";
  if (msg.plan) {
    plan.href = URL.createObjectURL(new Blob([JSON.stringify(msg.plan)],
                                             {type: "application/json"}));
    plan.download = base + ".plan.json";
    plan.textContent = base + ".plan.json";
    planFlag = ` --plan ${base}.plan.json`;
  }
  const flags = msg.flags ? " " + msg.flags : "";
  $("command").textContent = `wavegen synth --automation ${base}.json${planFlag} ` +
    `--seed ${msg.seed} --duration ${msg.seconds} --out ${base}-render.wav${flags}`;
  $("recording").hidden = false;
  live.recording = {base, samples: msg.samples, seed: msg.seed, seconds: msg.seconds,
                    automation: msg.automation, command: $("command").textContent};
}

async function play() {
  $("play").disabled = true;
  $("error").textContent = "";
  ws = new WebSocket(`ws://${location.host}/ws`);
  ws.binaryType = "arraybuffer";
  ws.onmessage = async (e) => {
    if (typeof e.data !== "string") { onAudio(e.data); return; }
    const msg = JSON.parse(e.data);
    if (msg.type === "hello") {
      hello = msg;
      live.rate = msg.rate;
      buildControls(msg);
      startTake(msg); // audio arriving while the worklet loads is kept in chunks
      let worklet;
      try {
        ctx = new AudioContext({sampleRate: msg.rate, latencyHint: "interactive"});
        await ctx.audioWorklet.addModule("/static/worklet.js");
        worklet = new AudioWorkletNode(ctx, "wavegen-player", {
          numberOfInputs: 0, outputChannelCount: [1],
          processorOptions: {prebufferSeconds: 0.6 * msg.lead_ms / 1000}});
        worklet.port.onmessage = (m) => onPlayed(m.data);
        worklet.connect(ctx.destination);
        await ctx.resume();
      } catch (err) {
        showError(`this browser could not start audio at ${msg.rate} Hz (${err}); ` +
                  "try a current Chrome, Edge or Firefox");
        ws.close();
        return;
      }
      node = worklet;
      node.port.postMessage({type: "take", take: live.take});
      let start = 0;
      for (const pcm of chunks) { toWorklet(live.take, start, pcm); start += pcm.length; }
      live.connected = true;
      setEnabled(true);
    } else {
      onEvent(msg);
    }
  };
  ws.onclose = (e) => {
    live.connected = false;
    setEnabled(false);
    if (!$("error").textContent) {
      showError(`disconnected from the server (${e.code}${e.reason ? ": " + e.reason : ""}); ` +
                "reload the page to play again");
    }
  };
}

function onPlayed(m) {
  if (m.take !== live.take) return;
  live.played = m.played;
  live.underruns = m.underruns;
  live.starved = m.starved;
  live.underrunAt = m.underrunAt;
  send({type: "played", take: m.take, samples: m.played, playing: m.playing});
}

document.addEventListener("DOMContentLoaded", () => {
  $("play").onclick = play;
  $("pause").onclick = () => {
    paused = !paused;
    $("pause").textContent = paused ? "Resume" : "Pause";
    node.port.postMessage({type: "pause", paused});
    send({type: "pause", paused});
  };
  $("new-take").onclick = () => {
    const text = $("seed").value.trim();
    send({type: "seed", seed: text === "" ? null : Number(text)});
  };
  $("save").onclick = () => send({type: "record", take: live.take, samples: live.played});
});
