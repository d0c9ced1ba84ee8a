/**
 * `threadserve status` and `threadserve deploy`: clients of a running server's admin API
 * (admin.ts). `deploy` checks the file here first (the same checks the server makes), so a
 * typo fails at once with its line, then sends the text; the server resolves import paths
 * against the file's absolute path on its own file system.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadServeConfig } from './config-file.ts';
import type { AdminStatus } from './admin-status.ts';
import { table } from './status-table.ts';

interface ClientFlags {
  address: string;
  token?: string;
}

async function request(flags: ClientFlags, method: string, path: string, body?: unknown): Promise<unknown> {
  const token = flags.token ?? process.env.THREADSERVE_ADMIN_TOKEN;
  let res: Response;
  try {
    res = await fetch(new URL(path, flags.address), {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(
      `no threadserve admin API at ${flags.address} (${cause?.code ?? cause?.message ?? (err as Error).message}); is the server running, and on which --admin-port?`,
    );
  }
  const answer = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } };
  if (!res.ok) throw new Error(answer.error ? `${answer.error.message} (${answer.error.code})` : `the admin API answered ${res.status}`);
  return answer;
}

export function formatSnapshot(s: AdminStatus): string {
  const out: string[] = ['Applications:'];
  for (const a of s.applications) out.push(`  ${a.name}  ${a.route ?? '(no route)'}  ingress ${a.ingress}  deployments ${a.deployments.join(', ')}`);
  out.push('', 'Deployments:');
  const rows = [['DEPLOYMENT', 'REPLICAS', 'TARGET', 'AUTOSCALING', 'QUEUED', 'IN FLIGHT', 'MODELS']];
  for (const d of s.deployments) {
    const a = d.autoscaling;
    const auto = a ? `${a.minReplicas}-${a.maxReplicas} @ ${a.targetOngoingRequests}/replica` : 'fixed';
    const gpu = d.waitingForGpu ? ` (${d.waitingForGpu} wait for GPU)` : '';
    rows.push([d.name, `${d.running}${gpu}`, String(d.target), auto, String(d.queued), String(d.inFlight), d.models.join(',') || '-']);
  }
  out.push(table(rows), '', 'Replicas:');
  const reps = [['REPLICA', 'STATE', 'DEVICE', 'IN FLIGHT']];
  for (const d of s.deployments) for (const r of d.replicas) reps.push([r.id, r.state, r.device, String(r.inFlight)]);
  out.push(table(reps), '', `Autoscaling (maxReplicaThreads ${s.autoscaling.maxReplicaThreads}):`);
  const decisions = s.autoscaling.decisions.slice(-10);
  if (decisions.length === 0) out.push('  no decisions yet');
  for (const d of decisions) {
    const when = d.time.slice(11, 19);
    const held = d.wanted !== d.to ? ` (wanted ${d.wanted})` : '';
    out.push(`  ${when}  ${d.deployment}  ${d.from} -> ${d.to}${held}  ${d.reason}  ongoing ${d.ongoing.toFixed(1)}`);
  }
  return out.join('\n');
}

export async function statusCommand(flags: ClientFlags & { json?: boolean }): Promise<void> {
  const snapshot = (await request(flags, 'GET', '/api/status')) as AdminStatus;
  process.stdout.write(flags.json ? `${JSON.stringify(snapshot, null, 2)}\n` : `${formatSnapshot(snapshot)}\n`);
}

export async function deployCommand(file: string, flags: ClientFlags): Promise<void> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new Error(`config file not found: ${file}`);
  }
  loadServeConfig(file, text);
  const result = (await request(flags, 'PUT', '/api/deploy', { file: path, text })) as { changes: string[] };
  process.stdout.write(result.changes.length ? `deployed ${file}:\n  ${result.changes.join('\n  ')}\n` : `deployed ${file}: nothing changed\n`);
}
