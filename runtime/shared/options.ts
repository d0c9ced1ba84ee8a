/**
 * Deployment options: Ray Serve's names in camelCase with Ray Serve's defaults. They are
 * validated once, at `run`, before any thread starts; the result is fully defaulted and frozen.
 * Error messages name the deployment and the option path.
 */
import { z } from 'zod';
import { OptionsError } from './errors.ts';
import { AUTO_REPLICAS_DEFAULTS, autoscalingConfigSchema, startingReplicas } from './autoscaling-options.ts';
import type { ResolvedAutoscalingConfig } from './autoscaling-options.ts';

const positiveInt = (what = 'a positive integer') =>
  z
    .number({ error: `must be ${what}` })
    .int({ error: `must be ${what}` })
    .positive({ error: `must be ${what}` });
const positiveSeconds = z
  .number({ error: 'must be a positive number of seconds' })
  .positive({ error: 'must be a positive number of seconds' })
  .finite({ error: 'must be a positive number of seconds' });

const resourceLimitsSchema = z.strictObject({
  maxOldGenerationSizeMb: positiveInt().optional(),
  maxYoungGenerationSizeMb: positiveInt().optional(),
  codeRangeSizeMb: positiveInt().optional(),
  stackSizeMb: positiveInt().optional(),
});

const zodSchemaLike = z.custom<z.ZodType>((v) => v instanceof z.ZodType, { error: 'must be a zod schema' });

export const deploymentOptionsSchema = z.strictObject({
  name: z
    .string({ error: 'must be a non-empty name of letters, digits, "_", "-" or "."' })
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'must be a non-empty name of letters, digits, "_", "-" or "."' })
    .optional(),
  /** A fixed count, or 'auto': autoscale (with Ray's 'auto' defaults under autoscalingConfig). */
  numReplicas: z
    .custom<number | 'auto'>((v) => v === 'auto' || (typeof v === 'number' && Number.isInteger(v) && v > 0), {
      error: 'must be a positive integer or "auto"',
    })
    .optional(),
  autoscalingConfig: z.unknown().optional(),
  // In-flight counts live in 16 bits of a shared word (slot-table.ts).
  maxOngoingRequests: positiveInt('an integer from 1 to 65535').max(65535, { error: 'must be an integer from 1 to 65535' }).default(5),
  maxQueuedRequests: z
    .number({ error: 'must be -1 (no limit) or a non-negative integer' })
    .int({ error: 'must be -1 (no limit) or a non-negative integer' })
    .min(-1, { error: 'must be -1 (no limit) or a non-negative integer' })
    .default(-1),
  userConfig: z.unknown().optional(),
  /** GPUs per replica: a share of one device (0.5: two replicas per device) or whole devices. */
  numGpus: z
    .number({ error: 'must be 0, a fraction of one GPU, or a whole number of GPUs' })
    .min(0, { error: 'must be 0, a fraction of one GPU, or a whole number of GPUs' })
    .refine((n) => Number.isFinite(n) && (n <= 1 || Number.isInteger(n)), {
      error: 'must be 0, a fraction of one GPU, or a whole number of GPUs',
    })
    .default(0),
  healthCheckPeriodS: positiveSeconds.default(10),
  healthCheckTimeoutS: positiveSeconds.default(30),
  gracefulShutdownTimeoutS: positiveSeconds.default(20),
  route: z
    .string({ error: 'must be a path starting with "/"' })
    .regex(/^\/[A-Za-z0-9_.~\-/]*$/, { error: 'must be a path starting with "/"' })
    .optional(),
  requestSchema: zodSchemaLike.optional(),
  /** Largest request body in bytes for this ingress's route (default: serve's bodyLimit). */
  bodyLimit: positiveInt('a positive integer of bytes').optional(),
  /** Body types the ingress route takes besides JSON and msgpack: raw bytes (image/png...) or multipart/form-data. */
  acceptContentTypes: z
    .array(z.string().regex(/^[a-z]+\/[a-z0-9.+*-]+$/i, { error: 'must be a list of media types like "image/png"' }), {
      error: 'must be a list of media types like "image/png"',
    })
    .optional(),
  resourceLimits: resourceLimitsSchema.optional(),
});

