// Helpers for the tests that run `npm start` and friends as real processes.
import { spawn } from 'node:child_process';

/** Spawns a command with its output collected; `exited` resolves with { code, signal }. */
export function launch(cmd, args, options) {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = { child, output: '', listeners: new Set() };
  const collect = (d) => {
    run.output += d;
    for (const listener of run.listeners) listener();
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  run.exited = new Promise((done) => child.on('close', (code, signal) => done({ code, signal })));
  return run;
}

/** Resolves once `text` appears in the output; rejects at once if the process ends first, or
 * after `timeoutMs` (a bound, not a wait: it resolves as soon as the text is there). */
export function waitForOutput(run, text, timeoutMs) {
  return new Promise((done, fail) => {
    const check = () => {
      if (run.output.includes(text)) finish(done);
    };
    const timer = setTimeout(
      () => finish(fail, new Error(`no "${text}" within ${timeoutMs} ms:\n${run.output.slice(-3000)}`)),
      timeoutMs,
    );
    const finish = (fn, value) => {
      clearTimeout(timer);
      run.listeners.delete(check);
      fn(value);
    };
    run.listeners.add(check);
    run.exited.then(({ code, signal }) => {
      if (!run.output.includes(text))
        finish(fail, new Error(`exited (${code ?? signal}) before "${text}":\n${run.output.slice(-3000)}`));
    });
    check();
  });
}
