// End-to-end tests of the API documentation pages, GET /docs (Swagger UI)
// and GET /redoc, in headless Chromium against a real ticketd process: the
// operations a reader sees (GET, POST and DELETE; the document's HEAD and CORS
// preflight operations are left out of the pages) and the locks, shown only
// on the operations that need a role when API keys are configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ANALYST_KEY, CLERK_KEY, started, openPage } from './harness.mjs';

// OPERATIONS are the GET, POST and DELETE operations of httpapi/openapi.json; ROLED
// those that need a role with access control on.
const { OPERATIONS, ROLED } = (() => {
  const doc = JSON.parse(readFileSync(new URL('../../httpapi/openapi.json', import.meta.url)));
  const ops = Object.values(doc.paths).flatMap((item) => ['get', 'post', 'delete'].filter((m) => item[m]).map((m) => item[m]));
  return { OPERATIONS: ops.length, ROLED: ops.filter((op) => (op.security ?? []).length > 0).length };
})();

async function withDocs(svc, path, fn) {
  const { page, seen, close } = await openPage(svc, path);
  try {
    await fn(page, seen);
    assert.deepEqual(seen.errors, []);
    const foreign = seen.requests.map((r) => r.url()).filter((url) => new URL(url).origin !== svc.base && !url.startsWith('data:'));
    assert.deepEqual(foreign, []);
  } finally {
    await close();
  }
}

// swaggerOperations returns the method of every operation Swagger UI shows
// and how many of them show a lock.
async function swaggerOperations(page) {
  await page.locator('.opblock').first().waitFor({ timeout: 20000 });
  return page.evaluate(() => {
    const ops = [...document.querySelectorAll('.opblock')].filter((el) => el.offsetParent !== null);
    return {
      methods: ops.map((el) => el.querySelector('.opblock-summary-method').textContent),
      locks: ops.filter((el) => el.querySelector('.authorization__btn')).length,
      authorize: document.querySelector('.auth-wrapper .authorize') !== null,
    };
  });
}

// redocOperations returns the method of every operation ReDoc's menu lists
// and how many operations show an Authorizations section.
async function redocOperations(page) {
  await page.locator('.operation-type').first().waitFor({ state: 'attached', timeout: 20000 });
  return page.evaluate(() => ({
    methods: [...document.querySelectorAll('.operation-type')].map((el) => el.textContent),
    locks: [...document.querySelectorAll('h5')].filter((el) => el.textContent.trim() === 'Authorizations:').length,
  }));
}

const count = (methods, m) => methods.filter((x) => x.toLowerCase() === m).length;

for (const keys of [false, true]) {
  const env = keys ? { TICKETD_API_KEYS: `analyst ${ANALYST_KEY}; clerk ${CLERK_KEY}` } : {};
  const state = keys ? 'This server has access control on' : 'This server has access control off';

  test(`Swagger UI with access control ${keys ? 'on' : 'off'}: ${OPERATIONS} operations, no HEAD or OPTIONS, ${keys ? ROLED : 'no'} locks`, async () => {
    const svc = await started(`docs-${keys}`, env);
    try {
      await withDocs(svc, '/docs', async (page) => {
        const { methods, locks, authorize } = await swaggerOperations(page);
        assert.equal(methods.length, OPERATIONS, `operations shown: ${methods}`);
        assert.equal(count(methods, 'get') + count(methods, 'post') + count(methods, 'delete'), OPERATIONS);
        assert.equal(count(methods, 'head') + count(methods, 'options'), 0);
        assert.equal(locks, keys ? ROLED : 0);
        assert.equal(authorize, keys, 'the Authorize button shows with keys only');
        assert.ok((await page.textContent('.information-container')).includes(state));
        // The lock of an operation that needs a role, and none on one that does not.
        const issue = page.locator('#operations-tickets-issue_tickets_tickets_issue_post');
        const health = page.locator('#operations-health-health_check__get');
        assert.equal(await issue.locator('.authorization__btn').count(), keys ? 1 : 0);
        assert.equal(await health.locator('.authorization__btn').count(), 0);
      });
    } finally {
      await svc.stop();
    }
  });

  test(`ReDoc with access control ${keys ? 'on' : 'off'}: ${OPERATIONS} operations, no HEAD or OPTIONS, ${keys ? ROLED : 'no'} Authorizations`, async () => {
    const svc = await started(`redoc-${keys}`, env);
    try {
      await withDocs(svc, '/redoc', async (page) => {
        const { methods, locks } = await redocOperations(page);
        assert.equal(methods.length, OPERATIONS, `operations listed: ${methods}`);
        assert.equal(count(methods, 'head') + count(methods, 'options'), 0);
        assert.equal(locks, keys ? ROLED : 0);
        assert.ok((await page.textContent('body')).includes(state));
      });
    } finally {
      await svc.stop();
    }
  });
}

test('the document itself still describes HEAD and the CORS preflights', async () => {
  const svc = await started('document');
  try {
    const doc = await (await fetch(`${svc.base}/openapi.json`)).json();
    const methods = Object.values(doc.paths).flatMap((item) => Object.keys(item));
    assert.ok(methods.includes('head') && methods.includes('options'));
  } finally {
    await svc.stop();
  }
});
