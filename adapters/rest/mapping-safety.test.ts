import { parseLead, type LeadV1 } from '../../src/domain/lead';
import { buildBody, readPath, readResponsePath, type BodyMapping } from './mapping';

/**
 * The schemas refuse reserved names, but the code that walks config-given paths must be safe on its
 * own: these tests hand it mappings and paths that never passed validation.
 */

const DANGEROUS = ['__proto__', 'constructor', 'prototype'] as const;
/** Inherited from Object.prototype: reading them through a path would also be reading the prototype. */
const INHERITED = ['toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'] as const;
const ALL = [...DANGEROUS, ...INHERITED];

/** Every place a segment can sit in a path. */
const pathsWith = (seg: string) => [seg, `${seg}.x`, `a.${seg}`, `a.${seg}.x`, `${seg}.prototype.x`, `constructor.prototype.${seg}`];

function prototypeSnapshot(): string {
  const describe = (o: object) =>
    Reflect.ownKeys(o)
      .map((k) => {
        const d = Object.getOwnPropertyDescriptor(o, k)!;
        return `${String(k)}:${typeof d.value}:${String(d.writable)}:${String(d.enumerable)}:${typeof d.get}:${typeof d.set}`;
      })
      .join(',');
  return [describe(Object.prototype), describe(Function.prototype), describe(Array.prototype), String(Object.getPrototypeOf(Object.prototype))].join('|');
}

const lead = (() => {
  const r = parseLead({
    leadId: 'L-1',
    clientId: 'acme',
    createdAt: '2026-11-27T10:00:00Z',
    candidate: { firstName: 'Ivan', lastName: 'Petrov', phone: '8 912 345 67 89' },
    vacancy: { title: 'Courier' },
    source: { channel: 'hh' },
    consent: { given: true, at: '2026-11-27T09:00:00Z' },
    extra: { k: '__proto__', c: 'constructor' },
  });
  if (!r.ok) throw new Error('fixture');
  return r.lead as LeadV1;
})();

let before: string;
beforeEach(() => {
  before = prototypeSnapshot();
});
afterEach(() => {
  expect(prototypeSnapshot()).toBe(before);
  expect(({} as Record<string, unknown>).x).toBeUndefined();
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
});

describe('readResponsePath never reads from a prototype', () => {
  it.each(ALL)('%s anywhere in the path reads undefined from plain objects, arrays and nested data', (seg) => {
    for (const p of pathsWith(seg)) {
      expect(readResponsePath({}, p)).toBeUndefined();
      expect(readResponsePath({ a: { x: 1 } }, p)).toBeUndefined();
      expect(readResponsePath([{ a: 1 }], p)).toBeUndefined();
      expect(readResponsePath({ a: [] }, p)).toBeUndefined();
    }
  });

  it('reads `constructor` from {} as undefined, not the Object function', () => {
    expect(readResponsePath({}, 'constructor')).toBeUndefined();
    expect(readResponsePath({ data: {} }, 'data.constructor.name')).toBeUndefined();
  });

  it('still reads the data: own properties, array elements, and a JSON key that happens to be __proto__', () => {
    expect(readResponsePath({ data: { id: 7 } }, 'data.id')).toBe(7);
    expect(readResponsePath({ items: [{ id: 'a' }, { id: 'b' }] }, 'items.1.id')).toBe('b');
    // JSON.parse makes __proto__ an own data property: it is the CRM's data, not a prototype.
    expect(readResponsePath(JSON.parse('{"__proto__": {"id": 5}}'), '__proto__.id')).toBe(5);
    expect(readResponsePath(JSON.parse('{"constructor": "c"}'), 'constructor')).toBe('c');
  });
});

describe('readPath (lead paths) never reads from a prototype', () => {
  it.each(ALL)('%s anywhere in a lead path reads undefined', (seg) => {
    for (const p of [...pathsWith(seg), `candidate.${seg}`, `extra.${seg}`, `source.utm.${seg}`]) expect(readPath(lead, p)).toBeUndefined();
  });
});

describe('buildBody cannot reach a prototype', () => {
  it.each(ALL)('a target with %s in any position writes only into the body', (seg) => {
    for (const target of pathsWith(seg)) {
      const mapping = { [target]: 'leadId', [`${target}.polluted`]: { const: true } } as unknown as BodyMapping;
      const body = buildBody(mapping, lead);
      // The value lands as the body's own data, under exactly the names written (the second
      // target replaces the first one's value with an object).
      const wire = JSON.parse(JSON.stringify(body)) as unknown;
      expect(readResponsePath(wire, `${target}.polluted`)).toBe(true);
      expect(Object.getPrototypeOf(body)).toBeNull();
    }
  });

  it.each(ALL)('a value read through %s in any position is missing, so the field is left out', (seg) => {
    for (const p of pathsWith(seg)) {
      const mapping = {
        plain: p,
        from: { from: p },
        fromDefault: { from: p, default: 'D' },
        template: { template: `[{{${p}}}]` },
        templateDefault: { template: `{{${p}}}`, default: 'T' },
      } as unknown as BodyMapping;
      expect(JSON.parse(JSON.stringify(buildBody(mapping, lead)))).toEqual({ fromDefault: 'D', template: '[]', templateDefault: 'T' });
    }
  });

  it('looks a lead value up in a value map by own keys only', () => {
    const mapping = {
      proto: { from: 'extra.k', map: { hh: 'HeadHunter' }, default: 'Other' },
      ctor: { from: 'extra.c', map: {}, default: 'Other' },
      none: { from: 'extra.c', map: {} },
    } as unknown as BodyMapping;
    expect(JSON.parse(JSON.stringify(buildBody(mapping, lead)))).toEqual({ proto: 'Other', ctor: 'Other' });
  });

  it('builds nested fields next to a const object without changing the mapping', () => {
    const mapping = { job: { const: { kind: 'retail' } }, 'job.title': 'vacancy.title' } as unknown as BodyMapping;
    expect(JSON.parse(JSON.stringify(buildBody(mapping, lead)))).toEqual({ job: { kind: 'retail', title: 'Courier' } });
    expect(JSON.parse(JSON.stringify(buildBody(mapping, lead)))).toEqual({ job: { kind: 'retail', title: 'Courier' } });
    expect(mapping).toEqual({ job: { const: { kind: 'retail' } }, 'job.title': 'vacancy.title' });
  });
});
