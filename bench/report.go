package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/chatstore/chatstore/internal/plural"
)

func (r *runner) setStage(stage string, goal int64) {
	stage = r.cfg.label + stage
	r.stage.Store(&stage)
	r.done.Store(0)
	r.goal.Store(goal)
	if r.cfg.Progress != nil {
		r.printProgress() // at once: a short stage may end before the next tick
	}
}

// startProgress writes the progress line a few times a second until the
// returned function is called.
func (r *runner) startProgress() (stop func()) {
	if r.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				r.printProgress()
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *runner) printProgress() {
	stage := r.stage.Load()
	if stage == nil {
		return
	}
	line := *stage + ": " + fmt.Sprint(r.done.Load())
	if goal := r.goal.Load(); goal > 0 {
		line += fmt.Sprintf("/%d (%d%%)", goal, r.done.Load()*100/goal)
	}
	fmt.Fprintf(r.cfg.Progress, "\r%-78.78s\r", line)
}

// clearProgress blanks the progress line, so that what follows starts on a
// clean line.
func (r *runner) clearProgress() {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "\r%78s\r", "")
	}
}

// WriteTable writes the results as an aligned text table.
func (rep *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\trate\t\tp50\tp90\tp99\tmax\t\n")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n", r.Workload, thousands(r.Rate), r.Unit,
			micros(r.P50), micros(r.P90), micros(r.P99), micros(r.Max), r.Name)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	note := passes(rep.Results, func(r Result) int { return r.Runs })
	_, err := fmt.Fprintf(w, "\n%s on %s%s\n", rep.Target, rep.Machine, when(note != "", "; "+note+" (max: the largest)"))
	return err
}

// passes says of how many passes figures are the medians ("medians of 5
// passes"; "of 4 to 5" when a run stopped part way), and is "" for one.
func passes[T any](figures []T, runs func(T) int) string {
	lo, hi := 0, 0
	for i, f := range figures {
		n := runs(f)
		if i == 0 {
			lo = n
		}
		lo, hi = min(lo, n), max(hi, n)
	}
	switch {
	case hi < 2:
		return ""
	case lo < hi:
		return fmt.Sprintf("medians of %d to %d passes", max(lo, 1), hi)
	}
	return fmt.Sprintf("medians of %d passes", hi)
}

