/**
 * Which GPUs this process may use, and which replica gets which of them. Pure functions on the
 * main thread: the controller calls `visibleGpus()` once at `run`, then `assignGpus()` with every
 * deployment's `numReplicas` and `numGpus`, and hands each replica its device ids.
 *
 * Device ids are the ordinals the CUDA runtime (and so onnxruntime's `deviceId`) sees inside this
 * process. CUDA renumbers the devices named in CUDA_VISIBLE_DEVICES as 0..n-1 in list order, so
 * `CUDA_VISIBLE_DEVICES=2,3` gives ids [0, 1]: id 0 is physical GPU 2. Never pass the physical
 * numbers on to onnxruntime.
 */
import { readdirSync } from 'node:fs';

/** Counts the NVIDIA devices on the machine; 0 when there is no driver. */
export type GpuProbe = () => number;

/**
 * Counts /proc/driver/nvidia/gpus/<pci-bus-id> entries, which the NVIDIA kernel driver creates
 * one per device. No driver (or no permission): 0.
 */
export const probeNvidiaGpus: GpuProbe = () => {
  try {
    return readdirSync('/proc/driver/nvidia/gpus').length;
  } catch {
    return 0;
  }
};

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** A CUDA_VISIBLE_DEVICES entry CUDA accepts: an index, or a GPU/MIG UUID (or its prefix). */
const CUDA_DEVICE_ENTRY = /^(\d+|GPU-[0-9A-Fa-f-]+|MIG-[0-9A-Za-z/-]+)$/;

/**
 * The device ids this process may use, in order:
 * - `THREADSERVE_GPUS` (e.g. "0,1", or "" for none) overrides everything: for tests and hosts
 *   where the other two give the wrong answer. The ids are used as given (already CUDA ordinals).
 *   Anything but distinct non-negative integers throws.
 * - else `CUDA_VISIBLE_DEVICES`: "" or "-1" means none. Like CUDA, the list ends at the first
 *   entry that is not a device index or UUID (so "0,-1,1" is one device); repeated entries count
 *   once. The answer is the ordinals 0..n-1 (see the module comment), not the listed numbers.
 * - else the probe's count of NVIDIA devices (0..n-1); none found: [].
 */
export function visibleGpus(env: NodeJS.ProcessEnv = process.env, probe: GpuProbe = probeNvidiaGpus): number[] {
  const override = env.THREADSERVE_GPUS;
  if (override !== undefined) return parseOverride(override);
  const cuda = env.CUDA_VISIBLE_DEVICES;
  if (cuda !== undefined) return range(countCudaVisible(cuda));
  const n = probe();
  return Number.isInteger(n) && n > 0 ? range(n) : [];
}

function parseOverride(value: string): number[] {
  const text = value.trim();
  if (text === '') return [];
  const ids: number[] = [];
  for (const part of text.split(',')) {
    const entry = part.trim();
    if (!/^\d+$/.test(entry)) {
      throw new Error(`THREADSERVE_GPUS must be a comma-separated list of device ids like "0,1" (or "" for none), got ${JSON.stringify(value)}`);
    }
    const id = Number(entry);
    if (ids.includes(id)) throw new Error(`THREADSERVE_GPUS lists device ${id} twice: ${JSON.stringify(value)}`);
    ids.push(id);
  }
  return ids;
}

function countCudaVisible(value: string): number {
  const seen = new Set<string>();
  for (const part of value.split(',')) {
    const entry = part.trim();
    if (!CUDA_DEVICE_ENTRY.test(entry)) break;
    seen.add(/^\d+$/.test(entry) ? String(Number(entry)) : entry);
  }
  return seen.size;
}

export interface GpuRequest {
  deployment: string;
  numReplicas: number;
  /** 0: no GPU; in (0, 1): a share of one device; a whole number >= 1: that many whole devices. */
  numGpus: number;
}

/** Per deployment, one entry per replica (by replica slot): the device ids it may use. */
export type GpuAssignment = Record<string, number[][]>;

/**
 * Capacity is counted in integer units so that, say, three replicas of 1/3 fit one device
 * exactly and float rounding never decides a placement.
 */
export const UNITS = 1_000_000;

interface Item {
  request: number;
  replica: number;
  units: number;
  whole: number;
}

/**
 * Places every replica's GPU share on the visible devices, first-fit decreasing: whole-device
 * replicas first (largest first), then fractional ones by size, each on the lowest device with
 * room. Ties keep input order, so the same input always gives the same answer. Whole devices
 * are exclusive; fractional replicas share a device up to its capacity of 1.
 *
 * Throws naming the deployment when it cannot be met, e.g.
 * `deployment "Detector" asks 3 x 1 GPU, 2 visible`.
 */
