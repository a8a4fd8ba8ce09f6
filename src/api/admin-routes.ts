import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Supervisor } from '../delivery/supervisor';
import { listFailed, replayFailed } from '../support/failed-jobs';
import { bearerMatches } from './auth';

/** An admin answer needs Redis; one that takes longer than this is answered 503 instead of hanging. */
export const ADMIN_DEADLINE_MS = 3_000;

class AdminDeadline extends Error {}

/**
 * The admin API for support: client state, failed deliveries with the CRM's reasons, pause/resume,
 * replay. All of it lives in Redis: while Redis is unreachable every route answers 503 at once,
 * naming the cause, and a call Redis does not answer within ADMIN_DEADLINE_MS gets 503 too.
 */
export function registerAdminRoutes(app: FastifyInstance, deps: { supervisor: Supervisor; adminToken: string; redisProblem: () => string | undefined }): void {
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!bearerMatches(req.headers.authorization, deps.adminToken)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <ADMIN_TOKEN>' });
    }
    const problem = deps.redisProblem();
    if (problem) return unavailable(reply, `${problem}: client state lives in Redis; try again when it answers`);
  };
  const runtimeOr404 = (id: string, reply: FastifyReply) => {
    const rt = deps.supervisor.runtime(id);
    if (!rt) void reply.code(404).send({ error: 'unknown_client', message: `unknown client '${id}'` });
    return rt;
  };
  /**
   * Runs a Redis-backed answer under the deadline (`long`: no deadline while Redis answers, for a
   * replay of thousands — but still 503 at once if Redis goes away meanwhile). A change (pause,
   * resume, replay) cut short may still be applied when Redis answers: the message says so.
   */
  const withinDeadline = async <T>(reply: FastifyReply, work: () => Promise<T>, opts: { change?: boolean; long?: boolean } = {}): Promise<T | FastifyReply> => {
    let timer: NodeJS.Timeout | undefined;
    let watch: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work(),
        new Promise<never>((_, reject) => {
          if (!opts.long) timer = setTimeout(() => reject(new AdminDeadline()), ADMIN_DEADLINE_MS);
          watch = setInterval(() => {
            if (deps.redisProblem()) reject(new AdminDeadline());
          }, 250);
        }),
      ]);
    } catch (err) {
      if (!(err instanceof AdminDeadline)) throw err;
      const why = deps.redisProblem() ?? `Redis did not answer within ${ADMIN_DEADLINE_MS} ms`;
      return unavailable(reply, opts.change ? `${why}: the change may still be applied when Redis answers; check the client's status` : `${why}; try again`);
    } finally {
      if (timer) clearTimeout(timer);
      if (watch) clearInterval(watch);
    }
  };

  app.get('/admin/clients', { preHandler: guard }, async (_req, reply) =>
    withinDeadline(reply, async () => ({ clients: await Promise.all(deps.supervisor.clients.map((rt) => rt.status())) })),
  );

  app.get<{ Params: { id: string } }>('/admin/clients/:id', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    return rt ? withinDeadline(reply, () => rt.status()) : reply;
  });

  app.post<{ Params: { id: string } }>('/admin/clients/:id/pause', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    return withinDeadline(
      reply,
      async () => {
        await rt.pause('admin api');
        return rt.status();
      },
      { change: true },
    );
  });

  app.post<{ Params: { id: string } }>('/admin/clients/:id/resume', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    return withinDeadline(
      reply,
      async () => {
        await rt.resume();
        return rt.status();
      },
      { change: true },
    );
  });

  const Paging = z.object({ start: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(500).default(50) });
  app.get<{ Params: { id: string } }>('/admin/clients/:id/failed', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    const q = Paging.safeParse(req.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid', message: q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    return withinDeadline(reply, async () => ({ failed: await listFailed(rt.queue, q.data) }));
  });

  const ReplayBody = z
    .object({
      leadIds: z.array(z.string()).min(1).max(10_000).optional(),
      reasonContains: z.string().min(1).optional(),
      since: z.iso.datetime({ offset: true }).optional(),
      all: z.boolean().optional(),
    })
    .strict()
    .refine((b) => b.all || b.leadIds || b.reasonContains || b.since, { message: 'say what to replay: leadIds, reasonContains, since, or all: true' });
  app.post<{ Params: { id: string } }>('/admin/clients/:id/replay', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    const b = ReplayBody.safeParse(req.body ?? {});
    if (!b.success) return reply.code(400).send({ error: 'invalid', message: b.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ') });
    const filter = { leadIds: b.data.leadIds, reasonContains: b.data.reasonContains, since: b.data.since ? Date.parse(b.data.since) : undefined };
    // A replay of thousands may take longer than the deadline while Redis is fine.
    return withinDeadline(reply, () => replayFailed(rt.queue, filter), { change: true, long: true });
  });
}

function unavailable(reply: FastifyReply, message: string): FastifyReply {
  return reply.code(503).header('retry-after', '5').send({ error: 'unavailable', message });
}
