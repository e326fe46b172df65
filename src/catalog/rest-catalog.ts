/**
 * A `Catalog` over the Iceberg REST catalog protocol, so Floe commits through any REST catalog —
 * `floe serve` included — exactly as through the embedded one: requirements + updates in, the
 * server's CommitFailedException out as COMMIT_FAILED (reload and retry), 5xx on a commit as
 * COMMIT_STATE_UNKNOWN. 64-bit ids travel losslessly both ways. Authentication: a static bearer token,
 * or OAuth2 client credentials (`credential: "id:secret"`) exchanged at the token endpoint for a
 * token that is fetched again shortly before it expires, or at once when the server answers 401/419.
 */
import { parseJson, stringifyJson } from "../iceberg/json.ts";
import { partitionSpecToJson } from "../iceberg/partitioning.ts";
import { schemaToJson } from "../iceberg/schema.ts";
import { sortOrderToJson } from "../iceberg/sort-order.ts";
import { tableMetadataFromJson } from "../iceberg/table-metadata.ts";
import { tableRequirementToJson, tableUpdateToJson } from "../iceberg/table-update.ts";
import type { FileIO } from "../io/file-io.ts";
import { type FileIoOptions, fileIoFor } from "../io/index.ts";
import type {
  Catalog,
  CommitTableRequest,
  CreateTableOptions,
  LoadedTable,
  Namespace,
  TableIdentifier,
} from "./catalog.ts";
import { formatIdentifier } from "./catalog.ts";
import { CatalogError, type CatalogErrorCode } from "./errors.ts";

export interface RestCatalogOptions {
  /** The catalog's base URI, e.g. `http://127.0.0.1:8181/iceberg` for `floe serve`. */
  uri: string;
  /** Sent to `/v1/config`; for `floe serve`, the table bucket's name or ARN. */
  warehouse?: string;
  /** Defaults to the warehouse. */
  name?: string;
  /** FileIO settings for table files; S3 settings the server returns in a table's config take precedence. */
  io?: FileIoOptions;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
  /** OAuth2 client credentials `client_id:client_secret` (for `floe serve`: an access key id and its secret). */
  credential?: string;
  /** A bearer token sent as is (no refresh); ignored when `credential` is set. */
  token?: string;
  /** The token endpoint; default `<uri>/v1/oauth/tokens`, the spec's. */
  oauth2ServerUri?: string;
  /** OAuth2 scope asked for with the credential; default `catalog`. */
  scope?: string;
  /** Per-request timeout. */
  timeoutMs?: number;
}

const SEPARATOR = "\u001f";

const errorCodes: Record<string, CatalogErrorCode> = {
  NotAuthorizedException: "NOT_AUTHORIZED",
  AuthenticationTimeoutException: "NOT_AUTHORIZED",
  ForbiddenException: "FORBIDDEN",
  NoSuchNamespaceException: "NO_SUCH_NAMESPACE",
  NoSuchTableException: "NO_SUCH_TABLE",
  AlreadyExistsException: "ALREADY_EXISTS",
  NamespaceNotEmptyException: "NAMESPACE_NOT_EMPTY",
  CommitFailedException: "COMMIT_FAILED",
  CommitStateUnknownException: "COMMIT_STATE_UNKNOWN",
};

interface RestResponse {
  status: number;
  body: unknown;
}

interface CachedToken {
  token: string;
  /** Fetch a new one after this time (before the server's expiry). */
  refreshAtMs: number;
}

