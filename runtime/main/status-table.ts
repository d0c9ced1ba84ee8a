/** The routes and the deployments/replicas table the CLI prints once everything is ready. */
import type { Application } from './application.ts';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

export function formatStatus(app: Application, baseUrl: string | undefined): string {
  const lines: string[] = [];
  const routed = app.plan.apps.filter((a) => a.route !== null);
  if (routed.length) {
    lines.push('Routes:');
    for (const a of routed) lines.push(`  POST ${baseUrl ?? ''}${a.route}  ->  ${a.name} (ingress ${a.ingress})`);
    lines.push('');
  }
  const rows = [['DEPLOYMENT', 'REPLICA', 'STATE', 'DEVICE', 'MAX ONGOING', 'MAX QUEUED']];
  for (const r of app.allRunners()) {
    const o = r.spec.options;
    for (const rep of r.status()) {
      const device = rep.gpuIds.length ? `gpu ${rep.gpuIds.join(',')}${o.numGpus < 1 ? ` (${o.numGpus})` : ''}` : 'cpu';
      rows.push([r.name, rep.id, rep.state, device, String(o.maxOngoingRequests), o.maxQueuedRequests < 0 ? 'unlimited' : String(o.maxQueuedRequests)]);
    }
  }
  lines.push(table(rows));
  return lines.join('\n');
}
