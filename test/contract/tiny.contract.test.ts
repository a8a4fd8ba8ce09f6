import { registerAdapter } from '../../adapters/registry';
import type { LeadV1 } from '../../src/domain/lead';
import { eventually } from '../support/harness';
import { adapterContract, type ContractFault, type ContractTarget } from './adapter-contract';
import { tinyAdapter } from './tiny-crm/adapter';
import { startFakeTinyCrm, type TinyFault } from './tiny-crm/fake-tiny-crm';

// The third CRM kind, which exists only under test/contract/tiny-crm/: this call is its whole registration.
registerAdapter(tinyAdapter);

const API_KEY = 'tiny-key-0123456789';
const METHOD: Record<ContractTarget, string> = { create: 'lead.create', lookup: 'lead.find', ping: 'ping' };

const CRM_WORDS = 'shard 4 is rebalancing';
const retryAfter = (seconds?: number) => (seconds === undefined ? undefined : { 'Retry-After': String(seconds) });

function tinyFault(f: ContractFault): TinyFault {
  switch (f.type) {
    case 'server-error':
      return { type: 'status', status: f.status, message: CRM_WORDS, headers: retryAfter(f.retryAfterSeconds) };
    case 'refused':
      return { type: 'status', status: 400, message: CRM_WORDS };
    case 'rate-limit':
      return { type: 'status', status: 429, headers: retryAfter(f.retryAfterSeconds) };
    case 'wrong-shape':
      return { type: 'shape' };
    case 'hang':
      return { type: 'hang' };
  }
}

adapterContract({
  kind: 'tiny',
  async start() {
    const crm = await startFakeTinyCrm({ apiKey: API_KEY });
    return {
      env: { TINY_KEY: API_KEY },
      clientFile: () => ({
        name: 'Tiny contract',
        adapter: 'tiny',
        rateLimit: { requests: 50, perSeconds: 1 },
        settings: { url: crm.url, apiKey: 'env:TINY_KEY', batchSize: 10 },
        mapping: { pipeline: 'new' },
      }),
      held: (leadId) => crm.leads().filter((l) => l.external_id === leadId).map((l) => l.id),
      rejectable: (lead: LeadV1) => ({ ...lead, candidate: { ...lead.candidate, phone: '+442079460958' } }),
      rejectionReason: /INVALID_PHONE/,
      createOutOfBand: async (id) => crm.createOutOfBand(id).id,
      fault(on, f) {
        crm.injectFault(METHOD[on], tinyFault(f));
        return { crmWords: f.type === 'server-error' || f.type === 'refused' ? CRM_WORDS : undefined };
      },
      arrived: (on) => crm.calls.filter((c) => c.method === METHOD[on]).length,
      refuseCredentials: () => crm.setApiKey('rotated-by-their-admin'),
      afterClose: () => eventually(() => crm.openConnections() === 0, 'the tiny CRM to see every connection closed', 10_000),
      close: () => crm.close(),
    };
  },
});
