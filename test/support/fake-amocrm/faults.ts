import type { AmoFault, FaultOptions } from './types';
import { nginxPage, problem, type Reply } from './http';
import { randomBytes } from 'node:crypto';

interface Armed {
  fault: AmoFault;
  remaining: number;
  method?: string;
  path: RegExp;
}

const NEW_LEADS = /^\/api\/v4\/leads(\/complex)?\/?$/;

export class FaultInjector {
  private armed: Armed[] = [];

  add(fault: AmoFault, opts: FaultOptions = {}): void {
    const createsLeads = fault.type === 'create-then-delay' || fault.type === '504-if-batch-over';
    this.armed.push({
      fault,
      remaining: opts.times ?? (fault.type === '504-if-batch-over' ? Infinity : 1),
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

export function statusFaultReply(f: Extract<AmoFault, { type: 'status' }>): Reply {
  switch (f.status) {
    case 500:
      return {
        status: 500,
        contentType: 'application/problem+json',
        body: { title: 'ErrInternalServer', status: 500, detail: 'Internal server error', trace_id: randomBytes(16).toString('hex') },
      };
    case 402:
      return problem(402, 'Payment Required', 'Payment required');
    case 403:
      return nginxPage(403, 'Forbidden');
    default: {
      if (f.body === 'empty') return { status: f.status };
      const text = { 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable', 504: 'Gateway Time-out' }[f.status];
      return nginxPage(f.status, text);
    }
  }
}

/** 200 with a body a client must refuse: HAL `items` where a list or an array belongs. */
export const wrongShapeReply = (): Reply => ({ status: 200, contentType: 'application/hal+json', body: { _embedded: { items: [] } } });
