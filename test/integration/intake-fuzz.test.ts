import fc from 'fast-check';
import { LeadV1Schema } from '../../src/domain/lead';
import type { EnqueueResult } from '../../src/queue/producer';
import { makeLead } from '../support/harness';
import { startIntakeServer, type IntakeServer } from '../support/intake-server';

/**
 * Property-based: whatever arrives — random JSON, mutated valid leads, huge strings, deep nesting,
 * `__proto__` / `constructor` / `prototype` keys anywhere — intake answers 2xx or 4xx, never 5xx or
 * a crash; nothing invalid reaches a queue; Object.prototype is untouched. Runs are kept to a few
 * hundred so the file finishes well within 30 s on a busy 2-core machine.
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = readonly string[];

const CONTAINERS: Path[] = [[], ['candidate'], ['vacancy'], ['source'], ['source', 'utm'], ['consent'], ['extra']];
const FIELDS: Path[] = [
  ['leadId'], ['clientId'], ['createdAt'], ['comment'], ['extra'], ['candidate'], ['vacancy'], ['source'], ['consent'],
  ['candidate', 'firstName'], ['candidate', 'lastName'], ['candidate', 'middleName'], ['candidate', 'phone'], ['candidate', 'phoneExtension'],
  ['candidate', 'otherPhones'], ['candidate', 'email'], ['candidate', 'city'], ['vacancy', 'id'], ['vacancy', 'title'], ['vacancy', 'city'],
  ['source', 'channel'], ['source', 'campaign'], ['source', 'utm'], ['source', 'utm', 'source'], ['consent', 'given'], ['consent', 'at'],
  ['extra', 'shift'], ['extra', 'a.b'], ['extra', 'x'.repeat(70)],
];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

const nasty = fc.constantFrom('\u202E', '\u2066', '\uD800', '\uDFFF', '\u0000', '\u0085', '\r\n', '\t', 'е\u0308', '🙂', ' ', '');
const phoneish = fc
  .array(fc.constantFrom(...'0123456789 +-()/,;#x'.split(''), 'доб.', 'ext.', '+7', '8 ', '916', '495'), { maxLength: 40 })
  .map((a) => a.join(''));
const huge = fc.tuple(fc.integer({ min: 1_000, max: 300_000 }), fc.constantFrom('x', 'я', '\u202E', '🙂')).map(([n, ch]) => ch.repeat(n));
/**
 * Deep nesting is carried as a marker string and spliced into the JSON text after stringify, so the
 * test's own JSON.stringify never recurses 100,000 levels; the server gets the real thing.
 */
const DEEP = /"@@deep:(\d+):(arr|obj)@@"/g;
const deep = fc.tuple(fc.integer({ min: 50, max: 100_000 }), fc.constantFrom('arr', 'obj')).map(([n, kind]) => `@@deep:${n}:${kind}@@`);
const spliceDeep = (text: string) => text.replace(DEEP, (_m, n: string, kind: string) => (kind === 'arr' ? `${'['.repeat(+n)}1${']'.repeat(+n)}` : `${'{"a":'.repeat(+n)}1${'}'.repeat(+n)}`));
/** For the library, where there is no text: real nested objects, of a depth jest's stack bears. */
const deepObject = fc.integer({ min: 50, max: 2_000 }).map((n) => {
  let v: Json = 'bottom';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
});
const textish = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.array(fc.oneof(nasty, fc.string({ maxLength: 5 })), { maxLength: 8 }).map((a) => a.join('')));
const value: fc.Arbitrary<Json> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json> },
  { weight: 3, arbitrary: textish },
  { weight: 2, arbitrary: phoneish },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constantFrom<Json>({ polluted: 'yes' }, { prototype: { polluted: 'yes' } }, ['__proto__'], '2099-01-01T00:00:00Z', '1960-01-01T00:00:00Z') },
);

type Mutation = { kind: 'set' | 'delete'; path: Path; value: Json } | { kind: 'proto'; at: Path; key: (typeof PROTO_KEYS)[number]; value: Json };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constantFrom('set' as const, 'delete' as const), path: fc.constantFrom(...FIELDS), value }),
  fc.record({ kind: fc.constant('proto' as const), at: fc.constantFrom(...CONTAINERS), key: fc.constantFrom(...PROTO_KEYS), value }),
);

