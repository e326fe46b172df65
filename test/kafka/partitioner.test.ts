// Keys go where Kafka's Java client (and so Debezium's producer) puts them: murmur2 as in Kafka's
// Utils, checked against the vectors of Kafka's own UtilsTest; keyless records go to partition 0.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ClusterMetadata } from "@platformatic/kafka";
import { keyPartitioner, murmur2 } from "../../src/kafka/partitioner.ts";

test("murmur2 matches Kafka's Utils.murmur2 test vectors", () => {
  const vectors: Array<[string, number]> = [
    ["21", -973932308],
    ["foobar", -790332482],
    ["a-little-bit-long-string", -985981536],
    ["a-little-bit-longer-string", -1486304829],
    ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
    ["abc", 479470107],
  ];
  for (const [text, hash] of vectors) assert.equal(murmur2(Buffer.from(text)), hash, text);
});

test("the partitioner: positive murmur2 of the key bytes; no key → 0; a one-partition topic → 0 without hashing", () => {
  const metadata = (partitionsCount: number) =>
    ({ topics: new Map([["t", { partitionsCount }]]) }) as unknown as ClusterMetadata;
  const key = Buffer.from('{"id":1}');
  assert.equal(keyPartitioner({ topic: "t" }, key, { metadata: metadata(3) }), murmur2(key) & 0x7fffffff);
  assert.equal(keyPartitioner({ topic: "t" }, undefined, { metadata: metadata(3) }), 0);
  assert.equal(keyPartitioner({ topic: "t" }, key, { metadata: metadata(1) }), 0);
  assert.equal(keyPartitioner({ topic: "t" }, key, { metadata: undefined }), murmur2(key) & 0x7fffffff);
});
