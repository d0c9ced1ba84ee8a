/** What the CLI shows once everything is ready: every route, and the deployments and their replicas. */
import type { Application } from './application.ts';
import type { RouteInfo } from './http-observability.ts';

/** Rows as aligned text columns (the first row is the header), for the CLI. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export interface RouteLine {
  methods: string[];
  url: string;
  /** For application routes: which application and ingress deployment it calls. */
  app?: string;
  ingress?: string;
}

export interface ReplicaLine {
  deployment: string;
  replica: string;
  state: string;
  device: string;
  maxOngoingRequests: number;
  maxQueuedRequests: number;
}

/**
 * One line per registered URL pattern. Application routes are registered for every method
 * (to answer 405 with `Allow: POST`), so they are shown as the POST they serve.
 */
export function routeLines(app: Application, routes: readonly RouteInfo[]): RouteLine[] {
  const byPrefix = new Map<string, { name: string; ingress: string }>();
  for (const a of app.plan.apps) {
    if (a.route === null) continue;
    const prefix = a.route === '/' ? '' : a.route.replace(/\/+$/, '');
    byPrefix.set(prefix || '/', a);
    byPrefix.set(`${prefix}/*`, a);
  }
  const merged = new Map<string, RouteLine>();
  for (const r of routes) {
    // The docs page's assets and alternate forms: /-/docs stands for them.
    if (r.url.startsWith('/-/docs/')) continue;
    const owner = byPrefix.get(r.url);
    const line = merged.get(r.url) ?? { methods: [], url: r.url, ...(owner ? { app: owner.name, ingress: owner.ingress } : {}) };
    const methods = owner ? ['POST'] : r.methods;
    for (const m of methods) if (!line.methods.includes(m)) line.methods.push(m);
    merged.set(r.url, line);
  }
  // Applications first: they are what the server is for.
  const lines = [...merged.values()];
  return [...lines.filter((l) => l.app !== undefined), ...lines.filter((l) => l.app === undefined)];
}

/** A catch-all registered for every method reads better as ANY. */
const methodsText = (methods: string[]) => (methods.length >= 6 ? 'ANY' : methods.join(','));

export function replicaLines(app: Application): ReplicaLine[] {
  const out: ReplicaLine[] = [];
  for (const r of app.allRunners()) {
    const o = r.spec.options;
    for (const rep of r.status()) {
      const device = rep.gpuIds.length ? `gpu ${rep.gpuIds.join(',')}${o.numGpus < 1 ? ` (${o.numGpus})` : ''}` : 'cpu';
      out.push({
        deployment: r.name,
        replica: rep.id,
        state: rep.state,
        device,
        maxOngoingRequests: o.maxOngoingRequests,
        maxQueuedRequests: o.maxQueuedRequests,
      });
    }
  }
  return out;
}

export function formatStatus(app: Application, baseUrl: string | undefined, routes: readonly RouteInfo[]): string {
  const lines: string[] = ['Routes:'];
  const rows = routeLines(app, routes).map((r) => [
    `  ${methodsText(r.methods)}`,
    `${baseUrl ?? ''}${r.url}`,
    r.app !== undefined ? `->  ${r.app} (ingress ${r.ingress})` : '',
  ]);
  if (rows.length) lines.push(table(rows));
  lines.push('');
  const replicaRows = [['DEPLOYMENT', 'REPLICA', 'STATE', 'DEVICE', 'MAX ONGOING', 'MAX QUEUED']];
  for (const r of replicaLines(app)) {
    replicaRows.push([
      r.deployment,
      r.replica,
      r.state,
      r.device,
      String(r.maxOngoingRequests),
      r.maxQueuedRequests < 0 ? 'unlimited' : String(r.maxQueuedRequests),
    ]);
  }
  lines.push(table(replicaRows));
  return lines.join('\n');
}
