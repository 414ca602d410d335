// The demo whiteboard: rectangles and sticky notes that anyone on the page
// can add, move, recolour and delete; live cursors and participants in the
// colours the server assigns; a badge with the connection state and the
// edits waiting; a button that goes offline and back; after a reload, a
// dialog that offers to restore edits that were not saved yet.
//
// It uses the huddle-client package as served by `huddle serve --demo`.

import { HuddleClient, PALETTE } from '/demo/client/index.js';
import { draw, PAGE, view } from '/demo/board.js';

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const board = $('board');
const USER_KEY = 'huddle-demo-user';

/** The demo user of this tab (kept across reloads, so a reload is the same person). */
let me = JSON.parse(sessionStorage.getItem(USER_KEY) ?? 'null');

async function getToken() {
  const res = await fetch('/demo/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(me ?? {}),
  });
  if (!res.ok) throw new Error(`no demo token: HTTP ${res.status}`);
  const t = await res.json();
  me = { user_id: t.user_id, display_name: t.display_name };
  sessionStorage.setItem(USER_KEY, JSON.stringify(me));
  $('me').textContent = `you: ${t.display_name}`;
  return t.token;
}

const client = new HuddleClient({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`,
  board: 'demo',
  getToken,
  config: { backoff: { jitter: 0.2 } },
});

let selected = /** @type {string | null} */ (null);
/** @type {Map<string, { x: number, y: number, color: string, name: string }>} */
const cursors = new Map();

function currentItems() {
  return view(client.replica.pages(), client.pendingBatches());
}

function render() {
  draw(board, currentItems(), selected);
  for (const node of board.querySelectorAll('.cursor')) node.remove();
  const colors = new Map(client.replica.participants.map((p) => [p.user_id, p]));
  for (const [user, c] of cursors) {
    const p = colors.get(user);
    if (!p) continue;
    const node = document.createElement('div');
    node.className = 'cursor';
    node.style.left = `${c.x}px`;
    node.style.top = `${c.y}px`;
    node.style.color = p.color;
    node.textContent = p.display_name;
    board.appendChild(node);
  }
  const list = $('participants');
  list.replaceChildren(...client.replica.participants.map((p) => {
    const li = document.createElement('li');
    li.textContent = p.display_name;
    li.style.background = p.color;
    li.dataset.user = p.user_id;
    return li;
  }));
  const has = selected !== null && currentItems().has(selected);
  /** @type {HTMLButtonElement} */ ($('delete')).disabled = !has;
  /** @type {HTMLButtonElement} */ ($('edit-text')).disabled = !has || currentItems().get(/** @type {string} */ (selected))?.data?.kind !== 'note';
}

/** Whether this page has been connected (before that, "disconnected" is just "not yet"). */
let everConnected = false;

function renderStatus() {
  const s = client.status();
  const badge = $('badge');
  badge.dataset.state = s.state.status;
  badge.dataset.pending = String(s.pendingMutations);
  badge.dataset.offline = String(s.offline);
  const state = s.state.status === 'reconnecting' ? `reconnecting (attempt ${s.state.attempt})` : s.state.status;
  badge.textContent = `${s.offline ? 'offline' : state} · ${s.pendingMutations} edit${s.pendingMutations === 1 ? '' : 's'} waiting`;
  $('offline').textContent = s.offline ? 'Go online' : 'Go offline';
  if (s.state.status === 'connected') everConnected = true;
  const stuck = s.state.status === 'failed' || s.state.status === 'authFailed' || (s.state.status === 'disconnected' && everConnected);
  $('reconnect').hidden = !stuck || s.offline;
}

/** @param {string} text */
function log(text) {
  const li = document.createElement('li');
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $('log').prepend(li);
  while ($('log').children.length > 8) $('log').lastElementChild?.remove();
}

/** @param {any[]} mutations */
function edit(mutations) {
  try {
    client.mutate(mutations);
  } catch (e) {
    log(`edit refused: ${/** @type {Error} */ (e).message}`);
  }
  render();
}

function newId(/** @type {string} */ kind) {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `${kind}-${me?.user_id ?? 'me'}-${Date.now().toString(36)}-${rand}`;
}

function add(/** @type {'rect' | 'note'} */ kind) {
  const id = newId(kind);
  const w = board.clientWidth || 800;
  const data = {
    kind,
    x: Math.round(20 + Math.random() * Math.max(0, w - 200)),
    y: Math.round(20 + Math.random() * 380),
    w: kind === 'note' ? 140 : 120,
    h: kind === 'note' ? 110 : 80,
    color: kind === 'note' ? '#FFEAA7' : PALETTE[Math.floor(Math.random() * PALETTE.length)],
    ...(kind === 'note' ? { text: 'New note' } : {}),
  };
  selected = id;
  edit([{ op: 'upsert', page: PAGE, element: id, data }]);
  return id;
}

/** @param {Record<string, unknown>} change */
function update(change) {
  if (selected === null) return;
  const item = currentItems().get(selected);
  if (!item) return;
  edit([{ op: 'upsert', page: PAGE, element: selected, data: { ...item.data, ...change } }]);
}

// ---- toolbar ----
$('add-rect').onclick = () => add('rect');
$('add-note').onclick = () => add('note');
$('delete').onclick = () => {
  if (selected === null) return;
  edit([{ op: 'delete', page: PAGE, element: selected }]);
  selected = null;
  render();
};
$('edit-text').onclick = () => {
  const item = selected === null ? undefined : currentItems().get(selected);
  if (!item) return;
  const text = prompt('Note text', String(item.data?.text ?? ''));
  if (text !== null) update({ text });
};
for (const color of PALETTE) {
  const b = document.createElement('button');
  b.type = 'button';
  b.style.background = color;
  b.title = color;
  b.dataset.color = color;
  b.onclick = () => update({ color });
  $('colors').appendChild(b);
}
$('offline').onclick = () => client.setOffline(!client.status().offline);
$('reconnect').onclick = () => void client.reconnect();
$('rejoin').onclick = () => {
  $('timeout').hidden = true;
  void client.connect();
};
document.addEventListener('keydown', (e) => {
  if ((e.key === 'Delete' || e.key === 'Backspace') && selected !== null && document.activeElement === document.body) {
    $('delete').click();
  }
});

// ---- dragging and cursors ----
let drag = /** @type {{ id: string, node: HTMLElement, dx: number, dy: number, moved: boolean, sentAt: number } | null} */ (null);
/** While dragging, others see the move at most this often (ms). */
const DRAG_INTERVAL = 100;
board.addEventListener('pointerdown', (e) => {
  const node = /** @type {HTMLElement | null} */ (/** @type {HTMLElement} */ (e.target).closest('.item'));
  if (!node) {
    selected = null;
    render();
    return;
  }
  selected = node.dataset.id ?? null;
  const r = node.getBoundingClientRect();
  drag = { id: /** @type {string} */ (node.dataset.id), node, dx: e.clientX - r.left, dy: e.clientY - r.top, moved: false, sentAt: 0 };
  node.dataset.dragging = 'true';
  node.setPointerCapture(e.pointerId);
  render();
});
board.addEventListener('pointermove', (e) => {
  const r = board.getBoundingClientRect();
  const x = Math.round(e.clientX - r.left);
  const y = Math.round(e.clientY - r.top);
  client.cursor(x, y);
  if (drag) {
    drag.moved = true;
    drag.node.style.left = `${Math.round(e.clientX - r.left - drag.dx)}px`;
    drag.node.style.top = `${Math.round(e.clientY - r.top - drag.dy)}px`;
    if (e.timeStamp - drag.sentAt >= DRAG_INTERVAL && client.status().state.status === 'connected') {
      drag.sentAt = e.timeStamp;
      update({ x: parseInt(drag.node.style.left, 10), y: parseInt(drag.node.style.top, 10) });
    }
  }
});
board.addEventListener('pointerup', () => {
  if (!drag) return;
  const { node, moved } = drag;
  drag = null;
  delete node.dataset.dragging;
  if (moved) update({ x: parseInt(node.style.left, 10), y: parseInt(node.style.top, 10) });
  render();
});

// ---- client events ----
client.on('status', renderStatus);
for (const type of ['synced', 'changed', 'acked', 'participantJoined', 'participantLeft', 'dropped']) client.on(type, render);
client.on('participantLeft', (e) => cursors.delete(e.participant.user_id));
client.on('cursor', (e) => {
  cursors.set(e.user, { x: e.x, y: e.y, color: '', name: '' });
  render();
});
client.on('dropped', (e) => log(`an edit was refused by the server (${e.code}): ${e.message}`));
client.on('reconnecting', (e) => log(`connection lost, reconnect attempt ${e.attempt}`));
client.on('reconnected', () => log('reconnected; queued edits sent'));
client.on('failed', () => log('could not reconnect; press Reconnect'));
client.on('authFailed', () => log('the server refused the token'));
client.on('sessionTimeout', () => {
  $('timeout').hidden = false;
});
client.on('tokenError', (e) => log(String(e.error)));

// ---- start: offer what a previous load left unsaved, then connect ----
async function start() {
  renderStatus();
  const offer = await client.loadRecovery();
  if (offer) {
    const dialog = /** @type {HTMLDialogElement} */ ($('recovery'));
    $('recovery-text').textContent = offer.stale
      ? `${offer.mutations} edit(s) from ${Math.round(offer.ageMs / 60000)} min ago were never saved; they are too old to restore safely.`
      : `${offer.mutations} edit(s) made ${Math.round(offer.ageMs / 1000)} s ago were not saved yet.`;
    $('recovery-list').replaceChildren(...offer.batches.flatMap((b) => b.mutations).slice(0, 20).map((m) => {
      const li = document.createElement('li');
      const kind = m.op === 'upsert' ? /** @type {any} */ (m.data)?.kind : undefined;
      li.textContent = `${m.op} ${m.element}${kind ? ` (${kind})` : ''}`;
      return li;
    }));
    /** @type {HTMLButtonElement} */ ($('restore')).disabled = offer.stale;
    dialog.showModal();
    const choice = await new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue), { once: true }));
    if (choice === 'restore' && !offer.stale) {
      try {
        const n = offer.restore();
        log(`restored ${n} unsaved batch(es)`);
      } catch (e) {
        log(`could not restore: ${/** @type {Error} */ (e).message}`);
        await offer.discard();
      }
    } else {
      await offer.discard();
    }
  }
  render();
  await client.connect();
}

const ready = start();

// For tests and the curious: the client and what the board shows.
Object.assign(window, {
  huddleDemo: {
    client,
    ready,
    add,
    /** @returns {Record<string, unknown>} the board as shown (confirmed + pending) */
    board: () => Object.fromEntries([...currentItems()].map(([id, v]) => [id, v.data])),
    /** @returns {Record<string, unknown>} the board as the server confirmed it */
    confirmed: () => client.replica.pages()[PAGE] ?? {},
  },
});
