// Dump progress renderers: the bar a terminal gets (rows, bytes, ETA, redrawn in place) and the JSON Lines
// anything else gets (one line per phase change, at most one a second in between).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type DumpProgress,
  formatProgressLine,
  jsonProgressRenderer,
  progressRendererFor,
} from "../../src/dump/progress.ts";

const writing = (elapsedMs: number, fraction: number): DumpProgress => ({
  phase: "writing",
  rows: Math.round(fraction * 10_000_000),
  estimatedRows: 10_000_000,
  bytes: Math.round(fraction * 400 * 1024 * 1024),
  elapsedMs,
  etaMs: (elapsedMs * (1 - fraction)) / fraction,
  fraction,
});

test("the terminal line shows the bar, rows of the estimate, bytes and ETA; then the total time", () => {
  assert.equal(
    formatProgressLine(writing(9_000, 0.58), 10),
    "[######....]  58% 5.80M/10.00M rows  232.0 MB  ETA 00:07",
  );
  assert.equal(
    formatProgressLine(
      { phase: "planning", rows: 0, estimatedRows: 0, bytes: 0, elapsedMs: 3, fraction: 0 },
      4,
    ),
    "[....]   0% 0/0 rows  0 B  planning",
  );
  assert.equal(
    formatProgressLine(
      { phase: "done", rows: 12_345, estimatedRows: 12_400, bytes: 2048, elapsedMs: 3_725_000, fraction: 1 },
      4,
    ),
    "[####] 100% 12.3k rows  2.0 KB  done in 1:02:05",
  );
});

test("a TTY gets the bar redrawn in place; anything else JSON Lines, throttled to phase changes and 1/s", () => {
  let tty = "";
  const onTty = progressRendererFor({ isTTY: true, write: (text: string) => (tty += text) });
  onTty(writing(1000, 0.5));
  onTty({ ...writing(2000, 1), phase: "done" });
  assert.deepEqual(tty.split("\r\x1b[2K").slice(1), [
    formatProgressLine(writing(1000, 0.5)),
    `${formatProgressLine({ ...writing(2000, 1), phase: "done" })}\n`,
  ]);

  let piped = "";
  const onPipe = progressRendererFor({ write: (text: string) => (piped += text) });
  const events: DumpProgress[] = [
    { phase: "planning", rows: 0, estimatedRows: 100, bytes: 0, elapsedMs: 0 },
    writing(100, 0.1),
    writing(600, 0.2),
    writing(1200, 0.3),
    writing(1300, 0.4),
    { phase: "done", rows: 100, estimatedRows: 100, bytes: 5, elapsedMs: 1400, fraction: 1 },
  ];
  for (const event of events) onPipe(event);
  const lines = piped
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  assert.deepEqual(
    lines.map((l) => [l.event, l.phase, l.elapsedMs]),
    [
      ["progress", "planning", 0],
      ["progress", "writing", 100],
      ["progress", "writing", 1200],
      ["progress", "done", 1400],
    ],
  );
  assert.deepEqual(Object.keys(lines[1]!), [
    "event",
    "phase",
    "rows",
    "estimatedRows",
    "bytes",
    "elapsedMs",
    "etaMs",
  ]);
  // The interval is the renderer's: a slower one drops more.
  let slow = "";
  const onSlow = jsonProgressRenderer({ write: (text: string) => (slow += text) }, 10_000);
  for (const event of events) onSlow(event);
  assert.equal(slow.trim().split("\n").length, 3);
});
