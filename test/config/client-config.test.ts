import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { formatClientFileError, parseClientFile } from '../../src/config/client-loader';
import { loadServiceConfig } from '../../src/config/service-config';
import { runCli } from '../../src/cli/main';
import { restClient } from '../support/harness';

const good = () => restClient('acme', 'https://crm.acme.example');

function errorsOf(file: string, obj: unknown): string[] {
  const r = parseClientFile(file, typeof obj === 'string' ? obj : stringify(obj));
  return r.ok ? [] : r.errors.map(formatClientFileError);
}

describe('client config files', () => {
  it('accepts the shipped example and a minimal REST client', () => {
    expect(errorsOf('acme.yaml', good())).toEqual([]);
    const r = parseClientFile('acme.yaml', stringify(good()));
    expect(r.ok && r.config.retry.maxDeliveryAge).toBe(72 * 3600_000);
    expect(r.ok && r.config.batch.linger).toBe(10);
  });

  it('reports every error with its file and path', () => {
    const c = good() as any;
    delete c.mapping;
    c.rateLimit = { requests: 0, perSeconds: 1 };
    c.settings.create.path = 'no-slash';
    expect(errorsOf('acme.yaml', c)).toEqual([
      'acme.yaml: rateLimit.requests: requests must be at least 1',
      "acme.yaml: settings.create.path: must be a path starting with '/' (the origin comes from baseUrl)",
      'acme.yaml: mapping: Required',
    ]);
  });

  it('names a mapping field that reads an unknown lead field', () => {
    const c = good() as any;
    c.mapping.phone = 'candidate.phon';
    c.mapping.full = { template: '{{candidate.firstName}} {{candidate.nick}}' };
    const errs = errorsOf('acme.yaml', c);
    expect(errs).toEqual([
      expect.stringMatching(/^acme\.yaml: mapping\.phone: 'candidate\.phon' is not a lead field/),
      'acme.yaml: mapping.full.template: template placeholder {{candidate.nick}} is not a lead field',
    ]);
  });

  it.each([
    ['bearer', { type: 'bearer', token: 'abc123secret' }, 'settings.auth.token'],
    ['header', { type: 'header', header: 'X-Api-Key', value: 'k-123' }, 'settings.auth.value'],
    ['basic', { type: 'basic', username: 'u', password: 'p4ss' }, 'settings.auth.password'],
  ])('refuses an inline %s secret and says how to fix it', (_n, auth, path) => {
    const c = good() as any;
    c.settings.auth = auth;
    expect(errorsOf('acme.yaml', c)).toEqual([`acme.yaml: ${path}: inline secrets are not allowed: put the value in an environment variable and write env:NAME, or in a file and write file:/path/to/file`]);
  });

  it('checks the circuit cooldowns against each other', () => {
    const c = good() as any;
    c.circuit = { cooldown: '15m' };
    expect(errorsOf('acme.yaml', c)).toEqual(['acme.yaml: circuit.maxCooldown: must be at least cooldown (900000 ms)']);
    c.circuit = { cooldown: 0 };
    expect(errorsOf('acme.yaml', c)).toEqual(['acme.yaml: circuit.cooldown: must be at least 1s: probes need time between them']);
  });

  it('accepts env: and file: secret references', () => {
    const c = good() as any;
    c.settings.auth = { type: 'bearer', token: 'env:ACME_TOKEN' };
    expect(errorsOf('acme.yaml', c)).toEqual([]);
    c.settings.auth = { type: 'basic', username: 'u', password: 'file:/run/secrets/acme' };
    expect(errorsOf('acme.yaml', c)).toEqual([]);
  });

  it('requires the id to match the file name and caps the batch at the adapter maximum', () => {
    expect(errorsOf('other.yaml', good())).toEqual(["other.yaml: id: must match the file name: the file is other.yaml, so id must be 'other'"]);
    const c = good() as any;
    c.batch = { size: 10 };
    expect(errorsOf('acme.yaml', c)).toEqual(['acme.yaml: batch.size: must be at most 1 for adapter rest']);
  });

  it('names an unknown adapter, a bad duration, an unknown key and a YAML syntax error', () => {
    expect(errorsOf('x.yaml', { id: 'x', name: 'X', adapter: 'soap' })).toEqual([expect.stringMatching(/^x\.yaml: adapter: adapter must be one of: rest/)]);
    const c = good() as any;
    c.retry.maxDeliveryAge = 'three days';
    c.retrys = {};
    expect(errorsOf('acme.yaml', c).sort()).toEqual(
      [
        "acme.yaml: retry.maxDeliveryAge: 'three days' is not a duration: write e.g. 500ms, 30s, 10m, 72h or 30d",
        "acme.yaml: unknown field(s) 'retrys': check the spelling",
      ].sort(),
    );
    expect(errorsOf('acme.yaml', 'id: [\n')[0]).toMatch(/^acme\.yaml: YAML error: .*line 2/);
  });
});

