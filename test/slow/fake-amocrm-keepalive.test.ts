import http from 'node:http';
import { eventually } from '../support/harness';
import { agentSend, useFakeAmo } from '../fakes/amocrm-client';

const { startWithToken } = useFakeAmo();

test('the fake amoCRM closes an idle keep-alive connection after 5 s by default, not before', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const { f, token } = await startWithToken();
    const a = await agentSend(agent, f, token);
    let serverClosedAt: number | undefined;
    a.socket.once('end', () => {
      serverClosedAt = performance.now();
    });
    await eventually(() => serverClosedAt !== undefined, 'the server to close the idle connection', 10_000);
    expect((serverClosedAt as number) - a.endedAt).toBeGreaterThanOrEqual(4_950);
    expect((await agentSend(agent, f, token)).status).toBe(200);
  } finally {
    agent.destroy();
  }
}, 20_000);
