/**
 * The standalone entry of the fake REST CRM, run in-process: flags in, a live server and its URL out.
 */
import { runCli, USAGE } from '../support/fake-rest-crm/cli';
import type { FakeRestCrm } from '../support/fake-rest-crm';

const started: FakeRestCrm[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((crm) => crm.close()));
});

async function run(argv: string[]): Promise<{ crm: FakeRestCrm | undefined; lines: string[] }> {
  const lines: string[] = [];
  const crm = await runCli(argv, (l) => lines.push(l));
  if (crm) started.push(crm);
  return { crm, lines };
}

describe('fake REST CRM command line', () => {
  it('starts with login auth and latency, prints its URL and never the password', async () => {
    const { crm, lines } = await run(['--auth', 'login', '--username', 'demo', '--password', 's3cret-pw', '--latency', '5']);
    expect(lines).toEqual([`fake REST CRM listening on ${crm!.url} (auth: login, latency: 5 ms); Ctrl+C stops it`]);
    expect(lines.join('\n')).not.toContain('s3cret-pw');
    const login = await fetch(`${crm!.url}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password: 's3cret-pw' }),
    });
    expect(login.status).toBe(200);
    expect((await fetch(`${crm!.url}/api/ping`)).status).toBe(401);
  });

  it('listens on the given port, without auth by default', async () => {
    const first = await run([]);
    const port = first.crm!.port;
    await first.crm!.close();
    const { crm } = await run(['--port', String(port)]);
    expect(crm!.url).toBe(`http://127.0.0.1:${port}`);
    expect((await fetch(`${crm!.url}/api/ping`)).status).toBe(200);
  });

  it('--help prints the usage and starts nothing', async () => {
    expect(await run(['--help'])).toEqual({ crm: undefined, lines: [USAGE] });
  });

  it.each([
    [['--port', '70000'], /--port must be an integer from 0 to 65535/],
    [['--port', 'abc'], /--port/],
    [['--latency', '-5'], /--latency/],
    [['--auth', 'oauth'], /--auth must be 'none' or 'login'/],
    [['--auth', 'login', '--username', 'u'], /--auth login needs --username and --password/],
    [['--username', 'u', '--password', 'p'], /only apply with --auth login/],
    [['--verbose'], /--verbose/],
    [['extra'], /extra/],
  ])('refuses %j with an error naming the flag', async (argv, message) => {
    await expect(runCli(argv, () => undefined)).rejects.toMatchObject({ kind: 'usage', message: expect.stringMatching(message) });
  });
});
