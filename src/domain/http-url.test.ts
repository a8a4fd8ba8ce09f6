import { httpUrl, httpUrlProblem, USERINFO_MESSAGE } from './http-url';

const HINT = 'must be an http(s) URL such as https://crm.example.com';
const FRAGMENT = 'must not contain a fragment (#…): it is never sent to the server';

describe('the shared http(s) URL rule', () => {
  it.each([
    'https://crm.example.com',
    'https://crm.example.com/',
    'http://127.0.0.1:8080',
    'https://crm.example.com/v2/api',
    'https://crm.example.com/v2?tenant=7',
    'HTTPS://CRM.EXAMPLE.COM',
    'http://[::1]:9000',
    'https://acme.amocrm.ru',
  ])('accepts %s', (url) => {
    expect(httpUrlProblem(url, HINT)).toBeNull();
  });

  it.each([
    ['http://user:pass@crm.example.com', USERINFO_MESSAGE],
    ['https://user@crm.example.com', USERINFO_MESSAGE],
    ['http://a@b', USERINFO_MESSAGE],
    ['http://crm.example.com@evil.example', USERINFO_MESSAGE],
    ['http://@crm.example.com', USERINFO_MESSAGE],
    ['http://:pass@crm.example.com/x', USERINFO_MESSAGE],
    ['https://crm.example.com/#section', FRAGMENT],
    ['https://crm.example.com#', FRAGMENT],
    ['ftp://crm.example.com', 'must be http:// or https://, not ftp://'],
    ['file:///etc/passwd', 'must be http:// or https://, not file://'],
    ['ws://crm.example.com', 'must be http:// or https://, not ws://'],
    ['javascript:alert(1)', HINT],
    ['crm.example.com', HINT],
    ['http:/crm.example.com', HINT],
    ['http:crm.example.com', HINT],
    ['http:\\\\crm.example.com', HINT],
    ['https://', HINT],
    ['http://[::1', HINT],
    ['', HINT],
    [' https://crm.example.com', 'must not contain spaces or control characters'],
    ['https://crm.example.com/\n', 'must not contain spaces or control characters'],
    ['https://crm.exa mple.com', 'must not contain spaces or control characters'],
  ])('refuses %j: %s', (url, message) => {
    expect(httpUrlProblem(url, HINT)).toBe(message);
  });

  it('is a zod schema that keeps the value as written and names the problem', () => {
    const schema = httpUrl(HINT);
    expect(schema.parse('https://crm.example.com/v2/')).toBe('https://crm.example.com/v2/');
    const bad = schema.safeParse('http://user:pass@crm.example.com');
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.message)).toEqual([USERINFO_MESSAGE]);
    expect(schema.safeParse(42).error?.issues.map((i) => i.message)).toEqual([HINT]);
  });
});
