import type { LeadV1 } from '../../src/domain/lead';
import { startFakeRestCrm, type FaultSpec, type RecordedRequest } from '../support/fake-rest-crm';
import { adapterContract, type ContractFault, type ContractTarget } from './adapter-contract';

// The REST adapter against the fake REST CRM, as a demanding client would configure it: a login
// session (refresh, logout), a batch endpoint whose results come errors-first, a substring lookup,
// and a CRM that refuses any phone outside Russia (how a lead gets rejected).

const USER = { username: 'robot', password: 'robot-pw-123' };

const MATCH: Record<ContractTarget, { method: string; path: RegExp }> = {
  create: { method: 'POST', path: /^\/api\/candidates(\/batch)?$/ },
  lookup: { method: 'GET', path: /^\/api\/candidates$/ },
  ping: { method: 'GET', path: /^\/api\/ping$/ },
};

const CRM_WORDS = 'database is read-only (node db-3)';
const retryAfter = (seconds?: number) => (seconds === undefined ? undefined : { 'Retry-After': String(seconds) });

function restFault(f: ContractFault): FaultSpec {
  switch (f.type) {
    case 'server-error':
      return { type: 'status', status: f.status, body: { errors: `${CRM_WORDS}; trace 9f1c` }, headers: retryAfter(f.retryAfterSeconds) };
    case 'refused':
      return { type: 'status', status: 400, body: { errors: `unknown parameter; ${CRM_WORDS}` } };
    case 'rate-limit':
      return { type: 'rate-limit', retryAfter: String(f.retryAfterSeconds) };
    case 'wrong-shape':
      return { type: 'shape' };
    case 'hang':
      return { type: 'timeout' };
  }
}

const hits = (r: RecordedRequest, on: ContractTarget) => r.method === MATCH[on].method && MATCH[on].path.test(r.path);

adapterContract({
  kind: 'rest',
  async start() {
    const crm = await startFakeRestCrm({ auth: { mode: 'login', ...USER }, acceptedPhonePrefixes: ['+7'], batchResultOrder: 'errors-first' });
    return {
      env: { REST_PASSWORD: USER.password },
      clientFile: () => ({
        name: 'REST contract',
        adapter: 'rest',
        rateLimit: { requests: 50, perSeconds: 1 },
        settings: {
          baseUrl: crm.url,
          auth: {
            type: 'login',
            username: USER.username,
            password: 'env:REST_PASSWORD',
            login: { path: '/auth/login' },
            refreshTokenPath: 'refresh_token',
            expiresInPath: 'expires_in',
            refresh: { path: '/auth/refresh' },
            revoke: { path: '/auth/logout' },
          },
          create: { path: '/api/candidates', idPath: 'id', duplicate: { status: 409, idPath: 'id' }, errorPath: 'errors' },
          batch: {
            path: '/api/candidates/batch',
            maxSize: 10,
            itemsField: 'items',
            resultsPath: 'results',
            resultKeyPath: 'external_id',
            resultIdPath: 'id',
            resultErrorPath: 'errors',
            resultStatusPath: 'status',
            duplicateValue: 'duplicate',
          },
          lookup: { path: '/api/candidates', queryParam: 'external_id', itemsPath: 'items', idPath: 'id', externalIdPath: 'external_id' },
          ping: { path: '/api/ping' },
        },
        mapping: {
          external_id: 'leadId',
          first_name: 'candidate.firstName',
          last_name: 'candidate.lastName',
          phone: 'candidate.phone',
          email: 'candidate.email',
          vacancy: 'vacancy.title',
        },
      }),
      held: (leadId) => crm.candidates().filter((c) => c.body.external_id === leadId).map((c) => c.id),
      rejectable: (lead: LeadV1) => ({ ...lead, candidate: { ...lead.candidate, phone: '+442079460958' } }),
      rejectionReason: /phone/,
      async createOutOfBand(externalId) {
        // A person's own session, as another tool would use the API.
        const login = await fetch(`${crm.url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(USER) });
        const { access_token } = (await login.json()) as { access_token: string };
        const res = await fetch(`${crm.url}/api/candidates`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` },
          body: JSON.stringify({ external_id: externalId, first_name: 'Typed', phone: '+70000000000' }),
        });
        return ((await res.json()) as { id: string }).id;
      },
      fault(on, f) {
        crm.injectFault(restFault(f), { match: MATCH[on] });
        return { crmWords: f.type === 'server-error' || f.type === 'refused' ? CRM_WORDS : undefined };
      },
      arrived: (on) => crm.requests.filter((r) => hits(r, on)).length,
      refuseCredentials() {
        // The password changed on the CRM's side and every token is void: nothing can renew the session.
        crm.setCredentials(USER.username, 'changed-by-their-admin');
        crm.expireTokens();
        crm.revokeRefreshTokens();
      },
      // Attempts, refused ones included (stats() counts only the successful ones).
      renewals: () => crm.requests.filter((r) => r.method === 'POST' && /^\/auth\/(login|refresh)$/.test(r.path)).length,
      afterClose: () => expect(crm.openSessions()).toEqual([]),
      close: () => crm.close(),
    };
  },
});
