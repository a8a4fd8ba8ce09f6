import { clientSummary, isSecretName, redactSecrets } from './scrub';

describe('redactSecrets: credentials a CRM echoes, by their shape', () => {
  test.each([
    ['an Authorization value', 'authorization: Bearer abcdefghijk', 'abcdefghijk'],
    ['a Basic value', '"authorization":"Basic c3ZjOnBhc3N3b3Jk"', 'c3ZjOnBhc3N3b3Jk'],
    ['a cookie in JSON', '{"cookie":"sid=zzzz-secret"}', 'zzzz-secret'],
    ['an X-Api-Key in JSON', '{"x-api-key":"k1234567"}', 'k1234567'],
    ['a custom token header in JSON', '{"x-partner-token":"pt-99998888"}', 'pt-99998888'],
    ['a password with a space', '{"password":"p@ss word"}', 'p@ss word'],
    ['escaped JSON inside JSON', '{"reason":"HTTP 400: {\\"cookie\\":\\"sid=zzzz-secret\\",\\"x-api-key\\":\\"k1234567\\"}"}', 'zzzz-secret'],
    ['escaped JSON inside JSON (the key)', '{"reason":"{\\"x-api-key\\":\\"k1234567\\"}"}', 'k1234567'],
    ['a header line', 'Cookie: sid=abc123456; other=1', 'abc123456'],
    ['a form', 'grant_type=refresh_token&refresh_token=rt-1234567&client_secret=cs-999999', 'rt-1234567'],
    ['a form (client secret)', 'grant_type=refresh_token&refresh_token=rt-1234567&client_secret=cs-999999', 'cs-999999'],
    ['YAML-ish', 'password: hunter2222', 'hunter2222'],
  ])('%s', (_what, text, secret) => {
    expect(redactSecrets(text)).not.toContain(secret);
    expect(redactSecrets(text)).toContain('[redacted]');
  });

  test('keeps what support needs: codes, names of fields, our own sentences', () => {
    const text = '{"validation-errors":[{"code":"NotSupportedChoice","path":"custom_fields_values.0","detail":"bad"}],"residence":"Moscow"}';
    expect(redactSecrets(text)).toBe(text);
    for (const ours of ['token refresh failed: HTTP 503', 'no login session could be opened', 'the amoCRM refresh token was refused: run lead-export amocrm connect x --code <authorization code>']) {
      expect(redactSecrets(ours)).toBe(ours);
    }
  });

  test('one JSON value never swallows the next field', () => {
    expect(redactSecrets('{"token":"abc","name":"Ivan"}')).toBe('{"token":"[redacted]","name":"Ivan"}');
    expect(redactSecrets('{\\"token\\":\\"abc\\",\\"name\\":\\"Ivan\\"}')).toBe('{\\"token\\":\\"[redacted]\\",\\"name\\":\\"Ivan\\"}');
  });

  test('isSecretName', () => {
    expect(['X-Api-Key', 'Cookie', 'client_secret', 'refresh_token', 'X-Partner-Token', 'password', 'Authorization'].every(isSecretName)).toBe(true);
    expect(['username', 'external_id', 'code', 'name', 'phone'].some(isSecretName)).toBe(false);
  });
});

describe('clientSummary: client-level text never carries a CRM body', () => {
  test('drops whatever follows a JSON or HTML body', () => {
    expect(clientSummary('lookup refused by the CRM: HTTP 400: {"error":"x","name":"Ivan"}')).toBe('lookup refused by the CRM: HTTP 400: …');
    expect(clientSummary('create failed: HTTP 503 <html><title>Ivan</title></html>')).toBe('create failed: HTTP 503 …');
    expect(clientSummary('create failed: HTTP 503 <!DOCTYPE html><p>Ivan</p>')).toBe('create failed: HTTP 503 …');
    // Our own placeholders stay.
    expect(clientSummary('refused: run lead-export amocrm connect acme --code <authorization code>')).toBe('refused: run lead-export amocrm connect acme --code <authorization code>');
  });

  test("masks the failed call's own personal values, emails and phones, and what the channel sent", () => {
    const s = clientSummary('create failed for Иван Petrov ivan@example.org +7 912 345-67-89 with sekret-123', {
      personal: ['Иван', 'Petrov'],
      redact: (t) => t.split('sekret-123').join('[redacted]'),
    });
    expect(s).toBe('create failed for [personal] [personal] [email] [number] with [redacted]');
  });

  test('is short and on one line', () => {
    const s = clientSummary(`x\n${'y'.repeat(500)}`);
    expect(s.length).toBeLessThanOrEqual(201);
    expect(s).not.toContain('\n');
  });
});
