import { serve } from 'threadserve';
const mod = await import('/work/main/examples/hello/app.ts');
const s = await serve.run(mod.default, { listen: false, logLevel: 'warn' });
console.log(s.statusText());
for (let i=0;i<3;i++){
const r = await s.http.inject({ method: 'POST', url: '/hello', payload: { name: 'Ada' } });
console.log(r.statusCode, r.body);}
const r2 = await s.http.inject({ method: 'POST', url: '/hello', payload: { name: 1 } });
console.log(r2.statusCode, r2.body);
await s.close();
console.log('closed');
