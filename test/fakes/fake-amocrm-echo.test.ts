import { CLIENT, call, candidate, login, useFakeAmo } from './amocrm-client';

/**
 * The fake amoCRM's `echo` option (a proxy or middleware that quotes the request in every answer):
 * the bearer token, the token endpoint's secrets and the candidate come back, whatever the status,
 * while everything a client reads stays where it was.
 */
const { start, startWithToken } = useFakeAmo();

describe('fake amoCRM echo option', () => {
  test('off by default', async () => {
    const { f, token } = await startWithToken();
    const r = await call(f, 'GET', '/api/v4/account', { token });
    expect(r.text).not.toContain(token);
    expect(r.headers.get('x-echo-request')).toBeNull();
  });

  test('the token endpoint repeats client_secret, code and refresh_token, refused or not', async () => {
    const f = await start({ clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, redirectUri: CLIENT.redirect_uri, echo: true });
    const bad = await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'authorization_code', code: 'not-a-code-123' } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ echo: { body: { client_secret: CLIENT.client_secret, code: 'not-a-code-123' } } });
    const pair = await login(f);
    const refreshed = await call(f, 'POST', '/oauth2/access_token', { body: { ...CLIENT, grant_type: 'refresh_token', refresh_token: pair.refresh } });
    expect(refreshed.status).toBe(200);
    // The pair is still where a client reads it.
    expect(refreshed.json.access_token).toEqual(expect.any(String));
    expect(refreshed.json.echo.body.refresh_token).toBe(pair.refresh);
  });

  test('API answers of every status repeat the bearer token and the body; arrays keep their shape', async () => {
    const { f, token } = await startWithToken({ echo: true });
    const account = await call(f, 'GET', '/api/v4/account', { token });
    expect(account.status).toBe(200);
    expect(account.json.id).toEqual(expect.any(Number));
    expect(account.json.echo.headers.authorization).toBe(`Bearer ${token}`);

    const lead = candidate(1);
    const created = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [lead] });
    expect(created.status).toBe(200);
    expect(Array.isArray(created.json)).toBe(true);
    expect(created.headers.get('x-echo-request')).toContain(token);
    // Cyrillic goes into the header escaped, and reads back the same.
    expect(JSON.parse(created.headers.get('x-echo-request')!).body[0]._embedded.contacts[0].first_name).toBe('Иван');

    for (const [status, dialect] of [[403, 'html'], [402, 'json'], [503, 'html'], [500, 'json']] as const) {
      f.injectFault({ type: 'status', status });
      const r = await call(f, 'POST', '/api/v4/leads/complex', { token, body: [candidate(2)] });
      expect(r.status).toBe(status);
      expect(r.text).toContain(token);
      expect(r.text).toContain('Петров2');
      if (dialect === 'html') expect(r.text).toMatch(/<pre>.*<\/pre>\r\n<\/body>/s);
    }
    const unauthorized = await call(f, 'GET', '/api/v4/account', { token: 'forged-token-value' });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.text).toContain('forged-token-value');
  });
});
