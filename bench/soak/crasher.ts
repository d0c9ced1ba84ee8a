// A deployment whose replica exits when asked: the soak battery's replica crash. Its own module,
// since replica threads import the module that defines a deployment.
import { deployment } from 'threadserve';

export class Crasher {
  call(body: { crash?: boolean }) {
    if (body.crash) process.exit(3);
    return { ok: true };
  }
}

export const CrasherD = deployment(Crasher, { route: '/crash', numReplicas: 1 });
