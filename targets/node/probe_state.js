'use strict';
// The library-independent part of the Node adapters' conformance.v1.ProbeService
// (targets/grpc-js, CommonJS; targets/connect-node, ES module): handler
// outcomes by tag, in-flight gauges by scope, rendezvous barriers by group,
// deadlines, and the hold primitives that really stall the event loop. One
// event loop: no locks. It knows neither gRPC library: each adapter keeps its
// service registration, its status errors and its streaming API.
//
// A call's cancellation is given as a "cancel source":
//   { aborted(): bool, on(fn), off(fn) }
// (grpc-js: call.cancelled and its 'cancelled' event; connect: ctx.signal).
// Handler states are the adapter's own values (grpc-js: the enum's names,
// connect: HandlerState numbers), given to createProbeState.

const MAX_DURATION_MS = 120000;
const MAX_OUTCOMES = 100000;

const capMs = (ms) => Math.min(Number(ms) || 0, MAX_DURATION_MS);

// A deadline `leftMs` milliseconds from now, as ProbeService reports it:
// rounded up, at least 1; 0 when there is none (not a finite number).
function deadlineMs(leftMs) {
  if (!Number.isFinite(leftMs)) return 0;
  return Math.min(0xffffffff, Math.max(1, Math.ceil(leftMs)));
}

// Resolves true after ms, or false as soon as the call is cancelled.
function sleepUnlessCancelled(cancel, ms) {
  if (cancel.aborted()) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onCancel = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      cancel.off(onCancel);
      resolve(true);
    }, ms);
    cancel.on(onCancel);
  });
}

// Blocks this (the only) JavaScript thread for ms: a synchronous wait that
// lets no timer, I/O or other handler run meanwhile.
const blockCell = new Int32Array(new SharedArrayBuffer(4));
function blockThread(ms) {
  const deadline = Date.now() + ms;
  for (let left = ms; left > 0; left = deadline - Date.now()) {
    Atomics.wait(blockCell, 0, 0, left);
  }
}

// Spins the CPU (and so the event loop) for ms.
function spin(ms) {
  const deadline = Date.now() + ms;
  let n = 0;
  while (Date.now() < deadline) n += 1;
  return n;
}

