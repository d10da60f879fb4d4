// @ts-check
/**
 * @module dashboards/ward/audio
 * The page's audible alarm cue (optional, off by default; IEC 60601-1-8-like burst
 * patterns by priority, Web Audio) and AUDIO PAUSED: the header button silences the cue
 * for 2 minutes with a visible countdown and the IEC 60601-1-8 audio-paused indication
 * (the crossed bell, IEC 60417-5576, and the text "AUDIO PAUSED"); pressing it again
 * ends the pause. Alarms stay on screen while audio is paused. Client-side only: the
 * gateway's alarms and their escalation are unchanged.
 */
import { byId as $, setText } from '../common/dom.js';
import { formatCountdown } from './layout.js';
import { state, ui } from './state.js';
import { PRIORITY_RANK } from './vitals.js';

/** @typedef {import('../common/contract.js').AlarmPriority} AlarmPriority */

/** How long "Pause audio" silences the cue (IEC 60601-1-8 §6.3.3.1 leaves it to the manufacturer). */
export const AUDIO_PAUSE_MS = 120_000;

const pauseButton = $('audio-pause');
const pauseText = $('audio-pause-text');

/** Browser clock (ms) until which the cue is silent; 0: not paused. */
let pausedUntil = 0;

/**
 * Whether audio is paused at `now`.
 * @param {number} [now]
 */
export const audioPaused = (now = Date.now()) => now < pausedUntil;

/**
 * Pauses the cue for `AUDIO_PAUSE_MS`, or ends a running pause.
 * @param {number} [now]
 */
export function toggleAudioPause(now = Date.now()) {
  pausedUntil = audioPaused(now) ? 0 : now + AUDIO_PAUSE_MS;
  renderAudioPause(now);
}

/**
 * Shows the pause button's state: "Pause audio 2:00", or "AUDIO PAUSED 1:43" with the
 * crossed bell highlighted while paused.
 * @param {number} [now]
 */
export function renderAudioPause(now = Date.now()) {
  const paused = audioPaused(now);
  if (!paused && pausedUntil !== 0) pausedUntil = 0;
  pauseButton.setAttribute('aria-pressed', String(paused));
  pauseButton.dataset.paused = String(paused);
  setText(
    pauseText,
    paused
      ? `AUDIO PAUSED ${formatCountdown(pausedUntil - now)}`
      : `Pause audio ${formatCountdown(AUDIO_PAUSE_MS)}`,
  );
  pauseButton.title = paused
    ? 'Audible alarm cue paused; alarms stay on screen. Press to end the pause.'
    : 'Silence the audible alarm cue for 2 minutes; alarms stay on screen';
}

export function toggleSound() {
  state.sound = !state.sound;
  ui.sound.setAttribute('aria-pressed', String(state.sound));
  ui.sound.textContent = state.sound ? 'Sound on' : 'Sound off';
  if (state.sound && !state.audio) {
    try {
      state.audio = new AudioContext();
    } catch {
      state.audio = null;
    }
  }
}

/**
 * @param {number} at AudioContext time, s
 * @param {number} freq Hz
 * @param {number} ms
 */
function beep(at, freq, ms) {
  const ctx = state.audio;
  if (!ctx) return;
  const osc = ctx.createOscillator();
  const gain = ctx.createGain();
  osc.frequency.value = freq;
  gain.gain.setValueAtTime(0.0001, at);
  gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, at + ms / 1000);
  osc.connect(gain).connect(ctx.destination);
  osc.start(at);
  osc.stop(at + ms / 1000 + 0.05);
}

/**
 * Once a second: the countdown, and the cue for the highest active priority (silent
 * while audio is paused).
 * @param {number} now
 */
export function soundTick(now) {
  renderAudioPause(now);
  if (!state.sound || !state.audio || audioPaused(now)) return;
  /** @type {AlarmPriority | 'none'} */
  let top = 'none';
  for (const a of state.alarms.values())
    if (a.state === 'active' && PRIORITY_RANK[a.priority] > PRIORITY_RANK[top]) top = a.priority;
  if (top === 'none') return;
  // High: 10 pulses every 5 s (as 3+2 bursts); medium: 3 pulses every 15 s; low: 1 pulse every 30 s.
  const every = { high: 5000, medium: 15_000, low: 30_000 }[top];
  if (now - state.lastCue < every) return;
  state.lastCue = now;
  const t0 = state.audio.currentTime + 0.05;
  const pulses = top === 'high' ? [0, 0.2, 0.4, 0.9, 1.1] : top === 'medium' ? [0, 0.25, 0.5] : [0];
  for (const dt of pulses) beep(t0 + dt, top === 'high' ? 880 : 660, 150);
}
