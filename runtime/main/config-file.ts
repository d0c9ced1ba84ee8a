/**
 * Reads a Ray Serve-style config file (YAML): `applications: [{ name, route_prefix,
 * import_path, args, deployments: [...] }]`, `http_options`, `logging_config`, plus
 * threadserve's `max_replica_threads`. Field names are Ray Serve's snake_case and are mapped
 * onto the code's camelCase options. Everything is checked here, before any module is
 * imported or thread started; each error names the file, line, column and field.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { autoscalingConfigSchema } from '../shared/autoscaling-options.ts';
import { OptionsError } from '../shared/errors.ts';
import { deploymentOptionsSchema, formatIssues, resolveDeploymentOptions } from '../shared/options.ts';
import type { DeploymentOptions } from '../shared/options.ts';

type Path = Array<string | number>;

export interface ConfigDeployment {
  name: string;
  /** The options the file sets, in the code's names (unset ones are absent). */
  options: DeploymentOptions;
}

export interface ConfigApplication {
  name: string;
  /** undefined: the code's route; null: no HTTP route. */
  routePrefix: string | null | undefined;
  /** The module path, relative to the config file, and the export. */
  importPath: string;
  exportName: string;
  args: Record<string, unknown> | undefined;
  deployments: ConfigDeployment[];
  /** Where the application's entry is, for errors found later (imports, graph checks). */
  where(field?: Path): string;
}

export interface ServeConfig {
  file: string;
  host: string | undefined;
  port: number | undefined;
  requestTimeoutS: number | undefined;
  logLevel: string | undefined;
  maxReplicaThreads: number | undefined;
  applications: ConfigApplication[];
}

const snakeToCamel = (k: string): string => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
export const camelToSnake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Deployment options the file may set (Ray Serve's snake_case names). */
const FILE_DEPLOYMENT_FIELDS = [
  'num_replicas',
  'max_ongoing_requests',
  'max_queued_requests',
  'user_config',
  'autoscaling_config',
  'graceful_shutdown_timeout_s',
  'health_check_period_s',
  'health_check_timeout_s',
  'ray_actor_options',
] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

class Located {
  readonly lines = new LineCounter();
  readonly doc: Document;
  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false });
    const err = this.doc.errors[0];
    if (err) {
      const pos = this.lines.linePos(err.pos[0]);
      throw new OptionsError(`${file}:${pos.line}:${pos.col}: not valid YAML: ${err.message.split('\n')[0]}`);
    }
  }

  /** file:line:col of a field (of its key when `key`), or of the closest parent that exists. */
  at(path: Path, key = false): string {
    for (let p = [...path]; ; p = p.slice(0, -1)) {
      let range: readonly number[] | undefined;
      if (key && p.length === path.length && p.length > 0) {
        const parent = this.doc.getIn(p.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((i) => (i.key as { value?: unknown } | null)?.value === p[p.length - 1]);
          range = (pair?.key as { range?: number[] } | undefined)?.range;
        }
      }
      range ??= (this.doc.getIn(p, true) as { range?: number[] } | undefined)?.range;
      if (range || p.length === 0) {
        const pos = this.lines.linePos(range?.[0] ?? 0);
        return `${this.file}:${pos.line}:${pos.col}`;
      }
    }
  }

  fail(path: Path, problem: string, key = false): never {
    throw new OptionsError(`${this.at(path, key)}: ${fieldName(path)} ${problem}`);
  }
}

