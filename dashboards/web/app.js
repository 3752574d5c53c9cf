/*!
 * Vigil live dashboard. Plain JavaScript, no build step, no network beyond this origin.
 *
 * Vendored: uPlot 1.6.32 (MIT, https://github.com/leeoniya/uPlot), see vendor/README.md.
 *
 * What it speaks (README.md "API, live updates and the dashboard"):
 * - REST with `Authorization: Bearer <JWT>`: GET /api/v1/client/dashboard/overview?period=…
 *   (the trend chart) and POST /api/v1/alerts/{id}/ack; answers are the platform envelope
 *   {code, message, data, …}. Ops users also get GET /api/v1/partners every 15 s (the Partners
 *   panel) and its reconciliation reports, fetched with the header and saved from a Blob
 *   (GET /api/v1/partners/{id}/reconciliations/{run_id}/report.json|csv).
 * - WebSocket /ws?token=…: subscribe to metrics, alerts and tickets; snapshots replace state,
 *   deltas (seq strictly increasing per tenant) update it; on reconnect it sends resume_from =
 *   the last seq seen and shows "resumed" when the server answers `resumed`. A close with
 *   1008 (the token expired, or asked for data it may not see) ends the session and shows the
 *   login form, since the same token would be refused again; other closes reconnect with backoff.
 *
 * Server data only ever reaches the page through textContent and attributes, never innerHTML.
 */
