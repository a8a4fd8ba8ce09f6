/**
 * A CRM's error text can echo what we sent (the candidate, an email, a phone) and what we
 * authenticated with (a bearer token, a cookie, an API key, a password in a form). Three nets, from
 * the finest to the coarsest:
 *
 *  - redactSecrets(): credentials recognised by their shape (Authorization values, token/password/
 *    key/cookie fields in JSON, forms and headers) — for text kept on a lead's job, for support;
 *  - SecretMemory (secret-memory.ts): the credentials a channel actually sent, removed by value,
 *    whatever the CRM wraps them in;
 *  - clientSummary(): client-level text (logs, status, alerts) — a short summary that never carries a
 *    CRM body: it stops where a body would start, masks the leads' own values and anything that looks
 *    like an email or a phone. Names cannot be recognised by shape, which is why client-level text is
 *    built from our own words only, and the CRM's words are kept on the lead's job.
 */
const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.[\p{L}]{2,}/gu;
const PHONE = /\+?\d[\d\s()-]{6,}\d/g;

export function scrubPersonalData(text: string): string {
  return redactSecrets(text).replace(EMAIL, '[email]').replace(PHONE, '[number]');
}

/** Names of fields and headers that hold credentials. */
const SECRET_NAME = String.raw`(?:access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|x-auth-token|token|password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|x-api-key|authorization|proxy-authorization|cookie|set-cookie|session(?:[_-]?id)?|sid)`;

/** A quoted key that holds a credential: any key naming one (x-partner-token, client_secret, Set-Cookie, …). */
const SECRET_KEY = String.raw`(?:[^"\\\s]*?(?:token|secret|passw|pwd|api[_-]?key|apikey|cookie|authorization|session|credential|signature)[^"\\\s]*|sid)`;

/** Credentials a CRM may echo: Authorization values, and token/password/key/cookie fields in JSON, forms and headers. */
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [redacted]'],
  // JSON: "password": "…"
  [new RegExp(String.raw`("${SECRET_KEY}"\s*:\s*)"(?:\\.|[^"\\])*"`, 'gi'), '$1"[redacted]"'],
  // JSON quoted inside a JSON string (a body kept as text, then logged): \"password\":\"…\"
  [new RegExp(String.raw`(\\"${SECRET_KEY}\\"\s*:\s*)\\".*?\\"`, 'gi'), '$1\\"[redacted]\\"'],
  // name: "…" or name="…"
  [new RegExp(String.raw`(\b${SECRET_NAME}\s*[:=]\s*)"[^"]*"`, 'gi'), '$1"[redacted]"'],
  // Header lines, YAML-ish and unquoted values: Cookie: sid=…, password: …
  [new RegExp(String.raw`(^|[\s,{;])(${SECRET_NAME}\s*[:=]\s*)(?!\\?")[^\s,;&"}\\]+`, 'gim'), '$1$2[redacted]'],
  // Forms and queries: password=…&
  [new RegExp(String.raw`(\b${SECRET_NAME}=)[^&\s"\\]+`, 'gi'), '$1[redacted]'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, to] of SECRET_PATTERNS) out = out.replace(re, to);
  return out;
}

/** Whether a field or header name is one credentials travel in. */
export function isSecretName(name: string): boolean {
  return new RegExp(`^${SECRET_KEY}$`, 'i').test(name);
}

/** Where a quoted CRM body starts: a JSON object, or an HTML/XML document (not our `<placeholder>`s). */
const BODY_START = /\{|<(?:!|\?xml|\/?(?:html|head|body|title|h[1-6]|center|pre|div|span|p|br|hr|table|script|style)\b)/i;

/** Client-level text is at most this long. */
const SUMMARY_MAX = 200;

/**
 * Client-level text (log lines, circuit detail, status, alerts): our own words, short. Whatever
 * follows a `{` or an HTML tag is a CRM body quoted by mistake and is dropped; the given personal values
 * (the leads of the failed call) and the given redaction (the credentials the channel sent) are
 * applied on top of the shape-based nets.
 */
export function clientSummary(text: string, opts: { redact?: (s: string) => string; personal?: readonly string[] } = {}): string {
  const cut = text.search(BODY_START);
  let s = cut >= 0 ? `${text.slice(0, cut).trimEnd()} …` : text;
  if (opts.redact) s = opts.redact(s);
  for (const v of [...(opts.personal ?? [])].sort((a, b) => b.length - a.length)) {
    if (v.length >= 3) s = s.split(v).join('[personal]');
  }
  s = scrubPersonalData(s).replace(/\s+/g, ' ').trim();
  return s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX)}…` : s;
}
