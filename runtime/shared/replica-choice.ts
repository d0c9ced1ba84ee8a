/**
 * Replica choice: power of two choices on in-flight counts. Sample two distinct replicas that
 * still have room under maxOngoingRequests and take the less busy one. Pure, with the random
 * source passed in so tests can fix it.
 */
export interface ChoiceCandidate {
  readonly inFlight: number;
}

export type Random = () => number;

/** Index of the chosen candidate, or -1 when every candidate is at `maxOngoing`. */
export function chooseReplica(
  candidates: readonly ChoiceCandidate[],
  maxOngoing: number,
  random: Random = Math.random,
): number {
  const n = candidates.length;
  if (n === 0) return -1;
  if (n === 1) return candidates[0]!.inFlight < maxOngoing ? 0 : -1;
  const a = Math.floor(random() * n);
  let b = Math.floor(random() * (n - 1));
  if (b >= a) b++;
  const ia = candidates[a]!.inFlight;
  const ib = candidates[b]!.inFlight;
  const best = ib < ia ? b : a;
  if (candidates[best]!.inFlight < maxOngoing) return best;
  // Both samples are full: fall back to a scan for the least busy replica with room.
  let pick = -1;
  for (let i = 0; i < n; i++) {
    const f = candidates[i]!.inFlight;
    if (f < maxOngoing && (pick === -1 || f < candidates[pick]!.inFlight)) pick = i;
  }
  return pick;
}

export interface ModelCandidate extends ChoiceCandidate {
  readonly models: ReadonlySet<string>;
}

/**
 * Replica choice for a multiplexed model: power of two choices among the replicas that hold
 * the model and have room. When even the better holder is at least half busy while another
 * replica sits idle, the idle one takes the call (and loads the model), so a hot model spreads
 * over replicas instead of queueing on one. No holder with room: the least busy replica.
 */
export function chooseReplicaForModel(
  candidates: readonly ModelCandidate[],
  modelId: string,
  maxOngoing: number,
  random: Random = Math.random,
): number {
  const holders: number[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (c.models.has(modelId) && c.inFlight < maxOngoing) holders.push(i);
  }
  if (holders.length === 0) return chooseReplica(candidates, maxOngoing, random);
  const pick = holders[chooseReplica(holders.map((i) => candidates[i]!), maxOngoing, random)]!;
  const busy = candidates[pick]!.inFlight;
  if (busy < Math.max(1, Math.floor(maxOngoing / 2))) return pick;
  for (let k = 0, n = candidates.length, start = Math.floor(random() * n); k < n; k++) {
    const i = (start + k) % n;
    if (candidates[i]!.inFlight === 0 && !candidates[i]!.models.has(modelId)) return i;
  }
  return pick;
}
