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

export function isMeterError(e: unknown): e is MeterError {
  return e instanceof MeterError;
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
