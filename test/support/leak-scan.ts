/**
 * Finds personal values and secrets in text, in every spelling an output could give them: as is, as
 * a JSON string escapes it, with non-ASCII as \uXXXX (what some serialisers do), URL-encoded, and as
 * base64 (a Basic header) — and, for a long value such as a token, any 20-character piece of it.
 * Used by the leak tests to scan logs, CLI output and HTTP answers.
 */

export interface Sensitive {
  /** What it is, for the failure message (e.g. `bearer token`, `lastName of rest-403`). */
  label: string;
  value: string;
}

/** Long values (tokens) also count when a piece of them shows: an output that cut a token short still leaked it. */
const PIECE = 20;

function pieces(value: string): string[] {
  if (value.length < 2 * PIECE) return [value];
  const out = [value];
  for (let at = 0; at + PIECE <= value.length; at += PIECE / 2) out.push(value.slice(at, at + PIECE));
  return out;
}

export interface LeakHit {
  label: string;
  output: string;
  /** A few characters around the hit, with the value itself masked, so the failure report leaks nothing either. */
  around: string;
}

function asciiEscaped(v: string): string {
  return v.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function spellings(value: string): string[] {
  const out = new Set<string>([value, JSON.stringify(value).slice(1, -1), asciiEscaped(value), asciiEscaped(JSON.stringify(value).slice(1, -1)), encodeURIComponent(value)]);
  if (value.length >= 6) out.add(Buffer.from(value).toString('base64').replace(/=+$/, ''));
  return [...out].filter((s) => s.length > 0);
}

/** Every hit of any sensitive value in any of the outputs (name → text). */
export function findLeaks(outputs: Record<string, string>, sensitive: Sensitive[]): LeakHit[] {
  const hits: LeakHit[] = [];
  for (const [output, text] of Object.entries(outputs)) {
    const lower = text.toLowerCase();
    for (const s of sensitive) {
      for (const spelling of pieces(s.value).flatMap(spellings)) {
        const at = lower.indexOf(spelling.toLowerCase());
        if (at < 0) continue;
        const around = `${text.slice(Math.max(0, at - 60), at)}<<${s.label}>>${text.slice(at + spelling.length, at + spelling.length + 40)}`;
        hits.push({ label: s.label, output, around });
        break;
      }
    }
  }
  return hits;
}

/** A readable report for a failed expectation. */
export function describeLeaks(hits: LeakHit[]): string {
  return hits.map((h) => `${h.output}: ${h.label}: …${h.around.replace(/\s+/g, ' ')}…`).join('\n');
}
