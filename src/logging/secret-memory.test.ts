import { SecretMemory } from './secret-memory';

describe('SecretMemory: what a channel sent is removed from any text by value', () => {
  test('auth headers: the whole value, the token without its scheme, the password inside Basic, cookie values', () => {
    const m = new SecretMemory();
    m.rememberHeaders({ Authorization: `Basic ${Buffer.from('svc:pa55-word-x').toString('base64')}` }, true);
    m.rememberHeaders({ 'X-Partner-Sig': 'sig-value-123456' }, true);
    m.rememberHeaders({ Cookie: 'lang=ru; sid=cookie-value-987' }, true);
    const text = 'echo: pa55-word-x / sig-value-123456 / cookie-value-987 / c3ZjOnBhNTUtd29yZC14';
    expect(m.redact(text)).toBe('echo: [redacted] / [redacted] / [redacted] / [redacted]');
  });

  test('request headers that are not credentials are not remembered', () => {
    const m = new SecretMemory();
    m.rememberHeaders({ Accept: 'application/json', 'Idempotency-Key': 'acme.lead-1', 'X-Api-Key': 'key-123456' }, false);
    expect(m.redact('application/json acme.lead-1 key-123456')).toBe('application/json acme.lead-1 [redacted]');
  });

  test('token fields of bodies, nested; short values and non-secret fields stay', () => {
    const m = new SecretMemory();
    m.rememberFields({ username: 'svc-user', password: 'pw-1234567', data: { refresh_token: 'rt-abcdefgh' }, code: 'code-7777777', pin: '12' });
    expect(m.redact('svc-user pw-1234567 rt-abcdefgh code-7777777 12')).toBe('svc-user [redacted] [redacted] [redacted] 12');
  });

  test('URL-encoded forms, and the longest value first', () => {
    const m = new SecretMemory();
    m.remember('tok+en/with=chars');
    m.remember('tok+en');
    expect(m.redact('a tok%2Ben%2Fwith%3Dchars b tok+en/with=chars c')).toBe('a [redacted] b [redacted] c');
  });

  test('a long value cut short still goes, from its first 12 characters on', () => {
    const m = new SecretMemory();
    m.remember('eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload.signature');
    expect(m.redact('"x-token":"eyJ0eXAiOiJKV1QiLCJhbG…')).toBe('"x-token":"[redacted]…');
    expect(m.redact('short eyJ0eXAiOiJ stays')).toBe('short eyJ0eXAiOiJ stays');
  });

  test('keeps at most 64 values, forgetting the oldest', () => {
    const m = new SecretMemory();
    for (let i = 0; i < 100; i++) m.remember(`value-${String(i).padStart(3, '0')}`);
    expect(m.redact('value-000 value-099')).toBe('value-000 [redacted]');
  });
});
