// drover dashboard: live updates. The page follows /api/v1/events, whose
// events carry only what changed (the status, the workers, the jobs that
// changed), and a page fetches again only when an event concerns what it
// shows. Loaded before app.js, whose state (S) and update it uses once the
// page runs.
'use strict';

function setLive(state, text) {
  live.dataset.state = state;
  live.textContent = text;
}

// wantBeats reports whether the page shows heartbeat ages (the workers
// page): its stream asks for them.
function wantBeats() { return S.route.view === 'workers'; }

// connect opens the event stream (again: the page now wants heartbeats,
// or no more, or the stream broke). An event carries what changed: the
// status, the workers (or only their new heartbeats), the jobs changed;
// S.snap keeps the latest of each.
// After a break (missed), events may have been lost: the first event
// then counts as truncated, so the page fetches what it shows again.
function connect(missed) {
  if (S.es) S.es.close();
  S.esBeats = wantBeats();
  const es = S.es = new EventSource('api/v1/events' + (S.esBeats ? '?heartbeats=true' : ''));
  es.missed = !!missed;
  es.onopen = () => setLive('open', 'live');
  es.onerror = () => {
    if (es !== S.es) return;
    es.missed = true;
    clusterEvent();
    if (es.readyState === EventSource.CLOSED) {
      setLive('error', 'disconnected; retrying');
      setTimeout(() => { if (es === S.es) connect(true); }, 5000);
    } else {
      setLive('connecting', 'reconnecting…');
    }
  };
  es.onmessage = e => {
    let ev;
    try { ev = JSON.parse(e.data); } catch (err) { return; }
    // The first event of a stream has the latest changes, whatever their
    // age; after a break (missed) it stands for the events lost.
    ev.opening = !es.opened;
    ev.resync = es.missed;
    es.opened = true;
    if (es.missed) ev.truncated = true;
    es.missed = false;
    S.snap = S.snap || { status: null, workers: [] };
    if (ev.status) {
      S.snap.status = ev.status;
      S.skew = Date.parse(ev.status.now) - Date.now();
    }
    if (ev.workers) S.snap.workers = ev.workers;
    for (const w of ev.heartbeats ? S.snap.workers : []) {
      if (ev.heartbeats[w.id]) w.last_heartbeat = ev.heartbeats[w.id];
    }
    for (const j of ev.changes || []) { S.recent.delete(j.id); S.recent.set(j.id, j); }
    const newest = [...S.recent.values()].sort((a, b) => Date.parse(b.updated) - Date.parse(a.updated)).slice(0, 30);
    S.recent = new Map(newest.map(j => [j.id, j]));
    if (S.snap.status) update(ev);
    clusterEvent();
  };
}

// schedulesMoved reports whether ev's status says the schedules changed
// since the page last drew them (S.schedRev: the status's schedules_rev
// then).
function schedulesMoved(ev) {
  return !!ev.status && ev.status.schedules_rev !== S.schedRev;
}

// concerns reports whether event ev may change what view r shows. A view
// not named here is fetched again at any change of a job or the status.
function concerns(r, ev) {
  const cs = ev.changes || [];
  if (ev.truncated) return true;
  switch (r.view) {
    // A pending job: why it waits may change with the workers.
    case 'job': return cs.some(j => j.id === r.id) || (!!ev.workers && S.jobPending);
    case 'group': return cs.some(j => j.group === r.name);
    // A pending job's reason (the Why column) may change with the workers.
    case 'jobs': return cs.some(jobsPageConcerned) || (!!ev.workers && S.jobs.anyPending);
    // Why lanes wait changes with the workers too.
    case 'queues': return cs.length > 0 || !!ev.status || !!ev.workers;
    case 'schedules': return cs.some(j => S.schedTypes.has(j.type)) || schedulesMoved(ev);
  }
  return cs.length > 0 || !!ev.status;
}

// jobsPageConcerned reports whether the change j may change the page of
// the jobs list shown: a job of the page, or one that matches its filter
// (as far as a change says: state, type, group) and falls within the
// page's IDs (the first page: anything newer than its last).
function jobsPageConcerned(j) {
  const J = S.jobs;
  if (J.ids.has(j.id)) return true;
  const f = J.filter;
  if ((f.state && f.state !== j.state) || (f.type && f.type !== j.type) || (f.group && f.group !== j.group)) return false;
  const n = Number(j.id);
  if (Number.isNaN(n) || !J.ids.size) return true;
  return (!J.cursor || n < J.hi) && (!J.next || n > J.lo);
}
