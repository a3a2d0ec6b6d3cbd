// A small Node.js service profiled by @pyroscope/nodejs; it pushes to PYROSCOPE_SERVER_ADDRESS
// (profkit's Pyroscope listener) every PYROSCOPE_FLUSH_INTERVAL_MS. Runs until killed.
const Pyroscope = require('@pyroscope/nodejs');

Pyroscope.init({ tags: { region: 'it-region' } });
Pyroscope.start();

function profkitHotFunction(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  return x;
}

setInterval(() => {
  profkitHotFunction(80);
  const garbage = [];
  for (let i = 0; i < 2000; i++) garbage.push({ i, s: 'x'.repeat(16) });
}, 100);
