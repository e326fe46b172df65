/**
 * The REST spec's `Idempotency-Key` on mutation routes: the first request with a key runs and its final
 * response (2xx and 4xx) is stored in the catalog store; a retry with the same key gets that response
 * back without running again (marked `Idempotent-Replayed: true`), on any replica sharing the store. A
 * key reused for another request (other route, body or caller) answers 422; a retry while the first
 * request still runs waits for it, then replays (or answers 503 with Retry-After after `waitMs`). 5xx
 * responses are not stored, so a retry runs again. `/v1/config` advertises the key lifetime.
 */
import { createHash } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ServerError } from "../errors.ts";
import type { ServerMetrics } from "../metrics.ts";
import type { IdempotencyStore, StoredResponse } from "../store/idempotency-store.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The reservation this request holds (set before its handler runs, cleared when its response is stored). */
    idempotency: { key: string; fingerprint: string; stopRenewing: () => void } | undefined;
  }
}

/** The mutation routes of the spec that take an Idempotency-Key and that Floe serves. */
export const IDEMPOTENT_ROUTES: readonly string[] = [
  "POST /v1/{prefix}/namespaces",
  "DELETE /v1/{prefix}/namespaces/{namespace}",
  "POST /v1/{prefix}/namespaces/{namespace}/properties",
  "POST /v1/{prefix}/namespaces/{namespace}/tables",
  "POST /v1/{prefix}/namespaces/{namespace}/register",
  "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "DELETE /v1/{prefix}/namespaces/{namespace}/tables/{table}",
  "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/unregister",
  "POST /v1/{prefix}/tables/rename",
  "POST /v1/{prefix}/transactions/commit",
];

export const DEFAULT_IDEMPOTENCY_KEY_LIFETIME_SECONDS = 30 * 60;

/** RFC 9562 textual form; the spec asks clients for UUIDv7, any version is accepted. */
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Response headers replayed with the body (the rest are per response: date, connection, …). */
const replayedHeaders = ["content-type", "etag", "x-amzn-errortype"];

export interface IdempotencySettings {
  /** How long clients may retry with one key (advertised as `idempotency-key-lifetime`); 0 = off. */
  lifetimeSeconds: number;
  /** Kept this much longer than the lifetime (clock skew, slow retries). */
  graceSeconds?: number;
  /** A running request's reservation is renewed while it runs; a retry takes over a lapsed one (crash). */
  leaseMs?: number;
  /** How long a retry waits for the first request to finish before answering 503. */
  waitMs?: number;
  now?: () => number;
}

/** `PT30M`-style ISO-8601 duration of whole seconds. */
export function isoDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `PT${h ? `${h}H` : ""}${m ? `${m}M` : ""}${s || (!h && !m) ? `${s}S` : ""}`;
}

export class IdempotencyKeys {
  readonly #store: IdempotencyStore;
  readonly #metrics: ServerMetrics;
  readonly #lifetimeMs: number;
  readonly #graceMs: number;
  readonly #leaseMs: number;
  readonly #waitMs: number;
  readonly #now: () => number;
  readonly #lifetime: string;
  #lastPurgeMs = 0;

  constructor(store: IdempotencyStore, metrics: ServerMetrics, settings: IdempotencySettings) {
    this.#store = store;
    this.#metrics = metrics;
    this.#lifetimeMs = settings.lifetimeSeconds * 1000;
    this.#graceMs = (settings.graceSeconds ?? 300) * 1000;
    this.#leaseMs = settings.leaseMs ?? 60_000;
    this.#waitMs = settings.waitMs ?? 10_000;
    this.#now = settings.now ?? Date.now;
    this.#lifetime = isoDuration(settings.lifetimeSeconds);
  }

  /** The `idempotency-key-lifetime` `/v1/config` advertises. */
  get lifetime(): string {
    return this.#lifetime;
  }