/** `id:secret` → the two halves (the secret may itself contain colons). */
function splitCredential(credential: string): { clientId: string; clientSecret: string } {
  const colon = credential.indexOf(":");
  if (colon <= 0 || colon === credential.length - 1) {
    throw new CatalogError(
      "INVALID_INPUT",
      "the catalog credential must be CLIENT_ID:CLIENT_SECRET (for floe serve: ACCESS_KEY_ID:SECRET_ACCESS_KEY)",
    );
  }
  return { clientId: credential.slice(0, colon), clientSecret: credential.slice(colon + 1) };
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new CatalogError(
      "SERVICE_FAILED",
      `the catalog answered ${what} with something that is not a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}

export class RestCatalog implements Catalog {
  readonly name: string;
  readonly #uri: string;
  readonly #options: RestCatalogOptions;
  #prefix: Promise<string> | undefined;
  readonly #ios = new Map<string, FileIO>();
  #token: Promise<CachedToken> | undefined;

  constructor(options: RestCatalogOptions) {
    this.#uri = options.uri.replace(/\/+$/, "");
    this.#options = options;
    this.name = options.name ?? options.warehouse ?? "rest";
    if (options.credential !== undefined) splitCredential(options.credential);
  }

  /** Closes the FileIOs handed out with loaded tables. */
  close(): void {
    for (const io of this.#ios.values()) io.close();
    this.#ios.clear();
  }

  async listNamespaces(parent?: Namespace): Promise<Namespace[]> {
    const query: Record<string, string> = {};
    if (parent && parent.length > 0) query.parent = parent.join(SEPARATOR);
    const pages = await this.#paged("namespaces", query, "namespaces");
    return pages.map((ns) => ns as string[]);
  }

  async createNamespace(namespace: Namespace, properties: Record<string, string> = {}): Promise<void> {
    await this.#call("POST", "namespaces", { body: { namespace, properties } });
  }

  async namespaceExists(namespace: Namespace): Promise<boolean> {
    return this.#exists(`namespaces/${this.#ns(namespace)}`);
  }

  async loadNamespaceProperties(namespace: Namespace): Promise<Record<string, string>> {
    const body = asRecord(
      (await this.#call("GET", `namespaces/${this.#ns(namespace)}`)).body,
      "loadNamespace",
    );
    return (body.properties ?? {}) as Record<string, string>;
  }

  async updateNamespaceProperties(
    namespace: Namespace,
    updates: Record<string, string>,
    removals: string[],
  ): Promise<void> {
    await this.#call("POST", `namespaces/${this.#ns(namespace)}/properties`, { body: { updates, removals } });
  }

  async dropNamespace(namespace: Namespace): Promise<void> {
    await this.#call("DELETE", `namespaces/${this.#ns(namespace)}`);
  }

  async listTables(namespace: Namespace): Promise<TableIdentifier[]> {
    const identifiers = await this.#paged(`namespaces/${this.#ns(namespace)}/tables`, {}, "identifiers");
    return identifiers.map((id) => {
      const obj = asRecord(id, "listTables");
      return { namespace: obj.namespace as string[], name: String(obj.name) };
    });
  }

  async createTable(identifier: TableIdentifier, options: CreateTableOptions): Promise<LoadedTable> {
    const body: Record<string, unknown> = {
      name: identifier.name,
      schema: schemaToJson(options.schema),
      properties: options.properties ?? {},
    };
    if (options.spec) body["partition-spec"] = partitionSpecToJson(options.spec);
    if (options.sortOrder) body["write-order"] = sortOrderToJson(options.sortOrder);
    if (options.location) body.location = options.location;
    const response = await this.#call("POST", `namespaces/${this.#ns(identifier.namespace)}/tables`, {
      body,
    });
    return this.#loaded(identifier, response.body);
  }

  async loadTable(identifier: TableIdentifier): Promise<LoadedTable> {
    return this.#loaded(identifier, (await this.#call("GET", this.#table(identifier))).body);
  }

  async tableExists(identifier: TableIdentifier): Promise<boolean> {
    return this.#exists(this.#table(identifier));
  }

  async registerTable(identifier: TableIdentifier, metadataLocation: string): Promise<LoadedTable> {
    const response = await this.#call("POST", `namespaces/${this.#ns(identifier.namespace)}/register`, {
      body: { name: identifier.name, "metadata-location": metadataLocation },
    });
    return this.#loaded(identifier, response.body);
  }

  async renameTable(from: TableIdentifier, to: TableIdentifier): Promise<void> {
    await this.#call("POST", "tables/rename", { body: { source: from, destination: to } });
  }

  async dropTable(identifier: TableIdentifier, options: { purge?: boolean } = {}): Promise<void> {
    await this.#call("DELETE", this.#table(identifier), {
      query: { purgeRequested: options.purge ? "true" : "false" },
    });
  }

  async commitTable(request: CommitTableRequest): Promise<LoadedTable> {
    const response = await this.#call("POST", this.#table(request.identifier), {
      body: this.#commitBody(request),
      commit: true,
    });
    return this.#loaded(request.identifier, response.body);
  }

  /**
   * Commits atomically on the server, then loads each table: the REST answer is 204 without metadata,
   * so a table returned here may already include a later commit by someone else.
   */
  async commitTransaction(requests: readonly CommitTableRequest[]): Promise<LoadedTable[]> {
    await this.#call("POST", "transactions/commit", {
      body: { "table-changes": requests.map((r) => this.#commitBody(r)) },
      commit: true,
    });
    return Promise.all(requests.map((r) => this.loadTable(r.identifier)));
  }

  #commitBody(request: CommitTableRequest) {
    return {
      identifier: { namespace: request.identifier.namespace, name: request.identifier.name },
      requirements: request.requirements.map(tableRequirementToJson),
      updates: request.updates.map(tableUpdateToJson),
    };
  }

  #ns(namespace: Namespace): string {
    return encodeURIComponent(namespace.join(SEPARATOR));
  }

  #table(identifier: TableIdentifier): string {
    return `namespaces/${this.#ns(identifier.namespace)}/tables/${encodeURIComponent(identifier.name)}`;
  }

  #loaded(identifier: TableIdentifier, body: unknown): LoadedTable {
    const obj = asRecord(body, "a table request");
    const metadataLocation = obj["metadata-location"];
    if (typeof metadataLocation !== "string") {
      throw new CatalogError(
        "SERVICE_FAILED",
        `the catalog returned table ${formatIdentifier(identifier)} without a metadata-location`,
      );
    }
    const metadata = tableMetadataFromJson(obj.metadata, metadataLocation);
    const config = (obj.config ?? {}) as Record<string, string>;
    return { identifier, metadataLocation, metadata, io: this.#ioFor(metadata.location, config) };
  }

  /** A FileIO for the table's files: the client's settings, with the S3 settings the server vends on top. */
  #ioFor(location: string, config: Record<string, string>): FileIO {
    const base = this.#options.io ?? {};
    const s3 = { ...(base.s3 ?? {}) };
    if (config["s3.endpoint"]) s3.endpoint = config["s3.endpoint"];
    const region = config["s3.region"] ?? config["client.region"];
    if (region) s3.region = region;
    if (config["s3.path-style-access"] === "true") s3.forcePathStyle = true;
    if (config["s3.access-key-id"] && config["s3.secret-access-key"]) {
      s3.credentials = {
        accessKeyId: config["s3.access-key-id"],
        secretAccessKey: config["s3.secret-access-key"],
        ...(config["s3.session-token"] ? { sessionToken: config["s3.session-token"] } : {}),
      };
    }
    const options: FileIoOptions = Object.keys(s3).length > 0 ? { s3 } : {};
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(location)?.[1]?.toLowerCase() ?? "";
    const key = `${scheme}\n${JSON.stringify(options)}`;
    let io = this.#ios.get(key);
    if (!io) {
      io = fileIoFor(location, options);
      this.#ios.set(key, io);
    }
    return io;
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await this.#call("HEAD", path);
      return true;
    } catch (error) {
      if (
        error instanceof CatalogError &&
        (error.code === "NO_SUCH_TABLE" || error.code === "NO_SUCH_NAMESPACE")
      ) {
        return false;
      }
      throw error;
    }
  }

  async #paged(path: string, query: Record<string, string>, field: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let pageToken = "";
    for (;;) {
      const body = asRecord((await this.#call("GET", path, { query: { ...query, pageToken } })).body, path);
      items.push(...((body[field] ?? []) as unknown[]));
      const next = body["next-page-token"];
      if (typeof next !== "string" || next === "") return items;
      pageToken = next;
    }
  }

  #prefixPath(): Promise<string> {
    this.#prefix ??= (async () => {
      const query: Record<string, string> = {};
      if (this.#options.warehouse) query.warehouse = this.#options.warehouse;
      const response = await this.#send("GET", `${this.#uri}/v1/config`, { query });
      const body = asRecord(response.body, "/v1/config");
      const overrides = (body.overrides ?? {}) as Record<string, string>;
      const defaults = (body.defaults ?? {}) as Record<string, string>;
      const prefix = overrides.prefix ?? defaults.prefix;
      return prefix ? `${this.#uri}/v1/${encodeURIComponent(prefix)}` : `${this.#uri}/v1`;
    })();
    this.#prefix.catch(() => {
      this.#prefix = undefined;
    });
    return this.#prefix;
  }

  async #call(
    method: "GET" | "POST" | "DELETE" | "HEAD",
    path: string,
    options: { body?: unknown; query?: Record<string, string>; commit?: boolean } = {},
  ): Promise<RestResponse> {
    return this.#send(method, `${await this.#prefixPath()}/${path}`, options);
  }

  /** The OAuth2 token for the credential: cached, fetched again shortly before it expires. */
  async #bearer(forceNew: boolean): Promise<string | undefined> {
    const credential = this.#options.credential;
    if (credential === undefined) return this.#options.token;
    if (this.#token && !forceNew) {
      const cached = await this.#token.catch(() => undefined);
      if (cached && Date.now() < cached.refreshAtMs) return cached.token;
    }
    this.#token = this.#fetchToken(credential);
    this.#token.catch(() => {
      this.#token = undefined;
    });
    return (await this.#token).token;
  }

  async #fetchToken(credential: string): Promise<CachedToken> {
    const { clientId, clientSecret } = splitCredential(credential);
    const endpoint = this.#options.oauth2ServerUri ?? `${this.#uri}/v1/oauth/tokens`;
    const form = new URLSearchParams({
      grant_type: "client_credentials",
      client_id: clientId,
      client_secret: clientSecret,
      scope: this.#options.scope ?? "catalog",
    });
    let response: Response;
    let body: Record<string, unknown>;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
        body: form.toString(),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 60_000),
      });
      const text = await response.text();
      body = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
    } catch (error) {
      throw new CatalogError(
        "SERVICE_FAILED",
        `fetching an OAuth2 token from ${endpoint} failed: ${(error as Error).message}; is the catalog at ${this.#uri} running?`,
        { cause: error },
      );
    }
    if (!response.ok || typeof body.access_token !== "string") {
      const description = typeof body.error_description === "string" ? `: ${body.error_description}` : "";
      const code = typeof body.error === "string" ? ` (${body.error})` : "";
      throw new CatalogError(
        response.status === 401 || response.status === 400 ? "NOT_AUTHORIZED" : "SERVICE_FAILED",
        `the token endpoint ${endpoint} refused the credential for client ${clientId}${code}, HTTP ${response.status}${description}; check --credential / FLOE_CREDENTIAL`,
      );
    }
    const expiresInMs = typeof body.expires_in === "number" ? body.expires_in * 1000 : 3_600_000;
    // Refresh when 10% of the lifetime (at most a minute) is left, so a request never carries an expired token.
    const marginMs = Math.min(60_000, expiresInMs / 10);
    return { token: body.access_token, refreshAtMs: Date.now() + expiresInMs - marginMs };
  }

  async #send(
    method: "GET" | "POST" | "DELETE" | "HEAD",
    url: string,
    options: { body?: unknown; query?: Record<string, string>; commit?: boolean } = {},
  ): Promise<RestResponse> {
    const target = new URL(url);
    for (const [key, value] of Object.entries(options.query ?? {})) target.searchParams.set(key, value);
    const headers: Record<string, string> = { accept: "application/json", ...(this.#options.headers ?? {}) };
    if (options.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    let text: string;
    try {
      for (let attempt = 1; ; attempt++) {
        const bearer = await this.#bearer(attempt > 1);
        if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
        response = await fetch(target, {
          method,
          headers,
          ...(options.body !== undefined ? { body: stringifyJson(options.body) } : {}),
          signal: AbortSignal.timeout(this.#options.timeoutMs ?? 60_000),
        });
        text = await response.text();
        // A token the server no longer takes (expired, restarted with rotated keys): the request was not
        // served, so it is safe to send again once with a fresh token.
        const stale = response.status === 401 || response.status === 419;
        if (!(stale && attempt === 1 && this.#options.credential !== undefined)) break;
      }
    } catch (error) {
      if (error instanceof CatalogError) throw error;
      throw new CatalogError(
        options.commit ? "COMMIT_STATE_UNKNOWN" : "SERVICE_FAILED",
        `${method} ${target.pathname} failed: ${(error as Error).message}; is the catalog at ${this.#uri} running?`,
        { cause: error },
      );
    }
    const body =
      text === "" ? undefined : parseJson(text, `the catalog's answer to ${method} ${target.pathname}`);
    if (response.ok) return { status: response.status, body };
    throw this.#error(response.status, body, options.commit === true, `${method} ${target.pathname}`);
  }

  #error(status: number, body: unknown, commit: boolean, what: string): CatalogError {
    const model =
      typeof body === "object" && body !== null && "error" in body
        ? ((body as { error: { type?: unknown; message?: unknown } }).error ?? {})
        : {};
    const type = typeof model.type === "string" ? model.type : "";
    const message = typeof model.message === "string" ? model.message : `${what} answered HTTP ${status}`;
    let code: CatalogErrorCode | undefined = errorCodes[type];
    if (!code) {
      if (status >= 500) code = commit ? "COMMIT_STATE_UNKNOWN" : "SERVICE_FAILED";
      else if (status === 404 && what.startsWith("HEAD") && what.includes("/tables/")) code = "NO_SUCH_TABLE";
      else if (status === 404 && what.startsWith("HEAD")) code = "NO_SUCH_NAMESPACE";
      else if (status === 409) code = commit ? "COMMIT_FAILED" : "ALREADY_EXISTS";
      else if (status === 401 || status === 419) code = "NOT_AUTHORIZED";
      else if (status === 403) code = "FORBIDDEN";
      else code = "INVALID_INPUT";
    }
    const hint =
      code === "NOT_AUTHORIZED" && this.#options.credential === undefined && this.#options.token === undefined
        ? "; give the client a credential (floe commands: --credential ACCESS_KEY_ID:SECRET or FLOE_CREDENTIAL)"
        : "";
    return new CatalogError(code, `${type ? `${message} (${type}, HTTP ${status})` : message}${hint}`);
  }
}