(function () {
  'use strict';

  // ---- limits and timings ---------------------------------------------------------------------
  const CHANNELS = ['metrics', 'alerts', 'tickets'];
  const DELTA_CHANNEL = { metrics: 'metrics', alert: 'alerts', ticket: 'tickets' };
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  /** A connection whose snapshots do not all arrive is called live this long after the first. */
  const SNAPSHOT_GRACE_MS = 3000;
  const TREND_REFRESH_MS = 60000;
  /** Partner breakers and outboxes change by the second; REST every 15 s is enough for people. */
  const PARTNERS_REFRESH_MS = 15000;
  /** An outbox whose oldest record waited longer is stuck (the VigilPartnerOutboxStuck line). */
  const OUTBOX_STUCK_MS = 15 * 60000;
  /** The server drops clients silent for 90 s: speak up every 30 s, and notice a dead link. */
  const HEARTBEAT_TICK_MS = 5000;
  const PING_EVERY_MS = 30000;
  const PONG_TIMEOUT_MS = 10000;
  const TICKETS_SHOWN = 10;
  const TICKETS_KEPT = 500;
  const ALERTS_SHOWN = 100;
  const ALERTS_KEPT = 1000;
  const PERIODS = ['1h', '24h', '7d', '30d'];
  const ROLES = ['client_admin', 'client_manager', 'client_user', 'ops', 'service'];
  const ACK_ROLES = ['client_admin', 'client_manager', 'ops'];
  const STORE = { token: 'vigil.token', tenant: 'vigil.tenant', period: 'vigil.period' };

  // ---- state ----------------------------------------------------------------------------------
  const state = {
    token: null,
    claims: null,
    tenantId: null,
    active: false,
    /** Bumped whenever a socket is abandoned, so late events of an old socket are ignored. */
    gen: 0,
    socket: null,
    conn: null,
    attempts: 0,
    reconnectTimer: 0,
    everLive: false,
    /** Highest seq seen for the tenant (what resume_from sends). */
    lastSeq: null,
    /** The channels subscribed to: all of CHANNELS unless the tickets channel is switched off
     *  for this tenant (flag ws.tickets), which the hub says when it refuses a subscription. */
    channels: CHANNELS.slice(),
    /** Seq of the newest snapshot or delta applied per channel; older messages are stale. */
    channelSeq: {},
    metrics: null,
    alerts: new Map(),
    tickets: new Map(),
    period: '24h',
    trendTimer: 0,
    trendAbort: null,
    trendRetryTimer: 0,
    chart: null,
    trendData: null,
    expiryTimer: 0,
    /** GET /api/v1/partners's list (ops only); null until loaded. */
    partners: null,
    partnersTimer: 0,
    partnersAbort: null,
  };

  const ui = {};
  const alertRows = new Map();
  const partnerRows = new Map();
  const ticketRows = new Map();
  let renderQueued = { kpis: false, alerts: false, tickets: false };
  let renderFrame = 0;

  // ---- small helpers --------------------------------------------------------------------------
  function $(id) {
    return document.getElementById(id);
  }

  /** Creates an element; strings among `children` become text nodes (never parsed as HTML). */
  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === 'className') node.className = value;
        else if (key === 'text') node.textContent = value;
        else node.setAttribute(key, value === true ? '' : String(value));
      }
    }
    for (const child of children || []) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function setText(node, text) {
    const value = text === null || text === undefined ? '' : String(text);
    if (node.textContent !== value) node.textContent = value;
  }

  function setAttr(node, name, value) {
    const v = String(value);
    if (node.getAttribute(name) !== v) node.setAttribute(name, v);
  }

  /** A lowercase token safe to use inside a class name. */
  function slug(value) {
    return String(value || '').toLowerCase().replace(/[^a-z0-9]+/g, '');
  }

  function parseTime(value) {
    if (!value) return NaN;
    const t = Date.parse(value);
    return Number.isFinite(t) ? t : NaN;
  }

  function isNum(v) {
    return typeof v === 'number' && Number.isFinite(v);
  }

  const intFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', second: '2-digit' });
  const dayTimeFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' });

  function fmtInt(v) {
    return isNum(v) ? intFormat.format(v) : '—';
  }

  /** "1 warning", "3 warnings". */
  function plural(n, one, many) {
    return fmtInt(n) + ' ' + (n === 1 ? one : many);
  }

  function fmtPercent(ratio) {
    if (!isNum(ratio)) return '—';
    const p = ratio * 100;
    if (p >= 100) return '100%';
    if (p <= 0) return '0%';
    return p.toFixed(1) + '%';
  }

  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  /** Human duration: "45s", "4m 05s", "14m", "2h 05m", "3d 04h". */
  function fmtDuration(ms) {
    if (!isNum(ms)) return '—';
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return s + 's';
    const m = Math.floor(s / 60);
    if (m < 10) return m + 'm ' + pad2(s % 60) + 's';
    if (m < 60) return m + 'm';
    const h = Math.floor(m / 60);
    if (h < 24) return h + 'h ' + pad2(m % 60) + 'm';
    const d = Math.floor(h / 24);
    return d + 'd ' + pad2(h % 24) + 'h';
  }

  /** Countdown clock: "04:59", "1:05:12", beyond a day "2d 03h". */
  function fmtClock(ms) {
    const total = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(total / 86400);
    if (d > 0) return d + 'd ' + pad2(Math.floor((total % 86400) / 3600)) + 'h';
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return (h > 0 ? h + ':' + pad2(m) : pad2(m)) + ':' + pad2(s);
  }

  function fmtAgo(t, now) {
    if (!Number.isFinite(t)) return '';
    const ms = now - t;
    if (ms < 45000) return 'just now';
    return fmtDuration(ms) + ' ago';
  }

  function fmtWhen(t, now) {
    if (!Number.isFinite(t)) return '—';
    const d = new Date(t);
    const sameDay = new Date(now).toDateString() === d.toDateString();
    return sameDay ? timeFormat.format(d) : dayTimeFormat.format(d);
  }

  // ---- token ----------------------------------------------------------------------------------
  function base64UrlDecode(segment) {
    const b64 = segment.replace(/-/g, '+').replace(/_/g, '/');
    const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
    const binary = atob(padded);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return new TextDecoder().decode(bytes);
  }

  /** The JWT's claims, unverified (the server verifies); throws with a readable reason. */
  function decodeToken(token) {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts[1]) throw new Error('This is not a JWT (expected three dot-separated parts).');
    let claims;
    try {
      claims = JSON.parse(base64UrlDecode(parts[1]));
    } catch (_) {
      throw new Error('The token payload could not be decoded.');
    }
    if (!claims || typeof claims !== 'object') throw new Error('The token payload is not an object.');
    if (!ROLES.includes(claims.role)) throw new Error('The token has no known role.');
    if (claims.role === 'service') throw new Error('A service token can only ingest events; use a client or ops token.');
    if (claims.role !== 'ops' && !/^\d+$/.test(String(claims.tenant_id))) throw new Error('The token names no tenant.');
    if (isNum(claims.exp) && claims.exp * 1000 <= Date.now()) throw new Error('This token has expired.');
    return claims;
  }

  // ---- banner ---------------------------------------------------------------------------------
  let bannerKind = null;

  function showBanner(text, kind) {
    bannerKind = kind || 'error';
    setText(ui.errorText, text);
    ui.banner.dataset.kind = bannerKind;
    ui.banner.hidden = false;
  }

  function clearBanner(kind) {
    if (kind && bannerKind !== kind) return;
    bannerKind = null;
    ui.banner.hidden = true;
    setText(ui.errorText, '');
  }

  // ---- REST -----------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, code, message, retryAfter) {
      super(message);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  function withTenant(path) {
    if (!state.claims || state.claims.role !== 'ops' || state.tenantId === null) return path;
    return path + (path.includes('?') ? '&' : '?') + 'tenant_id=' + encodeURIComponent(state.tenantId);
  }

  async function api(method, path, signal) {
    const res = await fetch(path, {
      method,
      headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' },
      cache: 'no-store',
      signal,
    });
    let body = null;
    try {
      body = await res.json();
    } catch (_) {
      body = null;
    }
    const code = body && typeof body === 'object' ? body.code : undefined;
    if (res.ok && (code === undefined || code === 200 || code === 201)) {
      return body && typeof body === 'object' && 'data' in body ? body.data : body;
    }
    throw apiError(res, body);
  }

  /** The error of a failed answer, from its envelope (`body`, null when it had none). */
  function apiError(res, body) {
    const code = body && typeof body === 'object' ? body.code : undefined;
    const message = (body && typeof body.message === 'string' && body.message) || res.statusText || 'request failed';
    return new ApiError(res.status, code, message, res.headers.get('Retry-After'));
  }

  /** Reports a failed request; answers true when the session ended (401). */
  function reportApiError(err, what) {
    if (err && err.name === 'AbortError') return false;
    if (err instanceof ApiError) {
      if (err.status === 401 || err.code === 40004) {
        endSession('Your session is no longer valid (' + err.message + '). Sign in again.');
        return true;
      }
      if (err.status === 403 || err.code === 40003) {
        showBanner(what + ': forbidden (' + err.message + ').', 'api');
      } else if (err.status === 429 || err.code === 40005) {
        const wait = parseInt(err.retryAfter, 10);
        showBanner(what + ': rate limited' + (wait > 0 ? ', retrying in ' + wait + ' s.' : '.'), 'api');
      } else {
        showBanner(what + ' failed: ' + err.message + ' (' + (err.code || err.status) + ').', 'api');
      }
      return false;
    }
    showBanner(what + ' failed: the server cannot be reached.', 'api');
    return false;
  }

  // ---- session --------------------------------------------------------------------------------
  function readStorage(key) {
    try {
      return sessionStorage.getItem(key);
    } catch (_) {
      return null;
    }
  }

  function writeStorage(key, value) {
    try {
      if (value === null || value === undefined) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, String(value));
    } catch (_) {
      /* storage disabled: the session lasts as long as the page */
    }
  }

  function showLogin(message) {
    ui.dashboard.hidden = true;
    ui.session.hidden = true;
    ui.sessionActions.hidden = true;
    ui.login.hidden = false;
    if (message) {
      setText(ui.loginError, message);
      ui.loginError.hidden = false;
    } else {
      ui.loginError.hidden = true;
    }
    ui.loginToken.value = '';
    ui.loginToken.focus();
  }

  /** Back to the login form (401/40004, an expired token, or sign out). */
  function endSession(message) {
    stopLive();
    stopPartners();
    clearTimeout(state.expiryTimer);
    state.active = false;
    state.token = null;
    state.claims = null;
    writeStorage(STORE.token, null);
    clearBanner();
    if (message) showBanner(message, 'auth');
    showLogin(null);
    announceSession();
  }

  /** Tells the settings panel (settings.js) who is signed in and which tenant is shown; again
   * whenever it asks (`vigil:session-request`, if it loads after the session started). */
  document.addEventListener('vigil:session-request', () => announceSession());
  function announceSession() {
    const detail = state.active && state.claims
      ? { token: state.token, role: state.claims.role, tenantId: state.tenantId }
      : null;
    document.dispatchEvent(new CustomEvent('vigil:session', { detail }));
  }

  function startSession(token, tenantHint) {
    let claims;
    try {
      claims = decodeToken(token);
    } catch (err) {
      writeStorage(STORE.token, null);
      showLogin(err.message);
      return;
    }
    stopLive();
    state.token = token;
    state.claims = claims;
    state.active = true;
    writeStorage(STORE.token, token);
    clearBanner('auth');

    ui.login.hidden = true;
    ui.session.hidden = false;
    ui.sessionActions.hidden = false;
    ui.dashboard.hidden = false;
    setText(ui.sessionRole, claims.role);
    setText(ui.sessionSub, claims.sub || '—');
    ui.sessionSub.parentElement.hidden = !claims.sub;

    clearTimeout(state.expiryTimer);
    if (isNum(claims.exp)) {
      const ms = Math.min(claims.exp * 1000 - Date.now(), 0x7fffffff);
      state.expiryTimer = setTimeout(() => endSession('Your token has expired. Sign in again.'), Math.max(0, ms));
    }

    // An ops user picks the tenant in the header's field, which then shows it.
    ui.tenantChip.hidden = claims.role === 'ops';
    if (claims.role === 'ops') {
      ui.tenantPicker.hidden = false;
      const hint = tenantHint && /^\d+$/.test(tenantHint) ? tenantHint : null;
      watchTenant(hint === null ? null : Number(hint));
    } else {
      ui.tenantPicker.hidden = true;
      watchTenant(Number(claims.tenant_id));
    }
    startPartners();
  }

  /** Starts (or restarts) the live view of one tenant; null: an ops user still has to pick. */
  function watchTenant(tenantId) {
    stopLive();
    resetData();
    state.tenantId = tenantId;
    // Another tenant may have the tickets channel: ask for everything again.
    state.channels = CHANNELS.slice();
    setText(ui.sessionTenant, tenantId === null ? '—' : String(tenantId));
    if (state.claims && state.claims.role === 'ops') {
      writeStorage(STORE.tenant, tenantId);
      ui.tenantInput.value = tenantId === null ? '' : String(tenantId);
      const url = new URL(location.href);
      if (tenantId === null) url.searchParams.delete('tenant_id');
      else url.searchParams.set('tenant_id', String(tenantId));
      history.replaceState(history.state, '', url.pathname + url.search + url.hash);
    }
    ui.pickTenant.hidden = tenantId !== null;
    ui.conn.hidden = tenantId === null;
    renderAll();
    announceSession();
    if (tenantId === null) {
      ui.tenantInput.focus();
      return;
    }
    connect();
    loadTrend();
    state.trendTimer = setInterval(loadTrend, TREND_REFRESH_MS);
  }

  function resetData() {
    state.lastSeq = null;
    state.channelSeq = {};
    state.metrics = null;
    state.alerts = new Map();
    state.tickets = new Map();
    state.everLive = false;
    state.attempts = 0;
    state.trendData = null;
    if (state.chart) {
      state.chart.destroy();
      state.chart = null;
    }
    ui.trendEmpty.hidden = false;
    setText(ui.trendEmpty, 'Loading…');
    setText(ui.trendSummary, '\u00a0');
  }

  /** Closes the socket and stops every timer of the live view. */
  function stopLive() {
    state.gen++;
    clearTimeout(state.reconnectTimer);
    clearInterval(state.trendTimer);
    clearTimeout(state.trendRetryTimer);
    if (state.trendAbort) state.trendAbort.abort();
    state.trendAbort = null;
    if (state.conn) {
      clearInterval(state.conn.heartbeat);
      clearTimeout(state.conn.graceTimer);
    }
    state.conn = null;
    if (state.socket) {
      try {
        state.socket.close(1000, 'bye');
      } catch (_) {
        /* already closed */
      }
    }
    state.socket = null;
  }

  // ---- WebSocket ------------------------------------------------------------------------------
  function setConn(status) {
    // The indicator's text is exactly one word; the ellipsis of "reconnecting…" is drawn by CSS.
    setText(ui.connStatus, status);
    setAttr(ui.conn, 'data-state', status);
  }

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + location.host + '/ws?token=' + encodeURIComponent(state.token);
  }

  function connect() {
    clearTimeout(state.reconnectTimer);
    const gen = ++state.gen;
    setConn(state.everLive ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(wsUrl());
    } catch (_) {
      scheduleReconnect(gen);
      return;
    }
    const conn = {
      opened: false,
      live: false,
      resumed: false,
      snapshots: new Set(),
      lastMessageAt: Date.now(),
      lastPingAt: Date.now(),
      pingSentAt: 0,
      heartbeat: 0,
      graceTimer: 0,
    };
    state.socket = ws;
    state.conn = conn;

    ws.addEventListener('open', () => {
      if (gen !== state.gen) return;
      conn.opened = true;
      conn.lastMessageAt = Date.now();
      sendSubscribe(ws);
      conn.heartbeat = setInterval(() => heartbeat(ws, conn), HEARTBEAT_TICK_MS);
    });
    ws.addEventListener('message', (ev) => {
      if (gen !== state.gen) return;
      conn.lastMessageAt = Date.now();
      conn.pingSentAt = 0;
      onMessage(conn, ev.data);
    });
    ws.addEventListener('close', (ev) => {
      clearInterval(conn.heartbeat);
      clearTimeout(conn.graceTimer);
      if (gen !== state.gen) return;
      state.socket = null;
      onClosed(conn, ev, gen);
    });
  }

  function heartbeat(ws, conn) {
    if (ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (conn.pingSentAt && now - conn.pingSentAt > PONG_TIMEOUT_MS) {
      // No answer to our ping: the link is dead even if the browser has not noticed yet. Drop
      // the socket without waiting for a closing handshake that may never come.
      const gen = ++state.gen;
      clearInterval(conn.heartbeat);
      state.socket = null;
      try {
        ws.close(4000, 'no pong');
      } catch (_) {
        /* already closing */
      }
      onClosed(conn, { code: 4000, reason: 'no pong' }, gen);
      return;
    }
    if (now - conn.lastPingAt >= PING_EVERY_MS) {
      conn.lastPingAt = now;
      // Any message proves the link; only a ping sent into silence starts the pong timeout.
      if (!conn.pingSentAt && now - conn.lastMessageAt >= PONG_TIMEOUT_MS) conn.pingSentAt = now;
      ws.send(JSON.stringify({ op: 'ping' }));
    }
  }

  function onClosed(conn, ev, gen) {
    if (!state.active) return;
    if (ev.code === 1008) {
      // Policy: the token expired or may not see this data. Reconnecting with the same token
      // would be refused again, so ask for a new one instead of retrying in a loop.
      const why = ev.reason === 'token expired' ? 'Your token has expired.' :
        'The server closed the live connection' + (ev.reason ? ' (' + ev.reason + ').' : '.');
      endSession(why + ' Sign in again with a new token.');
      return;
    }
    if (conn.live) {
      showBanner('Live connection lost; reconnecting.', 'conn');
    }
    setConn(state.everLive ? 'reconnecting' : 'connecting');
    if (!conn.opened) {
      // A refused upgrade hides its HTTP status from scripts: ask the API whether the token
      // still works (a 401 there ends the session), and refresh the chart while at it.
      loadTrend();
    }
    scheduleReconnect(gen);
  }

  function scheduleReconnect(gen) {
    if (gen !== state.gen || !state.active) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, state.attempts));
    const delay = Math.min(BACKOFF_MAX_MS, Math.round(base * (0.8 + Math.random() * 0.4)));
    state.attempts++;
    clearTimeout(state.reconnectTimer);
    state.reconnectTimer = setTimeout(() => {
      if (gen === state.gen && state.active) connect();
    }, delay);
  }

  /** Reconnects now (page visible again, network back) instead of waiting out the backoff. */
  function reconnectSoon() {
    if (!state.active || state.tenantId === null || state.socket) return;
    state.attempts = 0;
    connect();
  }

  function forThisTenant(msg) {
    return msg.tenant_id === undefined || msg.tenant_id === null || Number(msg.tenant_id) === state.tenantId;
  }

  function noteSeq(seq) {
    if (isNum(seq) && (state.lastSeq === null || seq > state.lastSeq)) state.lastSeq = seq;
  }

  function markLive(conn, status) {
    if (conn !== state.conn) return;
    clearTimeout(conn.graceTimer);
    const reconnected = state.everLive;
    conn.live = true;
    state.attempts = 0;
    state.everLive = true;
    setConn(status);
    clearBanner('conn');
    if (reconnected) loadTrend();
  }

  function onMessage(conn, raw) {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch (_) {
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    switch (msg.type) {
      case 'pong':
        return;
      case 'error':
        onServerError(msg);
        return;
      case 'resumed':
        if (!forThisTenant(msg)) return;
        conn.resumed = true;
        noteSeq(msg.seq);
        markLive(conn, 'resumed');
        return;
      case 'snapshot':
        if (!forThisTenant(msg) || !CHANNELS.includes(msg.channel)) return;
        applySnapshot(msg.channel, msg.data, msg.seq);
        noteSeq(msg.seq);
        conn.snapshots.add(msg.channel);
        if (!conn.live) {
          if (state.channels.every((c) => conn.snapshots.has(c))) markLive(conn, 'live');
          else if (!conn.graceTimer) conn.graceTimer = setTimeout(() => markLive(conn, 'live'), SNAPSHOT_GRACE_MS);
        }
        return;
      case 'metrics':
      case 'alert':
      case 'ticket': {
        if (!forThisTenant(msg)) return;
        const channel = DELTA_CHANNEL[msg.type];
        const last = state.channelSeq[channel];
        // A snapshot already holds every change up to its seq.
        if (isNum(msg.seq) && isNum(last) && msg.seq <= last) return;
        if (isNum(msg.seq)) state.channelSeq[channel] = msg.seq;
        noteSeq(msg.seq);
        applyDelta(msg.type, msg.data);
        return;
      }
      default:
        return;
    }
  }

  function sendSubscribe(ws) {
    const subscribe = { op: 'subscribe', channels: state.channels.slice() };
    if (state.claims.role === 'ops') subscribe.tenant_ids = [state.tenantId];
    if (state.lastSeq !== null) subscribe.resume_from = state.lastSeq;
    ws.send(JSON.stringify(subscribe));
  }

  function onServerError(msg) {
    const code = msg.code;
    const text = typeof msg.message === 'string' ? msg.message : 'error';
    // The tickets channel is switched off for this tenant: follow the rest without it.
    if (code === 40001 && text.includes('flag ws.tickets') && state.channels.includes('tickets') && state.socket) {
      state.channels = state.channels.filter((c) => c !== 'tickets');
      sendSubscribe(state.socket);
      showBanner('Ticket clocks are switched off for this tenant (flag ws.tickets); the other live figures go on.', 'info');
      return;
    }
    if (code === 40004) {
      endSession('Your session is no longer valid (' + text + '). Sign in again.');
      return;
    }
    const what = code === 40003 ? 'Forbidden' : code === 40001 ? 'Bad request' : 'Server error';
    showBanner(what + (code ? ' (' + code + ')' : '') + ': ' + text, 'server');
  }

  // ---- state updates --------------------------------------------------------------------------
  function applySnapshot(channel, data, seq) {
    if (isNum(seq)) state.channelSeq[channel] = seq;
    if (channel === 'metrics') {
      state.metrics = data && typeof data === 'object' ? data : null;
      queueRender('kpis');
    } else if (channel === 'alerts') {
      state.alerts = new Map();
      for (const a of (data && Array.isArray(data.alerts) ? data.alerts : [])) upsertAlert(a);
      queueRender('alerts');
    } else if (channel === 'tickets') {
      state.tickets = new Map();
      for (const t of (data && Array.isArray(data.tickets) ? data.tickets : [])) upsertTicket(t);
      queueRender('tickets');
    }
  }

  function applyDelta(type, data) {
    if (!data || typeof data !== 'object') return;
    if (type === 'metrics') {
      state.metrics = data;
      queueRender('kpis');
    } else if (type === 'alert') {
      upsertAlert(data);
      queueRender('alerts');
    } else if (type === 'ticket') {
      upsertTicket(data);
      queueRender('tickets');
    }
  }

  const OPEN_STATES = { firing: 0, acknowledged: 1 };

  /** Adds or updates an alert by id; resolved and retracted ones leave the list. */
  function upsertAlert(a) {
    if (!a || typeof a !== 'object' || a.alert_id === undefined || a.alert_id === null) return;
    const id = String(a.alert_id);
    if (!(a.state in OPEN_STATES)) {
      state.alerts.delete(id);
      return;
    }
    const old = state.alerts.get(id);
    if (old && OPEN_STATES[a.state] < OPEN_STATES[old.state]) {
      // A firing record older than the acknowledgement we already hold (e.g. our own ack's
      // answer overtook the socket) must not bring the button back.
      const tNew = parseTime(a.updated_at);
      const tOld = parseTime(old.updated_at);
      if (!(tNew > tOld)) return;
    }
    const merged = Object.assign({}, old, a);
    if (merged.state === 'acknowledged' && !merged.acked_by && old && old.acked_by) merged.acked_by = old.acked_by;
    state.alerts.set(id, merged);
    if (state.alerts.size > ALERTS_KEPT) {
      const oldest = sortedAlerts().pop();
      if (oldest) state.alerts.delete(String(oldest.alert_id));
    }
  }

  function upsertTicket(t) {
    if (!t || typeof t !== 'object' || t.ticket_id === undefined || t.ticket_id === null) return;
    const id = String(t.ticket_id);
    if (t.closed) {
      state.tickets.delete(id);
      return;
    }
    state.tickets.set(id, t);
    if (state.tickets.size > TICKETS_KEPT) {
      const last = sortedTickets(Date.now()).pop();
      if (last) state.tickets.delete(String(last.ticket.ticket_id));
    }
  }

  // ---- rendering ------------------------------------------------------------------------------
  function queueRender(part) {
    renderQueued[part] = true;
    if (renderFrame) return;
    // Coalesce bursts (a resume replays many alerts) into one DOM update; a timer rather than
    // requestAnimationFrame so hidden tabs stay current too.
    renderFrame = setTimeout(() => {
      renderFrame = 0;
      const q = renderQueued;
      renderQueued = { kpis: false, alerts: false, tickets: false };
      if (q.kpis) renderKpis();
      if (q.alerts) renderAlerts();
      if (q.tickets) renderTickets();
    }, 0);
  }

  function renderAll() {
    renderKpis();
    renderAlerts();
    renderTickets();
  }

  function complianceLevel(ratio) {
    if (!isNum(ratio)) return 'none';
    if (ratio >= 0.95) return 'good';
    if (ratio >= 0.85) return 'warn';
    return 'bad';
  }

  function goalNote(goal) {
    if (!goal || typeof goal !== 'object') return '24 h';
    const met = isNum(goal.met) ? goal.met : 0;
    const breached = isNum(goal.breached) ? goal.breached : 0;
    if (met + breached === 0) return '24 h · none measured';
    return '24 h · ' + fmtInt(met) + ' met · ' + fmtInt(breached) + ' breached';
  }

  function renderKpis() {
    const m = state.metrics || {};
    const w = (m.windows && m.windows['24h']) || {};
    const resp = w.response || {};
    const resol = w.resolution || {};
    setText(ui.kpi.open, fmtInt(m.open));
    setText(ui.kpi.pending, fmtInt(m.pending));
    setText(ui.kpi.resolvedToday, fmtInt(m.resolved_today));
    setText(ui.kpi.responseCompliance, fmtPercent(resp.compliance));
    setText(ui.kpi.resolutionCompliance, fmtPercent(resol.compliance));
    setText(ui.kpi.meanResponse, fmtDuration(resp.mean_ms));
    setText(ui.kpi.meanResolution, fmtDuration(resol.mean_ms));
    setText(ui.kpi.breaches, fmtInt(w.breaches));
    setAttr(ui.kpi.breaches, 'data-level', isNum(w.breaches) ? (w.breaches > 0 ? 'bad' : 'good') : 'none');
    setAttr(ui.kpi.responseCompliance, 'data-level', complianceLevel(resp.compliance));
    setAttr(ui.kpi.resolutionCompliance, 'data-level', complianceLevel(resol.compliance));

    if (!state.metrics) {
      for (const note of Object.values(ui.kpiNote)) setText(note, '\u00a0');
      setText(ui.lastUpdate, state.tenantId === null ? '' : 'Waiting for live figures…');
      return;
    }
    setText(ui.kpiNote.open, isNum(m.oldest_open_age_ms) && m.open > 0 ? 'oldest ' + fmtDuration(m.oldest_open_age_ms) : 'open tickets');
    setText(ui.kpiNote.pending, isNum(m.on_hold) ? fmtInt(m.on_hold) + ' on hold' : 'awaiting customer');
    setText(ui.kpiNote.resolvedToday, isNum(w.created) ? fmtInt(w.created) + ' created in 24 h' : 'since midnight');
    setText(ui.kpiNote.responseCompliance, goalNote(resp));
    setText(ui.kpiNote.resolutionCompliance, goalNote(resol));
    setText(ui.kpiNote.meanResponse, '24 h' + (isNum(resp.p95_ms) ? ' · p95 ' + fmtDuration(resp.p95_ms) : ''));
    setText(ui.kpiNote.meanResolution, '24 h' + (isNum(resol.p95_ms) ? ' · p95 ' + fmtDuration(resol.p95_ms) : ''));
    setText(ui.kpiNote.breaches, '24 h' + (isNum(w.warnings) ? ' · ' + plural(w.warnings, 'warning', 'warnings') : ''));
    const at = parseTime(m.at);
    setText(ui.lastUpdate, 'Live figures as of ' + (Number.isFinite(at) ? timeFormat.format(new Date(at)) : '—') +
      (state.lastSeq !== null ? ' · seq ' + state.lastSeq : ''));
  }

  function sortedAlerts() {
    return Array.from(state.alerts.values()).sort((a, b) => {
      const ta = parseTime(a.fired_at);
      const tb = parseTime(b.fired_at);
      return (Number.isFinite(tb) ? tb : 0) - (Number.isFinite(ta) ? ta : 0);
    });
  }

  function canAck() {
    return !!state.claims && ACK_ROLES.includes(state.claims.role);
  }

  function buildAlertRow(id) {
    const parts = {};
    parts.level = el('span', { className: 'badge' });
    parts.ticket = el('span', { className: 'alert-ticket' });
    parts.goal = el('span', { className: 'alert-goal' });
    parts.priority = el('span', { className: 'badge badge-outline' });
    parts.fired = el('span', { className: 'alert-fired' });
    parts.target = el('span', { className: 'alert-target' });
    parts.ackInfo = el('span', { className: 'alert-acked' });
    parts.button = el('button', { type: 'button', className: 'btn btn-small btn-primary', 'data-testid': 'ack-button' }, ['Acknowledge']);
    parts.button.addEventListener('click', () => acknowledge(id, parts.button));
    const li = el('li', { className: 'alert-row', 'data-testid': 'alert-row', 'data-alert-id': id }, [
      el('div', { className: 'alert-main' }, [
        el('div', { className: 'alert-line' }, [parts.level, parts.ticket, parts.goal, parts.priority]),
        el('div', { className: 'alert-meta muted' }, [parts.fired, parts.target]),
      ]),
      el('div', { className: 'alert-action' }, [parts.button, parts.ackInfo]),
    ]);
    return { li, parts };
  }

  function renderAlerts() {
    const alerts = sortedAlerts();
    const shown = alerts.slice(0, ALERTS_SHOWN);
    const keep = new Set();
    const now = Date.now();
    shown.forEach((a, i) => {
      const id = String(a.alert_id);
      keep.add(id);
      let row = alertRows.get(id);
      if (!row) {
        row = buildAlertRow(id);
        alertRows.set(id, row);
      }
      updateAlertRow(row, a, now);
      const current = ui.alertsList.children[i];
      if (current !== row.li) ui.alertsList.insertBefore(row.li, current || null);
    });
    for (const [id, row] of alertRows) {
      if (!keep.has(id)) {
        row.li.remove();
        alertRows.delete(id);
      }
    }
    const firing = alerts.filter((a) => a.state === 'firing').length;
    setText(ui.alertsCount, alerts.length > ALERTS_SHOWN ? ALERTS_SHOWN + ' of ' + alerts.length : String(alerts.length));
    setAttr(ui.alertsCount, 'data-firing', firing > 0 ? 'yes' : 'no');
    ui.alertsEmpty.hidden = alerts.length > 0;
  }

  function updateAlertRow(row, a, now) {
    const { li, parts } = row;
    row.alert = a;
    setAttr(li, 'data-state', a.state);
    setAttr(li, 'data-level', slug(a.level) || 'warning');
    const level = a.level === 'breach' ? 'Breach' : 'Warning';
    setText(parts.level, level);
    parts.level.className = 'badge badge-' + (slug(a.level) || 'warning');
    setText(parts.ticket, a.ticket_id || '—');
    setText(parts.goal, a.goal ? a.goal : '');
    setText(parts.priority, a.priority || '');
    parts.priority.hidden = !a.priority;
    parts.priority.className = 'badge badge-outline prio-' + slug(a.priority);
    updateAlertTimes(row, now);
    setText(parts.target, isNum(a.target_ms) ? 'target ' + fmtDuration(a.target_ms) : '');
    if (a.state === 'acknowledged') {
      parts.button.hidden = true;
      parts.ackInfo.hidden = false;
      setText(parts.ackInfo, 'acknowledged by ' + (a.acked_by || 'someone'));
      parts.ackInfo.title = a.acked_at ? 'at ' + new Date(parseTime(a.acked_at)).toLocaleString() : '';
    } else {
      parts.ackInfo.hidden = true;
      parts.button.hidden = false;
      if (!canAck()) {
        parts.button.disabled = true;
        parts.button.title = 'Your role (' + state.claims.role + ') cannot acknowledge alerts';
      } else if (!row.pending) {
        parts.button.disabled = false;
        setText(parts.button, 'Acknowledge');
      }
    }
  }

  function updateAlertTimes(row, now) {
    const t = parseTime(row.alert.fired_at);
    setText(row.parts.fired, 'fired ' + fmtWhen(t, now) + (Number.isFinite(t) ? ' · ' + fmtAgo(t, now) : ''));
    if (Number.isFinite(t)) row.parts.fired.title = new Date(t).toLocaleString();
  }

  async function acknowledge(id, button) {
    const row = alertRows.get(id);
    const tenantId = state.tenantId;
    if (row) row.pending = true;
    button.disabled = true;
    setText(button, 'Acknowledging…');
    try {
      const data = await api('POST', '/api/v1/alerts/' + encodeURIComponent(id) + '/ack');
      const record = data && typeof data === 'object' && data.alert && typeof data.alert === 'object' ? data.alert : data;
      if (!state.active || state.tenantId !== tenantId) return;
      if (record && typeof record === 'object' && record.alert_id !== undefined) {
        upsertAlert(record);
      } else {
        const old = state.alerts.get(id);
        if (old) upsertAlert(Object.assign({}, old, { state: 'acknowledged', acked_by: (state.claims && state.claims.sub) || null }));
      }
      clearBanner('api');
    } catch (err) {
      reportApiError(err, 'Acknowledging the alert');
    } finally {
      if (row) row.pending = false;
      if (state.active) renderAlerts();
    }
  }

  /**
   * The goal whose clock runs out first (a goal already past its target only when no other
   * runs: the next breach matters more than one that happened), or a paused one when none runs.
   */
  function nextGoal(ticket, now) {
    const goals = Array.isArray(ticket.goals) ? ticket.goals : [];
    let best = null;
    let overdue = null;
    let paused = null;
    for (const g of goals) {
      if (!g || typeof g !== 'object' || (g.outcome !== null && g.outcome !== undefined)) continue;
      const deadline = parseTime(g.deadline);
      if (g.paused || !Number.isFinite(deadline)) {
        if (g.paused && !paused) paused = g;
        continue;
      }
      if (typeof g.remaining_ms === 'number' && g.remaining_ms <= 0) {
        if (!overdue || deadline < overdue.deadline) overdue = { goal: g, deadline, paused: false };
        continue;
      }
      if (!best || deadline < best.deadline) best = { goal: g, deadline, paused: false };
    }
    if (best) return best;
    if (overdue) return overdue;
    if (paused) return { goal: paused, deadline: NaN, paused: true };
    const fallback = parseTime(ticket.next_deadline);
    if (Number.isFinite(fallback)) return { goal: null, deadline: fallback, paused: false };
    return null;
  }

  function sortedTickets(now) {
    const rows = [];
    for (const t of state.tickets.values()) {
      const next = nextGoal(t, now);
      if (next) rows.push({ ticket: t, next });
    }
    rows.sort((a, b) => {
      const da = a.next.paused ? Infinity : a.next.deadline;
      const db = b.next.paused ? Infinity : b.next.deadline;
      if (da !== db) return da < db ? -1 : 1;
      return String(a.ticket.ticket_id) < String(b.ticket.ticket_id) ? -1 : 1;
    });
    return rows;
  }

  function buildTicketRow(id) {
    const parts = {};
    parts.id = el('span', { className: 'ticket-id' }, [id]);
    parts.priority = el('span', { className: 'badge badge-outline' });
    parts.status = el('span', { className: 'ticket-status muted' });
    parts.goal = el('span', { className: 'ticket-goal muted' });
    parts.clock = el('span', { className: 'clock', 'data-testid': 'ticket-clock' });
    parts.clockNote = el('span', { className: 'clock-note muted' });
    parts.fill = el('span', { className: 'bar-fill' });
    const li = el('li', { className: 'ticket-row', 'data-testid': 'ticket-row', 'data-ticket-id': id }, [
      el('div', { className: 'ticket-main' }, [
        el('div', { className: 'ticket-line' }, [parts.id, parts.priority]),
        el('div', { className: 'ticket-sub' }, [parts.status, parts.goal]),
      ]),
      el('div', { className: 'ticket-clock' }, [parts.clock, parts.clockNote]),
      el('div', { className: 'bar', 'aria-hidden': 'true' }, [parts.fill]),
    ]);
    return { li, parts };
  }

  function renderTickets() {
    const now = Date.now();
    const rows = sortedTickets(now);
    const shown = rows.slice(0, TICKETS_SHOWN);
    const keep = new Set();
    shown.forEach((r, i) => {
      const id = String(r.ticket.ticket_id);
      keep.add(id);
      let row = ticketRows.get(id);
      if (!row) {
        row = buildTicketRow(id);
        ticketRows.set(id, row);
      }
      row.ticket = r.ticket;
      row.next = r.next;
      const t = r.ticket;
      setText(row.parts.priority, t.priority || '');
      row.parts.priority.hidden = !t.priority;
      row.parts.priority.className = 'badge badge-outline prio-' + slug(t.priority);
      setText(row.parts.status, [t.status, t.service_type].filter(Boolean).join(' · '));
      updateTicketClock(row, now);
      const current = ui.ticketsList.children[i];
      if (current !== row.li) ui.ticketsList.insertBefore(row.li, current || null);
    });
    for (const [id, row] of ticketRows) {
      if (!keep.has(id)) {
        row.li.remove();
        ticketRows.delete(id);
      }
    }
    ui.ticketsEmpty.hidden = shown.length > 0;
    setText(ui.ticketsTotal, rows.length > TICKETS_SHOWN ? 'top ' + TICKETS_SHOWN + ' of ' + fmtInt(rows.length) : '');
  }

  function updateTicketClock(row, now) {
    const { parts, next } = row;
    const goal = next.goal || {};
    const goalName = goal.goal ? goal.goal : 'next goal';
    if (next.paused) {
      setText(parts.clock, 'paused');
      setText(parts.clockNote, isNum(goal.remaining_ms) ? fmtDuration(goal.remaining_ms) + ' left' : '');
      setText(parts.goal, goalName + ' clock paused');
      setAttr(row.li, 'data-clock', 'paused');
      parts.fill.style.width = Math.min(100, Math.max(0, isNum(goal.percent) ? goal.percent : 0)) + '%';
      return;
    }
    const remaining = next.deadline - now;
    let percent = isNum(goal.percent) ? goal.percent : 0;
    if (isNum(goal.target_ms) && goal.target_ms > 0) {
      percent = Math.max(percent, 100 * (1 - remaining / goal.target_ms));
    }
    let level = 'ok';
    if (remaining <= 0) level = 'over';
    else if (percent >= 80) level = 'warn';
    setAttr(row.li, 'data-clock', level);
    setText(parts.clock, (remaining <= 0 ? '−' : '') + fmtClock(remaining));
    setText(parts.clockNote, remaining <= 0 ? 'overdue' : 'left');
    setText(parts.goal, goalName + (remaining <= 0 ? ' was due ' : ' due ') + fmtWhen(next.deadline, now));
    parts.fill.style.width = Math.min(100, Math.max(0, percent)).toFixed(1) + '%';
  }

  function tick() {
    if (!state.active) return;
    const now = Date.now();
    for (const row of ticketRows.values()) updateTicketClock(row, now);
    for (const row of alertRows.values()) updateAlertTimes(row, now);
  }

  // ---- trend chart ----------------------------------------------------------------------------
  async function loadTrend() {
    if (!state.active || state.tenantId === null) return;
    if (state.trendAbort) state.trendAbort.abort();
    clearTimeout(state.trendRetryTimer);
    const abort = new AbortController();
    state.trendAbort = abort;
    const period = state.period;
    try {
      const data = await api('GET', withTenant('/api/v1/client/dashboard/overview?period=' + encodeURIComponent(period)), abort.signal);
      if (abort.signal.aborted || !state.active) return;
      state.trendData = { period, data: data || {} };
      renderTrend();
      clearBanner('api');
    } catch (err) {
      if (abort.signal.aborted) return;
      const ended = reportApiError(err, 'Loading the compliance trend');
      if (!ended && err instanceof ApiError && (err.status === 429 || err.code === 40005)) {
        const wait = Math.min(60, Math.max(1, parseInt(err.retryAfter, 10) || 5));
        state.trendRetryTimer = setTimeout(loadTrend, wait * 1000);
      }
      if (!state.trendData && !ended) setText(ui.trendEmpty, 'The trend could not be loaded.');
    } finally {
      if (state.trendAbort === abort) state.trendAbort = null;
    }
  }

  function cssVar(name, fallback) {
    const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return v || fallback;
  }

  function chartHeight() {
    return window.matchMedia('(max-width: 600px)').matches ? 200 : 260;
  }

  function chartWidth() {
    return Math.max(200, Math.floor(ui.chart.clientWidth));
  }

  function renderTrend() {
    const td = state.trendData;
    if (!td) return;
    const overview = td.data;
    const trends = Array.isArray(overview.trends) ? overview.trends : [];
    const xs = [];
    const resp = [];
    const resol = [];
    for (const p of trends) {
      const t = parseTime(p && p.at);
      if (!Number.isFinite(t)) continue;
      xs.push(t / 1000);
      resp.push(isNum(p.response_compliance) ? p.response_compliance * 100 : null);
      resol.push(isNum(p.resolution_compliance) ? p.resolution_compliance * 100 : null);
    }
    const s = overview.summary || {};
    const bits = [];
    bits.push('Response ' + fmtPercent(s.response_compliance));
    bits.push('resolution ' + fmtPercent(s.resolution_compliance));
    if (isNum(s.breaches)) bits.push(plural(s.breaches, 'breach', 'breaches'));
    if (isNum(s.warnings)) bits.push(plural(s.warnings, 'warning', 'warnings'));
    const updated = parseTime(overview.last_updated);
    if (Number.isFinite(updated)) bits.push('updated ' + timeFormat.format(new Date(updated)));
    setText(ui.trendSummary, 'Last ' + td.period + ': ' + bits.join(' · '));

    const measured = resp.some((v) => v !== null) || resol.some((v) => v !== null);
    if (xs.length === 0) {
      if (state.chart) {
        state.chart.destroy();
        state.chart = null;
      }
      ui.trendEmpty.hidden = false;
      setText(ui.trendEmpty, 'No data for this period yet.');
      return;
    }
    ui.trendEmpty.hidden = measured;
    setText(ui.trendEmpty, 'Nothing measured in this period yet.');
    if (typeof window.uPlot !== 'function') {
      ui.trendEmpty.hidden = false;
      setText(ui.trendEmpty, 'The chart library did not load.');
      return;
    }
    const data = [xs, resp, resol];
    if (state.chart && state.chart.vigilPeriod === td.period) {
      state.chart.setData(data);
      return;
    }
    if (state.chart) state.chart.destroy();
    state.chart = makeChart(data, td.period);
  }

  function makeChart(data, period) {
    const text = cssVar('--muted', '#64748b');
    const grid = cssVar('--grid', '#e2e8f0');
    const respColor = cssVar('--series-1', '#2563eb');
    const resolColor = cssVar('--series-2', '#0d9488');
    const pct = (u, v) => (v === null || v === undefined ? '—' : v.toFixed(1) + '%');
    const axisFont = '12px ' + cssVar('--font', 'system-ui, sans-serif');
    const opts = {
      width: chartWidth(),
      height: chartHeight(),
      padding: [12, 20, 0, 4],
      cursor: { drag: { x: false, y: false }, points: { size: 7 } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: {
          range: (u, min, max) => {
            const lo = isNum(min) ? Math.max(0, Math.floor((Math.min(min, 90) - 5) / 10) * 10) : 0;
            return [lo, 100];
          },
        },
      },
      series: [
        { value: (u, v) => (v === null || v === undefined ? '—' : new Date(v * 1000).toLocaleString()) },
        { label: 'Response', stroke: respColor, width: 2, value: pct, points: { size: 5, fill: respColor }, spanGaps: false },
        { label: 'Resolution', stroke: resolColor, width: 2, value: pct, points: { size: 5, fill: resolColor }, spanGaps: false },
      ],
      axes: [
        { stroke: text, font: axisFont, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } },
        {
          stroke: text,
          font: axisFont,
          size: 48,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          values: (u, vals) => vals.map((v) => v + '%'),
        },
      ],
    };
    const chart = new window.uPlot(opts, data, ui.chart);
    chart.vigilPeriod = period;
    return chart;
  }

  function resizeChart() {
    if (state.chart) state.chart.setSize({ width: chartWidth(), height: chartHeight() });
  }

  function setPeriod(period) {
    if (!PERIODS.includes(period)) return;
    state.period = period;
    writeStorage(STORE.period, period);
    for (const b of ui.periodButtons) setAttr(b, 'aria-pressed', b.dataset.period === period ? 'true' : 'false');
    loadTrend();
  }

  // ---- partners (ops) -------------------------------------------------------------------------
  function isOps() {
    return !!state.claims && state.claims.role === 'ops' && state.active;
  }

  /** Polls GET /api/v1/partners while an ops user is signed in; others never see the panel. */
  function startPartners() {
    stopPartners();
    if (!isOps()) return;
    loadPartners();
    state.partnersTimer = setInterval(loadPartners, PARTNERS_REFRESH_MS);
  }

  function stopPartners() {
    clearInterval(state.partnersTimer);
    state.partnersTimer = 0;
    if (state.partnersAbort) state.partnersAbort.abort();
    state.partnersAbort = null;
    state.partners = null;
    for (const row of partnerRows.values()) row.li.remove();
    partnerRows.clear();
    if (ui.partners) ui.partners.hidden = true;
  }

  async function loadPartners() {
    // One request at a time: a slow answer is not overtaken by the next tick's.
    if (!isOps() || state.partnersAbort) return;
    const abort = new AbortController();
    state.partnersAbort = abort;
    try {
      const data = await api('GET', '/api/v1/partners', abort.signal);
      if (abort.signal.aborted || !isOps()) return;
      state.partners = data && Array.isArray(data.partners) ? data.partners : [];
      renderPartners(Date.now());
      clearBanner('api');
    } catch (err) {
      if (abort.signal.aborted) return;
      reportApiError(err, 'Loading the partners');
    } finally {
      if (state.partnersAbort === abort) state.partnersAbort = null;
    }
  }

  const BREAKER_TEXT = { closed: 'closed', open: 'open', half_open: 'half-open' };
  const BREAKER_BADGE = { closed: 'badge-good', open: 'badge-breach', half_open: 'badge-warning' };

  function buildPartnerRow(id) {
    const parts = {};
    parts.id = el('span', { className: 'partner-id' }, [id]);
    parts.breaker = el('span', { className: 'badge', 'data-testid': 'partner-breaker' });
    parts.until = el('span', { className: 'partner-until muted' });
    parts.waiting = el('span', { 'data-testid': 'partner-waiting' });
    parts.parked = el('span', { className: 'partner-parked', 'data-testid': 'partner-parked' });
    parts.oldest = el('span', { className: 'partner-oldest' });
    parts.recon = el('span', { 'data-testid': 'partner-reconciliation' });
    parts.counts = el('span', { className: 'partner-counts' });
    parts.json = el('button', { type: 'button', className: 'btn btn-small', 'data-testid': 'report-json' }, ['JSON']);
    parts.csv = el('button', { type: 'button', className: 'btn btn-small', 'data-testid': 'report-csv' }, ['CSV']);
    const li = el('li', { className: 'partner-row', 'data-testid': 'partner-row', 'data-partner-id': id }, [
      el('div', { className: 'partner-main' }, [
        el('div', { className: 'partner-line' }, [parts.id, parts.breaker, parts.until]),
        el('div', { className: 'partner-meta muted' }, [parts.waiting, parts.parked, parts.oldest]),
        el('div', { className: 'partner-meta muted' }, [parts.recon, parts.counts]),
      ]),
      el('div', { className: 'partner-action', role: 'group', 'aria-label': 'Latest reconciliation report' }, [
        parts.json,
        parts.csv,
      ]),
    ]);
    const row = { li, parts, partner: null };
    parts.json.addEventListener('click', () => downloadReport(row, 'json', parts.json));
    parts.csv.addEventListener('click', () => downloadReport(row, 'csv', parts.csv));
    return row;
  }

  function renderPartners(now) {
    const partners = state.partners || [];
    const keep = new Set();
    partners.forEach((p, i) => {
      if (!p || typeof p !== 'object' || typeof p.id !== 'string') return;
      keep.add(p.id);
      let row = partnerRows.get(p.id);
      if (!row) {
        row = buildPartnerRow(p.id);
        partnerRows.set(p.id, row);
      }
      updatePartnerRow(row, p, now);
      const current = ui.partnersList.children[i];
      if (current !== row.li) ui.partnersList.insertBefore(row.li, current || null);
    });
    for (const [id, row] of partnerRows) {
      if (!keep.has(id)) {
        row.li.remove();
        partnerRows.delete(id);
      }
    }
    setText(ui.partnersCount, String(keep.size));
    setText(ui.partnersUpdated, 'updated ' + timeFormat.format(new Date(now)));
    ui.partners.hidden = keep.size === 0;
  }

  function updatePartnerRow(row, p, now) {
    const { li, parts } = row;
    row.partner = p;
    const breaker = p.breaker_state in BREAKER_TEXT ? p.breaker_state : 'closed';
    setAttr(li, 'data-breaker', breaker);
    setText(parts.breaker, BREAKER_TEXT[breaker]);
    parts.breaker.className = 'badge ' + BREAKER_BADGE[breaker];
    const until = parseTime(p.breaker_open_until);
    setText(parts.until, Number.isFinite(until) ? 'calls wait until ' + fmtWhen(until, now) : '');
    parts.until.hidden = !Number.isFinite(until);

    const o = p.outbox && typeof p.outbox === 'object' ? p.outbox : {};
    setText(parts.waiting, fmtInt(o.pending) + ' waiting');
    setText(parts.parked, fmtInt(o.parked) + ' parked');
    setAttr(parts.parked, 'data-level', isNum(o.parked) && o.parked > 0 ? 'bad' : 'none');
    const age = o.oldest_pending_age_ms;
    setText(parts.oldest, isNum(age) ? 'oldest ' + fmtDuration(age) : 'nothing waiting');
    setAttr(parts.oldest, 'data-level', isNum(age) && age > OUTBOX_STUCK_MS ? 'warn' : 'none');
    parts.oldest.title = o.oldest_pending_queued_at ? 'queued ' + new Date(parseTime(o.oldest_pending_queued_at)).toLocaleString() : '';

    const r = p.last_reconciliation && typeof p.last_reconciliation === 'object' ? p.last_reconciliation : null;
    if (!r) {
      setText(parts.recon, p.reconcile_at === 'off' ? 'Nightly reconciliation off, none run yet' : 'Not reconciled yet');
      setText(parts.counts, '');
    } else {
      const finished = parseTime(r.finished_at);
      const started = parseTime(r.started_at);
      const when = r.state === 'finished' && Number.isFinite(finished)
        ? 'finished ' + fmtWhen(finished, now) + ' · ' + fmtAgo(finished, now)
        : 'running since ' + fmtWhen(started, now);
      setText(parts.recon, 'Reconciled ' + r.day + ' (' + r.trigger + '), ' + when);
      const kinds = [
        fmtInt(r.missing_at_partner) + ' missing at partner',
        fmtInt(r.missing_at_ours) + ' missing at ours',
        fmtInt(r.mismatched) + ' mismatched',
        fmtInt(r.repaired) + ' repaired',
      ];
      setText(parts.counts, kinds.join(' · '));
      setAttr(parts.counts, 'data-level', isNum(r.missing_at_ours) && r.missing_at_ours > 0 ? 'warn' : 'none');
      parts.counts.title = r.error ? 'last error: ' + r.error : '';
    }
    for (const b of [parts.json, parts.csv]) {
      if (!row.downloading) b.disabled = !r;
      b.title = r ? 'Download the report of ' + r.day + ' (' + r.run_id + ')' : 'No reconciliation report yet';
      setAttr(b, 'aria-label', (r ? 'Download the latest reconciliation report as ' : 'No reconciliation report to download as ') +
        (b === parts.json ? 'JSON' : 'CSV'));
    }
  }

  /** The file name of a Content-Disposition header, if it names one. */
  function dispositionName(header) {
    const m = /filename="([^"]+)"/.exec(header || '');
    return m ? m[1] : null;
  }

  /**
   * Downloads the latest report of a partner. A link cannot carry the Authorization header,
   * so the file is fetched with it and saved from a Blob.
   */
  async function downloadReport(row, ext, button) {
    const p = row.partner;
    const r = p && p.last_reconciliation;
    if (!r || row.downloading) return;
    row.downloading = true;
    button.disabled = true;
    const label = button.textContent;
    setText(button, 'Saving…');
    const path = '/api/v1/partners/' + encodeURIComponent(p.id) + '/reconciliations/' +
      encodeURIComponent(r.run_id) + '/report.' + ext;
    try {
      const res = await fetch(path, {
        headers: { Authorization: 'Bearer ' + state.token },
        cache: 'no-store',
      });
      if (!res.ok) {
        let body = null;
        try {
          body = await res.json();
        } catch (_) {
          body = null;
        }
        throw apiError(res, body);
      }
      const blob = await res.blob();
      const name = dispositionName(res.headers.get('Content-Disposition')) ||
        'reconciliation-' + p.id + '-' + r.day + '-' + r.run_id + '.' + ext;
      const url = URL.createObjectURL(blob);
      const link = el('a', { href: url, download: name, hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      // Some browsers read the Blob after click() returns.
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      clearBanner('api');
    } catch (err) {
      reportApiError(err, 'Downloading the reconciliation report');
    } finally {
      row.downloading = false;
      setText(button, label);
      button.disabled = !(row.partner && row.partner.last_reconciliation);
    }
  }

  // ---- wiring ---------------------------------------------------------------------------------
  function bindUi() {
    ui.login = $('login');
    ui.loginForm = $('login-form');
    ui.loginToken = $('login-token');
    ui.loginTenant = $('login-tenant');
    ui.loginError = $('login-error');
    ui.dashboard = $('dashboard');
    ui.session = $('session');
    ui.sessionActions = $('session-actions');
    ui.sessionTenant = $('session-tenant');
    ui.tenantChip = $('tenant-chip');
    ui.sessionRole = $('session-role');
    ui.sessionSub = $('session-sub');
    ui.tenantPicker = $('tenant-picker');
    ui.tenantInput = $('tenant-input');
    ui.pickTenant = $('pick-tenant');
    ui.conn = $('conn');
    ui.connStatus = $('conn-status');
    ui.logout = $('logout');
    ui.banner = $('error-banner');
    ui.errorText = $('error-text');
    ui.errorClose = $('error-close');
    ui.kpi = {
      open: $('kpi-open'),
      pending: $('kpi-pending'),
      resolvedToday: $('kpi-resolved-today'),
      responseCompliance: $('kpi-response-compliance'),
      resolutionCompliance: $('kpi-resolution-compliance'),
      meanResponse: $('kpi-mean-response'),
      meanResolution: $('kpi-mean-resolution'),
      breaches: $('kpi-breaches'),
    };
    ui.kpiNote = {
      open: $('kpi-open-note'),
      pending: $('kpi-pending-note'),
      resolvedToday: $('kpi-resolved-today-note'),
      responseCompliance: $('kpi-response-compliance-note'),
      resolutionCompliance: $('kpi-resolution-compliance-note'),
      meanResponse: $('kpi-mean-response-note'),
      meanResolution: $('kpi-mean-resolution-note'),
      breaches: $('kpi-breaches-note'),
    };
    ui.chart = $('trend-chart');
    ui.trendEmpty = $('trend-empty');
    ui.trendSummary = $('trend-summary');
    ui.periodButtons = Array.from(document.querySelectorAll('#period button'));
    ui.alertsList = $('alerts-list');
    ui.alertsEmpty = $('alerts-empty');
    ui.alertsCount = $('alerts-count');
    ui.ticketsList = $('tickets-list');
    ui.ticketsEmpty = $('tickets-empty');
    ui.ticketsTotal = $('tickets-total');
    ui.lastUpdate = $('last-update');
    ui.partners = $('partners');
    ui.partnersList = $('partners-list');
    ui.partnersCount = $('partners-count');
    ui.partnersUpdated = $('partners-updated');

    ui.loginForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const token = ui.loginToken.value.trim().replace(/^Bearer\s+/i, '');
      if (!token) {
        showLogin('Paste a token first.');
        return;
      }
      clearBanner();
      startSession(token, ui.loginTenant.value.trim() || readStorage(STORE.tenant));
    });
    ui.tenantPicker.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const v = ui.tenantInput.value.trim();
      if (!/^\d+$/.test(v)) {
        showBanner('A tenant id is a number.', 'input');
        return;
      }
      clearBanner('input');
      if (Number(v) !== state.tenantId) watchTenant(Number(v));
    });
    ui.logout.addEventListener('click', () => {
      writeStorage(STORE.tenant, null);
      endSession(null);
    });
    ui.errorClose.addEventListener('click', () => clearBanner());
    for (const b of ui.periodButtons) b.addEventListener('click', () => setPeriod(b.dataset.period));

    if (typeof ResizeObserver === 'function') {
      let last = 0;
      new ResizeObserver(() => {
        const w = ui.chart.clientWidth;
        if (w !== last) {
          last = w;
          resizeChart();
        }
      }).observe(ui.chart);
    } else {
      window.addEventListener('resize', resizeChart);
    }
    const scheme = window.matchMedia('(prefers-color-scheme: dark)');
    const rebuild = () => {
      if (state.chart) {
        state.chart.destroy();
        state.chart = null;
        renderTrend();
      }
    };
    if (scheme.addEventListener) scheme.addEventListener('change', rebuild);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        reconnectSoon();
        if (isOps()) loadPartners();
      }
    });
    window.addEventListener('online', reconnectSoon);
    setInterval(tick, 1000);
  }

  function boot() {
    bindUi();
    const url = new URL(location.href);
    const urlToken = url.searchParams.get('token');
    const urlTenant = url.searchParams.get('tenant_id');
    if (urlToken !== null) {
      // Keep the token out of the address bar, the history and bookmarks.
      url.searchParams.delete('token');
      history.replaceState(history.state, '', url.pathname + url.search + url.hash);
      writeStorage(STORE.token, urlToken.trim());
    }
    if (urlTenant !== null && /^\d+$/.test(urlTenant.trim())) writeStorage(STORE.tenant, urlTenant.trim());
    const period = readStorage(STORE.period);
    if (period && PERIODS.includes(period)) state.period = period;
    for (const b of ui.periodButtons) setAttr(b, 'aria-pressed', b.dataset.period === state.period ? 'true' : 'false');

    const token = readStorage(STORE.token);
    const tenant = readStorage(STORE.tenant);
    if (tenant) ui.loginTenant.value = tenant;
    if (token) startSession(token, tenant);
    else showLogin(null);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
