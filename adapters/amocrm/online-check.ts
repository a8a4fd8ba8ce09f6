import type { OnlineCheckLine, OnlineCheckReport } from '../types';
import type { AmoApi, AmoCustomField, AmoPipeline } from './api';
import type { AmoMapping, AmoSettings } from './settings';

/**
 * `clients check --online` for amoCRM: reads the live account's pipelines, statuses and custom fields
 * (read-only requests, through the client's rate limiter) and checks every id the client file names.
 */
export async function amoOnlineCheck(api: AmoApi, settings: AmoSettings, mapping: AmoMapping): Promise<OnlineCheckReport> {
  const account = await api.account('admin');
  // One after the other: the limiter would serialize them anyway, and the order keeps output stable.
  const pipelines = await api.pipelines();
  const leadFields = await api.customFields('leads');
  const contactFields = await api.customFields('contacts');
  return {
    description: [`account ${account.id} "${account.name}" (${account.subdomain})`, '', ...describeAccount(pipelines, leadFields, contactFields)],
    checks: checkAgainstAccount(settings, mapping, pipelines, leadFields, contactFields),
  };
}

type CheckLine = OnlineCheckLine;

const TEXT_TYPES = new Set(['text', 'textarea', 'tracking_data', 'url', 'streetaddress']);
/** Won (142) and lost (143): system statuses present in every pipeline (reference §7.4). */
export const CLOSED_STATUSES: ReadonlySet<number> = new Set([142, 143]);

/** Compares the client file's ids with the account. Pure, so it is unit-tested without a server. */
export function checkAgainstAccount(
  s: AmoSettings,
  m: AmoMapping,
  pipelines: AmoPipeline[],
  leadFields: AmoCustomField[],
  contactFields: AmoCustomField[],
): CheckLine[] {
  const out: CheckLine[] = [];
  const pipeline = pipelines.find((p) => p.id === s.pipelineId);
  if (!pipeline) out.push({ level: 'missing', what: `settings.pipelineId ${s.pipelineId}`, message: 'no such pipeline' });
  else out.push({ level: 'ok', what: `settings.pipelineId ${s.pipelineId}`, message: `"${pipeline.name}"` });
  const status = pipeline?._embedded.statuses.find((x) => x.id === s.statusId);
  if (!pipeline) out.push({ level: 'missing', what: `settings.statusId ${s.statusId}`, message: 'cannot be checked: the pipeline does not exist' });
  else if (!status) out.push({ level: 'missing', what: `settings.statusId ${s.statusId}`, message: `not a status of pipeline ${pipeline.id}` });
  else if (CLOSED_STATUSES.has(status.id)) out.push({ level: 'missing', what: `settings.statusId ${s.statusId}`, message: `"${status.name}" is a closed (won/lost) status; new leads must start in an open one` });
  else if (status.type === 1) out.push({ level: 'warn', what: `settings.statusId ${s.statusId}`, message: `"${status.name}" is the Unsorted stage: leads wait there to be accepted by hand` });
  else out.push({ level: 'ok', what: `settings.statusId ${s.statusId}`, message: `"${status.name}"` });

  for (const [key, fid] of Object.entries(m.fields)) {
    if (typeof fid !== 'number') continue;
    const f = leadFields.find((x) => x.id === fid);
    const what = `mapping.fields.${key} ${fid}`;
    if (!f) out.push({ level: 'missing', what, message: 'no such lead custom field' });
    else if (!TEXT_TYPES.has(f.type)) {
      out.push({
        level: key === 'externalId' ? 'missing' : 'warn',
        what,
        message: `"${f.name}" is of type ${f.type}; ${key === 'externalId' ? 'the external id needs a text field' : 'values that are not among its choices will be rejected'}`,
      });
    } else out.push({ level: 'ok', what, message: `"${f.name}" (${f.type})` });
  }

  for (const [code, wanted, key] of [
    ['PHONE', m.phoneEnum, 'phoneEnum'],
    ['EMAIL', m.emailEnum, 'emailEnum'],
  ] as const) {
    const f = contactFields.find((x) => x.code === code);
    if (!f) out.push({ level: 'missing', what: `contact field ${code}`, message: 'the account has no contact field with this code' });
    else if (!(f.enums ?? []).some((e) => e.value === wanted)) {
      out.push({ level: 'missing', what: `mapping.${key} ${wanted}`, message: `not among the ${code} types: ${(f.enums ?? []).map((e) => e.value).join(', ')}` });
    } else out.push({ level: 'ok', what: `mapping.${key} ${wanted}`, message: `${code} field ${f.id}` });
  }
  if (s.responsibleUserId !== undefined) {
    out.push({ level: 'warn', what: `settings.responsibleUserId ${s.responsibleUserId}`, message: 'not checked (needs the users API); a wrong id makes amoCRM reject every lead' });
  }
  return out;
}

function describeAccount(pipelines: AmoPipeline[], leadFields: AmoCustomField[], contactFields: AmoCustomField[]): string[] {
  const lines: string[] = ['pipelines (settings.pipelineId) and their statuses (settings.statusId):'];
  for (const p of pipelines) {
    lines.push(`  ${p.id}  ${p.name}${p.is_main ? '  [main]' : ''}${p.is_archive ? '  [archived]' : ''}`);
    for (const st of p._embedded.statuses) {
      const tag = st.type === 1 ? '  [unsorted]' : CLOSED_STATUSES.has(st.id) ? '  [closed]' : '';
      lines.push(`      ${st.id}  ${st.name}${tag}`);
    }
  }
  lines.push('lead custom fields (mapping.fields.*):');
  for (const f of leadFields) lines.push(`  ${f.id}  ${f.name}  (${f.type}${f.code ? `, code ${f.code}` : ''})`);
  lines.push('contact custom fields:');
  for (const f of contactFields) {
    const enums = f.enums?.length ? `  types: ${f.enums.map((e) => e.value).join(', ')}` : '';
    lines.push(`  ${f.id}  ${f.name}  (${f.type}${f.code ? `, code ${f.code}` : ''})${enums}`);
  }
  return lines;
}
