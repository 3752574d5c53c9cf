/*!
 * Vigil dashboard: the Reports panel. Plain JavaScript, no build step.
 *
 * For a tenant admin or manager (its own tenant) and ops (the tenant shown): asks for an SLA
 * report of a closed period (POST /api/v1/client/reports/generate), follows its job with a
 * progress bar (GET …/progress/{task_id}) and offers the file for download once it is done
 * (GET …/download/{file}, fetched with the token and saved from a Blob, since a link cannot
 * carry the Authorization header).
 *
 * app.js announces the session with a `vigil:session` event ({token, role, tenantId} or null).
 * Server data only ever reaches the page through textContent, never innerHTML.
 */
(function () {
  'use strict';

  const ROLES = ['client_admin', 'client_manager', 'ops'];
  /** How often a running job's progress is asked for. */
  const POLL_MS = 500;

  let session = null;
  /** The job followed now: `{taskId, timer}`. */
  let job = null;
  const ui = {};

  function $(id) {
    return document.getElementById(id);
  }

  function allowed() {
    return !!session && ROLES.includes(session.role) && session.tenantId !== null && session.tenantId !== undefined;
  }

  /** One API call: `{ok, status, message, data}` from the platform envelope. */
  async function call(method, path, body) {
    const headers = { Authorization: 'Bearer ' + session.token, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let envelope = null;
    try {
      envelope = await res.json();
    } catch (_) {
      envelope = null;
    }
    const e = envelope && typeof envelope === 'object' ? envelope : {};
    return { ok: res.ok, status: res.status, message: e.message || res.statusText, data: e.data };
  }

  function show(node, text) {
    node.textContent = text || '';
    node.hidden = !text;
  }

  function stopFollowing() {
    if (job && job.timer) clearTimeout(job.timer);
    job = null;
  }

  function reset() {
    stopFollowing();
    ui.progress.value = 0;
    ui.progressRow.hidden = true;
    ui.download.hidden = true;
    ui.download.dataset.url = '';
    show(ui.error, '');
    show(ui.status, '');
  }

  async function generate(event) {
    event.preventDefault();
    if (!allowed()) return;
    reset();
    ui.generate.disabled = true;
    const body = {
      format: ui.format.value,
      period: ui.period.value,
    };
    if (session.role === 'ops') body.tenant_id = Number(session.tenantId);
    try {
      const answer = await call('POST', '/api/v1/client/reports/generate', body);
      if (!answer.ok) {
        show(ui.error, answer.message);
        ui.generate.disabled = false;
        return;
      }
      job = { taskId: answer.data.task_id, timer: null };
      ui.progressRow.hidden = false;
      render(answer.data);
      follow();
    } catch (err) {
      show(ui.error, 'The report could not be asked for: ' + err.message);
      ui.generate.disabled = false;
    }
  }

  /** Asks for the job's progress until it is done or failed. */
  function follow() {
    if (!job) return;
    const taskId = job.taskId;
    job.timer = setTimeout(async () => {
      if (!job || job.taskId !== taskId) return;
      try {
        const answer = await call('GET', '/api/v1/client/reports/progress/' + encodeURIComponent(taskId));
        if (!job || job.taskId !== taskId) return;
        if (!answer.ok) {
          show(ui.error, answer.message);
          ui.generate.disabled = false;
          stopFollowing();
          return;
        }
        render(answer.data);
        if (answer.data.state === 'queued' || answer.data.state === 'running') follow();
      } catch (_) {
        follow();
      }
    }, POLL_MS);
  }

  function render(view) {
    ui.progress.value = view.percent || 0;
    ui.progress.textContent = (view.percent || 0) + '%';
    const words = {
      queued: 'Queued…',
      running: 'Generating… ' + (view.percent || 0) + '%',
      done: 'Ready: ' + (view.records || 0) + ' goal outcomes, ' + Math.max(1, Math.round((view.size_bytes || 0) / 1024)) + ' KB',
      failed: 'Failed: ' + (view.error || 'unknown error'),
    };
    show(ui.status, words[view.state] || view.state);
    if (view.state === 'done' && view.download_url) {
      ui.download.dataset.url = view.download_url;
      ui.download.hidden = false;
      ui.generate.disabled = false;
      stopFollowing();
    }
    if (view.state === 'failed') {
      ui.generate.disabled = false;
      stopFollowing();
    }
  }

  async function download() {
    const url = ui.download.dataset.url;
    if (!url || !session) return;
    ui.download.disabled = true;
    try {
      const res = await fetch(url, { headers: { Authorization: 'Bearer ' + session.token }, cache: 'no-store' });
      if (!res.ok) {
        let message = res.statusText;
        try {
          message = (await res.json()).message || message;
        } catch (_) {
          // keep the status text
        }
        show(ui.error, message);
        return;
      }
      const blob = await res.blob();
      const disposition = res.headers.get('Content-Disposition') || '';
      const match = /filename="([^"]+)"/.exec(disposition);
      const name = match ? match[1] : 'sla-report';
      const href = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = href;
      link.download = name;
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(href), 60000);
      ui.download.dataset.saved = name;
    } finally {
      ui.download.disabled = false;
    }
  }

  function onSession(detail) {
    session = detail;
    reset();
    const on = allowed();
    ui.panel.hidden = !on;
    ui.generate.disabled = !on;
    if (on) ui.tenant.textContent = 'tenant ' + session.tenantId;
  }

  function init() {
    ui.panel = $('reports');
    if (!ui.panel) return;
    ui.form = $('report-form');
    ui.format = $('report-format');
    ui.period = $('report-period');
    ui.generate = $('report-generate');
    ui.progressRow = $('report-progress-row');
    ui.progress = $('report-progress');
    ui.status = $('report-status');
    ui.error = $('report-error');
    ui.download = $('report-download');
    ui.tenant = $('reports-tenant');
    ui.form.addEventListener('submit', generate);
    ui.download.addEventListener('click', download);
    document.addEventListener('vigil:session', (e) => onSession(e.detail));
    document.dispatchEvent(new CustomEvent('vigil:session-request'));
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
