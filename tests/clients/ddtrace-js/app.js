// A small Node.js service profiled by dd-trace-js; its uploads go to DD_TRACE_AGENT_URL (profkit).
// Runs until killed.
require('dd-trace').init();

function busy(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x += Math.sqrt(x + 1);
  return x;
}

setInterval(() => {
  busy(40);
  const garbage = [];
  for (let i = 0; i < 2000; i++) garbage.push({ i, s: 'x'.repeat(16) });
}, 100);