function fieldName(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('') || '(top level)';
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkKeys(src: Located, value: Record<string, unknown>, path: Path, allowed: readonly string[]): void {
  for (const k of Object.keys(value)) {
    if (!allowed.includes(k)) src.fail([...path, k], `is not a field here (fields: ${allowed.join(', ')})`, true);
  }
}

/** Zod issues of a camelCase schema, reported at the file's snake_case fields. */
function failIssues(src: Located, base: Path, input: unknown, issues: readonly z.core.$ZodIssue[]): void {
  const issue = issues[0];
  if (!issue) return;
  const path = [...base, ...issue.path.map((p) => (typeof p === 'string' ? camelToSnake(p) : (p as number)))];
  const detail = formatIssues('', input, [issue]).replace(/^: \S+ /, '');
  src.fail(path, detail);
}

export function loadServeConfig(file: string, text = readFileSync(file, 'utf8')): ServeConfig {
  const src: Located = new Located(file, text);
  const raw: unknown = src.doc.toJS();
  if (!isObject(raw)) src.fail([], 'must be a mapping with an "applications" list');
  checkKeys(src, raw, [], ['applications', 'http_options', 'logging_config', 'max_replica_threads']);
  const http = raw.http_options ?? {};
  if (!isObject(http)) src.fail(['http_options'], 'must be a mapping (host, port, request_timeout_s)');
  checkKeys(src, http, ['http_options'], ['host', 'port', 'request_timeout_s']);
  if (http.host !== undefined && (typeof http.host !== 'string' || !http.host)) src.fail(['http_options', 'host'], 'must be a host name or address');
  if (http.port !== undefined && !(Number.isInteger(http.port) && (http.port as number) >= 0 && (http.port as number) <= 65535)) {
    src.fail(['http_options', 'port'], `must be an integer port from 0 to 65535, got ${JSON.stringify(http.port)}`);
  }
  const timeout = http.request_timeout_s;
  if (timeout !== undefined && timeout !== null && !(typeof timeout === 'number' && timeout > 0)) {
    src.fail(['http_options', 'request_timeout_s'], `must be a positive number of seconds, got ${JSON.stringify(timeout)}`);
  }
  const logging = raw.logging_config ?? {};
  if (!isObject(logging)) src.fail(['logging_config'], 'must be a mapping (log_level)');
  checkKeys(src, logging, ['logging_config'], ['log_level']);
  const level = typeof logging.log_level === 'string' ? logging.log_level.toLowerCase() : logging.log_level;
  if (level !== undefined && !LOG_LEVELS.includes(level as string))
    src.fail(['logging_config', 'log_level'], `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logging.log_level)}`);
  const budget = raw.max_replica_threads;
  if (budget !== undefined && budget !== null && !(Number.isInteger(budget) && (budget as number) > 0)) {
    src.fail(['max_replica_threads'], `must be a positive integer, got ${JSON.stringify(budget)}`);
  }
  if (!Array.isArray(raw.applications) || raw.applications.length === 0) src.fail(['applications'], 'must be a list of at least one application');
  const names = new Set<string>();
  const applications = raw.applications.map((a: unknown, i: number) => readApplication(src, a, ['applications', i], names));
  return {
    file,
    host: http.host as string | undefined,
    port: http.port as number | undefined,
    requestTimeoutS: (timeout ?? undefined) as number | undefined,
    logLevel: level as string | undefined,
    maxReplicaThreads: (budget ?? undefined) as number | undefined,
    applications,
  };
}

function readApplication(src: Located, a: unknown, path: Path, names: Set<string>): ConfigApplication {
  if (!isObject(a)) src.fail(path, 'must be a mapping (name, route_prefix, import_path, args, deployments)');
  checkKeys(src, a, path, ['name', 'route_prefix', 'import_path', 'args', 'deployments']);
  const name = a.name ?? 'default';
  if (typeof name !== 'string' || !name) src.fail([...path, 'name'], 'must be a non-empty string');
  if (names.has(name)) src.fail([...path, 'name'], `"${name}" names two applications`);
  names.add(name);
  const route = a.route_prefix;
  if (route !== undefined && route !== null && (typeof route !== 'string' || !/^\/[A-Za-z0-9_.~\-/]*$/.test(route))) {
    src.fail([...path, 'route_prefix'], `must be a path starting with "/" (or null for no route), got ${JSON.stringify(route)}`);
  }
  if (typeof a.import_path !== 'string' || !a.import_path) src.fail([...path, 'import_path'], 'must be a module path, like ./app.ts or ./app.ts:exportName');
  const colon = a.import_path.lastIndexOf(':');
  // A single letter before the colon is a Windows drive, not an export.
  const split = colon > 1 && !a.import_path.slice(colon + 1).includes('/');
  const importPath = split ? a.import_path.slice(0, colon) : a.import_path;
  const exportName = split ? a.import_path.slice(colon + 1) : 'default';
  if (!exportName) src.fail([...path, 'import_path'], 'names no export after ":"');
  if (a.args !== undefined && a.args !== null && !isObject(a.args)) src.fail([...path, 'args'], 'must be a mapping of arguments for the application builder');
  const deployments = a.deployments ?? [];
  if (!Array.isArray(deployments)) src.fail([...path, 'deployments'], 'must be a list of deployments');
  const seen = new Set<string>();
  return {
    name,
    routePrefix: route as string | null | undefined,
    importPath,
    exportName,
    args: (a.args ?? undefined) as Record<string, unknown> | undefined,
    deployments: deployments.map((d: unknown, j: number) => readDeployment(src, d, [...path, 'deployments', j], seen)),
    where: (field: Path = []) => src.at([...path, ...field]),
  };
}

function readDeployment(src: Located, d: unknown, path: Path, seen: Set<string>): ConfigDeployment {
  if (!isObject(d)) src.fail(path, 'must be a mapping with a name and options');
  checkKeys(src, d, path, ['name', ...FILE_DEPLOYMENT_FIELDS]);
  if (typeof d.name !== 'string' || !d.name) src.fail([...path, 'name'], 'must name a deployment of the application');
  if (seen.has(d.name)) src.fail([...path, 'name'], `"${d.name}" is listed twice`);
  seen.add(d.name);
  const options: Record<string, unknown> = {};
  for (const key of FILE_DEPLOYMENT_FIELDS) {
    const value = d[key];
    // null leaves the code's value (and `build` prints null for options the code does not set).
    if (value === undefined || value === null) continue;
    if (key === 'ray_actor_options') {
      if (!isObject(value)) src.fail([...path, key], 'must be a mapping (num_gpus)');
      checkKeys(src, value, [...path, key], ['num_gpus']);
      if (value.num_gpus !== undefined) options.numGpus = value.num_gpus;
    } else if (key === 'autoscaling_config') {
      if (!isObject(value)) src.fail([...path, key], 'must be a mapping of autoscaling options (min_replicas, max_replicas, ...)');
      const allowed = Object.keys(autoscalingConfigSchema.shape).map(camelToSnake);
      checkKeys(src, value, [...path, key], allowed);
      const camel = Object.fromEntries(
        Object.entries(value)
          .filter(([, v]) => v !== null)
          .map(([k, v]) => [snakeToCamel(k), v]),
      );
      const parsed = autoscalingConfigSchema.safeParse(camel);
      if (!parsed.success) failIssues(src, [...path, key], camel, parsed.error.issues);
      options.autoscalingConfig = camel;
    } else {
      options[snakeToCamel(key)] = value;
    }
  }
  const { autoscalingConfig: _a, ...plain } = options;
  const parsed = deploymentOptionsSchema.safeParse(plain);
  if (!parsed.success) failIssues(src, path, plain, parsed.error.issues);
  try {
    resolveDeploymentOptions(d.name, options);
  } catch (err) {
    throw new OptionsError(`${src.at(path)}: ${(err as Error).message}`);
  }
  return { name: d.name, options: options as DeploymentOptions };
}
