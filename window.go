package chatstore

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/chatstore/chatstore/chat"
	"github.com/chatstore/chatstore/driver"
)

// A windowed read is a last_k read (ReadOptions with neither a page nor a
// message) of a history as a model should see it: the newest whole rounds
// that fit both the round limit (LastK) and a token budget (MaxTokens),
// with the newest compaction's summary in place of the messages it covers,
// and older large tool results pruned on request.
//
// The rules, in the one place they are written:
//
//   - The view. Without a compaction in effect the view is the history.
//     With one (see Compact) it is the summary, standing where its Through
//     message stood, followed by the messages written after Through; the
//     summary takes part in rounds as the message it is (Classify), so a
//     summary given as a user message joins the round of the first reply
//     after it, as Haystack's own round rule would have it.
//   - Rounds are the rounds of last_k (driver.LastRounds): newest first,
//     the open round (messages after the last reply), then one round per
//     reply or system message. A window is the newest rounds, whole, in
//     the order they were written: at most LastK of them, and with
//     MaxTokens > 0 only as many as fit, stopping at the first that does
//     not (a smaller older round is not taken in its place).
//   - The tokens of a run of messages are Meter.Tokens of their costs:
//     what Haystack's counter gives for them rendered together.
//   - When not even the newest round fits, the window is what Haystack's
//     SlidingWindowCompactor keeps of a current task that overruns its
//     budget: the latest user task (the newest user message of the round
//     that no compaction made) and the newest whole agent steps (an
//     assistant message with the tool results that follow it) that fit
//     with it, the newest step always; messages of the round in no step
//     are left out. A system message round is kept whole. Window.Exceeded
//     says so, and Tokens may then be over the budget.
//   - Pruning (PruneToolResults) replaces, before rounds are counted, every
//     tool result over PruneMinTokens tokens that is older than the newest
//     agent step with results, and not already made by a compaction, with
//     Haystack's placeholder (ToolResultPlaceholder): the message keeps its
//     tool call and error flag, and its meta records the tokens it had.
//
// Reading costs O(the window): a history is read backwards a page at a
// time and the walk stops at the first round that cannot be taken, or at
// the summary's place.

// Haystack's ToolResultPruningCompactor defaults.
const (
	// PruneMinTokens: a tool result is pruned only if it counts more.
	PruneMinTokens = 200
	// ToolResultPlaceholder replaces a pruned result; {tool_name} is the
	// tool's name.
	ToolResultPlaceholder = "[Tool result removed to free up context. Call `{tool_name}` again if you need it.]"
	// CompactionMetaKey is the meta key Haystack's compactors mark what
	// they make with: a pruned result, a summary.
	CompactionMetaKey = "context_compaction"
)

// Window describes what a windowed read returned (ReadOptions.Window).
type Window struct {
	// Tokens is the token count of the messages returned, by the store's
	// counter (Meter.Tokens), and MaxTokens the budget (0 for none).
	Tokens, MaxTokens int64
	// Rounds is the number of rounds returned, whole or, when Exceeded,
	// the newest in part.
	Rounds int
	// More says the view holds older rounds than those returned.
	More bool
	// Exceeded says that not even the newest round fit MaxTokens: the
	// window holds part of it (the rule above) and may be over budget.
	Exceeded bool
	// Compaction is the compaction in effect, if any, and Summarized
	// whether its summary is in the window.
	Compaction *Compaction
	Summarized bool
	// Pruned is the number of tool results replaced by the placeholder.
	Pruned int
	// Omitted and OmittedTokens are the stored messages the window does
	// not return, whether a summary stands for them or not, and their
	// tokens counted together: given for reads with MaxTokens, by drivers
	// with driver.Editor and driver.Coster; -1 otherwise.
	Omitted, OmittedTokens int64
}

