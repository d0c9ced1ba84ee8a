/**
 * `autoscalingConfig`: Ray Serve's autoscaling options in camelCase, with Ray Serve's defaults.
 * `numReplicas: 'auto'` turns autoscaling on with Ray's out-of-the-box settings (1 to 100
 * replicas); an explicit `autoscalingConfig` overrides any of them. Cross-field rules (bounds,
 * initial count) are checked here so the message names the option that breaks them.
 */
import { z } from 'zod';

const count = (what: string) => z.number({ error: `must be ${what}` }).int({ error: `must be ${what}` });
const seconds = (what: string) => z.number({ error: `must be ${what}` }).finite({ error: `must be ${what}` });

export const autoscalingConfigSchema = z
  .strictObject(
    {
      minReplicas: count('a non-negative integer').min(0, { error: 'must be a non-negative integer' }).default(1),
      maxReplicas: count('a positive integer').min(1, { error: 'must be a positive integer' }).default(1),
      /** Replicas at start (default: minReplicas). */
      initialReplicas: count('a non-negative integer').min(0, { error: 'must be a non-negative integer' }).optional(),
      /** Ongoing requests (running and queued) per replica the autoscaler aims for. */
      targetOngoingRequests: seconds('a positive number').positive({ error: 'must be a positive number' }).default(2),
      upscaleDelayS: seconds('a non-negative number of seconds').min(0, { error: 'must be a non-negative number of seconds' }).default(30),
      downscaleDelayS: seconds('a non-negative number of seconds').min(0, { error: 'must be a non-negative number of seconds' }).default(600),
      /** Multiplies each upscale step (Ray: upscaling_factor; unset means 1). */
      upscalingFactor: seconds('a positive number').positive({ error: 'must be a positive number' }).default(1),
      downscalingFactor: seconds('a positive number').positive({ error: 'must be a positive number' }).default(1),
      /** How often the load the autoscaler sees is refreshed. */
      metricsIntervalS: seconds('a positive number of seconds').positive({ error: 'must be a positive number of seconds' }).default(10),
      /** The load is the mean over this window. */
      lookBackPeriodS: seconds('a positive number of seconds').positive({ error: 'must be a positive number of seconds' }).default(30),
    },
    { error: 'must be an object of autoscaling options' },
  )
  .superRefine((c, ctx) => {
    if (c.maxReplicas < c.minReplicas) {
      ctx.addIssue({ code: 'custom', path: ['maxReplicas'], message: `must be at least minReplicas (${c.minReplicas})` });
    }
    if (c.initialReplicas !== undefined && (c.initialReplicas < c.minReplicas || c.initialReplicas > c.maxReplicas)) {
      ctx.addIssue({ code: 'custom', path: ['initialReplicas'], message: `must be between minReplicas (${c.minReplicas}) and maxReplicas (${c.maxReplicas})` });
    }
  });

export type AutoscalingConfig = z.input<typeof autoscalingConfigSchema>;
export type ResolvedAutoscalingConfig = Readonly<z.output<typeof autoscalingConfigSchema>>;

/** What `numReplicas: 'auto'` means before the deployment's own autoscalingConfig (Ray Serve's defaults for 'auto'). */
export const AUTO_REPLICAS_DEFAULTS = Object.freeze({ minReplicas: 1, maxReplicas: 100, targetOngoingRequests: 2 });

/** Replicas a deployment starts with. */
export function startingReplicas(c: ResolvedAutoscalingConfig): number {
  return c.initialReplicas ?? c.minReplicas;
}
