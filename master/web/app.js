// drover dashboard: plain JavaScript, no framework, no build step.
// It reads the JSON API under /api/v1/ and follows /api/v1/events
// (server-sent events) to update itself as jobs move and workers come and go.
// An event carries only what changed; a page fetches again only when an
// event concerns what it shows (concerns), so an idle tab costs little.
'use strict';

const STATES = ['pending', 'running', 'succeeded', 'failed', 'cancelled'];
const FILTERS = ['state', 'type', 'group', 'worker', 'error', 'older_than', 'q'];
const view = document.getElementById('view');
const live = document.getElementById('live');

const S = {
  snap: null,          // the live view, from the events: {status, workers}
  es: null,            // the event stream, and whether it asked for heartbeats
  esBeats: false,
  skew: 0,             // the master's clock minus ours, in ms
  recent: new Map(),   // job id -> job, from the events' changes
  route: { view: 'overview' },
  jobs: { filter: {}, cursor: '', stack: [], next: '', ids: new Set() },
  schedTypes: new Set(), // the job types the schedules shown fire
  jobPending: false,   // the job page shows a pending job
  confirm: null,       // an armed two-step button: {key, until}
  loading: false,      // a fetch for the current view is in flight
  dirty: false,        // ...and another is wanted after it
  drawn: '',           // what the view shows now, to skip needless redraws
  me: null,            // GET /api/v1/whoami: {name, role, auth, can}
};

// can reports whether the token's role may take an action (whoami's can:
// submit, cancel, retry, drain, purge, pause_resume, run_schedule,
// delete_schedule); the dashboard shows
// only those.
const can = action => !!(S.me && S.me.can && S.me.can[action]);

// ---- helpers ----

// h builds an element: h('a', {href: '#/'}, 'text', child, [more]).
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style') Object.assign(el.style, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const enc = encodeURIComponent;

// show replaces the view's content; kids are as for h.
function show(...kids) {
  view.replaceChildren(...kids.flat(Infinity).filter(k => k != null && k !== false));
}

async function api(method, path, body) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    opt.headers['Content-Type'] = 'application/json';
    opt.body = JSON.stringify(body);
  }
  const res = await fetch('api/v1/' + path, opt);
  let data = null;
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) {
    const err = new Error((data && data.error && data.error.message) || res.status + ' ' + res.statusText);
    err.status = res.status;
    throw err;
  }
  return data;
}

function masterNow() { return Date.now() + S.skew; }

function dur(s) {
  if (s < 10) return s.toFixed(1) + 's';
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + Math.floor(s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor(s % 3600 / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor(s % 86400 / 3600) + 'h';
}

function ago(ts) {
  if (!ts) return '—';
  return dur(Math.max(0, (masterNow() - Date.parse(ts)) / 1000)) + ' ago';
}

// agoEl shows a time as an age that ticks; the title has the date.
function agoEl(ts) {
  return h('span', { class: 'ago', 'data-ts': ts || '', title: ts ? new Date(ts).toLocaleString() : '' }, ago(ts));
}

setInterval(() => {
  for (const el of document.querySelectorAll('.ago[data-ts]')) {
    if (el.dataset.ts) el.textContent = ago(el.dataset.ts);
  }
}, 1000);

function badge(state, id) { return h('span', { class: 'badge s-' + state, id }, state); }

function argsText(args) {
  return Object.keys(args || {}).sort().map(k => k + '=' + args[k]).join(' ');
}

function td(label, content, attrs) {
  return h('td', Object.assign({ 'data-label': label }, attrs), h('div', { class: 'v' }, content));
}

function table(cols, rows, empty, cls) {
  if (!rows.length) return h('div', { class: 'table-wrap' }, h('div', { class: 'empty' }, empty));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'rows ' + (cls || '') },
    h('thead', {}, h('tr', {}, cols.map(c => h('th', {}, c)))), h('tbody', {}, rows)));
}

function debounce(fn, ms) {
  let t;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}

function flash(msg, bad) {
  let f = document.getElementById('flash');
  if (!f) { f = h('div', { id: 'flash' }); document.body.append(f); }
  f.className = 'flash' + (bad ? ' bad' : '');
  f.textContent = msg;
  f.hidden = false;
  clearTimeout(flash.t);
  flash.t = setTimeout(() => { f.hidden = true; }, 5000);
}

