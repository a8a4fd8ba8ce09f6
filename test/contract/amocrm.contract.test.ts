import { exchangeCode } from '../../adapters/amocrm/oauth';
import type { AmoSettings } from '../../adapters/amocrm/settings';
import type { LeadV1 } from '../../src/domain/lead';
import { SELECT_VACANCY_FIELDS } from '../support/amocrm-fixtures';
import { startFakeAmo, type AmoFault, type FakeAmo, type RecordedAmoRequest } from '../support/fake-amocrm';
import { adapterContract, type ContractFault, type ContractTarget } from './adapter-contract';

// amoCRM against the fake amoCRM: OAuth (rotating refresh tokens), complex creates of up to 50 leads,
// a vacancy select field that refuses unknown choices (how a lead gets rejected).

const OAUTH = { clientId: 'amo-cid', clientSecret: 'amo-secret-value', redirectUri: 'https://hrdrom.test/amocrm' };
const EXTERNAL_ID_FIELD = 500;

const MATCH: Record<ContractTarget, { method: string; path: RegExp }> = {
  create: { method: 'POST', path: /^\/api\/v4\/leads\/complex$/ },
  lookup: { method: 'GET', path: /^\/api\/v4\/leads$/ },
  ping: { method: 'GET', path: /^\/api\/v4\/account$/ },
};

const externalId = (l: ReturnType<FakeAmo['leads']>[number]) => l.custom_fields_values?.find((f) => f.field_id === EXTERNAL_ID_FIELD)?.values[0]?.value;
/**
 * What the fake amoCRM says (fake-amocrm/faults.ts): its own problem+json on a 500 and a 400, its
 * gateway's nginx page (the title) on the other 5xx.
 */
function crmWordsOf(f: ContractFault): string | undefined {
  if (f.type === 'refused') return 'Bad Request';
  if (f.type !== 'server-error') return undefined;
  return { 500: 'ErrInternalServer', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out' }[f.status];
}

const retryAfter = (seconds?: number) => (seconds === undefined ? undefined : { 'Retry-After': String(seconds) });

function amoFault(f: ContractFault): AmoFault {
  switch (f.type) {
    case 'server-error':
      return { type: 'status', status: f.status, headers: retryAfter(f.retryAfterSeconds) };
    case 'refused':
      return { type: 'status', status: 400 };
    case 'rate-limit':
      return { type: 'status', status: 429, headers: retryAfter(f.retryAfterSeconds) };
    case 'wrong-shape':
      return { type: 'shape' };
    case 'hang':
      return { type: 'timeout' };
  }
}

const hits = (r: RecordedAmoRequest, on: ContractTarget) => r.method === MATCH[on].method && MATCH[on].path.test(r.path);

adapterContract({
  kind: 'amocrm',
  async start() {
    const fake = await startFakeAmo({ ...OAUTH, leadCustomFields: SELECT_VACANCY_FIELDS });
    return {
      env: { AMO_SECRET: OAUTH.clientSecret },
      clientFile: () => ({
        name: 'amoCRM contract',
        adapter: 'amocrm',
        rateLimit: { requests: 7, perSeconds: 1 },
        settings: {
          baseUrl: fake.url,
          auth: { type: 'oauth', clientId: OAUTH.clientId, clientSecret: 'env:AMO_SECRET', redirectUri: OAUTH.redirectUri },
          pipelineId: 1000,
          statusId: 1002,
        },
        mapping: { fields: { externalId: EXTERNAL_ID_FIELD, vacancy: 501, city: 502, source: 503 } },
      }),
      async connect(channel) {
        const { settings, ctx } = channel.adapterParts();
        await exchangeCode(settings as AmoSettings, fake.issueCode(), ctx);
      },
      held: (leadId) => fake.leads().filter((l) => externalId(l) === leadId).map((l) => String(l.id)),
      // The vacancy field is a select of Courier and Picker: any other vacancy is NotSupportedChoice.
      rejectable: (lead: LeadV1) => ({ ...lead, vacancy: { ...lead.vacancy, title: 'Welder' } }) as LeadV1,
      rejectionReason: /NotSupportedChoice/,
      createOutOfBand: async (id) => String(fake.createForeignLead({ fields: { [EXTERNAL_ID_FIELD]: id }, pipelineId: 1000, statusId: 1002 }).id),
      fault(on, f) {
        fake.injectFault(amoFault(f), { match: MATCH[on] });
        return { crmWords: crmWordsOf(f) };
      },
      arrived: (on) => fake.requests.filter((r) => hits(r, on)).length,
      refuseCredentials: () => fake.revokeAllTokens(),
      renewals: () => fake.stats().refreshes,
      // The access token stops working, so the next request must refresh it, and a refresh needs the client secret.
      needSecretNext: () => fake.expireAccessTokens(),
      close: () => fake.close(),
    };
  },
});
