/**
 * What each injected fault does to a request (the catalogue is FaultSpec in types.ts). Faults that
 * stand for infrastructure in front of the CRM (a proxy's 5xx, a dropped connection) never reach the
 * handlers; the others let the CRM handle the request and then misbehave on the way back.
 */
import http from 'node:http';
import type { Ctx, Reply } from './reply';
import { error, json } from './reply';
import { isPlainObject } from './store';
import type { FaultSpec } from './types';
import type { ReplyWriter } from './wire';

/** Faults decided before the CRM sees the request: they are not rate limited and create nothing. */
export const INFRA_FAULTS: ReadonlySet<FaultSpec['type']> = new Set(['status', 'timeout', 'reset', 'rate-limit', 'rate-limit-body', 'unauthorized']);

export interface FaultDeps {
  writer: ReplyWriter;
  handle: (ctx: Ctx) => Reply;
  /** Runs `fn` after `ms` even if the connection is gone or the server went down(); close() cancels it. */
  later: (ms: number, fn: () => void) => void;
}

/** `{"id":...}` becomes `{"data":{"candidate":{"uuid":...}}}`: the kind of silent API change a client must notice. */
function reshape(body: unknown): unknown {
  if (isPlainObject(body) && typeof body.id === 'string') {
    const { id, ...rest } = body;
    return { data: { candidate: { uuid: id, ...rest } } };
  }
  return { data: body };
}

export function applyFault(fault: FaultSpec, res: http.ServerResponse, ctx: Ctx, d: FaultDeps): void {
  const { writer } = d;
  switch (fault.type) {
    case 'status':
      return writer.send(res, {
        status: fault.status,
        body: fault.body ?? { error: (http.STATUS_CODES[fault.status] ?? 'error').toLowerCase().replace(/\W+/g, '_') },
        headers: fault.headers,
      });
    case 'timeout':
      // With ms, the gateway gives up first; the request never reached the CRM, so nothing is created.
      if (fault.ms !== undefined) writer.send(res, error(504, 'gateway_timeout'), fault.ms);
      return;
    case 'reset':
      // RST rather than FIN, so the client sees ECONNRESET as with a crashed upstream.
      res.socket?.resetAndDestroy();
      return;
    case 'rate-limit':
      return writer.send(res, json(429, { error: 'rate_limited' }, { 'Retry-After': fault.retryAfter }));
    case 'rate-limit-body':
      return writer.send(res, json(429, { error: 'rate_limited', retry_after: fault.retryAfterSeconds }));
    case 'unauthorized':
      return writer.send(res, error(401, 'token_expired'));
    case 'shape': {
      const reply = d.handle(ctx);
      const ok = reply.status >= 200 && reply.status < 300 && reply.body !== undefined;
      return writer.send(res, ok ? { ...reply, body: reshape(reply.body) } : reply);
    }
    // The same on the wire: handled on arrival, answered late. Kept apart for their names' sake.
    case 'create-then-delay':
    case 'slow-headers':
      return writer.send(res, d.handle(ctx), fault.ms);
    case 'write-after':
      // The write does not care whether anyone still waits for it, as in a server that does not
      // cancel work when the client hangs up; the writer skips the answer if the socket is gone.
      return d.later(fault.ms, () => writer.send(res, d.handle(ctx)));
    case 'slow-body':
      return writer.trickle(res, d.handle(ctx), fault.ms);
    case 'endless-body':
      return writer.stall(res, d.handle(ctx));
  }
}