// windowRead serves a last_k read with the window walk, or with the
// driver's own tail read when it needs no walk (no budget, no pruning, no
// compaction in effect, which it loads); ok is false when the read is for
// read's other paths. bare lets the tail read leave costs and times out
// (driver.Span.Bare).
func (s *Store) windowRead(ctx context.Context, historyID string, o ReadOptions, bare bool) ([]driver.Message, bool, error) {
	c, compacting := s.drv.(driver.Compactor)
	compacting = compacting && !o.Uncompacted
	plain := o.MaxTokens <= 0 && !o.PruneToolResults
	if !compacting && plain {
		return nil, false, nil
	}
	if ct, ok := s.drv.(driver.CompactionTailer); ok && plain {
		// Most histories have no compaction: one call reads them.
		msgs, compacted, err := ct.TailUncompacted(ctx, historyID, driver.Span{Rounds: o.LastK, Bare: bare}, o.MaxBytes)
		if err == nil && !compacted {
			if o.MaxBytes > 0 && driver.Size(msgs) > o.MaxBytes {
				return nil, true, driver.ErrTooLarge
			}
			if o.Window != nil {
				err = s.tailWindow(ctx, historyID, msgs, o.Window)
			}
			return msgs, true, err
		}
		if err != nil {
			return nil, true, err
		}
	}
	var comp *compaction
	if compacting {
		var err error
		if comp, err = s.inEffect(ctx, c, historyID); err != nil {
			return nil, true, err
		}
	}
	if comp == nil && plain {
		return nil, false, nil
	}
	w := walker{
		meter:    s.meter,
		rounds:   o.LastK,
		budget:   o.MaxTokens,
		maxBytes: o.MaxBytes,
		prune:    o.PruneToolResults,
		protect:  true,
	}
	floor := int64(-1)
	if comp != nil {
		floor = comp.rec.ThroughPos
	}
	msgs, err := w.walk(s.newestFirst(ctx, historyID, floor), comp)
	if err != nil {
		return nil, true, err
	}
	if o.Window != nil {
		*o.Window = w.window(msgs, comp)
		o.Window.MaxTokens = max(o.MaxTokens, 0)
		if err := s.omitted(ctx, historyID, o, msgs, comp, w.orig); err != nil {
			return nil, true, err
		}
	}
	return msgs, true, nil
}

// tailWindow describes a last_k read that the driver's tail read served:
// no compaction in effect, no budget, nothing pruned; the caller finds
// out More.
func (s *Store) tailWindow(ctx context.Context, historyID string, msgs []driver.Message, win *Window) error {
	_, costs := s.drv.(driver.Coster)
	w := Window{Omitted: -1, OmittedTokens: -1}
	var sum driver.Cost
	for _, m := range msgs {
		c := m.Cost
		if !costs {
			c, _ = s.meter.Measure(m.JSON) // checked when written
		}
		sum = sum.Add(c)
		if m.Kind != driver.Joins {
			w.Rounds++
		}
	}
	// The open round: messages that join no reply after the last one.
	for i := len(msgs) - 1; i >= 0 && msgs[i].Kind != driver.Closes; i-- {
		if msgs[i].Kind == driver.Joins {
			w.Rounds++
			break
		}
	}
	w.Tokens = s.meter.Tokens(sum, int64(len(msgs)))
	// Older messages exist if the history holds more.
	n, err := s.drv.Count(ctx, historyID)
	w.More = n > int64(len(msgs))
	*win = w
	return err
}

// omitted fills in Window.Omitted for a budgeted read.
func (s *Store) omitted(ctx context.Context, historyID string, o ReadOptions, msgs []driver.Message, comp *compaction, orig map[int64]driver.Cost) error {
	o.Window.Omitted, o.Window.OmittedTokens = -1, -1
	e, isEditor := s.drv.(driver.Editor)
	_, costs := s.drv.(driver.Coster)
	if o.MaxTokens <= 0 || !isEditor || !costs {
		return nil
	}
	info, _, err := e.Info(ctx, historyID)
	if err != nil {
		return err
	}
	var c driver.Cost
	n := int64(0)
	for _, m := range msgs {
		if comp != nil && m.Pos == comp.rec.ThroughPos {
			continue // the summary
		}
		cost, pruned := orig[m.Pos] // as stored, not as pruned
		if !pruned {
			cost = m.Cost
		}
		c, n = c.Add(cost), n+1
	}
	// A write between the walk and Info can make these off by its
	// messages; never negative.
	rest := max(info.Count-n, 0)
	o.Window.Omitted, o.Window.OmittedTokens = rest, s.meter.Tokens(info.Cost.Sub(c), rest)
	return nil
}

