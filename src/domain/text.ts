/**
 * Characters a lead's text may not carry. They are invisible in a CRM card, and some change how the
 * text around them is shown: a bidi override can make "Иванов" display as something else, and a lone
 * UTF-16 surrogate is not a character at all (it breaks UTF-8 encoders downstream).
 *
 * Single-line fields (names, cities, titles, ids, e-mail) refuse them. Free text (comment, extra
 * values) may keep tabs and line breaks; the rest is stripped there by the lead repair step, because
 * removing it loses nothing the recruiter could read.
 */

/** C0 and C1 controls, DEL, bidi embeddings/overrides (U+202A–U+202E) and isolates (U+2066–U+2069). */
const FORBIDDEN_ANYWHERE = /[\u0000-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]|[\uD800-\uDFFF]/u;
/** The same, but tab and line feed are allowed (multi-line free text). */
const FORBIDDEN_IN_FREE_TEXT = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u202A-\u202E\u2066-\u2069]|[\uD800-\uDFFF]/u;
const FORBIDDEN_IN_FREE_TEXT_ALL = new RegExp(FORBIDDEN_IN_FREE_TEXT.source, 'gu');

export type TextKind = 'line' | 'free';

/**
 * Why a text is refused, or null when it is fine. The message names the character by its code point,
 * never the text around it (it may be a name).
 */
export function forbiddenCharacter(text: string, kind: TextKind): string | null {
  const m = (kind === 'line' ? FORBIDDEN_ANYWHERE : FORBIDDEN_IN_FREE_TEXT).exec(text);
  if (!m) return null;
  const cp = m[0].codePointAt(0) ?? 0;
  const at = `(${codePoint(m[0])}) at position ${m.index + 1}`;
  if (cp >= 0xd800 && cp <= 0xdfff) return `contains a broken character, a lone UTF-16 surrogate ${at}; remove it`;
  if ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)) return `contains a bidirectional-text control ${at}, which can disguise the text; remove it`;
  return `contains a control character ${at}; remove it`;
}

function codePoint(ch: string): string {
  return `U+${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * Free text made storable: CRLF and lone CR become LF, and every character `forbiddenCharacter`
 * refuses in free text is removed. Returns the code points removed, for the warning.
 */
export function cleanFreeText(text: string): { text: string; removed: string[] } {
  const removed = new Set<string>();
  const out = text.replace(/\r\n?/g, '\n').replace(FORBIDDEN_IN_FREE_TEXT_ALL, (ch) => {
    removed.add(codePoint(ch));
    return '';
  });
  return { text: out, removed: [...removed] };
}

/** Cuts a CRM's text down to something short enough to keep per attempt: one line, at most `max` characters. */
export function snippet(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