// confirmButton asks for a second click within 4 s before it acts.
function confirmButton(key, label, confirmLabel, id, action) {
  const armed = () => S.confirm && S.confirm.key === key && S.confirm.until > Date.now();
  const b = h('button', { id, type: 'button' });
  const look = on => { b.className = on ? 'confirm' : 'danger'; b.textContent = on ? confirmLabel : label; };
  look(armed());
  b.addEventListener('click', async () => {
    if (!armed()) {
      S.confirm = { key, until: Date.now() + 4000 };
      look(true);
      setTimeout(() => { if (!armed()) look(false); }, 4100);
      return;
    }
    S.confirm = null;
    b.disabled = true;
    await action();
  });
  return b;
}

// act posts an action (cancel, retry, drain) and redraws.
async function act(path, done) {
  try {
    await api('POST', path);
    flash(done);
  } catch (e) {
    flash(e.message, true);
  }
  S.drawn = '';
  update();
}

function progressBar(counts, total, big) {
  const done = (counts.succeeded || 0) + (counts.failed || 0) + (counts.cancelled || 0);
  const bar = h('div', {
    class: 'bar' + (big ? ' big' : ''), role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': total,
    'aria-valuenow': done, title: STATES.map(s => (counts[s] || 0) + ' ' + s).join(', '),
  });
  for (const s of ['succeeded', 'failed', 'cancelled', 'running']) {
    if (counts[s]) bar.append(h('span', { class: 'b-' + s, style: { width: (100 * counts[s] / total) + '%' } }));
  }
  return bar;
}

// ---- routing ----

function parseRoute() {
  const [path, qs] = location.hash.replace(/^#\/?/, '').split('?');
  let parts;
  try { parts = path.split('/').filter(Boolean).map(decodeURIComponent); } catch (e) { return { view: 'notfound' }; }
  switch (parts[0]) {
    case undefined: return { view: 'overview' };
    case 'workers': return { view: 'workers' };
    case 'jobs': return parts[1] ? { view: 'job', id: parts[1] } : { view: 'jobs', params: new URLSearchParams(qs || '') };
    case 'groups': return parts[1] ? { view: 'group', name: parts.slice(1).join('/') } : { view: 'groups' };
    case 'schedules': return { view: 'schedules' };
    case 'queues': return { view: 'queues', params: new URLSearchParams(qs || '') };
  }
  return { view: 'notfound' };
}

function render() {
  const f = document.getElementById('flash');
  if (f) f.hidden = true;
  S.route = parseRoute();
  S.drawn = '';
  const nav = { job: 'jobs', group: 'groups' }[S.route.view] || S.route.view;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === nav);
  if (S.es && S.esBeats !== wantBeats()) connect();
  if (S.route.view === 'jobs') setupJobs(S.route.params);
  else if (S.route.view === 'groups') setupGroups();
  else show(h('p', { class: 'muted' }, 'Loading…'));
  update();
}

