package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Chart geometry.
const (
	svgWidth   = 980
	plotLeft   = 300
	plotRight  = 790
	rowHeight  = 50
	scaleTop   = 70 // from the end of the bars panel
	scaleH     = 220
	svgPadding = 20
)

var (
	floorColors = []string{"#6b6b6b", "#a3a3a3", "#d4d4d4"}
	refColors   = []string{"#dd6b20", "#975a16"}
	peerColor   = "#805ad5"
)

type svgw struct{ b strings.Builder }

func (s *svgw) f(format string, args ...any) { fmt.Fprintf(&s.b, format, args...); s.b.WriteByte('\n') }

func (s *svgw) text(x, y float64, anchor, style, t string) {
	s.f(`<text x="%.1f" y="%.1f" text-anchor="%s" %s>%s</text>`, x, y, anchor, style, html.EscapeString(t))
}

// niceStep is a round tick step that gives about n ticks up to max.
func niceStep(max float64, n int) float64 {
	if max <= 0 || math.IsNaN(max) {
		return 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// SVG is the chart: p50 of every cell and op against its floor (stacked
// from its parts), with min-p90 whiskers, the cell's target (its kind's
// limit times the floor), the reference plugin on the cell of its
// configuration and the peer measured in the same run; below it, the scale
// curve.
func (rep *Report) SVG() string {
	r := rep.R
	rows := r.Rows()
	var s svgw
	barsTop := 104.0
	barsH := float64(len(rows))*rowHeight + 40
	scaleY := barsTop + barsH + scaleTop
	height := scaleY + scaleH + 70
	s.f(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
		svgWidth, height, svgWidth, height)
	s.f(`<rect width="100%%" height="100%%" fill="white"/>`)
	s.text(svgPadding, 24, "start", `font-size="16" font-weight="bold"`, "fastpath: CNI ADD and DEL through libcni, p50 against the floor")
	s.text(svgPadding, 42, "start", `fill="#555"`, fmt.Sprintf("one run of make bench, %s, commit %s; compare ratios, not milliseconds", rep.Date, rep.Commit))

	// Legend, two rows.
	lx, ly := float64(svgPadding), 56.0
	legend := func(color, label string, dashed bool) {
		if dashed {
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2" stroke-dasharray="3,2"/>`, lx+5, ly, lx+5, ly+12, color)
		} else {
			s.f(`<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`, lx, ly, color)
		}
		s.text(lx+16, ly+10, "start", "", label)
		lx += 26 + float64(len(label))*6.6
	}
	legend("#2b6cb0", "measured p50 (whisker: min to p90)", false)
	legend(floorColors[0], "fastpath start", false)
	legend(floorColors[1], "host-local start", false)
	legend(floorColors[2], "kernel calls / OVSDB", false)
	lx, ly = float64(svgPadding), 74
	legend("#c53030", "target: the cell's limit x floor", true)
	for k, ref := range References {
		c := refColors[k%len(refColors)]
		s.f(`<path d="M %.1f %.1f l 5 8 l 5 -8 z" fill="%s"/>`, lx, ly+2, c)
		s.text(lx+14, ly+10, "start", "", ref.Plugin+" (same guest, from the issue)")
		lx += 40 + float64(len(ref.Plugin+" (same guest, from the issue)"))*6.2
	}
	s.f(`<path d="M %.1f %.1f l 5 8 l 5 -8 z" fill="%s"/>`, lx, ly+2, peerColor)
	s.text(lx+14, ly+10, "start", "", "host-device (same run)")

	// The x scale of the bars.
	xmax := 10.0
	for _, w := range rows {
		xmax = max(xmax, w.S.P90, w.Floor.P50*Limits[w.Path.Kind])
		for _, ref := range References {
			if w.Path.Name == ref.Path {
				xmax = max(xmax, map[string]float64{"ADD": ref.ADD, "DEL": ref.DEL}[w.Op])
			}
		}
		if peer, ok := r.Stats(w.Path.Env, w.Path.Name+"/peer/"+w.Op); ok {
			xmax = max(xmax, peer.P50)
		}
	}
	step := niceStep(xmax, 8)
	xmax = math.Ceil(xmax*1.02/step) * step
	x := func(v float64) float64 { return plotLeft + (plotRight-plotLeft)*v/xmax }
	for t := 0.0; t <= xmax+step/2; t += step {
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x(t), barsTop-6, x(t), barsTop+barsH-34)
		s.text(x(t), barsTop+barsH-20, "middle", `fill="#555"`, fmt.Sprintf("%g", t))
	}
	s.text((plotLeft+plotRight)/2, barsTop+barsH-4, "middle", `fill="#555"`, "milliseconds")

	for i, w := range rows {
		y := barsTop + float64(i)*rowHeight
		s.text(plotLeft-10, y+13, "end", `font-weight="bold"`, w.Path.Title)
		s.text(plotLeft-10, y+28, "end", `fill="#555"`, w.Op+", on the "+w.Path.Env)
		// Measured.
		s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="16" fill="#2b6cb0"/>`, x(0), y, x(w.S.P50)-x(0))
		s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1a365d" stroke-width="1.5"/>`, x(w.S.Min), y+8, x(w.S.P90), y+8)
		for _, v := range []float64{w.S.Min, w.S.P90} {
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#1a365d" stroke-width="1.5"/>`, x(v), y+3, x(v), y+13)
		}
		_, p50r, _ := w.Ratios()
		note := fmt.Sprintf("%s ms", ms(w.S.P50))
		if w.Floor.Available {
			note += fmt.Sprintf(", %s floor", ratio(p50r))
		}
		noteX := x(w.S.P90)
		if w.Floor.Available {
			noteX = max(noteX, x(w.Floor.P50*Limits[w.Path.Kind]))
		}
		s.text(noteX+6, y+13, "start", "", note)
		// Floor, stacked from its parts.
		if w.Floor.Available {
			fx := x(0)
			for j, p := range w.Floor.Parts {
				c := floorColors[min(j, len(floorColors)-1)]
				if len(w.Floor.Parts) == 2 && j == 1 {
					c = floorColors[2]
				}
				wd := x(p.S.P50) - x(0)
				s.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="10" fill="%s"><title>%s %s ms</title></rect>`, fx, y+19, wd, c, html.EscapeString(p.Name), ms(p.S.P50))
				fx += wd
			}
			s.text(fx+6, y+28, "start", `fill="#555"`, fmt.Sprintf("floor %s ms", ms(w.Floor.P50)))
			lim := x(w.Floor.P50 * Limits[w.Path.Kind])
			s.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#c53030" stroke-width="2" stroke-dasharray="3,2"/>`, lim, y-2, lim, y+31)
		}
		for k, ref := range References {
			if w.Path.Name != ref.Path {
				continue
			}
			v := ref.ADD
			if w.Op == "DEL" {
				v = ref.DEL
			}
			s.f(`<path d="M %.1f %.1f l -5 -8 l 10 0 z" fill="%s"><title>%s %s ms</title></path>`, x(v), y-1, refColors[k%len(refColors)], ref.Plugin, ms(v))
		}
		if peer, ok := r.Stats(w.Path.Env, w.Path.Name+"/peer/"+w.Op); ok {
			s.f(`<path d="M %.1f %.1f l -5 -8 l 10 0 z" fill="%s"><title>%s %s ms</title></path>`, x(peer.P50), y-1, peerColor, w.Path.Peer, ms(peer.P50))
		}
	}

	rep.scaleChart(&s, scaleY)
	s.f(`</svg>`)
	return s.b.String()
}

