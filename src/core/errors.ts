// One error type that renders itself (STYLE §8): the CLI prints message and hint; the API maps codes
// to statuses in one table.

export const ERROR_CODES = [
  'bad_argument',
  'bad_config',
  'not_found',
  'port_in_use',
  'io',
  'db_newer',
  'daemon_unreachable',
  'selftest_failed',
  'ca',
  'forbidden',
  'unavailable',
  'internal',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class MeterError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, hint?: string) {
    super(message);
    this.name = 'MeterError';
    this.code = code;
    this.hint = hint;
  }
}

/** The local API's status for each code (STYLE §8: the one table). */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  bad_argument: 400,
  bad_config: 500,
  not_found: 404,
  port_in_use: 500,
  io: 500,
  db_newer: 503,
  daemon_unreachable: 503,
  selftest_failed: 500,
  ca: 500,
  forbidden: 403,
  unavailable: 503,
  internal: 500,
};

export function asErrorCode(code: string): ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : 'internal';
}

export function isMeterError(e: unknown): e is MeterError {
  return e instanceof MeterError;
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
