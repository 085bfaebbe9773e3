// drover dashboard: acting on many jobs at once (the jobs list's "Retry N",
// "Cancel N" and "Purge N" over the list's filter, POST /api/v1/jobs/retry,
// /cancel and /purge), and the actions of a schedule (pause, resume, run
// now, delete) and of a worker (drain, undrain). Loaded before app.js,
// whose helpers (h, api, can, act, flash, ...) it calls once the page runs.
'use strict';

// BULK are the bulk actions: the endpoint, the button's word, what the
// flash says after and the states it takes; whoami's can names the same
// actions.
const BULK = [
  { action: 'retry', label: 'Retry', done: 'retried', states: ['failed', 'cancelled'] },
  { action: 'cancel', label: 'Cancel', done: 'cancelled', states: ['pending', 'running'] },
  { action: 'purge', label: 'Purge', done: 'purged', states: ['succeeded', 'failed', 'cancelled'] },
];

// bulkFilter is the jobs list's filter as a bulk action's body.
function bulkFilter() {
  const f = {};
  for (const k of FILTERS) if (S.jobs.filter[k]) f[k] = S.jobs.filter[k];
  return f;
}

function filterText(f) {
  return Object.keys(f).map(k => k + '=' + f[k]).join(' ');
}

// bulkCount asks how many jobs the action would take now (a dry run): a
// number, or an Error the master gave (a bad older_than). A filter on a
// state the action does not take selects none: no need to ask.
function bulkCount(b, f) {
  if (f.state && !b.states.includes(f.state)) return Promise.resolve(0);
  return api('POST', 'jobs/' + b.action, Object.assign({}, f, { dry_run: true })).then(r => r.count, e => e);
}

// drawBulk fills #bulk with a button for each bulk action the token may
// take, labelled with the number of jobs the filter selects for it. It
// runs when the filter changes and after an action, not at every event.
async function drawBulk() {
  const el = document.getElementById('bulk');
  if (!el) return;
  const f = bulkFilter();
  const acts = BULK.filter(b => can(b.action));
  if (!acts.length) return el.replaceChildren();
  if (!Object.keys(f).length) {
    return el.replaceChildren(h('span', { class: 'muted' }, 'Filter the list to retry, cancel or purge every job it selects.'));
  }
  const seq = drawBulk.seq = (drawBulk.seq || 0) + 1;
  const counts = await Promise.all(acts.map(b => bulkCount(b, f)));
  if (seq !== drawBulk.seq || !document.getElementById('bulk')) return; // the filter changed meanwhile
  el.replaceChildren(...acts.map((b, i) => {
    const n = counts[i];
    const bad = n instanceof Error;
    return h('button', {
      type: 'button', class: 'danger', id: 'bulk-' + b.action, 'data-count': bad ? '' : n, disabled: bad || n === 0,
      title: bad ? n.message : b.label + ' the ' + n + ' jobs that match ' + filterText(f),
      onclick: () => bulkConfirm(b, f),
    }, b.label + ' ' + (bad ? '—' : n));
  }));
}

// bulkConfirm counts again and asks before acting.
async function bulkConfirm(b, f) {
  const el = document.getElementById('bulk');
  const n = await bulkCount(b, f);
  if (n instanceof Error) return flash(n.message, true);
  el.replaceChildren(h('span', { id: 'bulk-question' }, b.label + ' ' + n + ' jobs that match ' + filterText(f) + '?'),
    h('button', { type: 'button', class: 'confirm', id: 'bulk-yes', onclick: e => { e.target.disabled = true; bulkDo(b, f); } },
      'Confirm: ' + b.label.toLowerCase() + ' ' + n),
    h('button', { type: 'button', id: 'bulk-no', onclick: () => drawBulk() }, 'Keep them'));
}

async function bulkDo(b, f) {
  try {
    const r = await api('POST', 'jobs/' + b.action, f);
    flash(r.count + ' jobs ' + b.done + (r.skipped ? '; ' + r.skipped + ' skipped: submitted by other tokens' : ''));
  } catch (e) {
    flash(e.message, true);
  }
  S.drawn = '';
  refresh();
  drawBulk();
}

// workerAction is a worker's button: Drain for a live one, Undrain for a
// draining one, to a token that may.
function workerAction(w) {
  if (!can('drain')) return null;
  if (w.state === 'alive') {
    return confirmButton('drain:' + w.id, 'Drain', 'Confirm drain', null,
      () => act('workers/' + enc(w.id) + '/drain', 'Worker ' + w.name + ' draining'));
  }
  if (w.state === 'draining') {
    return h('button', { type: 'button', class: 'primary undrain',
      onclick: e => { e.target.disabled = true; act('workers/' + enc(w.id) + '/undrain', 'Worker ' + w.name + ' takes jobs again'); } },
    'Undrain');
  }
  return null;
}

// scheduleActions are a schedule's buttons, each to a token that may:
// pause or resume, run now, delete (asked twice).
function scheduleActions(s) {
  const path = 'schedules/' + enc(s.name) + '/';
  const button = (cls, label, fn) => h('button', { type: 'button', class: cls, onclick: e => { e.target.disabled = true; fn(); } }, label);
  return h('div', { class: 'actions-row' },
    can('pause_resume') ? (s.paused
      ? button('sched-resume', 'Resume', () => act(path + 'resume', 'Schedule ' + s.name + ' resumed'))
      : button('sched-pause', 'Pause', () => act(path + 'pause', 'Schedule ' + s.name + ' paused'))) : null,
    can('run_schedule') ? button('sched-run', 'Run now', async () => {
      try {
        const r = await api('POST', path + 'run');
        flash(r.queued ? 'Schedule ' + s.name + ': fire queued behind its last run' : 'Schedule ' + s.name + ' fired job #' + r.job);
      } catch (e) {
        flash(e.message, true);
      }
      S.drawn = '';
      update();
    }) : null,
    can('delete_schedule') ? confirmButton('sched-delete:' + s.name, 'Delete', 'Confirm delete', null,
      () => act(path + 'delete', 'Schedule ' + s.name + ' deleted')) : null);
}
