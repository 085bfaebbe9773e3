// drover dashboard: the job page's full log of the latest attempt
// (GET /api/v1/jobs/{id}/attempts/{n}/log). A <pre> that fetches the log
// by byte offset once opened: first its last 256 KiB, then, with Follow,
// what is new every second until the attempt ends. It outlives the page's
// redraws. Closed, it fetches nothing (a Go handler's attempt has no log).
'use strict';

const LOG_FIRST = 256 << 10;
const LOG = { key: '', id: '', n: 0, stream: 'stderr', offset: 0, done: false, follow: false, timer: 0, dec: null,
  box: null, pre: null, note: null };

// logPanel returns the log panel for job j, or null before its first attempt.
function logPanel(j) {
  const last = j.history[j.history.length - 1];
  if (!last) return null;
  if (!LOG.box) {
    LOG.pre = h('pre', { id: 'job-log' });
    LOG.note = h('span', { id: 'job-log-note', class: 'muted' });
    LOG.box = h('details', { id: 'job-log-box', ontoggle: () => { if (LOG.box.open) startLog(LOG.id, LOG.n); else stopLog(); } });
  }
  if (LOG.id !== j.id || LOG.n !== last.n) {
    stopLog();
    Object.assign(LOG, { id: j.id, n: last.n });
    LOG.box.open = false;
  }
  const stream = h('select', { id: 'job-log-stream', onchange: e => { LOG.stream = e.target.value; if (LOG.box.open) startLog(LOG.id, LOG.n); } },
    ['stderr', 'stdout'].map(s => h('option', { value: s, selected: s === LOG.stream }, s)));
  const follow = h('label', {}, h('input', {
    id: 'job-log-follow', type: 'checkbox', checked: LOG.follow,
    onchange: e => { LOG.follow = e.target.checked; if (LOG.follow) fetchLog(LOG.key); },
  }), ' Follow');
  LOG.box.replaceChildren(h('summary', {}, 'Full log of attempt ' + last.n), h('p', {}, stream, ' ', follow, ' ', LOG.note), LOG.pre);
  return LOG.box;
}

function stopLog() {
  clearTimeout(LOG.timer);
  LOG.key = '';
}

function startLog(id, n) {
  clearTimeout(LOG.timer);
  Object.assign(LOG, { key: id + '/' + n + '/' + LOG.stream, id, n, offset: -1, done: false, dec: new TextDecoder() });
  LOG.pre.textContent = '';
  LOG.note.textContent = 'loading…';
  fetchLog(LOG.key);
}

// fetchLog gets what is new of the log named by key, unless another log
// is shown by now.
async function fetchLog(key) {
  if (LOG.key !== key) return;
  clearTimeout(LOG.timer);
  const first = LOG.offset < 0;
  const path = 'api/v1/jobs/' + enc(LOG.id) + '/attempts/' + LOG.n + '/log?stream=' + LOG.stream;
  try {
    const res = await fetch(first ? path : path + '&offset=' + LOG.offset, first ? { headers: { Range: 'bytes=-' + LOG_FIRST } } : {});
    if (LOG.key !== key) return;
    const size = Number(res.headers.get('Drover-Log-Size') || 0);
    LOG.done = res.headers.get('Drover-Log-Done') === 'true';
    if (res.status === 416) {
      LOG.offset = 0; // empty so far
    } else if (!res.ok) {
      const err = await res.json().catch(() => null);
      LOG.note.textContent = (err && err.error && err.error.message) || res.status + ' ' + res.statusText;
      LOG.done = true;
      return;
    } else {
      const buf = await res.arrayBuffer();
      if (LOG.key !== key) return;
      if (first && size > buf.byteLength) LOG.pre.textContent = '…[the first ' + (size - buf.byteLength) + ' bytes are not shown]\n';
      LOG.offset = (first ? size - buf.byteLength : LOG.offset) + buf.byteLength;
      LOG.pre.textContent += LOG.dec.decode(buf, { stream: true });
      if (LOG.follow) LOG.pre.scrollTop = LOG.pre.scrollHeight;
    }
    LOG.note.textContent = LOG.offset + ' bytes' + (LOG.done ? '' : ', still running');
  } catch (e) {
    LOG.note.textContent = String(e);
  }
  if (LOG.follow && !LOG.done) LOG.timer = setTimeout(() => fetchLog(key), 1000);
}