// newestFirst reads a history's messages newest first, those at positions
// above floor (all for -1): with an Editor a page at a time backwards by
// position, each page larger than the last; without one by Range over the
// count. Messages of drivers without driver.Coster are measured as read.
func (s *Store) newestFirst(ctx context.Context, historyID string, floor int64) driver.Next {
	e, isEditor := s.drv.(driver.Editor)
	_, costs := s.drv.(driver.Coster)
	var (
		page     []driver.Message      // oldest first; consumed from its end
		before   int64            = -1 // position the next page ends before; -1 before the first
		size                      = 16
		finished bool
	)
	fetch := func() error {
		if isEditor {
			if before == -1 {
				before = 1<<63 - 1
			}
			var err error
			page, err = e.Page(ctx, historyID, driver.Span{Before: before, Limit: size})
			if err != nil {
				return err
			}
			if len(page) < size {
				finished = true
			}
			if len(page) > 0 {
				before = page[0].Pos
			}
		} else {
			if before == -1 {
				n, err := s.drv.Count(ctx, historyID)
				if err != nil {
					return err
				}
				if before = n; n == 0 {
					finished = true
					return nil
				}
			}
			from := max(0, before-int64(size))
			var err error
			if page, err = s.drv.Range(ctx, historyID, int(from), int(before)); err != nil {
				return err
			}
			before, finished = from, from == 0
		}
		size = min(size*4, MaxRangeLimit)
		return nil
	}
	return func() (driver.Message, bool, error) {
		for len(page) == 0 {
			if finished || before == 0 {
				return driver.Message{}, false, nil
			}
			if err := fetch(); err != nil {
				return driver.Message{}, false, err
			}
		}
		m := page[len(page)-1]
		page = page[:len(page)-1]
		if m.Pos <= floor {
			finished, page = true, nil
			return driver.Message{}, false, nil
		}
		if !costs {
			c, err := s.meter.Measure(m.JSON)
			if err != nil {
				return driver.Message{}, false, err
			}
			m.Cost = c
		}
		return m, true, nil
	}
}

// round is one round of a walk, its messages newest first.
type round struct {
	msgs []driver.Message
	cost driver.Cost
	size int // bytes of JSON
}

func (r *round) add(m driver.Message) {
	r.msgs = append(r.msgs, m)
	r.cost = r.cost.Add(m.Cost)
	r.size += len(m.JSON)
}

// walker takes the rounds of a view, newest first, into a window.
type walker struct {
	meter    *Meter
	rounds   int   // most rounds to take
	budget   int64 // most tokens; 0 for no budget
	maxBytes int   // most bytes of JSON; 0 for no bound
	prune    bool
	protect  bool // still in the newest agent step with results (pruning)
	// sawResult: a tool result of the newest step with results was met.
	sawResult bool
	// older is set by walk (see there).
	older func() (bool, error)
	// orig are the costs of the messages pruned, by position, before.
	orig map[int64]driver.Cost

	taken    []driver.Message // newest first
	cost     driver.Cost
	size     int
	nRounds  int
	done     bool
	more     bool
	exceeded bool
	nPruned  int
}

// fits reports whether the taken messages and c (of n messages) fit.
func (w *walker) fits(c driver.Cost, n int) bool {
	return w.budget <= 0 || w.meter.Tokens(w.cost.Add(c), int64(len(w.taken)+n)) <= w.budget
}

// offer takes a whole round if it may, or ends the walk; older says
// whether the view holds anything older than r.
func (w *walker) offer(r round, older bool) error {
	if w.done || len(r.msgs) == 0 {
		return nil
	}
	if w.nRounds == w.rounds {
		w.done, w.more = true, true
		return nil
	}
	if !w.fits(r.cost, len(r.msgs)) {
		w.done = true
		if w.nRounds == 0 {
			return w.overrun(r, older)
		}
		w.more = true
		return nil
	}
	return w.take(r.msgs, 1)
}

