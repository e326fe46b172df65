/**
 * Dump progress: the events `dumpTable` reports (rows and bytes so far, an estimate of the total, ETA)
 * and two renderers — a one-line bar redrawn in place for a terminal, and JSON Lines (at most one line a
 * second, plus phase changes and the end) for logs and pipes.
 */

export type DumpPhase = "planning" | "writing" | "uploading" | "done";

export interface DumpProgress {
  phase: DumpPhase;
  /** Rows read so far (estimated from DuckDB's progress while writing; exact when done). */
  rows: number;
  /** Upper bound of the rows to read: the planned data files' record counts before deletes. */
  estimatedRows: number;
  /** Output bytes written so far. */
  bytes: number;
  /** Milliseconds since the dump started. */
  elapsedMs: number;
  /** Estimated milliseconds to go; undefined when unknown. */
  etaMs?: number;
  /** 0..1 when known. */
  fraction?: number;
}

export type ProgressListener = (progress: DumpProgress) => void;

/** Where renderers write: a stream such as process.stderr. */
export interface TextSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

function humanBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

function humanCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(2)}G`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(2)}M`;
  if (count >= 1e4) return `${(count / 1e3).toFixed(1)}k`;
  return String(Math.round(count));
}

function humanDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const mmss = `${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** One line of the terminal bar: `[#######.....]  58% 5.80M/10.00M rows  212.4 MB  ETA 00:07`. */
export function formatProgressLine(progress: DumpProgress, width = 24): string {
  const fraction = progress.phase === "done" ? 1 : (progress.fraction ?? 0);
  const filled = Math.round(fraction * width);
  const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
  // Rounded to a millionth first: 0.58 * 100 is 57.99999999999999 in binary floating point.
  const percent = `${String(Math.floor(Math.round(fraction * 1e6) / 1e4)).padStart(3)}%`;
  const rows =
    progress.phase === "done"
      ? `${humanCount(progress.rows)} rows`
      : `${humanCount(progress.rows)}/${humanCount(progress.estimatedRows)} rows`;
  const tail =
    progress.phase === "done"
      ? `done in ${humanDuration(progress.elapsedMs)}`
      : progress.etaMs === undefined
        ? progress.phase
        : `ETA ${humanDuration(progress.etaMs)}`;
  return `${bar} ${percent} ${rows}  ${humanBytes(progress.bytes)}  ${tail}`;
}

/** Redraws one line in place on a terminal (`\r` + clear line); ends it with a newline when done. */
export function terminalProgressRenderer(stream: TextSink): ProgressListener {
  return (progress) => {
    stream.write(`\r\x1b[2K${formatProgressLine(progress)}${progress.phase === "done" ? "\n" : ""}`);
  };
}

/** JSON Lines: a line per phase change and at most one per `intervalMs` in between. */
export function jsonProgressRenderer(stream: TextSink, intervalMs = 1000): ProgressListener {
  let lastPhase: DumpPhase | undefined;
  let lastAt = Number.NEGATIVE_INFINITY;
  return (progress) => {
    const now = progress.elapsedMs;
    if (progress.phase === lastPhase && now - lastAt < intervalMs) return;
    lastPhase = progress.phase;
    lastAt = now;
    const { phase, rows, estimatedRows, bytes, elapsedMs, etaMs } = progress;
    stream.write(
      `${JSON.stringify({ event: "progress", phase, rows, estimatedRows, bytes, elapsedMs, etaMs })}\n`,
    );
  };
}

/** The renderer that suits `stream`: the bar on a TTY, JSON Lines otherwise. */
export function progressRendererFor(stream: TextSink): ProgressListener {
  return stream.isTTY ? terminalProgressRenderer(stream) : jsonProgressRenderer(stream);
}
