/**
 * Which partition a record goes to: Kafka's Java client rule (murmur2 of the key bytes, & 0x7fffffff,
 * modulo the partition count), so a key always maps to one partition — and to the partition Debezium's
 * producer picks for the same key bytes. Records without a key (tables without a primary key, TRUNCATE)
 * go to partition 0, which keeps them in order. @platformatic/kafka's own murmur2 works on BigInts and
 * was a tenth of capture's time with `schemas.enable` (long keys); this one is 32-bit integer math.
 */
import type { Partitioner } from "@platformatic/kafka";

const M = 0x5bd1e995;
const SEED = 0x9747b28c;

/** Kafka's `Utils.murmur2` (a signed 32-bit result). */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  let h = SEED ^ length;
  const end = length & ~3;
  for (let index = 0; index < end; index += 4) {
    let k =
      (data[index] as number) |
      ((data[index + 1] as number) << 8) |
      ((data[index + 2] as number) << 16) |
      ((data[index + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= (data[end + 2] as number) << 16;
    if (rest >= 2) h ^= (data[end + 1] as number) << 8;
    h ^= data[end] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/** The partitioner for capture's producer (the client applies `% partitionsCount` afterwards). */
export const keyPartitioner: Partitioner<Buffer, Buffer, Buffer, Buffer> = (message, key, context) => {
  if (!key || key.length === 0) return 0;
  if (context.metadata?.topics.get(message.topic)?.partitionsCount === 1) return 0;
  return murmur2(key) & 0x7fffffff;
};