func (rep *Report) scaleChart(s *svgw, top float64) {
	r := rep.R
	counts := r.ScaleCounts()
	s.text(svgPadding, top-30, "start", `font-size="14" font-weight="bold"`,
		fmt.Sprintf("Scale: one ADD's discovery + state handling, %d PFs with N VFs each (host, tmpfs)", ScalePFs))
	if len(counts) == 0 {
		s.text(plotLeft, top+20, "start", "", "not measured")
		return
	}
	series := []struct {
		name, label, color string
	}{
		{"ADD", "ADD: LookupVF + state", "#2b6cb0"},
		{"DEL", "DEL: state", "#805ad5"},
		{"lookup", "LookupVF alone", "#dd6b20"},
	}
	ymax := 1.0
	vals := map[string][]float64{}
	for _, se := range series {
		for _, n := range counts {
			st, _ := r.Stats(EnvHost, fmt.Sprintf("scale/%d/%s", n, se.name))
			v := st.P50 * 1000 // µs
			vals[se.name] = append(vals[se.name], v)
			if !math.IsNaN(v) {
				ymax = max(ymax, v)
			}
		}
	}
	step := niceStep(ymax*1.15, 5)
	ymax = math.Ceil(ymax*1.15/step) * step
	bottom := top + scaleH
	y := func(v float64) float64 { return bottom - scaleH*v/ymax }
	lo, hi := math.Log2(float64(counts[0])), math.Log2(float64(counts[len(counts)-1]))
	x := func(n int) float64 {
		if hi == lo {
			return (plotLeft + plotRight) / 2
		}
		return plotLeft + 20 + (plotRight-plotLeft-40)*(math.Log2(float64(n))-lo)/(hi-lo)
	}
	for t := 0.0; t <= ymax+step/2; t += step {
		s.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, plotLeft, y(t), plotRight, y(t))
		s.text(plotLeft-8, y(t)+4, "end", `fill="#555"`, fmt.Sprintf("%g", t))
	}
	s.text(plotLeft-50, (top+bottom)/2, "middle", fmt.Sprintf(`fill="#555" transform="rotate(-90 %d %.1f)"`, plotLeft-50, (top+bottom)/2), "µs (p50)")
	for _, n := range counts {
		s.text(x(n), bottom+16, "middle", `fill="#555"`, fmt.Sprintf("%d", n))
	}
	s.text((plotLeft+plotRight)/2, bottom+34, "middle", `fill="#555"`, "VFs per PF (log scale)")
	for i, se := range series {
		var pts []string
		for j, n := range counts {
			if v := vals[se.name][j]; !math.IsNaN(v) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(n), y(v)))
			}
		}
		s.f(`<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`, strings.Join(pts, " "), se.color)
		for j, n := range counts {
			if v := vals[se.name][j]; !math.IsNaN(v) {
				s.f(`<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`, x(n), y(v), se.color)
				// Values of ADD above the points, of DEL below; LookupVF's are in the table.
				switch se.name {
				case "ADD":
					s.text(x(n)+6, y(v)-7, "start", fmt.Sprintf(`font-size="10" fill="%s"`, se.color), fmt.Sprintf("%.0f", v))
				case "DEL":
					s.text(x(n)-6, y(v)-7, "end", fmt.Sprintf(`font-size="10" fill="%s"`, se.color), fmt.Sprintf("%.0f", v))
				}
			}
		}
		ly := top + 14 + float64(i)*16
		s.f(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="2"/>`, svgPadding, ly-4, svgPadding+18, ly-4, se.color)
		s.text(svgPadding+24, ly, "start", "", se.label)
	}
}