export type DeploymentOptions = z.input<typeof deploymentOptionsSchema>;
export type ResolvedDeploymentOptions = Readonly<Omit<z.output<typeof deploymentOptionsSchema>, 'numReplicas' | 'autoscalingConfig'>> & {
  readonly name: string;
  /** Replicas at start: the fixed count, or the autoscaler's initial count. */
  readonly numReplicas: number;
  /** Set when the deployment autoscales (fully defaulted). */
  readonly autoscalingConfig: ResolvedAutoscalingConfig | undefined;
};

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function describe(v: unknown): string {
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return 'a function';
  try {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(v);
  }
}

/** Formats zod issues as `<prefix>: <path> <problem>, got <value>` lines. */
export function formatIssues(prefix: string, input: unknown, issues: readonly z.core.$ZodIssue[]): string {
  const lines = issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      const where = issue.path.length ? ` in ${issue.path.join('.')}` : '';
      return `${prefix}: unknown option${issue.keys.length > 1 ? 's' : ''}${where} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    }
    const path = issue.path.map(String).join('.');
    return `${prefix}: ${path} ${issue.message}, got ${describe(valueAt(input, issue.path))}`;
  });
  return lines.join('\n');
}

export function resolveDeploymentOptions(className: string, options: unknown): ResolvedDeploymentOptions {
  const parsed = deploymentOptionsSchema.safeParse(options ?? {});
  if (!parsed.success) {
    const given = (options as { name?: unknown } | undefined)?.name;
    const label = typeof given === 'string' && given ? given : className;
    throw new OptionsError(formatIssues(`deployment "${label}"`, options, parsed.error.issues));
  }
  const name = parsed.data.name ?? className;
  const autoscalingConfig = resolveAutoscaling(`deployment "${name}"`, parsed.data.numReplicas, parsed.data.autoscalingConfig);
  const numReplicas = autoscalingConfig ? startingReplicas(autoscalingConfig) : ((parsed.data.numReplicas as number | undefined) ?? 1);
  const resolved = { ...parsed.data, name, numReplicas, autoscalingConfig };
  if (resolved.resourceLimits) Object.freeze(resolved.resourceLimits);
  return Object.freeze(resolved);
}

/**
 * `numReplicas: 'auto'` and/or `autoscalingConfig` into one defaulted, frozen config, or
 * undefined for a fixed count. A fixed count with an autoscalingConfig is refused, as Ray does:
 * the two would disagree about who sets the count.
 */
function resolveAutoscaling(label: string, numReplicas: number | 'auto' | undefined, given: unknown): ResolvedAutoscalingConfig | undefined {
  if (given === undefined || given === null) {
    return numReplicas === 'auto' ? Object.freeze(autoscalingConfigSchema.parse(AUTO_REPLICAS_DEFAULTS)) : undefined;
  }
  if (numReplicas !== 'auto' && numReplicas !== undefined) {
    throw new OptionsError(
      `${label}: numReplicas ${numReplicas} cannot be set with autoscalingConfig; use numReplicas: "auto" or autoscalingConfig.initialReplicas`,
    );
  }
  const input = numReplicas === 'auto' && typeof given === 'object' ? { ...AUTO_REPLICAS_DEFAULTS, ...given } : given;
  const parsed = autoscalingConfigSchema.safeParse(input);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ ...i, path: ['autoscalingConfig', ...i.path] }));
    throw new OptionsError(formatIssues(label, { autoscalingConfig: input }, issues));
  }
  return Object.freeze(parsed.data);
}

/**
 * Options from a config file over the code's: each option the file sets wins. The file decides
 * how the count is set as a whole: a fixed num_replicas drops the code's autoscalingConfig, and
 * an autoscaling_config drops the code's fixed numReplicas.
 */
export function mergeOptions(code: DeploymentOptions, file: DeploymentOptions): DeploymentOptions {
  const merged: DeploymentOptions = { ...code, ...file };
  if (file.autoscalingConfig !== undefined && file.numReplicas === undefined && code.numReplicas !== 'auto') delete merged.numReplicas;
  if (typeof file.numReplicas === 'number') delete merged.autoscalingConfig;
  return merged;
}
