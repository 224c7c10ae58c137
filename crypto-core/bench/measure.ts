/**
 * A minimal timing harness for a shared, noisy machine: the cases of one comparison are
 * run in alternating rounds (ours, baseline, ours, baseline, …) and each keeps its best
 * round, so background load hits both sides alike and the ratio stays meaningful.
 */
export interface Case {
  name: string;
  op: () => unknown;
  /** Bytes processed per op, to print a throughput. */
  bytesPerOp?: number;
}

export interface Result {
  name: string;
  /** Best round's ops/s. */
  opsPerSec: number;
  /** Median round's ops/s. */
  medianOpsPerSec: number;
  bytesPerOp?: number;
}

async function round(c: Case, ms: number): Promise<number> {
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms || ops < 2) {
    await c.op();
    ops++;
    elapsed = performance.now() - start;
  }
  return (ops * 1000) / elapsed;
}

/** Runs `cases` in `rounds` alternating rounds of about `msPerRound` each. */
export async function compare(cases: Case[], rounds = 7, msPerRound = 400): Promise<Result[]> {
  for (const c of cases) for (let i = 0; i < 2; i++) await c.op(); // warm-up (JIT, key import)
  const samples: number[][] = cases.map(() => []);
  for (let r = 0; r < rounds; r++)
    for (const [i, c] of cases.entries()) samples[i]?.push(await round(c, msPerRound));
  return cases.map((c, i) => {
    const s = (samples[i] ?? []).slice().sort((a, b) => a - b);
    const result: Result = {
      name: c.name,
      opsPerSec: s[s.length - 1] ?? 0,
      medianOpsPerSec: s[Math.floor(s.length / 2)] ?? 0,
    };
    if (c.bytesPerOp !== undefined) result.bytesPerOp = c.bytesPerOp;
    return result;
  });
}

const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));

export function row(r: Result): string {
  const mbps = r.bytesPerOp === undefined ? '' : `  ${((r.opsPerSec * r.bytesPerOp) / 1e6).toFixed(0)} MB/s`;
  return `${r.name.padEnd(60)} ${fmt(r.opsPerSec).padStart(9)} ops/s (median ${fmt(r.medianOpsPerSec)})${mbps}`;
}

/** Best/best and median/median; a target counts as met only when both ratios meet it. */
export function ratio(label: string, ours: Result, baseline: Result, target?: number): string {
  const best = ours.opsPerSec / baseline.opsPerSec;
  const median = ours.medianOpsPerSec / baseline.medianOpsPerSec;
  const verdict =
    target === undefined
      ? ''
      : `  target ≥ ${target}×: ${best >= target && median >= target ? 'met' : 'NOT met'}`;
  return `  ratio ${label.padEnd(52)} ${best.toFixed(2)}× best, ${median.toFixed(2)}× median${verdict}`;
}
