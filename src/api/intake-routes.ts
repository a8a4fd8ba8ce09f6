import type { FastifyInstance } from 'fastify';
import { LeadExportError } from '../domain/errors';
import { IntakeUnavailableError, MAX_BATCH, type EnqueueResult, type LeadProducer } from '../queue/producer';
import type { Metrics } from '../observability/metrics';
import type { Logger } from '../logging/logger';
import { bearerMatches } from './auth';

/**
 * POST /v1/leads — one lead (an object) or up to 1,000 (an array).
 *
 *  202  every lead accepted or duplicate; `results[i]` per lead, with `warnings` when intake
 *       repaired the lead or left an unreadable optional field out, `replaced` when it replaced a
 *       failed delivery of the same lead.
 *  422  at least one lead invalid; `results[i]` per lead, with field errors. Valid leads in the same
 *       batch ARE accepted (see results[i].status): sending the whole batch again is safe.
 *  404  the (single) lead, or every lead, names an unknown client.
 *  401  no or wrong token.   503  Redis unreachable: nothing accepted, send again later.
 */
export function registerIntakeRoutes(app: FastifyInstance, deps: { producer: LeadProducer; intakeToken: string; metrics: Metrics; log: Logger }): void {
  app.post('/v1/leads', async (req, reply) => {
    if (!bearerMatches(req.headers.authorization, deps.intakeToken)) {
      return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'send Authorization: Bearer <INTAKE_TOKEN>' });
    }
    const body = req.body;
    const single = !Array.isArray(body);
    const leads: unknown[] = single ? [body] : (body as unknown[]);
    if (leads.length === 0) return reply.code(422).send({ error: 'invalid', message: 'the array holds no leads', results: [] });
    if (leads.length > MAX_BATCH) {
      return reply.code(413).send({ error: 'too_many', message: `at most ${MAX_BATCH} leads per request, got ${leads.length}` });
    }
    let results: EnqueueResult[];
    try {
      results = await deps.producer.enqueueMany(leads);
    } catch (err) {
      if (err instanceof IntakeUnavailableError) {
        deps.log.error({ err: err.message }, 'intake: Redis unreachable');
        return reply.code(503).header('retry-after', '5').send({ error: 'unavailable', message: 'the queue is unreachable; nothing was accepted, send again' });
      }
      if (err instanceof LeadExportError && err.kind === 'validation') return reply.code(422).send({ error: 'invalid', message: err.message });
      throw err;
    }
    for (const r of results) deps.metrics.intake.inc({ result: r.status });
    const counts = countBy(results);
    const payload = { accepted: counts.accepted, duplicate: counts.duplicate, invalid: counts.invalid, unknownClient: counts.unknown_client, results: results.map(present) };
    if (counts.unknown_client === results.length) {
      return reply.code(404).send({ error: 'unknown_client', message: `unknown client: ${[...new Set(results.map((r) => (r.status === 'unknown_client' ? r.clientId : '')))].join(', ')}`, ...payload });
    }
    if (counts.invalid > 0 || counts.unknown_client > 0) return reply.code(422).send({ error: 'invalid', ...payload });
    return reply.code(202).send(payload);
  });
}

function countBy(results: EnqueueResult[]) {
  const c = { accepted: 0, duplicate: 0, invalid: 0, unknown_client: 0 };
  for (const r of results) c[r.status] += 1;
  return c;
}

function present(r: EnqueueResult) {
  switch (r.status) {
    case 'accepted':
    case 'duplicate':
      return {
        index: r.index,
        status: r.status,
        leadId: r.leadId,
        jobId: r.jobId,
        ...(r.status === 'accepted' && r.replaced ? { replaced: true } : {}),
        ...(r.warnings.length ? { warnings: r.warnings } : {}),
      };
    case 'invalid':
      return { index: r.index, status: r.status, errors: r.issues, ...(r.warnings.length ? { warnings: r.warnings } : {}) };
    case 'unknown_client':
      return { index: r.index, status: r.status, leadId: r.leadId, errors: [{ path: 'clientId', message: `unknown client '${r.clientId}'` }] };
  }
}
