import { leadJsonSchema, MAX_LEAD_BYTES } from '../domain/lead';
import { MAX_BATCH } from '../queue/producer';
import { MAX_INTAKE_BODY_BYTES } from './intake-routes';

/**
 * The OpenAPI 3.1 document of the intake API, for HRDrom core. Built from the same zod schema that
 * validates leads, so the document cannot drift from what the service accepts.
 */
export function openApiDocument(): Record<string, unknown> {
  const { $schema: _ignored, ...lead } = leadJsonSchema();
  const fieldError = { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string', examples: ['candidate.phone'] }, message: { type: 'string' } } };
  const result = {
    type: 'object',
    required: ['index', 'status'],
    properties: {
      index: { type: 'integer', description: 'position of the lead in the request' },
      status: { enum: ['accepted', 'duplicate', 'invalid', 'unknown_client'] },
      leadId: { type: 'string' },
      jobId: { type: 'string', description: '<clientId>.<leadId>' },
      replaced: {
        const: true,
        description: 'present when the lead replaced a failed delivery of the same lead (same clientId + leadId) and was queued again with a full retry budget',
      },
      errors: { type: 'array', items: fieldError, description: 'why the lead was refused' },
      warnings: {
        type: 'array',
        items: fieldError,
        description: 'what intake repaired in the lead, or which unreadable optional field it left out; the lead was accepted (or was a duplicate) all the same',
      },
    },
  };
  const errorBody = { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } };
  const batchResponse = {
    type: 'object',
    properties: {
      accepted: { type: 'integer' },
      duplicate: { type: 'integer' },
      invalid: { type: 'integer' },
      unknownClient: { type: 'integer' },
      results: { type: 'array', items: result },
    },
  };
  const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
  return {
    openapi: '3.1.0',
    info: { title: 'lead-export intake', version: '1', description: 'HRDrom core sends leads here; lead-export delivers them to the client CRM.' },
    components: {
      schemas: { LeadV1: lead, IntakeResponse: batchResponse },
      securitySchemes: { intakeToken: { type: 'http', scheme: 'bearer', description: 'INTAKE_TOKEN' } },
    },
    security: [{ intakeToken: [] }],
    paths: {
      '/v1/leads': {
        post: {
          summary: `Enqueue one lead, or up to ${MAX_BATCH}`,
          description:
            'Accepted means durable. A lead already accepted (same clientId + leadId) comes back as duplicate and is delivered once. ' +
            'In a batch that mixes valid and invalid leads, the valid ones ARE accepted and the response is 422; sending the whole batch again is safe. ' +
            'A lead whose earlier delivery FAILED, sent again (e.g. corrected), replaces the failed one and is queued again (replaced: true). ' +
            `Limits: ${MAX_BATCH} leads and ${MAX_INTAKE_BODY_BYTES} bytes per request, ${MAX_LEAD_BYTES} bytes per lead as stored; see docs/intake.md.`,
          requestBody: {
            required: true,
            ...json({ oneOf: [{ $ref: '#/components/schemas/LeadV1' }, { type: 'array', minItems: 1, maxItems: MAX_BATCH, items: { $ref: '#/components/schemas/LeadV1' } }] }),
          },
          responses: {
            '202': { description: 'every lead accepted or a duplicate', ...json({ $ref: '#/components/schemas/IntakeResponse' }) },
            '400': { description: 'the body is not JSON (or is empty)', ...json(errorBody) },
            '401': { description: 'no token, or a wrong one', ...json(errorBody) },
            '404': { description: 'unknown client (every lead names one)', ...json({ $ref: '#/components/schemas/IntakeResponse' }) },
            '413': { description: `more than ${MAX_BATCH} leads, or a body over ${MAX_INTAKE_BODY_BYTES} bytes`, ...json(errorBody) },
            '415': { description: 'the Content-Type is not application/json', ...json(errorBody) },
            '422': { description: 'at least one lead is invalid; see results[i].errors', ...json({ $ref: '#/components/schemas/IntakeResponse' }) },
            '503': { description: 'Redis unreachable: nothing accepted; send again (Retry-After)', ...json(errorBody) },
          },
        },
      },
    },
  };
}
