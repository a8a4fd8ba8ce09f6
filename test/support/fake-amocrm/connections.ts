import type { Socket } from 'node:net';

interface ConnState {
  id: number;
  /** performance.now() when the last response on it finished; undefined while busy or before the first. */
  idleSince?: number;
}

/**
 * Numbers the server's TCP connections and knows how long each has been idle, so the fake can act out
 * a peer that silently forgot an idle connection (`dropIdleConnectionsAfterMs`). Idleness is real
 * time, whatever the fake's clock says: sockets do not follow a test's clock.
 */
export class ConnectionTracker {
  private readonly conns = new WeakMap<Socket, ConnState>();
  private count = 0;

  constructor(private readonly dropIdleAfterMs: number | undefined) {}

  accept(socket: Socket): void {
    this.conns.set(socket, { id: ++this.count });
  }

  /** A request arrived: its connection id, and whether the connection had been forgotten. */
  onRequest(socket: Socket): { connection: number; stale: boolean } {
    let st = this.conns.get(socket);
    if (!st) {
      st = { id: ++this.count };
      this.conns.set(socket, st);
    }
    const idleFor = st.idleSince === undefined ? 0 : performance.now() - st.idleSince;
    st.idleSince = undefined;
    return { connection: st.id, stale: this.dropIdleAfterMs !== undefined && idleFor > this.dropIdleAfterMs };
  }

  responseFinished(socket: Socket): void {
    const st = this.conns.get(socket);
    if (st) st.idleSince = performance.now();
  }
}
