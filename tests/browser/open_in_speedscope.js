// Loads a file into speedscope itself (the app the `speedscope` npm package ships, in Debian's
// headless Chromium) the way a user does, through its file chooser, and prints JSON: the window
// title speedscope sets from the loaded profile's name, how it said it imported the file, and
// page errors.
//   node open_in_speedscope.js PROFILE.speedscope.json
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  const result = { console: [], errors: [] };
  try {
    const page = await browser.newPage();
    page.on('console', (message) => result.console.push(message.text()));
    page.on('pageerror', (error) => result.errors.push(String(error)));
    const app = require.resolve('speedscope/dist/release/index.html');
    await page.goto('file://' + app);
    await page.setInputFiles('input[type=file]', path.resolve(process.argv[2]));
    await page.waitForFunction(() => document.title !== 'speedscope', null, { timeout: 20000 });
    result.title = await page.title();
    result.imported_as = result.console.filter((line) => line.startsWith('Importing as'));
    result.console = result.console.filter((line) => !line.includes('GL'));
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(result) + '\n');
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
});
