/**
 * A PostgreSQL replication-protocol connection (`replication=database`): replication commands
 * (IDENTIFY_SYSTEM, CREATE_REPLICATION_SLOT … EXPORT_SNAPSHOT, START_REPLICATION) and the CopyBoth
 * stream that follows START_REPLICATION — XLogData in, standby status updates out.
 *
 * It rides on `pg`'s Client for authentication and simple queries, and on the Client's internal
 * `connection` (the same one pg-logical-replication uses) for CopyData; this module is the only place
 * that touches those internals. Backpressure: the socket is paused while the handler works through a
 * queue above `highWaterMessages`, so a slow downstream never makes Floe buffer the WAL in memory.
 */
import pg from "pg";
import { CaptureError, sqlState } from "./errors.ts";
import { formatLsn, type Lsn, parseLsn } from "./lsn.ts";

/** Session settings that make every type's text output stable and parseable (see pg-types.ts). */
export const SESSION_OPTIONS =
  "-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C";

/** The part of pg's internal Connection this module uses. */
interface WireConnection {
  on(event: "copyData", listener: (message: { chunk: Buffer }) => void): void;
  once(event: "replicationStart", listener: () => void): void;
  removeAllListeners(event?: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

export interface XLogData {
  walStart: Lsn;
  walEnd: Lsn;
  payload: Buffer;
}

export interface StreamHandlers {
  onData(message: XLogData): Promise<void>;
  /** A primary keepalive: `walEnd` is how far the server has sent. */
  onKeepalive(walEnd: Lsn): void;
}

export interface SystemIdentity {
  systemId: string;
  timeline: number;
  xLogPos: Lsn;
  dbName: string;
}

export interface CreatedSlot {
  slotName: string;
  consistentPoint: Lsn;
  snapshotName: string | null;
}

export class ReplicationConnection {
  private readonly client: pg.Client;
  private wire: WireConnection | null = null;
  private queue: XLogData[] = [];
  private draining = false;
  private paused = false;
  private streaming = false;
  private closed = false;
  private failure: ((error: Error) => void) | null = null;
  private halted = false;
  /** Set by `halt()`: where the stream may stop. */
  private atBoundary: (() => boolean) | null = null;
  private onHalted: (() => void) | null = null;
  private received: Lsn = 0n;
  private flushed: Lsn = 0n;
  private statusTimer: NodeJS.Timeout | null = null;
  private readonly highWaterMessages = 1000;

  private constructor(url: string) {
    // `replication` is a documented connection parameter missing from @types/pg's ClientConfig.
    const config: pg.ClientConfig & { replication: string } = {
      connectionString: url,
      replication: "database",
      options: SESSION_OPTIONS,
    };
    this.client = new pg.Client(config);
    this.client.on("error", (error) => this.fail(error));
  }

  static async connect(url: string): Promise<ReplicationConnection> {
    const connection = new ReplicationConnection(url);
    try {
      await connection.client.connect();
    } catch (error) {
      throw translateConnectError(error, url);
    }
    return connection;
  }

  async identifySystem(): Promise<SystemIdentity> {
    const { rows } = await this.client.query<{
      systemid: string;
      timeline: string;
      xlogpos: string;
      dbname: string;
    }>("IDENTIFY_SYSTEM");
    const row = rows[0];
    if (!row) throw new CaptureError("PROTOCOL_ERROR", "IDENTIFY_SYSTEM returned no row");
    return {
      systemId: row.systemid,
      timeline: Number(row.timeline),
      xLogPos: parseLsn(row.xlogpos),
      dbName: row.dbname,
    };
  }

  /**
   * Creates a permanent pgoutput slot. With `exportSnapshot`, the returned snapshot name stays usable
   * (`SET TRANSACTION SNAPSHOT`) until this connection runs its next command or closes.
   */
  async createSlot(slotName: string, exportSnapshot: boolean): Promise<CreatedSlot> {
    const sql = `CREATE_REPLICATION_SLOT ${quoteIdent(slotName)} LOGICAL pgoutput ${exportSnapshot ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT"}`;
    try {
      const { rows } = await this.client.query<{
        slot_name: string;
        consistent_point: string;
        snapshot_name: string | null;
      }>(sql);
      const row = rows[0];
      if (!row) throw new CaptureError("PROTOCOL_ERROR", "CREATE_REPLICATION_SLOT returned no row");
      return {
        slotName: row.slot_name,
        consistentPoint: parseLsn(row.consistent_point),
        snapshotName: row.snapshot_name,
      };
    } catch (error) {
      throw translateSlotError(error, slotName);
    }
  }

  /**
   * START_REPLICATION: resolves once the server accepted it; the stream then runs until `close()` or an
   * error, which `done` reports. `startLsn` 0 means "from the slot's confirmed flush position".
   */
  async startReplication(
    slotName: string,
    startLsn: Lsn,
    pluginOptions: Record<string, string>,
    handlers: StreamHandlers,
  ): Promise<{ done: Promise<void> }> {
    // Reaching into pg's Client: the wire connection is not part of its public types.
    const wire = (this.client as unknown as { connection: WireConnection }).connection;
    this.wire = wire;
    const options = Object.entries(pluginOptions)
      .map(([key, value]) => `${quoteIdent(key)} '${value.replaceAll("'", "''")}'`)
      .join(", ");
    const sql = `START_REPLICATION SLOT ${quoteIdent(slotName)} LOGICAL ${formatLsn(startLsn)} (${options})`;

    let failDone: (error: Error) => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      failDone = reject;
      this.failure = reject;
      const query = this.client.query(sql);
      query.then(
        () => resolve(),
        (error: unknown) => {
          if (this.closed) resolve();
          else reject(translateSlotError(error, slotName));
        },
      );
    });
    done.catch(() => {});
    // A stop waiting for a transaction boundary must not wait for a stream that has ended.
    done.then(
      () => this.haltNow(),
      () => this.haltNow(),
    );

    const started = new Promise<void>((resolve, reject) => {
      wire.once("replicationStart", () => resolve());
      done.then(
        () =>
          reject(
            new CaptureError("CONNECTION_LOST", `replication on slot "${slotName}" ended before it started`),
          ),
        reject,
      );
    });

    wire.on("copyData", ({ chunk }) => {
      const kind = chunk[0];
      if (kind === 0x77 /* w: XLogData */) {
        const message = {
          walStart: chunk.readBigUInt64BE(1),
          walEnd: chunk.readBigUInt64BE(9),
          // Copied: pg-protocol reuses its read buffer, and the message may wait in the queue.
          payload: Buffer.from(chunk.subarray(25)),
        };
        if (message.walStart > this.received) this.received = message.walStart;
        if (this.halted) return;
        this.queue.push(message);
        if (this.queue.length >= this.highWaterMessages && !this.paused) {
          this.paused = true;
          wire.stream.pause();
        }
        void this.drain(handlers).catch((error: unknown) => {
          failDone(error instanceof Error ? error : new Error(String(error)));
          void this.close();
        });
      } else if (kind === 0x6b /* k: primary keepalive */) {
        const walEnd = chunk.readBigUInt64BE(1);
        const replyRequested = chunk[17] === 1;
        if (this.queue.length === 0 && !this.draining && !this.halted) handlers.onKeepalive(walEnd);
        if (replyRequested) this.sendStatus(false);
      }
    });

    await started;
    this.streaming = true;
    this.statusTimer = setInterval(() => this.sendStatus(false), 10_000);
    this.statusTimer.unref();
    return { done };
  }

