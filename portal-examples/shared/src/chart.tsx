// A small dependency-free bar chart (SVG) for signed figures such as net exposure: one bar per label,
// left of the zero line for negative values, right for positive. The figures arrive as decimal strings;
// only the bars' lengths are computed in floating point (a picture, never an amount shown as text):
// every value is also written out exactly beside its bar, and the chart has a text alternative.
import { useId } from "react";

export interface BarDatum {
  label: string;
  /** A decimal string ("-12.5", "3") — written out as given (or through `format`). */
  value: string;
}

export function BarChart({ data, title, format, height = 26 }: {
  data: readonly BarDatum[];
  title: string;
  format?: (value: string) => string;
  height?: number;
}) {
  const titleId = useId();
  const show = format ?? ((v: string) => v);
  const numbers = data.map((d) => Number(d.value) || 0);
  const max = Math.max(1e-12, ...numbers.map(Math.abs));
  const hasNegative = numbers.some((n) => n < 0);
  const width = 600;
  const labelW = 110;
  const textW = 130;
  const plotW = width - labelW - textW;
  const zero = labelW + (hasNegative ? plotW / 2 : 0);
  const scale = (hasNegative ? plotW / 2 : plotW) / max;
  const rows = data.length;
  const total = Math.max(1, rows) * height + 8;
  return (
    <figure className="chart">
      <svg role="img" aria-labelledby={titleId} viewBox={`0 0 ${width} ${total}`} width="100%" preserveAspectRatio="xMinYMin meet">
        <title id={titleId}>{`${title}: ${data.map((d) => `${d.label} ${show(d.value)}`).join(", ")}`}</title>
        <line x1={zero} x2={zero} y1={0} y2={total} stroke="#6e7781" strokeWidth={1} />
        {data.map((d, i) => {
          const n = numbers[i];
          const len = Math.abs(n) * scale;
          const y = 4 + i * height;
          const x = n < 0 ? zero - len : zero;
          return (
            <g key={d.label} data-label={d.label}>
              <text x={labelW - 6} y={y + height / 2} textAnchor="end" dominantBaseline="middle" fontSize={13} fill="#1b1f24">{d.label}</text>
              <rect x={x} y={y + 3} width={Math.max(len, n === 0 ? 0 : 1)} height={height - 8} fill={n < 0 ? "#b3261e" : "#0b5cad"} />
              <text x={width - textW + 6} y={y + height / 2} dominantBaseline="middle" fontSize={13} fill="#1b1f24">{show(d.value)}</text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
