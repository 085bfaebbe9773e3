// drover dashboard: the groups list and a group's page. The list reads
// GET /api/v1/groups a page at a time as it is scrolled, and draws only
// the rows in view (and a margin): 10,000 groups make a few dozen
// elements. An event fetches again only the rows it concerns
// (GET /api/v1/groups/{name}), when they are in view, and the head of the
// list when a group may have started. Loaded before app.js, whose helpers
// (h, api, show, ...) it calls once the page runs.
'use strict';

const GROUP_ROW = 76;     // px a row takes, its margin included
const GROUP_MARGIN = 10;  // rows drawn above and below the view
const GROUP_PAGE = 200;   // groups a fetch of the list asks for
const GROUP_FRESHEN = 20; // rows one refresh fetches at most
const GROUP_EVERY = 500;  // ms between two refreshes an event asks for

// G is the groups list: the rows loaded (newest group first), and what
// is being done to them. setupGroups replaces it; a fetch that finds
// another G when it ends drops its answer.
let G = newGroups();

function newGroups() {
  return {
    rows: [], index: new Map(), // name -> place in rows
    next: '', done: false, error: '',
    fetching: false,           // a page of the list is being read
    stale: new Set(),          // names of rows an event changed
    freshening: false, again: false,
    wantHead: false, heading: false, headAgain: false,
    timer: 0, last: 0,         // the refresh events asked for: when, and the last
    window: [0, 0],            // the rows drawn
    version: 0, drawn: '',
  };
}

function groupSummary(g) {
  const bad = g.counts.failed + g.counts.cancelled;
  return g.done + ' / ' + g.total + ' done' + (bad ? ' · ' + g.counts.failed + ' failed, ' + g.counts.cancelled + ' cancelled' : '') +
    (g.counts.running ? ' · ' + g.counts.running + ' running' : '');
}

// setupGroups shows an empty list and reads its first page.
function setupGroups() {
  G = newGroups();
  show(h('h1', {}, 'Groups', h('span', { class: 'muted', id: 'groups-count', style: { fontSize: '13px', fontWeight: 'normal' } })),
    h('div', { id: 'groups-list', class: 'vlist' }), h('p', { id: 'groups-foot', class: 'muted' }, 'Loading…'));
  moreGroups();
}

function reindexGroups(st) {
  st.index = new Map(st.rows.map((g, i) => [g.name, i]));
  st.version++;
}

// moreGroups reads the next page of the list and adds it at the end.
async function moreGroups() {
  const st = G;
  if (st.fetching || st.done || st.error) return;
  st.fetching = true;
  try {
    const page = await api('GET', 'groups?limit=' + GROUP_PAGE + (st.next ? '&cursor=' + enc(st.next) : ''));
    if (st !== G) return;
    for (const g of page.groups) {
      if (st.index.has(g.name)) st.rows[st.index.get(g.name)] = g;
      else { st.index.set(g.name, st.rows.length); st.rows.push(g); }
    }
    st.next = page.next_cursor || '';
    st.done = !st.next;
  } catch (e) {
    st.error = e.message;
  } finally {
    st.fetching = false;
  }
  st.version++;
  drawGroupRows();
}

// drawGroupRows draws the rows in view, and reads more of the list when
// the view nears its end.
function drawGroupRows() {
  const list = document.getElementById('groups-list');
  if (!list || S.route.view !== 'groups') return;
  const st = G;
  const n = st.rows.length;
  const above = -list.getBoundingClientRect().top;
  const first = Math.max(0, Math.min(n, Math.floor(above / GROUP_ROW) - GROUP_MARGIN));
  const last = Math.max(first, Math.min(n, Math.ceil((above + window.innerHeight) / GROUP_ROW) + GROUP_MARGIN));
  st.window = [first, last];
  const key = first + ':' + last + ':' + st.version;
  if (key !== st.drawn) {
    st.drawn = key;
    list.style.height = n * GROUP_ROW + 'px';
    list.replaceChildren(...st.rows.slice(first, last).map((g, k) => groupRow(g, first + k)));
    document.getElementById('groups-count').textContent = n + (st.done ? '' : '+') + ' groups';
    document.getElementById('groups-foot').replaceChildren(st.error ? h('span', { class: 'error' }, st.error)
      : st.done ? (n ? '' : h('span', { class: 'note' }, 'No groups yet. A job joins a group through its group field.'))
        : 'Loading more…');
  }
  if (!st.done && last + GROUP_MARGIN >= n) moreGroups();
  freshenGroups();
}

function groupRow(g, i) {
  return h('div', { class: 'panel group vrow', 'data-group': g.name, style: { top: i * GROUP_ROW + 'px' } },
    h('div', { class: 'head' }, h('a', { href: '#/groups/' + enc(g.name), title: g.name }, h('strong', {}, g.name)),
      badge(g.final ? 'done' : 'running'), h('span', { class: 'muted', title: groupSummary(g) }, groupSummary(g))),
    progressBar(g.counts, g.total));
}

let groupsFrame = 0;
function onGroupsScroll() {
  if (S.route.view !== 'groups' || groupsFrame) return;
  groupsFrame = requestAnimationFrame(() => { groupsFrame = 0; drawGroupRows(); });
}
window.addEventListener('scroll', onGroupsScroll, { passive: true });
window.addEventListener('resize', onGroupsScroll);

