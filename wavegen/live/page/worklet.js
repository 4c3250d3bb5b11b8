// The audio thread of wavegen live: plays the take's PCM from a ring buffer, counts underruns.
//
// Messages in (from the page): {type: "take", take} starts a new take (the old one's samples
// are dropped after a 4 ms fade), {type: "chunk", take, start, pcm: Int16Array} appends audio,
// {type: "pause", paused}. Messages out, about every 50 ms: {type: "played", take, played,
// playing, buffered, underruns, starved}. Nothing here waits on anything: a short buffer
// plays silence and is counted.

const CAPACITY_SECONDS = 20;
const REPORT_EVERY = 0.05; // seconds
const FADE_SECONDS = 0.004;

class WavegenPlayer extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options.processorOptions || {};
    this.prebuffer = Math.max(128, Math.round((opts.prebufferSeconds || 0.1) * sampleRate));
    this.buf = new Float32Array(Math.round(CAPACITY_SECONDS * sampleRate));
    this.read = 0;
    this.count = 0; // samples in the buffer
    this.take = -1;
    this.received = 0; // the next sample index expected from the take
    this.played = 0;
    this.started = false;
    this.paused = false;
    this.gain = 0;
    this.step = 1 / Math.max(1, FADE_SECONDS * sampleRate);
    this.last = 0; // the last value sent out, faded to zero at a take change
    this.underruns = 0; // stalls: times the buffer ran dry while playing
    this.starved = 0; // samples of silence those stalls played
    this.underrunAt = []; // the take's sample index at each stall (the first 100)
    this.overflows = 0;
    this.sinceReport = 0;
    this.reportEvery = Math.round(REPORT_EVERY * sampleRate);
    this.port.onmessage = (e) => this.receive(e.data);
  }

  receive(msg) {
    if (msg.type === "take") {
      this.take = msg.take;
      this.read = 0;
      this.count = 0;
      this.received = 0;
      this.played = 0;
      this.started = false;
      this.gain = 0;
      this.underrunAt = [];
      this.report();
    } else if (msg.type === "chunk") {
      if (msg.take !== this.take || msg.start !== this.received) return;
      const pcm = msg.pcm;
      if (this.count + pcm.length > this.buf.length) { this.overflows++; return; }
      let w = (this.read + this.count) % this.buf.length;
      for (let i = 0; i < pcm.length; i++) {
        this.buf[w] = pcm[i] / 32768;
        w = w + 1 === this.buf.length ? 0 : w + 1;
      }
      this.count += pcm.length;
      this.received += pcm.length;
    } else if (msg.type === "pause") {
      this.paused = msg.paused;
    }
  }

  report() {
    this.sinceReport = 0;
    this.port.postMessage({type: "played", take: this.take, played: this.played,
                           playing: this.started && !this.paused, buffered: this.count,
                           underruns: this.underruns, starved: this.starved,
                           underrunAt: this.underrunAt,
                           overflows: this.overflows});
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.started && this.count >= this.prebuffer && !this.paused) this.started = true;
    let short = false;
    for (let i = 0; i < out.length; i++) {
      const target = this.started && !this.paused ? 1 : 0;
      if (!this.started || (this.paused && this.gain === 0)) {
        this.last *= 1 - this.step; // a take change or a pause ends without a click
        out[i] = this.last;
        continue;
      }
      this.gain = target > this.gain ? Math.min(1, this.gain + this.step)
                                     : Math.max(0, this.gain - this.step);
      if (this.count > 0) {
        out[i] = this.last = this.buf[this.read] * this.gain;
        this.read = this.read + 1 === this.buf.length ? 0 : this.read + 1;
        this.count--;
        this.played++;
      } else {
        out[i] = this.last = 0;
        if (!this.paused) { short = true; this.starved++; }
      }
    }
    if (short) {
      this.underruns++;
      if (this.underrunAt.length < 100) this.underrunAt.push(this.played);
      this.started = false; // wait for the prebuffer again rather than stutter
    }
    this.sinceReport += out.length;
    if (this.sinceReport >= this.reportEvery) this.report();
    return true;
  }
}

registerProcessor("wavegen-player", WavegenPlayer);
