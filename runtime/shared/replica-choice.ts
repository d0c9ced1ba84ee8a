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
export function chooseReplica(candidates: readonly ChoiceCandidate[], maxOngoing: number, random: Random = Math.random): number {
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
  /** Model loads or unloads running in the replica now (absent: none). They block its thread. */
  readonly loading?: number;
}

const isLoading = (c: ModelCandidate) => (c.loading ?? 0) > 0;

/** Power of two choices among `subset` (indices into candidates); -1 if none has room. */
function chooseAmong(candidates: readonly ModelCandidate[], subset: number[], maxOngoing: number, random: Random): number {
  const i = chooseReplica(
    subset.map((k) => candidates[k]!),
    maxOngoing,
    random,
  );
  return i < 0 ? -1 : subset[i]!;
}

/**
 * Replica choice for a multiplexed model. onnxruntime loads a model synchronously on the
 * replica's thread, so a replica that is loading answers nothing until the load is done; the
 * choice keeps the two kinds of calls apart:
 * - Warm (some replica holds the model): power of two choices among the holders with room
 *   that are not loading; only if every holder is loading, among all holders (a non-holder
 *   would have to load the model itself, which is worse). When even the better holder is at
 *   least half busy while another replica sits idle and is not loading, the idle one takes
 *   the call (and loads the model), so a hot model spreads over replicas instead of queueing.
 * - Cold (no holder with room): a replica that is already loading, if one has room: its
 *   thread is blocked anyway, and the others stay free for warm calls. Otherwise the least
 *   busy of two.
 */
export function chooseReplicaForModel(candidates: readonly ModelCandidate[], modelId: string, maxOngoing: number, random: Random = Math.random): number {
  const holders: number[] = [];
  const calmHolders: number[] = [];
  const loaders: number[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const c = candidates[i]!;
    if (c.inFlight >= maxOngoing) continue;
    if (c.models.has(modelId)) {
      holders.push(i);
      if (!isLoading(c)) calmHolders.push(i);
    } else if (isLoading(c)) {
      loaders.push(i);
    }
  }
  if (holders.length === 0) {
    if (loaders.length > 0) return chooseAmong(candidates, loaders, maxOngoing, random);
    return chooseReplica(candidates, maxOngoing, random);
  }
  const pick = chooseAmong(candidates, calmHolders.length > 0 ? calmHolders : holders, maxOngoing, random);
  const busy = candidates[pick]!.inFlight;
  if (busy < Math.max(1, Math.floor(maxOngoing / 2))) return pick;
  for (let k = 0, n = candidates.length, start = Math.floor(random() * n); k < n; k++) {
    const i = (start + k) % n;
    const c = candidates[i]!;
    if (c.inFlight === 0 && !c.models.has(modelId) && !isLoading(c)) return i;
  }
  return pick;
}