  /** Records that everything up to `lsn` is durable downstream and tells the server (confirmed_flush_lsn). */
  confirmFlush(lsn: Lsn): void {
    if (lsn <= this.flushed) return;
    this.flushed = lsn;
    this.sendStatus(false);
  }

  get flushedLsn(): Lsn {
    return this.flushed;
  }

  /**
   * Stops handing messages to the handlers at the next point where `atBoundary()` holds (checked now
   * and after each handled message; capture passes "no transaction open", so a clean stop never leaves
   * half a transaction downstream). Messages after that point are dropped: they were never
   * acknowledged, so the server re-sends them after a restart. Status updates go on until `close()`.
   */
  async halt(atBoundary: () => boolean = () => true): Promise<void> {
    if (this.halted || !this.streaming) {
      this.halted = true;
      return;
    }
    this.atBoundary = atBoundary;
    if (!this.draining && atBoundary()) this.haltNow();
    await new Promise<void>((resolve) => {
      if (this.halted) resolve();
      else this.onHalted = resolve;
    });
  }

  private haltNow(): void {
    this.halted = true;
    this.queue = [];
    if (!this.paused && this.wire) {
      this.paused = true;
      this.wire.stream.pause();
    }
    this.onHalted?.();
    this.onHalted = null;
  }

