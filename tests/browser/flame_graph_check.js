// Opens a profkit flame graph SVG in Debian's headless Chromium (playwright-core, no bundled
// browser) and acts as a user would: reads a frame's tooltip, hovers it, clicks it to zoom,
// searches, and saves a screenshot. Prints what it saw as JSON for the caller to judge
// (tests/integration/test_views.py). Also opens it as an <img>, where no script runs.
//   node flame_graph_check.js GRAPH.svg FUNCTION SEARCH SCREENSHOT.png
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [svgPath, hotFunction, searchTerm, screenshotPath] = process.argv.slice(2);

function percentOf(text) {
  const match = /([0-9.]+)%/.exec(text);
  return match ? parseFloat(match[1]) : null;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--disable-gpu', '--no-sandbox'],
  });
  const result = {};
  try {
    const page = await browser.newPage({ viewport: { width: 1220, height: 700 } });
    const errors = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    const started = Date.now();
    await page.goto('file://' + path.resolve(svgPath));
    await page.waitForSelector('#frames > g');
    result.load_ms = Date.now() - started;
    result.frame_count = await page.locator('#frames > g').count();

    // The widest frame whose tooltip (its <title>) names the function: a process's first samples
    // can stand under another root (walked by frame pointer before its unwind tables were loaded).
    const candidates = page.locator('#frames > g', {
      has: page.locator('title', { hasText: new RegExp('^' + hotFunction + '\\n') }),
    });
    let widest = 0;
    let widestWidth = -1;
    for (let i = 0; i < (await candidates.count()); ++i) {
      const width = parseFloat(await candidates.nth(i).locator('rect').getAttribute('width'));
      if (width > widestWidth) {
        widest = i;
        widestWidth = width;
      }
    }
    const frame = candidates.nth(widest);
    result.tooltip = await frame.locator('title').textContent();
    result.tooltip_percent = percentOf(result.tooltip.split('\n').pop());

    await frame.locator('rect').hover();
    result.details = await page.locator('#details').textContent();

    // Click to zoom: the frame spans the width, frames beside it are hidden.
    const before = parseFloat(await frame.locator('rect').getAttribute('width'));
    await frame.locator('rect').click();
    result.zoom = {
      width_before: before,
      width_after: parseFloat(await frame.locator('rect').getAttribute('width')),
      hidden_frames: await page.locator('#frames > g.hidden').count(),
      reset_visible: await page.locator('#reset').getAttribute('visibility'),
    };
    await page.keyboard.press('Escape');
    result.unzoomed_hidden_frames = await page.locator('#frames > g.hidden').count();

    await page.locator('#search').fill(searchTerm);
    result.search = {
      matched: await page.locator('#matched').textContent(),
      highlighted: await page.locator('#frames > g.hl').count(),
    };
    result.search.percent = percentOf(result.search.matched);
    await page.screenshot({ path: screenshotPath });
    result.errors = errors;

    // Opened as an image (no scripts): it must still decode and have its size.
    const htmlPath = path.resolve(svgPath) + '.html';
    fs.writeFileSync(htmlPath, '<img id="graph" src="' + path.basename(svgPath) + '">');
    await page.goto('file://' + htmlPath);
    await page.waitForFunction(() => document.getElementById('graph').complete);
    result.as_image = await page.evaluate(() => {
      const img = document.getElementById('graph');
      return { width: img.naturalWidth, height: img.naturalHeight };
    });
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result) + '\n');
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
});
