import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The fake "tiny CRM": a JSON-RPC 2.0 API behind one endpoint, `POST /rpc`, authenticated by an API
 * key in `X-Api-Key`. It exists to prove that a new CRM kind needs nothing outside its folder, so it
 * is small, but it keeps the quirks that make an adapter earn its keep:
 *
 *  - `lead.create` answers its results in REVERSE order (each names its `external_id`);
 *  - `lead.find` is a PREFIX search: `x-7` also finds `x-77`;
 *  - a refused lead is an error item inside a 200 answer, not an HTTP error;
 *  - a wrong API key is HTTP 401 with a JSON-RPC error; other JSON-RPC errors come with HTTP 200.
 *
 * Methods: `ping` → {pong: true}; `pipelines.list` → {pipelines: [names]}; `lead.create`
 * {pipeline, leads: [{external_id, name, phone, email?, vacancy?}]} (≤ 20; a phone must start with
 * +7) → {results: [{external_id, id, duplicate?} | {external_id, error: {code, message}}]};
 * `lead.find` {external_id} → {leads: [{id, external_id, pipeline}]}.
 */

export interface TinyLead {
  id: string;
  external_id: string;
  pipeline: string;
  name: string;
  phone: string;
}

export type TinyFault =
  /** This HTTP status, with a JSON-RPC error whose message is `message`; nothing is done. */
  | { type: 'status'; status: number; message?: string; headers?: Record<string, string> }
  /** Never answered; the socket is held until the client gives up or the fake closes. */
  | { type: 'hang' }
  /** The work is done, then a 200 of the wrong shape. */
  | { type: 'shape' };

export interface FakeTinyCrm {
  readonly url: string;
  /** Every RPC call: method and the HTTP status answered (0: none). */
  readonly calls: Array<{ method: string; status: number }>;
  leads(): TinyLead[];
  /** A lead typed in by a person (or imported): for look-ups of leads lead-export did not create. */
  createOutOfBand(externalId: string): TinyLead;
  setApiKey(key: string): void;
  /** Arms a fault for the next `times` calls of an RPC method. */
  injectFault(method: string, fault: TinyFault, times?: number): void;
  /** TCP connections currently open to the fake. */
  openConnections(): number;
  close(): Promise<void>;
}

const MAX_BATCH = 20;

export async function startFakeTinyCrm(opts: { apiKey: string; pipelines?: string[] }): Promise<FakeTinyCrm> {
  let apiKey = opts.apiKey;
  const pipelines = opts.pipelines ?? ['new', 'screening'];
  const store: TinyLead[] = [];
  const calls: FakeTinyCrm['calls'] = [];
  const faults: Array<{ method: string; fault: TinyFault; left: number }> = [];
  const sockets = new Set<Socket>();
  let seq = 0;

  const newLead = (l: Omit<TinyLead, 'id'>): TinyLead => {
    const lead = { id: `T${++seq}`, ...l };
    store.push(lead);
    return lead;
  };

  const methods: Record<string, (p: Record<string, unknown>) => unknown> = {
    ping: () => ({ pong: true }),
    'pipelines.list': () => ({ pipelines }),
    'lead.find': (p) => {
      const q = String(p.external_id ?? '');
      return { leads: store.filter((l) => l.external_id.startsWith(q)).map(({ id, external_id, pipeline }) => ({ id, external_id, pipeline })) };
    },
    'lead.create': (p) => {
      const leads = Array.isArray(p.leads) ? (p.leads as Array<Record<string, unknown>>) : [];
      if (leads.length === 0 || leads.length > MAX_BATCH) throw rpcError(-32602, `leads must hold 1 to ${MAX_BATCH} items`);
      const results = leads.map((l) => {
        const external_id = String(l.external_id ?? '');
        if (!external_id) return { external_id, error: { code: 'MISSING_EXTERNAL_ID', message: 'external_id is required' } };
        if (!String(l.phone ?? '').startsWith('+7')) return { external_id, error: { code: 'INVALID_PHONE', message: 'phone must be a Russian number (+7…)' } };
        const dup = store.find((s) => s.external_id === external_id);
        if (dup) return { external_id, id: dup.id, duplicate: true };
        return { external_id, id: newLead({ external_id, pipeline: String(p.pipeline), name: String(l.name ?? ''), phone: String(l.phone) }).id };
      });
      return { results: results.reverse() };
    },
  };

  const server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/rpc') return send(404, { error: 'not found: the API is POST /rpc' });
    let call: { id?: unknown; method?: unknown; params?: unknown };
    try {
      call = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof call;
    } catch {
      return send(200, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
    }
    const method = String(call.method);
    const record = { method, status: 0 };
    calls.push(record);
    const reply = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => {
      record.status = status;
      send(status, { jsonrpc: '2.0', id: call.id ?? null, ...body }, headers);
    };
    if (req.headers['x-api-key'] !== apiKey) return reply(401, { error: { code: -32001, message: 'invalid API key' } });
    const armed = faults.find((f) => f.method === method && f.left > 0);
    if (armed) armed.left -= 1;
    const fault = armed?.fault;
    if (fault?.type === 'hang') return;
    if (fault?.type === 'status') return reply(fault.status, { error: { code: -32000, message: fault.message ?? `internal error (trace ${randomBytes(6).toString('hex')})` } }, fault.headers);
    const fn = methods[method];
    if (!fn) return reply(200, { error: { code: -32601, message: `method not found: ${method}` } });
    const params = call.params && typeof call.params === 'object' ? (call.params as Record<string, unknown>) : {};
    try {
      const result = fn(params);
      if (fault?.type === 'shape') return reply(200, { outcome: 'ok', data: [] });
      reply(200, { result });
    } catch (err) {
      const e = err as { code?: number; message: string };
      reply(200, { error: { code: e.code ?? -32603, message: e.message } });
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    leads: () => store.map((l) => ({ ...l })),
    createOutOfBand: (externalId) => ({ ...newLead({ external_id: externalId, pipeline: pipelines[0], name: 'typed in by hand', phone: '+70000000000' }) }),
    setApiKey: (k) => {
      apiKey = k;
    },
    injectFault: (method, fault, times = 1) => {
      faults.push({ method, fault, left: times });
    },
    openConnections: () => sockets.size,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function rpcError(code: number, message: string): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}
