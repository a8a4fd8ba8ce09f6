/**
 * The three ways home-made CRMs write a point in time on the wire. The server keeps whole seconds
 * only, as a MySQL DATETIME or a unix timestamp column does: that is what makes same-second updates
 * collide at a poller's cursor.
 */
import type { TimeFormat } from './types';

/** The start of the second `ms` falls in. */
export const toSecond = (ms: number): number => Math.floor(ms / 1000) * 1000;

export function formatTime(ms: number, format: TimeFormat): string | number {
  switch (format) {
    case 'iso-seconds':
      return new Date(toSecond(ms)).toISOString().replace(/\.\d{3}Z$/, 'Z');
    case 'unix-seconds':
      return Math.floor(ms / 1000);
    case 'unix-ms':
      return toSecond(ms);
  }
}

// An explicit zone is required: a naive time would silently depend on the server's zone.
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** Epoch ms, or undefined when `text` is not in `format`. Fractions of a second are kept, not rounded. */
export function parseTime(text: string, format: TimeFormat): number | undefined {
  if (format === 'iso-seconds') {
    if (!ISO.test(text)) return undefined;
    const ms = Date.parse(text);
    return Number.isFinite(ms) ? ms : undefined;
  }
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const n = Number(text);
  return format === 'unix-seconds' ? n * 1000 : n;
}

export function describeTimeFormat(format: TimeFormat): string {
  switch (format) {
    case 'iso-seconds':
      return 'an ISO 8601 time with a zone, e.g. 2026-01-31T12:00:00Z';
    case 'unix-seconds':
      return 'unix time in seconds, e.g. 1769860800';
    case 'unix-ms':
      return 'unix time in milliseconds, e.g. 1769860800000';
  }
}