// groupsChanged marks the rows an event changed, to fetch those in view,
// and the head of the list when a change may belong to a group that
// started after the newest one listed; at most once every GROUP_EVERY, so
// a burst of events makes few fetches.
function groupsChanged(ev) {
  const st = G;
  // A burst, or the stream broke: every row may have changed. (The first
  // event of a stream is truncated too; the list was read for the page.)
  if (ev.truncated && (ev.resync || !ev.opening)) {
    for (const name of st.index.keys()) st.stale.add(name);
    st.wantHead = true;
    st.error = ''; // and the list may be read again
  }
  const newest = st.rows.length ? Date.parse(st.rows[0].submitted) : -Infinity;
  for (const j of ev.changes || []) {
    if (!j.group) continue;
    if (st.index.has(j.group)) {
      // A row read after the change has it already.
      const row = st.rows[st.index.get(j.group)];
      if (!row || Date.parse(j.updated) > Date.parse(row.updated)) st.stale.add(j.group);
    }
    else if (Date.parse(j.submitted) >= newest) st.wantHead = true;
  }
  if (st.timer || (!st.wantHead && !st.stale.size)) return;
  st.timer = setTimeout(() => {
    st.timer = 0;
    if (st !== G) return;
    st.last = Date.now();
    if (st.wantHead && (st.rows.length || st.done)) groupsHead(st);
    st.wantHead = false;
    freshenGroups();
  }, Math.max(0, st.last + GROUP_EVERY - Date.now()));
}

// groupsHead reads the first page of the list again and puts the groups
// new since at the top; when none of the page is known, the whole list
// is read again.
async function groupsHead(st) {
  if (st.heading) { st.headAgain = true; return; }
  st.heading = true;
  try {
    do {
      st.headAgain = false;
      const page = await api('GET', 'groups?limit=50');
      if (st !== G) return;
      const k = page.groups.findIndex(g => st.index.has(g.name));
      if (k < 0 && st.rows.length) return setupGroups();
      const fresh = k < 0 ? page.groups : page.groups.slice(0, k);
      for (const g of page.groups.slice(fresh.length)) {
        if (st.index.has(g.name)) st.rows[st.index.get(g.name)] = g;
        st.stale.delete(g.name);
      }
      st.rows.unshift(...fresh);
      if (k < 0) { st.next = page.next_cursor || ''; st.done = !st.next; }
      reindexGroups(st);
      drawGroupRows();
      // Rows put above the view move it down as much: what is read stays.
      const list = document.getElementById('groups-list');
      if (fresh.length && list && list.getBoundingClientRect().top < 0) window.scrollBy(0, fresh.length * GROUP_ROW);
    } while (st.headAgain);
  } catch (e) {
    // The rows stay as they are; the next change tries again.
  } finally {
    st.heading = false;
  }
}

// freshenGroups fetches again the changed rows that are in view, a few at
// a time; the others wait until they are scrolled into view. A group gone
// (purged) leaves the list.
async function freshenGroups() {
  const st = G;
  if (st.freshening) { st.again = true; return; }
  st.freshening = true;
  try {
    do {
      st.again = false;
      const [a, b] = st.window;
      const due = [...st.stale].filter(n => { const i = st.index.get(n); return i >= a && i < b; }).slice(0, GROUP_FRESHEN);
      if (!due.length) break;
      for (const n of due) st.stale.delete(n);
      const got = await Promise.all(due.map(n => api('GET', 'groups/' + enc(n)).catch(e => e)));
      if (st !== G) return;
      got.forEach((g, k) => {
        const i = st.index.get(due[k]);
        if (i === undefined) return;
        if (!(g instanceof Error)) st.rows[i] = g;
        else if (g.status === 404) st.rows[i] = null;
      });
      st.rows = st.rows.filter(Boolean);
      reindexGroups(st);
      drawGroupRows();
    } while (st.again);
  } finally {
    st.freshening = false;
  }
}

// drawGroup shows one group's page.
function drawGroup(g) {
  show(
    h('h1', {}, 'Group ' + g.name, badge(g.final ? 'done' : 'running')),
    h('div', { class: 'panel' }, h('p', { style: { marginTop: 0 } }, groupSummary(g) + ' · ' + Math.floor(g.progress * 100) + '%'),
      progressBar(g.counts, g.total, true)),
    h('div', { class: 'cards', style: { marginTop: '12px' } }, STATES.map(s => h('a', {
      class: 'card c-' + s, href: '#/jobs?group=' + enc(g.name) + '&state=' + s,
    }, h('div', { class: 'n' }, g.counts[s]), h('div', { class: 'l' }, s)))),
    h('p', {}, h('a', { href: '#/jobs?group=' + enc(g.name) }, 'All ' + g.total + ' jobs of the group'),
      ' · submitted ', agoEl(g.submitted), ' · last change ', agoEl(g.updated)),
    g.unsuccessful && g.unsuccessful.length ? [h('h2', {}, 'Failed or cancelled'),
      h('p', {}, g.unsuccessful.map(id => [h('a', { href: '#/jobs/' + enc(id) }, '#' + id), ' ']))] : null);
}
