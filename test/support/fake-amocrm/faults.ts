import { STATUS_CODES } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { AmoFault, FaultBody, FaultOptions } from './types';
import { nginxPage, problem, type Reply } from './http';

interface Armed {
  fault: AmoFault;
  remaining: number;
  method?: string;
  path: RegExp;
}

const NEW_LEADS = /^\/api\/v4\/leads(\/complex)?\/?$/;

/** Faults whose point is a create that lands: by default they hit only POSTs of new leads. */
const CREATES_LEADS = new Set<AmoFault['type']>(['create-then-delay', 'create-then-status', '504-if-batch-over']);

export class FaultInjector {
  private armed: Armed[] = [];

  add(fault: AmoFault, opts: FaultOptions = {}): void {
    checkFault(fault);
    const times = opts.times ?? (fault.type === '504-if-batch-over' ? Infinity : 1);
    if (!(times === Infinity || (Number.isInteger(times) && times > 0))) throw new Error(`fake amoCRM: fault times must be a positive integer, got ${String(times)}`);
    const createsLeads = CREATES_LEADS.has(fault.type);
    this.armed.push({
      fault,
      remaining: times,
      method: opts.match?.method?.toUpperCase() ?? (createsLeads ? 'POST' : undefined),
      path: opts.match?.path ?? (createsLeads ? NEW_LEADS : /^\/api\/v4\//),
    });
  }

  clear(): void {
    this.armed = [];
  }

  /** The first armed fault that applies to this request; using it spends one of its `times`. */
  take(method: string, path: string, body: unknown): AmoFault | undefined {
    const hit = this.armed.find((a) => {
      if (a.remaining <= 0 || (a.method && a.method !== method) || !a.path.test(path)) return false;
      // A batch at or under the size goes through untouched, without spending the fault.
      if (a.fault.type === '504-if-batch-over') return Array.isArray(body) && body.length > a.fault.size;
      return true;
    });
    if (!hit) return undefined;
    hit.remaining--;
    this.armed = this.armed.filter((a) => a.remaining > 0);
    return hit.fault;
  }
}

/** A fault the fake cannot act out is a mistake in the test: say which part is wrong, at once. */
function checkFault(f: AmoFault): void {
  const bad = (what: string): never => {
    throw new Error(`fake amoCRM: fault '${f.type}': ${what}`);
  };
  switch (f.type) {
    case 'status':
    case 'create-then-status':
      if (!Number.isInteger(f.status) || f.status < 400 || f.status > 599) bad(`status must be an integer 400–599, got ${String(f.status)}`);
      if (f.body !== undefined && !['html', 'json', 'empty'].includes(f.body)) bad(`body must be 'html', 'json' or 'empty', got ${String(f.body)}`);
      for (const [k, v] of Object.entries(f.headers ?? {})) if (typeof v !== 'string') bad(`header ${k} must be a string`);
      return;
    case 'create-then-delay':
    case 'slow-headers':
    case 'slow-body':
      if (!Number.isFinite(f.ms) || f.ms < 0) bad(`ms must be a number ≥ 0, got ${String(f.ms)}`);
      return;
    case '504-if-batch-over':
      if (!Number.isInteger(f.size) || f.size < 0) bad(`size must be an integer ≥ 0, got ${String(f.size)}`);
      return;
    case 'reset':
    case 'timeout':
    case 'endless-body':
    case 'shape':
      return;
    default:
      throw new Error(`fake amoCRM: unknown fault type ${JSON.stringify((f as { type: unknown }).type)}`);
  }
}

/** nginx's own reason phrases, where they differ from Node's. */
const NGINX_TEXT: Record<number, string> = { 401: 'Authorization Required', 408: 'Request Time-out', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out' };

/** The dialect amoCRM answers this status in: its own problem+json, or its gateway's nginx page. */
function defaultBody(status: number): FaultBody {
  if (status === 500) return 'json';
  if (status === 403 || status === 429) return 'html';
  return status < 500 ? 'json' : 'html';
}

export function faultReply(status: number, body: FaultBody = defaultBody(status), headers?: Record<string, string>): Reply {
  const title = STATUS_CODES[status] ?? 'Error';
  let reply: Reply;
  if (body === 'empty') reply = { status };
  else if (body === 'html') reply = nginxPage(status, NGINX_TEXT[status] ?? title);
  else if (status === 500) {
    reply = {
      status: 500,
      contentType: 'application/problem+json',
      body: { title: 'ErrInternalServer', status: 500, detail: 'Internal server error', trace_id: randomBytes(16).toString('hex') },
    };
  } else if (status === 402) reply = problem(402, 'Payment Required', 'Payment required');
  else reply = problem(status, title, title);
  return headers ? { ...reply, headers: { ...reply.headers, ...headers } } : reply;
}

export function statusFaultReply(f: Extract<AmoFault, { type: 'status' }>): Reply {
  return faultReply(f.status, f.body, f.headers);
}

/** 200 with a body a client must refuse: HAL `items` where a list or an array belongs. */
export const wrongShapeReply = (): Reply => ({ status: 200, contentType: 'application/hal+json', body: { _embedded: { items: [] } } });
