/**
 * Every size limit of a lead, in one place: the schema enforces them, the docs (docs/intake.md) list
 * them, and the HTTP body limit is derived from them. A normal lead is about 1.4 KB; the limits leave
 * room for long comments and a few dozen extra fields, and stop a lead from becoming megabytes in Redis.
 */

/** Names (first, last, middle), cities, vacancy id, source channel. */
export const MAX_NAME_LENGTH = 128;
/** Vacancy title, source campaign, each utm value. */
export const MAX_TITLE_LENGTH = 256;
export const MAX_COMMENT_LENGTH = 4000;

/** `extra`: HRDrom's free-form string map, read by client mappings as `extra.<key>`. */
export const MAX_EXTRA_KEYS = 50;
export const MAX_EXTRA_KEY_LENGTH = 64;
/** No `.`: mappings address a key as `extra.<key>`, so a dot would make it unreachable. */
export const EXTRA_KEY_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
/** Names that resolve to Object.prototype members when a mapping reads a missing key. */
export const RESERVED_EXTRA_KEYS: readonly string[] = ['__proto__', 'constructor', 'prototype'];
export const MAX_EXTRA_VALUE_LENGTH = 1000;

/** Additional numbers besides `candidate.phone`. */
export const MAX_OTHER_PHONES = 5;

/** The whole lead as stored in its job (UTF-8 JSON of the validated lead). */
export const MAX_LEAD_BYTES = 16 * 1024;

/** How far ahead of our clock `createdAt` and `consent.at` may be (the sender's clock may run fast). */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Dates before this are not real dates for a lead (a zero or negative timestamp gone wrong). */
export const EARLIEST_DATE_MS = Date.UTC(1970, 0, 1);
