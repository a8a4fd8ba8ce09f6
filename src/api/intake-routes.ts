import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LeadExportError } from '../domain/errors';
import { MAX_LEAD_BYTES } from '../domain/lead-limits';
import { IntakeUnavailableError, MAX_BATCH, type EnqueueResult, type LeadProducer } from '../queue/producer';
import type { Metrics } from '../observability/metrics';
import type { Logger } from '../logging/logger';
import { bearerMatches } from './auth';

/**
 * The largest body intake reads: a full batch of leads each at the per-lead limit. A larger body
 * cannot be a valid batch, so it is refused before it is parsed.
 */
export const MAX_INTAKE_BODY_BYTES = MAX_BATCH * MAX_LEAD_BYTES;
const ACCEPTED_TYPE = 'application/json';

/**
 * POST /v1/leads — one lead (an object) or up to 1,000 (an array).
 *
 *  202  every lead accepted or duplicate; `results[i]` per lead, with `warnings` when intake
 *       repaired the lead or left an unreadable optional field out, `replaced` when it replaced a
 *       failed delivery of the same lead.
 *  422  at least one lead invalid; `results[i]` per lead, with field errors. Valid leads in the same
 *       batch ARE accepted (see results[i].status): sending the whole batch again is safe.
 *  404  the (single) lead, or every lead, names an unknown client.
 *  400  the body is not JSON.  413  too many leads, or a body over MAX_INTAKE_BODY_BYTES.
 *  415  not application/json.  401  no or wrong token.  503  Redis unreachable: nothing accepted.
 */
export function registerIntakeRoutes(
  app: FastifyInstance,
  deps: { producer: LeadProducer; intakeToken: string; metrics: Metrics; log: Logger; redisProblem?: () => string | undefined },
): void {
  // An encapsulated scope, so intake's own JSON parser and error answers touch no other route.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(ACCEPTED_TYPE, { parseAs: 'string', bodyLimit: MAX_INTAKE_BODY_BYTES }, parseJsonBody);
    scope.setErrorHandler((err: FastifyError, _req, reply) => answerBodyError(err, reply, deps.log));

    scope.post('/v1/leads', { bodyLimit: MAX_INTAKE_BODY_BYTES, onRequest: (req, reply) => checkRequest(req, reply, deps.intakeToken) }, async (req, reply) => {
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
          // A known outage is in the log once already (RedisHealth); a request per line would bury it.
          const known = deps.redisProblem?.();
          if (known) deps.log.debug({ err: err.message }, 'intake: Redis unreachable');
          else deps.log.error({ err: err.message }, 'intake: Redis unreachable');
          const cause = known ?? 'Redis (the queue) is unreachable';
          return reply.code(503).header('retry-after', '5').send({ error: 'unavailable', message: `${cause}: nothing was accepted; send again later` });
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
  });
}

/** Auth first (an unauthenticated body is never read), then the media type. */
async function checkRequest(req: FastifyRequest, reply: FastifyReply, intakeToken: string): Promise<FastifyReply | undefined> {
  if (!bearerMatches(req.headers.authorization, intakeToken)) {
    return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', message: 'send Authorization: Bearer <INTAKE_TOKEN>' });
  }
  const sent = req.headers['content-type'];
  if ((sent ?? '').split(';')[0].trim().toLowerCase() !== ACCEPTED_TYPE) {
    const got = sent ? `got ${sent.slice(0, 100)}` : 'no Content-Type was sent';
    return reply.code(415).send({ error: 'unsupported_media_type', message: `send the leads as JSON with Content-Type: ${ACCEPTED_TYPE} (${got})` });
  }
  return undefined;
}

/**
 * Plain JSON.parse, so a syntax error is reported with its reason. A `__proto__` key stays an own
 * property of the parsed object (JSON.parse never sets prototypes); the lead schema refuses it or
 * leaves it out, with a message naming it.
 */
function parseJsonBody(_req: FastifyRequest, body: string | Buffer, done: (err: Error | null, value?: unknown) => void): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') return done(badRequest('the body is empty: send one lead (an object) or an array of leads'));
  try {
    done(null, JSON.parse(text));
  } catch (err) {
    done(badRequest(`the body is not valid JSON: ${(err as Error).message}`));
  }
}

function badRequest(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400, code: 'LE_INVALID_JSON' });
}

function answerBodyError(err: FastifyError, reply: FastifyReply, log: Logger): FastifyReply {
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || err.statusCode === 413) {
    return reply.code(413).send({
      error: 'too_large',
      message: `the body is larger than ${MAX_INTAKE_BODY_BYTES} bytes, the intake limit (${MAX_BATCH} leads of at most ${MAX_LEAD_BYTES} bytes each): send smaller batches`,
    });
  }
  if (err.statusCode === 415) return reply.code(415).send({ error: 'unsupported_media_type', message: `send the leads as JSON with Content-Type: ${ACCEPTED_TYPE}` });
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: 'bad_request', message: err.message });
  log.error({ err: err.message }, 'intake handler failed');
  return reply.code(500).send({ error: 'internal', message: 'internal error' });
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