func (w *walker) take(msgs []driver.Message, rounds int) error {
	for _, m := range msgs {
		if w.size += len(m.JSON); w.maxBytes > 0 && w.size > w.maxBytes {
			return driver.ErrTooLarge
		}
		w.cost = w.cost.Add(m.Cost)
	}
	w.taken = append(w.taken, msgs...)
	w.nRounds += rounds
	return nil
}

// walk reads the view through next (newest first, above the compaction's
// place) and returns the window, oldest first.
func (w *walker) walk(next driver.Next, comp *compaction) ([]driver.Message, error) {
	if w.rounds <= 0 {
		return nil, nil
	}
	var (
		cur   round   // the open round, then the round of the last reply met
		alone []round // system messages met since: rounds after cur's
	)
	summary := comp != nil
	// older reports whether the view holds a message older than the last
	// one read, reading one more.
	w.older = func() (bool, error) {
		if summary {
			return true, nil
		}
		_, ok, err := next()
		return ok, err
	}
	for !w.done {
		m, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			if !summary {
				break
			}
			m, summary = comp.message(), false
		}
		if w.prune {
			if m, err = w.pruned(m); err != nil {
				return nil, err
			}
		}
		switch m.Kind {
		case driver.Alone:
			alone = append(alone, round{msgs: []driver.Message{m}, cost: m.Cost})
			continue
		case driver.Closes:
			if err := w.offerAll(cur, alone, true); err != nil {
				return nil, err
			}
			cur, alone = round{}, nil
		}
		cur.add(m)
		if err := w.early(&cur, m); err != nil {
			return nil, err
		}
	}
	if err := w.offerAll(cur, alone, false); err != nil {
		return nil, err
	}
	// Taken by rounds, newest first; the open round is taken before the
	// system messages written after it began.
	out := slices.Clone(w.taken)
	slices.SortFunc(out, func(a, b driver.Message) int { return cmp.Compare(a.Pos, b.Pos) })
	return out, nil
}

// early ends the walk inside cur, the round being read, once its fate is
// known without reading the rest of it, which may be long (an agent's run
// of thousands of steps without a reply): a round other than the newest
// that is over the limits already cannot be taken; the newest, once over
// the budget, needs no message older than its latest user task. (A round
// over the byte bound fails the read only when it is taken: its older
// part may yet put it over the budget.)
func (w *walker) early(cur *round, m driver.Message) error {
	over := !w.fits(cur.cost, len(cur.msgs))
	switch {
	case w.nRounds > 0 && (over || w.nRounds == w.rounds):
		w.done, w.more = true, true
	case w.nRounds == 0 && over && m.Kind == driver.Joins:
		msg, err := chat.Unmarshal(m.JSON)
		if err != nil {
			return err
		}
		if msg.Role == chat.RoleUser && !compacted(msg) {
			w.done = true
			older, err := w.older()
			if err != nil {
				return err
			}
			return w.overrun(*cur, older)
		}
	}
	return nil
}

// offerAll offers cur, then the system messages' rounds met while it was
// read; older says whether the view holds anything older than them all.
func (w *walker) offerAll(cur round, alone []round, older bool) error {
	if err := w.offer(cur, older || len(alone) > 0); err != nil {
		return err
	}
	for i, r := range alone {
		if err := w.offer(r, older || i < len(alone)-1); err != nil {
			return err
		}
	}
	return nil
}

