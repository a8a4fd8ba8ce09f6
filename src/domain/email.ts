import { domainToASCII } from 'node:url';

/**
 * E-mail addresses at intake, internationalised ones included (`иван@пример.рф`, its ASCII form
 * `ivan@xn--e1afmkfd.xn--p1ai`). The address is kept as the candidate wrote it: a recruiter reads
 * `пример.рф`, not `xn--e1afmkfd.xn--p1ai`, and converting only the domain would not make a
 * non-ASCII local part (`иван@`) deliverable by an ASCII-only mailer anyway. The domain is checked
 * through its ASCII form (`domainToASCII`, UTS #46), which is what DNS will be asked.
 */

export const MAX_EMAIL_LENGTH = 254; // RFC 5321 path limit minus the angle brackets
const MAX_LOCAL_PART = 64;
const MAX_DOMAIN = 253;

/** Characters that need quoting in a local part; quoted local parts are not accepted. */
const LOCAL_FORBIDDEN = /[\s"(),:;<>@[\\\]]/u;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A top-level domain is letters, or an IDN in its ACE form (`xn--p1ai`); never all digits. */
const TLD = /^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$/;

/** Why the address is refused, or null when it is acceptable. */
export function emailProblem(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'is not a valid email address: expected name@domain';
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > MAX_LOCAL_PART) return `is not a valid email address: the part before @ is longer than ${MAX_LOCAL_PART} characters`;
  if (LOCAL_FORBIDDEN.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
    return 'is not a valid email address: the part before @ has spaces, quotes, brackets or misplaced dots';
  }
  const ascii = domainToASCII(domain);
  if (!ascii || ascii.length > MAX_DOMAIN) return 'is not a valid email address: the domain is not a valid domain name';
  const labels = ascii.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l)) || !TLD.test(labels[labels.length - 1])) {
    return 'is not a valid email address: the domain is not a valid domain name';
  }
  return null;
}
