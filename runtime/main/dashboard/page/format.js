// Number formatting for the page: rates, latencies, percentages, devices, durations.

export function rate(perS) {
  if (perS === null || perS === undefined) return '–';
  return perS >= 100 ? perS.toFixed(0) : perS >= 10 ? perS.toFixed(1) : perS.toFixed(2);
}

export function millis(ms) {
  if (ms === null || ms === undefined) return '–';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  if (ms >= 1) return `${ms.toFixed(1)} ms`;
  return `${(ms * 1000).toFixed(0)} µs`;
}

export function percent(fraction) {
  if (fraction === null || fraction === undefined) return '–';
  const p = fraction * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

export function count(n) {
  return Math.round(n).toLocaleString('en-US');
}

/** "cpu", "gpu 0" or "gpu 1 (0.5)" for a fractional share. */
export function device(gpuIds, numGpus) {
  if (!gpuIds || gpuIds.length === 0) return 'cpu';
  return `gpu ${gpuIds.join(',')}${numGpus > 0 && numGpus < 1 ? ` (${numGpus})` : ''}`;
}

export function since(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

export function time(ms) {
  return new Date(ms).toLocaleTimeString();
}
