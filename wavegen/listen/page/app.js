// The listening-test page: fetch the test, start or resume a session, run the trials in the
// listener's order and send each answer the moment it is complete.
"use strict";

const $ = (id) => document.getElementById(id);
const MOS_LABELS = ["Bad", "Poor", "Fair", "Good", "Excellent"];
const MUSHRA_BANDS = ["Bad", "Poor", "Fair", "Good", "Excellent"];

const state = { test: null, listener: "", queue: [], total: 0, answered: 0 };
let trialUi = null;   // { trial, players: Map(key -> player), answer(), complete() }

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
  return data;
}

function shuffled(items) {
  const a = items.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function showError(err) { $("error").textContent = err ? String(err.message || err) : ""; }

// A play/stop button for one stimulus. It counts as played once it has played to the end.
function makePlayer(key, label, onChange) {
  const audio = new Audio(`/stimuli/${key}.wav`);
  audio.preload = "auto";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "play";
  button.textContent = label;
  button.dataset.key = key;
  const player = { key, audio, button, played: false };
  button.addEventListener("click", () => {
    const playing = !audio.paused;
    stopAll();
    if (!playing) {
      audio.currentTime = 0;
      audio.play().catch(showError);
    }
  });
  audio.addEventListener("play", () => button.classList.add("playing"));
  audio.addEventListener("pause", () => button.classList.remove("playing"));
  audio.addEventListener("ended", () => {
    button.classList.remove("playing");
    player.played = true;
    button.classList.add("played");
    button.dataset.played = "true";
    onChange();
  });
  return player;
}

function stopAll() {
  if (!trialUi) return;
  for (const p of trialUi.players.values()) {
    if (!p.audio.paused) p.audio.pause();
  }
}

function row(className, player, control, value) {
  const div = document.createElement("div");
  div.className = `item ${className}`;
  div.append(player.button, control || document.createElement("span"),
             value || document.createElement("span"));
  return div;
}

function choiceGroup(name, options) {
  const box = document.createElement("div");
  box.className = "choices";
  for (const [value, label] of options) {
    const lab = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = value;
    lab.append(input, ` ${label}`);
    box.append(lab);
  }
  return box;
}

function checkedValue(name) {
  const el = document.querySelector(`input[name="${name}"]:checked`);
  return el ? el.value : null;
}

// Build the controls of one trial; returns the ui object described above.
function renderTrial(trial) {
  const type = state.test.type;
  const items = $("items");
  items.replaceChildren();
  const players = new Map();
  const update = () => refreshSubmit();
  const add = (key, label) => {
    const p = makePlayer(key, label, update);
    players.set(key, p);
    return p;
  };
  if (type === "mushra") {
    items.append(row("reference", add(trial.reference, "Reference")));
    const sliders = new Map();
    shuffled(trial.stimuli).forEach((key, i) => {
      const slider = document.createElement("input");
      slider.type = "range";
      slider.min = "0"; slider.max = "100"; slider.step = "1"; slider.value = "50";
      slider.dataset.key = key;
      slider.setAttribute("aria-label", `score of sample ${i + 1}`);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = "-";
      slider.addEventListener("input", () => {
        slider.dataset.moved = "true";
        value.textContent = slider.value;
        update();
      });
      sliders.set(key, slider);
      items.append(row("stimulus", add(key, `Sample ${i + 1}`), slider, value));
    });
    const bands = document.createElement("div");
    bands.className = "bands";
    for (const b of MUSHRA_BANDS) bands.append(Object.assign(document.createElement("span"), { textContent: b }));
    items.append(bands);
    return {
      trial, players,
      complete: () => [...sliders.values()].every((s) => s.dataset.moved === "true"),
      answer: () => ({ ratings: Object.fromEntries(
        [...sliders].map(([key, s]) => [key, parseInt(s.value, 10)])) }),
    };
  }
  if (type === "ab") {
    const [a, b] = shuffled(trial.stimuli);
    items.append(row("stimulus", add(a, "Play A")), row("stimulus", add(b, "Play B")));
    const group = choiceGroup("choice", [[a, "I prefer A"], [b, "I prefer B"]]);
    group.addEventListener("change", update);
    items.append(group);
    return { trial, players, complete: () => checkedValue("choice") !== null,
             answer: () => ({ choice: checkedValue("choice") }) };
  }
  const key = trial.stimuli[0];
  items.append(row("stimulus", add(key, "Play")));
  const options = type === "mos"
    ? MOS_LABELS.map((label, i) => [String(i + 1), `${i + 1} ${label}`])
    : state.test.options.map((g) => [g, g]);
  const group = choiceGroup("answer", options);
  group.addEventListener("change", update);
  items.append(group);
  return {
    trial, players, complete: () => checkedValue("answer") !== null,
    answer: () => (type === "mos"
      ? { ratings: { [key]: parseInt(checkedValue("answer"), 10) } }
      : { genre: checkedValue("answer") }),
  };
}

function refreshSubmit() {
  const unplayed = [...trialUi.players.values()].filter((p) => !p.played).length;
  const ready = unplayed === 0 && trialUi.complete();
  $("submit").disabled = !ready;
  $("hint").textContent = unplayed
    ? `Play every sample to the end (${unplayed} left).`
    : (ready ? "" : "Answer for every sample.");
}

function nextTrial() {
  stopAll();
  showError(null);
  if (state.queue.length === 0) {
    trialUi = null;
    $("trial").hidden = true;
    $("finished").hidden = false;
    return;
  }
  const trial = state.test.trials.find((t) => t.id === state.queue[0]);
  $("progress").textContent = `Trial ${state.answered + 1} of ${state.total}`;
  $("trial-instructions").textContent = state.test.instructions;
  $("trial").dataset.trial = trial.id;
  trialUi = renderTrial(trial);
  refreshSubmit();
}

async function submit() {
  $("submit").disabled = true;
  const body = { listener: state.listener, trial: trialUi.trial.id, ...trialUi.answer() };
  try {
    await api("/api/answer", body);
  } catch (err) {
    showError(`Not saved: ${err.message}. Try again.`);
    $("submit").disabled = false;
    return;
  }
  state.queue.shift();
  state.answered += 1;
  nextTrial();
}

async function start(event) {
  event.preventDefault();  // never a native form submission, even before the test has loaded
  showError(null);
  if (!(await testReady)) return;  // the test could not be loaded; loadTest() said why
  const listener = $("listener-id").value.trim();
  try {
    const session = await api("/api/session", { listener });
    const done = new Set(session.done);
    state.listener = listener;
    state.queue = session.order.filter((id) => !done.has(id));
    state.total = session.order.length;
    state.answered = state.total - state.queue.length;
  } catch (err) {
    showError(err);
    return;
  }
  $("login").hidden = true;
  $("trial").hidden = false;
  nextTrial();
}

async function loadTest() {
  try {
    state.test = await api("/api/test");
  } catch (err) {
    showError(`Cannot load the test: ${err.message}`);
    return false;
  }
  $("title").textContent = state.test.title;
  $("instructions").textContent = state.test.instructions;
  return true;
}

// The handlers are attached at once: a Start clicked while the test is still loading waits
// for it instead of submitting the form to the server as a page load.
const testReady = loadTest();
$("login-form").addEventListener("submit", start);
$("submit").addEventListener("click", submit);
