import { loadServiceConfig } from '../../src/config/service-config';

const A = 'token-aaaaaaaaaaaaaaaa';
const B = 'token-bbbbbbbbbbbbbbbb';
const C = 'token-cccccccccccccccc';

function failure(env: NodeJS.ProcessEnv): Error & { kind?: string } {
  try {
    loadServiceConfig(env);
  } catch (err) {
    return err as Error & { kind?: string };
  }
  throw new Error('expected the service config to be refused');
}

describe('service tokens must differ', () => {
  it('refuses INTAKE_TOKEN equal to ADMIN_TOKEN, naming both variables and neither value', () => {
    const err = failure({ INTAKE_TOKEN: A, ADMIN_TOKEN: A });
    expect(err.kind).toBe('config');
    expect(err.message).toBe(
      "invalid service configuration: INTAKE_TOKEN and ADMIN_TOKEN have the same value: give each its own token, or whoever holds one can use the other's API",
    );
    expect(err.message).not.toContain(A);
  });

  it('refuses METRICS_TOKEN equal to INTAKE_TOKEN or to ADMIN_TOKEN', () => {
    expect(failure({ INTAKE_TOKEN: A, ADMIN_TOKEN: B, METRICS_TOKEN: A }).message).toMatch(/^invalid service configuration: INTAKE_TOKEN and METRICS_TOKEN have the same value/);
    expect(failure({ INTAKE_TOKEN: A, ADMIN_TOKEN: B, METRICS_TOKEN: B }).message).toMatch(/^invalid service configuration: ADMIN_TOKEN and METRICS_TOKEN have the same value/);
    const all = failure({ INTAKE_TOKEN: A, ADMIN_TOKEN: A, METRICS_TOKEN: A }).message;
    expect(all).toContain('INTAKE_TOKEN and ADMIN_TOKEN; INTAKE_TOKEN and METRICS_TOKEN; ADMIN_TOKEN and METRICS_TOKEN have the same value');
    expect(all).not.toContain(A);
  });

  it('applies to values given as overrides too (tests, the demo, benchmarks)', () => {
    expect(() => loadServiceConfig({}, { intakeToken: A, adminToken: A })).toThrow(/INTAKE_TOKEN and ADMIN_TOKEN have the same value/);
  });

  it('accepts three different tokens, and unset ones', () => {
    expect(loadServiceConfig({ INTAKE_TOKEN: A, ADMIN_TOKEN: B, METRICS_TOKEN: C })).toEqual(
      expect.objectContaining({ intakeToken: A, adminToken: B, metricsToken: C }),
    );
    expect(loadServiceConfig({}).metricsToken).toBe('');
    expect(loadServiceConfig({ INTAKE_TOKEN: A }).adminToken).toBe('');
  });

  it('holds METRICS_TOKEN to the token rules without echoing it', () => {
    const err = failure({ METRICS_TOKEN: 'short-metrics' });
    expect(err.message).toContain('METRICS_TOKEN (metricsToken: must be at least 16 characters');
    expect(err.message).not.toContain('short-metrics');
  });
});
