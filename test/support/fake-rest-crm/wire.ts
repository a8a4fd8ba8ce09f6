/**
 * Writes replies to the socket, in the ways a real server does and the ways it fails to: whole
 * after a delay, with a body that trickles in, or with a body that never ends.
 */
import type http from 'node:http';
import { type EchoedRequest, withEcho } from './echo';
import type { Reply } from './reply';

/** One chunk of a trickled body every this many ms, roughly: small enough to look like a stall. */
const TRICKLE_STEP_MS = 20;

interface Serialized {
  status: number;
  headers: Record<string, string>;
  /** undefined: no body. */
  payload: Buffer | undefined;
}

function serialize(reply: Reply): Serialized {
  const headers: Record<string, string> = { ...reply.headers };
  if (reply.body === undefined || reply.status === 204 || reply.status === 304) return { status: reply.status, headers, payload: undefined };
  const isText = typeof reply.body === 'string';
  const payload = Buffer.from(isText ? (reply.body as string) : JSON.stringify(reply.body));
  const hasType = Object.keys(headers).some((h) => h.toLowerCase() === 'content-type');
  if (!hasType) headers['Content-Type'] = isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8';
  // The full length even when the body is cut: the client then knows it got less than promised.
  headers['Content-Length'] = String(payload.length);
  return { status: reply.status, headers, payload };
}

const gone = (res: http.ServerResponse): boolean => res.destroyed || res.writableEnded;

export class ReplyWriter {
  /** Every pending timer, so down() can cancel them all. */
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Every 429 written, whether from the rate limiter or an injected fault. */
  rateLimited = 0;
  /** Requests to repeat back in their answers (the `echo` option), by response. */
  private readonly echoes = new WeakMap<http.ServerResponse, EchoedRequest>();

  constructor(private readonly latencyMs: () => number) {}

  /** The whole reply, after the latency plus `extraDelayMs`. */
  send(res: http.ServerResponse, reply: Reply, extraDelayMs = 0): void {
    this.after(this.latencyMs() + extraDelayMs, () => {
      if (gone(res)) return;
      const s = this.head(res, reply);
      res.end(s.payload);
    });
  }

  /** Status and headers after the latency, then the body in small chunks spread over `overMs`. */
  trickle(res: http.ServerResponse, reply: Reply, overMs: number): void {
    this.after(this.latencyMs(), () => {
      if (gone(res)) return;
      const { payload } = this.head(res, reply);
      res.flushHeaders();
      if (!payload || payload.length === 0) {
        this.after(overMs, () => {
          if (!gone(res)) res.end();
        });
        return;
      }
      const steps = Math.max(1, Math.min(payload.length, Math.ceil(overMs / TRICKLE_STEP_MS)));
      const size = Math.ceil(payload.length / steps);
      let sent = 0;
      const next = (): void => {
        if (gone(res)) return;
        const chunk = payload.subarray(sent, sent + size);
        sent += chunk.length;
        if (sent >= payload.length) res.end(chunk);
        else {
          res.write(chunk);
          this.after(overMs / steps, next);
        }
      };
      this.after(overMs / steps, next);
    });
  }

  /** Status, headers and the first half of the body after the latency; the rest never comes. */
  stall(res: http.ServerResponse, reply: Reply): void {
    this.after(this.latencyMs(), () => {
      if (gone(res)) return;
      const { payload } = this.head(res, reply);
      res.flushHeaders();
      // A one-byte (or empty) body cannot be cut in half; it then stalls before its first byte.
      if (payload && payload.length > 1) res.write(payload.subarray(0, Math.floor(payload.length / 2)));
    });
  }

  /** Whatever is written to `res` from now on repeats this request back (the `echo` option). */
  echo(res: http.ServerResponse, request: EchoedRequest): void {
    this.echoes.set(res, request);
  }

  cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private head(res: http.ServerResponse, reply: Reply): Serialized {
    const echo = this.echoes.get(res);
    const s = serialize(echo ? withEcho(reply, echo) : reply);
    if (s.status === 429) this.rateLimited++;
    res.writeHead(s.status, s.headers);
    return s;
  }

  private after(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}
