/*!
 * Vigil dashboard: the Settings panel. Plain JavaScript, no build step.
 *
 * For a tenant admin (its own tenant) and ops (the tenant shown): the tenant's SLA targets,
 * warning thresholds and calendar, edited through the configuration center
 * (POST /api/v1/system-config/batch, each key with the version it was read at); refusals are
 * shown next to the fields they name (`data.problems`); the history of the targets with a
 * rollback per version; the tenant's own on-call contacts (`tenant.<id>.notify.contacts`).
 * Ops also see the feature flags with their rollout in words (switched on and off here) and the
 * audit.
 *
 * app.js announces the session with a `vigil:session` event ({token, role, tenantId} or null).
 * Server data only ever reaches the page through textContent, never innerHTML.
 */
(function () {
  'use strict';

  const PRIORITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'];
  const FIELDS = ['targets', 'warn_at', 'calendar'];
  const EDITORS = ['client_admin', 'ops'];
  const HISTORY_SHOWN = 20;
  const AUDIT_SHOWN = 50;

  let session = null;
  /** The values and versions read, per field (`targets`, `warn_at`, `calendar`). */
  let loaded = {};
  let loading = 0;
  const ui = {};

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, props, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'text') node.textContent = value;
      else if (key === 'className') node.className = value;
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children || []) {
      if (child !== null && child !== undefined) {
        node.append(typeof child === 'string' ? document.createTextNode(child) : child);
      }
    }
    return node;
  }

  /** One API call: `{ok, status, code, message, data}` from the platform envelope. */
  async function call(method, path, body, ifMatch) {
    const headers = { Authorization: 'Bearer ' + session.token, Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (ifMatch !== undefined) headers['If-Match'] = String(ifMatch);
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
    return { ok: res.ok, status: res.status, code: e.code, message: e.message || res.statusText, data: e.data };
  }

  function key(field) {
    return 'tenant.' + session.tenantId + '.sla.' + field;
  }

  function notifyKey(list) {
    return 'tenant.' + session.tenantId + '.notify.' + list;
  }

  function editable() {
    return !!session && EDITORS.includes(session.role) && session.tenantId !== null && session.tenantId !== undefined;
  }

  // ---- errors next to fields ------------------------------------------------------------------
  function clearErrors() {
    for (const node of document.querySelectorAll('#settings [data-error], #settings [data-error-field]')) {
      node.textContent = '';
      node.hidden = true;
    }
    for (const node of [ui.error, ui.ok, ui.contactsError, ui.contactsOk]) {
      node.textContent = '';
      node.hidden = true;
    }
  }

  /** The element that shows an error of `field` (`targets`, …) at `path` inside its value. */
  function errorSlot(field, path) {
    if (field === 'targets' && path) {
      const exact = document.querySelector('#settings [data-error="targets:' + CSS.escape(path) + '"]');
      if (exact) return exact;
      const priority = path.split('.')[0];
      const row = document.querySelector('#settings [data-error="targets:' + CSS.escape(priority) + '.response"]');
      if (row) return row;
    }
    return document.querySelector('#settings [data-error="' + CSS.escape(field) + '"]') || ui.error;
  }

  function showError(slot, text) {
    slot.textContent = slot.textContent ? slot.textContent + ' ' + text : text;
    slot.hidden = false;
  }

  function showProblems(problems) {
    for (const p of problems || []) {
      const field = String(p.key || '').split('.').pop();
      const path = String(p.field || '');
      showError(errorSlot(FIELDS.includes(field) ? field : '', path), (path ? path + ': ' : '') + p.reason);
    }
  }

  // ---- the form ---------------------------------------------------------------------------------
  function targetInput(priority, goal, value) {
    const id = 'target-' + priority + '-' + goal;
    return el('td', null, [
      el('input', {
        id,
        type: 'text',
        autocomplete: 'off',
        'data-testid': id,
        'data-priority': priority,
        'data-goal': goal,
        'aria-label': priority + ' ' + goal,
        value: value === undefined || value === null ? '' : String(value),
      }),
      el('p', { className: 'field-error', 'data-error': 'targets:' + priority + '.' + goal, hidden: true }),
    ]);
  }

  function renderForm() {
    const targets = (loaded.targets && loaded.targets.value) || {};
    const priorities = PRIORITIES.concat(Object.keys(targets).filter((p) => !PRIORITIES.includes(p)));
    ui.rows.replaceChildren(
      ...priorities.map((p) => {
        const t = targets[p] || {};
        return el('tr', null, [el('th', { scope: 'row', text: p }), targetInput(p, 'response', t.response), targetInput(p, 'resolution', t.resolution)]);
      }),
    );
    const warn = loaded.warn_at && Array.isArray(loaded.warn_at.value) ? loaded.warn_at.value : [];
    ui.warnAt.value = warn.join(', ');
    ui.calendar.value = loaded.calendar && typeof loaded.calendar.value === 'string' ? loaded.calendar.value : '';
  }

  /** A target as typed: whole minutes as a number, anything else (`"2h"`) as text. */
  function targetValue(text) {
    const t = text.trim();
    return /^\d+$/.test(t) ? Number(t) : t;
  }

  /** The values in the form, for the fields that differ from what was read. */
  function edits() {
    const targets = {};
    for (const input of ui.rows.querySelectorAll('input[data-priority]')) {
      const text = input.value.trim();
      if (!text) continue;
      const p = input.getAttribute('data-priority');
      targets[p] = targets[p] || {};
      targets[p][input.getAttribute('data-goal')] = targetValue(text);
    }
    const warnText = ui.warnAt.value.trim();
    const warn = warnText ? warnText.split(/[\s,]+/).filter(Boolean).map((v) => (/^[0-9.]+$/.test(v) ? Number(v) : v)) : null;
    const calendar = ui.calendar.value.trim() || null;
    const wanted = { targets, warn_at: warn, calendar };
    const out = [];
    for (const field of FIELDS) {
      const before = loaded[field] ? loaded[field].value : null;
      if (JSON.stringify(wanted[field]) === JSON.stringify(before)) continue;
      if (wanted[field] === null) continue;
      out.push({ key: key(field), value: wanted[field], if_match: loaded[field] ? loaded[field].version : 0 });
    }
    return out;
  }

  async function save(event) {
    event.preventDefault();
    clearErrors();
    const reason = ui.reason.value.trim();
    if (!reason) {
      showError(errorSlot('reason'), 'Say why you change it: the reason is kept in the audit.');
      return;
    }
    const changes = edits();
    if (changes.length === 0) {
      showError(ui.error, 'Nothing changed.');
      return;
    }
    const answer = await call('POST', '/api/v1/system-config/batch', { changes, reason });
    if (answer.ok) {
      ui.reason.value = '';
      await load();
      ui.ok.textContent = answer.message || 'Saved.';
      ui.ok.hidden = false;
      return;
    }
    if (answer.status === 409) {
      showError(ui.error, 'Somebody changed these settings meanwhile; the form now shows theirs. Make your change again.');
      await load(true);
      return;
    }
    if (answer.data && Array.isArray(answer.data.problems)) {
      showProblems(answer.data.problems);
      return;
    }
    showError(ui.error, answer.message + ' (' + (answer.code || answer.status) + ')');
  }

  // ---- on-call contacts ----------------------------------------------------------------------------
  /** The contacts as read (their other fields are kept as they were) and their version. */
  let contacts = { rows: [], version: 0 };

  function contactRow(contact, index) {
    const cell = (field, label) => {
      const id = 'contact-' + index + '-' + field;
      return el('td', null, [
        el('input', { id, type: 'text', autocomplete: 'off', 'data-testid': id, 'data-field': field, 'aria-label': label, value: contact[field] || '' }),
        el('p', { className: 'field-error', 'data-error-field': field, hidden: true }),
      ]);
    };
    const remove = el('button', { type: 'button', className: 'btn btn-small', text: 'Remove' });
    const tr = el('tr', { 'data-index': index }, [cell('id', 'Contact id'), cell('email', 'Email'), cell('phone', 'Phone'), el('td', null, [remove])]);
    remove.addEventListener('click', () => tr.remove());
    return tr;
  }

  function renderContacts() {
    ui.contactRows.replaceChildren(...contacts.rows.map((c, i) => contactRow(c, i)));
  }

  /** The contacts in the form: each row's original object with the edited fields. */
  function editedContacts() {
    return Array.from(ui.contactRows.querySelectorAll('tr')).map((tr) => {
      const index = Number(tr.getAttribute('data-index'));
      const base = Object.assign({}, contacts.rows[index] || {});
      for (const input of tr.querySelectorAll('input[data-field]')) {
        const field = input.getAttribute('data-field');
        const value = input.value.trim();
        if (value) base[field] = value;
        else delete base[field];
      }
      for (const [k, v] of Object.entries(base)) if (v === null) delete base[k];
      return base;
    });
  }

  async function loadContacts() {
    const answer = await call('GET', '/api/v1/system-config/' + notifyKey('contacts'));
    if (!answer.ok) {
      showError(ui.contactsError, 'Cannot read the contacts: ' + answer.message);
      return;
    }
    contacts = { rows: Array.isArray(answer.data.value) ? answer.data.value : [], version: answer.data.version };
    renderContacts();
  }

  async function saveContacts(event) {
    event.preventDefault();
    clearErrors();
    const reason = ui.contactsReason.value.trim();
    if (!reason) {
      showError(errorSlot('contacts-reason'), 'Say why you change them: the reason is kept in the audit.');
      return;
    }
    const path = '/api/v1/system-config/' + notifyKey('contacts');
    const answer = await call('PUT', path, { value: editedContacts(), reason }, contacts.version);
    if (answer.ok) {
      ui.contactsReason.value = '';
      await loadContacts();
      ui.contactsOk.textContent = answer.message || 'Saved.';
      ui.contactsOk.hidden = false;
      return;
    }
    if (answer.status === 409) {
      showError(ui.contactsError, 'Somebody changed the contacts meanwhile; the form now shows theirs. Make your change again.');
      await loadContacts();
      return;
    }
    const problems = answer.data && Array.isArray(answer.data.problems) ? answer.data.problems : [];
    if (problems.length === 0) {
      showError(ui.contactsError, answer.message + ' (' + (answer.code || answer.status) + ')');
      return;
    }
    // `[i].field` names the i-th contact sent: the i-th row of the form.
    const rows = ui.contactRows.querySelectorAll('tr');
    for (const p of problems) {
      const at = /^\[(\d+)\]\.(\w+)/.exec(String(p.field || ''));
      const row = at && String(p.key).endsWith('.notify.contacts') ? rows[Number(at[1])] : null;
      const slot = row ? row.querySelector('[data-error-field="' + at[2] + '"]') : null;
      if (slot) showError(slot, p.reason);
      else showError(ui.contactsError, p.key + (p.field ? ' ' + p.field : '') + ': ' + p.reason);
    }
  }

  // ---- history and rollback ---------------------------------------------------------------------
  function versionLine(v) {
    const when = new Date(v.changed_at).toLocaleString();
    const what = v.op === 'rollback' ? 'rollback to v' + v.rolled_back_to : v.op;
    return 'v' + v.version + ' · ' + what + ' · ' + v.actor + ' · ' + when + ' · ' + v.reason;
  }

  async function renderHistory() {
    const answer = await call('GET', '/api/v1/system-config/' + key('targets') + '/history?limit=' + HISTORY_SHOWN);
    const versions = answer.ok && answer.data ? answer.data.versions : [];
    const latest = versions.length ? versions[0].version : 0;
    ui.history.replaceChildren(
      ...versions.map((v) => {
        const li = el('li', { 'data-version': v.version }, [el('span', { text: versionLine(v) })]);
        if (v.version !== latest && v.op !== 'delete') {
          const button = el('button', { type: 'button', className: 'btn btn-small', 'data-testid': 'rollback-' + v.version, text: 'Roll back to v' + v.version });
          button.addEventListener('click', () => rollback(v.version, latest));
          li.append(button);
        }
        return li;
      }),
    );
    if (!versions.length) ui.history.replaceChildren(el('li', { className: 'muted', text: 'Never changed here: the files\u2019 targets apply.' }));
  }

  async function rollback(version, latest) {
    clearErrors();
    const reason = ui.reason.value.trim();
    if (!reason) {
      showError(errorSlot('reason'), 'Say why you roll back: the reason is kept in the audit.');
      return;
    }
    const answer = await call('POST', '/api/v1/system-config/' + key('targets') + '/rollback', { version, reason }, latest);
    if (!answer.ok) {
      if (answer.data && Array.isArray(answer.data.problems)) showProblems(answer.data.problems);
      else showError(ui.error, answer.message + ' (' + (answer.code || answer.status) + ')');
      return;
    }
    ui.reason.value = '';
    await load();
    ui.ok.textContent = 'Rolled back to v' + version + '.';
    ui.ok.hidden = false;
  }

  // ---- ops: flags and audit -----------------------------------------------------------------------
  async function renderOps() {
    ui.ops.hidden = session.role !== 'ops';
    if (session.role !== 'ops') return;
    const flags = await call('GET', '/api/v1/feature-flags');
    const list = flags.ok && flags.data ? flags.data.flags : [];
    ui.flags.replaceChildren(
      ...list.map((f) => {
        const on = !!(f.rule && f.rule.on);
        const button = el('button', { type: 'button', className: 'btn btn-small', 'data-testid': 'flag-' + f.name, text: on ? 'Switch off' : 'Switch on' });
        button.addEventListener('click', () => switchFlag(f, !on));
        return el('li', null, [
          el('code', { text: f.name }),
          el('span', { className: 'muted', text: f.description }),
          el('span', { 'data-testid': 'rollout-' + f.name, text: rolloutText(f.rule) }),
          el('span', { className: 'muted', text: 'v' + f.version }),
          button,
        ]);
      }),
    );
    const audit = await call('GET', '/api/v1/audit?limit=' + AUDIT_SHOWN);
    const entries = audit.ok && audit.data ? audit.data.entries : [];
    ui.audit.replaceChildren(...entries.map((e) => el('li', null, [el('code', { text: e.key }), el('span', { text: versionLine(e) })])));
  }

  // A flag's rollout in words: who it is on for, and when it rolls itself back.
  function rolloutText(rule) {
    if (!rule || !rule.on) return 'off for everyone';
    const parts = [];
    if (rule.percent != null) parts.push(rule.percent + '% of tenants');
    const tenants = rule.tenants || [];
    if (tenants.length) parts.push('tenants ' + tenants.join(', '));
    const users = rule.users || [];
    if (users.length) parts.push('users ' + users.join(', '));
    let text = parts.length ? 'on for ' + parts.join(' + ') : 'on for everyone';
    const back = rule.rollback_when;
    if (back) {
      const channel = back.channel === '*' ? 'any' : back.channel;
      text += '; rolls back if more than ' + back.above + ' ' + channel + ' notifications fail within ' + back.within;
    }
    return text;
  }

  async function switchFlag(flag, on) {
    clearErrors();
    const reason = ui.reason.value.trim();
    if (!reason) {
      showError(errorSlot('reason'), 'Say why you switch it: the reason is kept in the audit.');
      return;
    }
    const answer = await call('PUT', '/api/v1/feature-flags/' + encodeURIComponent(flag.name), { rule: { on }, reason }, flag.version);
    if (!answer.ok) showError(ui.error, answer.message + ' (' + (answer.code || answer.status) + ')');
    await renderOps();
  }

  // ---- loading ------------------------------------------------------------------------------------
  async function load(keepErrors) {
    if (!editable()) return;
    const mine = ++loading;
    if (!keepErrors) clearErrors();
    const answers = await Promise.all(FIELDS.map((f) => call('GET', '/api/v1/system-config/' + key(f))));
    if (mine !== loading) return;
    const failed = answers.find((a) => !a.ok);
    if (failed) {
      showError(ui.error, 'Cannot read the settings: ' + failed.message + ' (' + (failed.code || failed.status) + ')');
      return;
    }
    loaded = {};
    FIELDS.forEach((f, i) => {
      loaded[f] = { value: answers[i].data.value, version: answers[i].data.version };
    });
    renderForm();
    await loadContacts();
    ui.body.setAttribute('data-loaded', 'true');
    await renderHistory();
    await renderOps();
  }

  function onSession(event) {
    session = event.detail;
    ui.panel.hidden = !editable();
    ui.body.hidden = true;
    ui.body.removeAttribute('data-loaded');
    ui.toggle.setAttribute('aria-expanded', 'false');
    if (editable()) ui.tenant.textContent = '· tenant ' + session.tenantId;
  }

  function toggle() {
    const open = ui.body.hidden;
    ui.body.hidden = !open;
    ui.toggle.setAttribute('aria-expanded', String(open));
    if (open) load();
  }

  function boot() {
    ui.panel = $('settings');
    ui.body = $('settings-body');
    ui.toggle = $('settings-toggle');
    ui.tenant = $('settings-tenant');
    ui.rows = $('targets-rows');
    ui.warnAt = $('warn-at');
    ui.calendar = $('calendar');
    ui.reason = $('reason');
    ui.error = $('settings-error');
    ui.ok = $('settings-ok');
    ui.history = $('history-list');
    ui.ops = $('ops-settings');
    ui.flags = $('flags-list');
    ui.audit = $('audit-list');
    ui.contactRows = $('contacts-rows');
    ui.contactsReason = $('contacts-reason');
    ui.contactsError = $('contacts-error');
    ui.contactsOk = $('contacts-ok');
    ui.toggle.addEventListener('click', toggle);
    $('sla-form').addEventListener('submit', save);
    $('contacts-form').addEventListener('submit', saveContacts);
    $('contact-add').addEventListener('click', () => {
      const index = ui.contactRows.querySelectorAll('tr').length;
      const row = contactRow({}, contacts.rows.length + index);
      ui.contactRows.append(row);
      row.querySelector('input').focus();
    });
  }

  // Registered at once: app.js (loaded first) may announce the session before the page is parsed.
  document.addEventListener('vigil:session', (event) => {
    if (!ui.panel) boot();
    onSession(event);
  });
  const start = () => {
    if (!ui.panel) boot();
    // app.js may have started the session before this script ran: ask again.
    document.dispatchEvent(new CustomEvent('vigil:session-request'));
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
