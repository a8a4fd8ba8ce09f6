import { z } from 'zod';
import {
  MAX_PROGRESS_EVENTS,
  ProgressAnswerSchema,
  ProgressBatchSchema,
  ProgressErrorSchema,
  ProgressEventSchema,
  ProgressResultSchema,
} from '../domain/progress';

const REF = '#/components/schemas/';

/**
 * The progress write-back endpoint that HRDrom core implements and lead-export calls, as an
 * OpenAPI 3.1 fragment (`paths` + `components`) to merge into a full document. Generated from the
 * zod schemas that lead-export and the fake HRDrom validate with, so it cannot drift from them.
 */
export function progressWriteBackOpenApi(): Record<string, unknown> {
  // A private registry: the ids exist only in this document, so other toJSONSchema calls stay inline.
  const registry = z.registry<{ id: string }>();
  registry.add(ProgressEventSchema, { id: 'ProgressEvent' });
  registry.add(ProgressBatchSchema, { id: 'ProgressBatch' });
  registry.add(ProgressResultSchema, { id: 'ProgressResult' });
  registry.add(ProgressAnswerSchema, { id: 'ProgressAnswer' });
  registry.add(ProgressErrorSchema, { id: 'ProgressError' });
  const generated = z.toJSONSchema(registry, { uri: (id) => `${REF}${id}`, io: 'input', unrepresentable: 'any' }) as {
    schemas: Record<string, Record<string, unknown>>;
  };
  // $schema and $id belong to standalone JSON Schema files; inside OpenAPI components they are noise.
  const schemas = Object.fromEntries(
    Object.entries(generated.schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]),
  );

  const json = (ref: string, example?: unknown) => ({
    content: { 'application/json': { schema: { $ref: `${REF}${ref}` }, ...(example === undefined ? {} : { example }) } },
  });
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

  return {
    components: {
      schemas,
      securitySchemes: { hrdromToken: { type: 'http', scheme: 'bearer', description: 'HRDROM_TOKEN' } },
    },
    paths: {
      '/v1/lead-progress': {
        post: {
          operationId: 'postLeadProgress',
          summary: `Record funnel-stage changes of leads, 1 to ${MAX_PROGRESS_EVENTS} per request`,
          description:
            'Idempotent by eventId: an event accepted before comes back as duplicate, so the sender resends freely after a timeout or a 5xx. ' +
            'Each event gets its own result (accepted, duplicate or rejected with a reason), in request order. ' +
            'The receiver orders each lead\'s stages by changedAt, not by arrival.',
          security: [{ hrdromToken: [] }],
          requestBody: { required: true, ...json('ProgressBatch', { events: [event] }) },
          responses: {
            '200': {
              description: 'the request was taken; every event has its own result',
              ...json('ProgressAnswer', { results: [{ eventId: event.eventId, status: 'accepted' }] }),
            },
            '400': { description: 'not JSON, no events array, or an event with a missing or bad field; nothing recorded', ...json('ProgressError') },
            '401': { description: 'no bearer token, or a wrong one', ...json('ProgressError') },
            '413': { description: `more than ${MAX_PROGRESS_EVENTS} events (or an oversized body); nothing recorded`, ...json('ProgressError') },
            '415': { description: 'Content-Type is not application/json', ...json('ProgressError') },
            '429': { description: 'slow down; honour Retry-After, then send the same events again' },
            '5XX': { description: 'HRDrom failed; some events may be recorded: send the same events again (duplicates are answered as such)' },
          },
        },
      },
    },
  };
}
