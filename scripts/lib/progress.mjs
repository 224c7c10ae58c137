// Readable progress for `npm start`: one line per step with how long it usually takes, then how
// long it took. The tools' own output (npm, tsc, Vite, pip) is kept and shown only when the step
// fails, so a first run prints what a person can follow and nothing else.
import { spawn } from 'node:child_process';

/** Last `max` characters of a step's output, for its failure message. */
export function tail(text, max = 4000) {
  return text.length > max ? `…${text.slice(-max)}` : text;
}

/** "0.4 s", "12 s", "1 min 05 s". */
export function formatDuration(ms) {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
}

/** The environment for a captured tool: no colour codes in what may be shown as plain text. */
export function plainEnv(env = process.env) {
  const { FORCE_COLOR: _force, ...rest } = env;
  return { ...rest, NO_COLOR: '1' };
}

/**
 * Runs one step with its output captured. Resolves { code, signal, output, ms }; `onChild`
 * receives the child so a stop request can end it.
 */
export function runCaptured(cmd, args, opts = {}, onChild = () => undefined) {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd, args, { ...opts, env: plainEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    onChild(child);
    let output = '';
    const keep = (d) => {
      output = tail(output + d, 200_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => keep(`\n${err.message}\n`));
    child.on('close', (code, signal) => done({ code, signal, output, ms: Date.now() - started }));
  });
}
