import { serializeQuery } from './query';

const decode = (qs: string) => qs.split('&').map((p) => p.split('=').map(decodeURIComponent));

describe('serializeQuery', () => {
  it.each([
    [{ query: 'hh-7' }, [['query', 'hh-7']]],
    [{ 'filter[custom_fields_values][55][]': ['A', 'B'] }, [['filter[custom_fields_values][55][]', 'A'], ['filter[custom_fields_values][55][]', 'B']]],
    [{ external_id: ['x', 'y'] }, [['external_id', 'x'], ['external_id', 'y']]],
    [{ limit: 250, page: 2, with: 'contacts' }, [['limit', '250'], ['page', '2'], ['with', 'contacts']]],
    [{ flag: true, skip: undefined }, [['flag', 'true']]],
  ])('writes %j key by key, as given', (q, expected) => {
    expect(decode(serializeQuery(q))).toEqual(expected);
  });

  it('encodes values that would break the query', () => {
    expect(serializeQuery({ q: 'a&b=c +7' })).toBe('q=a%26b%3Dc%20%2B7');
  });

  it('writes nothing for an empty query', () => {
    expect(serializeQuery({})).toBe('');
  });
});
