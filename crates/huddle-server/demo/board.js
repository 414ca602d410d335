// The demo board's view: the confirmed replica with the pending (not yet
// acknowledged) batches laid over it, drawn as absolutely positioned boxes.

export const PAGE = 'main';

/**
 * The elements to show: the replica's page, then every pending batch
 * applied in order (an optimistic overlay). Returns id -> { data, pending }.
 * @param {Record<string, Record<string, any>>} pages
 * @param {{ mutations: any[] }[]} pendingBatches
 */
export function view(pages, pendingBatches) {
  /** @type {Map<string, { data: any, pending: boolean }>} */
  const items = new Map();
  for (const [id, data] of Object.entries(pages[PAGE] ?? {})) items.set(id, { data, pending: false });
  for (const b of pendingBatches) {
    for (const m of b.mutations) {
      if (m.page !== PAGE) continue;
      if (m.op === 'delete') items.delete(m.element);
      else items.set(m.element, { data: m.data, pending: true });
    }
  }
  return items;
}

/**
 * Draws `items` into `root`, reusing nodes by id.
 * @param {HTMLElement} root
 * @param {Map<string, { data: any, pending: boolean }>} items
 * @param {string | null} selected
 */
export function draw(root, items, selected) {
  /** @type {Map<string, HTMLElement>} */
  const existing = new Map();
  const nodes = /** @type {NodeListOf<HTMLElement>} */ (root.querySelectorAll('.item'));
  for (const node of nodes) existing.set(node.dataset.id ?? '', node);
  for (const [id, { data, pending }] of items) {
    let node = existing.get(id);
    existing.delete(id);
    if (!node) {
      node = document.createElement('div');
      node.dataset.id = id;
      root.appendChild(node);
    }
    if (node.dataset.dragging === 'true') continue;
    node.className = `item ${data?.kind === 'note' ? 'note' : 'rect'}${pending ? ' pending' : ''}${id === selected ? ' selected' : ''}`;
    node.style.left = `${Number(data?.x) || 0}px`;
    node.style.top = `${Number(data?.y) || 0}px`;
    node.style.width = `${Number(data?.w) || 100}px`;
    node.style.height = `${Number(data?.h) || 80}px`;
    node.style.background = typeof data?.color === 'string' ? data.color : '#ddd';
    node.textContent = data?.kind === 'note' ? String(data?.text ?? '') : '';
  }
  for (const node of existing.values()) node.remove();
}