// update redraws the current view: from the live view for the overview
// and workers, from a fetch for the others. ev is the event that asks for
// it: the view is fetched again only if ev concerns it (the groups list
// fetches the rows it concerns); without ev, it is fetched again.
function update(ev) {
  switch (S.route.view) {
    case 'overview': return paint(overview);
    case 'workers': return paint(workersView);
    case 'groups': return ev ? groupsChanged(ev) : drawGroupRows();
    case 'notfound': return show(h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the overview')));
  }
  if (!ev || concerns(S.route, ev)) refresh();
}

function paint(fn) {
  if (!S.snap) return;
  const key = JSON.stringify([S.route.view, S.snap.workers, S.snap.status.counts, S.snap.status.throughput, S.snap.status.attention,
    [...S.recent.values()].map(j => j.id + j.updated)]);
  if (key === S.drawn) return;
  S.drawn = key;
  show(fn());
}

// refresh fetches the current view's data, one fetch at a time; a refresh
// asked for meanwhile runs once the fetch is done.
async function refresh() {
  if (S.loading) { S.dirty = true; return; }
  S.loading = true;
  try {
    do {
      S.dirty = false;
      const r = S.route;
      try {
        await load(r);
      } catch (e) {
        if (r === S.route) showError(r, e);
      }
    } while (S.dirty);
  } finally {
    S.loading = false;
  }
}

function showError(r, e) {
  const key = 'error:' + e.message;
  if (S.drawn === key) return;
  S.drawn = key;
  const note = h('p', { class: 'note error' }, e.message);
  if (r.view === 'jobs') document.getElementById('jobs-table').replaceChildren(note);
  else show(note);
}

async function load(r) {
  let data, draw;
  switch (r.view) {
    case 'jobs': data = await api('GET', 'jobs?' + jobsQuery()); draw = drawJobs; break;
    case 'job': data = await api('GET', 'jobs/' + enc(r.id)); draw = drawJob; break;
    case 'group': data = await api('GET', 'groups/' + enc(r.name)); draw = drawGroup; break;
    case 'schedules': data = await api('GET', 'schedules'); draw = drawSchedules; break;
    case 'queues': data = await api('GET', queuesPath(r)); draw = drawQueues; break;
    default: return;
  }
  if (r !== S.route) return;
  const key = JSON.stringify([r.view, S.jobs.cursor, data]);
  if (key === S.drawn) return;
  S.drawn = key;
  draw(data);
}

// ---- overview ----

function overview() {
  const st = S.snap.status;
  const w = st.workers;
  const cards = h('div', { class: 'cards' },
    STATES.map(s => h('a', { class: 'card c-' + s, href: '#/jobs?state=' + s },
      h('div', { class: 'n', id: 'count-' + s }, st.counts[s] || 0), h('div', { class: 'l' }, s))),
    h('a', { class: 'card', href: '#/jobs' }, h('div', { class: 'n' }, st.total), h('div', { class: 'l' }, 'jobs in all')));
  const wcards = h('div', { class: 'cards' },
    h('a', { class: 'card c-succeeded', href: '#/workers' }, h('div', { class: 'n', id: 'workers-alive' }, w.alive), h('div', { class: 'l' }, 'workers alive')),
    h('a', { class: 'card', href: '#/workers' }, h('div', { class: 'n' }, w.draining), h('div', { class: 'l' }, 'draining')),
    h('a', { class: 'card', href: '#/workers' }, h('div', { class: 'n' }, w.dead), h('div', { class: 'l' }, 'dead')),
    h('div', { class: 'card' }, h('div', { class: 'n' }, w.busy + ' / ' + w.slots), h('div', { class: 'l' }, 'slots busy'),
      w.slots ? progressBar({ running: w.busy }, w.slots) : null));
  const recent = [...S.recent.values()].slice(0, 12);
  return [
    h('h1', {}, 'Overview', h('span', { class: 'muted', style: { fontSize: '13px', fontWeight: 'normal' } },
      'master started ', agoEl(st.started))),
    clusterLine(), attentionPanel(st.attention), cards, h('h2', {}, 'Workers'), wcards,
    h('div', { class: 'grid2', style: { marginTop: '16px' } },
      h('div', { class: 'panel' }, h('h2', {}, 'Throughput'), chart(st.throughput)),
      h('div', { class: 'panel' }, h('h2', {}, 'Recent changes'),
        recent.length ? h('ul', { class: 'recent' }, recent.map(j => h('li', {},
          badge(j.state), h('a', { href: '#/jobs/' + enc(j.id) }, '#' + j.id), h('code', {}, j.type),
          j.group ? h('span', { class: 'muted' }, j.group) : null, agoEl(j.updated))))
          : h('p', { class: 'muted' }, 'Nothing yet.'))),
  ];
}

function chart(tp) {
  const b = tp.buckets;
  const total = x => x.succeeded + x.failed + x.cancelled;
  const max = Math.max(1, ...b.map(total));
  const seg = (cls, n) => n ? h('div', { class: 'seg ' + cls, style: { height: (100 * n / max) + '%' } }) : null;
  const sum = b.reduce((a, x) => a + total(x), 0);
  const mins = b.length * tp.bucket_seconds / 60;
  return [
    h('p', { class: 'muted', style: { margin: '0 0 8px' } },
      sum + ' jobs finished in the last ' + mins + ' minutes; ' + total(b[b.length - 1]) + ' this minute.'),
    h('div', { class: 'chart', role: 'img', 'aria-label': 'jobs finished per minute' }, b.map(x => h('div', {
      class: 'col', title: new Date(x.start).toLocaleTimeString() + ': ' + x.succeeded + ' succeeded, ' +
        x.failed + ' failed, ' + x.cancelled + ' cancelled',
    }, seg('ok', x.succeeded), seg('bad', x.failed), seg('cx', x.cancelled)))),
    h('div', { class: 'axis' }, h('span', {}, '−' + mins + ' min'), h('span', {}, 'now')),
    h('div', { class: 'legend' }, h('span', {}, h('i', { style: { background: 'var(--succeeded)' } }), 'succeeded'),
      h('span', {}, h('i', { style: { background: 'var(--failed)' } }), 'failed'),
      h('span', {}, h('i', { style: { background: 'var(--cancelled)' } }), 'cancelled')),
  ];
}

// ---- workers ----

function workersView() {
  const ws = S.snap.workers;
  const rows = ws.map(w => h('tr', { 'data-worker-id': w.id },
    td('Worker', [h('strong', {}, w.name), h('div', { class: 'muted mono' }, w.id + ' · ' + (w.addr || 'pull'))]),
    td('State', badge(w.state)),
    td('Slots', [h('div', { class: 'num' }, w.running + ' / ' + w.slots), progressBar({ running: w.running }, w.slots)]),
    td('Types', w.types.map(t => h('span', { class: 'chip' }, t))),
    td('Tags', w.tags.length ? w.tags.map(t => h('span', { class: 'chip' }, t)) : h('span', { class: 'muted' }, '—')),
    td('Last heartbeat', w.state === 'dead' ? ['died ', agoEl(w.died)] : agoEl(w.last_heartbeat)),
    td('Jobs', [w.jobs.length ? w.jobs.map(j => h('div', {},
      h('a', { href: '#/jobs/' + enc(j.id) }, '#' + j.id), ' ', h('code', {}, j.type))) : h('span', { class: 'muted' }, 'idle'),
      h('div', {}, h('a', { class: 'muted', href: '#/jobs?worker=' + enc(w.id) }, 'all its jobs'))]),
    td('', workerAction(w))));
  return [
    h('h1', {}, 'Workers', h('span', { class: 'muted', style: { fontSize: '13px', fontWeight: 'normal' } },
      S.snap.status.workers.alive + ' alive')),
    table(['Worker', 'State', 'Slots', 'Types', 'Tags', 'Last heartbeat', 'Current jobs', ''], rows,
      'No workers yet. Start one with `drover worker`; it shows up here as soon as it registers.'),
  ];
}

// ---- jobs ----

function jobsQuery() {
  const p = new URLSearchParams();
  for (const k of FILTERS) if (S.jobs.filter[k]) p.set(k, S.jobs.filter[k]);
  if (S.jobs.cursor) p.set('cursor', S.jobs.cursor);
  return p.toString();
}

function setupJobs(params) {
  const f = {};
  for (const k of FILTERS) f[k] = params.get(k) || '';
  S.jobs = { filter: f, cursor: '', stack: [], next: '', ids: new Set() };
  const placeholder = { type: 'type', group: 'group', worker: 'worker ID', error: 'text in error',
    older_than: 'older than', q: 'text in args' };
  const filters = h('form', { class: 'filters', id: 'filters', onsubmit: e => e.preventDefault() },
    h('select', { name: 'state', 'aria-label': 'state' }, h('option', { value: '' }, 'any state'),
      STATES.map(s => h('option', { value: s, selected: f.state === s }, s))),
    FILTERS.slice(1).map(k => h('input', {
      name: k, type: 'search', value: f[k], placeholder: placeholder[k], 'aria-label': placeholder[k],
    })));
  filters.addEventListener('input', debounce(() => {
    const fd = new FormData(filters);
    const nf = {};
    for (const k of FILTERS) nf[k] = (fd.get(k) || '').trim();
    S.jobs = { filter: nf, cursor: '', stack: [], next: '', ids: new Set() };
    const qs = new URLSearchParams(Object.entries(nf).filter(([, v]) => v)).toString();
    history.replaceState(null, '', '#/jobs' + (qs ? '?' + qs : ''));
    refresh();
    drawBulk();
  }, 250));
  show(h('h1', {}, 'Jobs'), can('submit') ? submitForm() : null, filters, h('div', { class: 'actions-row', id: 'bulk' }),
    h('div', { id: 'jobs-table' }, h('p', { class: 'muted' }, 'Loading…')), h('div', { class: 'pager', id: 'pager' }));
  drawBulk();
}

// whyText is what a listed job says of itself: why it waits while
// pending, else its latest attempt's error.
function whyText(j) { return j.state === 'pending' ? (j.waiting || '') : (j.error || ''); }

function drawJobs(page) {
  S.jobs.next = page.next_cursor || '';
  S.jobs.ids = new Set(page.jobs.map(j => j.id));
  const ns = page.jobs.map(j => Number(j.id));
  S.jobs.lo = Math.min(...ns);
  S.jobs.hi = Math.max(...ns);
  const rows = page.jobs.map(j => h('tr', { 'data-job-id': j.id },
    td('ID', h('a', { href: '#/jobs/' + enc(j.id) }, '#' + j.id)),
    td('State', badge(j.state)),
    td('Type', h('code', {}, j.type)),
    td('Args', argsText(j.args) || '—', { class: 'args mono', title: argsText(j.args) }),
    td('Group', j.group ? h('a', { href: '#/groups/' + enc(j.group) }, j.group) : '—'),
    td('Worker', j.worker ? h('code', {}, j.worker) : '—', { class: 'lbl' }),
    td('Attempts', j.attempts + (j.retries && j.attempts <= j.retries + 1 ? ' of ' + (j.retries + 1) : ''), { class: 'num lbl' }),
    td('Why', whyText(j) || '—', { class: 'why', title: whyText(j) }),
    td('Updated', agoEl(j.updated))));
  S.jobs.anyPending = page.jobs.some(j => j.state === 'pending');
  document.getElementById('jobs-table').replaceChildren(
    table(['ID', 'State', 'Type', 'Args', 'Group', 'Worker', 'Attempts', 'Why', 'Updated'], rows,
      page.next_cursor ? 'No match among the jobs examined so far (a page stops after 100,000): Older → looks further.' : 'No jobs match.',
      'compact'));
  const go = (cursor, stack) => { S.jobs.cursor = cursor; S.jobs.stack = stack; refresh(); };
  document.getElementById('pager').replaceChildren(
    h('button', { type: 'button', disabled: !S.jobs.stack.length, onclick: () => go(S.jobs.stack.at(-1), S.jobs.stack.slice(0, -1)) }, '← Newer'),
    h('button', { type: 'button', disabled: !S.jobs.next, onclick: () => go(S.jobs.next, [...S.jobs.stack, S.jobs.cursor]) }, 'Older →'));
}

function submitForm() {
  const msg = h('span', { class: 'muted', id: 'f-msg' });
  const field = (label, input, cls) => h('label', { class: cls }, label, input);
  const form = h('form', { class: 'spec', id: 'submit-form' },
    field('Type', h('input', { name: 'type', id: 'f-type', required: true, placeholder: 'echo', autocomplete: 'off' })),
    field('Group', h('input', { name: 'group', id: 'f-group', placeholder: 'optional' })),
    field('Priority', h('input', { name: 'priority', type: 'number', value: '0' })),
    field('Retries', h('input', { name: 'retries', type: 'number', min: 0, max: 100, value: '0' })),
    field('Timeout', h('input', { name: 'timeout', placeholder: 'e.g. 30s' })),
    field('Args: one key=value a line', h('textarea', { name: 'args', id: 'f-args', placeholder: 'text=hello' }), 'wide'),
    h('div', { class: 'actions' }, h('button', { class: 'primary', type: 'submit', id: 'f-submit' }, 'Submit'), msg));
  form.addEventListener('submit', async e => {
    e.preventDefault();
    const fd = new FormData(form);
    const spec = { type: fd.get('type').trim() };
    const args = {};
    const lines = fd.get('args').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].trim();
      if (!line) continue;
      const eq = line.indexOf('=');
      if (eq < 1) { msg.className = 'error'; msg.textContent = 'args line ' + (i + 1) + ': want key=value'; return; }
      args[line.slice(0, eq).trim()] = line.slice(eq + 1);
    }
    if (Object.keys(args).length) spec.args = args;
    for (const k of ['group', 'timeout']) if (fd.get(k).trim()) spec[k] = fd.get(k).trim();
    for (const k of ['priority', 'retries']) if (Number(fd.get(k))) spec[k] = Number(fd.get(k));
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const r = await api('POST', 'jobs', spec);
      msg.className = 'muted';
      msg.textContent = 'Submitted job #' + r.ids[0];
      location.hash = '#/jobs/' + enc(r.ids[0]);
    } catch (err) {
      msg.className = 'error';
      msg.textContent = err.message;
    } finally {
      button.disabled = false;
    }
  });
  return h('details', { class: 'submit', id: 'submit-details' }, h('summary', { id: 'submit-toggle' }, 'Submit a job'), form);
}