describe('lead-export clients check', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'le-check-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    process.exitCode = undefined;
    const code = await runCli(args, { out: (s) => out.push(s), err: (s) => err.push(s) }, {});
    process.exitCode = undefined;
    return { code, out: out.join(''), err: err.join('') };
  };

  it('exits 0 for a folder of good files, including the shipped examples', async () => {
    await writeFile(join(dir, 'acme.yaml'), stringify(good()));
    expect(await run(['clients', 'check', dir])).toEqual({ code: 0, out: expect.stringContaining('1 file(s) checked, 0 error(s)'), err: '' });
    const shipped = await run(['clients', 'check', 'config/clients']);
    expect(shipped.err).toBe('');
    expect(shipped.code).toBe(0);
  });

  it('prints every error with file and path and exits 1', async () => {
    const bad = good() as any;
    delete bad.mapping.phone;
    bad.mapping.phone = 'candidate.phon';
    bad.settings.auth = { type: 'bearer', token: 'inline-token' };
    await writeFile(join(dir, 'acme.yaml'), stringify(bad));
    await writeFile(join(dir, 'beta.yaml'), 'id: beta\nname: Beta\n');
    const r = await run(['clients', 'check', dir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('acme.yaml: settings.auth.token: inline secrets are not allowed');
    expect(r.err).toContain("acme.yaml: mapping.phone: 'candidate.phon' is not a lead field");
    expect(r.err).toContain('beta.yaml: adapter:');
  });

  it('rejects a bad CLI argument with a message and exit code 2', async () => {
    const r = await run(['clients', 'pause', 'Not An Id']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("'Not An Id' is not a client id");
    const r2 = await run(['replay', 'acme', '--since', 'yesterday']);
    expect(r2.code).toBe(2);
    expect(r2.err).toContain("'yesterday' is not a date-time");
  });
});

describe('service config', () => {
  it('names the variable of every bad value and never echoes a secret', () => {
    expect(() => loadServiceConfig({ REDIS_URL: 'localhost:6379', HTTP_PORT: 'eighty', INTAKE_TOKEN: 'short-secret' })).toThrow(
      /REDIS_URL .*must be a redis:\/\/.*HTTP_PORT .*INTAKE_TOKEN/s,
    );
    try {
      loadServiceConfig({ INTAKE_TOKEN: 'short-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('short-secret');
      expect((err as { kind?: string }).kind).toBe('config');
    }
  });

  it('has working defaults', () => {
    const c = loadServiceConfig({});
    expect(c).toEqual(expect.objectContaining({ redisUrl: 'redis://127.0.0.1:6379', clientsDir: 'config/clients', queuePrefix: 'le', logLevel: 'info' }));
  });
});

describe('service config overrides', () => {
  it('lets explicit overrides win over the environment (the demo and tests rely on it)', () => {
    const c = loadServiceConfig({ REDIS_URL: 'redis://10.0.0.1:6390', QUEUE_PREFIX: 'env' }, { redisUrl: 'redis://127.0.0.1:7000', queuePrefix: 'override' });
    expect(c.redisUrl).toBe('redis://127.0.0.1:7000');
    expect(c.queuePrefix).toBe('override');
    expect(() => loadServiceConfig({}, { queuePrefix: 'bad prefix!' })).toThrow(/QUEUE_PREFIX/);
  });
});
