import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADAPTERS, RESERVED_KINDS, findAdapter, registerAdapter, registryVersion } from '../../adapters/registry';
import type { AdapterDefinition } from '../../adapters/types';
import { buildCli, runCli } from '../../src/cli/main';
import { parseClientFile } from '../../src/config/client-loader';
import { LeadExportError } from '../../src/domain/errors';
import { tinyAdapter } from '../contract/tiny-crm/adapter';

// The registry can grow: a kind registered at run time is seen by the client-file schema, `clients
// check` and the CLI's per-kind commands. (Jest gives each test file its own module registry, so the
// kind registered here exists only in this file.)

const tinyFile = (over: Record<string, unknown> = {}) =>
  stringify({ id: 'shop', name: 'Shop', adapter: 'tiny', settings: { url: 'https://crm.example.com', apiKey: 'env:TINY_KEY' }, mapping: { pipeline: 'new' }, ...over });

const messages = (r: ReturnType<typeof parseClientFile>) => (r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`));

describe('before the tiny kind is registered', () => {
  test('the kind is unknown, and the schema says which kinds exist', () => {
    expect(findAdapter('tiny')).toBeUndefined();
    const r = parseClientFile('shop.yaml', tinyFile());
    expect(messages(r).join('\n')).toContain('adapter must be one of: rest, amocrm');
  });
});

describe('after registerAdapter(tinyAdapter)', () => {
  const list = ADAPTERS;
  let versionBefore = 0;
  beforeAll(() => {
    versionBefore = registryVersion();
    registerAdapter(tinyAdapter);
  });

  test('the live list, the client-file schema and clients check all see the kind', async () => {
    expect(registryVersion()).not.toBe(versionBefore);
    // The same array object, now longer: whoever kept a reference sees the new kind.
    expect(list.map((a) => a.kind)).toEqual(['rest', 'amocrm', 'tiny']);
    expect(findAdapter('tiny')).toBe(tinyAdapter);

    const ok = parseClientFile('shop.yaml', tinyFile());
    expect(ok).toMatchObject({ ok: true, config: { adapter: 'tiny', settings: { batchSize: 20 }, mapping: { pipeline: 'new' } } });
    // The kind's own schemas check its settings and mapping, and batch.size against its maximum.
    expect(messages(parseClientFile('shop.yaml', tinyFile({ settings: { url: 'https://crm.example.com', apiKey: 'inline-secret' } })))).toEqual([
      expect.stringMatching(/^settings\.apiKey: inline secrets are not allowed/),
    ]);
    expect(messages(parseClientFile('shop.yaml', tinyFile({ batch: { size: 50 } })))).toEqual(['batch.size: must be at most 20 for adapter tiny']);
    expect(messages(parseClientFile('shop.yaml', tinyFile({ adapter: 'nope' }))).join('\n')).toContain('adapter must be one of: rest, amocrm, tiny');

    const dir = await mkdtemp(join(tmpdir(), 'le-registry-'));
    try {
      await writeFile(join(dir, 'shop.yaml'), tinyFile());
      const out: string[] = [];
      const code = await runCli(['clients', 'check', dir], { out: (s) => out.push(s), err: (s) => out.push(s) }, {});
      process.exitCode = undefined;
      expect(out.join('')).toContain('shop.yaml: ok (tiny, enabled)');
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the CLI has a command group for every kind, and kinds cannot take the name of a CLI command', () => {
    const program = buildCli({ out: () => undefined, err: () => undefined }, {});
    const tiny = program.commands.find((c) => c.name() === 'tiny');
    expect(tiny?.commands.map((c) => c.name())).toEqual(['check-online']);
    const kinds = new Set(ADAPTERS.map((a) => a.kind));
    const own = program.commands.map((c) => c.name()).filter((n) => !kinds.has(n));
    // Every command of the CLI's own is reserved, so a new kind can never shadow one.
    for (const name of own) expect(RESERVED_KINDS.has(name)).toBe(true);
  });

  test.each([
    ['an already registered kind', { ...tinyAdapter }, /'tiny': it is already registered \(kinds: rest, amocrm, tiny\)/],
    ['a built-in kind', { ...tinyAdapter, kind: 'rest' }, /'rest': it is already registered/],
    ['the name of a CLI command', { ...tinyAdapter, kind: 'clients' }, /'clients': it is the name of a lead-export command/],
    ['a kind that cannot be a command name', { ...tinyAdapter, kind: 'Acme ATS' }, /"Acme ATS": a kind is 1-32 characters of a-z 0-9 -/],
    ['no kind at all', { ...tinyAdapter, kind: undefined as unknown as string }, /cannot register adapter kind undefined/],
  ])('refuses %s, saying why', (_what, def, message) => {
    const count = ADAPTERS.length;
    let caught: unknown;
    try {
      registerAdapter(def as AdapterDefinition<unknown, unknown>);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(LeadExportError);
    expect((caught as LeadExportError).kind).toBe('config');
    expect((caught as Error).message).toMatch(message);
    expect(ADAPTERS).toHaveLength(count);
  });
});
