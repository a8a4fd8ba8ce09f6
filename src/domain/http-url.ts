import { z } from 'zod';

/**
 * The one rule for every URL in a client file (a CRM's baseUrl, an OAuth redirect URI): an absolute
 * http(s) URL with a host, and nothing a reviewer could miss. User-info (`user:pass@`) is refused
 * because HTTP clients turn it into a Basic header: an inline secret that bypasses the env:/file:
 * rule, and `http://crm.example@evil.example` reads like a host it is not. A fragment is never sent
 * to a server, so one in a config value is a mistake.
 */

/** scheme://authority rest, split on the raw text: the WHATWG parser forgives too much (`http:host`, `http:\\host`). */
const RAW_URL = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#\\]*)(.*)$/s;

export const USERINFO_MESSAGE =
  'must not contain a user name or password (user:password@host): give credentials in the auth settings, as env:NAME or file:/path secrets';

/** Why `raw` is not an acceptable http(s) URL, or null when it is. `hint` is the message for "not a URL at all". */
export function httpUrlProblem(raw: string, hint: string): string | null {
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) return 'must not contain spaces or control characters';
  const m = RAW_URL.exec(raw);
  if (!m) return hint;
  const [, scheme, authority] = m;
  if (!/^https?$/i.test(scheme)) return `must be http:// or https://, not ${scheme}://`;
  if (authority.includes('@')) return USERINFO_MESSAGE;
  if (raw.includes('#')) return 'must not contain a fragment (#…): it is never sent to the server';
  if (!authority) return hint;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return hint;
  }
  // Caught above on the raw text; checked again on the parsed form in case the two ever disagree.
  if (url.username || url.password) return USERINFO_MESSAGE;
  if (!url.hostname) return hint;
  return null;
}

/** A zod string that passes `httpUrlProblem`; the value is kept as written. */
export function httpUrl(hint: string) {
  return z.string({ message: hint }).superRefine((raw, ctx) => {
    const problem = httpUrlProblem(raw, hint);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}