// One ProbeService's state; `running` is the adapter's RUNNING state value.
function createProbeState({ running }) {
  const barriers = new Map(); // group -> { parties, generation, arrived, waiters: Map }
  const gauges = new Map(); // scope -> { inFlight, maxInFlight }
  const outcomes = new Map(); // tag -> { state, conn, deadline, entered, ended, serial }
  let nextSerial = 0;
  let nextWaiter = 0;
  const outcomeListeners = new Set();

  // Counts a handler into scope: { now, leave() } (leave counts it out once).
  function enterGauge(scope) {
    let g = gauges.get(scope);
    if (!g) {
      g = { inFlight: 0, maxInFlight: 0 };
      gauges.set(scope, g);
    }
    g.inFlight += 1;
    g.maxInFlight = Math.max(g.maxInFlight, g.inFlight);
    let left = false;
    return {
      now: g.inFlight,
      leave() {
        if (!left) {
          left = true;
          g.inFlight = Math.max(0, g.inFlight - 1);
        }
      },
    };
  }

  // The scope's { inFlight, maxInFlight } (zeros when never entered);
  // resetMax then sets its maximum to the current count.
  function readGauge(scope, resetMax) {
    const g = gauges.get(scope);
    if (!g) return { inFlight: 0, maxInFlight: 0 };
    const resp = { inFlight: g.inFlight, maxInFlight: g.maxInFlight };
    if (resetMax) g.maxInFlight = g.inFlight;
    return resp;
  }

  function notifyOutcomes() {
    for (const fn of [...outcomeListeners]) fn();
  }

  // Records a handler under tag; returns settle(state), first final state wins.
  function begin(tag, conn, deadline) {
    if (outcomes.size >= MAX_OUTCOMES) {
      for (const [k, o] of outcomes) if (o.state !== running) outcomes.delete(k);
    }
    const serial = nextSerial++;
    outcomes.set(tag, { state: running, conn, deadline, entered: Date.now(), ended: 0, serial });
    notifyOutcomes();
    return (state) => {
      const o = outcomes.get(tag);
      if (o && o.serial === serial && o.state === running) {
        o.state = state;
        o.ended = Date.now();
        notifyOutcomes();
      }
    };
  }

  // What is known of tag now: null, or { state, conn, elapsedMs, deadlineMs }.
  function outcome(tag) {
    const o = outcomes.get(tag);
    if (!o) return null;
    return {
      state: o.state,
      conn: o.conn,
      elapsedMs: o.state === running ? 0 : o.ended - o.entered,
      deadlineMs: o.deadline,
    };
  }

  // Calls done(null, outcome(tag)) once tag's handler has left the running
  // state, or after waitMs (capped) whatever it is; done('cancelled') when
  // the call is cancelled first. Synchronously when it is settled already.
  function observe(tag, waitMs, cancel, done) {
    const settled = () => {
      const o = outcome(tag);
      return o !== null && o.state !== running;
    };
    if (settled()) return done(null, outcome(tag));
    let finished = false;
    const finish = (err) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      outcomeListeners.delete(onChange);
      cancel.off(onCancel);
      if (err) done(err);
      else done(null, outcome(tag));
    };
    const onChange = () => {
      if (settled()) finish(null);
    };
    const onCancel = () => finish('cancelled');
    const timer = setTimeout(() => finish(null), capMs(waitMs));
    outcomeListeners.add(onChange);
    cancel.on(onCancel);
    return undefined;
  }

  // Waits until `parties` calls have arrived in group, or timeoutMs (capped)
  // passes, or the call is cancelled, counted in scope's gauge meanwhile.
  // done(null, arrival), or done({ kind, message }) with kind 'invalid'
  // (INVALID_ARGUMENT), 'timeout' (ABORTED) or 'cancelled' (CANCELLED).
  // Synchronously when it need not wait.
  function rendezvous(group, scope, parties, timeoutMs, cancel, done) {
    if (parties < 1) return done({ kind: 'invalid', message: 'rendezvous needs at least 1 party' });
    let b = barriers.get(group);
    if (b && b.parties !== parties) {
      if (b.arrived > 0) {
        return done({
          kind: 'invalid',
          message: `rendezvous group "${group}" is waiting for ${b.parties} parties, this call asked for ${parties}`,
        });
      }
      b = null;
    }
    if (!b) {
      b = { parties, generation: 0, arrived: 0, waiters: new Map() };
      barriers.set(group, b);
    }
    const gauge = enterGauge(scope);
    b.arrived += 1;
    const arrival = b.arrived;
    if (arrival >= b.parties) {
      b.generation += 1;
      b.arrived = 0;
      const waiters = [...b.waiters.values()];
      b.waiters.clear();
      for (const [k, other] of barriers) if (other.arrived === 0) barriers.delete(k);
      for (const release of waiters) release();
      gauge.leave();
      return done(null, arrival);
    }
    const id = nextWaiter++;
    const gen = b.generation;
    const giveUp = (err) => {
      clearTimeout(timer);
      cancel.off(onCancel);
      if (b.generation === gen) {
        b.arrived -= 1;
        b.waiters.delete(id);
      }
      gauge.leave();
      done(err);
    };
    const onCancel = () => giveUp({ kind: 'cancelled', message: 'call cancelled' });
    const timer = setTimeout(() => giveUp({
      kind: 'timeout',
      message: `rendezvous "${group}": ${parties} parties not reached within ${timeoutMs} ms`,
    }), capMs(timeoutMs));
    cancel.on(onCancel);
    b.waiters.set(id, () => {
      clearTimeout(timer);
      cancel.off(onCancel);
      gauge.leave();
      done(null, arrival);
    });
    return undefined;
  }

  return { enterGauge, readGauge, begin, outcome, observe, rendezvous };
}

module.exports = {
  MAX_DURATION_MS,
  capMs,
  deadlineMs,
  sleepUnlessCancelled,
  blockThread,
  spin,
  createProbeState,
};
