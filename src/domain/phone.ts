import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max';

/**
 * Phone numbers at intake. The `max` metadata bundle is used on purpose: the default (`min`) bundle
 * only checks a number's length and leading digits, so it accepts numbers in ranges no operator has
 * (+7 300 …); `max` knows the full numbering plan of every country, so `isValid()` means the number
 * can exist. It costs ~150 KB of metadata, loaded once.
 */

export const DEFAULT_PHONE_REGION: CountryCode = 'RU';
/** Raw length a phone field may have (a few numbers with separators and extensions fit). */
export const MAX_PHONE_INPUT_LENGTH = 256;
/** An extension is 1–10 digits (ITU-T E.164 leaves them to PBXs; 10 covers every real one). */
export const PHONE_EXTENSION_PATTERN = /^[0-9]{1,10}$/;

export type PhoneParse = { ok: true; e164: string; ext?: string } | { ok: false; reason: string };

/** One number, in any common notation, with an optional extension (`доб. 12`, `ext. 12`, `x12`, `#12`). */
export function parsePhone(raw: string, region: CountryCode = DEFAULT_PHONE_REGION): PhoneParse {
  const parsed = parsePhoneNumberFromString(raw, region);
  if (!parsed) return { ok: false, reason: 'is not a valid phone number (expected e.g. +7 912 345-67-89)' };
  if (!parsed.isPossible()) return { ok: false, reason: 'is not a valid phone number: wrong number of digits for its country (expected e.g. +7 912 345-67-89)' };
  if (!parsed.isValid()) return { ok: false, reason: 'is not a valid phone number: no such number range exists in its country' };
  return parsed.ext ? { ok: true, e164: parsed.number, ext: parsed.ext } : { ok: true, e164: parsed.number };
}

/**
 * Separators between several numbers in one field: `/`, `,`, `;` — unless what follows is an
 * extension marker, so `+7 495 555-12-34, доб. 12` stays one number with its extension.
 */
const LIST_SEPARATOR = /\s*[/,;]\s*(?!(?:доб|ext|x\b|#))/iu;

/** Splits a field that may hold several numbers. A field without a separator is one part. */
export function splitPhoneList(raw: string): string[] {
  return raw
    .split(LIST_SEPARATOR)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
