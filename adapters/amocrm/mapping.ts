import type { LeadV1 } from '../../src/domain/lead';
import type { AmoFields, AmoMapping, AmoSettings, TagSource } from './settings';

/**
 * LeadV1 → one element of POST /api/v4/leads/complex (reference §5.2). Pure: no I/O, no clock,
 * so what we send is fully determined by the lead and the client file, and unit-testable.
 */

export interface AmoFieldValue {
  field_id?: number;
  field_code?: string;
  values: Array<{ value: string; enum_code?: string }>;
}

export interface AmoComplexContact {
  first_name: string;
  last_name?: string;
  custom_fields_values: AmoFieldValue[];
}

export interface AmoComplexLead {
  /** The index in the batch, as a string: amoCRM echoes it back to match results and errors. */
  request_id: string;
  name: string;
  pipeline_id: number;
  status_id: number;
  responsible_user_id?: number;
  created_at: number;
  custom_fields_values: AmoFieldValue[];
  _embedded: {
    contacts: [AmoComplexContact];
    tags?: Array<{ name: string }>;
  };
}

/** amoCRM cuts lead names; we cut first, so the name never fails validation. */
const MAX_NAME = 255;
const MAX_TAG = 100;

export function leadName(lead: LeadV1): string {
  const person = [lead.candidate.firstName, lead.candidate.lastName].filter(Boolean).join(' ');
  const name = `${lead.vacancy.title} — ${person}`;
  return name.length > MAX_NAME ? `${name.slice(0, MAX_NAME - 1)}…` : name;
}

/** ISO-8601 → Unix seconds (amoCRM's timestamps). LeadV1 has already validated the date. */
export function unixSeconds(iso: string): number {
  return Math.floor(Date.parse(iso) / 1000);
}

function text(fieldId: number | undefined, value: string | undefined): AmoFieldValue[] {
  if (fieldId === undefined || value === undefined || value.trim() === '') return [];
  return [{ field_id: fieldId, values: [{ value }] }];
}

/** Lead custom fields, in a fixed order (the order shows up in amoCRM's validation paths). */
export function leadFieldValues(lead: LeadV1, f: AmoFields): AmoFieldValue[] {
  const utm = lead.source.utm ?? {};
  return [
    ...text(f.externalId, lead.leadId),
    ...text(f.vacancy, lead.vacancy.title),
    ...text(f.city, lead.vacancy.city ?? lead.candidate.city),
    ...text(f.source, lead.source.channel),
    ...text(f.utmSource, utm.source),
    ...text(f.utmMedium, utm.medium),
    ...text(f.utmCampaign, utm.campaign),
    ...text(f.utmTerm, utm.term),
    ...text(f.utmContent, utm.content),
  ];
}

function tagSourceValue(lead: LeadV1, from: TagSource): string | undefined {
  switch (from) {
    case 'source.channel':
      return lead.source.channel;
    case 'source.campaign':
      return lead.source.campaign;
    case 'vacancy.id':
      return lead.vacancy.id;
    case 'vacancy.title':
      return lead.vacancy.title;
    case 'vacancy.city':
      return lead.vacancy.city;
  }
}

export function leadTags(lead: LeadV1, m: AmoMapping): Array<{ name: string }> {
  const out: Array<{ name: string }> = [];
  const seen = new Set<string>();
  for (const spec of m.tags) {
    const raw = typeof spec === 'string' ? spec : tagSourceValue(lead, spec.from);
    const name = raw?.trim().slice(0, MAX_TAG);
    // amoCRM matches tag names case-insensitively: sending both "HH" and "hh" would be one tag twice.
    if (!name || seen.has(name.toLowerCase())) continue;
    seen.add(name.toLowerCase());
    out.push({ name });
  }
  return out;
}

export function contactOf(lead: LeadV1, m: AmoMapping): AmoComplexContact {
  const c = lead.candidate;
  const cf: AmoFieldValue[] = [{ field_code: 'PHONE', values: [{ value: c.phone, enum_code: m.phoneEnum }] }];
  if (c.email) cf.push({ field_code: 'EMAIL', values: [{ value: c.email, enum_code: m.emailEnum }] });
  // amoCRM contacts have first and last name only; the Russian habit is "Имя Отчество" in first_name.
  const first = [c.firstName, c.middleName].filter(Boolean).join(' ');
  return { first_name: first, ...(c.lastName ? { last_name: c.lastName } : {}), custom_fields_values: cf };
}

export function toComplexLead(lead: LeadV1, index: number, s: Pick<AmoSettings, 'pipelineId' | 'statusId' | 'responsibleUserId'>, m: AmoMapping): AmoComplexLead {
  const tags = leadTags(lead, m);
  return {
    request_id: String(index),
    name: leadName(lead),
    pipeline_id: s.pipelineId,
    status_id: s.statusId,
    ...(s.responsibleUserId !== undefined ? { responsible_user_id: s.responsibleUserId } : {}),
    created_at: unixSeconds(lead.createdAt),
    custom_fields_values: leadFieldValues(lead, m.fields),
    _embedded: { contacts: [contactOf(lead, m)], ...(tags.length ? { tags } : {}) },
  };
}

/** The request body of one complex request: request_id = index in this body. */
export function toComplexBatch(leads: readonly LeadV1[], s: Pick<AmoSettings, 'pipelineId' | 'statusId' | 'responsibleUserId'>, m: AmoMapping): AmoComplexLead[] {
  return leads.map((lead, i) => toComplexLead(lead, i, s, m));
}
