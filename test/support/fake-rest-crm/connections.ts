/**
 * The server's open sockets, and how long each keep-alive connection has sat idle: what the
 * keep-alive timeout needs, and what dropIdleConnectionsAfterMs needs to play a server (or a NAT
 * box, or a load balancer) that has silently forgotten a connection the client believes is open.
 */
import type { Socket } from 'node:net';

export interface ConnectionOptions {
  /** 0: never closed for idleness (as with Node's keepAliveTimeout = 0). */
  keepAliveTimeoutMs: number;
  dropIdleConnectionsAfterMs?: number;
}

export class Connections {
  private readonly open = new Set<Socket>();
  /** When the socket's last response finished; absent while a request is in progress or none came yet. */
  private readonly idleSince = new WeakMap<Socket, number>();
  private readonly idleTimers = new Map<Socket, NodeJS.Timeout>();

  constructor(private readonly opts: ConnectionOptions) {}

  add(socket: Socket): void {
    this.open.add(socket);
    socket.on('close', () => {
      this.open.delete(socket);
      this.stopIdleTimer(socket);
    });
  }

  /** A request arrived: true if the connection was idle for too long and must be reset instead. */
  arrived(socket: Socket, at: number): boolean {
    const since = this.idleSince.get(socket);
    this.idleSince.delete(socket);
    this.stopIdleTimer(socket);
    const limit = this.opts.dropIdleConnectionsAfterMs;
    return limit !== undefined && since !== undefined && at - since > limit;
  }

  answered(socket: Socket, at: number): void {
    this.idleSince.set(socket, at);
    // Our own timer, not Node's: Node 20 closes keepAliveTimeout + 1 s after the last response, and
    // the point of this option is a server that closes exactly when it says it will (or earlier).
    if (this.opts.keepAliveTimeoutMs > 0 && !socket.destroyed) {
      this.stopIdleTimer(socket);
      this.idleTimers.set(
        socket,
        setTimeout(() => socket.destroy(), this.opts.keepAliveTimeoutMs),
      );
    }
  }

  destroyAll(): void {
    for (const s of this.open) s.destroy();
  }

  private stopIdleTimer(socket: Socket): void {
    const t = this.idleTimers.get(socket);
    if (t) clearTimeout(t);
    this.idleTimers.delete(socket);
  }
}