/** Sets a key as an own, enumerable data property — `obj.__proto__ = v` would change the prototype instead. */
function define(obj: Record<string, unknown>, key: string, v: unknown): void {
  Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
}

function mutate(lead: Record<string, unknown>, muts: Mutation[]): Record<string, unknown> {
  const out = structuredClone(lead);
  for (const m of muts) {
    const path = m.kind === 'proto' ? [...m.at, m.key] : m.path;
    let cur: unknown = out;
    for (const seg of path.slice(0, -1)) {
      const obj = cur as Record<string, unknown>;
      const next = Object.hasOwn(obj, seg) ? obj[seg] : undefined;
      if (next === null || typeof next !== 'object' || Array.isArray(next)) define(obj, seg, {});
      cur = obj[seg];
    }
    const last = path[path.length - 1];
    if (m.kind === 'delete') delete (cur as Record<string, unknown>)[last];
    else define(cur as Record<string, unknown>, last, m.value);
  }
  return out;
}

const mutatedLead = fc
  .tuple(fc.constantFrom('acme', 'acme', 'acme', 'ghost'), fc.array(mutation, { maxLength: 4 }))
  .map(([client, muts]) => mutate(makeLead(client), muts));

const body: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: mutatedLead },
  { weight: 2, arbitrary: fc.array(mutatedLead, { minLength: 1, maxLength: 4 }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }) },
  { weight: 1, arbitrary: deep },
);

describe('intake fuzz', () => {
  let s: IntakeServer;
  const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();

  beforeAll(async () => {
    s = await startIntakeServer();
  });
  afterAll(async () => {
    await s.close();
  });


  it('HTTP: every body gets a 2xx or 4xx with a JSON answer, and an accepted lead has a job', async () => {
    await fc.assert(
      // Sometimes cut the text short: malformed JSON must get a 400, not a 500.
      fc.asyncProperty(body, fc.option(fc.nat(), { freq: 8 }), async (b, cut) => {
        const text = spliceDeep(JSON.stringify(b));
        const r = await s.post(cut === null ? text : text.slice(0, cut % (text.length + 1)), { raw: true });
        expect(r.status).toBeGreaterThanOrEqual(200);
        expect(r.status).toBeLessThan(500);
        expect(r.body).toEqual(expect.any(Object));
        for (const res of (r.body.results ?? []) as Array<{ status: string; jobId?: string }>) {
          if (res.status === 'accepted') expect(await s.queue('acme').getJob(res.jobId!)).toBeDefined();
        }
      }),
      { numRuns: 250 },
    );
  });

  it('library: enqueueMany never throws on any value, JSON or not', async () => {
    const odd = fc.constantFrom<unknown>(undefined, () => 1, Symbol('s'), 10n, new Date(0), NaN, Infinity, Object.create(null), new Map([['a', 1]]));
    const libValue = fc.oneof(
      mutatedLead,
      odd,
      deepObject,
      fc.tuple(mutatedLead, deepObject).map(([l, d]) => ({ ...l, extra: { deep: d }, comment: d })),
      mutatedLead.map((l) => ({ ...l, candidate: Object.create({ phone: '+79123456789' }) })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(libValue, { minLength: 1, maxLength: 4 }), async (leads) => {
        const results: EnqueueResult[] = await s.producer.enqueueMany(leads);
        expect(results).toHaveLength(leads.length);
        for (const r of results) expect(['accepted', 'duplicate', 'invalid', 'unknown_client']).toContain(r.status);
      }),
      { numRuns: 150 },
    );
  });

  it('afterwards, every queued lead is valid by the strict schema itself', async () => {
    const jobs = await s.queue('acme').getJobs(['waiting', 'delayed', 'active', 'failed', 'completed'], 0, -1);
    expect(jobs.length).toBeGreaterThan(10); // the runs above did accept leads
    for (const job of jobs) {
      const again = LeadV1Schema.safeParse(job.data.lead);
      if (!again.success) throw new Error(`job ${String(job.id)} holds an invalid lead: ${again.error.message}`);
    }
    expect(await s.queue('ghost').count()).toBe(0);
  });

  it('and nothing reached Object.prototype', () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  });
});
