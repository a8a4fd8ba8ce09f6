import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { SingleBar, Presets } from 'cli-progress';
import { LeadExportError } from '../domain/errors';
import type { LeadProducer, EnqueueResult } from '../queue/producer';

export interface EnqueueFileSummary {
  lines: number;
  accepted: number;
  duplicate: number;
  invalid: number;
  unknownClient: number;
  /** `line N: path: message` for every bad line, and `line N: warning: path: message` for every repair or field left out (capped when printed). */
  problems: string[];
}

/**
 * `lead-export enqueue leads.jsonl`: one lead per line, sent in chunks through the same producer as
 * the HTTP intake. A bad line is reported with its line number; the good lines still go in.
 */
export async function enqueueFile(producer: LeadProducer, file: string, opts: { chunk?: number; progress?: boolean } = {}): Promise<EnqueueFileSummary> {
  const size = await stat(file).then(
    (s) => s.size,
    (err: NodeJS.ErrnoException) => {
      throw new LeadExportError('usage', `cannot read the leads file ${file} (${err.code ?? err.message})`);
    },
  );
  const bar = opts.progress ? new SingleBar({ format: 'enqueue [{bar}] {percentage}% | {value}/{total} bytes | {leads} leads', stream: process.stderr }, Presets.shades_classic) : null;
  bar?.start(size, 0, { leads: 0 });
  const summary: EnqueueFileSummary = { lines: 0, accepted: 0, duplicate: 0, invalid: 0, unknownClient: 0, problems: [] };
  const chunk: Array<{ line: number; lead: unknown }> = [];
  let bytes = 0;

  const flush = async () => {
    if (chunk.length === 0) return;
    const results = await producer.enqueueMany(chunk.map((c) => c.lead));
    results.forEach((r, i) => record(summary, chunk[i].line, r));
    chunk.length = 0;
    bar?.update(bytes, { leads: summary.accepted + summary.duplicate });
  };

  const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  for await (const text of rl) {
    summary.lines += 1;
    bytes += Buffer.byteLength(text) + 1;
    if (text.trim() === '') continue;
    let lead: unknown;
    try {
      lead = JSON.parse(text);
    } catch (err) {
      summary.invalid += 1;
      summary.problems.push(`line ${summary.lines}: not valid JSON (${(err as Error).message})`);
      continue;
    }
    chunk.push({ line: summary.lines, lead });
    if (chunk.length >= (opts.chunk ?? 500)) await flush();
  }
  await flush();
  bar?.update(size);
  bar?.stop();
  return summary;
}

function record(s: EnqueueFileSummary, line: number, r: EnqueueResult): void {
  switch (r.status) {
    case 'accepted':
    case 'duplicate':
      if (r.status === 'accepted') s.accepted += 1;
      else s.duplicate += 1;
      for (const w of r.warnings) s.problems.push(`line ${line}: warning: ${w.path || '(lead)'}: ${w.message}`);
      break;
    case 'invalid':
      s.invalid += 1;
      for (const i of r.issues) s.problems.push(`line ${line}: ${i.path || '(lead)'}: ${i.message}`);
      break;
    case 'unknown_client':
      s.unknownClient += 1;
      s.problems.push(`line ${line}: clientId: unknown client '${r.clientId}'`);
      break;
  }
}
