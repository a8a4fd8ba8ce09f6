import { problem, type Reply, type RequestContext } from './http';
import type { Catalog } from './catalog';
import type { ContactStore } from './contacts';
import type { EventLog } from './events';
import type { LeadStore } from './leads';
import { getLead, listLeads } from './lead-query';

export interface Services {
  catalog: Catalog;
  leads: LeadStore;
  contacts: ContactStore;
  events: EventLog;
  customFieldFilter: () => boolean;
}

type Handler = (ctx: RequestContext, params: string[]) => Reply;

interface Route {
  pattern: RegExp;
  methods: Record<string, Handler>;
}

function routes(s: Services): Route[] {
  const id = (params: string[]): number => Number(params[0]);
  // Order matters: literal segments before the numeric-id patterns.
  return [
    { pattern: /^\/api\/v4\/account$/, methods: { GET: () => s.catalog.account() } },
    { pattern: /^\/api\/v4\/leads\/complex$/, methods: { POST: (ctx) => s.leads.complex(ctx) } },
    { pattern: /^\/api\/v4\/leads\/pipelines$/, methods: { GET: (ctx) => s.catalog.listPipelines(ctx) } },
    { pattern: /^\/api\/v4\/leads\/pipelines\/(\d+)$/, methods: { GET: (_ctx, p) => s.catalog.getPipeline(id(p)) } },
    { pattern: /^\/api\/v4\/leads\/custom_fields$/, methods: { GET: (ctx) => s.catalog.listFields(ctx, 'leads') } },
    { pattern: /^\/api\/v4\/contacts\/custom_fields$/, methods: { GET: (ctx) => s.catalog.listFields(ctx, 'contacts') } },
    {
      pattern: /^\/api\/v4\/leads$/,
      methods: {
        GET: (ctx) => listLeads(s.leads, ctx, s.customFieldFilter()),
        POST: (ctx) => s.leads.createPlain(ctx),
        PATCH: (ctx) => s.leads.patch(ctx),
      },
    },
    {
      pattern: /^\/api\/v4\/leads\/(\d+)$/,
      methods: { GET: (ctx, p) => getLead(s.leads, ctx, id(p)), PATCH: (ctx, p) => s.leads.patch(ctx, id(p)) },
    },
    { pattern: /^\/api\/v4\/contacts$/, methods: { GET: (ctx) => s.contacts.list(ctx) } },
    { pattern: /^\/api\/v4\/contacts\/(\d+)$/, methods: { GET: (ctx, p) => s.contacts.getOne(ctx, id(p)) } },
    { pattern: /^\/api\/v4\/events$/, methods: { GET: (ctx) => s.events.list(ctx) } },
    { pattern: /^\/api\/v4\/events\/([0-9a-z]+)$/, methods: { GET: (_ctx, p) => s.events.getOne(p[0]) } },
  ];
}

export function createRouter(s: Services): (ctx: RequestContext) => Reply {
  const table = routes(s);
  return (ctx) => {
    for (const r of table) {
      const m = r.pattern.exec(ctx.path);
      if (!m) continue;
      const h = r.methods[ctx.method];
      if (h) return h(ctx, m.slice(1));
      const allow = Object.keys(r.methods).join(', ');
      return { ...problem(405, 'Method Not Allowed', `Method ${ctx.method} is not allowed`), headers: { allow } };
    }
    return notFound(ctx, s.catalog.subdomain);
  };
}

export function notFound(ctx: RequestContext, subdomain: string): Reply {
  return problem(404, 'Not Found', `Cannot ${ctx.method} https://${subdomain}.amocrm.ru${ctx.path}`);
}
