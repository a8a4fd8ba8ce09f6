/**
 * Gathers items that are ready together into one request.
 *
 * A batch goes out when it is full or when the linger expires after its first item, whichever comes
 * first. Each item gets its own promise, settled with its own result, so one slow or failing lead never
 * holds the others; a request failing as a whole rejects every item of that request only.
 */
export class Batcher<I, O> {
  private pending: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }> = [];
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private maxSize: number,
    private lingerMs: number,
    /** Sends one batch; returns one result per item, in the same order. */
    private readonly send: (items: I[]) => Promise<O[]>,
  ) {}

  configure(maxSize: number, lingerMs: number): void {
    this.maxSize = maxSize;
    this.lingerMs = lingerMs;
  }

  submit(item: I): Promise<O> {
    if (this.closed) return Promise.reject(new Error('batcher closed'));
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.maxSize) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.lingerMs);
    });
  }

  /** Sends what is pending now (also used on shutdown). */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxSize);
      void this.dispatch(batch);
    }
  }

  private async dispatch(batch: Array<{ item: I; resolve: (o: O) => void; reject: (e: unknown) => void }>): Promise<void> {
    try {
      const results = await this.send(batch.map((b) => b.item));
      if (results.length !== batch.length) throw new Error(`batch send returned ${results.length} results for ${batch.length} items`);
      batch.forEach((b, i) => b.resolve(results[i]));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }

  close(): void {
    this.flush();
    this.closed = true;
  }
}
