// Kafka Connect decimals: the number fast path (every numeric of a snapshot takes it) against a BigInt
// reference written from the definition, at every byte-length boundary and on many generated values.
import assert from "node:assert/strict";
import { test } from "node:test";
import { smallUnscaledBase64, unscaledBase64 } from "../../src/capture/pg-types.ts";

/** The definition: unscaled value (fraction cut to `scale`), minimal big-endian two's complement, base64. */
function reference(text: string, scale: number): string {
  const negative = text.startsWith("-");
  const [whole = "", fraction = ""] = (negative ? text.slice(1) : text).split(".");
  let value = BigInt(whole + fraction.padEnd(scale, "0").slice(0, scale));
  if (negative) value = -value;
  let length = 1;
  while (value >= 1n << BigInt(8 * length - 1) || value < -(1n << BigInt(8 * length - 1))) length++;
  let unsigned = value < 0n ? value + (1n << BigInt(8 * length)) : value;
  const bytes = Buffer.alloc(length);
  for (let index = length - 1; index >= 0; index--) {
    bytes[index] = Number(unsigned & 0xffn);
    unsigned >>= 8n;
  }
  return bytes.toString("base64");
}

/** A deterministic generator (mulberry32), so a failure names a value that can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("decimals at every byte-length boundary, zeros, cut fractions and more than 14 digits", () => {
  const boundaries = [7, 15, 23, 31, 39, 47, 55].flatMap((bits) => {
    const limit = 2n ** BigInt(bits);
    return [limit - 1n, limit, -limit, -limit - 1n].map(String);
  });
  const values = [
    ...boundaries,
    "0",
    "-0",
    "0.00",
    "-0.00",
    "1.5",
    "-1.5",
    "0.001",
    "-0.000001",
    "123.456789",
    "99999999999999",
    "-99999999999999",
    "100000000000000",
    "00000000000000000001",
    "9007199254740993",
    "12345678901234567890123456789012345678901.5",
  ];
  for (const text of values)
    for (let scale = 0; scale <= 8; scale++)
      assert.equal(unscaledBase64(text, scale), reference(text, scale), `${text} at scale ${scale}`);
});

test("decimals: 200 000 generated values agree with the reference", () => {
  const next = random(5);
  for (let index = 0; index < 200_000; index++) {
    const digits = 1 + Math.floor(next() * 18);
    let text = "";
    for (let digit = 0; digit < digits; digit++) text += String(Math.floor(next() * 10));
    const fraction = Math.floor(next() * 7);
    if (fraction > 0) {
      text += ".";
      for (let digit = 0; digit < fraction; digit++) text += String(Math.floor(next() * 10));
    }
    if (next() < 0.5) text = `-${text}`;
    const scale = Math.floor(next() * 8);
    assert.equal(unscaledBase64(text, scale), reference(text, scale), `${text} at scale ${scale}`);
  }
});

test("the fast path declines what is not a plain decimal or does not fit 14 digits", () => {
  for (const text of ["NaN", "Infinity", "-Infinity", "", "-", "1.", ".5", "1.2.3", "+1", "1e5", " 1"])
    assert.equal(smallUnscaledBase64(text, 2), undefined, JSON.stringify(text));
  assert.equal(smallUnscaledBase64("100000000000000", 0), undefined);
  assert.equal(smallUnscaledBase64("1", 14), undefined, "1 × 10^14 unscaled");
  assert.equal(smallUnscaledBase64("99999999999999", 0), reference("99999999999999", 0));
  // Scales beyond a double's exponent: zero stays zero, anything else is the BigInt path's.
  assert.equal(unscaledBase64("0", 400), reference("0", 400));
  assert.equal(unscaledBase64("-0.5", 400), reference("-0.5", 400));
});
