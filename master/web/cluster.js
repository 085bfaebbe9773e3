// drover dashboard: the raft group of a master that leads one (docs/ha.md),
// a line on the overview. GET /api/v1/cluster answers 404 on a master that
// runs alone: the page then asks no more. Otherwise it asks again with the
// live events, at most every CLUSTER_EVERY ms (so a busy master costs one
// request in that time, not one per event), when the event stream breaks
// (as it does when this master stops leading: the standby that serves its
// address then answers), and every CLUSTER_QUIET ms on a quiet master (a
// member added or removed makes no event). Loaded before app.js, whose h
// it uses.
'use strict';

const CLUSTER_EVERY = 5000, CLUSTER_QUIET = 60000;

const CL = {
  alone: false, // the master answered 404: it runs alone
  data: null,   // the latest 200 answer
  at: 0,        // when the latest request went out (Date.now())
  busy: false,  // a request is out
  timer: null,  // the next request, if one is planned
};

// loadCluster asks GET /api/v1/cluster and redraws the line.
async function loadCluster() {
  if (CL.alone || CL.busy) return;
  clearTimeout(CL.timer);
  CL.busy = true;
  CL.at = Date.now();
  try {
    const res = await fetch('api/v1/cluster');
    if (res.status === 404) CL.alone = true;
    else if (res.ok) CL.data = await res.json();
  } catch (e) {
    // Not reached (a network error): the line stays as it was.
  } finally {
    CL.busy = false;
  }
  drawCluster();
  if (!CL.alone) CL.timer = setTimeout(loadCluster, CLUSTER_QUIET);
}

// clusterEvent is called at each event of the stream and when it breaks:
// it asks again now if CLUSTER_EVERY passed since the latest request,
// else once it has.
function clusterEvent() {
  if (CL.alone || CL.busy || !CL.data) return;
  const wait = CL.at + CLUSTER_EVERY - Date.now();
  if (wait <= 0) { loadCluster(); return; }
  clearTimeout(CL.timer);
  CL.timer = setTimeout(loadCluster, wait);
}

function drawCluster() {
  const el = document.getElementById('cluster');
  if (el) el.replaceWith(clusterLine());
}

// clusterLine is the overview's line on the group: its leader, term,
// members (each a link to its dashboard) and applied index; or, on a
// standby (which forwards the rest of the page to the leader) and once
// this master stopped leading, where the leader is. Empty and hidden on a
// master that runs alone.
function clusterLine() {
  const c = CL.data;
  if (!c) return h('p', { id: 'cluster', hidden: true });
  const url = addr => location.protocol + '//' + addr + '/';
  const link = (addr, attrs) => addr ? h('a', Object.assign({ href: url(addr) }, attrs), addr) : h('span', { class: 'muted' }, 'address unknown');
  if (c.state !== 'Leader') {
    return h('p', { id: 'cluster', class: 'note cluster' },
      'This master (', c.id, ') is a standby of its raft group: ',
      c.leader ? ['the leader is ', h('strong', { id: 'cluster-leader' }, c.leader), ' at ', link(c.leader_rpc, { id: 'cluster-leader-link' }),
        '; what this page shows comes from it.']
        : 'no leader is known yet.');
  }
  const members = (c.members || []).map((m, i) => [i ? ', ' : '',
    h('span', { class: 'member', 'data-member': m.ID }, m.ID === c.leader ? h('strong', {}, m.ID) : m.ID, ' ', link(m.RPC))]);
  return h('p', { id: 'cluster', class: 'note cluster' },
    h('strong', {}, 'Raft group'), ' · leader ', h('strong', { id: 'cluster-leader' }, c.leader),
    ' (term ', h('span', { id: 'cluster-term' }, c.term), ') · members ', h('span', { id: 'cluster-members' }, members),
    ' · applied ', h('span', { id: 'cluster-applied' }, c.applied_index));
}
