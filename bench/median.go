package bench

import "slices"

// Passes of a workload (Config.Count) are summed up by their medians, not
// their means: on a machine shared with the database, one pass that meets
// a checkpoint or another process's burst moves a mean as far as it likes,
// and a median by one place.

// medians sums up passes of the same workloads, figure by figure
// (Result.Runs). A pass that stopped part way counts for the figures it
// has. One pass is returned as it is.
func medians(passes [][]Result) []Result {
	if len(passes) == 1 {
		return passes[0]
	}
	var out []Result
	for _, rs := range groups(passes, func(r Result) [2]string { return [2]string{r.Workload, r.Name} }) {
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
	for _, rs := range groups(passes, func(r Ratio) [2]string { return [2]string{r.Workload, r.Name} }) {
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

// groups gathers the items of passes by key, each group in the order of
// the passes, the groups in the order their keys first appear.
func groups[T any, K comparable](passes [][]T, key func(T) K) [][]T {
	var out [][]T
	at := map[K]int{}
	for _, p := range passes {
		for _, x := range p {
			k := key(x)
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
