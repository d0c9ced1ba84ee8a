// The deployment's load turns in the slot table: at most `max` at once, given back once, and a
// dead replica's turns freed by the main thread.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SlotTable } from '../../runtime/shared/slot-table.ts';

/** Whether the promise settled within a few milliseconds. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await sleep(20);
  return done;
}

it('hands out at most max turns and wakes a waiter when one is given back', async () => {
  const t = SlotTable.create(4);
  const first = await t.takeLoadTurn(0, 1);
  const second = t.takeLoadTurn(1, 1);
  assert.equal(await settled(second), false);
  assert.equal(t.loadsRunning, 1);
  first();
  first(); // giving back twice counts once
  const give = await second;
  assert.equal(t.loadsRunning, 1);
  give();
  assert.equal(t.loadsRunning, 0);
  const a = await t.takeLoadTurn(0, 2);
  const b = await t.takeLoadTurn(1, 2);
  assert.equal(t.loadsRunning, 2);
  a();
  b();
});

it('frees the turns of a replica that is gone', async () => {
  const t = SlotTable.create(4);
  await t.takeLoadTurn(2, 1); // never given back: the replica died
  const waiting = t.takeLoadTurn(3, 1);
  assert.equal(await settled(waiting), false);
  t.dropLoadTurns(2);
  (await waiting)();
  assert.equal(t.loadsRunning, 0);
  t.dropLoadTurns(2); // nothing held: no change
  assert.equal(t.loadsRunning, 0);
});
