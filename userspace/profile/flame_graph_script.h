// The style sheet and script embedded in every flame graph SVG (flame_graph_svg.cc). The script
// reads the static layout back from the rectangles, so the file needs no data besides the drawing:
//   hover   shows the frame's tooltip text (its <title>) on the details line;
//   click   zooms into a frame: it spans the width, its ancestors stay below it, the rest hides;
//   search  highlights frames whose name matches a regular expression (a plain string when it is
//           not one) and shows the share of all samples under them, overlaps counted once;
//   Escape, [reset zoom] or a click on "all" undo the zoom.
#pragma once

namespace profkit::profile {

inline constexpr char kFlameGraphStyle[] = R"(<style>
text { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 11px; fill: #000; }
#heading { font-size: 15px; font-weight: bold; }
#reset { cursor: pointer; fill: #1a4fb0; }
#search { width: 250px; font-size: 12px; }
.f { cursor: pointer; }
.f text { pointer-events: none; }
.f:hover rect { stroke: #222; stroke-width: 0.8; }
.f.hl rect { fill: rgb(225, 60, 220); }
.f.hidden { display: none; }
</style>
)";

inline constexpr char kFlameGraphScript[] = R"JS('use strict';
(function () {
  const svg = document.documentElement;
  const width = parseFloat(svg.getAttribute('width'));
  const pad = 10;
  const charWidth = 6.7;
  const details = document.getElementById('details');
  const matched = document.getElementById('matched');
  const reset = document.getElementById('reset');
  const search = document.getElementById('search');
  const frames = Array.from(document.querySelectorAll('#frames > g')).map(function (g) {
    const rect = g.querySelector('rect');
    const lines = g.querySelector('title').textContent.split('\n');
    return {
      g: g, rect: rect, text: g.querySelector('text'), name: lines[0], tip: lines.join('  |  '),
      x: parseFloat(rect.getAttribute('x')), w: parseFloat(rect.getAttribute('width')),
      y: parseFloat(rect.getAttribute('y'))
    };
  });
  const byElement = new Map(frames.map(function (f) { return [f.g, f]; }));
  const eps = 1e-6;

  function label(name, w) {
    const fit = Math.floor((w - 6) / charWidth);
    if (fit < 3) return '';
    return name.length <= fit ? name : name.slice(0, fit - 2) + '..';
  }

  function place(f, x, w) {
    f.g.classList.remove('hidden');
    f.rect.setAttribute('x', x.toFixed(2));
    f.rect.setAttribute('width', w.toFixed(2));
    f.text.setAttribute('x', (x + 3).toFixed(2));
    f.text.textContent = label(f.name, w);
  }

  function zoom(target) {
    const scale = (width - 2 * pad) / target.w;
    for (const f of frames) {
      const inside = f.x >= target.x - eps && f.x + f.w <= target.x + target.w + eps;
      const covers = f.x <= target.x + eps && f.x + f.w >= target.x + target.w - eps;
      if (f.y > target.y && covers) {
        place(f, pad, width - 2 * pad);
      } else if (f.y <= target.y && inside) {
        place(f, pad + (f.x - target.x) * scale, f.w * scale);
      } else {
        f.g.classList.add('hidden');
      }
    }
    reset.setAttribute('visibility', target === frames[0] ? 'hidden' : 'visible');
  }

  function unzoom() { zoom(frames[0]); }

  function find(term) {
    let pattern = null;
    if (term) {
      try { pattern = new RegExp(term); } catch (e) {
        pattern = new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      }
    }
    const hits = [];
    for (const f of frames) {
      const hit = pattern !== null && f !== frames[0] && pattern.test(f.name);
      f.g.classList.toggle('hl', hit);
      if (hit) hits.push([f.x, f.x + f.w]);
    }
    if (pattern === null) { matched.textContent = ' '; return; }
    // A match inside another match is the same samples: measure the union of their spans.
    hits.sort(function (a, b) { return a[0] - b[0]; });
    let covered = 0, end = -Infinity;
    for (const [start, stop] of hits) {
      if (start >= end) { covered += stop - start; end = stop; }
      else if (stop > end) { covered += stop - end; end = stop; }
    }
    const percent = 100 * covered / frames[0].w;
    matched.textContent = 'Matched: ' + percent.toFixed(2) + '% (' + hits.length + ' frames)';
  }

  document.getElementById('frames').addEventListener('mouseover', function (event) {
    const f = byElement.get(event.target.closest('.f'));
    if (f) details.textContent = f.tip;
  });
  document.getElementById('frames').addEventListener('mouseout', function () {
    details.textContent = ' ';
  });
  document.getElementById('frames').addEventListener('click', function (event) {
    const f = byElement.get(event.target.closest('.f'));
    if (f) zoom(f);
  });
  reset.addEventListener('click', unzoom);
  search.addEventListener('input', function () { find(search.value); });
  document.addEventListener('keydown', function (event) {
    if (event.key === 'Escape') { unzoom(); search.value = ''; find(''); }
    if ((event.ctrlKey || event.metaKey) && event.key === 'f') {
      event.preventDefault();
      search.focus();
    }
  });
})();
)JS";

}  // namespace profkit::profile
