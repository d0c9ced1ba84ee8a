// The smallest application: one deployment, one route.
//   npx threadserve run examples/hello/app.ts
//   curl -X POST localhost:8000/hello -H 'content-type: application/json' -d '{"name":"Ada"}'
import { z } from 'zod';
import { bind, deployment } from 'threadserve';

@deployment({
  route: '/hello',
  numReplicas: 2,
  requestSchema: z.object({ name: z.string().min(1) }),
})
export class Hello {
  private served = 0;

  call(body: { name: string }) {
    this.served++;
    return { greeting: `Hello, ${body.name}!`, servedByThisReplica: this.served };
  }
}

// bind(Class, ...args) type-checks the constructor arguments; Hello.bind() works too at run
// time, but TypeScript types it as Function.prototype.bind.
export default bind(Hello);
