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
	_, err := fmt.Fprintf(w, "\n%s on %s\n", rep.Target, rep.Machine)
	return err
}

// WriteMarkdown writes the results as a Markdown table, for docs.
func (rep *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| workload | rate | p50 | p90 | p99 | max |\n|---|--:|--:|--:|--:|--:|\n")
	for _, r := range rep.Results {
		fmt.Fprintf(&b, "| %s %s | %s %s | %s | %s | %s | %s |\n", r.Workload, r.Name, thousands(r.Rate), r.Unit,
			micros(r.P50), micros(r.P90), micros(r.P99), micros(r.Max))
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
