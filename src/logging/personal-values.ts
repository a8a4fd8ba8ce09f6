import type { LeadV1 } from '../domain/lead';

/**
 * The personal values of a lead, in the forms a CRM may repeat them: names, email, the comment, and
 * each phone as E.164, as bare digits and without the country code. The channel masks them in the
 * client-level text of a call that carried the lead (clientSummary), as a net under the rule that
 * such text is built from our own words only.
 */
export function personalValues(lead: LeadV1): string[] {
  const c = lead.candidate;
  const out: Array<string | undefined> = [c.firstName, c.lastName, c.middleName, c.email, lead.comment];
  for (const phone of [c.phone, ...(c.otherPhones ?? [])]) {
    const digits = phone.replace(/\D/g, '');
    out.push(phone, digits);
    // Without the country code (RU: the 10 digits after +7); long enough to be this person's only.
    if (digits.length > 10) out.push(digits.slice(digits.length - 10));
  }
  return out.filter((v): v is string => typeof v === 'string' && v.trim().length >= 3).map((v) => v.trim());
}
