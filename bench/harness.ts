/**
 * The shared benchmark harness: runs Floe and a baseline alternately for a few runs, takes medians, and
 * prints one JSON line `{benchmark, floe, baseline, ratio, unit, runs, median}` (ratio = floe / baseline
 * for throughput units, so higher is better and 1 means parity).
 */
export interface BenchmarkResult {
  benchmark: string;
  /** Median throughput of Floe, in `unit`. */
  floe: number;
  /** Median throughput of the baseline, in `unit`. */
  baseline: number;
  ratio: number;
  unit: string;
  runs: number;
  /** Median wall time per run in ms. */
  median: { floeMs: number; baselineMs: number };
}

export interface BenchmarkDefinition {
  name: string;
  /** Work items per run (e.g. rows); throughput is items per second. */
  items: number;
  unit: string;
  runs: number;
  floe: () => Promise<void>;
  baseline: () => Promise<void>;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export async function runBenchmark(definition: BenchmarkDefinition): Promise<BenchmarkResult> {
  const floeMs: number[] = [];
  const baselineMs: number[] = [];
  // Alternate so that warm-up, GC and page cache effects fall on both sides alike.
  for (let run = 0; run < definition.runs; run++) {
    baselineMs.push(await timed(definition.baseline));
    floeMs.push(await timed(definition.floe));
  }
  const floe = median(floeMs);
  const baseline = median(baselineMs);
  const result: BenchmarkResult = {
    benchmark: definition.name,
    floe: Math.round((definition.items / floe) * 1000),
    baseline: Math.round((definition.items / baseline) * 1000),
    ratio: Number((baseline / floe).toFixed(3)),
    unit: definition.unit,
    runs: definition.runs,
    median: { floeMs: Math.round(floe), baselineMs: Math.round(baseline) },
  };
  console.log(JSON.stringify(result));
  return result;
}
