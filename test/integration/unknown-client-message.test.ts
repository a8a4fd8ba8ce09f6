import { runCli } from '../../src/cli/main';
import { cleanupPrefix, redisClient, REDIS_URL, testPrefix } from '../support/redis';

/** A support command on a client no service knows names the clients folder actually in use. */
describe('unknown client messages name the real CLIENTS_DIR', () => {
  const prefix = testPrefix('unknown');
  afterAll(async () => {
    const r = redisClient();
    await cleanupPrefix(r, prefix);
    r.disconnect();
  });

  const run = async (args: string[], env: NodeJS.ProcessEnv) => {
    const err: string[] = [];
    process.exitCode = undefined;
    const code = await runCli(args, { out: () => undefined, err: (s) => err.push(s) }, env);
    process.exitCode = undefined;
    return { code, err: err.join('') };
  };

  it.each(['clients status', 'clients pause', 'failed', 'replay'])('%s ghost', async (cmd) => {
    const env = { REDIS_URL, QUEUE_PREFIX: prefix, CLIENTS_DIR: '/srv/lead-export/clients' };
    expect(await run([...cmd.split(' '), 'ghost', ...(cmd === 'replay' ? ['--all'] : [])], env)).toEqual({
      code: 1,
      err: "lead-export: unknown client 'ghost': no running service has loaded /srv/lead-export/clients/ghost.yaml (CLIENTS_DIR) and its queue is empty\n",
    });
  });

  it('the default folder when CLIENTS_DIR is unset', async () => {
    const r = await run(['clients', 'status', 'ghost'], { REDIS_URL, QUEUE_PREFIX: prefix });
    expect(r.err).toContain('no running service has loaded config/clients/ghost.yaml (CLIENTS_DIR)');
  });
});