// WriteMarkdown writes the results as a Markdown table, for docs.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| workload | rate | p50 | p90 | p99 | max |\n|---|--:|--:|--:|--:|--:|\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "| %s %s | %s %s | %s | %s | %s | %s |\n", r.Workload, r.Name, thousands(r.Rate), r.Unit,
			micros(r.P50), micros(r.P90), micros(r.P99), micros(r.Max))
	}
	if note := passes(rep.Results, func(r Result) int { return r.Runs }); note != "" {
		fmt.Fprintf(&b, "\n%s (max: the largest).\n", strings.ToUpper(note[:1])+note[1:])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (m Machine) String() string {
	cpu := m.CPU
	if cpu == "" {
		cpu = "unknown CPU"
	}
	return fmt.Sprintf("%s/%s, %s (%s), %s", m.GOOS, m.GOARCH, plural.Count(m.CPUs, "CPU", "CPUs"), cpu, m.GoVersion)
}

// thousands formats a rate with thousands separators and no decimals.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// micros formats a latency given in microseconds at a readable precision.
func micros(us float64) string {
	d := time.Duration(us * float64(time.Microsecond))
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", us/1000)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1fms", us/1000)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// Comparison is a store's run and the raw baseline's run of the same
// workloads (chatstore bench --compare), with their ratios.
type Comparison struct {
	Store  *Report `json:"store"`
	Raw    *Report `json:"raw"`
	Ratios []Ratio `json:"ratios"`
}

// Ratio compares one workload's figures, store over raw. Time is the
// store's time for the same work over the raw baseline's, that is the raw
// rate over the store's: 3 means the store takes three times as long. P50
// and P99 are the store's latency over the raw baseline's.
//
// Of several passes (Config.Count), each figure is the median of the
// passes' ratios, each pass's store and baseline having run one after the
// other, and TimeLow and TimeHigh are the lowest and highest time ratio.
type Ratio struct {
	Workload string  `json:"workload"`
	Name     string  `json:"name"` // the store's
	Time     float64 `json:"time"`
	P50      float64 `json:"p50"`
	P99      float64 `json:"p99"`
	Runs     int     `json:"runs,omitempty"`
	TimeLow  float64 `json:"time_low,omitempty"`
	TimeHigh float64 `json:"time_high,omitempty"`
}

// ratios pairs the results of a store's run and the raw baseline's, which
// ran the same workloads in the same order. Results without a partner (a
// run that failed part way) have no ratio.
func ratios(store, raw []Result) []Ratio {
	out := []Ratio{}
	for i := range min(len(store), len(raw)) {
		s, r := store[i], raw[i]
		if s.Workload != r.Workload {
			break
		}
		out = append(out, Ratio{Workload: s.Workload, Name: s.Name,
			Time: ratio(r.Rate, s.Rate), P50: ratio(s.P50, r.P50), P99: ratio(s.P99, r.P99)})
	}
	return out
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// WriteTable writes both runs' tables and the ratios.
func (c *Comparison) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "store: %s\n\n", c.Store.Target)
	if err := c.Store.WriteTable(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nraw baseline: %s\n\n", c.Raw.Target)
	if err := c.Raw.WriteTable(w); err != nil {
		return err
	}
	note := c.passes()
	fmt.Fprintf(w, "\nstore / raw (time per operation: raw rate over store rate; latencies: store over raw)\n")
	if note != "" {
		fmt.Fprintf(w, "%s' ratios, each pass's store and baseline run one after the other; range: the lowest and highest time ratio\n", note)
	}
	fmt.Fprintln(w)
	several := note != ""
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "workload\ttime\t%sp50\tp99\t\n", when(several, "range\t"))
	for _, r := range c.Ratios {
		fmt.Fprintf(tw, "%s\t%s\t%s%s\t%s\t  %s\n", r.Workload, times(r.Time), when(several, timeRange(r)+"\t"), times(r.P50), times(r.P99), r.Name)
	}
	return tw.Flush()
}

// passes is passes of the ratios.
func (c *Comparison) passes() string { return passes(c.Ratios, func(r Ratio) int { return r.Runs }) }

// timeRange is a time ratio's range over passes: "1.2–1.5×".
func timeRange(r Ratio) string {
	return strings.TrimSuffix(times(r.TimeLow), "×") + "–" + times(r.TimeHigh)
}

// when is s if ok, and "" if not.
func when(ok bool, s string) string {
	if ok {
		return s
	}
	return ""
}

// WriteMarkdown writes both runs' tables and the ratios as Markdown.
func (c *Comparison) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "Store (`%s`):\n\n", c.Store.Target)
	if err := c.Store.WriteMarkdown(w); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRaw baseline (`%s`):\n\n", c.Raw.Target)
	if err := c.Raw.WriteMarkdown(w); err != nil {
		return err
	}
	var b strings.Builder
	note := c.passes()
	several := note != ""
	b.WriteString("\nStore / raw (time per operation; p50 and p99 latency")
	if several {
		fmt.Fprintf(&b, "; %s' ratios, each pass's store and baseline run one after the other; range: the lowest and highest time ratio", note)
	}
	fmt.Fprintf(&b, "):\n\n| workload | time | %sp50 | p99 |\n|---|--:|%s--:|--:|\n", when(several, "range | "), when(several, "--:|"))
	for _, r := range c.Ratios {
		fmt.Fprintf(&b, "| %s %s | %s | %s%s | %s |\n", r.Workload, r.Name, times(r.Time), when(several, timeRange(r)+" | "), times(r.P50), times(r.P99))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// times formats a ratio: "2.4×".
func times(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.1f×", v)
}
