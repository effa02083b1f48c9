// End-to-end tests of GET /dashboard in headless Chromium against a real
// ticketd process. Run by .ci/run (npm ci && npm test); TICKETD_BIN is the
// binary under test (built from the repository when unset). With
// SCREENSHOT_DIR set, the screenshots are written there (docs/dashboard.md's come from
// `SCREENSHOT_DIR=../../docs npm test`); LATENCY_REPORT names a file for
// the commit-to-screen latency numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANALYST_KEY, CLERK_KEY, work, sleep, started, openPage } from './harness.mjs';

// withPage runs fn with the dashboard open on svc, then closes the browser
// and stops svc.
async function withPage(svc, fn) {
  const { page, seen, close } = await openPage(svc, '/dashboard');
  try {
    await fn(page, seen);
  } finally {
    await close();
    await svc.stop();
  }
}

// cell is a number's plain-integer hook in a sales table, shown its
// formatted text.
const cell = (dim, name, field) => `[data-${dim}="${name}"] [data-field="${field}"]`;
const shown = (dim, name, field) => `[data-${dim}="${name}"] [data-field-text="${field}"]`;

async function waitForText(page, selector, text, timeout = 2000) {
  await page.waitForFunction(([sel, want]) => document.querySelector(sel)?.textContent === want,
    [selector, String(text)], { timeout, polling: 20 });
}

async function feedPositions(page) {
  return page.$$eval('[data-feed] [data-position]', (els) => els.map((e) => Number(e.dataset.position)));
}

test('the page loads with no console error and asks nothing of any other origin', async () => {
  const svc = await started('load');
  await svc.issue({ theater_name: 'CGV 강남', movie_title: '서울의 봄', price_krw: 15000, quantity: 2 });
  await withPage(svc, async (page, seen) => {
    await waitForText(page, '[data-connection]', 'live', 5000);
    await waitForText(page, cell('theater', 'CGV 강남', 'issued'), 2);
    await waitForText(page, cell('movie', '서울의 봄', 'revenue_krw'), 30000);
    assert.equal(await page.textContent('[data-total="issued"]'), '2');
    assert.deepEqual(await feedPositions(page), [2, 1]);
    await sleep(500);
    assert.deepEqual(seen.errors, []);
    const foreign = seen.requests.map((r) => r.url()).filter((url) => new URL(url).origin !== svc.base && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
  });
});

test('issued tickets reach the tables and the feed within 2 s, and a refund moves canceled and revenue', async () => {
  const svc = await started('live');
  await withPage(svc, async (page) => {
    await waitForText(page, '[data-connection]', 'live', 5000);
    const issued = await svc.issue({ theater_name: '메가박스 코엑스', movie_title: '파묘', price_krw: 14000, quantity: 3 });
    const start = Date.now();
    await waitForText(page, cell('theater', '메가박스 코엑스', 'issued'), 3);
    await page.waitForSelector(`[data-feed] [data-position="${issued.position}"]`, { timeout: 2000 });
    assert.ok(Date.now() - start < 2000);
    assert.equal(await page.textContent(cell('theater', '메가박스 코엑스', 'revenue_krw')), '42000');
    // Money reads in the tables as in the cards.
    await waitForText(page, '[data-total-text="revenue_krw"]', '₩42,000');
    assert.equal(await page.textContent(shown('theater', '메가박스 코엑스', 'revenue_krw')), '₩42,000');
    assert.equal(await page.textContent(shown('movie', '파묘', 'revenue_krw')), '₩42,000');
    // The plain integer of a cell is for scripts: the cell shows only the formatted number.
    assert.ok(await page.isVisible(shown('theater', '메가박스 코엑스', 'revenue_krw')));
    const refund = await svc.refund(issued.body.ticket_ids.slice(0, 1));
    await waitForText(page, cell('theater', '메가박스 코엑스', 'canceled'), 1);
    await waitForText(page, cell('theater', '메가박스 코엑스', 'revenue_krw'), 28000);
    await waitForText(page, cell('movie', '파묘', 'canceled'), 1);
    const item = page.locator(`[data-feed] [data-position="${refund.position}"]`);
    await item.waitFor({ timeout: 2000 });
    assert.match(await item.textContent(), /환불.*메가박스 코엑스 · 파묘.*₩14,000/);
  });
});

test('after a restart of the server the page reconnects and catches up without a gap or a duplicate', async () => {
  const svc = await started('restart');
  for (let i = 0; i < 3; i++) await svc.issue({ theater_name: '롯데시네마 월드타워', movie_title: '하얼빈', price_krw: 13000 });
  await withPage(svc, async (page) => {
    await waitForText(page, '[data-connection]', 'live', 5000);
    await waitForText(page, cell('theater', '롯데시네마 월드타워', 'issued'), 3);
    await svc.stop();
    await waitForText(page, '[data-connection]', 'reconnecting', 5000);
    await svc.start();
    // Committed before the page is back: it must resume after what it saw.
    for (let i = 0; i < 4; i++) await svc.issue({ theater_name: '롯데시네마 월드타워', movie_title: '하얼빈', price_krw: 13000 });
    await waitForText(page, '[data-connection]', 'live', 10000);
    await svc.issue({ theater_name: '롯데시네마 월드타워', movie_title: '하얼빈', price_krw: 13000 });
    await waitForText(page, cell('theater', '롯데시네마 월드타워', 'issued'), 8);
    await page.waitForSelector('[data-feed] [data-position="8"]', { timeout: 2000 });
    assert.deepEqual(await feedPositions(page), [8, 7, 6, 5, 4, 3, 2, 1]);
  });
});

test('with access control on, the page asks for an analyst key once and sends it in a header only', async () => {
  const svc = await started('keys', { TICKETD_API_KEYS: `analyst ${ANALYST_KEY}; clerk ${CLERK_KEY}` });
  const clerk = { Authorization: `Bearer ${CLERK_KEY}` };
  await svc.issue({ theater_name: 'CGV 용산아이파크몰', movie_title: '베테랑 2', price_krw: 12000 }, clerk);
  await withPage(svc, async (page, seen) => {
    await page.waitForSelector('[data-key-form]', { state: 'visible', timeout: 5000 });
    // Without a key the page says it waits for one, not that it reconnects.
    assert.equal(await page.locator('.status').innerText(), 'waiting for a key');
    assert.equal(await page.isVisible('[data-position-label]'), false);
    await page.fill('[data-key-input]', CLERK_KEY);
    await page.click('[data-key-form] button');
    await page.waitForSelector('[data-key-error]', { state: 'visible' });
    assert.equal(await page.textContent('[data-connection]'), 'waiting for a key');
    await page.fill('[data-key-input]', ANALYST_KEY);
    await page.click('[data-key-form] button');
    await waitForText(page, '[data-connection]', 'live', 5000);
    await waitForText(page, cell('theater', 'CGV 용산아이파크몰', 'issued'), 1);
    await svc.issue({ theater_name: 'CGV 용산아이파크몰', movie_title: '베테랑 2', price_krw: 12000 }, clerk);
    await waitForText(page, cell('theater', 'CGV 용산아이파크몰', 'issued'), 2);
    const streams = seen.requests.filter((r) => r.url().includes('/events/stream'));
    assert.ok(streams.length > 0);
    for (const r of streams) assert.equal((await r.allHeaders()).authorization, `Bearer ${ANALYST_KEY}`);
    assert.ok(seen.requests.every((r) => !r.url().includes(ANALYST_KEY) && !r.url().includes(CLERK_KEY)));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('ticketd.analystKey')), ANALYST_KEY);
    await page.reload();
    await waitForText(page, '[data-connection]', 'live', 5000);
    assert.equal(await page.isVisible('[data-key-form]'), false);
  });
});

