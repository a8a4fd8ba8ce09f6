import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatClientFileError, parseClientFile } from '../../src/config/client-loader';
import { USERINFO_MESSAGE } from '../../src/domain/http-url';

/** The shipped examples, renamed to acme so the id matches the file name. */
const REST = readFileSync(join(__dirname, '../../config/clients/example-rest.yaml'), 'utf8').replace('id: example-rest', 'id: acme');
const AMO = readFileSync(join(__dirname, '../../config/clients/example-amocrm.yaml'), 'utf8').replace('id: example-amocrm', 'id: acme');

function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`fixture: '${from}' is not in the file`);
  return text.replace(from, to);
}

function errorsOf(text: string): string[] {
  const r = parseClientFile('acme.yaml', text);
  return r.ok ? [] : r.errors.map(formatClientFileError);
}

describe('URLs in a client file', () => {
  it.each([
    ['REST settings.baseUrl', REST, 'baseUrl: https://crm.example-retail.ru', 'baseUrl: URL', 'settings.baseUrl'],
    ['amoCRM settings.baseUrl', AMO, '  subdomain: example-delivery ', '  baseUrl: URL ', 'settings.baseUrl'],
    ['amoCRM auth.redirectUri', AMO, 'redirectUri: https://hrdrom.ru/integrations/amocrm', 'redirectUri: URL', 'settings.auth.redirectUri'],
  ])('%s refuses user-info, fragments and other schemes, and accepts a plain https URL', (_what, file, from, to, path) => {
    const withUrl = (url: string) => errorsOf(edit(file, from, to.replace('URL', url)));
    expect(withUrl('https://crm.example.com/v2')).toEqual([]);
    expect(withUrl('http://user:pass@crm.example.com')).toEqual([`acme.yaml: ${path}: ${USERINFO_MESSAGE}`]);
    expect(withUrl('http://a@b')).toEqual([`acme.yaml: ${path}: ${USERINFO_MESSAGE}`]);
    expect(withUrl('https://crm.example.com/#x')).toEqual([`acme.yaml: ${path}: must not contain a fragment (#…): it is never sent to the server`]);
    expect(withUrl('ftp://crm.example.com')).toEqual([`acme.yaml: ${path}: must be http:// or https://, not ftp://`]);
  });

  it('the user-info message points to auth with env:/file: secrets', () => {
    expect(USERINFO_MESSAGE).toMatch(/auth settings.*env:NAME or file:\/path/);
  });
});
