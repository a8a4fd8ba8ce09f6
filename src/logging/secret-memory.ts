import { isSecretName, redactSecrets } from './scrub';

/**
 * The credentials one channel has sent to its CRM (secrets it resolved, the values of the auth
 * headers it attached, token fields of login/refresh requests and answers), remembered so that a
 * CRM's echo of them can be removed from any text BY VALUE — whatever the CRM wraps them in: a
 * header name we cannot guess, a body field, an HTML page. Shape-based redaction (redactSecrets)
 * runs after it, for what this process never sent (an older token, another process's).
 *
 * Memory only, never persisted or logged. Values shorter than MIN_LENGTH are not remembered:
 * removing "1234" from every text would eat ids and phone digits, and a credential that short is
 * no secret anyway.
 */
const MIN_LENGTH = 6;
/** A piece of a long secret this long, where it starts, is as good as the secret. */
const PREFIX = 12;
/** Enough for a client's whole rotation history between restarts; the oldest are forgotten first. */
const MAX_VALUES = 64;

export class SecretMemory {
  private readonly values = new Set<string>();
  private sorted: string[] | null = null;

  /** A secret value, and the forms it may come back in (URL-encoded). */
  remember(value: unknown): void {
    if (typeof value !== 'string') return;
    const v = value.trim();
    if (v.length < MIN_LENGTH) return;
    for (const form of new Set([v, encodeURIComponent(v)])) {
      this.values.delete(form);
      this.values.add(form);
    }
    while (this.values.size > MAX_VALUES) this.values.delete(this.values.values().next().value as string);
    this.sorted = null;
  }

  /**
   * Header values sent to the CRM. `all`: every header given (the auth headers a request was signed
   * with); otherwise only headers whose name says they hold a credential.
   */
  rememberHeaders(headers: Record<string, string | undefined> | undefined, all: boolean): void {
    for (const [name, value] of Object.entries(headers ?? {})) {
      if (value === undefined || (!all && !isSecretName(name))) continue;
      this.remember(value);
      // "Bearer <token>", "Basic <base64>": the credential without its scheme, and what Basic encodes.
      const m = /^(\w+)\s+(\S+)$/.exec(value.trim());
      if (m) {
        this.remember(m[2]);
        if (m[1].toLowerCase() === 'basic') {
          const decoded = Buffer.from(m[2], 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          if (colon >= 0) this.remember(decoded.slice(colon + 1));
        }
      }
      // Cookies and similar lists: "a=1; sid=…".
      for (const part of value.split(/;\s*/)) {
        const eq = part.indexOf('=');
        if (eq > 0) this.remember(part.slice(eq + 1));
      }
    }
  }

  /** Fields of a token request or answer whose name says they hold a credential (password, refresh_token, client_secret, …). */
  rememberFields(body: unknown, depth = 0): void {
    if (depth > 3 || body === null || typeof body !== 'object') return;
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
      if (typeof v === 'string' && (isSecretName(k) || k === 'code')) this.remember(v);
      else if (v && typeof v === 'object') this.rememberFields(v, depth + 1);
    }
  }

  /**
   * The text with every remembered value, then every credential-shaped value, replaced by
   * [redacted]. A long value counts from its first PREFIX characters on: a CRM's text is cut short
   * before we keep it, and half a token is still a token.
   */
  redact(text: string): string {
    this.sorted ??= [...this.values].sort((a, b) => b.length - a.length);
    let out = text;
    for (const v of this.sorted) {
      if (out.includes(v)) out = out.split(v).join('[redacted]');
      if (v.length > PREFIX) out = redactPrefixes(out, v);
    }
    return redactSecrets(out);
  }
}

/** Replaces every run of `text` that is a beginning of `value` at least PREFIX long. */
function redactPrefixes(text: string, value: string): string {
  const head = value.slice(0, PREFIX);
  let out = '';
  let from = 0;
  for (let at = text.indexOf(head); at >= 0; at = text.indexOf(head, from)) {
    let end = at + PREFIX;
    while (end < text.length && end - at < value.length && text[end] === value[end - at]) end++;
    out += `${text.slice(from, at)}[redacted]`;
    from = end;
  }
  return out + text.slice(from);
}