  /**
   * Reserves the key for this request (undefined: run it) or returns the stored response to replay,
   * waiting while another request with the key runs.
   */
  async begin(key: string, fingerprint: string): Promise<StoredResponse | undefined> {
    await this.#purgeNowAndThen();
    const deadline = this.#now() + this.#waitMs;
    for (let pauseMs = 20; ; pauseMs = Math.min(250, pauseMs * 2)) {
      const now = this.#now();
      const held = await this.#store.reserve({
        key,
        fingerprint,
        nowMs: now,
        leaseUntilMs: now + this.#leaseMs,
        expiresAtMs: now + this.#lifetimeMs + this.#graceMs,
      });
      if (held === true) return undefined;
      if (held.fingerprint !== fingerprint) {
        this.#metrics.idempotencyKeys.inc({ outcome: "reused" });
        throw new ServerError(
          "IDEMPOTENCY_KEY_REUSED",
          `Idempotency-Key ${key} was used for a different request (another route, body or caller); send a new key for each operation and reuse a key only to retry the same request`,
        );
      }
      if (held.response) {
        this.#metrics.idempotencyKeys.inc({ outcome: "replayed" });
        return held.response;
      }
      if (now >= deadline) {
        this.#metrics.idempotencyKeys.inc({ outcome: "in_progress" });
        throw new ServerError(
          "REQUEST_IN_PROGRESS",
          `the first request with Idempotency-Key ${key} is still running; retry with the same key later`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  /** Keeps the reservation of a running request from lapsing; call the result when it ends. */
  keepAlive(key: string, fingerprint: string): () => void {
    const timer = setInterval(
      () => {
        this.#store.renew(key, fingerprint, this.#now() + this.#leaseMs).catch(() => {});
      },
      Math.max(1000, Math.floor(this.#leaseMs / 3)),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Stores a final response for replay, or frees the key after a 5xx (the spec does not finalize those). */
  async finish(key: string, fingerprint: string, response: StoredResponse): Promise<void> {
    if (response.status >= 500) await this.#store.release(key, fingerprint);
    else await this.#store.finalize(key, fingerprint, response);
  }

  async #purgeNowAndThen(): Promise<void> {
    const now = this.#now();
    if (now - this.#lastPurgeMs < 60_000) return;
    this.#lastPurgeMs = now;
    await this.#store.purgeExpired(now);
  }
}

/** `METHOD /v1/{prefix}/…` of a Fastify route registered under `restPrefix`. */
function specRouteOf(method: string, url: string | undefined, restPrefix: string): string | undefined {
  if (url === undefined || !url.startsWith(restPrefix)) return undefined;
  return `${method} ${url.slice(restPrefix.length).replace(/:([A-Za-z]+)/g, "{$1}")}`;
}

function keyOf(request: FastifyRequest): string | undefined {
  const header = request.headers["idempotency-key"];
  if (header === undefined) return undefined;
  if (typeof header !== "string" || !uuidPattern.test(header.trim())) {
    throw new ServerError(
      "BAD_REQUEST",
      `Idempotency-Key must be one UUID (UUIDv7 as the REST spec asks, e.g. 017f22e2-79b0-7cc3-98c4-dc0c0c07398f), got ${JSON.stringify(header)}`,
    );
  }
  return header.trim().toLowerCase();
}

/** Who sent what where: the caller, the method, the URL with its query, and the body's bytes. */
function fingerprintOf(request: FastifyRequest): string {
  return createHash("sha256")
    .update(`${request.principal?.arn ?? "anonymous"}\n${request.method}\n${request.url}\n`)
    .update(request.rawBody ?? Buffer.alloc(0))
    .digest("hex");
}

function storedResponse(reply: FastifyReply, payload: unknown): StoredResponse | undefined {
  let body: Buffer;
  if (payload === undefined || payload === null) body = Buffer.alloc(0);
  else if (typeof payload === "string") body = Buffer.from(payload);
  else if (Buffer.isBuffer(payload)) body = payload;
  else return undefined; // a stream: not replayable (no idempotent route streams)
  const headers: Record<string, string> = {};
  for (const name of replayedHeaders) {
    const value = reply.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return { status: reply.statusCode, headers, body };
}

/**
 * Hooks of the REST plugin (`restPrefix` = where it is registered): after auth (the guard's
 * preValidation), a keyed mutation is replayed or reserved; when its response is sent, the response is
 * stored. Failing to store never changes the response the client gets (it is logged).
 */
export function installIdempotency(app: FastifyInstance, keys: IdempotencyKeys, restPrefix: string): void {
  const routes = new Set(IDEMPOTENT_ROUTES);
  app.decorateRequest("idempotency", undefined);

  app.addHook("preHandler", async (request, reply) => {
    const route = specRouteOf(request.method, request.routeOptions.url, restPrefix);
    if (route === undefined || !routes.has(route)) return;
    const key = keyOf(request);
    if (key === undefined) return;
    const fingerprint = fingerprintOf(request);
    let stored: StoredResponse | undefined;
    try {
      stored = await keys.begin(key, fingerprint);
    } catch (error) {
      if (error instanceof ServerError && error.code === "REQUEST_IN_PROGRESS")
        reply.header("retry-after", "1");
      throw error;
    }
    if (stored) {
      reply.code(stored.status).headers(stored.headers).header("idempotent-replayed", "true");
      return reply.send(stored.body.length > 0 ? stored.body : undefined);
    }
    request.idempotency = { key, fingerprint, stopRenewing: keys.keepAlive(key, fingerprint) };
  });

  app.addHook("onSend", async (request, reply, payload) => {
    const held = request.idempotency;
    if (!held) return payload;
    request.idempotency = undefined;
    held.stopRenewing();
    try {
      const response = storedResponse(reply, payload);
      await keys.finish(
        held.key,
        held.fingerprint,
        response ?? { status: 500, headers: {}, body: Buffer.alloc(0) },
      );
    } catch (error) {
      request.log.error(
        { err: error, idempotencyKey: held.key },
        "could not store the response of an Idempotency-Key",
      );
    }
    return payload;
  });

  // A request that ends without a response (client gone before onSend) frees its key for the retry.
  app.addHook("onResponse", async (request) => {
    const held = request.idempotency;
    if (!held) return;
    request.idempotency = undefined;
    held.stopRenewing();
    await keys
      .finish(held.key, held.fingerprint, { status: 500, headers: {}, body: Buffer.alloc(0) })
      .catch(() => {});
  });
}
