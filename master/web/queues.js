// drover dashboard: the queues page (#/queues, GET /api/v1/queues: a row
// per lane of pending work, biggest first, with why its jobs wait) and the
// "Needs attention" panel at the top of the overview (the status's
// attention). Loaded before app.js, whose helpers (h, api, td, table,
// dur, enc, ...) it calls once the page runs.
'use strict';

// queuesPath is the API path of the queues route r (#/queues?type=T).
function queuesPath(r) {
  const q = new URLSearchParams();
  const typ = r.params && r.params.get('type');
  if (typ) q.set('type', typ);
  return 'queues' + (q.toString() ? '?' + q : '');
}

// queueRow is one lane: its type (a link to its pending jobs), tags and
// limit key, its counts, its longest wait, its rate and why it waits.
function queueRow(q) {
  const where = [
    h('a', { href: '#/jobs?state=pending&type=' + enc(q.type) }, h('strong', {}, q.type)),
    q.tags.map(t => h('span', { class: 'chip' }, t)),
    q.limit_key ? h('div', { class: 'muted mono' }, 'key ' + q.limit_key) : null,
    q.pin ? h('div', { class: 'muted' }, 'broadcast copies for ' + q.pin) : null,
  ];
  const waits = q.waiting.length
    ? q.waiting.map(w => h('div', { class: 'reason' }, h('span', { class: 'num' }, w.count), ' ', w.reason))
    : h('span', { class: 'muted' }, '—');
  return h('tr', { 'data-queue-type': q.type },
    td('Lane', where),
    td('Pending', [h('div', { class: 'num' }, q.pending), q.delayed ? h('div', { class: 'muted' }, q.delayed + ' delayed') : null]),
    td('Running', h('span', { class: 'num' }, q.running)),
    td('Oldest', q.oldest_pending_seconds > 0 ? dur(q.oldest_pending_seconds) : '—'),
    td('Per min', h('span', { class: 'num', title: q.finished + ' finished, ' + q.failed + ' failed' }, q.per_minute.toFixed(1))),
    td('Waiting', waits));
}

function drawQueues(data) {
  const typ = S.route.params && S.route.params.get('type');
  show(h('h1', {}, 'Queues', typ ? h('span', { class: 'muted', style: { fontSize: '13px', fontWeight: 'normal' } },
    ' type ' + typ + ' · ', h('a', { href: '#/queues' }, 'all types')) : null),
  h('p', { class: 'muted' }, 'A lane is the pending jobs of one type, tags and limit key. Biggest first; the rate is jobs finished a minute over the last ' +
    data.throughput_minutes + ' minutes.'),
  table(['Lane', 'Pending', 'Running', 'Oldest', 'Per min', 'Waiting'], data.queues.map(queueRow),
    'No pending or running jobs.', 'queues'),
  data.more ? h('p', { class: 'muted' }, 'and ' + data.more + ' smaller lanes') : null);
}

// attentionPanel lists what needs a person (the status's attention), or
// is null when nothing does.
function attentionPanel(items) {
  if (!items || !items.length) return null;
  return h('section', { class: 'panel attention', id: 'attention' }, h('h2', {}, 'Needs attention'),
    h('ul', {}, items.map(a => h('li', { 'data-kind': a.kind }, h('a', { href: a.link }, a.text)))));
}