  private async drain(handlers: StreamHandlers): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      for (let message = this.queue.shift(); message; message = this.queue.shift()) {
        if (this.closed || this.halted) return;
        await handlers.onData(message);
        if (this.atBoundary?.()) {
          this.haltNow();
          return;
        }
        if (this.paused && !this.halted && this.queue.length < this.highWaterMessages / 2) {
          this.paused = false;
          this.wire?.stream.resume();
        }
      }
    } catch (error) {
      // The stream fails (done rejects); a stop waiting for a boundary must not wait forever.
      this.haltNow();
      throw error;
    } finally {
      this.draining = false;
    }
  }

  private sendStatus(replyRequested: boolean): void {
    if (!this.streaming || this.closed || !this.wire) return;
    const status = Buffer.alloc(34);
    status[0] = 0x72; // 'r'
    // Written is what was received; flushed and applied are what the downstream made durable, which
    // is all the server uses to advance the slot's confirmed_flush_lsn.
    // biome-ignore lint/complexity/useMathMinMax: Math.max does not take bigint
    status.writeBigUInt64BE(this.received > this.flushed ? this.received : this.flushed, 1);
    status.writeBigUInt64BE(this.flushed, 9);
    status.writeBigUInt64BE(this.flushed, 17);
    status.writeBigInt64BE(BigInt(Date.now() - 946_684_800_000) * 1000n, 25);
    status[33] = replyRequested ? 1 : 0;
    this.wire.sendCopyFromChunk(status);
  }

  async query<Row extends pg.QueryResultRow>(sql: string): Promise<Row[]> {
    return (await this.client.query<Row>(sql)).rows;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // A last status update so a clean stop leaves the slot at the newest durable position.
    this.sendStatus(false);
    this.closed = true;
    this.streaming = false;
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.queue = [];
    this.failure = null;
    // A halted (paused) socket would never see the server's end of the connection.
    this.halted = true;
    this.onHalted?.();
    this.onHalted = null;
    if (this.paused) this.wire?.stream.resume();
    try {
      await this.client.end();
    } catch {
      // Ending a connection in CopyBoth mode can report the terminated copy; nothing is lost by it.
    }
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.haltNow();
    this.failure?.(
      new CaptureError("CONNECTION_LOST", `replication connection failed: ${error.message}`, {
        cause: error,
      }),
    );
  }
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function translateConnectError(error: unknown, url: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  const user = safeUser(url);
  if (sqlState(error) === "28000" || sqlState(error) === "42501" || /replication/i.test(message)) {
    return new CaptureError(
      "PERMISSION_DENIED",
      `role "${user}" may not open a replication connection (${message}); run ALTER ROLE "${user}" WITH REPLICATION, and allow "replication" connections for it in pg_hba.conf`,
      { cause: error },
    );
  }
  return new CaptureError("CONNECTION_LOST", `cannot open a replication connection: ${message}`, {
    cause: error,
  });
}

function translateSlotError(error: unknown, slotName: string): Error {
  if (error instanceof CaptureError) return error;
  const message = error instanceof Error ? error.message : String(error);
  const state = sqlState(error);
  if (state === "55006" || /is active for PID/i.test(message)) {
    return new CaptureError(
      "SLOT_IN_USE",
      `replication slot "${slotName}" is in use by another process (${message}); stop the other consumer, or give this one its own slot.name`,
      { cause: error },
    );
  }
  if (state === "42704" || /does not exist/i.test(message)) {
    return new CaptureError("SLOT_MISSING", `replication slot "${slotName}" does not exist (${message})`, {
      cause: error,
    });
  }
  if (/wal_level/i.test(message)) {
    return new CaptureError(
      "WAL_LEVEL_NOT_LOGICAL",
      `logical decoding needs wal_level=logical (${message}); run ALTER SYSTEM SET wal_level = logical and restart PostgreSQL`,
      { cause: error },
    );
  }
  if (state === "42501") {
    return new CaptureError(
      "PERMISSION_DENIED",
      `${message}; grant the REPLICATION attribute to Floe's role`,
      { cause: error },
    );
  }
  return new CaptureError("PROTOCOL_ERROR", `replication command failed on slot "${slotName}": ${message}`, {
    cause: error,
  });
}

function safeUser(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || "(default user)";
  } catch {
    return "(unknown user)";
  }
}
