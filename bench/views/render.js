// Opens a flame graph SVG in Debian's headless Chromium and times what a user waits for:
// navigation to the first frame painted, a click-to-zoom, and a search. Prints JSON.
//   node render.js GRAPH.svg
'use strict';
const path = require('path');
const { chromium } = require(path.join(__dirname, '../../tests/browser/node_modules/playwright-core'));

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
                                          args: ['--disable-gpu', '--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1220, height: 900 } });
  const started = Date.now();
  await page.goto('file://' + path.resolve(process.argv[2]), { waitUntil: 'load' });
  // Two animation frames after load: the layout has been painted.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const loadMs = Date.now() - started;
  const frames = await page.locator('#frames > g').count();
  const timed = async (action) => {
    const t = Date.now();
    await action();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    return Date.now() - t;
  };
  const zoomMs = await timed(() => page.locator('#frames > g:nth-child(3) rect').click());
  const searchMs = await timed(() => page.locator('#search').fill('step_2'));
  await browser.close();
  process.stdout.write(JSON.stringify({ load_ms: loadMs, zoom_ms: zoomMs, search_ms: searchMs,
                                        frames }) + '\n');
})();
