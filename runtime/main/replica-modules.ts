/**
 * What a replica thread imports, and with which node flags: compiled copies of the TypeScript
 * modules when it can, the sources under tsx when it cannot.
 *
 * Why: on Node 20 a worker that must import .ts files needs tsx's hooks registered inside it,
 * and `module.register` starts a hooks thread per worker that loads esbuild: ~19 MB of the
 * ~39 MB a trivial replica cost. Compiling the worker entry and the deployments' modules once
 * on the main thread (compile-modules.ts) lets replicas run on plain node.
 *
 * The class key the main thread sends is `${moduleUrl}#Name[#n]` with the source's URL, while
 * the compiled module registers its classes under its own URL (registry.ts reads it from V8's
 * call sites), so the key is rewritten by that prefix.
 *
 * The answer is taken once for all replicas of an application: a replica must never get
 * compiled modules with a source entry (two copies of the runtime in one thread), nor compiled
 * URLs without tsx where something is still TypeScript. So a read before `prepare()` finished,
 * or any compile failure, settles on the sources (today's tsx path), and a failure is logged once.
 */
import type { Logger } from 'pino';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compileModules, TS_FILE } from './compile-modules.ts';
import { workerEntryUrl, workerExecArgv } from './worker-setup.ts';

const loggedFailures = new Set<string>();

export class ReplicaModules {
  /** Source URL -> compiled URL once compiled; null once settled on the sources. */
  private compiled: Map<string, string> | null | undefined;
  private preparing: Promise<void> | undefined;

  /**
   * @param moduleUrls the deployments' modules (as `deployment()` recorded them)
   * @param entryUrl the replica's task module (entry.ts from source, entry.js from dist/)
   */
  constructor(
    private readonly moduleUrls: readonly string[],
    private readonly entryUrl: string = workerEntryUrl,
  ) {}

  /** Compiles what replicas load, unless nothing is TypeScript. Never rejects: failure means tsx. */
  prepare(log?: Pick<Logger, 'warn'>): Promise<void> {
    this.preparing ??= this.compile(log);
    return this.preparing;
  }

  private async compile(log?: Pick<Logger, 'warn'>): Promise<void> {
    const sources = [...new Set([this.entryUrl, ...this.moduleUrls])].filter((u) => u.startsWith('file:') && TS_FILE.test(new URL(u).pathname));
    if (sources.length === 0 || this.compiled !== undefined) return;
    let byPath: Map<string, string>;
    try {
      byPath = await compileModules(sources.map((u) => fileURLToPath(u)));
    } catch (err) {
      const why = (err as Error).message;
      if (log && !loggedFailures.has(why)) {
        loggedFailures.add(why);
        log.warn(`replicas load TypeScript through tsx (more memory per thread): compiling them failed: ${why}`);
      }
      this.compiled = null;
      return;
    }
    // A getter read while compiling already settled on the sources: keep that.
    if (this.compiled !== undefined) return;
    this.compiled = new Map(sources.map((u) => [u, pathToFileURL(byPath.get(fileURLToPath(u))!).href]));
  }

  private settled(): Map<string, string> | null {
    if (this.compiled === undefined) this.compiled = null;
    return this.compiled;
  }

  /** The module a replica imports for a deployment's module. */
  moduleUrl(sourceUrl: string): string {
    return this.settled()?.get(sourceUrl) ?? sourceUrl;
  }

  /** The key a replica looks its class up by, for the key the main thread registered. */
  classKey(sourceKey: string, sourceUrl: string): string {
    const compiled = this.settled()?.get(sourceUrl);
    return compiled && sourceKey.startsWith(`${sourceUrl}#`) ? compiled + sourceKey.slice(sourceUrl.length) : sourceKey;
  }

  /** The replica's task module. */
  get workerEntry(): string {
    return this.moduleUrl(this.entryUrl);
  }

  /** Node flags for replica threads: tsx's hooks only if something they import is still TypeScript. */
  get execArgv(): string[] {
    return workerExecArgv([this.workerEntry, ...this.moduleUrls.map((u) => this.moduleUrl(u))]);
  }
}
