/**
 * A CRM's error text can echo what we sent (an email, a phone) and what we authenticated with (a
 * bearer token, a password in a form). Before such text reaches a log line, emails and long digit
 * runs are masked. Names cannot be recognised reliably, which is why client-level messages are built
 * without the CRM's words at all; the CRM's words are kept on the lead's job, for support, with
 * credentials removed (redactSecrets).
 */
const EMAIL = /[\p{L}\p{N}._%+-]+@[\p{L}\p{N}.-]+\.[\p{L}]{2,}/gu;
const PHONE = /\+?\d[\d\s()-]{6,}\d/g;

export function scrubPersonalData(text: string): string {
  return redactSecrets(text).replace(EMAIL, '[email]').replace(PHONE, '[number]');
}

/** Credentials a CRM may echo: Authorization values, token/password/secret fields in JSON or forms. */
const SECRET_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, '$1 [redacted]'],
  [/("?(?:access_token|refresh_token|id_token|token|password|passwd|secret|client_secret|api[_-]?key|authorization)"?\s*[:=]\s*)"[^"]*"/gi, '$1"[redacted]"'],
  [/((?:access_token|refresh_token|token|password|secret|client_secret|api[_-]?key)=)[^&\s"]+/gi, '$1[redacted]'],
];

export function redactSecrets(text: string): string {
  let out = text;
  for (const [re, to] of SECRET_PATTERNS) out = out.replace(re, to);
  return out;
}
