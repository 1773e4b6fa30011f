package bench

import "slices"

// Passes of a workload (Config.Count) are summed up by their medians, not
// their means: on a machine shared with the database, one pass that meets
// a checkpoint or another process's burst moves a mean as far as it likes,
// and a median by one place.

// medians sums up passes of the same workloads, figure by figure
// (Result.Runs). A pass that stopped part way counts for the figures it
// has; a figure of one pass stays as it is, as does a single pass (S1's
// passes follow the others', so a run of one pass can come in two).
// Figures are told apart by their workload and place in it, not their
// names, which tiny scales can make alike.
func medians(passes [][]Result) []Result {
	if len(passes) == 1 {
		return passes[0]
	}
	var out []Result
	for _, rs := range groups(passes, func(r Result) string { return r.Workload }) {
		if len(rs) == 1 {
			out = append(out, rs[0])
			continue
		}
		m := Result{Workload: rs[0].Workload, Name: rs[0].Name, Unit: rs[0].Unit, Runs: len(rs)}
		m.Ops = int(median(rs, func(r Result) float64 { return float64(r.Ops) }) + 0.5)
		m.Messages = int(median(rs, func(r Result) float64 { return float64(r.Messages) }) + 0.5)
		m.Seconds = median(rs, func(r Result) float64 { return r.Seconds })
		m.Rate = median(rs, func(r Result) float64 { return r.Rate })
		m.P50 = median(rs, func(r Result) float64 { return r.P50 })
		m.P90 = median(rs, func(r Result) float64 { return r.P90 })
		m.P99 = median(rs, func(r Result) float64 { return r.P99 })
		for _, r := range rs {
			m.Max = max(m.Max, r.Max)
		}
		out = append(out, m)
	}
	return out
}

// pairedRatios sums up the ratios of passes, each pass's being those of
// its store's and baseline's figures, which ran side by side: the median
// of each, and the range of the time's (Ratio.Runs).
func pairedRatios(passes [][]Ratio) []Ratio {
	if len(passes) == 1 {
		return passes[0]
	}
	out := []Ratio{}
	for _, rs := range groups(passes, func(r Ratio) string { return r.Workload }) {
		if len(rs) == 1 {
			out = append(out, rs[0])
			continue
		}
		m := Ratio{Workload: rs[0].Workload, Name: rs[0].Name, Runs: len(rs), TimeLow: rs[0].Time, TimeHigh: rs[0].Time}
		m.Time = median(rs, func(r Ratio) float64 { return r.Time })
		m.P50 = median(rs, func(r Ratio) float64 { return r.P50 })
		m.P99 = median(rs, func(r Ratio) float64 { return r.P99 })
		for _, r := range rs {
			m.TimeLow, m.TimeHigh = min(m.TimeLow, r.Time), max(m.TimeHigh, r.Time)
		}
		out = append(out, m)
	}
	return out
}

// groups gathers the figures of passes that are the same workload's
// same figure (the n-th of its workload in each pass: W3 has one for each
// history size), each group in the order of the passes, the groups in the
// order they first appear.
func groups[T any](passes [][]T, workload func(T) string) [][]T {
	type key struct {
		workload string
		n        int
	}
	var out [][]T
	at := map[key]int{}
	for _, p := range passes {
		nth := map[string]int{}
		for _, x := range p {
			w := workload(x)
			k := key{w, nth[w]}
			nth[w]++
			i, ok := at[k]
			if !ok {
				i = len(out)
				at[k] = i
				out = append(out, nil)
			}
			out[i] = append(out[i], x)
		}
	}
	return out
}

// median is the median of f over xs (the mean of the middle two for an
// even count); xs is not empty.
func median[T any](xs []T, f func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