// overrun takes what SlidingWindowCompactor keeps of a newest round r that
// does not fit: its latest user task and the newest agent steps that fit
// with it, at least the newest.
func (w *walker) overrun(r round, older bool) error {
	w.exceeded = true
	w.more = older // and, below, if it leaves some of r out
	msgs := slices.Clone(r.msgs)
	slices.Reverse(msgs) // oldest first
	if len(msgs) == 1 && msgs[0].Kind == driver.Alone {
		return w.take(msgs, 1)
	}
	defer func() { w.more = w.more || len(w.taken) < len(msgs) }()
	decoded := make([]chat.Message, len(msgs))
	for i, m := range msgs {
		var err error
		if decoded[i], err = chat.Unmarshal(m.JSON); err != nil {
			return err
		}
	}
	task := -1
	for i := len(decoded) - 1; i >= 0; i-- {
		if decoded[i].Role == chat.RoleUser && !compacted(decoded[i]) {
			task = i
			break
		}
	}
	// The agent steps after the task: an assistant message and the tool
	// results right after it.
	var steps [][2]int
	for i := task + 1; i < len(decoded); i++ {
		if decoded[i].Role != chat.RoleAssistant {
			continue
		}
		j := i + 1
		for j < len(decoded) && len(decoded[j].ToolCallResults()) > 0 {
			j++
		}
		steps = append(steps, [2]int{i, j})
		i = j - 1
	}
	var keep []driver.Message // newest first, as taken
	var c driver.Cost
	n := 0
	if task >= 0 {
		keep, c, n = append(keep, msgs[task]), c.Add(msgs[task].Cost), 1
	}
	var kept []driver.Message // the steps kept, newest step first, each oldest first
	for k := len(steps) - 1; k >= 0; k-- {
		st := msgs[steps[k][0]:steps[k][1]]
		var sc driver.Cost
		for _, m := range st {
			sc = sc.Add(m.Cost)
		}
		if k < len(steps)-1 && (w.budget > 0 && w.meter.Tokens(c.Add(sc), int64(n+len(st))) > w.budget) {
			break
		}
		c, n = c.Add(sc), n+len(st)
		kept = append(st, kept...)
	}
	all := append(keep, kept...)
	if len(all) == 0 {
		return nil // a round of tool results alone: nothing to keep
	}
	return w.take(all, 1)
}

// compacted reports whether a compaction made m.
func compacted(m chat.Message) bool {
	_, ok := m.Meta[CompactionMetaKey]
	return ok
}

// pruned returns m with its tool result replaced by the placeholder, if the
// rule prunes it.
func (w *walker) pruned(m driver.Message) (driver.Message, error) {
	if m.Kind != driver.Joins {
		return m, nil
	}
	msg, err := chat.Unmarshal(m.JSON)
	if err != nil {
		return m, err
	}
	res, ok := msg.ToolCallResult()
	if msg.Role == chat.RoleAssistant && !ok {
		// The step of any results newer than it ends here.
		if w.protect && w.sawResult {
			w.protect = false
		}
		return m, nil
	}
	if !ok {
		return m, nil
	}
	if w.protect {
		w.sawResult = true
		return m, nil
	}
	_, offloaded := msg.Meta["tool_result_offloaded"]
	original := w.meter.Tokens(m.Cost, 1)
	if compacted(msg) || offloaded || original <= PruneMinTokens {
		return m, nil
	}
	meta := make(map[string]any, len(msg.Meta)+1)
	for k, v := range msg.Meta {
		meta[k] = v
	}
	meta[CompactionMetaKey] = map[string]any{"strategy": "tool_result_pruning", "original_tokens": original}
	p := chat.Tool(strings.ReplaceAll(ToolResultPlaceholder, "{tool_name}", res.Origin.ToolName), res.Origin, res.Error)
	p.Meta = meta
	cost := w.meter.Cost(p)
	if w.meter.Tokens(cost, 1) >= original {
		return m, nil
	}
	js, err := p.AppendJSON(nil)
	if err != nil {
		return m, err
	}
	w.nPruned++
	if w.orig == nil {
		w.orig = map[int64]driver.Cost{}
	}
	w.orig[m.Pos] = m.Cost
	m.JSON, m.Cost = js, cost
	return m, nil
}

func (w *walker) window(msgs []driver.Message, comp *compaction) Window {
	win := Window{
		Tokens:   w.meter.Tokens(w.cost, int64(len(w.taken))),
		Rounds:   w.nRounds,
		More:     w.more,
		Exceeded: w.exceeded,
		Pruned:   w.nPruned,
	}
	if comp != nil {
		c := comp.public()
		win.Compaction = &c
		win.Summarized = len(msgs) > 0 && msgs[0].Pos == comp.rec.ThroughPos && msgs[0].ID == comp.rec.Through
		win.More = win.More && !win.Summarized
	}
	return win
}
