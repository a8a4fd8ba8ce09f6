import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Supervisor } from '../delivery/supervisor';
import { listFailed, replayFailed } from '../support/failed-jobs';
import { bearerMatches } from './auth';

/** The admin API for support: client state, failed deliveries with the CRM's reasons, pause/resume, replay. */
export function registerAdminRoutes(app: FastifyInstance, deps: { supervisor: Supervisor; adminToken: string }): void {
  const guard = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!bearerMatches(req.headers.authorization, deps.adminToken)) {
      return reply.code(401).send({ error: 'unauthorized', message: 'send Authorization: Bearer <ADMIN_TOKEN>' });
    }
  };
  const runtimeOr404 = (id: string, reply: FastifyReply) => {
    const rt = deps.supervisor.runtime(id);
    if (!rt) void reply.code(404).send({ error: 'unknown_client', message: `unknown client '${id}'` });
    return rt;
  };

  app.get('/admin/clients', { preHandler: guard }, async () => ({
    clients: await Promise.all(deps.supervisor.clients.map((rt) => rt.status())),
  }));

  app.get<{ Params: { id: string } }>('/admin/clients/:id', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    return rt ? rt.status() : reply;
  });

  app.post<{ Params: { id: string } }>('/admin/clients/:id/pause', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    await rt.pause('admin api');
    return rt.status();
  });

  app.post<{ Params: { id: string } }>('/admin/clients/:id/resume', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    await rt.resume();
    return rt.status();
  });

  const Paging = z.object({ start: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(500).default(50) });
  app.get<{ Params: { id: string } }>('/admin/clients/:id/failed', { preHandler: guard }, async (req, reply) => {
    const rt = runtimeOr404(req.params.id, reply);
    if (!rt) return reply;
    const q = Paging.safeParse(req.query);
    if (!q.success) return reply.code(400).send({ error: 'invalid', message: q.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    return { failed: await listFailed(rt.queue, q.data) };
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
    const report = await replayFailed(rt.queue, { leadIds: b.data.leadIds, reasonContains: b.data.reasonContains, since: b.data.since ? Date.parse(b.data.since) : undefined });
    return report;
  });
}
