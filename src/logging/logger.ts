import pino, { type Logger, type DestinationStream } from 'pino';

/**
 * Every log line is JSON (pino). Personal data and secrets are not logged by design — code logs ids,
 * counts and statuses, never lead bodies — and these redaction paths are the safety net for the day
 * someone logs an object carelessly.
 */
export const REDACT_PATHS = [
  'authorization',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'client_secret',
  'secret',
  'headers.authorization',
  'headers.Authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  '*.authorization',
  '*.Authorization',
  '*.password',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.client_secret',
  'candidate',
  '*.candidate',
  'phone',
  'email',
  'firstName',
  'lastName',
  'middleName',
  '*.phone',
  '*.email',
  '*.firstName',
  '*.lastName',
  '*.middleName',
  'body',
  '*.body',
  'lead',
  '*.lead',
];

export type { Logger };

export function createLogger(opts: { level?: string; name?: string } = {}, destination?: DestinationStream): Logger {
  return pino(
    {
      name: opts.name ?? 'lead-export',
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
