// Charts drawn locally as SVG (no chart library).
const NS = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

export const PALETTE = ["#003fa3", "#1b8a3a", "#c77700", "#a00000", "#6a1b9a", "#444444"];

/** Stacked horizontal bars: rows = [{label, values: {series: n}}], series = [{key, label}]. */
export function stackedBars(rows, series, { width = 640, title = "" } = {}) {
  const rowH = 34, left = 150, top = title ? 28 : 10, right = 40;
  const height = top + rows.length * rowH + 30;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  if (title) svg.append(s("text", { x: 8, y: 18, "font-weight": "700" }, title));
  const max = Math.max(1, ...rows.map(r => series.reduce((t, se) => t + (r.values[se.key] || 0), 0)));
  const scale = (width - left - right) / max;
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    svg.append(s("text", { x: left - 6, y: y + 20, "text-anchor": "end" }, r.label));
    let x = left, total = 0;
    series.forEach((se, j) => {
      const v = r.values[se.key] || 0; total += v;
      if (!v) return;
      const w = v * scale;
      const rect = s("rect", { x, y: y + 5, width: Math.max(1, w), height: rowH - 10, fill: PALETTE[j % PALETTE.length],
        stroke: "#000", "stroke-width": 1 });
      rect.append(s("title", {}, `${se.label}: ${v}`));
      svg.append(rect);
      if (w > 22) svg.append(s("text", { x: x + w / 2, y: y + 22, "text-anchor": "middle", class: "in",
        "font-weight": "700" }, String(v)));
      x += w;
    });
    svg.append(s("text", { x: x + 4, y: y + 22 }, String(total)));
  });
  const axisY = top + rows.length * rowH + 4;
  svg.append(s("line", { x1: left, y1: axisY, x2: width - right, y2: axisY, stroke: "#000" }));
  svg.append(s("text", { x: left, y: axisY + 18 }, "0"));
  svg.append(s("text", { x: width - right, y: axisY + 18, "text-anchor": "end" }, String(max)));
  return svg;
}

export function legend(series) {
  const div = document.createElement("div");
  div.className = "legend";
  series.forEach((se, j) => {
    const span = document.createElement("span");
    const sw = document.createElement("i");
    sw.style.background = PALETTE[j % PALETTE.length];
    span.append(sw, se.label);
    div.append(span);
  });
  return div;
}

/** Line chart with a log10 x axis: lines = [{label, points: [[x, y]…]}]; marks = [{x, y, label}]. */
export function logXChart(lines, { width = 640, height = 360, xLabel = "", yLabel = "", title = "", marks = [],
                                   yLog = false } = {}) {
  const m = { l: 64, r: 16, t: title ? 30 : 12, b: 46 };
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  if (title) svg.append(s("text", { x: 8, y: 18, "font-weight": "700" }, title));
  const all = lines.flatMap(l => l.points).filter(([x, y]) => x > 0 && (!yLog || y > 0));
  if (!all.length) return svg;
  const lx = all.map(p => Math.log10(p[0]));
  const x0 = Math.floor(Math.min(...lx)), x1 = Math.ceil(Math.max(...lx));
  const ys = all.map(p => (yLog ? Math.log10(p[1]) : p[1]));
  const y0 = yLog ? Math.floor(Math.min(...ys)) : 0, y1 = yLog ? Math.ceil(Math.max(...ys)) : Math.max(0.05, ...ys);
  const X = v => m.l + (Math.log10(v) - x0) / Math.max(1e-9, x1 - x0) * (width - m.l - m.r);
  const Y = v => height - m.b - ((yLog ? Math.log10(v) : v) - y0) / Math.max(1e-9, y1 - y0) * (height - m.t - m.b);
  for (let e = x0; e <= x1; e++) {
    const x = X(10 ** e);
    svg.append(s("line", { x1: x, y1: m.t, x2: x, y2: height - m.b, stroke: "#bbb" }));
    svg.append(s("text", { x, y: height - m.b + 16, "text-anchor": "middle" }, `1e${e}`));
  }
  const ticks = yLog ? Array.from({ length: y1 - y0 + 1 }, (_, i) => 10 ** (y0 + i))
                     : Array.from({ length: 6 }, (_, i) => y0 + (y1 - y0) * i / 5);
  for (const t of ticks) {
    const y = Y(t);
    svg.append(s("line", { x1: m.l, y1: y, x2: width - m.r, y2: y, stroke: "#ddd" }));
    svg.append(s("text", { x: m.l - 6, y: y + 4, "text-anchor": "end" }, yLog ? t.toExponential(0) : t.toFixed(2)));
  }
  svg.append(s("rect", { x: m.l, y: m.t, width: width - m.l - m.r, height: height - m.t - m.b, fill: "none",
    stroke: "#000" }));
  lines.forEach((l, i) => {
    const pts = l.points.filter(([x, y]) => x > 0 && (!yLog || y > 0)).map(([x, y]) => `${X(x).toFixed(1)},${Y(y).toFixed(1)}`);
    svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: PALETTE[i % PALETTE.length],
      "stroke-width": 2.5 }));
  });
  marks.forEach((mk, i) => {
    if (!(mk.x > 0)) return;
    const cx = X(mk.x), cy = Y(Math.max(mk.y, yLog ? 10 ** y0 : 0));
    svg.append(s("circle", { cx, cy, r: 5, fill: "#ffd400", stroke: "#000", "stroke-width": 2 }));
    svg.append(s("text", { x: cx + 7, y: cy - 6 - (i % 3) * 12 }, mk.label));
  });
  svg.append(s("text", { x: (m.l + width - m.r) / 2, y: height - 8, "text-anchor": "middle" }, xLabel));
  svg.append(s("text", { x: 14, y: (m.t + height - m.b) / 2, transform: `rotate(-90 14 ${(m.t + height - m.b) / 2})`,
    "text-anchor": "middle" }, yLabel));
  return svg;
}