export function assignGpus(requests: readonly GpuRequest[], gpus: readonly number[]): GpuAssignment {
  const out: GpuAssignment = {};
  requests.forEach((r) => {
    validate(r, out);
    out[r.deployment] = Array.from({ length: r.numReplicas }, () => []);
  });
  for (const r of requests) checkAlone(r, gpus.length);

  const items: Item[] = [];
  requests.forEach((r, request) => {
    if (r.numGpus === 0) return;
    const whole = r.numGpus >= 1 ? r.numGpus : 0;
    const units = whole ? whole * UNITS : Math.round(r.numGpus * UNITS);
    for (let replica = 0; replica < r.numReplicas; replica++) items.push({ request, replica, units, whole });
  });
  // Array.prototype.sort is stable, so equal sizes keep deployment then replica order.
  items.sort((a, b) => b.units - a.units);

  const free = gpus.map(() => UNITS);
  for (const item of items) {
    const r = requests[item.request]!;
    let picked: number[];
    if (item.whole) {
      picked = [];
      for (let d = 0; d < free.length && picked.length < item.whole; d++) if (free[d] === UNITS) picked.push(d);
      if (picked.length < item.whole) throw new Error(shortage(r, gpus.length, requests, out));
      for (const d of picked) free[d] = 0;
    } else {
      const d = free.findIndex((f) => f >= item.units);
      if (d < 0) throw new Error(shortage(r, gpus.length, requests, out));
      free[d]! -= item.units;
      picked = [d];
    }
    out[r.deployment]![item.replica] = picked.map((d) => gpus[d]!);
  }
  return out;
}

function validate(r: GpuRequest, seen: GpuAssignment): void {
  const name = r.deployment;
  if (Object.hasOwn(seen, name)) throw new Error(`deployment "${name}" is listed twice in the GPU requests`);
  if (!Number.isInteger(r.numReplicas) || r.numReplicas < 0) {
    throw new Error(`deployment "${name}": numReplicas must be a non-negative integer, got ${r.numReplicas}`);
  }
  const g = r.numGpus;
  if (typeof g !== 'number' || !Number.isFinite(g) || g < 0) {
    throw new Error(`deployment "${name}": numGpus must be 0, a fraction in (0, 1) or a whole number of GPUs, got ${g}`);
  }
  if (g > 1 && !Number.isInteger(g)) {
    throw new Error(`deployment "${name}": numGpus above 1 must be a whole number of GPUs, got ${g}`);
  }
  if (g > 0 && g < 1 && Math.round(g * UNITS) === 0) {
    throw new Error(`deployment "${name}": numGpus ${g} is too small (the smallest share is ${1 / UNITS})`);
  }
}

const gpuWord = (g: number): string => (g > 1 ? 'GPUs' : 'GPU');
const fmt = (n: number): string => String(Number(n.toFixed(6)));

/** Devices needed by one deployment on its own: whole ones, or fractions packed per device. */
function devicesNeeded(r: GpuRequest): number {
  if (r.numGpus === 0 || r.numReplicas === 0) return 0;
  if (r.numGpus >= 1) return r.numReplicas * r.numGpus;
  const perDevice = Math.floor(UNITS / Math.round(r.numGpus * UNITS));
  return Math.ceil(r.numReplicas / perDevice);
}

function asks(r: GpuRequest, visible: number): string {
  return `deployment "${r.deployment}" asks ${r.numReplicas} x ${fmt(r.numGpus)} ${gpuWord(r.numGpus)}, ${visible} visible`;
}

function checkAlone(r: GpuRequest, visible: number): void {
  const need = devicesNeeded(r);
  if (need <= visible) return;
  let msg = asks(r, visible);
  if (r.numGpus < 1) {
    msg += ` (${visible} ${visible === 1 ? 'GPU' : 'GPUs'} of capacity; ${need} needed to fit ${r.numReplicas} replicas of ${fmt(r.numGpus)})`;
  }
  if (visible === 0) msg += '; set CUDA_VISIBLE_DEVICES or THREADSERVE_GPUS if this machine has GPUs';
  throw new Error(msg);
}

/** The refusal when a deployment fits alone but not next to the ones placed before it. */
function shortage(r: GpuRequest, visible: number, requests: readonly GpuRequest[], placed: GpuAssignment): string {
  let used = 0;
  const others: string[] = [];
  for (const o of requests) {
    if (o === r) continue;
    const n = placed[o.deployment]!.filter((ids) => ids.length > 0).length;
    if (n === 0) continue;
    used += n * o.numGpus;
    others.push(`"${o.deployment}" (${n} x ${fmt(o.numGpus)})`);
  }
  let msg = asks(r, visible);
  if (r.numGpus < 1) msg += ` (${visible} ${visible === 1 ? 'GPU' : 'GPUs'} of capacity)`;
  return `${msg}; other deployments use ${fmt(used)} ${used === 1 ? 'GPU' : 'GPUs'} of them: ${others.join(', ')}`;
}
