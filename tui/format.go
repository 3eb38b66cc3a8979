package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
)

// humanBytes formats n in IEC units, at most 8 columns wide ("1023 GiB").
func humanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n)
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	if v < 10 {
		// Keep one decimal without ever printing "10.0".
		return fmt.Sprintf("%.1f %s", math.Floor(v*10)/10, units[u])
	}
	return fmt.Sprintf("%.0f %s", math.Floor(v), units[u])
}

// humanRate formats a rate in bytes/s; zero is shown as "-" so busy columns
// stand out.
func humanRate(n int64) string {
	if n <= 0 {
		return "-"
	}
	return humanBytes(n) + "/s"
}

// humanDuration is a compact duration: "45s", "3m12s", "2h05m", "3d04h";
// negative means unknown.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	case d < 100*24*time.Hour:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
	return "∞"
}

// ago says how long before now t was; "never" for the zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return humanDuration(d) + " ago"
}

// until says how long until t, "-" when t is unset.
func until(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now)
	if d <= 0 {
		return "now"
	}
	return "in " + humanDuration(d)
}

// fraction is done/total in 0..1, 0 when total is unknown.
func fraction(done, total int64) float64 {
	if total <= 0 {
		return 0
	}
	f := float64(done) / float64(total)
	return min(max(f, 0), 1)
}

// percent formats a 0..1 fraction without claiming 100% before it is.
func percent(f float64) string {
	p := math.Floor(f * 100)
	if f >= 1 {
		p = 100
	}
	return fmt.Sprintf("%3.0f%%", p)
}

// progressBar draws f (0..1) in width cells followed by the percentage.
func progressBar(f float64, width int) string {
	bar := width - 5
	if bar < 1 {
		return percent(f)
	}
	full := int(math.Floor(f * float64(bar)))
	return strings.Repeat("█", full) + strings.Repeat("░", bar-full) + " " + percent(f)
}

var sparkRunes = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width samples, scaled to their maximum, padded on
// the left while history is short.
func sparkline(samples []int64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(samples) > width {
		samples = samples[len(samples)-width:]
	}
	var peak int64
	for _, v := range samples {
		peak = max(peak, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(samples)))
	for _, v := range samples {
		i := 0
		if peak > 0 && v > 0 {
			i = int(math.Ceil(float64(v)/float64(peak)*float64(len(sparkRunes)))) - 1
			i = min(max(i, 0), len(sparkRunes)-1)
		}
		b.WriteRune(sparkRunes[i])
	}
	return b.String()
}

// truncate cuts s (which may hold ANSI styles) to w columns, marking the cut.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(s, w, "…")
}

// fit truncates or pads s to exactly w columns.
func fit(s string, w int) string {
	s = truncate(s, w)
	if n := lipgloss.Width(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

// fitRight is fit with the text aligned right.
func fitRight(s string, w int) string {
	s = truncate(s, w)
	if n := lipgloss.Width(s); n < w {
		s = strings.Repeat(" ", w-n) + s
	}
	return s
}

// wrapSegments joins segments with sep, starting a new line instead of
// overflowing width. A segment wider than width is truncated.
func wrapSegments(segs []string, sep string, width int) []string {
	var lines []string
	cur := ""
	for _, s := range segs {
		if s == "" {
			continue
		}
		switch {
		case cur == "":
			cur = s
		case lipgloss.Width(cur)+lipgloss.Width(sep)+lipgloss.Width(s) <= width:
			cur += sep + s
		default:
			lines = append(lines, truncate(cur, width))
			cur = s
		}
	}
	if cur != "" {
		lines = append(lines, truncate(cur, width))
	}
	return lines
}
