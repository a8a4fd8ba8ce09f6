import { setTimeout as delay } from 'node:timers/promises';
import { Batcher } from './batcher';

/** A batcher whose sends are recorded; each item resolves to itself × 10. */
function recording(maxSize: number, lingerMs: number, readyInMs?: () => Promise<number>) {
  const sent: number[][] = [];
  const b = new Batcher<number, number>(
    maxSize,
    lingerMs,
    async (items) => {
      sent.push(items);
      return items.map((i) => i * 10);
    },
    readyInMs ? { readyInMs } : undefined,
  );
  return { b, sent };
}

describe('Batcher', () => {
  it('sends a full batch at once and a partial one after the linger; each item gets its own result', async () => {
    const { b, sent } = recording(3, 30);
    const results = await Promise.all([1, 2, 3].map((i) => b.submit(i)));
    expect(results).toEqual([10, 20, 30]);
    const late = b.submit(4);
    await delay(10);
    expect(sent).toEqual([[1, 2, 3]]);
    expect(await late).toBe(40);
    expect(sent).toEqual([[1, 2, 3], [4]]);
  });

  it('keeps filling a partial batch while the limit has no room, and sends it when full', async () => {
    let calls = 0;
    const { b, sent } = recording(3, 20, async () => {
      calls += 1;
      return 5_000;
    });
    const first = [b.submit(1), b.submit(2)];
    await delay(60);
    expect(sent).toEqual([]);
    expect(calls).toBe(1);
    const third = b.submit(3);
    await Promise.all([...first, third]);
    expect(sent).toEqual([[1, 2, 3]]);
    b.close();
  });

  it('sends the partial batch as soon as the limit has room', async () => {
    let wait = 40;
    const { b, sent } = recording(10, 10, async () => {
      const w = wait;
      wait = 0;
      return w;
    });
    const t0 = Date.now();
    await Promise.all([b.submit(1), b.submit(2)]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(sent).toEqual([[1, 2]]);
  });

  it('a failing gate never holds leads back', async () => {
    const { b, sent } = recording(10, 10, async () => {
      throw new Error('redis down');
    });
    await b.submit(1);
    expect(sent).toEqual([[1]]);
  });

  it('a failed send rejects only the items of that request', async () => {
    let n = 0;
    const b = new Batcher<number, number>(2, 10, async (items) => {
      n += 1;
      if (n === 1) throw new Error('boom');
      return items;
    });
    const a = [b.submit(1), b.submit(2)];
    const c = b.submit(3);
    await expect(Promise.all(a)).rejects.toThrow('boom');
    expect(await c).toBe(3);
  });
});
