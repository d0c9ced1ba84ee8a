// Preload for running TypeScript sources without a build step (the CLI from a clone, tests,
// and replica threads, which on Node 20 do not inherit tsx's loader hooks from the main thread).
import { register as registerEsm } from 'tsx/esm/api';
import { register as registerCjs } from 'tsx/cjs/api';

registerEsm();
registerCjs();
