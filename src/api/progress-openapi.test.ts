import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { FUNNEL_STAGE_DESCRIPTIONS, FUNNEL_STAGES, parseProgressAnswer, parseProgressBatch } from '../domain/progress';
import { progressWriteBackOpenApi } from './progress-openapi';

type Json = Record<string, any>;

const doc = progressWriteBackOpenApi() as Json;
const post = doc.paths['/v1/lead-progress'].post as Json;

/** A standalone copy of the fragment that a JSON Schema validator can resolve the component $refs in. */
function validatorFor(component: string): (data: unknown) => boolean {
  // Not strict: the OpenAPI wrapper (`components`) and `x-` annotations are not JSON Schema keywords.
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats(ajv);
  ajv.addSchema({ $id: 'https://hrdrom.invalid/progress', components: doc.components }, 'doc');
  const validate = ajv.compile({ $ref: `https://hrdrom.invalid/progress#/components/schemas/${component}` });
  return (data) => validate(data) as boolean;
}

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refsIn(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

const event = {
  eventId: 'acme.lead-1.interview.1764496800000',
  clientId: 'acme',
  leadId: 'lead-1',
  crmLeadId: '9774766',
  stage: 'interview',
  crmStatus: 'pipeline 3383152 / status 142',
  changedAt: '2026-11-30T10:00:00.000Z',
  observedAt: '2026-11-30T10:00:04.512Z',
};

describe('progress write-back OpenAPI fragment', () => {
  it('describes POST /v1/lead-progress with a bearer token and every status of the contract', () => {
    expect(Object.keys(doc).sort()).toEqual(['components', 'paths']);
    expect(post.security).toEqual([{ hrdromToken: [] }]);
    expect(doc.components.securitySchemes.hrdromToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ProgressBatch' });
    expect(post.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/ProgressAnswer' });
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '413', '415', '429', '5XX']));
  });

  it('leaves no dangling $ref and no standalone-schema keywords', () => {
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(5);
    for (const ref of refs) {
      const name = ref.replace('#/components/schemas/', '');
      expect(doc.components.schemas[name]).toBeDefined();
    }
    for (const schema of Object.values(doc.components.schemas) as Json[]) {
      expect(schema.$schema).toBeUndefined();
      expect(schema.$id).toBeUndefined();
    }
  });

  it('lists every stage in funnel order, with what it means', () => {
    const stage = doc.components.schemas.ProgressEvent.properties.stage as Json;
    expect(stage.enum).toEqual([...FUNNEL_STAGES]);
    expect(stage['x-enumDescriptions']).toEqual(FUNNEL_STAGE_DESCRIPTIONS);
    for (const s of FUNNEL_STAGES) expect(stage.description).toContain(`${s}: ${FUNNEL_STAGE_DESCRIPTIONS[s]}`);
  });

  it('its own examples are valid', () => {
    expect(validatorFor('ProgressBatch')(post.requestBody.content['application/json'].example)).toBe(true);
    expect(validatorFor('ProgressAnswer')(post.responses['200'].content['application/json'].example)).toBe(true);
  });

  // A JSON Schema validator on HRDrom's side must agree with zod on lead-export's side.
  it.each([
    ['the example event', { events: [event] }, true],
    ['an offset date', { events: [{ ...event, changedAt: '2026-11-30T13:00:00+03:00' }] }, true],
    ['every stage', { events: FUNNEL_STAGES.map((stage, i) => ({ ...event, eventId: `e${i}`, stage })) }, true],
    ['no events', { events: [] }, false],
    ['501 events', { events: Array.from({ length: 501 }, (_, i) => ({ ...event, eventId: `e${i}` })) }, false],
    ['a bad stage', { events: [{ ...event, stage: 'won' }] }, false],
    ['a date without zone', { events: [{ ...event, changedAt: '2026-11-30T10:00:00' }] }, false],
    ['a 30th of February', { events: [{ ...event, observedAt: '2026-02-30T10:00:00Z' }] }, false],
    ['a missing field', { events: [{ ...event, crmLeadId: undefined }] }, false],
    ['an unknown field', { events: [{ ...event, extra: 1 }] }, false],
    ['a 301-character eventId', { events: [{ ...event, eventId: 'x'.repeat(301) }] }, false],
    ['a bad clientId', { events: [{ ...event, clientId: 'Acme' }] }, false],
  ])('the request schema and zod agree on %s', (_what, body, valid) => {
    const plain = JSON.parse(JSON.stringify(body)) as unknown;
    expect(validatorFor('ProgressBatch')(plain)).toBe(valid);
    expect(parseProgressBatch(plain).ok).toBe(valid);
  });

  it.each([
    ['all three outcomes', { results: [{ eventId: 'a', status: 'accepted' }, { eventId: 'b', status: 'duplicate' }, { eventId: 'c', status: 'rejected', reason: 'unknown lead' }] }, true],
    ['a rejection without reason', { results: [{ eventId: 'a', status: 'accepted' }, { eventId: 'b', status: 'duplicate' }, { eventId: 'c', status: 'rejected' }] }, false],
    ['an unknown status', { results: [{ eventId: 'a', status: 'ok' }, { eventId: 'b', status: 'duplicate' }, { eventId: 'c', status: 'accepted' }] }, false],
  ])('the answer schema and zod agree on %s', (_what, answer, valid) => {
    const sent = [{ eventId: 'a' }, { eventId: 'b' }, { eventId: 'c' }];
    expect(validatorFor('ProgressAnswer')(answer)).toBe(valid);
    expect(parseProgressAnswer(sent, answer).ok).toBe(valid);
  });
});
