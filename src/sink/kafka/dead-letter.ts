/**
 * Dead-letter records: the headers a record the sink could not take carries to the dead-letter topic,
 * named as Kafka Connect names them (`errors.deadletterqueue.context.headers.enable`), so tools that
 * read Connect's dead-letter topics read Floe's too; `floe.errors.code` adds the Floe error code.
 */
import { FloeError } from "../../errors.ts";
import { DecodeError, type RecordLocation } from "./decode-error.ts";

/** Connect's stages: a decode failure is the value converter's, anything later is the task's `put`. */
export type DeadLetterStage = "KEY_CONVERTER" | "VALUE_CONVERTER" | "TASK_PUT";

export interface DeadLetterContext {
  /** The sink's name (Connect: the connector name). */
  connectorName?: string;
  /** The worker's id (Connect: the task id). */
  taskId?: string | number;
  stage?: DeadLetterStage;
}

/** Headers for the dead-letter copy of `record`, which failed with `error`. */
export function deadLetterHeaders(
  error: unknown,
  record: RecordLocation,
  context: DeadLetterContext = {},
): Record<string, string> {
  const headers: Record<string, string> = {
    "__connect.errors.topic": record.topic,
    "__connect.errors.partition": String(record.partition),
    "__connect.errors.offset": String(record.offset),
    "__connect.errors.exception.class.name": exceptionClassName(error),
    "__connect.errors.exception.message": error instanceof Error ? error.message : String(error),
    "__connect.errors.stage":
      context.stage ?? (error instanceof DecodeError ? "VALUE_CONVERTER" : "TASK_PUT"),
  };
  if (error instanceof FloeError) headers["floe.errors.code"] = error.code;
  if (context.connectorName !== undefined) headers["__connect.errors.connector.name"] = context.connectorName;
  if (context.taskId !== undefined) headers["__connect.errors.task.id"] = String(context.taskId);
  return headers;
}

/** Floe's errors as `floe.<Class>` (Connect writes Java class names), others by their name. */
function exceptionClassName(error: unknown): string {
  if (error instanceof FloeError) return `floe.${error.name}`;
  if (error instanceof Error) return error.name;
  return typeof error;
}
