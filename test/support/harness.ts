import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { loadServiceConfig, type ServiceConfig } from '../../src/config/service-config';
import { createLogger } from '../../src/logging/logger';
import { startService, type RunningService, type ServiceRoles } from '../../src/service';
import type { ClientRuntime, ClientStatus } from '../../src/delivery/client-runtime';
import { cleanupPrefix, redisClient, REDIS_URL, testPrefix } from './redis';

/** Captures every log line a service writes, so tests can assert on what was (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join('\n');
  }
  messages(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

export interface Harness {
  svc: RunningService;
  config: ServiceConfig;
  logs: LogCapture;
  clientsDir: string;
  prefix: string;
  writeClient(client: Record<string, unknown>): Promise<void>;
  post(body: unknown, token?: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export const INTAKE_TOKEN = 'intake-token-0123456789abcdef';
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef';

/** A running lead-export with its own Redis prefix, clients folder and captured logs. */
export async function startHarness(
  opts: { clients?: Array<Record<string, unknown>>; env?: NodeJS.ProcessEnv; roles?: ServiceRoles; overrides?: Partial<ServiceConfig> } = {},
): Promise<Harness> {
  const prefix = testPrefix('svc');
  const clientsDir = await mkdtemp(join(tmpdir(), 'le-clients-'));
  const writeClient = (c: Record<string, unknown>) => writeFile(join(clientsDir, `${String(c.id)}.yaml`), stringify(c));
  for (const c of opts.clients ?? []) await writeClient(c);
  const env = { ...process.env, ...(opts.env ?? {}) };
  const config = loadServiceConfig(env, {
    redisUrl: REDIS_URL,
    httpPort: 0,
    httpHost: '127.0.0.1',
    clientsDir,
    intakeToken: INTAKE_TOKEN,
    adminToken: ADMIN_TOKEN,
    queuePrefix: prefix,
    configReloadMs: 500,
    shutdownTimeoutMs: 5_000,
    tokenEncryptionKey: randomBytes(32).toString('base64'),
    ...(opts.overrides ?? {}),
  });
  const logs = new LogCapture();
  const svc = await startService(config, opts.roles ?? { api: true, worker: true }, { logger: createLogger({ level: 'debug' }, logs), env });
  return {
    svc,
    config,
    logs,
    clientsDir,
    prefix,
    writeClient,
    async post(body, token = INTAKE_TOKEN) {
      const res = await fetch(`${svc.url}/v1/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    async close() {
      await svc.close();
      const r = redisClient();
      await cleanupPrefix(r, prefix);
      r.disconnect();
      await rm(clientsDir, { recursive: true, force: true });
    },
  };
}

let seq = 0;
/** A valid LeadV1 input; override any part. */
export function makeLead(clientId: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq += 1;
  return {
    leadId: `lead-${Date.now().toString(36)}-${seq}`,
    clientId,
    createdAt: '2026-11-27T10:00:00Z',
    candidate: { firstName: 'Ivan', lastName: 'Petrov', phone: '+7 912 345-67-89', email: 'ivan.petrov@example.org', city: 'Moscow' },
    vacancy: { id: 'v-1', title: 'Courier', city: 'Moscow' },
    source: { channel: 'hh', campaign: 'winter', utm: { source: 'hh', medium: 'cpc', campaign: 'winter' } },
    consent: { given: true, at: '2026-11-27T09:59:00Z' },
    ...overrides,
  };
}

/** A REST client config for the fake REST CRM; override any part. */
export function restClient(id: string, baseUrl: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    name: `Test ${id}`,
    adapter: 'rest',
    rateLimit: { requests: 50, perSeconds: 1 },
    batch: { linger: '10ms' },
    // A short lookup grace keeps tests quick; the grace itself is tested with a slow CRM.
    retry: { initialDelay: '200ms', maxDelay: '1s', jitter: 0.2, uncertainGrace: '300ms' },
    settings: {
      baseUrl,
      auth: { type: 'none' },
      create: { path: '/api/candidates', idPath: 'id', duplicate: { status: 409, idPath: 'id' }, errorPath: 'errors' },
      lookup: { path: '/api/candidates', queryParam: 'external_id', itemsPath: 'items', idPath: 'id' },
      ping: { path: '/api/ping' },
      timeoutMs: 2000,
    },
    mapping: {
      external_id: 'leadId',
      first_name: 'candidate.firstName',
      last_name: 'candidate.lastName',
      phone: 'candidate.phone',
      email: 'candidate.email',
      vacancy: 'vacancy.title',
      source: { from: 'source.channel', map: { hh: 'HeadHunter' }, default: 'Other' },
    },
    ...overrides,
  };
}

/** Polls until the check returns a truthy value, or fails the test with the message. */
type Falsy = null | undefined | false | 0 | '';
export async function eventually<T>(check: () => T | Falsy | Promise<T | Falsy>, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export function randomToken(): string {
  return randomBytes(16).toString('hex');
}

/** Waits until the client's circuit is open (the client is paused) and returns its status. */
export async function circuitOpened(rt: ClientRuntime, what = 'the client to pause', timeoutMs = 15_000): Promise<ClientStatus> {
  return eventually(async () => {
    const s = await rt.status();
    return s.circuit.state === 'open' ? s : null;
  }, what, timeoutMs);
}