// showingAt schedules a showing starting days from now on svc and returns its id.
async function showingAt(svc, days, showing) {
  const startsAt = new Date(Date.now() + days * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
  const r = await svc.call('POST', '/showings', { price_krw: 15000, starts_at: startsAt, ...showing });
  return r.body.id;
}

// seats is a showing's row on the dashboard: its plain-integer hooks and
// the widths of its fill bar's parts, in percent of the bar.
async function seats(page, id) {
  return page.$eval(`[data-showing="${id}"]`, (li) => {
    const field = (name) => Number(li.querySelector(`[data-field="${name}"]`).value);
    const bar = li.querySelector('.fill').getBoundingClientRect().width;
    const part = (name) => Math.round((100 * li.querySelector(`.fill .${name}`).getBoundingClientRect().width) / bar);
    return { sold: field('sold'), held: field('held'), capacity: field('capacity'), soldBar: part('sold'), heldBar: part('held') };
  });
}

test('each showing of the next 7 days has a fill bar of sold and held seats that follows sales, holds and releases live', async () => {
  const svc = await started('showings');
  const soon = await showingAt(svc, 1, { theater_name: 'CGV 강남', movie_title: '파묘', capacity: 20 });
  const later = await showingAt(svc, 3, { theater_name: '메가박스 코엑스', movie_title: '하얼빈', capacity: 10 });
  const far = await showingAt(svc, 9, { theater_name: 'CGV 강남', movie_title: '서울의 봄', capacity: 10 });
  await svc.call('POST', '/tickets/issue', { showing_id: soon, user_id: 'u1', quantity: 4 });
  const hold = await svc.call('POST', `/showings/${soon}/holds`, { user_id: 'u2', quantity: 2 });
  await withPage(svc, async (page, seen) => {
    await waitForText(page, '[data-connection]', 'live', 5000);
    await page.waitForSelector(`[data-showing="${soon}"]`, { timeout: 2000 });
    // In start order, the next 7 days only.
    assert.deepEqual(await page.$$eval('[data-showings] [data-showing]', (els) => els.map((e) => e.dataset.showing)), [soon, later]);
    assert.equal(await page.isVisible(`[data-showing="${far}"]`), false);
    assert.deepEqual(await seats(page, soon), { sold: 4, held: 2, capacity: 20, soldBar: 20, heldBar: 10 });
    assert.match(await page.textContent(`[data-showing="${soon}"]`), /CGV 강남 · 파묘.*4 \+ 2 \/ 20/);

    await svc.call('POST', '/tickets/issue', { showing_id: later, user_id: 'u3', quantity: 10 });
    await page.waitForFunction((id) => document.querySelector(`[data-showing="${id}"] [data-field="sold"]`)?.value === '10', later, { timeout: 2000, polling: 20 });
    assert.deepEqual(await seats(page, later), { sold: 10, held: 0, capacity: 10, soldBar: 100, heldBar: 0 });
    assert.match(await page.textContent(`[data-showing="${later}"] [data-status]`), /매진/);

    await svc.call('DELETE', `/holds/${hold.body.hold_id}`);
    await page.waitForFunction((id) => document.querySelector(`[data-showing="${id}"] [data-field="held"]`)?.value === '0', soon, { timeout: 2000, polling: 20 });
    assert.deepEqual(await seats(page, soon), { sold: 4, held: 0, capacity: 20, soldBar: 20, heldBar: 0 });
    // The feed names the showings' events.
    assert.match(await page.textContent('[data-feed]'), /해제.*CGV 강남 · 파묘/);
    assert.deepEqual(seen.errors, []);
  });
});

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

test('commit-to-screen latency over 100 issues, and the screenshots', async () => {
  const svc = await started('latency');
  const theaters = ['CGV 강남', '메가박스 코엑스', '롯데시네마 월드타워', 'CGV 용산아이파크몰', '씨네Q 신도림'];
  const movies = ['서울의 봄', '파묘', '범죄도시 4', '베테랑 2', '하얼빈'];
  const ids = [];
  for (let i = 0; i < 40; i++) {
    const r = await svc.issue({ theater_name: theaters[i % 5], movie_title: movies[(i * 3) % 5], price_krw: 9000 + 1000 * (i % 7), quantity: 1 + (i % 3) });
    ids.push(...r.body.ticket_ids);
  }
  await svc.refund(ids.filter((_, i) => i % 9 === 0));
  for (const [days, theater, movie, capacity, sold, held] of [[0.3, 'CGV 강남', '파묘', 180, 121, 14], [1.2, '메가박스 코엑스', '하얼빈', 120, 120, 0], [2.5, '롯데시네마 월드타워', '서울의 봄', 240, 37, 8]]) {
    const id = await showingAt(svc, days, { theater_name: theater, movie_title: movie, capacity });
    for (let left = sold; left > 0; left -= Math.min(left, 10)) await svc.call('POST', '/tickets/issue', { showing_id: id, user_id: `buyer${left}`, quantity: Math.min(left, 10) });
    if (held) await svc.call('POST', `/showings/${id}/holds`, { user_id: 'holder', quantity: Math.min(held, 10) });
  }
  await withPage(svc, async (page) => {
    await waitForText(page, '[data-connection]', 'live', 5000);
    const target = cell('theater', '씨네Q 신도림', 'issued');
    await page.waitForSelector(target);
    const millis = [];
    for (let i = 0; i < 100; i++) {
      const want = Number(await page.textContent(target)) + 1;
      const sent = Date.now();
      await svc.issue({ theater_name: '씨네Q 신도림', movie_title: movies[i % 5], price_krw: 11000 });
      await waitForText(page, target, want, 2000);
      millis.push(Date.now() - sent);
    }
    millis.sort((a, b) => a - b);
    const report = { issues: millis.length, p50_ms: percentile(millis, 50), p99_ms: percentile(millis, 99), max_ms: millis.at(-1) };
    console.log(`commit-to-screen latency: ${JSON.stringify(report)}`);
    if (process.env.LATENCY_REPORT) writeFileSync(process.env.LATENCY_REPORT, JSON.stringify(report) + '\n');
    assert.ok(report.p99_ms < 2000, `p99 ${report.p99_ms} ms`);

    // At 1280 px the tables leave no empty space in their cards: the feed
    // beside them takes their height instead of stretching them to its own.
    const gaps = await page.evaluate(() => ['theater', 'movie'].map((dim) => {
      const table = document.querySelector(`table[data-table="${dim}"]`);
      return table.closest('.card').getBoundingClientRect().bottom - table.getBoundingClientRect().bottom;
    }));
    for (const gap of gaps) assert.ok(gap < 40, `${gap} px of empty space under a table`);
    const feed = await page.evaluate(() => {
      const list = document.querySelector('[data-feed]');
      return { shown: list.clientHeight, items: list.children.length };
    });
    assert.ok(feed.shown >= 160 && feed.items > 20, `the feed shows ${feed.shown} px of ${feed.items} events`);

    const dir = process.env.SCREENSHOT_DIR ?? join(work, 'screens');
    // Each screenshot ends where the page's content does.
    const shoot = async (name, width) => {
      const height = await page.evaluate(() => Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + window.scrollY) + 16);
      await page.screenshot({ path: join(dir, name), fullPage: true, clip: { x: 0, y: 0, width, height } });
    };
    await shoot('dashboard.png', 1280);
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(300);
    await shoot('dashboard-phone.png', 390);
  });
});
