import http from 'node:http';
import { eventually } from '../support/harness';
import { agentSend as send, candidate, useFakeAmo } from './amocrm-client';

const { startWithToken } = useFakeAmo();

// A plain keep-alive agent, as a pooling client (axios with a keep-alive agent) uses.
let agent: http.Agent;
beforeEach(() => {
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
});
afterEach(() => agent.destroy());

describe('idle keep-alive connections', () => {
  test('keep-alive without a Keep-Alive timeout hint, as nginx answers: the client cannot know when the server closes', async () => {
    const { f, token } = await startWithToken();
    const a = await send(agent, f, token);
    expect(a.headers.connection).toBe('keep-alive');
    expect(a.headers['keep-alive']).toBeUndefined();
    const b = await send(agent, f, token);
    expect(b.socket === a.socket).toBe(true);
  });

  test('keepAliveTimeoutMs: the server closes an idle connection after that long; the next request gets a fresh one', async () => {
    const { f, token } = await startWithToken({ keepAliveTimeoutMs: 400 });
    const first = await send(agent, f, token);
    // 'end' comes only when the server closes its side (FIN); the agent closing it would not emit it.
    let serverClosedAt: number | undefined;
    first.socket.once('end', () => {
      serverClosedAt = performance.now();
    });
    const reused = await send(agent, f, token);
    expect(reused.socket === first.socket).toBe(true);
    await eventually(() => serverClosedAt !== undefined, 'the server to close the idle connection', 5_000);
    expect((serverClosedAt as number) - reused.endedAt).toBeGreaterThanOrEqual(350);

    const fresh = await send(agent, f, token);
    expect(fresh.status).toBe(200);
    expect(fresh.socket === first.socket).toBe(false);
    const [c1, c2, c3] = f.requests.slice(-3).map((r) => r.connection);
    expect(c1).toBe(c2);
    expect(c3).not.toBe(c1);
  });

  test('dropIdleConnectionsAfterMs: the connection stays open, the first request after the idle time is reset unprocessed, a fresh one works', async () => {
    const { f, token } = await startWithToken({ dropIdleConnectionsAfterMs: 400 });
    const first = await send(agent, f, token);
    const reused = await send(agent, f, token);
    expect(reused.socket === first.socket).toBe(true);

    await eventually(() => performance.now() - reused.endedAt > 500, 'the connection to sit idle past 400 ms', 5_000);
    expect(first.socket.destroyed).toBe(false);
    const requestsBefore = f.requests.length;
    const idleConnection = f.requests[requestsBefore - 1].connection;
    const err = await send(agent, f, token, [candidate(1)]).then(
      () => undefined,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toBe('ECONNRESET');
    expect(f.requests).toHaveLength(requestsBefore + 1);
    expect(f.requests.at(-1)).toMatchObject({ method: 'POST', path: '/api/v4/leads/complex', fault: 'stale-reset', status: 0, connection: idleConnection });
    expect(f.leads()).toHaveLength(0); // never processed

    const fresh = await send(agent, f, token, [candidate(2)]);
    expect(fresh.status).toBe(200);
    expect(f.leads()).toHaveLength(1);
    expect(f.requests.at(-1)?.connection).not.toBe(f.requests.at(-2)?.connection);
    expect(f.requests.filter((r) => r.fault === 'stale-reset')).toHaveLength(1);
  });
});
