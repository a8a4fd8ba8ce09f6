/**
 * A CRM's error text can echo what we sent (an email, a phone). Before such text reaches a log line,
 * emails and long digit runs are masked. Names cannot be recognised reliably, which is why the code
 * logs CRM text only where ops need it (alert details), and keeps full reasons on the job instead.
 */
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const PHONE = /\+?\d[\d\s()-]{6,}\d/g;

export function scrubPersonalData(text: string): string {
  return text.replace(EMAIL, '[email]').replace(PHONE, '[number]');
}
