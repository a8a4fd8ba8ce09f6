import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Reply } from './http';

/** Sleeps that down() can cut short, so no timer outlives the fake. */
export class Timers {
  private readonly pending = new Map<NodeJS.Timeout, (fired: boolean) => void>();

  /** Resolves true after ms, or false when cancelled first (the caller then gives up quietly). */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve(true);
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  cancelAll(): void {
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve(false);
    }
    this.pending.clear();
  }
}

/**
 * How the bytes of an answer go out: all at once; the body trickling over `ms` (`slow-body`); or
 * half the body and then nothing, ever (`endless-body`). A reply without a body always goes out whole.
 */
export type Delivery = { kind: 'whole' } | { kind: 'trickle'; ms: number } | { kind: 'endless' };

const TRICKLE_PIECES = 20;

export async function sendReply(res: ServerResponse, reply: Reply, delivery: Delivery, timers: Timers, onHead: (status: number) => void): Promise<void> {
  if (res.destroyed) return;
  const headers: Record<string, string> = { 'x-request-id': randomBytes(8).toString('hex'), ...reply.headers };
  let payload: string | undefined;
  if (reply.status !== 204 && reply.body !== undefined) {
    payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    // Exact media types, no charset: some clients compare the header as a whole string.
    headers['content-type'] = reply.contentType ?? 'application/json';
  }
  res.writeHead(reply.status, headers);
  onHead(reply.status);
  if (delivery.kind === 'whole' || payload === undefined) {
    res.end(payload);
    return;
  }
  // Chunked, without a length: the client cannot tell how much is still to come.
  res.flushHeaders();
  const bytes = Buffer.from(payload);
  if (delivery.kind === 'endless') {
    res.write(bytes.subarray(0, Math.max(1, Math.floor(bytes.length / 2))));
    return; // held until the client gives up or down() ends the connection
  }
  const pieces = Math.min(TRICKLE_PIECES, bytes.length);
  const size = Math.ceil(bytes.length / pieces);
  for (let off = 0; off < bytes.length; off += size) {
    if (!(await timers.sleep(delivery.ms / pieces)) || res.destroyed) return;
    res.write(bytes.subarray(off, off + size));
  }
  res.end();
}
