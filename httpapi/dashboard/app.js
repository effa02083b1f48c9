// ticketd sales dashboard. The numbers come from GET /stats/sales and GET
// /stats/timeline; GET /events/stream (read with fetch, so an API key travels
// in a header, never in a URL) feeds the list of latest events and tells the
// page when to read the numbers again, with Ticketd-Min-Position set to the
// last event seen so they include it. After a disconnect the stream resumes
// with Last-Event-ID, so no event is missed or shown twice.
'use strict';

(() => {
  const KEY_STORAGE = 'ticketd.analystKey';
  const FEED_BACKLOG = 20; // events before the first numbers shown in the feed
  const FEED_MAX = 200;
  const TIMELINE_MINUTES = 30;
  const SHOWING_DAYS = 7; // the showings shown start within this many days
  // BADGES label the events of the feed by type.
  const BADGES = { TicketIssued: '발권', TicketRefunded: '환불', ShowingScheduled: '상영', SeatsHeld: '선점', HoldReleased: '해제', HoldExpired: '만료' };
  const RETRY_MIN_MS = 250;
  const RETRY_MAX_MS = 2000;
  const SVG = 'http://www.w3.org/2000/svg';
  // COLUMNS are the columns of both sales tables after the name: the field,
  // its heading and its format (the cards' formats).
  const COLUMNS = [['issued', '발권'], ['canceled', '환불'], ['revenue_krw', '매출']];

  const $ = (sel) => document.querySelector(sel);
  const won = new Intl.NumberFormat('ko-KR', { style: 'currency', currency: 'KRW' });
  const count = new Intl.NumberFormat('ko-KR');
  // FORMATS formats each number as the cards and the tables show it.
  const FORMATS = { issued: count, canceled: count, revenue_krw: won };
  const clock = new Intl.DateTimeFormat('ko-KR', { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const startClock = new Intl.DateTimeFormat('ko-KR', { month: 'numeric', day: 'numeric', weekday: 'short', hour: '2-digit', minute: '2-digit', hour12: false });
  const minuteClock = new Intl.DateTimeFormat('ko-KR', { hour: '2-digit', minute: '2-digit', hour12: false });
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const state = {
    key: sessionStorage.getItem(KEY_STORAGE),
    last: -1, // position of the last event taken from the stream
    snapshot: 0, // the position the numbers on screen reflect
    tickets: new Map(), // ticket id -> { theater, movie, price }, from the events seen
    showings: new Map(), // showing id -> { theater, movie }, from the showings read and the events seen
    rows: { theater: [], movie: [] },
    minutes: [], // the timeline on screen
    sort: { theater: { field: 'revenue_krw', dir: 'desc' }, movie: { field: 'revenue_krw', dir: 'desc' } },
    refreshing: false,
    again: false,
  };

  // AuthError is a 401 or 403 answer: the page needs (another) analyst key.
  class AuthError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  async function api(path, headers = {}) {
    const h = new Headers(headers);
    if (state.key) h.set('Authorization', 'Bearer ' + state.key);
    const res = await fetch(path, { headers: h, cache: 'no-store' });
    if (res.status === 401 || res.status === 403) {
      let detail = '';
      try { detail = (await res.json()).detail; } catch { /* not problem+json */ }
      throw new AuthError(res.status, detail);
    }
    return res;
  }

  async function getJSON(path, minPosition) {
    const res = await api(path, minPosition > 0 ? { 'Ticketd-Min-Position': String(minPosition) } : {});
    if (!res.ok) throw new Error(`${path}: ${res.status}`);
    return res.json();
  }

  // askForKey shows the key form and resolves once a key was entered.
  function askForKey(message) {
    setStatus('waiting for a key', false);
    document.body.classList.add('locked');
    const form = $('[data-key-form]');
    const error = $('[data-key-error]');
    form.hidden = false;
    error.hidden = !message;
    error.textContent = message;
    $('[data-key-input]').focus();
    return new Promise((resolve) => {
      form.onsubmit = (e) => {
        e.preventDefault();
        state.key = $('[data-key-input]').value.trim();
        sessionStorage.setItem(KEY_STORAGE, state.key);
        form.hidden = true;
        document.body.classList.remove('locked');
        setStatus('connecting', false);
        resolve();
      };
    });
  }

  // withKey runs fn until it does not fail for want of a key.
  async function withKey(fn) {
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof AuthError)) throw e;
        let message = '';
        if (state.key) message = e.status === 403 ? 'This key may not read sales: an analyst key is needed.' : 'This key was not accepted.';
        await askForKey(message);
      }
    }
  }

  // refresh reads the numbers again, at least up to the last event seen;
  // calls while one runs make it run once more.
  async function refresh() {
    if (state.refreshing) {
      state.again = true;
      return;
    }
    state.refreshing = true;
    try {
      do {
        state.again = false;
        const min = Math.max(state.last, 0);
        const now = Date.now();
        const week = `starts_after=${encodeURIComponent(new Date(now).toISOString())}&starts_before=${encodeURIComponent(new Date(now + SHOWING_DAYS * 86400e3).toISOString())}`;
        const [byTheater, byMovie, timeline, showings] = await Promise.all([
          getJSON('/stats/sales?by=theater&limit=1000', min),
          getJSON('/stats/sales?by=movie&limit=1000', min),
          getJSON(`/stats/timeline?minutes=${TIMELINE_MINUTES}`, min),
          getJSON(`/showings?${week}&limit=1000`, min),
        ]);
        renderShowings(showings.showings);
        state.rows.theater = byTheater.rows;
        state.rows.movie = byMovie.rows;
        renderTable('theater');
        renderTable('movie');
        renderTotals(timeline.totals);
        state.minutes = timeline.minutes;
        renderChart();
        state.snapshot = Math.min(byTheater.position, byMovie.position, timeline.position);
        showPosition(Math.max(state.snapshot, state.last));
      } while (state.again);
    } finally {
      state.refreshing = false;
    }
  }

  function scheduleRefresh() {
    refresh().catch(() => sleep(1000).then(scheduleRefresh));
  }

  // setStatus says how the page stands with the service: connecting,
  // waiting for a key, live or reconnecting.
  function setStatus(text, live) {
    $('[data-connection]').textContent = text;
    document.body.classList.toggle('live', live);
  }

  function setConnection(live) {
    setStatus(live ? 'live' : 'reconnecting', live);
  }

  // showPosition shows the log position the page has reached.
  function showPosition(position) {
    $('[data-position-label]').textContent = `position ${position}`;
    $('[data-position-part]').hidden = false;
  }

  // follow reads the event stream for ever, reconnecting after each end.
  async function follow() {
    let delay = RETRY_MIN_MS;
    for (;;) {
      try {
        await withKey(streamOnce);
        delay = RETRY_MIN_MS;
      } catch {
        // the service is away: retry below
      }
      setConnection(false);
      await sleep(delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  // streamOnce reads the stream after the last event seen until it ends.
  async function streamOnce() {
    const res = await api('/events/stream', { 'Last-Event-ID': String(state.last), Accept: 'text/event-stream' });
    if (!res.ok) throw new Error(`/events/stream: ${res.status}`);
    setConnection(true);
    scheduleRefresh(); // whatever changed while the page was away
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let taken = false;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        taken = take(buffer.slice(0, end)) || taken;
        buffer = buffer.slice(end + 2);
      }
      if (taken) scheduleRefresh();
    }
  }

  // take handles one Server-Sent Events message; it returns whether it was
  // an event not seen before.
  function take(message) {
    let data = '';
    for (const line of message.split('\n')) {
      if (line.startsWith('data:')) data += line.slice(5).replace(/^ /, '');
    }
    if (!data) return false; // a comment such as ": position N"
    const event = JSON.parse(data);
    if (event.position <= state.last) return false;
    state.last = event.position;
    showPosition(event.position);
    addToFeed(event);
    return true;
  }

  function el(tag, attrs = {}, text = '') {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    node.textContent = text;
    return node;
  }

  function addToFeed(event) {
    if (!(event.type in BADGES)) return;
    if (event.type === 'ShowingScheduled') state.showings.set(event.stream_id, { theater: event.data.theater_name, movie: event.data.movie_title });
    const showing = state.showings.get(event.stream_id);
    if (event.type !== 'TicketIssued' && event.type !== 'TicketRefunded') {
      addItem(event, showing ? `${showing.theater} · ${showing.movie}` : event.stream_id, '');
      return;
    }
    let ticket = state.tickets.get(event.stream_id);
    if (event.type === 'TicketIssued') {
      ticket = { theater: event.data.theater_name, movie: event.data.movie_title, price: event.data.price_krw };
      state.tickets.set(event.stream_id, ticket);
    }
    const item = addItem(event, ticket ? `${ticket.theater} · ${ticket.movie}` : event.stream_id, ticket ? won.format(ticket.price) : '');
    if (!ticket) describeLater(event.stream_id, item);
  }

  // addItem puts event at the top of the feed with its description and
  // price, and returns its element.
  function addItem(event, what, price) {
    const at = new Date(event.occurred_at);
    const item = el('li', { 'data-position': event.position, 'data-type': event.type });
    item.append(
      el('span', { class: `badge ${event.type}`, title: event.type }, BADGES[event.type]),
      el('span', { class: 'what', 'data-what': '' }, what),
      el('time', { class: 'when', datetime: event.occurred_at, title: event.occurred_at }, clock.format(at)),
      el('span'),
      el('span', { class: 'price', 'data-price': '' }, price),
      el('span', { class: 'when' }, `#${event.position}`),
    );
    const feed = $('[data-feed]');
    feed.prepend(item);
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
    return item;
  }

  // describeLater fills in a refund's ticket issued before the page opened.
  async function describeLater(id, item) {
    try {
      const t = await getJSON(`/tickets/${encodeURIComponent(id)}`, 0);
      state.tickets.set(id, { theater: t.theater_name, movie: t.movie_title, price: t.price_krw });
      item.querySelector('[data-what]').textContent = `${t.theater_name} · ${t.movie_title}`;
      item.querySelector('[data-price]').textContent = won.format(t.price_krw);
    } catch {
      // the id stays in place of the names
    }
  }

  function compare(field, dir) {
    const sign = dir === 'asc' ? 1 : -1;
    return (a, b) => {
      const order = field === 'name' ? a.name.localeCompare(b.name, 'ko') : a[field] - b[field];
      return sign * order || a.name.localeCompare(b.name, 'ko');
    };
  }

  // setNumber shows value formatted in node and keeps it as a plain integer
  // in node's <data> hook.
  function setNumber(node, hook, value, formatted) {
    if (node.textContent !== formatted) node.textContent = formatted;
    const text = String(value);
    if (hook.textContent !== text) {
      hook.textContent = text;
      hook.value = text;
    }
  }

  function renderTable(dim) {
    const table = $(`table[data-table="${dim}"]`);
    const tbody = table.tBodies[0];
    const { field, dir } = state.sort[dim];
    const old = new Map([...tbody.rows].map((tr) => [tr.dataset[dim], tr]));
    for (const row of [...state.rows[dim]].sort(compare(field, dir))) {
      let tr = old.get(row.name);
      old.delete(row.name);
      if (!tr) {
        tr = el('tr', { [`data-${dim}`]: row.name });
        tr.append(el('th', { scope: 'row' }, row.name));
        for (const [field] of COLUMNS) {
          const td = el('td', { class: 'num' });
          td.append(el('span', { 'data-field-text': field }), el('data', { class: 'hook', 'data-field': field, 'aria-hidden': 'true' }));
          tr.append(td);
        }
      }
      for (const [field] of COLUMNS) {
        setNumber(tr.querySelector(`[data-field-text="${field}"]`), tr.querySelector(`[data-field="${field}"]`), row[field], FORMATS[field].format(row[field]));
      }
      tbody.append(tr);
    }
    for (const tr of old.values()) tr.remove();
    for (const th of table.tHead.rows[0].cells) {
      if (th.dataset.sort === field) th.setAttribute('aria-sort', dir === 'asc' ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    }
  }

  // renderShowings shows each showing of list (those of the next days, in
  // start order) with a fill bar of its sold and held seats over its
  // capacity; each row keeps its numbers as plain integers in [data-field]
  // hooks (sold, held, available, capacity).
  function renderShowings(list) {
    const box = $('[data-showings]');
    const old = new Map([...box.children].map((li) => [li.dataset.showing, li]));
    for (const s of list) {
      state.showings.set(s.id, { theater: s.theater_name, movie: s.movie_title });
      let li = old.get(s.id);
      old.delete(s.id);
      if (!li) {
        li = el('li', { 'data-showing': s.id });
        const start = startClock.format(new Date(s.starts_at));
        const title = el('span', { class: 'what' }, `${start} · ${s.theater_name} · ${s.movie_title}`);
        title.title = title.textContent;
        const seats = el('span', { class: 'seats' });
        seats.append(el('span', { 'data-seats-text': '' }), el('span', { class: 'showing-status', 'data-status': '' }));
        for (const field of ['sold', 'held', 'available', 'capacity']) seats.append(el('data', { class: 'hook', 'data-field': field, 'aria-hidden': 'true' }));
        const fill = el('div', { class: 'fill', role: 'img' });
        fill.append(el('span', { class: 'sold' }), el('span', { class: 'held' }));
        li.append(title, seats, fill);
      }
      const text = `${count.format(s.sold)} + ${count.format(s.held)} / ${count.format(s.capacity)}`;
      const seats = li.querySelector('[data-seats-text]');
      if (seats.textContent !== text) seats.textContent = text;
      for (const field of ['sold', 'held', 'available', 'capacity']) {
        const hook = li.querySelector(`[data-field="${field}"]`);
        if (hook.value !== String(s[field])) hook.textContent = hook.value = String(s[field]);
      }
      li.querySelector('[data-status]').textContent = s.status === 'sold_out' ? '매진 SOLD OUT' : '';
      const fill = li.querySelector('.fill');
      fill.setAttribute('aria-label', `판매 ${s.sold}, 선점 ${s.held}, 잔여 ${s.available} / ${s.capacity}`);
      fill.querySelector('.sold').style.width = `${(100 * s.sold) / s.capacity}%`;
      fill.querySelector('.held').style.width = `${(100 * s.held) / s.capacity}%`;
      box.append(li);
    }
    for (const li of old.values()) li.remove();
    $('[data-showings-empty]').hidden = list.length > 0;
  }

  function renderTotals(totals) {
    for (const [field, format] of Object.entries(FORMATS)) {
      setNumber($(`[data-total-text="${field}"]`), $(`[data-total="${field}"]`), totals[field], format.format(totals[field]));
    }
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // renderChart draws state.minutes in user units of one CSS pixel, so the
  // labels keep their size at every screen width.
  function renderChart() {
    const minutes = state.minutes;
    const chart = $('[data-chart]');
    const width = Math.max(240, Math.round(chart.getBoundingClientRect().width) || 600);
    const [height, left, top, bottom] = [170, 30, 8, 20];
    chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
    const plot = height - top - bottom;
    const max = Math.max(1, ...minutes.map((m) => Math.max(m.issued, m.canceled)));
    const slot = (width - left) / Math.max(1, minutes.length);
    const bar = Math.max(1, slot * 0.4);
    const nodes = [
      svg('line', { class: 'axis', x1: left, x2: width, y1: top + plot, y2: top + plot }),
      svg('text', { x: left - 4, y: top + 10, 'text-anchor': 'end' }, String(max)),
      svg('text', { x: left - 4, y: top + plot, 'text-anchor': 'end' }, '0'),
    ];
    minutes.forEach((m, i) => {
      const x = left + i * slot + slot * 0.1;
      const label = minuteClock.format(new Date(m.start));
      const group = svg('g', { 'data-minute': m.start });
      group.append(svg('title', {}, `${label} 발권 ${m.issued} · 환불 ${m.canceled}`));
      for (const [kind, n, dx] of [['issued', m.issued, 0], ['canceled', m.canceled, bar]]) {
        const h = (n / max) * plot;
        group.append(svg('rect', { class: kind, x: x + dx, y: top + plot - h, width: bar, height: h }));
      }
      nodes.push(group);
      if (i === 0 || i === minutes.length - 1 || i === Math.floor(minutes.length / 2)) {
        const anchor = i === 0 ? 'start' : i === minutes.length - 1 ? 'end' : 'middle';
        nodes.push(svg('text', { x: x + bar, y: height - 4, 'text-anchor': anchor }, label));
      }
    });
    chart.replaceChildren(...nodes);
  }

  // sortable gives both sales tables their heads, which sort on a click.
  function sortable() {
    for (const dim of ['theater', 'movie']) {
      const table = $(`table[data-table="${dim}"]`);
      const head = table.createTHead().insertRow();
      head.append(el('th', { 'data-sort': 'name', scope: 'col' }, table.dataset.nameLabel));
      for (const [field, label] of COLUMNS) head.append(el('th', { 'data-sort': field, scope: 'col', class: 'num' }, label));
      for (const th of head.cells) {
        th.addEventListener('click', () => {
          const sort = state.sort[dim];
          if (sort.field === th.dataset.sort) sort.dir = sort.dir === 'asc' ? 'desc' : 'asc';
          else Object.assign(sort, { field: th.dataset.sort, dir: th.dataset.sort === 'name' ? 'asc' : 'desc' });
          renderTable(dim);
        });
      }
    }
  }

  async function boot() {
    sortable();
    window.addEventListener('resize', renderChart);
    for (;;) {
      try {
        await withKey(refresh);
        break;
      } catch {
        await sleep(RETRY_MAX_MS); // the service is away: the first numbers are needed to start
      }
    }
    state.last = Math.max(0, state.snapshot - FEED_BACKLOG);
    follow();
  }

  boot();
})();
