import { z } from 'zod';
import type { AdapterDefinition } from '../../adapters/types';
import { CLIENT_ID_PATTERN } from '../domain/lead';
import { duration } from '../domain/duration';
import { FUNNEL_STAGES } from '../domain/progress';
import { isReservedName, reservedNameMessage } from '../domain/reserved-names';

/**
 * The schema of one client file (config/clients/<id>.yaml). The common part — limits, batching,
 * retries, the breaker and the status map — is the same for every CRM; `settings` and `mapping` are
 * validated by the schema of the adapter named in `adapter`.
 */

const positiveInt = (what: string) => z.number({ message: `${what} must be a number` }).int(`${what} must be a whole number`).positive(`${what} must be at least 1`);

export const RateLimitSchema = z
  .object({
    requests: positiveInt('requests'),
    perSeconds: z.number().positive('perSeconds must be greater than 0').max(3600),
  })
  .strict();

const CommonClientFields = {
  id: z.string().regex(CLIENT_ID_PATTERN, 'must be 1-63 characters of a-z 0-9 - starting with a letter or digit'),
  name: z.string().trim().min(1, 'must not be empty'),
  enabled: z.boolean().default(true),
  paused: z.boolean().default(false),
  /** Requests per window to this client's CRM, across every process; deliveries and polls alike. */
  rateLimit: RateLimitSchema.default({ requests: 5, perSeconds: 1 }),
  batch: z
    .object({
      /** Leads per create request; capped at the adapter's maximum. */
      size: positiveInt('size').optional(),
      /** How long a partly filled batch waits for more leads. */
      linger: duration.default(25),
    })
    .strict()
    .default({ linger: 25 }),
  retry: z
    .object({
      /** A lead that cannot be delivered within this age fails (72 h by default). */
      maxDeliveryAge: duration.default(72 * 3_600_000),
      initialDelay: duration.default(5_000),
      maxDelay: duration.default(30 * 60_000),
      /** 0..1: how much of each delay is randomised, so retries of many leads spread out. */
      jitter: z.number().min(0).max(1).default(0.5),
      /**
       * A lead whose create ended without a known outcome (a timeout, a 5xx) is looked up no sooner than
       * this after the create left, so a slow CRM can finish writing it first. Default: twice the
       * request timeout, at least 30 s.
       */
      uncertainGrace: duration.optional(),
    })
    .strict()
    .default({ maxDeliveryAge: 72 * 3_600_000, initialDelay: 5_000, maxDelay: 30 * 60_000, jitter: 0.5 }),
  circuit: z
    .object({
      failureThreshold: positiveInt('failureThreshold').default(5),
      /** Probe interval while the client's CRM is down, for the whole fast-probe window. */
      cooldown: duration.default(5_000),
      /** The longest probe interval of a long outage. */
      maxCooldown: duration.default(600_000),
      /** How long into an outage probes keep coming every cooldown; then the interval grows with the outage. */
      fastProbeWindow: duration.default(600_000),
    })
    .strict()
    .superRefine((c, ctx) => {
      if (c.cooldown < 1_000) ctx.addIssue({ code: 'custom', path: ['cooldown'], message: 'must be at least 1s: probes need time between them' });
      if (c.maxCooldown < c.cooldown) ctx.addIssue({ code: 'custom', path: ['maxCooldown'], message: `must be at least cooldown (${c.cooldown} ms)` });
    })
    .default({ failureThreshold: 5, cooldown: 5_000, maxCooldown: 600_000, fastProbeWindow: 600_000 }),
  timeouts: z
    .object({ request: duration.default(15_000) })
    .strict()
    .default({ request: 15_000 }),
  /**
   * `lead-export probe <client>`: how far the capacity probe may go against this client's API. It only
   * ever sends the adapter's read-only ping. The latency phase (about 20 requests at a gentle pace)
   * always runs; the ramp is opt-in per client because it deliberately provokes the CRM's rate limit.
   */
  probe: z
    .object({
      /** Allow phase 2: raise the request rate step by step until the first 429 or rising latency. */
      ramp: z.boolean().default(false),
      /** Requests per second the probe never exceeds (also capped by a limit the adapter knows, e.g. amoCRM's 7/s). */
      maxRate: z.number().positive('maxRate must be greater than 0').max(1000).default(20),
    })
    .strict()
    .default({ ramp: false, maxRate: 20 }),
  /** CRM status key → HRDrom funnel stage (used by progress polling); the stages are the write-back contract's. */
  statusMap: z
    .record(
      z.string().superRefine((k, ctx) => {
        if (isReservedName(k)) ctx.addIssue({ code: 'custom', message: reservedNameMessage(k, 'a CRM status key') });
      }),
      z.enum(FUNNEL_STAGES, { message: `must be one of ${FUNNEL_STAGES.join(', ')}` }),
    )
    .default({}),
};

export function buildClientSchema(definitions: ReadonlyArray<AdapterDefinition<unknown, unknown>>) {
  const variants = definitions.map((def) =>
    z
      .object({
        ...CommonClientFields,
        adapter: z.literal(def.kind),
        settings: def.settingsSchema,
        mapping: def.mappingSchema,
      })
      .strict(),
  );
  if (variants.length === 0) throw new Error('no adapters registered');
  const kinds = definitions.map((d) => d.kind).join(', ');
  return z.discriminatedUnion('adapter', variants as unknown as [(typeof variants)[number], ...(typeof variants)[number][]], {
    message: `adapter must be one of: ${kinds}`,
  });
}

type CommonShape = z.output<z.ZodObject<typeof CommonClientFields>>;

/** A validated client config. `settings` and `mapping` are typed by the adapter that owns them. */
export type ClientConfig = CommonShape & {
  adapter: string;
  settings: unknown;
  mapping: unknown;
};
