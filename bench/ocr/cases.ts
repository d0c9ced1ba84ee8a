/** The cases bench:ocr runs, and its options (parsed by ocr/run.ts). */

export type CaseKey = 'raw1' | 'grouped1' | 'raw2' | 'grouped2' | 'sepIngress' | 'sep1' | 'sep2' | 'sep2rec2' | 'sep1recx2' | 'served8';

export interface Case {
  key: CaseKey;
  label: string;
  /** Model copies held (a copy: the detector and the recogniser). */
  copies: string;
  /** Threads running ONNX sessions: session threads x intra-op threads each. */
  modelThreads: string;
  /** JavaScript threads in the process: main + replicas (or raw workers). */
  jsThreads: number;
  /** Raw case with the same model-thread count, for the serving-cost column. */
  rawRef?: CaseKey;
  script: string;
  args: string[];
  served: boolean;
  /** Not run by default (only with --only). */
  extra?: boolean;
  /** Closed-loop HTTP clients, instead of --concurrency. */
  clients?: number;
  /** Runs on the evaluation set (the accuracy part's images and answers) instead of the 8 PNGs. */
  evalSet?: boolean;
}

export const CASES: Case[] = [
  { key: 'raw1', label: 'raw, 1 thread', copies: '1', modelThreads: '1 (1 thread x 1)', jsThreads: 2, script: 'ocr/raw-case.ts', args: ['1'], served: false },
  {
    key: 'grouped1',
    label: 'grouped, N=1',
    copies: '1',
    modelThreads: '1 (1 replica x 1)',
    jsThreads: 2,
    rawRef: 'raw1',
    script: 'ocr/server.ts',
    args: ['grouped', '1', '1'],
    served: true,
  },
  { key: 'raw2', label: 'raw, 2 threads', copies: '2', modelThreads: '2 (2 threads x 1)', jsThreads: 3, script: 'ocr/raw-case.ts', args: ['2'], served: false },
  {
    key: 'grouped2',
    label: 'grouped, N=2',
    copies: '2',
    modelThreads: '2 (2 replicas x 1)',
    jsThreads: 3,
    rawRef: 'raw2',
    script: 'ocr/server.ts',
    args: ['grouped', '2', '1'],
    served: true,
  },
  // The example's default (npm start): pre/post in the ingress's thread, each model its own deployment.
  {
    key: 'sepIngress',
    label: 'separated, pre/post in the ingress, 2 rec replicas',
    copies: '1 det + 2 rec',
    modelThreads: '3 (det 1 + rec 2x1)',
    jsThreads: 5,
    rawRef: 'raw2',
    script: 'ocr/server.ts',
    args: ['separated', '0', '1', '1', '2'],
    served: true,
  },
  {
    key: 'sep1',
    label: 'separated, N=1 pre/post',
    copies: '1',
    modelThreads: '2 (det 1 + rec 1)',
    jsThreads: 6,
    rawRef: 'raw2',
    script: 'ocr/server.ts',
    args: ['separated', '1', '1', '1'],
    served: true,
  },
  {
    key: 'sep2',
    label: 'separated, N=2 pre/post',
    copies: '1',
    modelThreads: '2 (det 1 + rec 1)',
    jsThreads: 8,
    rawRef: 'raw2',
    script: 'ocr/server.ts',
    args: ['separated', '2', '1', '1'],
    served: true,
    extra: true,
  },
  {
    key: 'sep2rec2',
    label: 'separated, N=2 pre/post, rec 2 intra-op',
    copies: '1',
    modelThreads: '3 (det 1 + rec 1x2)',
    jsThreads: 8,
    rawRef: 'raw2',
    script: 'ocr/server.ts',
    args: ['separated', '2', '1', '2'],
    served: true,
    extra: true,
  },
  {
    key: 'sep1recx2',
    label: 'separated, N=1 pre/post, 2 rec replicas',
    copies: '1 det + 2 rec',
    modelThreads: '3 (det 1 + rec 2x1)',
    jsThreads: 7,
    rawRef: 'raw2',
    script: 'ocr/server.ts',
    args: ['separated', '1', '1', '1', '2'],
    served: true,
  },
  // The example's default shape (npm start) under 8 clients, on the evaluation set: compared with the peer's sequential images/s.
  {
    key: 'served8',
    label: "npm start's app, 8 clients, evaluation set",
    copies: '1 det + 2 rec',
    modelThreads: '3 (det 1 + rec 2x1)',
    jsThreads: 5,
    script: 'ocr/server.ts',
    args: ['separated', '0', '1', '1', '2'],
    served: true,
    clients: 8,
    evalSet: true,
  },
];

export interface Args {
  rounds: number;
  quietWaitS: number;
  durationS: number;
  warmupS: number;
  concurrency: number;
  only?: Set<string>;
  profDir?: string;
  /** Rounds of the accuracy part's sequential throughput (each reads the whole evaluation set). */
  accuracyRounds: number;
}