// ---- one job ----

function drawJob(j) {
  S.jobPending = j.state === 'pending';
  const open = new Set([...view.querySelectorAll('details[data-attempt][open]')].map(d => d.dataset.attempt));
  const id = enc(j.id);
  const actions = h('div', { class: 'actions-row' },
    (j.state === 'pending' || j.state === 'running') && can('cancel') ? confirmButton('cancel:' + j.id, 'Cancel', 'Confirm cancel', 'job-cancel',
      () => act('jobs/' + id + '/cancel', 'Job #' + j.id + ' cancelled')) : null,
    (j.state === 'failed' || j.state === 'cancelled') && can('retry') ? h('button', {
      id: 'job-retry', type: 'button', class: 'primary',
      onclick: e => { e.target.disabled = true; act('jobs/' + id + '/retry', 'Job #' + j.id + ' back to pending'); },
    }, 'Retry') : null);
  const dl = [
    ['Type', h('code', {}, j.type)],
    ['Args', Object.keys(j.args).length ? Object.keys(j.args).sort().map(k => h('div', {}, h('code', {}, k + '=' + j.args[k]))) : '—'],
    ['Group', j.group ? h('a', { href: '#/groups/' + enc(j.group) }, j.group) : '—'],
    ['Priority', j.priority], ['Retries', j.retries], ['Timeout', j.timeout || 'none'],
    ['Key', j.key ? h('code', {}, j.key) : '—'],
    ['Worker', j.worker ? h('code', {}, j.worker) : '—'],
    ['Submitted', agoEl(j.submitted)], ['Updated', agoEl(j.updated)],
  ];
  if (j.not_before) dl.push(['Not before', agoEl(j.not_before)]);
  if (j.timeout_applied) dl.push(['Timeout applied', j.timeout_applied + ' (' + (j.timeout_from === 'template' ? "the command template's" : "the job's") + ')']);
  const stats = j.stats ? Object.keys(j.stats).sort().map(k => h('tr', {}, td('Stat', h('code', {}, k)), td('Value', j.stats[k]))) : [];
  const attempts = j.history.map(a => h('tr', {},
    td('#', a.n, { class: 'num' }),
    td('Worker', h('code', {}, a.worker)),
    td('Started', agoEl(a.started)),
    td('Took', a.ended ? dur((Date.parse(a.ended) - Date.parse(a.started)) / 1000) : 'running'),
    td('Outcome', a.outcome ? badge(a.outcome) : badge('running')),
    td('Exit', a.outcome === 'ok' || a.outcome === 'error' ? a.exit_code : '-', { class: 'num' }),
    td('Error', a.error || '')));
  const outputs = j.history.filter(a => a.output).map(a => h('details', { 'data-attempt': a.n, open: open.has(String(a.n)) },
    h('summary', {}, 'Output of attempt ' + a.n), h('pre', {}, a.output)));
  show(
    h('h1', {}, 'Job #' + j.id, badge(j.state, 'job-state'), actions),
    j.waiting ? h('p', { class: 'note' }, 'Waiting: ' + j.waiting) : null,
    h('div', { class: 'grid2' },
      h('div', { class: 'panel' }, h('h2', {}, 'Spec'), h('dl', { class: 'spec' }, dl.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      h('div', { class: 'panel' }, h('h2', {}, 'Timeline'), h('ul', { class: 'timeline' },
        j.timeline.map(ev => h('li', {}, agoEl(ev.at), ' ', ev.text))))),
    h('h2', {}, 'Attempts (' + j.history.length + ')'),
    table(['#', 'Worker', 'Started', 'Took', 'Outcome', 'Exit', 'Error'], attempts, 'No attempt yet.'),
    stats.length ? [h('h2', { id: 'job-stats' }, 'Stats of attempt ' + j.stats_attempt), table(['Stat', 'Value'], stats, '')] : null,
    h('h2', {}, 'Output tail'),
    j.output_tail ? h('pre', { id: 'output-tail' }, j.output_tail) : h('p', { class: 'muted' }, 'No output.'),
    outputs.length > 1 ? [h('h2', {}, 'Output by attempt'), outputs] : null,
    logPanel(j));
}

// ---- schedules (groups: groups.js) ----

// untilEl shows a future time as "in 4m 10s" that ticks; the title has the date.
function untilEl(ts) {
  return h('span', { class: 'until', 'data-ts': ts || '', title: ts ? new Date(ts).toLocaleString() : '' }, until(ts));
}

function until(ts) {
  if (!ts) return '—';
  const s = (Date.parse(ts) - masterNow()) / 1000;
  return s > 0 ? 'in ' + dur(s) : 'due';
}

setInterval(() => {
  for (const el of document.querySelectorAll('.until[data-ts]')) {
    if (el.dataset.ts) el.textContent = until(el.dataset.ts);
  }
}, 1000);

function drawSchedules(data) {
  S.schedTypes = new Set(data.schedules.map(s => s.type));
  if (S.snap && S.snap.status) S.schedRev = S.snap.status.schedules_rev;
  const rows = data.schedules.map(s => h('tr', { 'data-schedule': s.name },
    td('Name', h('strong', {}, s.name)),
    td('Schedule', h('code', {}, s.schedule)),
    td('Timezone', s.timezone),
    td('Job', h('code', {}, s.type), argsText(s.args) ? h('span', { class: 'muted' }, ' ' + argsText(s.args)) : null),
    td('Overlap', s.overlap + (s.catch_up === 'one' ? ' · catch up' : '')),
    td('Next fire', s.paused ? '—' : untilEl(s.next)),
    td('Last fire', s.last_fire ? agoEl(s.last_fire) : 'never'),
    td('State', h('span', { class: 'badge ' + (s.paused ? 's-draining' : 's-alive') }, s.paused ? 'paused' : 'active')),
    td('Last job', s.last_job ? h('a', { href: '#/jobs/' + enc(s.last_job) }, '#' + s.last_job) : '—'),
    td('', scheduleActions(s))));
  show(h('h1', {}, 'Schedules'), data.schedules.length
    ? table(['Name', 'Schedule', 'Timezone', 'Job', 'Overlap', 'Next fire', 'Last fire', 'State', 'Last job', ''], rows, '', 'schedules')
    : h('p', { class: 'note', id: 'no-schedules' }, 'No schedules. A job spec with a schedule (a cron expression such as "0 2 * * *" or "@every 5m"), in the jobs file or submitted, makes one; it is listed here with its next fire time.'));
}

// loadMe asks who the dashboard's token is, shows it in the header and
// redraws the view with the actions its role may take.
async function loadMe() {
  try {
    S.me = await api('GET', 'whoami');
  } catch (e) {
    S.me = null;
  }
  const who = document.getElementById('who');
  if (S.me && S.me.auth) {
    who.textContent = S.me.name + ' · ' + S.me.role;
    who.title = 'Signed in with the token "' + S.me.name + '" of role ' + S.me.role;
    who.hidden = false;
  }
  // The groups list draws nothing by role: set up again, it would blank
  // until its first page came back.
  if (S.route.view === 'groups') return;
  S.drawn = '';
  render();
}

window.addEventListener('hashchange', render);
render();
connect();
loadMe();
loadCluster();
