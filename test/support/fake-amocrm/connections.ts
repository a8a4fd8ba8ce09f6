import type { Socket } from 'node:net';

interface ConnState {
  id: number;
  /** performance.now() when the last response on it finished; undefined while busy or before the first. */
  idleSince?: number;
  closer?: NodeJS.Timeout;
}

export interface IdlePolicy {
  /** Close a connection idle this long (0 = never). */
  keepAliveTimeoutMs: number;
  /** Reset, unprocessed, the first request on a connection idle longer than this. */
  dropIdleAfterMs?: number;
}

/**
 * Numbers the server's TCP connections and acts out what a server or middlebox does with idle ones.
 * The idle close is done here rather than by Node's `server.keepAliveTimeout`, which announces a
 * `Keep-Alive: timeout=N` hint (nginx sends none, and a client given one retires its sockets in time,
 * never meeting the close race it must survive) and, in recent Node 20, closes a second later than
 * it says. Idleness is real time, whatever the fake's clock says: sockets do not follow a test's clock.
 */
export class ConnectionTracker {
  private readonly conns = new WeakMap<Socket, ConnState>();
  private count = 0;

  constructor(private readonly policy: IdlePolicy) {}

  accept(socket: Socket): ConnState {
    const st: ConnState = { id: ++this.count };
    this.conns.set(socket, st);
    socket.once('close', () => clearTimeout(st.closer));
    return st;
  }

  /** A request arrived: its connection id, and whether the connection had been forgotten. */
  onRequest(socket: Socket): { connection: number; stale: boolean } {
    const st = this.conns.get(socket) ?? this.accept(socket);
    clearTimeout(st.closer);
    const idleFor = st.idleSince === undefined ? 0 : performance.now() - st.idleSince;
    st.idleSince = undefined;
    const drop = this.policy.dropIdleAfterMs;
    return { connection: st.id, stale: drop !== undefined && idleFor > drop };
  }

  responseFinished(socket: Socket): void {
    const st = this.conns.get(socket);
    if (!st) return;
    st.idleSince = performance.now();
    if (this.policy.keepAliveTimeoutMs <= 0) return;
    clearTimeout(st.closer);
    // A plain close, as nginx does: FIN, or RST if a request was already on its way in.
    st.closer = setTimeout(() => {
      if (st.idleSince !== undefined) socket.destroy();
    }, this.policy.keepAliveTimeoutMs);
    st.closer.unref();
  }
}
