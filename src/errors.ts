/**
 * The base of Floe's typed errors. Every domain (iceberg, catalog, capture, sink, services, ...) defines
 * its own subclass with a closed set of codes; callers switch on `code`, people read `message`, which
 * names the thing that failed and how to fix it.
 */
export class FloeError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** Renders any thrown value as one line for the CLI: `CODE: message`, plus the cause when there is one. */
export function describeError(error: unknown): string {
  if (error instanceof FloeError) {
    const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : "";
    return `${error.code}: ${error.message}${cause}`;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}
